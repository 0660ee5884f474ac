package keepalived

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode"

	"github.com/BurntSushi/toml"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/vrrpd/vrrpd/configs"
)

var cmpNet = cmpopts.EquateComparable(netip.Addr{}, netip.Prefix{})

func ip(s string) netip.Addr    { return netip.MustParseAddr(s) }
func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }

// defaultInstance returns an instance with the given identity and every default, as configs
// fills them in.
func defaultInstance(name, ifname string, vrid uint8, vips ...string) configs.Instance {
	src := fmt.Sprintf("[[instance]]\nname = %q\ninterface = %q\nvrid = %d\nvips = [%q", name, ifname, vrid, vips[0])
	for _, v := range vips[1:] {
		src += fmt.Sprintf(", %q", v)
	}
	cfg, err := configs.Parse([]byte(src + "]\n"))
	if err != nil {
		panic(err)
	}
	return cfg.Instances[0]
}

// userCredential is what script_user = name resolves to (configs' tests check how).
func userCredential(t *testing.T, name string) *syscall.Credential {
	t.Helper()
	cfg, err := configs.Parse([]byte(fmt.Sprintf("[global]\nscript_user = %q\n", name) + "[[instance]]\nname = \"x\"\ninterface = \"eth0\"\nvrid = 1\nvips = [\"10.0.0.1\"]\n"))
	if err != nil {
		t.Skipf("no user %q on this host: %v", name, err)
	}
	return cfg.Global.ScriptCredential
}

var update = flag.Bool("update", false, "rewrite the golden files of TestConvertFiles")

// kaGlobal is the [global] a converted configuration has: router_id and every default.
func kaGlobal(routerID string) configs.Global {
	return configs.Global{RouterID: routerID, Socket: "/run/vrrpd/vrrpd.sock", LogFormat: "text", LogLevel: slog.LevelInfo, StateDir: "/var/lib/vrrpd"}
}

// convertKA converts src and loads the result with configs.Parse, which must accept it.
func convertKA(t *testing.T, name string, src []byte) (*Conversion, *configs.Config) {
	t.Helper()
	return convertWith(t, name, src, Options{})
}

// convertWith is convertKA with options.
func convertWith(t *testing.T, name string, src []byte, opts Options) (*Conversion, *configs.Config) {
	t.Helper()
	conv, err := Convert(name, src, opts)
	if err != nil {
		t.Fatalf("Convert: %v", err)
	}
	cfg, err := configs.Parse(conv.TOML)
	if err != nil {
		t.Fatalf("Parse(converted): %v\n%s", err, conv.TOML)
	}
	return conv, cfg
}

// TestConvertFiles converts real-world-shaped keepalived configurations, each checked
// with keepalived 2.2.7 (`keepalived -t`). The TOML and the notes match golden files next to the
// source (go test -update rewrites them), and the TOML loads with configs.Parse into the configuration
// wanted.
func TestConvertFiles(t *testing.T) {
	sh := "/etc/keepalived/notify.sh"
	v2 := func(in configs.Instance) configs.Instance { in.Version = 2; return in }
	tests := []struct {
		file     string
		want     func() *configs.Config // nil: the golden files say it all
		opts     Options
		problems []string // what configs.Parse finds wrong with the result, as the source is
	}{
		{file: "keepalived-2.2.7.conf", want: func() *configs.Config { // the configuration of the golden packets
			plain := v2(defaultInstance("V2_PLAIN", "eth0", 51, "10.77.0.250/24"))
			pass := v2(defaultInstance("V2_PASS", "eth0", 52, "10.77.0.251/24", "10.77.0.252/24"))
			pass.Priority, pass.AdvertInterval, pass.AuthPass = 150, 3*time.Second, "secret12"
			v3v4 := defaultInstance("V3_V4", "eth0", 53, "10.77.0.253/24")
			v3v4.AdvertInterval = 500 * time.Millisecond
			v3v6 := defaultInstance("V3_V6", "eth0", 54, "fe80::77:54/64", "fd77::254/64")
			v3v6.Priority = 200
			v2uni := v2(defaultInstance("V2_UNICAST", "eth0", 55, "10.77.0.254/24"))
			v2uni.Priority, v2uni.UnicastSrc, v2uni.UnicastPeers = 120, ip("10.77.0.1"), []netip.Addr{ip("10.77.0.2")}
			v3uni := defaultInstance("V3_UNICAST", "eth0", 56, "10.77.0.249/24")
			v3uni.Priority, v3uni.UnicastSrc, v3uni.UnicastPeers = 130, ip("10.77.0.1"), []netip.Addr{ip("10.77.0.2")}
			return &configs.Config{Global: kaGlobal("golden"), Instances: []configs.Instance{plain, pass, v3v4, v3v6, v2uni, v3uni}}
		}},
		{file: "nginx-lb1.conf", want: func() *configs.Config { // unicast, PASS, weighted checks, all four notify states
			vi := v2(defaultInstance("VI_NGINX", "eth0", 51, "10.0.4.99/24"))
			vi.Priority, vi.UnicastSrc, vi.UnicastPeers, vi.AuthPass = 110, ip("10.0.4.20"), []netip.Addr{ip("10.0.4.21")}, "n61nx"
			vi.VIPOptions = map[netip.Addr]configs.VIPOption{ip("10.0.4.99"): {Label: "eth0:vip", Scope: "global"}}
			vi.TrackChecks = []configs.TrackCheck{{Name: "chk_nginx", Weight: -20}, {Name: "chk_nginx_http", Weight: -30}}
			vi.Notify = configs.Notify{Master: []string{sh, "MASTER"}, Backup: []string{sh, "BACKUP"}, Fault: []string{sh, "FAULT"},
				Stop: []string{sh, "STOP"}, Any: []string{"/etc/keepalived/notify_any.sh"}, Timeout: 30 * time.Second}
			global := kaGlobal("lb1")
			global.ScriptUser, global.ScriptCredential = "root", userCredential(t, "root")
			return &configs.Config{Global: global,
				Checks: []configs.Check{
					{Name: "chk_nginx", Kind: configs.CheckProcess, Process: "nginx", Interval: 2 * time.Second, Timeout: 2 * time.Second, Rise: 2, Fall: 2, Weight: -20},
					{Name: "chk_nginx_http", Kind: configs.CheckExec, Exec: []string{"/usr/bin/curl", "-fsS", "-o", "/dev/null", "--max-time", "1", "http://127.0.0.1/health check"},
						Interval: 3 * time.Second, Timeout: 2 * time.Second, Rise: 1, Fall: 1},
				},
				Instances: []configs.Instance{vi}}
		}},
		{file: "nginx-lb2.conf", want: func() *configs.Config { // its peer: nopreempt, and notify lines keepalived reads as users
			vi := v2(defaultInstance("VI_NGINX", "eth0", 51, "10.0.4.99/24"))
			vi.Preempt, vi.UnicastSrc, vi.UnicastPeers, vi.AuthPass = false, ip("10.0.4.21"), []netip.Addr{ip("10.0.4.20")}, "n61nx"
			vi.TrackChecks = []configs.TrackCheck{{Name: "chk_nginx", Weight: -20}}
			vi.Notify = configs.Notify{Master: []string{sh}, Backup: []string{sh}, Fault: []string{sh},
				Stop: []string{"/usr/bin/env", "systemctl", "stop", "nginx"}, Timeout: 30 * time.Second}
			return &configs.Config{Global: kaGlobal("lb2"),
				Checks:    []configs.Check{{Name: "chk_nginx", Kind: configs.CheckProcess, Process: "nginx", Interval: 2 * time.Second, Timeout: 2 * time.Second, Rise: 2, Fall: 2, Weight: -20}},
				Instances: []configs.Instance{vi}}
		}},
		{file: "tutorial.conf", want: func() *configs.Config { // keepalived's sample: vrrp_strict, SMTP, LVS
			vi := v2(defaultInstance("VI_1", "eth0", 51, "192.168.200.16/32", "192.168.200.17/32", "192.168.200.18/32"))
			return &configs.Config{Global: kaGlobal("LVS_DEVEL"), Instances: []configs.Instance{vi}}
		}},
		{file: "sync-group.conf", want: func() *configs.Config {
			garp := func(in configs.Instance) configs.Instance {
				in.Priority, in.GARPDelay, in.GARPRepeat, in.GARPRefresh = 150, 2*time.Second, 3, time.Minute
				return in
			}
			out := garp(defaultInstance("VI_OUTSIDE", "eth1", 10, "203.0.113.10/24", "203.0.113.11/24", "198.51.100.1/24"))
			out.AdvertInterval, out.GARPDelay = 250*time.Millisecond, time.Second
			out.VIPOptions = map[netip.Addr]configs.VIPOption{ip("203.0.113.10"): {Label: "eth1:out", Scope: "global"}, ip("198.51.100.1"): {Dev: "eth2", Scope: "global"}}
			out.VMAC, out.VMACName = true, "vrrp.10"
			out.Routes = []configs.Route{{To: pfx("0.0.0.0/0"), Via: ip("203.0.113.1"), Dev: "eth1", Scope: "global", Type: "unicast"}}
			out.TrackInterfaces = []configs.TrackInterface{{Name: "eth0"}, {Name: "eth2"}}
			out.TrackChecks = []configs.TrackCheck{{Name: "chk_conntrackd"}}
			in4 := garp(defaultInstance("VI_INSIDE", "eth0", 20, "10.20.0.1/24"))
			in4.AdvertInterval = 250 * time.Millisecond
			in6 := garp(defaultInstance("VI_INSIDE6", "eth0", 20, "fe80::1/64"))
			old := garp(v2(defaultInstance("VI_OLD", "eth2", 30, "192.0.2.30/24")))
			old.Priority, old.AdvertInterval = 50, 2*time.Second
			fw := "/usr/local/sbin/fw-failover.sh"
			return &configs.Config{Global: kaGlobal("fw1"),
				Checks: []configs.Check{
					{Name: "chk_conntrackd", Kind: configs.CheckProcess, Process: "conntrackd", Interval: 5 * time.Second, Timeout: 5 * time.Second, Rise: 1, Fall: 1},
					{Name: "chk_uplink", Kind: configs.CheckExec, Exec: []string{"/bin/ping", "-c1", "-W1", "203.0.113.1"}, Interval: time.Second, Timeout: time.Second, Rise: 1, Fall: 1, Weight: -20},
				},
				Instances: []configs.Instance{out, in4, in6, old},
				SyncGroups: []configs.SyncGroup{{Name: "VG_FW", Instances: []string{"VI_OUTSIDE", "VI_INSIDE", "VI_INSIDE6"},
					Notify: configs.Notify{Master: []string{fw, "master"}, Backup: []string{fw, "backup"}, Fault: []string{fw, "fault"},
						Any: []string{"/usr/local/sbin/fw-notify.sh", "--log", "sync group"}, Timeout: 30 * time.Second}}},
			}
		}},
		{file: "multi/keepalived.conf", want: func() *configs.Config { // include with globs, and inside a block
			web := v2(defaultInstance("WEB", "eth0", 61, "10.61.0.10/24", "10.61.0.11/24"))
			web.Priority, web.TrackChecks = 120, []configs.TrackCheck{{Name: "chk_haproxy", Weight: -30}, {Name: "chk_api", Weight: 10}}
			api := defaultInstance("API", "eth0", 62, "10.62.0.10/24")
			api.AdvertInterval = 100 * time.Millisecond
			api.Notify.Any, api.Notify.Master = []string{sh}, []string{sh, "--state", "MASTER NOW"}
			return &configs.Config{Global: kaGlobal("multi"),
				Checks: []configs.Check{
					{Name: "chk_haproxy", Kind: configs.CheckProcess, Process: "haproxy", Interval: 2 * time.Second, Timeout: 2 * time.Second, Rise: 1, Fall: 1},
					{Name: "chk_api", Kind: configs.CheckExec, Exec: []string{"/usr/bin/env", "curl", "-fs", "http://127.0.0.1:8080/ready"},
						Interval: 5 * time.Second, Timeout: 5 * time.Second, Rise: 1, Fall: 1, Weight: 10},
				},
				Instances: []configs.Instance{web, api}}
		}},
		// Nearly every VRRP keyword of keepalived 2.2.7, checked by `keepalived -t` (a copy of
		// ../shared/testdata/keepalived-kitchen-sink.conf).
		{file: "track-file.conf"},
		{file: "scripts.conf"},
		{file: "addresses.conf"},
		{file: "routes.conf"},
		{file: "notify.conf"},
		{file: "defaults.conf"},
		{file: "preprocessor.conf", opts: Options{RouterID: "lb1"}},
		{file: "keepalived-kitchen-sink.conf", problems: []string{
			`instance "VI_2": unicast_src: 10.0.4.20 is IPv4 but the VIPs are IPv6`,
			`instance "VI_2": unicast_peers: 10.0.4.21 is IPv4 but the VIPs are IPv6`}},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			path := filepath.Join("testdata", tc.file)
			src, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			conv, err := Convert(path, src, tc.opts)
			if err != nil {
				t.Fatalf("Convert: %v", err)
			}
			base := strings.TrimSuffix(path, ".conf")
			golden(t, base+".toml", string(conv.TOML))
			golden(t, base+".notes", strings.Join(append(conv.Notes, ""), "\n"))
			cfg, err := configs.Parse(conv.TOML)
			if diff := cmp.Diff(tc.problems, configs.Problems(err)); diff != "" {
				t.Errorf("problems of the converted configuration (-want +got):\n%s", diff)
			}
			if tc.want == nil || err != nil {
				return
			}
			if diff := cmp.Diff(tc.want(), cfg, cmpNet); diff != "" {
				t.Errorf("converted configuration mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", path, diff)
	}
}

// TestConvert covers the mappings and notes one at a time: each case converts one
// instance (or group), which must load with configs.Parse, and lists every note exactly.
func TestConvert(t *testing.T) {
	tests := []struct {
		name  string
		src   string
		want  func(configs.Instance) configs.Instance // applied to defaultInstance("VI_1", "eth0", 51, "10.0.0.1/24") with version 2
		notes []string
	}{
		{
			name: "state MASTER without priority makes the owner, which ignores nopreempt and preempt_delay",
			src: `vrrp_instance VI_1 {
				state MASTER
				nopreempt
				preempt_delay 10
				interface eth0
				virtual_router_id 51
				virtual_ipaddress {
					10.0.0.1/24
				}
			}`,
			want: func(in configs.Instance) configs.Instance { in.Priority = 255; return in },
			notes: []string{
				"stdin:2: " + kaMaster,
				"stdin:2: warning: state MASTER without a priority: keepalived makes this node the address owner, priority 255; carried over as priority = 255: set 1-254 unless this node really owns the VIPs",
				"stdin:3: warning: nopreempt: keepalived ignores it with state MASTER, so this node did preempt: left out. To keep the VIPs where they are after a failover, set preempt = false on every node of vrid 51",
				"stdin:4: not carried over: preempt_delay: keepalived ignores it with state MASTER",
			},
		},
		{
			name: "nopreempt and preempt_delay with state BACKUP, mcast_src_ip",
			src: `vrrp_instance VI_1 {
				state BACKUP
				interface eth0
				virtual_router_id 51
				priority 90
				nopreempt
				preempt_delay 2.5
				mcast_src_ip 10.0.0.2
				virtual_ipaddress {
					10.0.0.1/24
				}
			}`,
			want: func(in configs.Instance) configs.Instance {
				in.Priority, in.Preempt, in.UnicastSrc = 90, false, ip("10.0.0.2")
				return in
			},
			notes: []string{
				"stdin:6: warning: nopreempt: carried over as preempt = false. It only keeps a node from taking the VIPs back from a lower-priority master, so it acts on the highest-priority node of vrid 51 and does nothing on one with a lower priority (this one has 90): set preempt = false on every node of vrid 51. keepalived honours it only with state BACKUP; vrrpd has no state",
				"stdin:7: not carried over: preempt_delay: keepalived ignores it with nopreempt",
			},
		},
		{
			name: "strict mode: a non-owner's state MASTER does not count, so nopreempt does; no preempt_delay, no password",
			src: `global_defs {
				vrrp_strict
			}
			vrrp_instance VI_1 {
				state MASTER
				nopreempt
				preempt_delay 5
				interface eth0
				virtual_router_id 51
				priority 100
				authentication {
					auth_type PASS
					auth_pass 1111
				}
				virtual_ipaddress {
					10.0.0.1/24
				}
			}`,
			want: func(in configs.Instance) configs.Instance { in.Preempt = false; return in },
			notes: []string{
				"stdin:2: " + fmt.Sprintf(kaStrict, "vrrp_strict"),
				"stdin:5: " + kaMaster,
				"stdin:6: " + fmt.Sprintf(kaNopreempt, "100", "51"),
				"stdin:7: not carried over: preempt_delay: keepalived ignores it with strict mode",
				"stdin:12: not carried over: authentication: keepalived ignores it in strict mode, so this node sent none",
			},
		},
		{
			name: "unicast peers with options, a password without auth_type",
			src: `vrrp_instance VI_1 {
				interface eth0
				virtual_router_id 51
				unicast_peer {
					10.0.0.3 min_ttl 250
					10.0.0.4
				}
				authentication {
					auth_pass secret
				}
				virtual_ipaddress {
					10.0.0.1/24
				}
			}`,
			want: func(in configs.Instance) configs.Instance {
				in.UnicastPeers = []netip.Addr{ip("10.0.0.3"), ip("10.0.0.4")}
				return in
			},
			notes: []string{
				"stdin:5: not carried over: min_ttl 250: vrrpd has no per-peer settings; unicast_min_ttl sets the lowest TTL accepted from all peers",
				"stdin:9: not carried over: authentication: it needs auth_type PASS and an auth_pass; keepalived sends no password either",
			},
		},
		{
			name: "preempt_delay, long password, garp and positive interface weight",
			src: `vrrp_instance VI_1 {
				interface eth0
				virtual_router_id 51
				preempt_delay 2.5
				garp_master_delay 1
				garp_master_repeat 2
				garp_master_refresh 30
				garp_master_refresh_repeat 2
				authentication {
					auth_type PASS
					auth_pass "longer than 8"
				}
				track_interface {
					eth1 weight 20
					eth2 weight -10 reverse
				}
				virtual_ipaddress {
					10.0.0.1/24
				}
			}`,
			want: func(in configs.Instance) configs.Instance {
				in.PreemptDelay, in.AuthPass = 2500*time.Millisecond, "longer t"
				in.GARPDelay, in.GARPRepeat, in.GARPRefresh = time.Second, 2, 30*time.Second
				in.TrackInterfaces = []configs.TrackInterface{{Name: "eth1", Weight: -20}, {Name: "eth2", Weight: 10}} // -10 reverse: +10 while down
				return in
			},
			notes: []string{
				"stdin:8: not carried over: garp_master_refresh_repeat 2: vrrpd sends garp_repeat packets per refresh",
				"stdin:11: warning: auth_pass: keepalived sends its first 8 characters only; carried over as those 8",
				"stdin:14: warning: weight 20 of eth1: keepalived adds a positive weight while the link is up, vrrpd adds weights while it is down: carried over as weight = -20, so add 20 to priority to keep the same priorities",
			},
		},
		{
			name: "VRRPv3 has no authentication; IPv6 defaults to version 3",
			src: `vrrp_instance VI_1 {
				interface eth0
				virtual_router_id 51
				advert_int 0.05
				authentication {
					auth_type PASS
					auth_pass secret
				}
				virtual_ipaddress {
					2001:db8::1/64
				}
			}`,
			want: func(in configs.Instance) configs.Instance {
				in.Version, in.VIPs, in.AdvertInterval = 3, []netip.Prefix{pfx("2001:db8::1/64")}, 50*time.Millisecond
				return in
			},
			notes: []string{"stdin:6: not carried over: authentication: VRRPv3 has no authentication (RFC 5798 §9); keepalived ignores it too"},
		},
		{
			name: "global vrrp_version and GARP defaults, and what the instance overrides",
			src: `global_defs {
				vrrp_version 3
				vrrp_garp_master_repeat 1
				vrrp_garp_master_delay 0
			}
			vrrp_instance VI_1 {
				interface eth0
				virtual_router_id 51
				garp_master_repeat 4
				virtual_ipaddress { 10.0.0.1/24 }
			}`,
			want: func(in configs.Instance) configs.Instance {
				in.Version, in.GARPRepeat, in.GARPDelay = 3, 4, 0
				return in
			},
		},
		{
			name: "notify command lines: quotes, escapes, a user, and a command found on $PATH",
			src: `vrrp_instance VI_1 {
				interface eth0
				virtual_router_id 51
				virtual_ipaddress {
					10.0.0.1/24
				}
				notify_master "/usr/local/bin/vip up \"VI 1\""
				notify_backup "logger -t vrrp 'became backup'" nobody nogroup
				notify_fault '/usr/local/bin/vip' fault\x21
				notify_stop /usr/local/bin/vip\ down
			}`,
			want: func(in configs.Instance) configs.Instance {
				in.Notify.Master = []string{"/usr/local/bin/vip", "up", "VI 1"}
				in.Notify.Backup = []string{"/usr/bin/env", "logger", "-t", "vrrp", "became backup"}
				in.Notify.Fault = []string{"/usr/local/bin/vip"}
				in.Notify.Stop = []string{"/usr/local/bin/vip", "down"}
				return in
			},
			notes: []string{
				`stdin:8: not carried over: notify_backup: keepalived reads "nobody nogroup" after the script as the user to run it as (and skips the hook if there is no such user; quote the whole command line to pass arguments); vrrpd runs every hook as script_user in [global] (its own user if that is not set), so this is carried over as ["/usr/bin/env", "logger", "-t", "vrrp", "became backup"]`,
				`stdin:9: not carried over: notify_fault: keepalived reads "fault!" after the script as the user to run it as (and skips the hook if there is no such user; quote the whole command line to pass arguments); vrrpd runs every hook as script_user in [global] (its own user if that is not set), so this is carried over as ["/usr/local/bin/vip"]`,
			},
		},
		{
			name: "track_script: weights, a missing script, and sync_group_tracking_weight",
			src: `vrrp_script chk_a {
				script "/usr/local/bin/chk a"
				weight -5
			}
			vrrp_script chk_b {
				script "/usr/local/bin/chk b"
			}
			vrrp_script chk_empty {
				interval 2
			}
			vrrp_instance VI_1 {
				interface eth0
				virtual_router_id 51
				virtual_ipaddress {
					10.0.0.1/24
				}
				track_script {
					chk_a
					chk_b weight 7
					chk_empty
				}
			}
			vrrp_sync_group G1 {
				group {
					VI_1
				}
				sync_group_tracking_weight
			}`,
			want: func(in configs.Instance) configs.Instance {
				in.TrackChecks = []configs.TrackCheck{{Name: "chk_a", Weight: -5}, {Name: "chk_b", Weight: 7}}
				return in
			},
			notes: []string{
				"stdin:8: not carried over: vrrp_script chk_empty: it has no script (keepalived ignores it too)",
				"stdin:20: not carried over: track_script chk_empty: there is no vrrp_script chk_empty with a script (keepalived ignores it too)",
			},
		},
		{
			name: "duplicates, malformed sections and unknown keywords",
			src: `vrrp_instance VI_1 {
				interface eth0
				virtual_router_id 51
				virtual_ipaddress {
					10.0.0.1/24
				}
				lvs_sync_daemon_interface eth0
				priority high
				advert_int
				track_script chk
			}
			vrrp_instance VI_1 {
				interface eth1
			}
			vrrp_instance {
			}
			linkbeat_use_polling`,
			want: func(in configs.Instance) configs.Instance { return in },
			notes: []string{
				"stdin:7: not carried over: lvs_sync_daemon_interface eth0: vrrpd has no equivalent: check whether you rely on it",
				"stdin:8: not carried over: priority high: not a whole number",
				"stdin:9: not carried over: advert_int: it needs a value",
				"stdin:10: not carried over: track_script chk: a { } block must follow it",
				"stdin:12: not carried over: vrrp_instance VI_1: already defined at stdin:1; keepalived skips the second one too",
				"stdin:15: not carried over: vrrp_instance: keepalived expects vrrp_instance NAME { ... } and skips it too",
				"stdin:17: not carried over: linkbeat_use_polling: vrrpd has no equivalent: check whether you rely on it",
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			conv, cfg := convertKA(t, "stdin", []byte(tc.src))
			base := defaultInstance("VI_1", "eth0", 51, "10.0.0.1/24")
			base.Version = 2
			if diff := cmp.Diff([]configs.Instance{tc.want(base)}, cfg.Instances, cmpNet); diff != "" {
				t.Errorf("instance mismatch (-want +got):\n%s\n%s", diff, conv.TOML)
			}
			if diff := cmp.Diff(tc.notes, conv.Notes); diff != "" {
				t.Errorf("notes mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestConvertErrors feeds broken configurations: each gives one error, naming the file
// and line, which matches ErrSyntax.
func TestConvertErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	write("self.conf", "include self.conf\n")
	write("broken.conf", "vrrp_instance VI_2 {\n  interface eth0\n  notify \"/x.sh\n}\n")
	ping := write("ping.conf", "# ping\ninclude pong.conf\n")
	write("pong.conf", "include ping.conf\n")
	if err := os.Mkdir(filepath.Join(dir, "conf.d"), 0o755); err != nil {
		t.Fatal(err)
	}
	write("huge.conf", strings.Repeat("#", kaMaxFileSize+1))
	for i := range 5 {
		write(fmt.Sprintf("full%d.conf", i), strings.Repeat("#", kaMaxFileSize))
	}
	tests := []struct {
		name, file, src string
		want            string
		notExist        bool // the error also matches fs.ErrNotExist
	}{
		{name: "missing '}'", src: "vrrp_instance VI_1 {\n  interface eth0\n  virtual_ipaddress {\n    10.0.0.1\n}\n",
			want: "stdin:1: the block of vrrp_instance VI_1 is never closed: a '}' is missing"},
		{name: "extra '}'", src: "global_defs {\n  router_id lb1\n}\n}\n", want: "stdin:4: '}' without a block to close"},
		{name: "'{' alone", src: "# nothing first\n{\n}\n", want: "stdin:2: '{' without a keyword before it"},
		{name: "'{' twice", src: "vrrp_instance VI_1 { {\n}\n}\n", want: "stdin:1: '{' without a keyword before it"},
		{name: "unterminated quote", src: "vrrp_instance VI_1 {\n  notify_master \"/x.sh MASTER\n}\n",
			want: `stdin:2: unterminated quote: a '"' is missing`},
		{name: "include of a missing file", file: filepath.Join(dir, "main.conf"), src: "# main\ninclude missing.conf\n",
			want: filepath.Join(dir, "main.conf") + ":2: include: stat " + filepath.Join(dir, "missing.conf") + ": no such file or directory", notExist: true},
		{name: "error in an included file", file: filepath.Join(dir, "main.conf"), src: "include b*.conf\n",
			want: filepath.Join(dir, "broken.conf") + `:3: unterminated quote: a '"' is missing`},
		{name: "include loop", file: filepath.Join(dir, "main.conf"), src: "include self.conf\n",
			want: filepath.Join(dir, "self.conf") + ":1: include self.conf: " + filepath.Join(dir, "self.conf") + " is already being read: includes must not go round in a cycle"},
		{name: "include cycle", file: ping, src: "# ping\ninclude pong.conf\n",
			want: filepath.Join(dir, "pong.conf") + ":1: include ping.conf: " + ping + " is already being read: includes must not go round in a cycle"},
		{name: "include of a directory", src: "include " + filepath.Join(dir, "conf.d") + "\n",
			want: "stdin:1: include: " + filepath.Join(dir, "conf.d") + " is not a regular file"},
		{name: "include of a device", src: "include /dev/zero\n", want: "stdin:1: include: /dev/zero is not a regular file"},
		{name: "include of a file too large", src: "include " + filepath.Join(dir, "huge.conf") + "\n",
			want: "stdin:1: include: " + filepath.Join(dir, "huge.conf") + " is larger than 4 MiB"},
		{name: "includes too large together", src: "include " + filepath.Join(dir, "full*.conf") + "\n",
			want: "stdin:1: include: " + filepath.Join(dir, "full4.conf") + ": the included files hold more than 16 MiB together"},
		{name: "include without a file", src: "include\n", want: "stdin:1: include takes one file name or glob pattern"},
		{name: "bad glob", src: "include [.conf\n", want: "stdin:1: include [.conf: syntax error in pattern"},
		{name: "per-host line without a router-id", src: "global_defs {\n@lb1 router_id lb1\n}\n",
			want: "stdin:2: @lb1: the line is for some hosts only: convert with --router-id NAME to say which host (keepalived's config-id, its -i option, by default the first part of the host name)"},
		{name: "a negated per-host line without a router-id", src: "@^lb1\tpriority 10\n",
			want: "stdin:1: @^lb1: the line is for some hosts only: convert with --router-id NAME to say which host (keepalived's config-id, its -i option, by default the first part of the host name)"},
		{name: "_INSTANCE without a router-id", src: "global_defs {\nrouter_id ${_INSTANCE}\n}\n",
			want: "stdin:2: ${_INSTANCE} is keepalived's config-id: convert with --router-id NAME to say which host"},
		{name: "_RANDOM", src: "$P=${_RANDOM 1 10}\npriority $P\n", want: "stdin:2: ${_RANDOM} gives a random number each time keepalived reads the file: write the number instead"},
		{name: "~SEQ", src: "~SEQ(N, 1, 3) priority $N\n", want: "stdin:1: keepalived's ~SEQ blocks are not supported: expand them by hand first"},
		{name: "~LST", src: "$X=1\n~LST(N, 1, 2) priority $N\n", want: "stdin:2: keepalived's ~LST blocks are not supported: expand them by hand first"},
		{name: "a definition that uses itself", src: "$A=$A\npriority $A\n", want: "stdin:2: $A does not stop expanding (does a definition use itself?)"},
		{name: "a definition that grows", src: "$A=xxxx${A}\npriority ${A}\n", want: "stdin:2: the definitions make the line longer than 1024 bytes, keepalived's limit"},
		{name: "definitions used too often", src: "$A=x\n" + strings.Repeat("y $A\n", kaMaxAllSubstitutions+1),
			want: fmt.Sprintf("stdin:%d: the definitions are used more than %d times in all", kaMaxAllSubstitutions+2, kaMaxAllSubstitutions)},
		{name: "a definition of lines that uses itself", src: "$M= \\\nx \\\n$M\n\n$M\n", want: "stdin:5: the definitions add more than 100000 lines (does one use itself?)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			name := tc.file
			if name == "" {
				name = "stdin"
			}
			var conv *Conversion
			var err error
			done := make(chan struct{})
			go func() { // a FIFO or device must not hang it
				defer close(done)
				conv, err = Convert(name, []byte(tc.src), Options{})
			}()
			select {
			case <-done:
			case <-time.After(time.Minute):
				t.Fatal("Convert did not return")
			}
			if err == nil || err.Error() != tc.want {
				t.Fatalf("Convert = %v, %v; want error %q", conv, err, tc.want)
			}
			if !errors.Is(err, ErrSyntax) || errors.Is(err, fs.ErrNotExist) != tc.notExist {
				t.Errorf("errors.Is(%v, ErrSyntax) = false, or fs.ErrNotExist is not %v", err, tc.notExist)
			}
		})
	}
}

// TestConvertIncludeNoMatch: a glob that matches nothing is not an error, in keepalived
// either, but it is noted.
func TestConvertIncludeNoMatch(t *testing.T) {
	conv, err := Convert("stdin", []byte("include /nonexistent/*.conf\n"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"stdin:1: warning: include /nonexistent/*.conf matched no file"}, conv.Notes); diff != "" {
		t.Errorf("notes mismatch (-want +got):\n%s", diff)
	}
}

func TestKeepalivedWords(t *testing.T) {
	for _, tc := range []struct {
		line string
		want []string
		err  bool
	}{
		{line: `virtual_router_id 51`, want: []string{"virtual_router_id", "51"}},
		{line: "a\t b  c", want: []string{"a", "b", "c"}},
		{line: `script "killall -0 nginx"`, want: []string{"script", "killall -0 nginx"}},
		{line: `a"b c"d`, want: []string{"a", "b c", "d"}},
		{line: `x ""`, want: []string{"x", ""}},
		{line: `x "y`, err: true},
	} {
		got, err := kaWords(tc.line)
		if !slices.Equal(got, tc.want) || (err != nil) != tc.err {
			t.Errorf("kaWords(%q) = %q, %v; want %q", tc.line, got, err, tc.want)
		}
	}
}

func TestKeepalivedDecomment(t *testing.T) {
	for _, tc := range []struct{ line, want string }{
		{"  priority 100  ", "priority 100"},
		{"priority 100 # the master", "priority 100"},
		{"priority 100! the master", "priority 100"},
		{"! a comment line", ""},
		{`auth_pass "a#b!c" # both kept`, `auth_pass "a#b!c"`},
		{`auth_pass a\#b\!c`, "auth_pass a#b!c"},
		{`script "x \"#\" y" # quoted quote`, `script "x \"#\" y"`},
	} {
		if got, err := kaDecomment(tc.line); got != tc.want || err != nil {
			t.Errorf("kaDecomment(%q) = %q, %v; want %q", tc.line, got, err, tc.want)
		}
	}
	if _, err := kaDecomment(`script "/x.sh`); err == nil {
		t.Errorf("kaDecomment(unterminated quote) = nil error")
	}
}

func TestKeepalivedSplitCommand(t *testing.T) {
	for _, tc := range []struct {
		line string
		want []string
		err  bool
	}{
		{line: `/etc/keepalived/notify.sh MASTER`, want: []string{"/etc/keepalived/notify.sh", "MASTER"}},
		{line: `notify_master "/x.sh MASTER" root`, want: []string{"notify_master", "/x.sh MASTER", "root"}},
		{line: `'a b' "c d"`, want: []string{"a b", "c d"}},
		{line: `a"b c"'d e'f`, want: []string{"ab cd ef"}},
		{line: `"" x`, want: []string{"", "x"}},
		{line: `a\ b \"c\" \'`, want: []string{"a b", `"c"`, "'"}},
		{line: `\x41\102\cA\t\n\E\q`, want: []string{"AB\x01\t\n\x1bq"}},
		{line: `'\x41'`, want: []string{"A"}},
		{line: "  "},
		{line: `'abc`, err: true},
		{line: `abc\`, err: true},
	} {
		got, err := kaSplitCommand(tc.line)
		if !slices.Equal(got, tc.want) || (err != nil) != tc.err {
			t.Errorf("kaSplitCommand(%q) = %q, %v; want %q", tc.line, got, err, tc.want)
		}
	}
}

func TestKeepalivedSeconds(t *testing.T) {
	for _, tc := range []struct {
		s    string
		want time.Duration // -1: not valid
	}{
		{"1", time.Second},
		{"0.5", 500 * time.Millisecond},
		{".25", 250 * time.Millisecond},
		{"3.", 3 * time.Second},
		{"0.000000001", 1},
		{"4294967295", 4294967295 * time.Second},
		{"", -1}, {".", -1}, {"-1", -1}, {"+1", -1}, {"1e3", -1}, {"1.2.3", -1}, {"0.1234567891", -1}, {"4294967296", -1},
	} {
		got, ok := kaSeconds(tc.s)
		if tc.want < 0 && ok || tc.want >= 0 && (!ok || got != tc.want) {
			t.Errorf("kaSeconds(%q) = %v, %v; want %v", tc.s, got, ok, tc.want)
		}
	}
}

func TestTOMLString(t *testing.T) {
	for s, want := range map[string]string{
		`plain`:         `"plain"`,
		`a "quoted" \`:  `"a \"quoted\" \\"`,
		"tab\tnl\n\x7f": `"tab\u0009nl\u000A\u007F"`,
		"ünïcode":       `"ünïcode"`,
	} {
		if got := tomlString(s); got != want {
			t.Errorf("tomlString(%q) = %s, want %s", s, got, want)
		}
	}
}

// TestConvertScriptUser covers script security: script_user carries over, with its group as
// USER:GROUP, and so does a vrrp_script's user, to its check; enable_script_security needs
// nothing, as vrrpd always enforces it.
func TestConvertScriptUser(t *testing.T) {
	userCredential(t, "nobody") // skips without one
	const instance = `
vrrp_script chk {
	script "/usr/local/bin/chk"
	user nobody %s
}
vrrp_script proc {
	script "pidof nginx"
	user nobody
}
vrrp_instance VI_1 {
	interface eth0
	virtual_router_id 51
	virtual_ipaddress {
		10.0.0.1/24
	}
}`
	procNote := "stdin:10: user nobody: nothing to carry over: the check became a process check, which runs no program"
	for _, tc := range []struct {
		name, global, group string
		want, wantCheck     string // script_user, the check's user
		notes               []string
	}{
		{"user", "script_user 65534", "", "65534", "nobody", nil},
		{"user and group", "script_user 65534 65534", "0", "65534:65534", "nobody:0", nil},
		{"no user", "script_user", "", "", "nobody", []string{"stdin:2: not carried over: script_user: keepalived expects script_user USER [GROUP]"}},
		{"too many words", "script_user a b c", "", "", "nobody", []string{"stdin:2: not carried over: script_user a b c: keepalived expects script_user USER [GROUP]"}},
		{"enable_script_security", "enable_script_security", "", "", "nobody", []string{"stdin:2: enable_script_security: nothing to carry over: vrrpd always enforces it, " +
			"and refuses a hook or check that a user other than root and script_user could change (`vrrpd check` says which file and what to chmod)"}},
		{"check user with too many words", "", "0 0", "", "", []string{"stdin:6: not carried over: user nobody 0 0: keepalived expects user USER [GROUP]"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conv, cfg := convertKA(t, "stdin", []byte("global_defs {\n"+tc.global+"\n}"+fmt.Sprintf(instance, tc.group)))
			if cfg.Global.ScriptUser != tc.want || cfg.Checks[0].User != tc.wantCheck || cfg.Checks[1].User != "" {
				t.Errorf("script_user = %q, users of the checks %q and %q; want %q, %q and \"\"\n%s",
					cfg.Global.ScriptUser, cfg.Checks[0].User, cfg.Checks[1].User, tc.want, tc.wantCheck, conv.TOML)
			}
			if diff := cmp.Diff(append(tc.notes, procNote), conv.Notes); diff != "" {
				t.Errorf("notes mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestConvertFIFO: an include that names a FIFO is refused at once, not read (which would wait for
// a writer forever).
func TestConvertFIFO(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "fifo.conf")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := Convert("stdin", []byte("include "+fifo+"\n"), Options{})
		done <- err
	}()
	select {
	case err := <-done:
		if want := "stdin:1: include: " + fifo + " is not a regular file"; err == nil || err.Error() != want {
			t.Errorf("Convert = %v, want %q", err, want)
		}
	case <-time.After(time.Minute):
		t.Fatal("Convert is still reading the FIFO")
	}
}

// TestPreprocessor checks keepalived's preprocessor line by line: the statements a configuration
// gives, converted for lb1.
func TestPreprocessor(t *testing.T) {
	dir, err := filepath.Abs("testdata")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, src string
		want      []string // the statements' words, joined by blanks
	}{
		{"per-host lines", "@lb1 priority 110\n@lb2 priority 120\n@^lb1 advert_int 2\n@^lb2\tadvert_int 3\n@lb1\n@ x\n",
			[]string{"priority 110", "advert_int 3"}},
		{"definitions", "$IF=eth0\ninterface $IF\ninterface ${IF}.1\ninterface $IF,x\ninterface ($IF)\ninterface $IFx\ninterface $IF.1\n",
			[]string{"interface eth0", "interface eth0.1", "interface eth0,x", "interface (eth0)", "interface $IFx", "interface $IF.1"}},
		{"no definition", "$X =1\npriority $X\n", []string{"$X =1", "priority $X"}},
		{"an empty value, and blanks after =", "$E=\n$F=   f  \nx$E y\nz ${F}\n", []string{"x y", "z f"}},
		{"values used when used", "$B=${S}.1\n$S=10\nip $B\n$S=20\nip ${B}\n", []string{"ip 10.1", "ip 20.1"}},
		{"a redefinition", "$X=1\n$X=2\npriority $X\n", []string{"priority 2"}},
		{"undefined names stay", "script \"$HOME/x ${NONE} $\"\nnotify $\n", []string{"script $HOME/x ${NONE} $", "notify $"}},
		{"a per-host definition", "@lb1 $P=150\n@lb2 $P=120\npriority $P\n", []string{"priority 150"}},
		{"a definition giving a per-host line", "$L=@lb1\n$L priority 9\n$N=@lb2\n$N priority 8\n", []string{"priority 9"}},
		{"predefined", "a ${_INSTANCE}\nb \"${_HASH}\" \"${_BANG}x\"\nc ${_PWD}\nd ${_HASH} e\nf ${_BANG}g\n",
			[]string{"a lb1", "b # !x", "c " + dir, "d", "f"}}, // a '#' or '!' outside quotes is a comment again
		{"a predefined name redefined", "$_HASH=h\nx ${_HASH}\n", []string{"x h"}},
		{"lines", "$M= \\\n  vrrp_instance I${N} { \\\n    priority 1${N} \\\n    @lb2 nopreempt \\\n  }\n$N=1\n$M\n$N=2\nx $M\n$M y\n",
			[]string{"vrrp_instance I1", "priority 11", "x vrrp_instance I2", "priority 12", "$M y"}},
		{"lines ended by a blank line", "$M=a \\\nb \\\n\nc\n$M\n", []string{"c", "a", "b"}},
		{"lines within lines", "$IN=p ${V} \\\nq\n$OUT=o \\\n$IN\n$V=1\n$OUT\n", []string{"o", "p 1", "q"}},
		{"a comment after a use", "$X=1 # one\npriority $X # the priority\n", []string{"priority 1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stmts, _, err := parseKeepalived(filepath.Join("testdata", "x.conf"), []byte(tc.src), Options{RouterID: "lb1"})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			var walk func([]*kaStmt)
			walk = func(ss []*kaStmt) {
				for _, s := range ss {
					got = append(got, strings.Join(s.words, " "))
					walk(s.block)
				}
			}
			walk(stmts)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("statements mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestConvertInjection: what a line says can neither end a TOML comment nor a string, however it
// is escaped, so the output has the tables the configuration has and no more. Notes have no
// control characters either.
func TestConvertInjection(t *testing.T) {
	src := "vrrp_script chk {\n" +
		`	script "x\\n[[check]]\\nname\\040=\\040\\042evil\\042\\nexec\\040=\\040[\\042/bin/sh\\042]"` + "\n" +
		"}\n" +
		"vrrp_instance \"VI_1\x1b[2J\x00\" {\n" +
		"	interface eth0\n" +
		"	virtual_router_id 51\n" +
		"	virtual_ipaddress {\n" +
		"		10.0.0.1/24 label \"eth0:\x0b[[instance]]\"\n" +
		"	}\n" +
		"	track_script {\n" +
		"		chk\n" +
		"	}\n" +
		"	smtp_server \"\x1b]0;owned\x07\"\n" +
		"}\n"
	conv, err := Convert("stdin\n[[check]]", []byte(src), Options{})
	if err != nil {
		t.Fatal(err)
	}
	var root map[string]any
	if _, err := toml.Decode(string(conv.TOML), &root); err != nil {
		t.Fatalf("the output is not TOML: %v\n%s", err, conv.TOML)
	}
	checks, _ := root["check"].([]map[string]any)
	instances, _ := root["instance"].([]map[string]any)
	if len(checks) != 1 || len(instances) != 1 || checks[0]["name"] != "chk" {
		t.Errorf("checks %v, instances %v: want chk alone, and one instance\n%s", checks, instances, conv.TOML)
	}
	if strings.ContainsFunc(string(conv.TOML), func(r rune) bool { return unicode.IsControl(r) && r != '\n' }) {
		t.Errorf("the output has control characters:\n%q", conv.TOML)
	}
	for _, n := range conv.Notes {
		if strings.ContainsFunc(n, unicode.IsControl) {
			t.Errorf("note with control characters: %q", n)
		}
	}
	if !strings.Contains(string(conv.TOML), `# keepalived searched $PATH for x\n[[check]]\nname = "evil"\nexec = ["/bin/sh"]`) {
		t.Errorf("the remark does not show the command escaped:\n%s", conv.TOML)
	}
}

// TestConvertEcho: a note quotes at most kaMaxEcho bytes of a line, and nothing of a line from an
// included file, which may hold secrets.
func TestConvertEcho(t *testing.T) {
	dir := t.TempDir()
	inc := filepath.Join(dir, "secret.conf")
	if err := os.WriteFile(inc, []byte("smtp_server mail.example.com password=hunter2\nvrrp_mcast_group4 224.0.0.99\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("ü", 50) // 100 bytes
	conv, err := Convert("main.conf", []byte("global_defs {\n  notification_email_from "+long+"\n  include "+inc+"\n}\n"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"main.conf:2: not carried over: notification_email_from " + strings.Repeat("ü", 39) + "...: " + kaInstead("smtp_server"),
		inc + ":1: not carried over: smtp_server ...: " + kaInstead("smtp_server"),
		inc + ":2: not carried over: vrrp_mcast_group4 ...: " + kaInstead("vrrp_mcast_group4"),
	}
	if diff := cmp.Diff(want, conv.Notes); diff != "" {
		t.Errorf("notes mismatch (-want +got):\n%s", diff)
	}
}

func TestKaPrintable(t *testing.T) {
	for s, want := range map[string]string{
		"plain ü":         "plain ü",
		"a\nb\rc\x00\x1b": `a\nb\rc\x00\x1b`,
		"\u0085 \u2028":   `\u0085 ` + "\u2028",
		"bad \xff":        "bad \ufffd",
	} {
		if got := kaPrintable(s); got != want {
			t.Errorf("kaPrintable(%q) = %q, want %q", s, got, want)
		}
	}
}

// FuzzConvert: Convert never panics; its output is always TOML; and what Parse accepts has no
// more checks, instances and sync groups than the configuration has sections for: two checks a
// vrrp_script or track_file at most (tracked with and without reverse).
func FuzzConvert(f *testing.F) {
	for _, name := range []string{"keepalived-2.2.7.conf", "nginx-lb1.conf", "sync-group.conf", "track-file.conf",
		"scripts.conf", "addresses.conf", "routes.conf", "notify.conf", "defaults.conf", "preprocessor.conf"} {
		src, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(src)
	}
	f.Add([]byte("vrrp_script a { script \"x\\n[[check]]\" }\nvrrp_instance I { interface e\n virtual_router_id 1\n virtual_ipaddress { 10.0.0.1 }\n track_script { a }\n}\n"))
	dir := f.TempDir() // relative includes find nothing there
	f.Fuzz(func(t *testing.T, src []byte) {
		if bytes.Contains(src, []byte("include")) { // what an include reads is not in src
			return
		}
		name := filepath.Join(dir, "keepalived.conf")
		conv, err := Convert(name, src, Options{RouterID: "lb1"})
		if err != nil {
			if !errors.Is(err, ErrSyntax) {
				t.Fatalf("error %v does not match ErrSyntax", err)
			}
			return
		}
		var root map[string]any
		if _, err := toml.Decode(string(conv.TOML), &root); err != nil {
			t.Fatalf("the output is not TOML: %v\n%s", err, conv.TOML)
		}
		cfg, err := configs.Parse(conv.TOML)
		if err != nil {
			return
		}
		stmts, _, err := parseKeepalived(name, src, Options{RouterID: "lb1"})
		if err != nil {
			t.Fatal(err)
		}
		sections := map[string]int{}
		for _, s := range stmts {
			sections[s.kw()]++
		}
		checks := sections["vrrp_script"] + sections["track_file"] + sections["vrrp_track_file"]
		if len(cfg.Checks) > 2*checks || len(cfg.Instances) > sections["vrrp_instance"] || len(cfg.SyncGroups) > sections["vrrp_sync_group"] {
			t.Fatalf("%d checks, %d instances, %d sync groups from %v\n%s", len(cfg.Checks), len(cfg.Instances), len(cfg.SyncGroups), sections, conv.TOML)
		}
	})
}

// FuzzSplitCommand: kaSplitCommand never panics, and the words it gives, quoted again, split into
// the same words.
func FuzzSplitCommand(f *testing.F) {
	for _, s := range []string{`/etc/keepalived/notify.sh MASTER`, `a"b c"'d e'f`, `a\ b \"c\" \'`, `\x41\102\cA\t\n\E\q`, `'abc`, `abc\`, ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		words, err := kaSplitCommand(s)
		if err != nil {
			return
		}
		quoted := make([]string, len(words))
		for i, w := range words {
			quoted[i] = kaQuote(w)
		}
		again, err := kaSplitCommand(strings.Join(quoted, " "))
		if err != nil || !slices.Equal(words, again) && !(len(words) == 0 && len(again) == 0) {
			t.Fatalf("%q split into %q; quoted again, %q split into %q, %v", s, words, strings.Join(quoted, " "), again, err)
		}
	})
}

// kaQuote quotes a word for kaSplitCommand: every byte but a letter or a digit as a three-digit
// octal escape, and the empty word as ”.
func kaQuote(w string) string {
	if w == "" {
		return "''"
	}
	var b strings.Builder
	for i := 0; i < len(w); i++ {
		if c := w[i]; c < 0x80 && (unicode.IsLetter(rune(c)) || unicode.IsDigit(rune(c))) {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, `\%03o`, c)
		}
	}
	return b.String()
}

// FuzzWords: kaWords and kaDecomment never panic, a word of kaWords has no blank unless it was
// quoted, and a line decommented has no comment left to take off.
func FuzzWords(f *testing.F) {
	for _, s := range []string{`virtual_router_id 51`, `script "killall -0 nginx"`, `a"b c"d`, `x "y`, `auth_pass "a#b!c" # both kept`, `auth_pass a\#b\!c`, `x \`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		if words, err := kaWords(line); err == nil && !strings.Contains(line, `"`) {
			for _, w := range words {
				if w == "" || strings.ContainsAny(w, " \t\f\v\r") {
					t.Fatalf("kaWords(%q) gave the word %q", line, w)
				}
			}
		}
		if d, err := kaDecomment(line); err == nil && d != strings.TrimSpace(d) {
			t.Fatalf("kaDecomment(%q) = %q, with blanks around it", line, d)
		}
	})
}

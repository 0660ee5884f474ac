package configs

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

var cmpNet = cmpopts.EquateComparable(netip.Addr{}, netip.Prefix{})

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }
func ip(s string) netip.Addr    { return netip.MustParseAddr(s) }

// defaultInstance returns an instance with the given identity and every default.
func defaultInstance(name, ifname string, vrid uint8, vips ...string) Instance {
	in := Instance{Name: name, Interface: ifname, VRID: vrid, Priority: 100, Version: 3,
		AdvertInterval: time.Second, Preempt: true, UnicastMinTTL: 255, V3Checksum: "pseudo-header",
		GARPDelay: 5 * time.Second, GARPRepeat: 5, Notify: Notify{Timeout: 30 * time.Second}}
	for _, v := range vips {
		in.VIPs = append(in.VIPs, pfx(v))
	}
	return in
}

func TestLoadFull(t *testing.T) {
	sh := "/etc/vrrpd/notify.sh"
	vi1 := Instance{
		Name: "VI_1", Interface: "eth0", VRID: 51, Priority: 150, Version: 3,
		AdvertInterval: 250 * time.Millisecond, Preempt: false, PreemptDelay: 30 * time.Second,
		VIPs:         []netip.Prefix{pfx("10.0.4.99/24"), pfx("10.0.5.1/32"), pfx("10.0.6.1/24")},
		VIPsExcluded: []netip.Prefix{pfx("2001:db8::5/128"), pfx("10.0.7.1/24")},
		VIPOptions: map[netip.Addr]VIPOption{
			ip("10.0.6.1"): {Dev: "eth1", Label: "eth1:vip", Scope: "link"},
			ip("10.0.7.1"): {Scope: "global"},
		},
		UnicastSrc: ip("10.0.4.20"), UnicastPeers: []netip.Addr{ip("10.0.4.21"), ip("10.0.4.22")}, UnicastMinTTL: 64,
		V3Checksum: "message", GARPDelay: 2 * time.Second, GARPRepeat: 3, GARPRefresh: time.Minute,
		GARPInterval: time.Millisecond, VMAC: true, VMACName: "vrrp.vi1",
		Routes: []Route{
			{To: pfx("10.9.0.0/16"), Via: ip("10.0.4.1"), Dev: "eth0", Src: ip("10.0.4.99"), Table: 100, Metric: 10, Scope: "site", Type: "unicast"},
			{To: pfx("0.0.0.0/0"), Via: ip("10.0.4.1"), Scope: "global", Type: "unicast"},
			{To: pfx("192.0.2.0/24"), Scope: "global", Type: "blackhole"},
		},
		Rules: []Rule{
			{From: pfx("10.0.4.99/32"), To: pfx("10.9.0.0/16"), IIF: "eth0", OIF: "eth1", FWMark: 7, Table: 100, Priority: 1000},
			{FWMark: 1, Table: 200},
		},
		TrackInterfaces: []TrackInterface{{Name: "eth1", Weight: -30, DownDelay: time.Second, UpDelay: 2 * time.Second}, {Name: "bond0"},
			{Name: "eth0", UpDelay: 500 * time.Millisecond}},
		TrackChecks: []TrackCheck{{Name: "nginx", Weight: -20}, {Name: "quick", Weight: 5}},
		Notify: Notify{Master: []string{sh, "MASTER"}, Backup: []string{sh, "BACKUP"}, Fault: []string{sh, "FAULT"},
			Stop: []string{sh, "STOP"}, Any: []string{sh}, Reassert: []string{"/etc/vrrpd/claim.sh", "--force"},
			Priority: []string{"/etc/vrrpd/priority.sh"}, Timeout: 10 * time.Second},
	}
	vi6 := defaultInstance("VI_6", "eth0", 51, "2001:db8::99/64", "fe80::99/128")
	vi6.UnicastPeers = []netip.Addr{ip("fe80::2")}
	vi6.VMAC, vi6.VMACName = true, "vrrp6.51"
	legacy := defaultInstance("legacy", "eth0.100", 7, "192.0.2.1/32")
	legacy.Priority, legacy.Version, legacy.AdvertInterval, legacy.Preempt, legacy.AuthPass = 255, 2, 3*time.Second, false, "secret12"
	want := &Config{
		Global: Global{RouterID: "lb1", Socket: "/run/vrrpd/test.sock", SocketGroup: "vrrpd",
			Metrics: "127.0.0.1:9650", LogFormat: "json", LogLevel: slog.LevelDebug,
			ScriptUser: "nobody:0", ScriptCredential: &syscall.Credential{Uid: userCredential(t, "nobody").Uid, Gid: 0, Groups: []uint32{0}},
			StateDir: "/var/lib/vrrpd-test", WatchConfig: true, StartupDelay: 30 * time.Second},
		Checks: []Check{
			{Name: "nginx", Kind: CheckProcess, Process: "nginx", Interval: time.Second, Timeout: 500 * time.Millisecond, Rise: 3, Fall: 2, Weight: -20},
			{Name: "healthz", Kind: CheckExec, Exec: []string{"/usr/bin/curl", "-fsS", "http://127.0.0.1/healthz"}, Interval: 2 * time.Second, Timeout: 2 * time.Second, Rise: 1, Fall: 1,
				User: "root:0", UserCredential: &syscall.Credential{Uid: 0, Gid: 0, Groups: []uint32{0}}, InitFail: true},
			{Name: "quick", Kind: CheckScript, Script: "/etc/vrrpd/check.sh --quick", Interval: 5 * time.Second, Timeout: 5 * time.Second, Rise: 1, Fall: 1, Weight: 10},
			{Name: "port", Kind: CheckTCP, TCP: "127.0.0.1:80", Interval: 2 * time.Second, Timeout: 2 * time.Second, Rise: 1, Fall: 1},
			{Name: "web", Kind: CheckHTTP, HTTP: "https://[::1]:8443/healthz", Interval: 2 * time.Second, Timeout: 2 * time.Second, Rise: 1, Fall: 1},
			{Name: "maintenance", Kind: CheckFile, File: "/etc/vrrpd/maintenance", Interval: 2 * time.Second, Timeout: 2 * time.Second, Rise: 1, Fall: 1, Weight: -10},
			{Name: "gateway", Kind: CheckPing, Ping: ip("fe80::1%eth0"), Interval: 2 * time.Second, Timeout: 2 * time.Second, Rise: 1, Fall: 1, Reverse: true},
		},
		Instances: []Instance{vi1, vi6, legacy},
		SyncGroups: []SyncGroup{{Name: "G1", Instances: []string{"VI_1", "VI_6"},
			Notify: Notify{Master: []string{"/etc/vrrpd/group.sh", "MASTER"}, Timeout: time.Minute}}},
	}
	got, err := Load("testdata/full.toml")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got, cmpNet); diff != "" {
		t.Errorf("Load(full.toml) mismatch (-want +got):\n%s", diff)
	}
	if got.Instances[0].IPv6() || !got.Instances[1].IPv6() {
		t.Errorf("IPv6() = %v, %v; want false, true", got.Instances[0].IPv6(), got.Instances[1].IPv6())
	}
}

func TestDefaults(t *testing.T) {
	host, err := os.Hostname()
	if err != nil {
		t.Skip("no hostname, which is the default router_id:", err)
	}
	got, err := Parse([]byte(`
[[check]]
name = "nginx"
process = "nginx"

[[instance]]
name = "VI_1"
interface = "eth0"
vrid = 51
vips = ["10.0.4.99/24"]
track_interfaces = [{ name = "eth1" }]
track_checks = [{ name = "nginx" }]
`))
	if err != nil {
		t.Fatal(err)
	}
	vi1 := defaultInstance("VI_1", "eth0", 51, "10.0.4.99/24")
	vi1.TrackInterfaces = []TrackInterface{{Name: "eth1"}}
	vi1.TrackChecks = []TrackCheck{{Name: "nginx"}}
	want := &Config{
		Global:    Global{RouterID: host, Socket: "/run/vrrpd/vrrpd.sock", LogFormat: "text", LogLevel: slog.LevelInfo, StateDir: "/var/lib/vrrpd"},
		Checks:    []Check{{Name: "nginx", Kind: CheckProcess, Process: "nginx", Interval: 2 * time.Second, Timeout: 2 * time.Second, Rise: 1, Fall: 1}},
		Instances: []Instance{vi1},
	}
	if diff := cmp.Diff(want, got, cmpNet); diff != "" {
		t.Errorf("defaults mismatch (-want +got):\n%s", diff)
	}
}

// TestValid covers values at the edges of what is allowed.
func TestValid(t *testing.T) {
	for _, tc := range []struct{ name, toml string }{
		{"metrics on every address", `[global]
metrics = ":9650"` + "\n" + vi1},
		{"v3 shortest interval", vi1 + `advert_interval = "10ms"`},
		{"v3 longest interval", vi1 + `advert_interval = "40.95s"`},
		{"v2 longest interval", vi1 + `version = 2
advert_interval = "255s"`},
		{"v2 password of 8 bytes", vi1 + `version = 2
auth_pass = "12345678"`},
		{"v3 empty password", vi1 + `auth_pass = ""`},
		{"v3 IPv4 pseudo-header", vi1 + `v3_checksum = "pseudo-header"`},
		{"shortest garp_refresh", vi1 + `garp_refresh = "100ms"`},
		{"longest preempt_delay", vi1 + `preempt_delay = "1h"`},
		{"owner without preempt", vi1 + `priority = 255
preempt = false`},
		{"extreme weights", vi1 + `track_interfaces = [{ name = "eth1", weight = -253 }, { name = "eth2", weight = 253 }]`},
		{"check after its tracker", vi1 + `track_checks = [{ name = "late" }]
[[check]]
name = "late"
tcp = "[::1]:80"`},
		{"sync group of one", vi1 + `[[sync_group]]
name = "G1"
instances = ["VI_1"]`},
		{"inline array of tables", `instance = [{ name = "VI_1", interface = "eth0", vrid = 1, vips = ["10.0.4.99"] }]`},
		{"every new kind", vi1 + "[[check]]\nname = \"f\"\nfile = \"/etc/vrrpd/maintenance\"\n[[check]]\nname = \"p4\"\nping = \"10.0.4.1\"\n" +
			"[[check]]\nname = \"p6\"\nping = \"::1\"\n[[check]]\nname = \"s\"\nscript = \"/bin/true\"\nuser = \"root:root\"\n"},
		{"a label on the VIP's own dev", vi1 + `vips_excluded = [{ address = "10.0.9.1/24", dev = "eth1", label = "eth1:9" }]`},
		{"both families with vips_excluded, version 2", vi1 + "version = 2\nvips_excluded = [\"2001:db8::1\", \"10.0.5.1\"]\n"},
		{"the instance's interface tracked for its delays", vi1 + `track_interfaces = [{ name = "eth0", weight = 0, down_delay = "1h", up_delay = "0s" }]`},
		{"VIPs of /31 and /32, and a network address", strings.Replace(vi1, `["10.0.4.99/24"]`, `["10.0.4.255/31", "10.0.5.255/32", "10.0.6.0/24"]`, 1)},
		{"IPv6 all ones", strings.Replace(vi1, `["10.0.4.99/24"]`, `["2001:db8::ffff:ffff/64"]`, 1)},
		{"routes of every type", vi1 + `routes = [{ to = "10.1.0.0/16", type = "unreachable" }, { to = "10.2.0.0/16", type = "prohibit", table = 4294967295, metric = 4294967295 }, { to = "10.3.0.1" }]`},
		{"rules on one selector each", vi1 + `rules = [{ to = "10.1.0.0/16", table = 1 }, { iif = "eth0", table = 1 }, { oif = "eth0", table = 1 }, { from = "2001:db8::/32", table = 4294967295 }]`},
		{"a script of several lines", vi1 + "[[check]]\nname = \"s\"\nscript = \"\"\"\nif true; then\n\ttrue\nfi\n\"\"\"\n"},
		{"15-byte interface", `[[instance]]
name = "VI_1"
interface = "abcdefghijklmno"
vrid = 51
vips = ["10.0.4.99/24"]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Parse([]byte(tc.toml)); err != nil {
				t.Errorf("Parse:\n%v", err)
			}
		})
	}
}

// vi1 is a valid instance that a case can add keys to, or follow with more tables.
const vi1 = `
[[instance]]
name = "VI_1"
interface = "eth0"
vrid = 51
vips = ["10.0.4.99/24"]
`

// withCheck is vi1 preceded by a check named nginx.
const withCheck = `
[[check]]
name = "nginx"
process = "nginx"
` + vi1

func TestProblems(t *testing.T) {
	for _, tc := range []struct {
		name string
		toml string
		want []string
	}{
		// The file.
		{"empty", "", []string{`instance: required (at least one [[instance]])`}},
		{"syntax", vi1 + "priority = \n", []string{`line 7: expected value but found '\n' instead`}},
		{"key twice", vi1 + "vrid = 52\n", []string{`line 7: Key 'instance.vrid' has already been defined.`}},
		{"unknown top-level key", vi1 + "[instances]\n", []string{`unknown key "instances" (did you mean "instance"?)`}},
		{"instance not an array", "[instance]\nname = \"VI_1\"\n", []string{`instance: a table is not an array of tables`}},
		{"global not a table", "global = 1\n" + vi1, []string{`global: 1 is not a table`}},
		{"check not a table", "check = [1]\n" + vi1, []string{`check[0]: 1 is not a table`}},

		// [global]
		{"log_level", "[global]\nlog_level = \"verbose\"\n" + vi1, []string{`global: log_level: "verbose" is not one of debug, info, warn, error`}},
		{"log_format", "[global]\nlog_format = \"xml\"\n" + vi1, []string{`global: log_format: "xml" is not one of text, json`}},
		{"router_id empty", "[global]\nrouter_id = \"\"\n" + vi1, []string{`global: router_id: must not be empty`}},
		{"socket relative", "[global]\nsocket = \"vrrpd.sock\"\n" + vi1, []string{`global: socket: "vrrpd.sock" is not an absolute path`}},
		{"socket_group type", "[global]\nsocket_group = 0\n" + vi1, []string{`global: socket_group: 0 is not a string`}},
		{"metrics no port", "[global]\nmetrics = \"9650\"\n" + vi1, []string{`global: metrics: "9650" is not host:port`}},
		{"metrics port 0", "[global]\nmetrics = \"127.0.0.1:0\"\n" + vi1, []string{`global: metrics: "127.0.0.1:0": port "0" is out of range 1-65535`}},
		{"metrics port name", "[global]\nmetrics = \"localhost:http\"\n" + vi1, []string{`global: metrics: "localhost:http": port "http" is out of range 1-65535`}},
		{"global unknown key", "[global]\nloglevel = \"debug\"\n" + vi1, []string{`global: unknown key "loglevel" (did you mean "log_level"?)`}},

		// [[check]]
		{"check name", "[[check]]\nprocess = \"nginx\"\n" + vi1, []string{`check #1: name: required`}},
		{"check name space", "[[check]]\nname = \"my check\"\nprocess = \"x\"\n" + vi1, []string{`check #1: name: "my check" contains a space or a control character`}},
		{"check name twice", withCheck + "[[check]]\nname = \"nginx\"\ntcp = \"127.0.0.1:80\"\n", []string{`check #2: name: "nginx" is already used by check #1`}},
		{"check without kind", "[[check]]\nname = \"nginx\"\n" + vi1, []string{`check "nginx": needs one of process, exec, script, tcp, http, file, ping`}},
		{"check with two kinds", "[[check]]\nname = \"nginx\"\nprocess = \"nginx\"\nhttp = \"http://127.0.0.1/\"\nping = \"10.0.4.1\"\n" + vi1, []string{
			`check "nginx": http: cannot be combined with process: a check has exactly one of process, exec, script, tcp, http, file, ping`,
			`check "nginx": ping: cannot be combined with process: a check has exactly one of process, exec, script, tcp, http, file, ping`}},
		{"process empty", "[[check]]\nname = \"c\"\nprocess = \"\"\n" + vi1, []string{`check "c": process: must not be empty`}},
		{"exec relative", "[[check]]\nname = \"c\"\nexec = [\"curl\", \"-f\"]\n" + vi1, []string{`check "c": exec: "curl" is not an absolute path`}},
		{"exec empty", "[[check]]\nname = \"c\"\nexec = []\n" + vi1, []string{`check "c": exec: must not be empty`}},
		{"exec a string", "[[check]]\nname = \"c\"\nexec = \"/bin/true\"\n" + vi1, []string{`check "c": exec: "/bin/true" is not an array of strings`}},
		{"exec with a number", "[[check]]\nname = \"c\"\nexec = [\"/bin/sleep\", 1]\n" + vi1, []string{`check "c": exec: 1 is not a string`}},
		{"script empty", "[[check]]\nname = \"c\"\nscript = \"\"\n" + vi1, []string{`check "c": script: must not be empty`}},
		{"tcp no host", "[[check]]\nname = \"c\"\ntcp = \":80\"\n" + vi1, []string{`check "c": tcp: ":80" is not host:port`}},
		{"tcp port", "[[check]]\nname = \"c\"\ntcp = \"127.0.0.1:65536\"\n" + vi1, []string{`check "c": tcp: "127.0.0.1:65536": port "65536" is out of range 1-65535`}},
		{"http scheme", "[[check]]\nname = \"c\"\nhttp = \"ftp://127.0.0.1/\"\n" + vi1, []string{`check "c": http: "ftp://127.0.0.1/" is not an http:// or https:// URL`}},
		{"http no host", "[[check]]\nname = \"c\"\nhttp = \"http:///healthz\"\n" + vi1, []string{`check "c": http: "http:///healthz" is not an http:// or https:// URL`}},
		{"interval zero", "[[check]]\nname = \"c\"\nprocess = \"x\"\ninterval = \"0s\"\n" + vi1, []string{`check "c": interval: 0s is not positive`}},
		{"interval integer", "[[check]]\nname = \"c\"\nprocess = \"x\"\ninterval = 2\n" + vi1, []string{`check "c": interval: 2 is not a duration like "1s" or "100ms"`}},
		{"timeout negative", "[[check]]\nname = \"c\"\nprocess = \"x\"\ntimeout = \"-1s\"\n" + vi1, []string{`check "c": timeout: -1s is not positive`}},
		{"rise zero", "[[check]]\nname = \"c\"\nprocess = \"x\"\nrise = 0\n" + vi1, []string{`check "c": rise: 0 is less than 1`}},
		{"fall float", "[[check]]\nname = \"c\"\nprocess = \"x\"\nfall = 2.0\n" + vi1, []string{`check "c": fall: 2.0 is not an integer`}},
		{"check weight", "[[check]]\nname = \"c\"\nprocess = \"x\"\nweight = -254\n" + vi1, []string{`check "c": weight: -254 is out of range -253 to 253`}},

		// [[instance]]: each key.
		{"instance name", vi1 + "[[instance]]\ninterface = \"eth1\"\nvrid = 1\nvips = [\"10.0.5.1\"]\n", []string{`instance #2: name: required`}},
		{"instance name twice", vi1 + "[[instance]]\nname = \"VI_1\"\ninterface = \"eth1\"\nvrid = 1\nvips = [\"10.0.5.1\"]\n",
			[]string{`instance #2: name: "VI_1" is already used by instance #1`}},
		{"required keys", "[[instance]]\nname = \"VI_1\"\n", []string{`instance "VI_1": interface: required`, `instance "VI_1": vrid: required`, `instance "VI_1": vips: required`}},
		{"interface slash", strings.Replace(vi1, `"eth0"`, `"eth0/1"`, 1), []string{`instance "VI_1": interface: "eth0/1" is not a valid interface name`}},
		{"interface alias", strings.Replace(vi1, `"eth0"`, `"eth0:1"`, 1), []string{`instance "VI_1": interface: "eth0:1" is not a valid interface name`}},
		{"interface 16 bytes", strings.Replace(vi1, `"eth0"`, `"abcdefghijklmnop"`, 1), []string{`instance "VI_1": interface: "abcdefghijklmnop" is not a valid interface name`}},
		{"interface dotdot", strings.Replace(vi1, `"eth0"`, `".."`, 1), []string{`instance "VI_1": interface: ".." is not a valid interface name`}},
		{"vrid", strings.Replace(vi1, "51", "300", 1), []string{`instance "VI_1": vrid: 300 is out of range 1-255`}},
		{"vrid string", strings.Replace(vi1, "51", `"51"`, 1), []string{`instance "VI_1": vrid: "51" is not an integer`}},
		{"priority 0", vi1 + "priority = 0\n", []string{`instance "VI_1": priority: 0 is out of range 1-255`}},
		{"version", vi1 + "version = 4\n", []string{`instance "VI_1": version: 4 is not 2 or 3`}},
		{"interval not a duration", vi1 + "advert_interval = \"1\"\n", []string{`instance "VI_1": advert_interval: "1" is not a duration like "1s" or "100ms"`}},
		{"v3 interval step", vi1 + "advert_interval = \"15ms\"\n", []string{`instance "VI_1": advert_interval: 15ms is not a multiple of 10ms from 10ms to 40.95s (VRRPv3)`}},
		{"v3 interval too long", vi1 + "advert_interval = \"40.96s\"\n", []string{`instance "VI_1": advert_interval: 40.96s is not a multiple of 10ms from 10ms to 40.95s (VRRPv3)`}},
		{"v2 interval fraction", vi1 + "version = 2\nadvert_interval = \"1500ms\"\n", []string{`instance "VI_1": advert_interval: 1.5s is not a whole number of seconds from 1s to 255s (VRRPv2)`}},
		{"v2 interval too long", vi1 + "version = 2\nadvert_interval = \"256s\"\n", []string{`instance "VI_1": advert_interval: 4m16s is not a whole number of seconds from 1s to 255s (VRRPv2)`}},
		{"interval with a bad version", vi1 + "version = 4\nadvert_interval = \"15ms\"\n", []string{`instance "VI_1": version: 4 is not 2 or 3`}},
		{"preempt string", vi1 + "preempt = \"yes\"\n", []string{`instance "VI_1": preempt: "yes" is not true or false`}},
		{"preempt_delay long", vi1 + "preempt_delay = \"2h\"\n", []string{`instance "VI_1": preempt_delay: 2h is more than 1h`}},
		{"preempt_delay negative", vi1 + "preempt_delay = \"-1s\"\n", []string{`instance "VI_1": preempt_delay: -1s is negative`}},

		// vips and unicast
		{"vips empty", strings.Replace(vi1, `["10.0.4.99/24"]`, `[]`, 1), []string{`instance "VI_1": vips: must not be empty`}},
		{"vips bad", strings.Replace(vi1, `["10.0.4.99/24"]`, `["10.0.4.999/24", "10.0.4.1/33", "eth0", "fe80::1%eth0"]`, 1), []string{
			`instance "VI_1": vips: "10.0.4.999/24" is not an IP address or prefix`,
			`instance "VI_1": vips: "10.0.4.1/33" is not an IP address or prefix`,
			`instance "VI_1": vips: "eth0" is not an IP address or prefix`,
			`instance "VI_1": vips: "fe80::1%eth0" is not an IP address or prefix`}},
		{"vips not unicast", strings.Replace(vi1, `["10.0.4.99/24"]`, `["224.0.0.18", "0.0.0.0/0", "::ffff:10.0.4.99"]`, 1), []string{
			`instance "VI_1": vips: 224.0.0.18 is not a unicast address`,
			`instance "VI_1": vips: 0.0.0.0 is not a unicast address`,
			`instance "VI_1": vips: ::ffff:10.0.4.99 is an IPv4-mapped IPv6 address: write it as IPv4`}},
		{"vips mixed", strings.Replace(vi1, `["10.0.4.99/24"]`, `["10.0.4.99/24", "2001:db8::1"]`, 1),
			[]string{`instance "VI_1": vips: 2001:db8::1 is IPv6 but 10.0.4.99 is IPv4: one address family per instance`}},
		{"vips twice", strings.Replace(vi1, `["10.0.4.99/24"]`, `["10.0.4.99/24", "10.0.4.99"]`, 1), []string{`instance "VI_1": vips: 10.0.4.99 is listed twice`}},
		{"v2 IPv6", strings.Replace(vi1, `["10.0.4.99/24"]`, `["2001:db8::1"]`, 1) + "version = 2\n",
			[]string{`instance "VI_1": version: VRRPv2 is IPv4 only (RFC 3768): IPv6 needs version 3`}},
		{"unicast_src", vi1 + "unicast_src = \"10.0.4\"\n", []string{`instance "VI_1": unicast_src: "10.0.4" is not an IP address`}},
		{"unicast_src family", vi1 + "unicast_src = \"2001:db8::1\"\n", []string{`instance "VI_1": unicast_src: 2001:db8::1 is IPv6 but the VIPs are IPv4`}},
		{"unicast_peers", vi1 + "unicast_src = \"10.0.4.20\"\nunicast_peers = [\"10.0.4.21\", \"fe80::1\", \"10.0.4.21\", \"10.0.4.20\", \"ff02::12\"]\n", []string{
			`instance "VI_1": unicast_peers: fe80::1 is IPv6 but the VIPs are IPv4`,
			`instance "VI_1": unicast_peers: 10.0.4.21 is listed twice`,
			`instance "VI_1": unicast_peers: 10.0.4.20 is unicast_src, this node itself`,
			`instance "VI_1": unicast_peers: ff02::12 is not a unicast address`}},
		{"unicast_min_ttl alone", vi1 + "unicast_min_ttl = 64\n", []string{`instance "VI_1": unicast_min_ttl: only applies with unicast_peers`}},
		{"unicast_min_ttl 0", vi1 + "unicast_peers = [\"10.0.4.21\"]\nunicast_min_ttl = 0\n", []string{`instance "VI_1": unicast_min_ttl: 0 is out of range 1-255`}},

		// auth, checksum, GARP
		{"v3 auth_pass", vi1 + "auth_pass = \"secret\"\n", []string{`instance "VI_1": auth_pass: VRRPv3 has no authentication (RFC 5798 §9)`}},
		{"auth_pass long", vi1 + "version = 2\nauth_pass = \"123456789\"\n", []string{`instance "VI_1": auth_pass: 9 bytes is more than 8`}},
		{"v3_checksum value", vi1 + "v3_checksum = \"rfc9568\"\n", []string{`instance "VI_1": v3_checksum: "rfc9568" is not one of pseudo-header, message`}},
		{"v3_checksum v2", vi1 + "version = 2\nv3_checksum = \"pseudo-header\"\n", []string{`instance "VI_1": v3_checksum: only applies to version 3`}},
		{"v3_checksum IPv6", strings.Replace(vi1, `["10.0.4.99/24"]`, `["2001:db8::1"]`, 1) + "v3_checksum = \"message\"\n",
			[]string{`instance "VI_1": v3_checksum: only applies to IPv4: over IPv6 the checksum always covers the pseudo-header (RFC 5798 §5.2.8)`}},
		{"garp_delay", vi1 + "garp_delay = \"-5s\"\n", []string{`instance "VI_1": garp_delay: -5s is negative`}},
		{"garp_repeat", vi1 + "garp_repeat = 101\n", []string{`instance "VI_1": garp_repeat: 101 is out of range 1-100`}},
		{"garp_refresh", vi1 + "garp_refresh = \"50ms\"\n", []string{`instance "VI_1": garp_refresh: 50ms is less than 100ms ("0s" turns it off)`}},

		// trackers
		{"track_interfaces", vi1 + `track_interfaces = [{ weight = -10 }, { name = "eth 1" }, { name = "eth1", weight = 300 }, { name = "eth2" }, { name = "eth2" }]`, []string{
			`instance "VI_1": track_interfaces[0].name: required`,
			`instance "VI_1": track_interfaces[1].name: "eth 1" is not a valid interface name`,
			`instance "VI_1": track_interfaces[2].weight: 300 is out of range -253 to 253`,
			`instance "VI_1": track_interfaces[4].name: "eth2" is listed twice`}},
		{"track_checks unknown", withCheck + `track_checks = [{ name = "ngnix" }]`,
			[]string{`instance "VI_1": track_checks[0].name: unknown check "ngnix" (did you mean "nginx"?)`}},
		{"track_checks far off", withCheck + `track_checks = [{ name = "apache" }]`, []string{`instance "VI_1": track_checks[0].name: unknown check "apache"`}},
		{"track_checks twice", withCheck + `track_checks = [{ name = "nginx" }, { name = "nginx", weight = -5 }]`,
			[]string{`instance "VI_1": track_checks[1].name: "nginx" is listed twice`}},
		{"track_checks strings", withCheck + `track_checks = ["nginx"]`, []string{`instance "VI_1": track_checks[0]: "nginx" is not a table`}},
		{"track_checks string", withCheck + `track_checks = "nginx"`, []string{`instance "VI_1": track_checks: "nginx" is not an array of tables`}},
		{"track_checks unknown key", withCheck + `track_checks = [{ name = "nginx", wieght = -5 }]`,
			[]string{`instance "VI_1": track_checks[0]: unknown key "wieght" (did you mean "weight"?)`}},

		// notify
		{"notify relative", vi1 + "[instance.notify]\nmaster = [\"notify.sh\", \"MASTER\"]\n", []string{`instance "VI_1": notify.master: "notify.sh" is not an absolute path`}},
		{"notify string", vi1 + "[instance.notify]\nany = \"/etc/vrrpd/notify.sh\"\n", []string{`instance "VI_1": notify.any: "/etc/vrrpd/notify.sh" is not an array of strings`}},
		{"notify timeout", vi1 + "[instance.notify]\ntimeout = \"0s\"\n", []string{`instance "VI_1": notify.timeout: 0s is not positive`}},
		{"notify unknown key", vi1 + "[instance.notify]\nmastr = [\"/bin/true\"]\n", []string{`instance "VI_1": notify: unknown key "mastr" (did you mean "master"?)`}},
		{"notify not a table", vi1 + "notify = \"/bin/true\"\n", []string{`instance "VI_1": notify: "/bin/true" is not a table`}},
		{"instance unknown key", vi1 + "prioriy = 100\nPriority = 100\nvid = 1\nfoo = 1\n", []string{
			`instance "VI_1": unknown key "prioriy" (did you mean "priority"?)`,
			`instance "VI_1": unknown key "Priority" (did you mean "priority"?)`,
			`instance "VI_1": unknown key "vid" (did you mean "vrid"?)`,
			`instance "VI_1": unknown key "foo"`}},

		// Across instances.
		{"vrid reused", vi1 + "[[instance]]\nname = \"B\"\ninterface = \"eth0\"\nvrid = 51\nvips = [\"10.0.4.98\"]\n",
			[]string{`instance "B": vrid: 51 on eth0 (IPv4) is already used by instance "VI_1"`}},
		{"vrid reused on another link", vi1 + "[[instance]]\nname = \"B\"\ninterface = \"eth1\"\nvrid = 51\nvips = [\"10.0.4.98\"]\n", nil},
		{"VIP reused", vi1 + "[[instance]]\nname = \"B\"\ninterface = \"eth1\"\nvrid = 52\nvips = [\"10.0.4.99/32\"]\n",
			[]string{`instance "B": vips: 10.0.4.99 is already used by instance "VI_1"`}},

		// [[sync_group]]
		{"sync_group unknown instance", vi1 + "[[instance]]\nname = \"VI_2\"\ninterface = \"eth0\"\nvrid = 52\nvips = [\"10.0.4.98\"]\n" +
			"[[sync_group]]\nname = \"G1\"\ninstances = [\"VI_1\", \"VI_9\"]\n", []string{`sync_group "G1": instances: unknown instance "VI_9"`}},
		{"sync_group suggestion", vi1 + "[[sync_group]]\nname = \"G1\"\ninstances = [\"VI-1\"]\n", []string{`sync_group "G1": instances: unknown instance "VI-1" (did you mean "VI_1"?)`}},
		{"sync_group twice", vi1 + "[[sync_group]]\nname = \"G1\"\ninstances = [\"VI_1\", \"VI_1\"]\n[[sync_group]]\nname = \"G2\"\ninstances = [\"VI_1\"]\n", []string{
			`sync_group "G1": instances: "VI_1" is listed twice`,
			`sync_group "G2": instances: "VI_1" is already in sync_group "G1"`}},
		{"sync_group name twice", vi1 + "[[sync_group]]\nname = \"G1\"\ninstances = [\"VI_1\"]\n[[sync_group]]\nname = \"G1\"\ninstances = []\n", []string{
			`sync_group #2: name: "G1" is already used by sync_group #1`,
			`sync_group #2: instances: must not be empty`}},
		{"sync_group required", vi1 + "[[sync_group]]\n", []string{`sync_group #1: name: required`, `sync_group #1: instances: required`}},
		{"sync_group notify", vi1 + "[[sync_group]]\nname = \"G1\"\ninstances = [\"VI_1\"]\nnotify = { backup = [] }\n",
			[]string{`sync_group "G1": notify.backup: must not be empty`}},

		// The keys of "Operating without failovers": [global].
		{"state_dir relative", "[global]\nstate_dir = \"var/lib/vrrpd\"\n" + vi1, []string{`global: state_dir: "var/lib/vrrpd" is not an absolute path`}},
		{"watch_config string", "[global]\nwatch_config = \"yes\"\n" + vi1, []string{`global: watch_config: "yes" is not true or false`}},
		{"startup_delay", "[global]\nstartup_delay = \"61m\"\n" + vi1, []string{`global: startup_delay: 1h1m is more than 1h`}},
		{"startup_delay negative", "[global]\nstartup_delay = \"-1s\"\n" + vi1, []string{`global: startup_delay: -1s is negative`}},

		// file, ping, user, init_fail, reverse
		{"file relative", "[[check]]\nname = \"c\"\nfile = \"maintenance\"\n" + vi1, []string{`check "c": file: "maintenance" is not an absolute path`}},
		{"file weight", "[[check]]\nname = \"c\"\nfile = \"/etc/vrrpd/m\"\nweight = 254\n" + vi1, []string{`check "c": weight: 254 is out of range -253 to 253`}},
		{"ping", "[[check]]\nname = \"a\"\nping = \"10.0.4\"\n[[check]]\nname = \"b\"\nping = \"224.0.0.1\"\n[[check]]\nname = \"c\"\nping = \"255.255.255.255\"\n" +
			"[[check]]\nname = \"d\"\nping = \"2001:db8::1%eth0\"\n[[check]]\nname = \"e\"\nping = \"fe80::1\"\n[[check]]\nname = \"f\"\nping = \"fe80::1%eth/0\"\n" +
			"[[check]]\nname = \"g\"\nping = \"::\"\n" + vi1, []string{
			`check "a": ping: "10.0.4" is not an IP address`,
			`check "b": ping: 224.0.0.1 is not a unicast address`,
			`check "c": ping: 255.255.255.255 is the broadcast address`,
			`check "d": ping: "2001:db8::1%eth0": only a link-local address has a zone`,
			`check "e": ping: fe80::1 is link-local: name its interface too, as fe80::1%eth0`,
			`check "f": ping: "fe80::1%eth/0": zone "eth/0" is not a valid interface name`,
			`check "g": ping: :: is not a unicast address`}},
		{"user on a tcp check", "[[check]]\nname = \"c\"\ntcp = \"127.0.0.1:80\"\nuser = \"root\"\n" + vi1,
			[]string{`check "c": user: only applies to exec and script checks, which run a program`}},
		{"user unknown", "[[check]]\nname = \"c\"\nexec = [\"/bin/true\"]\nuser = \"vrrpd-no-such-user\"\n" + vi1,
			[]string{`check "c": user: "vrrpd-no-such-user" is not a user on this host`}},
		{"init_fail and reverse", "[[check]]\nname = \"c\"\nprocess = \"x\"\ninit_fail = 1\nreverse = \"yes\"\n" + vi1, []string{
			`check "c": init_fail: 1 is not true or false`,
			`check "c": reverse: "yes" is not true or false`}},

		// VIPs as tables, vips_excluded
		{"vip tables", strings.Replace(vi1, `["10.0.4.99/24"]`, `[{ address = "10.0.4.99/24", dev = "eth 1" }, { dev = "eth1" }, `+
			`{ address = "10.0.4.98/24", label = "eth1:x" }, { address = "10.0.4.97/24", dev = "eth1", label = "eth1:a-label-too-long" }, `+
			`{ address = "10.0.4.96/24", scope = "universe", lable = "x" }, 42]`, 1), []string{
			`instance "VI_1": vips[0].dev: "eth 1" is not a valid interface name`,
			`instance "VI_1": vips[1].address: required`,
			`instance "VI_1": vips[2].label: "eth1:x" does not start with eth0, the interface the address goes on, as a label must`,
			`instance "VI_1": vips[3].label: "eth1:a-label-too-long" is not a valid label: 1-15 bytes, printable, without blanks`,
			`instance "VI_1": vips[4].scope: "universe" is not one of global, site, link, host`,
			`instance "VI_1": vips[4]: unknown key "lable" (did you mean "label"?)`,
			`instance "VI_1": vips[5]: 42 is not an address or a table`}},
		{"vip table IPv6 label", strings.Replace(vi1, `["10.0.4.99/24"]`, `[{ address = "2001:db8::1", label = "eth0:6" }]`, 1),
			[]string{`instance "VI_1": vips[0].label: only applies to IPv4: IPv6 addresses have no labels`}},
		{"vip table family", strings.Replace(vi1, `["10.0.4.99/24"]`, `["10.0.4.99/24", { address = "2001:db8::1" }]`, 1),
			[]string{`instance "VI_1": vips[1].address: 2001:db8::1 is IPv6 but 10.0.4.99 is IPv4: one address family per instance`}},
		{"vips not an array", strings.Replace(vi1, `["10.0.4.99/24"]`, `"10.0.4.99/24"`, 1),
			[]string{`instance "VI_1": vips: "10.0.4.99/24" is not an array of addresses`}},
		{"vips a host cannot hold", strings.Replace(vi1, `["10.0.4.99/24"]`, `["127.0.0.1", "::1", "255.255.255.255", "10.0.4.255/24", "10.0.4.255/31", "10.0.4.254/31", "10.0.4.1/32"]`, 1), []string{
			`instance "VI_1": vips: 127.0.0.1 is a loopback address, which no other host can reach`,
			`instance "VI_1": vips: ::1 is a loopback address, which no other host can reach`,
			`instance "VI_1": vips: 255.255.255.255 is the broadcast address`,
			`instance "VI_1": vips: 10.0.4.255/24 is the broadcast address of 10.0.4.0/24`}},
		{"vips_excluded", vi1 + `vips_excluded = ["2001:db8::1", "10.0.4.99", "2001:db8::1", { address = "127.0.0.2" }]`, []string{
			`instance "VI_1": vips_excluded: 10.0.4.99 is in vips too`,
			`instance "VI_1": vips_excluded: 2001:db8::1 is listed twice`,
			`instance "VI_1": vips_excluded[3].address: 127.0.0.2 is a loopback address, which no other host can reach`}},
		{"vips_excluded empty", vi1 + `vips_excluded = []`, []string{`instance "VI_1": vips_excluded: must not be empty`}},
		{"vips_excluded in another instance", vi1 + "vips_excluded = [\"10.0.9.1\"]\n[[instance]]\nname = \"B\"\ninterface = \"eth0\"\nvrid = 52\nvips = [\"10.0.4.98\"]\nvips_excluded = [{ address = \"10.0.9.1/24\" }]\n",
			[]string{`instance "B": vips_excluded[0].address: 10.0.9.1 is already used by instance "VI_1"`}},

		// routes and rules
		{"routes", vi1 + `routes = [{ via = "10.0.4.1" }, { to = "10.9.0.1/16" }, { to = "10.9.0.0/16", via = "2001:db8::1", src = "fe80::1" }, ` +
			`{ to = "10.8.0.0/16", type = "blackhole", via = "10.0.4.1", dev = "eth0" }, { to = "10.7.0.0/16", table = -1, metric = 4294967296, scope = "universe", type = "local" }, ` +
			`{ to = "10.6.0.0/16", via = "255.255.255.255", src = "224.0.0.1" }, { to = "10.5.0.0/16", dev = "eth:1", tos = 1 }, "10.4.0.0/16"]`, []string{
			`instance "VI_1": routes[7]: "10.4.0.0/16" is not a table`, // found as the array is read, before its tables
			`instance "VI_1": routes[0].to: required`,
			`instance "VI_1": routes[1].to: "10.9.0.1/16" has host bits set: write "10.9.0.0/16"`,
			`instance "VI_1": routes[2].via: 2001:db8::1 is IPv6 but to is IPv4`,
			`instance "VI_1": routes[2].src: fe80::1 is IPv6 but to is IPv4`,
			`instance "VI_1": routes[3].via: only a unicast route has one (type is "blackhole")`,
			`instance "VI_1": routes[3].dev: only a unicast route has one (type is "blackhole")`,
			`instance "VI_1": routes[4].table: -1 is out of range 0-4294967295`,
			`instance "VI_1": routes[4].metric: 4294967296 is out of range 0-4294967295`,
			`instance "VI_1": routes[4].scope: "universe" is not one of global, site, link, host`,
			`instance "VI_1": routes[4].type: "local" is not one of unicast, blackhole, unreachable, prohibit`,
			`instance "VI_1": routes[5].via: 255.255.255.255 is the broadcast address`,
			`instance "VI_1": routes[5].src: 224.0.0.1 is not a unicast address`,
			`instance "VI_1": routes[6].dev: "eth:1" is not a valid interface name`,
			`instance "VI_1": routes[6]: unknown key "tos" (did you mean "to"?)`}},
		{"route twice", vi1 + `routes = [{ to = "10.9.0.0/16", via = "10.0.4.1" }, { to = "10.9.0.0/16", via = "10.0.4.2", table = 254 }, { to = "10.9.0.0/16", metric = 5 }]`,
			[]string{`instance "VI_1": routes[1].to: 10.9.0.0/16 is listed twice with table 254 and metric 0`}},
		{"default route", strings.Replace(vi1, `["10.0.4.99/24"]`, `["2001:db8::99/64"]`, 1) + `routes = [{ to = "default", via = "10.0.4.1" }, { to = "default" }]`, nil},
		{"rules", vi1 + `rules = [{ table = 100 }, { from = "10.0.4.99/32" }, { from = "10.0.4.99/24", table = 0 }, { from = "10.0.4.99", to = "2001:db8::/32", table = 1 }, ` +
			`{ fwmark = 0, iif = "eth 0", table = 4294967296 }, { oif = "eth1", table = 1, priority = -1, goto = 2 }, { fwmark = 1, table = 1 }, { fwmark = 1, table = 1 }]`, []string{
			`instance "VI_1": rules[0]: matches every packet: give at least one of from, to, iif, oif, fwmark (not 0)`,
			`instance "VI_1": rules[1].table: required`,
			`instance "VI_1": rules[2].from: "10.0.4.99/24" has host bits set: write "10.0.4.0/24"`,
			`instance "VI_1": rules[2].table: 0 is not a table: the main table is 254`,
			`instance "VI_1": rules[3].to: 2001:db8::/32 is IPv6 but from is IPv4`,
			`instance "VI_1": rules[4].iif: "eth 0" is not a valid interface name`,
			`instance "VI_1": rules[4].table: 4294967296 is out of range 0-4294967295`,
			`instance "VI_1": rules[4]: matches every packet: give at least one of from, to, iif, oif, fwmark (not 0)`,
			`instance "VI_1": rules[5].priority: -1 is out of range 0-4294967295`,
			`instance "VI_1": rules[5]: unknown key "goto" (did you mean "to"?)`,
			`instance "VI_1": rules[7]: is listed twice`}},

		// vmac, garp_interval, track_interfaces delays
		{"vmac_name without vmac", vi1 + `vmac_name = "vrrp.51"`, []string{`instance "VI_1": vmac_name: only applies with vmac = true`}},
		{"vmac_name invalid", vi1 + "vmac = true\nvmac_name = \"vrrp/51\"\n", []string{`instance "VI_1": vmac_name: "vrrp/51" is not a valid interface name`}},
		{"vmac_name the interface", vi1 + "vmac = true\nvmac_name = \"eth0\"\n", []string{`instance "VI_1": vmac_name: eth0 is the instance's own interface`}},
		{"vmac default names", vi1 + "vmac = true\n[[instance]]\nname = \"B\"\ninterface = \"eth1\"\nvrid = 51\nvips = [\"10.0.5.1\"]\nvmac = true\n" +
			"[[instance]]\nname = \"C\"\ninterface = \"eth0\"\nvrid = 51\nvips = [\"2001:db8::1\"]\nvmac = true\n" +
			"[[instance]]\nname = \"D\"\ninterface = \"eth2\"\nvrid = 52\nvips = [\"10.0.6.1\"]\nvmac = true\nvmac_name = \"vrrp6.51\"\n", []string{
			`instance "B": vmac: the interface vrrp.51 (the default name for vrid 51: set vmac_name) is already used by instance "VI_1"`,
			`instance "D": vmac_name: the interface vrrp6.51 is already used by instance "C"`}},
		{"garp_interval", vi1 + `garp_interval = "2s"`, []string{`instance "VI_1": garp_interval: 2s is more than 1s`}},
		{"track_interfaces delays", vi1 + `track_interfaces = [{ name = "eth0", weight = -10, up_delay = "2h" }, { name = "eth1", down_delay = "-1s", up_delay = 2 }]`, []string{
			`instance "VI_1": track_interfaces[0].weight: the instance's own interface is always tracked with weight 0 (FAULT)`,
			`instance "VI_1": track_interfaces[0].up_delay: 2h is more than 1h`,
			`instance "VI_1": track_interfaces[1].down_delay: -1s is negative`,
			`instance "VI_1": track_interfaces[1].up_delay: 2 is not a duration like "1s" or "100ms"`}},
		{"notify reassert and priority", vi1 + "[instance.notify]\nreassert = [\"claim.sh\"]\npriority = []\n", []string{
			`instance "VI_1": notify.reassert: "claim.sh" is not an absolute path`,
			`instance "VI_1": notify.priority: must not be empty`}},
		{"unicast loopback and broadcast", vi1 + "unicast_src = \"127.0.0.1\"\nunicast_peers = [\"255.255.255.255\", \"10.0.4.21\"]\n", []string{
			`instance "VI_1": unicast_src: 127.0.0.1 is a loopback address, which no other host can reach`,
			`instance "VI_1": unicast_peers: 255.255.255.255 is the broadcast address`}},

		// Control characters, wherever a string reaches a person or the kernel.
		{"control characters", "[global]\nrouter_id = \"lb\\u0007\"\nsocket = \"/run/\\u0000\"\nsocket_group = \"a\\nb\"\nscript_user = \"root\\u001b\"\n" +
			"state_dir = \"/var/\\u007f\"\nmetrics = \"127.0.0.1:9650\\r\"\n" +
			"[[check]]\nname = \"a\"\nprocess = \"ng\\tinx\"\n[[check]]\nname = \"b\"\ntcp = \"127.0.0.1:80\\u0000\"\n[[check]]\nname = \"c\"\nhttp = \"http://x/\\u0085\"\n" +
			"[[check]]\nname = \"d\"\nfile = \"/etc/m\\n\"\n[[check]]\nname = \"e\"\nexec = [\"/bin/echo\", \"\\u001b[2J\"]\nuser = \"root\\u0000\"\n" +
			"[[check]]\nname = \"f\"\nscript = \"/bin/true\\u0000\"\n[[check]]\nname = \"g\"\nscript = \"if true; then\\n\\ttrue\\nfi\"\n" +
			strings.Replace(vi1, `"eth0"`, `"eth\u0001"`, 1) + "[instance.notify]\nmaster = [\"/bin/x\\u0000\"]\n", []string{
			`global: router_id: "lb\a" contains a control character`,
			`global: socket: "/run/\x00" contains a control character`,
			`global: socket_group: "a\nb" contains a control character`,
			`global: script_user: "root\x1b" contains a control character`,
			`global: state_dir: "/var/\x7f" contains a control character`,
			`global: metrics: "127.0.0.1:9650\r" contains a control character`,
			`check "a": process: "ng\tinx" contains a control character`,
			`check "b": tcp: "127.0.0.1:80\x00" contains a control character`,
			`check "c": http: "http://x/\u0085" contains a control character`,
			`check "d": file: "/etc/m\n" contains a control character`,
			`check "e": exec: "\x1b[2J" contains a control character`,
			`check "e": user: "root\x00" contains a control character`,
			`check "f": script: "/bin/true\x00" contains a control character`,
			`instance "VI_1": interface: "eth\x01" is not a valid interface name`,
			`instance "VI_1": notify.master: "/bin/x\x00" contains a control character`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.toml))
			if diff := cmp.Diff(tc.want, Problems(err)); diff != "" {
				t.Errorf("problems mismatch (-want +got):\n%s", diff)
			}
			if tc.want != nil && !errors.Is(err, ErrInvalid) {
				t.Errorf("errors.Is(err, ErrInvalid) = false for %v", err)
			}
		})
	}
}

// TestManyProblems checks that every problem is reported, in file order, wherever it was found:
// the walk visits checks before instances and resolves references afterwards.
func TestManyProblems(t *testing.T) {
	_, err := Parse([]byte(`
[[instance]]
name = "A"
interface = "eth0"
vrid = 0
vips = ["10.0.4.99/24"]
track_checks = [{ name = "ngnix" }]
preempt = 1

[[check]]
name = "nginx"
tcp = "localhost"
wieght = -20

[global]
log_level = "verbose"

[[instance]]
interface = "eth0"
vrid = 51
vips = ["10.0.4.99"]

[instance.notify]
master = ["notify.sh"]

[[instance]]
name = "B"
vrid = 51
priority = 0
vips = ["10.0.4.98"]
interface = "eth0"

[[sync_group]]
name = "G1"
instances = ["A", "C"]
`))
	want := []string{
		`instance "A": vrid: 0 is out of range 1-255`,
		`instance "A": track_checks[0].name: unknown check "ngnix" (did you mean "nginx"?)`,
		`instance "A": preempt: 1 is not true or false`,
		`check "nginx": tcp: "localhost" is not host:port`,
		`check "nginx": unknown key "wieght" (did you mean "weight"?)`,
		`global: log_level: "verbose" is not one of debug, info, warn, error`,
		`instance #2: name: required`,
		`instance #2: vips: 10.0.4.99 is already used by instance "A"`,
		`instance #2: notify.master: "notify.sh" is not an absolute path`,
		`instance "B": vrid: 51 on eth0 (IPv4) is already used by instance #2`,
		`instance "B": priority: 0 is out of range 1-255`,
		`sync_group "G1": instances: unknown instance "C"`,
	}
	if diff := cmp.Diff(want, Problems(err)); diff != "" {
		t.Errorf("problems mismatch (-want +got):\n%s", diff)
	}
	if got := strings.Join(Problems(err), "\n"); got != err.Error() {
		t.Errorf("Problems are not the error's lines:\n%s", err)
	}
}

func TestSyntaxError(t *testing.T) {
	_, err := Parse([]byte("[global]\nlog_level = \"info\"\nrouter_id = \"lb1\n"))
	if got, want := Problems(err), []string{`line 3: strings cannot contain newlines`}; !slices.Equal(got, want) {
		t.Errorf("Problems = %q, want %q", got, want)
	}
	var pe toml.ParseError
	if !errors.As(err, &pe) || pe.Position.Line != 3 {
		t.Errorf("errors.As(%v, toml.ParseError) = false or the wrong line (%d)", err, pe.Position.Line)
	}
	if !errors.Is(err, ErrInvalid) {
		t.Errorf("errors.Is(%v, ErrInvalid) = false", err)
	}
}

func TestLoadMissing(t *testing.T) {
	_, err := Load("testdata/missing.toml")
	if !errors.Is(err, fs.ErrNotExist) || errors.Is(err, ErrInvalid) {
		t.Errorf("Load(missing) = %v, want fs.ErrNotExist and not ErrInvalid", err)
	}
	if Problems(nil) != nil {
		t.Errorf("Problems(nil) = %q, want nil", Problems(nil))
	}
}

// TestSpecExample loads SPEC.md's schema block as it is. It names a second instance, VI_2, in its
// sync group without defining one, and that is its only problem; with VI_2 added it is valid.
func TestSpecExample(t *testing.T) {
	_, err := Load("testdata/spec-example.toml")
	want := []string{`sync_group "G1": instances: unknown instance "VI_2" (did you mean "VI_1"?)`}
	if diff := cmp.Diff(want, Problems(err)); diff != "" {
		t.Errorf("problems mismatch (-want +got):\n%s", diff)
	}
	data, err := os.ReadFile("testdata/spec-example.toml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := Parse(append(data, "\n[[instance]]\nname = \"VI_2\"\ninterface = \"eth0\"\nvrid = 52\nvips = [\"10.0.4.98/24\"]\n"...))
	if err != nil {
		t.Fatalf("with VI_2 added:\n%v", err)
	}
	want1 := defaultInstance("VI_1", "eth0", 51, "10.0.4.99/24")
	want1.UnicastSrc, want1.UnicastPeers = ip("10.0.4.20"), []netip.Addr{ip("10.0.4.21")}
	want1.TrackInterfaces = []TrackInterface{{Name: "eth1"}}
	want1.TrackChecks = []TrackCheck{{Name: "nginx", Weight: -20}}
	sh := "/etc/vrrpd/notify.sh"
	want1.Notify = Notify{Master: []string{sh, "MASTER"}, Backup: []string{sh, "BACKUP"}, Fault: []string{sh, "FAULT"},
		Stop: []string{sh, "STOP"}, Any: []string{sh}, Timeout: 30 * time.Second}
	if diff := cmp.Diff(want1, cfg.Instances[0], cmpNet); diff != "" {
		t.Errorf("VI_1 mismatch (-want +got):\n%s", diff)
	}
}

// TestExamples checks the nginx pair in configs/: both valid, the same but for router_id and
// priority, and a dead nginx on lb1 (the master) drops it below lb2.
func TestExamples(t *testing.T) {
	lb1, err := Load("lb1.toml")
	if err != nil {
		t.Fatalf("lb1.toml:\n%v", err)
	}
	lb2, err := Load("lb2.toml")
	if err != nil {
		t.Fatalf("lb2.toml:\n%v", err)
	}
	if lb1.Global.RouterID != "lb1" || lb2.Global.RouterID != "lb2" {
		t.Errorf("router_id = %q, %q; want lb1, lb2", lb1.Global.RouterID, lb2.Global.RouterID)
	}
	p1, p2 := lb1.Instances[0].Priority, lb2.Instances[0].Priority
	if w := lb1.Instances[0].TrackChecks[0].Weight; p1 <= p2 || int(p1)+w >= int(p2) {
		t.Errorf("lb1 priority %d, lb2 %d, weight %d: want lb1 higher, and lower than lb2 with nginx down", p1, p2, w)
	}
	lb2.Global.RouterID, lb2.Instances[0].Priority = lb1.Global.RouterID, p1
	if diff := cmp.Diff(lb1, lb2, cmpNet); diff != "" {
		t.Errorf("lb1 and lb2 differ in more than router_id and priority (-lb1 +lb2):\n%s", diff)
	}

	// The files themselves differ only in those lines and the commented-out unicast addresses.
	f1, _ := os.ReadFile("lb1.toml")
	f2, _ := os.ReadFile("lb2.toml")
	l1, l2 := strings.Split(string(f1), "\n"), strings.Split(string(f2), "\n")
	if len(l1) != len(l2) {
		t.Fatalf("lb1.toml has %d lines, lb2.toml %d", len(l1), len(l2))
	}
	for i := range l1 {
		if l1[i] == l2[i] {
			continue
		}
		key, _, _ := strings.Cut(strings.TrimPrefix(l1[i], "# "), " =")
		if !slices.Contains([]string{"router_id", "priority", "unicast_src", "unicast_peers"}, key) {
			t.Errorf("line %d differs:\nlb1: %s\nlb2: %s", i+1, l1[i], l2[i])
		}
	}

	// The commented-out unicast lines work when uncommented, each file pointing at the other node.
	for _, f := range []struct {
		name, src, peer string
		data            []byte
	}{{"lb1", "10.0.4.20", "10.0.4.21", f1}, {"lb2", "10.0.4.21", "10.0.4.20", f2}} {
		data := strings.NewReplacer("# unicast_src", "unicast_src", "# unicast_peers", "unicast_peers").Replace(string(f.data))
		cfg, err := Parse([]byte(data))
		if err != nil {
			t.Errorf("%s.toml with unicast:\n%v", f.name, err)
			continue
		}
		in := cfg.Instances[0]
		if in.UnicastSrc != ip(f.src) || !slices.Equal(in.UnicastPeers, []netip.Addr{ip(f.peer)}) {
			t.Errorf("%s.toml: unicast_src %v, peers %v; want %s, [%s]", f.name, in.UnicastSrc, in.UnicastPeers, f.src, f.peer)
		}
	}
}

func TestSuggest(t *testing.T) {
	for _, tc := range []struct {
		word       string
		candidates []string
		want       string
	}{
		{"ngnix", []string{"nginx", "apache"}, ` (did you mean "nginx"?)`}, // a swap is one edit
		{"prioity", []string{"priority", "preempt"}, ` (did you mean "priority"?)`},
		{"VI_9", []string{"VI_1", "VI_2"}, ``}, // as close to both: no guess
		{"garp", []string{"garp_delay"}, ``},   // six edits
		{"x", nil, ``},
	} {
		if got := suggest(tc.word, tc.candidates); got != tc.want {
			t.Errorf("suggest(%q, %q) = %q, want %q", tc.word, tc.candidates, got, tc.want)
		}
	}
}

// TestNesting checks the pre-scan that keeps deeply nested values from the TOML decoder: what the
// schema can use passes, brackets and dots in strings and comments do not count, and one level
// more is refused with its line.
func TestNesting(t *testing.T) {
	for _, tc := range []struct {
		name, toml string
		want       []string // nil: the pre-scan passes it on, and Parse accepts it
	}{
		{"the deepest the schema goes", `instance = [{ name = "VI_1", interface = "eth0", vrid = 1, vips = [{ address = "10.0.4.99" }] }]`, nil},
		{"a dotted key inside", `instance = [{ name = "VI_1", interface = "eth0", vrid = 1, vips = ["10.0.4.99"], notify.master = ["/bin/true"] }]`, nil},
		{"a dotted header", "[[instance]]\nname = \"VI_1\"\ninterface = \"eth0\"\nvrid = 1\nvips = [{ address = \"10.0.4.99\" }]\n[instance.notify]\nmaster = [\"/bin/true\"]\n", nil},
		{"brackets in strings and comments", `[global] # [[[[[ {{{{{
router_id = "[[[[[{{{{{.a.b.c.d.e" # ]]]]] [[[[[
socket_group = '[[[[[' # '
socket = """/run/[[[[[
{{{{{ \""" ]]]]] \\""""
state_dir = '''/var/[[[[[
'''''` + "\n" + `script_user = ""` + "\n" + vi1, []string{`global: socket: "/run/[[[[[\n{{{{{ \"\"\" ]]]]] \\\"" contains a control character`,
			`global: state_dir: "/var/[[[[[\n''" contains a control character`}},
		{"dots in values", vi1 + `advert_interval = "1.5s"` + "\npriority = 1.0\n", []string{`instance "VI_1": priority: 1.0 is not an integer`}},
		{"quoted dots in keys", vi1 + `"a.b.c.d.e.f" = 1`, []string{`instance "VI_1": unknown key "a.b.c.d.e.f"`}},
		{"four arrays, not in the schema", vi1 + "x = [[[[1]]]]\n", []string{`instance "VI_1": unknown key "x"`}},

		{"five arrays", vi1 + "x = [[[[[1]]]]]\n", []string{`line 7: values nested 5 deep; the schema uses at most 4 (arrays of tables inside an array of tables)`}},
		{"five inline tables", "\n\n" + `instance = [{ vips = [{ a = { b = 1 } }] }]`, []string{`line 3: values nested 5 deep; the schema uses at most 4 (arrays of tables inside an array of tables)`}},
		{"a long dotted key", "[global]\na.b.c.d.e.f = 1\n", []string{`line 2: values nested 5 deep; the schema uses at most 4 (arrays of tables inside an array of tables)`}},
		{"a long dotted header", "# one\n[a.b.c.d.e.f]\n", []string{`line 2: values nested 5 deep; the schema uses at most 4 (arrays of tables inside an array of tables)`}},
		{"a dotted key in an array of tables", "x = [{ a = [{ b.c = 1 }] }]\n", []string{`line 1: values nested 5 deep; the schema uses at most 4 (arrays of tables inside an array of tables)`}},
		{"under a dotted header", "[a.b.c]\nx = [[[1]]]\n", []string{`line 2: values nested 5 deep; the schema uses at most 4 (arrays of tables inside an array of tables)`}},
		{"an escaped quote", `x = ["a\"", [[[[1]]]]]`, []string{`line 1: values nested 5 deep; the schema uses at most 4 (arrays of tables inside an array of tables)`}},
		{"quotes ending a multi-line string", `x = ["""a"""", '''b'''', [[[[1]]]]]`, []string{`line 1: values nested 5 deep; the schema uses at most 4 (arrays of tables inside an array of tables)`}},
		{"after a multi-line string", "a = \"\"\"\n\n\"\"\"\nb = '''\n'''\nc = [[[[[]]]]]\n", []string{`line 6: values nested 5 deep; the schema uses at most 4 (arrays of tables inside an array of tables)`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.toml))
			if diff := cmp.Diff(tc.want, Problems(err)); diff != "" {
				t.Errorf("problems mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestDeepNestingRefusedEarly: the TOML decoder takes time cubic in the nesting of inline tables,
// and the pre-scan refuses 2000 levels before it sees them. The bound is generous, and a decoder
// that saw them would still take far longer.
func TestDeepNestingRefusedEarly(t *testing.T) {
	src := "x = " + strings.Repeat("{ a = ", 2000) + "1" + strings.Repeat(" }", 2000) + "\n"
	start := time.Now()
	_, err := Parse([]byte(src))
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("Parse took %v: the decoder saw the file", took)
	}
	want := []string{`line 1: values nested 5 deep; the schema uses at most 4 (arrays of tables inside an array of tables)`}
	if diff := cmp.Diff(want, Problems(err)); diff != "" || !errors.Is(err, ErrInvalid) {
		t.Errorf("problems mismatch (-want +got):\n%s", diff)
	}
}

// TestFileSize: a file larger than MaxFileSize is refused, by Load without reading it all.
func TestFileSize(t *testing.T) {
	want := []string{`the file is larger than 4 MiB, the most a configuration may be`}
	big := append([]byte(vi1), strings.Repeat("#", MaxFileSize-len(vi1))...)
	if _, err := Parse(big); err != nil {
		t.Errorf("Parse(%d bytes) = %v, want no error", len(big), err)
	}
	big = append(big, '\n')
	_, err := Parse(big)
	if diff := cmp.Diff(want, Problems(err)); diff != "" || !errors.Is(err, ErrInvalid) {
		t.Errorf("Parse(%d bytes): problems mismatch (-want +got):\n%s", len(big), diff)
	}
	path := t.TempDir() + "/big.toml"
	if err := os.WriteFile(path, big, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Load(path)
	if diff := cmp.Diff(want, Problems(err)); diff != "" {
		t.Errorf("Load: problems mismatch (-want +got):\n%s", diff)
	}
}

// TestManyVIPs: an instance may hold more VIPs than one advert carries, as tables too.
func TestManyVIPs(t *testing.T) {
	cfg, err := Parse([]byte(manyVIPs(1000)))
	if err != nil {
		t.Fatal(err)
	}
	in := cfg.Instances[0]
	if len(in.VIPs) != 1000 || len(in.VIPsExcluded) != 1000 || len(in.VIPOptions) != 1000 {
		t.Fatalf("%d VIPs, %d excluded, %d with options; want 1000 each", len(in.VIPs), len(in.VIPsExcluded), len(in.VIPOptions))
	}
	if in.VIPs[999] != pfx("10.1.3.231/16") || in.VIPsExcluded[999] != pfx("2001:db8::3e7/64") {
		t.Errorf("last VIPs are %v and %v, want them in file order", in.VIPs[999], in.VIPsExcluded[999])
	}
	// A duplicate among them is found, once.
	_, err = Parse([]byte(manyVIPs(1000) + "[[instance]]\nname = \"B\"\ninterface = \"eth1\"\nvrid = 2\nvips = [\"10.1.0.7\"]\n"))
	if diff := cmp.Diff([]string{`instance "B": vips: 10.1.0.7 is already used by instance "VI_1"`}, Problems(err)); diff != "" {
		t.Errorf("problems mismatch (-want +got):\n%s", diff)
	}
}

// BenchmarkManyVIPs parses an instance with n VIPs and n excluded ones: the time per VIP must not
// grow with n.
func BenchmarkManyVIPs(b *testing.B) {
	for _, n := range []int{100, 1000, 10000} {
		src := []byte(manyVIPs(n))
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			for b.Loop() {
				if _, err := Parse(src); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// manyVIPs is an instance with n IPv4 VIPs as strings and n IPv6 excluded ones as tables.
func manyVIPs(n int) string {
	var b strings.Builder
	b.WriteString("[[instance]]\nname = \"VI_1\"\ninterface = \"eth0\"\nvrid = 1\nvips = [")
	for i := range n {
		fmt.Fprintf(&b, "%q, ", netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}).String()+"/16")
	}
	b.WriteString("]\nvips_excluded = [")
	for i := range n {
		fmt.Fprintf(&b, "{ address = \"2001:db8::%x/64\", scope = \"link\" }, ", i)
	}
	b.WriteString("]\n")
	return b.String()
}

func TestAddressOptions(t *testing.T) {
	cfg, err := Parse([]byte(strings.Replace(vi1, `["10.0.4.99/24"]`, `["10.0.4.99/24", { address = "10.0.4.98/24", label = "eth0:x" }, { address = "10.0.5.1", dev = "eth1" }]`, 1)))
	if err != nil {
		t.Fatal(err)
	}
	in := cfg.Instances[0]
	for a, want := range map[string]VIPOption{
		"10.0.4.99": {Dev: "eth0", Scope: "global"},
		"10.0.4.98": {Dev: "eth0", Label: "eth0:x", Scope: "global"},
		"10.0.5.1":  {Dev: "eth1", Scope: "global"},
	} {
		if got := in.AddressOptions(ip(a)); got != want {
			t.Errorf("AddressOptions(%s) = %+v, want %+v", a, got, want)
		}
	}
}

// FuzzParse: Parse never panics, and what it accepts it parses again into the same Config.
func FuzzParse(f *testing.F) {
	files, err := filepath.Glob("testdata/*.toml")
	if err != nil || len(files) == 0 {
		f.Fatalf("no seeds: %v", err)
	}
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(vi1 + `routes = [{ to = "default", via = "10.0.4.1" }]` + "\nrules = [{ fwmark = 1, table = 2 }]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse(data)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Parse error %v does not match ErrInvalid", err)
			}
			return
		}
		again, err := Parse(data)
		if err != nil {
			t.Fatalf("accepted once, then refused: %v", err)
		}
		if diff := cmp.Diff(cfg, again, cmpNet); diff != "" {
			t.Fatalf("parsed twice, differently (-first +second):\n%s", diff)
		}
	})
}

// A file check has no probe: rise, fall, timeout, init_fail and reverse are refused for it, each
// with its line, since the daemon could not honour them.
func TestFileCheckOptions(t *testing.T) {
	src := `[[check]]
name = "maint"
file = "/etc/vrrpd/maintenance"
init_fail = true
reverse = true
rise = 2
fall = 2
timeout = "1s"

[[instance]]
name = "VI_1"
interface = "eth0"
vrid = 51
vips = ["10.0.4.99"]
`
	_, err := Parse([]byte(src))
	got := Problems(err)
	want := []string{}
	for _, k := range []string{"init_fail", "rise", "fall", "timeout"} { // reverse does: it is keepalived's
		want = append(want, `check "maint": `+k+": does not apply to a file check, which reports the number the file holds as it changes")
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

package configs

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestCheckPair runs CheckPair over pairs (and a trio) of hosts, each a one-file configuration
// built from lb1.toml and lb2.toml's instance: VRID 51 on eth0, 10.0.4.99/24, lb1 at 110 and lb2
// at 100, with lb1 tracking nginx at -20.
func TestCheckPair(t *testing.T) {
	vi1 := func(prio uint8, edit ...func(*Instance)) Instance {
		in := defaultInstance("VI_1", "eth0", 51, "10.0.4.99/24")
		in.Priority = prio
		for _, e := range edit {
			e(&in)
		}
		return in
	}
	nginx := func(w int) func(*Instance) {
		return func(in *Instance) { in.TrackChecks = append(in.TrackChecks, TrackCheck{Name: "nginx", Weight: w}) }
	}
	host := func(file string, ins ...Instance) NamedConfig {
		return NamedConfig{File: file, Config: &Config{Instances: ins}}
	}
	pair := func(lb1, lb2 Instance) []NamedConfig {
		return []NamedConfig{host("lb1.toml", lb1), host("lb2.toml", lb2)}
	}
	where := `VRID 51 (IPv4): instance "VI_1" in lb1.toml and lb2.toml: `

	tests := []struct {
		name     string
		hosts    []NamedConfig
		warnings []string
		problems []string
	}{
		{name: "the example pair", hosts: pair(vi1(110, nginx(-20)), vi1(100, nginx(-20)))},
		{name: "the same VIPs in another order, on other interface names",
			hosts: pair(vi1(110, func(in *Instance) { in.VIPs = []netip.Prefix{pfx("10.0.4.99/24"), pfx("10.0.4.98/24")} }),
				vi1(100, func(in *Instance) {
					in.Interface = "ens3"
					in.VIPs = []netip.Prefix{pfx("10.0.4.98/24"), pfx("10.0.4.99/24")}
				}))},
		{name: "the classic weight: 110 - 5 is still above 100",
			hosts:    pair(vi1(110, nginx(-5)), vi1(100)),
			problems: []string{`lb1.toml: instance "VI_1": track_checks "nginx": weight -5 cannot move the VIP: 110 - 5 = 105 is not below 100, the priority of "VI_1" in lb2.toml: make it -11 or less`}},
		{name: "a weight that only ties",
			hosts:    pair(vi1(110, func(in *Instance) { in.TrackInterfaces = []TrackInterface{{Name: "eth1", Weight: -10}} }), vi1(100)),
			problems: []string{`lb1.toml: instance "VI_1": track_interfaces "eth1": weight -10 cannot move the VIP: 110 - 10 = 100 is not below 100, the priority of "VI_1" in lb2.toml: make it -11 or less`}},
		{name: "a positive weight over a base above the backup",
			hosts:    pair(vi1(110, nginx(20)), vi1(100)),
			problems: []string{`lb1.toml: instance "VI_1": track_checks "nginx": weight 20 cannot move the VIP: without it the priority is 110, not below 100, the priority of "VI_1" in lb2.toml: a positive weight moves the VIP only if the priority without it is below the other host's`}},
		{name: "a positive weight that makes the master", hosts: pair(vi1(90, nginx(20)), vi1(100))},
		{name: "weight 0 means FAULT, which always moves the VIP", hosts: pair(vi1(110, nginx(0)), vi1(100))},
		{name: "the backup's trackers do not matter while it is backup", hosts: pair(vi1(110), vi1(100, nginx(-1)))},
		{name: "every difference at once",
			hosts: pair(vi1(110), vi1(100, func(in *Instance) {
				in.AdvertInterval = 2 * time.Second
				in.VIPs = []netip.Prefix{pfx("10.0.4.98/24")}
				in.V3Checksum = "message"
				in.UnicastPeers = []netip.Addr{ip("10.0.4.20")}
			})),
			problems: []string{
				where + "not the same advert_interval: 1s in lb1.toml, 2s in lb2.toml",
				where + "not the same vips: [10.0.4.99/24] in lb1.toml, [10.0.4.98/24] in lb2.toml",
				where + "not the same way of sending adverts: multicast in lb1.toml, unicast in lb2.toml",
				where + "not the same v3_checksum: pseudo-header in lb1.toml, message in lb2.toml",
			}},
		{name: "versions differ, so auth_pass and v3_checksum are not compared",
			hosts:    pair(vi1(110, func(in *Instance) { in.Version, in.AuthPass = 2, "secret" }), vi1(100, func(in *Instance) { in.V3Checksum = "message" })),
			problems: []string{where + "not the same version: 2 in lb1.toml, 3 in lb2.toml"}},
		{name: "passwords are compared, never shown",
			hosts: []NamedConfig{
				host("lb1.toml", vi1(110, func(in *Instance) { in.Version, in.AuthPass = 2, "secret" })),
				host("lb2.toml", vi1(100, func(in *Instance) { in.Version, in.AuthPass = 2, "Secret" })),
				host("lb3.toml", vi1(90, func(in *Instance) { in.Version = 2 })),
				host("lb4.toml", vi1(80, func(in *Instance) { in.Version, in.AuthPass = 2, "secret" })),
			},
			problems: []string{`VRID 51 (IPv4): instance "VI_1" in lb1.toml, lb2.toml, lb3.toml and lb4.toml: not the same auth_pass: password 1 (not shown) in lb1.toml and lb4.toml, password 2 (not shown) in lb2.toml, none in lb3.toml`}},
		{name: "equal priorities",
			hosts:    pair(vi1(100), vi1(100)),
			problems: []string{where + "priority 100 in lb1.toml and lb2.toml: priorities must differ, or the host with the higher address wins the election (RFC 5798 §6.4.3): give the one meant to be master the higher priority"}},
		{name: "two address owners",
			hosts:    pair(vi1(255), vi1(255)),
			problems: []string{where + "priority 255 in lb1.toml and lb2.toml: priorities must differ, or the host with the higher address wins the election (RFC 5798 §6.4.3): give the one meant to be master the higher priority"}},
		{name: "the master does not preempt",
			hosts:    pair(vi1(110, func(in *Instance) { in.Preempt = false }), vi1(100)),
			warnings: []string{`lb1.toml: instance "VI_1": preempt = false on the host with the highest priority (110): after a failover it will not take the VIP back while the other host is master; remove preempt = false if it should be master whenever it is up`}},
		{name: "an owner preempts whatever preempt says", hosts: pair(vi1(255, func(in *Instance) { in.Preempt = false }), vi1(100))},
		{name: "the backup does not preempt, so a weight cannot hand it the VIP",
			hosts:    pair(vi1(110, nginx(-20)), vi1(100, func(in *Instance) { in.Preempt = false })),
			problems: []string{`lb1.toml: instance "VI_1": track_checks "nginx": weight -20 lowers the priority to 90, below "VI_1" in lb2.toml (100), but no host above 90 has preempt on, so none takes the VIP from a master that still advertises (RFC 5798 §6.4.2): remove preempt = false from lb2.toml`}},
		{name: "an owner's weight does nothing",
			hosts:    pair(vi1(255, nginx(-20)), vi1(100)),
			problems: []string{`lb1.toml: instance "VI_1": track_checks "nginx": weight -20 does nothing: the address owner's priority 255 never changes; use weight 0 (FAULT), or a priority below 255`}},
		{name: "three hosts: the weight must go below the best of the others",
			hosts:    []NamedConfig{host("lb1.toml", vi1(120, nginx(-8))), host("lb2.toml", vi1(100)), host("lb3.toml", vi1(110))},
			problems: []string{`lb1.toml: instance "VI_1": track_checks "nginx": weight -8 cannot move the VIP: 120 - 8 = 112 is not below 110, the priority of "VI_1" in lb3.toml: make it -11 or less`}},
		{name: "an instance only one file has, and IPv4 and IPv6 routers apart",
			hosts: []NamedConfig{host("lb1.toml", vi1(110), defaultInstance("VI_6", "eth0", 51, "2001:db8::99/64")), host("lb2.toml", vi1(100))},
			warnings: []string{
				`lb1.toml: instance "VI_6": no other file has VRID 51 (IPv6): no host backs it up`,
			}},
		{name: "instance names may differ",
			hosts:    pair(vi1(110), vi1(110, func(in *Instance) { in.Name = "web" })),
			problems: []string{`VRID 51 (IPv4): instances "VI_1" in lb1.toml and "web" in lb2.toml: priority 110 in lb1.toml and lb2.toml: priorities must differ, or the host with the higher address wins the election (RFC 5798 §6.4.3): give the one meant to be master the higher priority`}},
		{name: "unicast peers must list the other's unicast_src",
			hosts: pair(
				vi1(110, func(in *Instance) { in.UnicastSrc, in.UnicastPeers = ip("10.0.4.20"), []netip.Addr{ip("10.0.4.22")} }),
				vi1(100, func(in *Instance) { in.UnicastSrc, in.UnicastPeers = ip("10.0.4.21"), []netip.Addr{ip("10.0.4.20")} })),
			problems: []string{`lb1.toml: instance "VI_1": unicast_peers lack 10.0.4.21, the unicast_src of "VI_1" in lb2.toml, so its adverts are dropped here: add it`}},
		{name: "one file, two LANs on one VRID: matched by interface",
			hosts: []NamedConfig{
				host("lb1.toml", vi1(110), vi1(110, func(in *Instance) {
					in.Name, in.Interface, in.VIPs = "VI_2", "eth1", []netip.Prefix{pfx("10.0.5.99/24")}
				})),
				host("lb2.toml", vi1(100), vi1(120, func(in *Instance) {
					in.Name, in.Interface, in.VIPs = "VI_2", "eth1", []netip.Prefix{pfx("10.0.5.99/24")}
				})),
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			warnings, err := CheckPair(tt.hosts)
			if diff := cmp.Diff(tt.warnings, warnings); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.problems, Problems(err)); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
			if err != nil && !errors.Is(err, ErrInvalid) {
				t.Errorf("%v does not match ErrInvalid", err)
			}
		})
	}
}

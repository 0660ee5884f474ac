package configs

import (
	"errors"
	"io/fs"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// fakeHost is a host with these interfaces and /proc/sys files; a sysctl it lacks does not exist.
func fakeHost(ifaces map[string][]string, sysctls map[string]string) Host {
	return Host{
		Sysctl: func(p string) (string, error) {
			v, ok := sysctls[p]
			switch {
			case !ok:
				return "", fs.ErrNotExist
			case v == "EIO":
				return "", errors.New("input/output error")
			}
			return v + "\n", nil
		},
		Interface: func(name string) ([]netip.Prefix, bool, error) {
			addrs, ok := ifaces[name]
			var ps []netip.Prefix
			for _, a := range addrs {
				ps = append(ps, netip.MustParsePrefix(a))
			}
			return ps, ok, nil
		},
	}
}

func TestHostWarnings(t *testing.T) {
	v4 := func(edit ...func(*Instance)) Instance {
		in := defaultInstance("VI_1", "eth0", 51, "10.0.4.99/24")
		for _, e := range edit {
			e(&in)
		}
		return in
	}
	unicast := func(in *Instance) { in.UnicastPeers = []netip.Addr{ip("10.0.4.21")} }
	tracks := func(in *Instance) { in.TrackChecks = []TrackCheck{{Name: "nginx", Weight: -20}} }
	eth0 := map[string][]string{"eth0": {"10.0.4.20/24", "fe80::1/64"}}
	lenient := map[string]string{"net/ipv4/conf/all/rp_filter": "0", "net/ipv4/conf/eth0/rp_filter": "2",
		"net/ipv4/ip_nonlocal_bind": "1", "net/ipv6/ip_nonlocal_bind": "1"}
	with := func(m map[string]string, kv ...string) map[string]string {
		out := map[string]string{}
		for k, v := range m {
			out[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			out[kv[i]] = kv[i+1]
		}
		return out
	}

	tests := []struct {
		name      string
		instances []Instance
		ifaces    map[string][]string
		sysctls   map[string]string
		want      []string
	}{
		{name: "a host that is ready", ifaces: eth0, sysctls: lenient,
			instances: []Instance{v4(unicast, tracks), defaultInstance("VI_6", "eth0", 51, "2001:db8::99/64")}},
		{name: "missing interfaces", ifaces: map[string][]string{}, sysctls: lenient,
			instances: []Instance{v4(func(in *Instance) { in.TrackInterfaces = []TrackInterface{{Name: "eth1", Weight: -30}} })},
			want: []string{
				`instance "VI_1": interface: eth0 does not exist on this host, so the instance stays in FAULT: check the name with ip link show`,
				`instance "VI_1": track_interfaces[0].name: eth1 does not exist on this host, so it counts as down: check the name with ip link show`,
			}},
		{name: "only the VIP on the interface", ifaces: map[string][]string{"eth0": {"10.0.4.99/24", "fe80::1/64"}}, sysctls: lenient,
			instances: []Instance{v4()},
			want:      []string{`instance "VI_1": interface: eth0 has no IPv4 address to advertise from, and unicast_src is not set: add one (ip address add ADDRESS/LENGTH dev eth0), or set unicast_src`}},
		{name: "unicast_src needs no address on the interface", ifaces: map[string][]string{"eth0": nil}, sysctls: lenient,
			instances: []Instance{v4(func(in *Instance) { in.UnicastSrc = ip("10.0.4.20") })}},
		{name: "IPv6 needs a link-local address", ifaces: map[string][]string{"eth0": {"10.0.4.20/24", "2001:db8::20/64"}}, sysctls: lenient,
			instances: []Instance{defaultInstance("VI_6", "eth0", 51, "2001:db8::99/64")},
			want:      []string{`instance "VI_6": interface: eth0 has no IPv6 link-local address (RFC 5798 §5.1.2.1) to advertise from, and unicast_src is not set: add one (ip address add ADDRESS/LENGTH dev eth0), or set unicast_src`}},
		{name: "strict rp_filter from all, with unicast peers", ifaces: eth0,
			sysctls:   with(lenient, "net/ipv4/conf/all/rp_filter", "1", "net/ipv4/conf/eth0/rp_filter", "0"),
			instances: []Instance{v4(unicast), v4(unicast, func(in *Instance) { in.Name, in.VRID = "VI_2", 52 })},
			want:      []string{`instances "VI_1" and "VI_2": net.ipv4.conf.all.rp_filter = 1 and net.ipv4.conf.eth0.rp_filter = 0 make reverse-path filtering on eth0 strict, which drops unicast adverts that arrive on another interface than the route back to their source: run sysctl -w net.ipv4.conf.eth0.rp_filter=2`}},
		{name: "strict rp_filter on a VLAN", ifaces: map[string][]string{"eth0.100": {"10.0.4.20/24"}},
			sysctls:   with(lenient, "net/ipv4/conf/eth0.100/rp_filter", "1"),
			instances: []Instance{v4(unicast, func(in *Instance) { in.Interface = "eth0.100" })},
			want:      []string{`instance "VI_1": net.ipv4.conf.all.rp_filter = 0 and net.ipv4.conf.eth0/100.rp_filter = 1 make reverse-path filtering on eth0.100 strict, which drops unicast adverts that arrive on another interface than the route back to their source: run sysctl -w net.ipv4.conf.eth0/100.rp_filter=2`}},
		{name: "loose rp_filter wins over strict", ifaces: eth0,
			sysctls:   with(lenient, "net/ipv4/conf/all/rp_filter", "1", "net/ipv4/conf/eth0/rp_filter", "2"),
			instances: []Instance{v4(unicast)}},
		{name: "strict rp_filter with multicast", ifaces: eth0,
			sysctls:   with(lenient, "net/ipv4/conf/all/rp_filter", "1"),
			instances: []Instance{v4()}},
		{name: "ip_nonlocal_bind off where a service is tracked", ifaces: eth0,
			sysctls: with(lenient, "net/ipv4/ip_nonlocal_bind", "0", "net/ipv6/ip_nonlocal_bind", "0"),
			instances: []Instance{v4(tracks), v4(tracks, func(in *Instance) { in.Name, in.VRID, in.VIPs = "VI_2", 52, []netip.Prefix{pfx("10.0.4.98/24")} }),
				v4(func(in *Instance) { in.Name, in.VRID = "VI_3", 53 }),
				func() Instance { in := defaultInstance("VI_6", "eth0", 51, "2001:db8::99/64"); tracks(&in); return in }()},
			want: []string{
				`instances "VI_1" and "VI_2": net.ipv4.ip_nonlocal_bind = 0: a service that listens on a VIP (nginx's listen 10.0.4.99:80, say) cannot start while this host is backup and the VIP is elsewhere: run sysctl -w net.ipv4.ip_nonlocal_bind=1, and set it in /etc/sysctl.d to keep it`,
				`instance "VI_6": net.ipv6.ip_nonlocal_bind = 0: a service that listens on a VIP (nginx's listen [2001:db8::99]:80, say) cannot start while this host is backup and the VIP is elsewhere: run sysctl -w net.ipv6.ip_nonlocal_bind=1, and set it in /etc/sysctl.d to keep it`,
			}},
		{name: "ip_nonlocal_bind off, nothing tracked", ifaces: eth0,
			sysctls:   with(lenient, "net/ipv4/ip_nonlocal_bind", "0"),
			instances: []Instance{v4()}},
		{name: "a VMAC on a base that answers ARP", ifaces: eth0,
			sysctls: with(lenient, "net/ipv4/conf/all/arp_ignore", "0", "net/ipv4/conf/eth0/arp_ignore", "0",
				"net/ipv4/conf/all/arp_announce", "0", "net/ipv4/conf/eth0/arp_announce", "1"),
			instances: []Instance{v4(func(in *Instance) { in.VMAC = true })},
			want: []string{
				`instance "VI_1": vmac: net.ipv4.conf.eth0.arp_ignore = 0: eth0 answers ARP for the VIPs with its own MAC, so clients may learn it instead of the virtual MAC: run sysctl -w net.ipv4.conf.eth0.arp_ignore=1, and set it in /etc/sysctl.d to keep it`,
				`instance "VI_1": vmac: net.ipv4.conf.eth0.arp_announce = 1: eth0 may send ARP requests with a VIP as the source, from its own MAC, so clients may learn it instead of the virtual MAC: run sysctl -w net.ipv4.conf.eth0.arp_announce=2, and set it in /etc/sysctl.d to keep it`,
			}},
		{name: "a VMAC on a base set as keepalived's documentation says", ifaces: eth0,
			sysctls: with(lenient, "net/ipv4/conf/all/arp_ignore", "1", "net/ipv4/conf/eth0/arp_ignore", "0",
				"net/ipv4/conf/all/arp_announce", "0", "net/ipv4/conf/eth0/arp_announce", "2"),
			instances: []Instance{v4(func(in *Instance) { in.VMAC = true })}},
		{name: "sysctls that are missing or unreadable", ifaces: eth0,
			sysctls:   map[string]string{"net/ipv4/conf/eth0/rp_filter": "EIO", "net/ipv4/ip_nonlocal_bind": "yes"},
			instances: []Instance{v4(unicast, tracks)},
			want: []string{
				"cannot read /proc/sys/net/ipv4/conf/eth0/rp_filter: input/output error",
				`/proc/sys/net/ipv4/ip_nonlocal_bind holds "yes", not a number`,
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := HostWarnings(&Config{Instances: tt.instances}, fakeHost(tt.ifaces, tt.sysctls))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
		})
	}
}

// ThisHost reads the real /proc/sys and interfaces: loopback exists with 127.0.0.1, and an
// interface that cannot exist does not.
func TestThisHost(t *testing.T) {
	h := ThisHost()
	addrs, ok, err := h.Interface("lo")
	if err != nil || !ok || !hasAddr(addrs, "127.0.0.1") {
		t.Errorf("Interface(lo) = %v, %v, %v; want 127.0.0.1/8 among the addresses", addrs, ok, err)
	}
	if _, ok, err := h.Interface("no-such-if0"); ok || err != nil {
		t.Errorf("Interface(no-such-if0) = %v, %v; want not ok and no error", ok, err)
	}
	if v, err := h.Sysctl("net/ipv4/ip_forward"); err != nil || (v != "0\n" && v != "1\n") {
		t.Errorf("Sysctl(net/ipv4/ip_forward) = %q, %v", v, err)
	}
	if _, err := h.Sysctl("net/ipv4/no_such_sysctl"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a missing sysctl: %v, want ErrNotExist", err)
	}
}

func hasAddr(addrs []netip.Prefix, a string) bool {
	for _, p := range addrs {
		if p.Addr().String() == a {
			return true
		}
	}
	return false
}

func TestSysctlName(t *testing.T) {
	for p, want := range map[string]string{
		"net/ipv4/ip_nonlocal_bind":        "net.ipv4.ip_nonlocal_bind",
		"net/ipv4/conf/eth0.100/rp_filter": "net.ipv4.conf.eth0/100.rp_filter",
		"net/ipv4/conf/all/rp_filter":      "net.ipv4.conf.all.rp_filter",
	} {
		if got := sysctlName(p); got != want {
			t.Errorf("sysctlName(%q) = %q, want %q", p, got, want)
		}
	}
}

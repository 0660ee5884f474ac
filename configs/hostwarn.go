package configs

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
)

// Host is what HostWarnings reads of the host a configuration is to run on. ThisHost reads this
// one; a test passes its own.
type Host struct {
	// Sysctl reads a file under /proc/sys, named by its path there: "net/ipv4/ip_nonlocal_bind".
	Sysctl func(path string) (string, error)
	// Interface returns the addresses of the interface called name; ok is false if there is no
	// such interface.
	Interface func(name string) (addrs []netip.Prefix, ok bool, err error)
}

// ThisHost is the host vrrpd runs on: /proc/sys, and its network interfaces.
func ThisHost() Host {
	return Host{
		Sysctl: func(p string) (string, error) {
			b, err := os.ReadFile(path.Join("/proc/sys", p))
			return string(b), err
		},
		Interface: func(name string) ([]netip.Prefix, bool, error) {
			ifi, err := net.InterfaceByName(name)
			if err != nil {
				// net says "no such network interface" without a sentinel: look for it by name.
				if all, lerr := net.Interfaces(); lerr == nil && !slices.ContainsFunc(all, func(i net.Interface) bool { return i.Name == name }) {
					return nil, false, nil
				}
				return nil, false, err
			}
			addrs, err := ifi.Addrs()
			if err != nil {
				return nil, true, err
			}
			var ps []netip.Prefix
			for _, a := range addrs {
				if n, ok := a.(*net.IPNet); ok {
					if ip, ok := netip.AddrFromSlice(n.IP); ok {
						ones, _ := n.Mask.Size()
						ps = append(ps, netip.PrefixFrom(ip.Unmap(), ones))
					}
				}
			}
			return ps, true, nil
		},
	}
}

// HostWarnings says what on host h would break the failover of a valid configuration, one line
// each, naming the instance and saying what to run. They are warnings, not problems: the host
// may still change before vrrpd runs (an interface created later, a sysctl set at boot).
//
//   - An interface an instance uses (its own, or one it tracks) that does not exist.
//   - An instance with nothing to advertise from: no unicast_src, and on its interface no IPv4
//     address (IPv4), or no link-local address, which RFC 5798 §5.1.2.1 requires as the source
//     (IPv6). The VIPs themselves do not count.
//   - Strict reverse-path filtering (rp_filter 1, the larger of net.ipv4.conf.all and the
//     interface's) on an interface with IPv4 unicast peers: adverts that arrive on another
//     interface than the route back to their source are dropped.
//   - net.ipv4.ip_nonlocal_bind (net.ipv6.ip_nonlocal_bind) = 0 where an instance tracks a
//     check: the service it checks, nginx say, usually listens on the VIP, and then cannot start
//     while this host is backup and the VIP is elsewhere.
func HostWarnings(cfg *Config, h Host) []string {
	var warnings []string
	warn := func(format string, args ...any) { warnings = append(warnings, fmt.Sprintf(format, args...)) }
	strict := map[string][]string{} // interface -> instances with IPv4 unicast peers
	var ifnames []string
	nonlocal := map[bool][]*Instance{} // by IPv6: instances that track a check
	vmacs := map[string][]string{}     // base interface -> IPv4 instances with a VMAC on it
	var bases []string
	for i := range cfg.Instances {
		in := &cfg.Instances[i]
		where := fmt.Sprintf("instance %q", in.Name)
		addrs, ok, err := h.Interface(in.Interface)
		switch {
		case err != nil:
			warn("%s: interface: cannot read %s: %v", where, in.Interface, err)
		case !ok:
			warn("%s: interface: %s does not exist on this host, so the instance stays in FAULT: check the name with ip link show", where, in.Interface)
		case !in.UnicastSrc.IsValid() && !hasSource(addrs, in):
			what := "no IPv4 address"
			if in.IPv6() {
				what = "no IPv6 link-local address (RFC 5798 §5.1.2.1)"
			}
			warn("%s: interface: %s has %s to advertise from, and unicast_src is not set: add one (ip address add ADDRESS/LENGTH dev %[2]s), or set unicast_src",
				where, in.Interface, what)
		}
		for j, t := range in.TrackInterfaces {
			if _, ok, err := h.Interface(t.Name); err == nil && !ok {
				warn("%s: track_interfaces[%d].name: %s does not exist on this host, so it counts as down: check the name with ip link show", where, j, t.Name)
			}
		}
		if ok && !in.IPv6() && len(in.UnicastPeers) > 0 {
			if strict[in.Interface] == nil {
				ifnames = append(ifnames, in.Interface)
			}
			strict[in.Interface] = append(strict[in.Interface], strconv.Quote(in.Name))
		}
		if len(in.TrackChecks) > 0 {
			nonlocal[in.IPv6()] = append(nonlocal[in.IPv6()], in)
		}
		if ok && in.VMAC && !in.IPv6() {
			if vmacs[in.Interface] == nil {
				bases = append(bases, in.Interface)
			}
			vmacs[in.Interface] = append(vmacs[in.Interface], strconv.Quote(in.Name))
		}
	}
	read := func(p string) (int, bool) {
		s, err := h.Sysctl(p)
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				warn("cannot read /proc/sys/%s: %v", p, err)
			}
			return 0, false
		}
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			warn("/proc/sys/%s holds %q, not a number", p, strings.TrimSpace(s))
			return 0, false
		}
		return n, true
	}
	for _, ifname := range ifnames {
		all, okAll := read("net/ipv4/conf/all/rp_filter")
		own, okOwn := read("net/ipv4/conf/" + ifname + "/rp_filter")
		if (okAll || okOwn) && max(all, own) == 1 {
			allName, ownName := sysctlName("net/ipv4/conf/all/rp_filter"), sysctlName("net/ipv4/conf/"+ifname+"/rp_filter")
			warn("%s: %s = %d and %s = %d make reverse-path filtering on %s strict, which drops unicast adverts that arrive on another interface than the route back to their source: run sysctl -w %s=2",
				instancesLabel(strict[ifname]), allName, all, ownName, own, ifname, ownName)
		}
	}
	// A base interface answers ARP for any local address, the VMAC's VIPs included, with its own
	// MAC (arp_ignore 0), and may ask with a VIP as the source (arp_announce below 2): either
	// teaches clients the real MAC, which use_vmac is there to avoid. The kernel takes the larger
	// of all's and the interface's.
	for _, base := range bases {
		for _, s := range []struct {
			key  string
			want int
			why  string
		}{
			{"arp_ignore", 1, "answers ARP for the VIPs with its own MAC"},
			{"arp_announce", 2, "may send ARP requests with a VIP as the source, from its own MAC"},
		} {
			all, okAll := read("net/ipv4/conf/all/" + s.key)
			own, okOwn := read("net/ipv4/conf/" + base + "/" + s.key)
			if (okAll || okOwn) && max(all, own) < s.want {
				name := sysctlName("net/ipv4/conf/" + base + "/" + s.key)
				warn("%s: vmac: %s = %d: %s %s, so clients may learn it instead of the virtual MAC: run sysctl -w %[2]s=%[6]d, and set it in /etc/sysctl.d to keep it",
					instancesLabel(vmacs[base]), name, max(all, own), base, s.why, s.want)
			}
		}
	}
	for _, v6 := range []bool{false, true} {
		ins := nonlocal[v6]
		if len(ins) == 0 {
			continue
		}
		p := "net/ipv4/ip_nonlocal_bind"
		if v6 {
			p = "net/ipv6/ip_nonlocal_bind"
		}
		if n, ok := read(p); ok && n == 0 {
			var names []string
			for _, in := range ins {
				names = append(names, strconv.Quote(in.Name))
			}
			warn("%s: %s = 0: a service that listens on a VIP (nginx's listen %s, say) cannot start while this host is backup and the VIP is elsewhere: run sysctl -w %[2]s=1, and set it in /etc/sysctl.d to keep it",
				instancesLabel(names), sysctlName(p), listenExample(ins[0].VIPs[0].Addr()))
		}
	}
	return warnings
}

// hasSource reports whether addrs hold an address the instance can advertise from: one of its
// family that is not a VIP, and for IPv6 a link-local one.
func hasSource(addrs []netip.Prefix, in *Instance) bool {
	return slices.ContainsFunc(addrs, func(p netip.Prefix) bool {
		a := p.Addr()
		isVIP := slices.ContainsFunc(in.VIPs, func(v netip.Prefix) bool { return v.Addr() == a })
		if in.IPv6() {
			return a.Is6() && a.IsLinkLocalUnicast() && !isVIP
		}
		return a.Is4() && !isVIP
	})
}

// sysctlName is the name sysctl(8) gives a file under /proc/sys: its path with dots, and the dots
// in a name (an interface eth0.100) as slashes: net.ipv4.conf.eth0/100.rp_filter.
func sysctlName(p string) string {
	parts := strings.Split(p, "/")
	for i, s := range parts {
		parts[i] = strings.ReplaceAll(s, ".", "/")
	}
	return strings.Join(parts, ".")
}

// listenExample writes a VIP as nginx's listen directive takes it, with port 80.
func listenExample(a netip.Addr) string {
	return netip.AddrPortFrom(a, 80).String()
}

// instancesLabel names instances in a warning: `instance "VI_1"`, `instances "VI_1" and "VI_2"`.
func instancesLabel(quoted []string) string {
	if len(quoted) == 1 {
		return "instance " + quoted[0]
	}
	return "instances " + and(quoted)
}

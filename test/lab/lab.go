// Package lab builds a throwaway Ethernet LAN out of Linux network namespaces.
//
// One namespace, "<prefix>-br", holds the switch: a bridge br0 with multicast snooping
// off, so VRRP multicast floods to every port as on a plain switch. Each host is a
// namespace "<prefix>-<name>" whose eth0 is a veth cable plugged into br0; the cable's
// switch end is called <name> in the bridge namespace.
//
// Everything the lab creates lives in namespaces it created itself (veth pairs are made
// from inside the bridge namespace), so the machine's own interfaces are never touched.
// Close removes all of it. End-to-end tests and `vrrpd demo` use it; it needs root.
package lab

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path"
	"runtime"
	"strings"
	"sync"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

var (
	// ErrName means a host name is unusable as an interface name or is taken.
	ErrName = errors.New("bad host name")
	// ErrNoNeighbor means a host has no usable neighbour entry for an address.
	ErrNoNeighbor = errors.New("no neighbour entry")
	// ErrNoAddress means an interface has no address of the kind asked for.
	ErrNoAddress = errors.New("no such address")
)

// Lab is a LAN of network namespaces joined by one bridge.
type Lab struct {
	Prefix   string // every namespace name starts with Prefix + "-"
	BridgeNS string // the namespace holding br0

	mu         sync.Mutex
	namespaces []string // created, in order; Close deletes them
	hosts      map[string]*Host
	nftReady   bool
}

// Host is one machine on the LAN: a namespace with eth0 plugged into the bridge.
type Host struct {
	Name string           // also the name of the switch-side veth in the bridge namespace
	NS   string           // namespace name, "<prefix>-<name>"
	MAC  net.HardwareAddr // eth0's address, 02:00:00:00:00:NN for the NNth host added

	lab *Lab
}

// NewPrefix returns a fresh namespace prefix, "vd" and six random hex digits.
func NewPrefix() string {
	b := make([]byte, 3)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return "vd" + hex.EncodeToString(b)
}

// New creates the bridge namespace "<prefix>-br" with br0 up and multicast snooping off.
func New(prefix string) (*Lab, error) {
	l := &Lab{Prefix: prefix, BridgeNS: prefix + "-br", hosts: map[string]*Host{}}
	err := l.addNS(l.BridgeNS)
	if err == nil {
		// The switch has no IP of its own: without IPv6 on its ports it sends no DAD,
		// router solicitations or MLD reports into the captures.
		err = sysctl(l.BridgeNS, map[string]string{
			"net/ipv6/conf/all/disable_ipv6":     "1",
			"net/ipv6/conf/default/disable_ipv6": "1",
		})
	}
	if err == nil {
		err = ipBatch(l.BridgeNS,
			"link set lo up",
			"link add br0 type bridge mcast_snooping 0",
			"link set br0 up",
		)
	}
	if err != nil {
		return nil, errors.Join(fmt.Errorf("lab %s: %w", prefix, err), l.Close())
	}
	return l, nil
}

// AddHost creates namespace "<prefix>-<name>" with lo and eth0 up, eth0 plugged into the
// bridge and carrying addrs. IPv6 duplicate address detection is off in the host, so
// its addresses (the link-local one included) are usable at once.
func (l *Lab) AddHost(name string, addrs ...netip.Prefix) (*Host, error) {
	if name == "" || len(name) > 15 || name == "br0" || name == "lo" || strings.ContainsAny(name, "/ \t\n") {
		return nil, fmt.Errorf("host %q: %w", name, ErrName)
	}
	l.mu.Lock()
	if _, taken := l.hosts[name]; taken {
		l.mu.Unlock()
		return nil, fmt.Errorf("host %q: %w: taken", name, ErrName)
	}
	if len(l.hosts) >= 255 {
		l.mu.Unlock()
		return nil, fmt.Errorf("host %q: %w: a lab holds at most 255 hosts", name, ErrName)
	}
	h := &Host{
		Name: name,
		NS:   l.Prefix + "-" + name,
		MAC:  net.HardwareAddr{0x02, 0, 0, 0, 0, byte(len(l.hosts) + 1)},
		lab:  l,
	}
	l.hosts[name] = h
	l.mu.Unlock()

	noDAD := map[string]string{
		"net/ipv6/conf/all/accept_dad":     "0",
		"net/ipv6/conf/default/accept_dad": "0",
	}
	err := l.addNS(h.NS)
	if err == nil {
		err = sysctl(h.NS, noDAD) // before eth0 exists, so it inherits the default
	}
	if err == nil {
		err = ipBatch(h.NS, "link set lo up")
	}
	if err == nil {
		err = h.cable(addrs)
	}
	if err != nil {
		return nil, fmt.Errorf("lab %s: host %s: %w", l.Prefix, name, err)
	}
	return h, nil
}

// cable creates the host's eth0 (and its switch port) with addrs and brings it up.
func (h *Host) cable(addrs []netip.Prefix) error {
	var lines []string
	for _, a := range addrs {
		line := "addr add " + a.String() + " dev eth0"
		if a.Addr().Is6() {
			line += " nodad"
		}
		lines = append(lines, line)
	}
	lines = append(lines, "link set eth0 up")
	err := ipBatch(h.lab.BridgeNS,
		fmt.Sprintf("link add name %s type veth peer name eth0 address %s netns %s", h.Name, h.MAC, h.NS),
		fmt.Sprintf("link set dev %s master br0 up", h.Name),
	)
	if err == nil {
		err = sysctl(h.NS, map[string]string{"net/ipv6/conf/eth0/accept_dad": "0"})
	}
	if err == nil {
		err = ipBatch(h.NS, lines...)
	}
	return err
}

// Recreate deletes the host's eth0 and creates it again with addrs, as when a container's veth is
// replaced: same name and MAC, a new interface index.
func (h *Host) Recreate(addrs ...netip.Prefix) error {
	if err := ipBatch(h.lab.BridgeNS, "link del "+h.Name); err != nil {
		return err
	}
	return h.cable(addrs)
}

// Close deletes every namespace the lab created, hosts first. It can be called again.
// Processes still running in a namespace keep it (and its veth) alive until they exit.
func (l *Lab) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	var errs []error
	for i := len(l.namespaces) - 1; i >= 0; i-- {
		if err := run(nil, "ip", "netns", "delete", l.namespaces[i]); err != nil {
			errs = append(errs, err)
		}
	}
	l.namespaces = nil
	return errors.Join(errs...)
}

// NFT runs nft with args in the bridge namespace, where the switch's forwarding path
// can be filtered. The first call creates table bridge lab with a chain labforward
// hooked into bridge forwarding, so a test can write for example
//
//	l.NFT("add", "rule", "bridge", "lab", "labforward", "ip", "protocol", "icmp", "drop")
func (l *Lab) NFT(args ...string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.nftReady {
		const table = "table bridge lab {\n\tchain labforward { type filter hook forward priority 0; }\n}\n"
		if err := run(strings.NewReader(table), "ip", "netns", "exec", l.BridgeNS, "nft", "-f", "-"); err != nil {
			return err
		}
		l.nftReady = true
	}
	return run(nil, "ip", append([]string{"netns", "exec", l.BridgeNS, "nft"}, args...)...)
}

func (l *Lab) addNS(name string) error {
	if err := run(nil, "ip", "netns", "add", name); err != nil {
		return err
	}
	l.mu.Lock()
	l.namespaces = append(l.namespaces, name)
	l.mu.Unlock()
	return nil
}

// Command returns `ip netns exec <ns> argv...`, not started. ip execs argv in place, so
// the command's process is argv itself.
func (h *Host) Command(ctx context.Context, argv ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", h.NS}, argv...)...)
}

// Do runs f on a locked OS thread switched into the host's namespace, and switches back
// afterwards. Sockets opened in f belong to the namespace for good. Goroutines that f
// starts run elsewhere, in the process's own namespace.
func (h *Host) Do(f func() error) error { return inNS(h.NS, f) }

// Unplug sets the switch end of the host's cable down: the host loses carrier on eth0
// and nothing passes, like a pulled cable. (For a silent partition with the link up,
// filter with Lab.NFT instead.)
func (h *Host) Unplug() error { return h.port("down") }

// Plug sets the switch end of the host's cable up again.
func (h *Host) Plug() error { return h.port("up") }

func (h *Host) port(state string) error {
	return run(nil, "ip", "-n", h.lab.BridgeNS, "link", "set", "dev", h.Name, state)
}

// NewHandle returns a netlink handle bound to the host's namespace; the caller closes it.
func (h *Host) NewHandle() (*netlink.Handle, error) {
	ns, err := netns.GetFromName(h.NS)
	if err != nil {
		return nil, fmt.Errorf("namespace %s: %w", h.NS, err)
	}
	defer ns.Close()
	return netlink.NewHandleAt(ns)
}

// Neighbor returns the hardware address in the host's neighbour table (ARP or NDP) for
// ip, on any interface. Entries without an address (incomplete, failed) don't count.
func (h *Host) Neighbor(ip netip.Addr) (net.HardwareAddr, error) {
	nh, err := h.NewHandle()
	if err != nil {
		return nil, err
	}
	defer nh.Close()
	family := netlink.FAMILY_V4
	if ip.Is6() {
		family = netlink.FAMILY_V6
	}
	neighs, err := nh.NeighList(0, family)
	if err != nil {
		return nil, fmt.Errorf("%s: neighbours: %w", h.Name, err)
	}
	for _, n := range neighs {
		a, _ := netip.AddrFromSlice(n.IP)
		if a.Unmap() == ip.WithZone("") && len(n.HardwareAddr) > 0 && n.State&(netlink.NUD_INCOMPLETE|netlink.NUD_FAILED) == 0 {
			return n.HardwareAddr, nil
		}
	}
	return nil, fmt.Errorf("%s: %s: %w", h.Name, ip, ErrNoNeighbor)
}

// Addrs returns the addresses on interface ifname in the host's namespace.
func (h *Host) Addrs(ifname string) ([]netip.Prefix, error) {
	nh, err := h.NewHandle()
	if err != nil {
		return nil, err
	}
	defer nh.Close()
	link, err := nh.LinkByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w", h.Name, ifname, err)
	}
	list, err := nh.AddrList(link, netlink.FAMILY_ALL)
	if err != nil {
		return nil, fmt.Errorf("%s: %s: addresses: %w", h.Name, ifname, err)
	}
	var out []netip.Prefix
	for _, a := range list {
		ip, _ := netip.AddrFromSlice(a.IP)
		ones, _ := a.Mask.Size()
		out = append(out, netip.PrefixFrom(ip.Unmap(), ones))
	}
	return out, nil
}

// LinkLocal returns eth0's IPv6 link-local address (without a zone).
func (h *Host) LinkLocal() (netip.Addr, error) {
	addrs, err := h.Addrs("eth0")
	if err != nil {
		return netip.Addr{}, err
	}
	for _, p := range addrs {
		if p.Addr().Is6() && p.Addr().IsLinkLocalUnicast() {
			return p.Addr(), nil
		}
	}
	return netip.Addr{}, fmt.Errorf("%s: eth0: %w: link-local", h.Name, ErrNoAddress)
}

// inNS runs f on this goroutine's OS thread, locked and switched into namespace name.
func inNS(name string, f func() error) error {
	target, err := netns.GetFromName(name)
	if err != nil {
		return fmt.Errorf("namespace %s: %w", name, err)
	}
	defer target.Close()

	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("current namespace: %w", err)
	}
	defer orig.Close()
	if err := netns.Set(target); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("enter namespace %s: %w", name, err)
	}
	defer func() {
		// A thread that cannot go back stays locked: Go then discards it when the
		// goroutine exits instead of reusing it in the wrong namespace.
		if netns.Set(orig) == nil {
			runtime.UnlockOSThread()
		}
	}()
	return f()
}

// sysctl writes net.* sysctls of namespace ns through /proc/sys, which resolves them
// in the namespace of the writing thread. Keys are paths below /proc/sys.
func sysctl(ns string, values map[string]string) error {
	return inNS(ns, func() error {
		var errs []error
		for k, v := range values {
			if err := os.WriteFile(path.Join("/proc/sys", k), []byte(v), 0o644); err != nil {
				errs = append(errs, fmt.Errorf("namespace %s: %w", ns, err))
			}
		}
		return errors.Join(errs...)
	})
}

// ipBatch runs ip commands, one per line, in namespace ns; it stops at the first failure.
func ipBatch(ns string, lines ...string) error {
	return run(strings.NewReader(strings.Join(lines, "\n")+"\n"), "ip", "-n", ns, "-batch", "-")
}

// run runs a command with stdin, folding its output into the error if it fails.
func run(stdin *strings.Reader, name string, args ...string) error {
	cmd := exec.Command(name, args...)
	if stdin != nil {
		cmd.Stdin = stdin
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

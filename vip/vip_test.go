package vip

import (
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/vrrpd/vrrpd/test/lab"
	"github.com/vrrpd/vrrpd/test/lab/labtest"
)

var (
	vip4   = netip.MustParsePrefix("10.0.4.99/24")
	vip6   = netip.MustParsePrefix("fd00:4::99/64")
	vipLL  = netip.MustParsePrefix("fe80::99/64")
	staleM = net.HardwareAddr{0x02, 0xee, 0xee, 0xee, 0xee, 0xee}
)

// twoHosts returns hosts a and b on one LAN, and a Manager working on a's namespace.
func twoHosts(t *testing.T) (a, b *lab.Host, m *Manager) {
	l := labtest.ForTest(t)
	a = labtest.MustHost(t, l, "a", "10.0.4.20/24", "fd00:4::20/64")
	b = labtest.MustHost(t, l, "b", "10.0.4.21/24", "fd00:4::21/64")
	return a, b, manager(t, a)
}

// manager returns a Manager working on h's namespace, closed when t ends.
func manager(t testing.TB, h *lab.Host) *Manager {
	t.Helper()
	ns, err := netns.GetFromName(h.NS)
	if err != nil {
		t.Fatal(err)
	}
	nh, err := netlink.NewHandleAt(ns)
	if err != nil {
		t.Fatal(err)
	}
	m := NewAt(ns, nh, slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug})))
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Error(err)
		}
		nh.Close()
		ns.Close()
	})
	return m
}

// at is the prefixes as addresses on dev.
func at(dev string, ps ...netip.Prefix) []Addr {
	addrs := make([]Addr, len(ps))
	for i, p := range ps {
		addrs[i] = Addr{Prefix: p, Dev: dev}
	}
	return addrs
}

// addrs returns the addresses on a's eth0 with their flags.
func addrs(t *testing.T, m *Manager) map[netip.Prefix]int {
	t.Helper()
	link, err := m.h.LinkByName("eth0")
	if err != nil {
		t.Fatal(err)
	}
	list, err := m.h.AddrList(link, netlink.FAMILY_ALL)
	if err != nil {
		t.Fatal(err)
	}
	out := map[netip.Prefix]int{}
	for _, a := range list {
		ip, _ := netip.AddrFromSlice(a.IP)
		ones, _ := a.Mask.Size()
		p := netip.PrefixFrom(ip.Unmap(), ones)
		if _, dup := out[p]; dup {
			t.Errorf("%s listed twice", p)
		}
		out[p] = a.Flags
	}
	return out
}

func TestAddRemovePresent(t *testing.T) {
	a, _, m := twoHosts(t)
	// The lab turns DAD off; turn it back on for eth0, so that only IFA_F_NODAD keeps
	// the IPv6 VIPs from starting out tentative.
	err := a.Do(func() error { return os.WriteFile("/proc/sys/net/ipv6/conf/eth0/accept_dad", []byte("1"), 0o644) })
	if err != nil {
		t.Fatal(err)
	}
	vips := []netip.Prefix{vip4, vip6, vipLL}
	cmpPrefixes := cmp.Comparer(func(x, y netip.Prefix) bool { return x == y })

	present := func(want []netip.Prefix) {
		t.Helper()
		got, err := m.Present(at("eth0", vips...))
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(at("eth0", want...), got, cmpPrefixes, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("Present (-want +got):\n%s", diff)
		}
	}
	present(nil)

	for range 2 {
		if err := m.Add(at("eth0", vips...)); err != nil {
			t.Fatalf("Add: %v", err)
		}
	}
	on := addrs(t, m)
	for _, v := range vips {
		flags, ok := on[v]
		if !ok {
			t.Errorf("%s not on eth0 after Add", v)
		}
		if flags&unix.IFA_F_TENTATIVE != 0 {
			t.Errorf("%s is tentative: DAD was not skipped", v)
		}
	}
	present(vips)
	// Present matches the prefix length too: 10.0.4.99/32 is a different address entry.
	if got, err := m.Present(at("eth0", netip.MustParsePrefix("10.0.4.99/32"), vip4)); err != nil || !slices.Equal(got, at("eth0", vip4)) {
		t.Errorf("Present(10.0.4.99/32, %s) = %v, %v; want only %s", vip4, got, err, vip4)
	}

	if err := m.Remove(at("eth0", vips[:1]...)); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	present(vips[1:])
	for range 2 {
		if err := m.Remove(at("eth0", vips...)); err != nil {
			t.Fatalf("Remove of VIPs already gone: %v", err)
		}
	}
	present(nil)
	on = addrs(t, m)
	for _, v := range vips {
		if _, ok := on[v]; ok {
			t.Errorf("%s still on eth0 after Remove", v)
		}
	}
	if _, ok := on[netip.MustParsePrefix("10.0.4.20/24")]; !ok {
		t.Error("Remove took the host's own address too")
	}
}

func TestErrors(t *testing.T) {
	_, _, m := twoHosts(t)
	missing := at("nosuch0", vip4)

	if err := m.Add(missing); !errors.Is(err, ErrNoInterface) {
		t.Errorf("Add on a missing interface: %v, want ErrNoInterface", err)
	}
	if _, err := m.Present(missing); !errors.Is(err, ErrNoInterface) {
		t.Errorf("Present on a missing interface: %v, want ErrNoInterface", err)
	}
	if err := m.Announce(missing, 1, 0); !errors.Is(err, ErrNoInterface) {
		t.Errorf("Announce on a missing interface: %v, want ErrNoInterface", err)
	}
	if err := m.Remove(missing); err != nil {
		t.Errorf("Remove on a missing interface: %v, want nil: its addresses are gone too", err)
	}
	if err := m.Announce(at("lo", vip4), 1, 0); !errors.Is(err, ErrNotEthernet) {
		t.Errorf("Announce on lo: %v, want ErrNotEthernet", err)
	}

	// A failure names the VIP and the interface, and the other VIPs are still added.
	bad := netip.Prefix{}
	err := m.Add(at("eth0", bad, vip4))
	if err == nil || !strings.Contains(err.Error(), "add invalid Prefix to eth0") {
		t.Errorf("Add with an invalid VIP: %v, want an error naming it and eth0", err)
	}
	if _, ok := addrs(t, m)[vip4]; !ok {
		t.Errorf("%s not added after an earlier VIP failed", vip4)
	}
}

// seedNeighbor gives h a stale neighbour entry for ip pointing at staleM, as if another
// router had held the VIP.
func seedNeighbor(t *testing.T, h *lab.Host, ip netip.Addr) {
	t.Helper()
	nh, err := h.NewHandle()
	if err != nil {
		t.Fatal(err)
	}
	defer nh.Close()
	link, err := nh.LinkByName("eth0")
	if err != nil {
		t.Fatal(err)
	}
	family := netlink.FAMILY_V4
	if ip.Is6() {
		family = netlink.FAMILY_V6
	}
	err = nh.NeighSet(&netlink.Neigh{LinkIndex: link.Attrs().Index, Family: family, State: netlink.NUD_STALE, IP: ip.AsSlice(), HardwareAddr: staleM})
	if err != nil {
		t.Fatal(err)
	}
	if mac, err := h.Neighbor(ip); err != nil || mac.String() != staleM.String() {
		t.Fatalf("seeded neighbour %s = %s, %v; want %s", ip, mac, err, staleM)
	}
}

// waitNeighbor waits until h's neighbour entry for ip is want.
func waitNeighbor(t *testing.T, h *lab.Host, ip netip.Addr, want net.HardwareAddr) {
	t.Helper()
	var mac net.HardwareAddr
	var err error
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if mac, err = h.Neighbor(ip); err == nil && mac.String() == want.String() {
			return
		}
	}
	t.Errorf("%s: neighbour %s = %s, %v; want %s", h.Name, ip, mac, err, want)
}

// announce runs m.Announce in a's namespace, where its sockets must live.
func announce(a *lab.Host, m *Manager, ifname string, vips []netip.Prefix, count int) error {
	return a.Do(func() error { return m.Announce(at(ifname, vips...), count, 0) })
}

// captureFrom starts a capture on h and returns a function that waits for n frames of
// kind from src, then a little longer to catch extra ones, and returns them.
func captureFrom(t *testing.T, h *lab.Host) func(kind lab.Kind, src net.HardwareAddr, n int) []lab.Event {
	t.Helper()
	c, err := lab.StartCapture(h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return func(kind lab.Kind, src net.HardwareAddr, n int) []lab.Event {
		t.Helper()
		from := func(events []lab.Event) []lab.Event {
			var out []lab.Event
			for _, e := range lab.Filter(events, kind) {
				if e.Src.String() == src.String() {
					out = append(out, e)
				}
			}
			return out
		}
		if _, err := c.Wait(3*time.Second, func(events []lab.Event) bool { return len(from(events)) >= n }); err != nil {
			t.Errorf("%s: waiting for %d %s from %s: %v", h.Name, n, kind, src, err)
		}
		time.Sleep(100 * time.Millisecond)
		return from(c.Events())
	}
}

// RFC 5798 §6.4.2: the new master's gratuitous ARP moves the VIP to its MAC in every
// host's ARP cache, even where another MAC was cached.
func TestAnnounceGARP(t *testing.T) {
	a, b, m := twoHosts(t)
	seedNeighbor(t, b, vip4.Addr())
	wait := captureFrom(t, b)
	if err := m.Add(at("eth0", vip4)); err != nil {
		t.Fatal(err)
	}

	const count = 3
	if err := announce(a, m, "eth0", []netip.Prefix{vip4}, count); err != nil {
		t.Fatal(err)
	}
	garps := wait(lab.GARP, a.MAC, count)
	want, err := garpFrame(a.MAC, vip4.Addr())
	if err != nil {
		t.Fatal(err)
	}
	if len(garps) != count {
		t.Errorf("b saw %d gratuitous ARPs from a, want %d", len(garps), count)
	}
	for _, e := range garps {
		if e.IP != vip4.Addr() || e.MAC.String() != a.MAC.String() || !slices.Equal(e.Frame, want) {
			t.Errorf("GARP %s at %s, frame %x; want %s at %s, frame %x", e.IP, e.MAC, e.Frame, vip4.Addr(), a.MAC, want)
		}
	}
	waitNeighbor(t, b, vip4.Addr(), a.MAC)
}

// RFC 5798 §6.4.2: the unsolicited NA, with Override set, replaces b's cached MAC.
func TestAnnounceNA(t *testing.T) {
	a, b, m := twoHosts(t)
	seedNeighbor(t, b, vip6.Addr())
	wait := captureFrom(t, b)
	if err := m.Add(at("eth0", vip6)); err != nil {
		t.Fatal(err)
	}
	ll, err := a.LinkLocal()
	if err != nil {
		t.Fatal(err)
	}

	const count = 2
	if err := announce(a, m, "eth0", []netip.Prefix{vip6}, count); err != nil {
		t.Fatal(err)
	}
	nas := wait(lab.NA, a.MAC, count)
	if len(nas) != count {
		t.Errorf("b saw %d neighbour advertisements from a, want %d", len(nas), count)
	}
	for _, e := range nas {
		checkNA(t, e, a.MAC, ll, vip6.Addr())
	}
	waitNeighbor(t, b, vip6.Addr(), a.MAC)

	// Without a link-local address on eth0, the NA comes from the VIP itself.
	link, err := m.h.LinkByName("eth0")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.h.AddrDel(link, &netlink.Addr{IPNet: ipNet(netip.PrefixFrom(ll, 64))}); err != nil {
		t.Fatal(err)
	}
	if err := announce(a, m, "eth0", []netip.Prefix{vip6}, 1); err != nil {
		t.Fatal(err)
	}
	nas = wait(lab.NA, a.MAC, count+1)
	if len(nas) != count+1 {
		t.Fatalf("b saw %d neighbour advertisements from a, want %d", len(nas), count+1)
	}
	checkNA(t, nas[count], a.MAC, vip6.Addr(), vip6.Addr())
}

// checkNA checks a captured NA against RFC 5798 §6.4.2 and RFC 4861 §7.1.2: R=1 S=0 O=1,
// our MAC as target link-layer address, hop limit 255, to all nodes, from src.
func checkNA(t *testing.T, e lab.Event, mac net.HardwareAddr, src, target netip.Addr) {
	t.Helper()
	ip6 := e.Frame[14:]
	gotSrc, _ := netip.AddrFromSlice(ip6[8:24])
	gotDst, _ := netip.AddrFromSlice(ip6[24:40])
	got := []any{e.IP, e.MAC.String(), e.Router, e.Solicited, e.Override, ip6[7], gotSrc, gotDst}
	want := []any{target, mac.String(), true, false, true, byte(255), src, netip.IPv6LinkLocalAllNodes()}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(x, y netip.Addr) bool { return x == y })); diff != "" {
		t.Errorf("NA [target mac R S O hoplimit src dst] (-want +got):\n%s", diff)
	}
}

// The cached sockets follow the interface: deleted and re-created under the same name,
// it gets fresh ones (the old ones are bound to an index that no longer exists). Close
// drops them, and Announce opens them again.
func TestAnnounceRecreatedInterface(t *testing.T) {
	a, _, m := twoHosts(t)
	vips := []netip.Prefix{netip.MustParsePrefix("10.9.0.1/24"), netip.MustParsePrefix("fd09::1/64")}
	veth := func(op string) {
		t.Helper()
		cmd := []string{"ip", "link", "del", "x0"}
		if op == "add" {
			cmd = []string{"sh", "-c", "ip link add x0 type veth peer name x1 && ip link set x0 up && ip link set x1 up"}
		}
		if out, err := a.Command(t.Context(), cmd...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v: %s", cmd, err, out)
		}
		// On x0, an NA has a source even before x0's link-local address comes with its carrier.
		if op == "add" {
			if err := m.Add(at("x0", vips...)); err != nil {
				t.Fatal(err)
			}
		}
	}
	veth("add")
	if err := announce(a, m, "x0", vips, 1); err != nil {
		t.Fatal(err)
	}
	old := m.senders["x0"].index
	veth("del")
	veth("add")
	if err := announce(a, m, "x0", vips, 1); err != nil {
		t.Errorf("Announce on the re-created x0: %v", err)
	}
	if idx := m.senders["x0"].index; idx == old {
		t.Errorf("sockets still for ifindex %d", old)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := announce(a, m, "x0", vips, 1); err != nil {
		t.Errorf("Announce after Close: %v", err)
	}
}

// With Watch, the Manager keeps what it looked up, and forgets an interface the moment netlink
// says it changed: the GARP after a MAC change carries the new MAC, and a renamed interface is no
// longer found by its old name.
func TestWatchKeepsInterfacesFresh(t *testing.T) {
	a, b, m := twoHosts(t)
	watchOn(t, a, m.Watch)
	cached := func(name string) (caching, ok bool) {
		m.mu.Lock()
		defer m.mu.Unlock()
		_, ok = m.links[name]
		return m.links != nil, ok
	}
	waitCached := func(name string, want bool) {
		t.Helper()
		deadline := time.Now().Add(3 * time.Second)
		for {
			caching, ok := cached(name)
			if caching && ok == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s cached: %v (caching %v), want %v", name, ok, caching, want)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}

	waitCached("eth0", false) // subscribed
	if err := m.Add(at("eth0", vip4)); err != nil {
		t.Fatal(err)
	}
	waitCached("eth0", true)
	newMAC, _ := net.ParseMAC("02:00:00:00:00:99")
	labtest.MustIP(t, a, "link", "set", "eth0", "address", newMAC.String())
	waitCached("eth0", false)
	wait := captureFrom(t, b)
	if err := announce(a, m, "eth0", []netip.Prefix{vip4}, 1); err != nil {
		t.Fatal(err)
	}
	if garps := wait(lab.GARP, newMAC, 1); len(garps) != 1 {
		t.Errorf("b saw %d gratuitous ARPs from the new MAC %s, want 1", len(garps), newMAC)
	}

	// Down, as an interface must be to be renamed: the rename is the only message about it.
	// Its creation's own messages are heard first, so only the rename can make it forget x0.
	labtest.MustIP(t, a, "link", "add", "x0", "type", "veth", "peer", "name", "x1")
	time.Sleep(200 * time.Millisecond)
	if err := m.Add(at("x0", netip.MustParsePrefix("10.9.0.1/24"))); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if _, ok := cached("x0"); !ok {
		t.Fatal("x0 forgotten before anything changed")
	}
	labtest.MustIP(t, a, "link", "set", "x0", "name", "y0")
	waitCached("x0", false)
	if err := m.Add(at("x0", netip.MustParsePrefix("10.9.0.2/24"))); !errors.Is(err, ErrNoInterface) {
		t.Errorf("Add on x0 after its rename: %v, want ErrNoInterface", err)
	}
}

// BenchmarkAnnounce measures one burst: 5 gratuitous ARPs and 5 NAs for one VIP each.
func BenchmarkAnnounce(b *testing.B) {
	a := labtest.MustHost(b, labtest.ForTest(b), "a", "10.0.4.20/24")
	m := manager(b, a)
	vips := at("eth0", vip4, vip6)
	err := a.Do(func() error {
		for b.Loop() {
			if err := m.Announce(vips, 5, 0); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
}

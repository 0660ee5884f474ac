package vip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/vrrpd/vrrpd/test/lab"
	"github.com/vrrpd/vrrpd/test/lab/labtest"
)

// WatchAddrs reports an address added to and deleted from an interface, with its prefix length.
func TestWatchAddrs(t *testing.T) {
	type change struct {
		added  bool
		ifname string
		p      netip.Prefix
	}
	got := make(chan change, 16)
	h := watching(t, func(ctx context.Context, ns netns.NsHandle) {
		WatchAddrs(ctx, ns, slog.New(slog.DiscardHandler), AddrEvents{
			Added:   func(ifname string, p netip.Prefix) { got <- change{true, ifname, p} },
			Removed: func(ifname string, p netip.Prefix) { got <- change{false, ifname, p} },
		})
	})
	vip := netip.MustParsePrefix("10.0.4.99/24")
	// The subscription starts in the background: add and delete until both are seen.
	for deadline := time.Now().Add(5 * time.Second); ; {
		labtest.MustIP(t, h, "addr", "add", vip.String(), "dev", "eth0")
		labtest.MustIP(t, h, "addr", "del", vip.String(), "dev", "eth0")
		var seen []change
	collect:
		for {
			select {
			case c := <-got:
				seen = append(seen, c)
			case <-time.After(200 * time.Millisecond):
				break collect
			}
		}
		if len(seen) > 0 {
			// Subscribed in the middle of a pair, it may have heard only the removal.
			want := []change{{true, "eth0", vip}, {false, "eth0", vip}}
			if len(seen) == 1 {
				want = want[1:]
			}
			if len(seen) != len(want) || seen[0] != want[0] || seen[len(seen)-1] != want[len(want)-1] {
				t.Errorf("got %+v, want %+v", seen, want)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no change reported")
		}
	}
}

// A thousand addresses added and removed at once all reach the watcher, or it says it lost some:
// its receive buffer holds them, and were it to overflow, Lost tells the driver to look again.
func TestWatchAddrsThousand(t *testing.T) {
	const n = 1000
	var mu sync.Mutex
	added, removed := map[netip.Prefix]bool{}, map[netip.Prefix]bool{}
	lost := make(chan struct{}, 1)
	subscribed := make(chan struct{}, 1)
	probe := netip.MustParsePrefix("10.255.255.254/32")
	h := watching(t, func(ctx context.Context, ns netns.NsHandle) {
		WatchAddrs(ctx, ns, slog.New(slog.DiscardHandler), AddrEvents{
			Added: func(_ string, p netip.Prefix) {
				mu.Lock()
				defer mu.Unlock()
				if p == probe {
					select {
					case subscribed <- struct{}{}:
					default:
					}
				}
				added[p] = true
			},
			Removed: func(_ string, p netip.Prefix) {
				mu.Lock()
				defer mu.Unlock()
				removed[p] = true
			},
			Lost: func() {
				select {
				case lost <- struct{}{}:
				default:
				}
			},
		})
	})
	m := manager(t, h)
	// Subscribed once a first address is heard of.
	for deadline := time.Now().Add(5 * time.Second); ; {
		labtest.MustIP(t, h, "addr", "replace", probe.String(), "dev", "eth0")
		select {
		case <-subscribed:
		case <-time.After(100 * time.Millisecond):
			if time.Now().After(deadline) {
				t.Fatal("not subscribed")
			}
			continue
		}
		break
	}

	// The kernel announces an IPv6 address only once its duplicate address detection has run,
	// even with nodad (in a workqueue): one removed before that is never announced. So the
	// thousand are removed once their additions are heard.
	addrs := thousand(n)
	heard := func(what string, in map[netip.Prefix]bool) {
		t.Helper()
		all := func() bool {
			mu.Lock()
			defer mu.Unlock()
			for _, a := range addrs {
				if !in[a.Prefix] {
					return false
				}
			}
			return true
		}
		for deadline := time.Now().Add(20 * time.Second); !all(); time.Sleep(20 * time.Millisecond) {
			select {
			case <-lost:
				t.Log("the watch lost events and said so")
				return
			default:
			}
			if time.Now().After(deadline) {
				mu.Lock()
				defer mu.Unlock()
				t.Fatalf("heard %d %s of %d addresses, and no Lost", len(in), what, n)
			}
		}
	}
	if err := m.Add(addrs); err != nil {
		t.Fatal(err)
	}
	heard("additions", added)
	if err := m.Remove(addrs); err != nil {
		t.Fatal(err)
	}
	heard("removals", removed)
}

// thousand returns n addresses on eth0, half IPv4 /32s and half IPv6 /128s.
func thousand(n int) []Addr {
	addrs := make([]Addr, 0, n)
	v4, v6 := netip.MustParseAddr("10.1.0.0"), netip.MustParseAddr("fd00:1::")
	for i := range n {
		if i%2 == 0 {
			v4 = v4.Next()
			addrs = append(addrs, Addr{Prefix: netip.PrefixFrom(v4, 32), Dev: "eth0"})
		} else {
			v6 = v6.Next()
			addrs = append(addrs, Addr{Prefix: netip.PrefixFrom(v6, 128), Dev: "eth0"})
		}
	}
	return addrs
}

// A thousand addresses go on exactly, every one of them with its flags, and come off exactly,
// leaving the host's own.
func TestAddRemoveThousand(t *testing.T) {
	_, _, m := twoHosts(t)
	before := addrs(t, m)
	want := thousand(1000)
	for range 2 { // the second time, every one is already there
		if err := m.Add(want); err != nil {
			t.Fatal(err)
		}
	}
	on := addrs(t, m)
	if len(on) != len(before)+len(want) {
		t.Errorf("%d addresses on eth0, want %d", len(on), len(before)+len(want))
	}
	for _, w := range want {
		flags, ok := on[w.Prefix]
		if !ok {
			t.Errorf("%s missing", w.Prefix)
		}
		if w.Prefix.Addr().Is6() && flags&unix.IFA_F_NODAD == 0 {
			t.Errorf("%s added without IFA_F_NODAD", w.Prefix)
		}
	}
	present, err := m.Present(want)
	if err != nil || len(present) != len(want) {
		t.Errorf("Present: %d of %d, %v", len(present), len(want), err)
	}
	for range 2 { // the second time, none is there any more
		if err := m.Remove(want); err != nil {
			t.Fatal(err)
		}
	}
	after := addrs(t, m)
	for p := range before {
		if _, ok := after[p]; !ok {
			t.Errorf("the host's own %s was removed", p)
		}
	}
	if len(after) != len(before) {
		t.Errorf("%d addresses left on eth0, want the %d from before: %v", len(after), len(before), after)
	}
}

// In a batch, each kernel error is matched to its own request: the one address the kernel
// refuses is named, and those before and after it are added.
func TestAddErrorsMatched(t *testing.T) {
	_, _, m := twoHosts(t)
	first, last := netip.MustParsePrefix("10.0.4.98/24"), netip.MustParsePrefix("fd00:4::98/64")
	multicast := netip.MustParsePrefix("ff05::1/128") // IPv6 refuses a multicast address (EADDRNOTAVAIL)
	batch := at("eth0", first, multicast, last)
	batch = append(batch, Addr{Prefix: vip4, Dev: "eth0", Label: "bad0:x"}, Addr{Prefix: vip6, Dev: "eth0", Scope: "nowhere"},
		Addr{Prefix: vipLL, Dev: "eth0", Label: "eth0:x", Scope: "link"})
	err := m.Add(batch)
	if !errors.Is(err, unix.EADDRNOTAVAIL) {
		t.Errorf("Add: %v, want EADDRNOTAVAIL for %s", err, multicast)
	}
	for _, want := range []string{
		"add ff05::1/128 to eth0: ",
		`add 10.0.4.99/24 to eth0: label "bad0:x": it must start with the interface name eth0`,
		`add fd00:4::99/64 to eth0: unknown scope "nowhere"`,
		`add fe80::99/64 to eth0: label "eth0:x" on an IPv6 address: labels are IPv4 only; scope "link" on an IPv6 address: its scope follows from the address`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Add: %v, want it to say %q", err, want)
		}
	}
	if n := strings.Count(err.Error(), "\n") + 1; n != 4 {
		t.Errorf("Add: %d errors, want 4, one a line:\n%v", n, err)
	}
	on := addrs(t, m)
	for _, p := range []netip.Prefix{first, last} {
		if _, ok := on[p]; !ok {
			t.Errorf("%s not added", p)
		}
	}
}

// Labels and scopes reach the kernel, and its explanation of a refusal comes back.
func TestAddLabelScope(t *testing.T) {
	_, _, m := twoHosts(t)
	// A secondary address must have its primary's scope: vip4's is eth0's own, global.
	err := m.Add([]Addr{{Prefix: vip4, Dev: "eth0", Scope: "link"}})
	if want := "add 10.0.4.99/24 to eth0: invalid argument: ipv4: Invalid scope value"; err == nil || err.Error() != want {
		t.Errorf("Add: %v, want %q", err, want)
	}
	p := netip.MustParsePrefix("10.9.0.1/24")
	labelled := Addr{Prefix: p, Dev: "eth0", Label: "eth0:vip", Scope: "link"}
	if err := m.Add([]Addr{labelled}); err != nil {
		t.Fatal(err)
	}
	link, err := m.h.LinkByName("eth0")
	if err != nil {
		t.Fatal(err)
	}
	list, err := m.h.AddrList(link, netlink.FAMILY_V4)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range list {
		if prefixOf(a.IPNet) == p {
			if a.Label != "eth0:vip" || a.Scope != unix.RT_SCOPE_LINK {
				t.Errorf("%s has label %q and scope %d, want eth0:vip and %d", p, a.Label, a.Scope, unix.RT_SCOPE_LINK)
			}
			return
		}
	}
	t.Errorf("%s not added", p)
}

// When acknowledgements overflow the receive buffer, the batch sends fewer at a time and the
// unanswered again, until every address is in.
func TestBatchOverflow(t *testing.T) {
	a, _, m := twoHosts(t)
	ns, err := netns.GetFromName(a.NS)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	b, err := openBatch(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer b.close()
	// The smallest buffer the kernel allows holds a handful of acknowledgements, not a thousand.
	if err := unix.SetsockoptInt(b.s.GetFd(), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 0); err != nil {
		t.Fatal(err)
	}
	b.max = maxBatch
	link, err := m.h.LinkByName("eth0")
	if err != nil {
		t.Fatal(err)
	}
	want := thousand(1000)
	reqs := make([]request, len(want))
	for i, w := range want {
		reqs[i] = request{typ: unix.RTM_NEWADDR, flags: unix.NLM_F_CREATE | unix.NLM_F_REPLACE, body: addrMsg(link.Attrs().Index, w)}
	}
	for i, err := range b.exec(reqs) {
		if err != nil {
			t.Errorf("%s: %v", want[i].Prefix, err)
		}
	}
	if b.max == maxBatch {
		t.Errorf("batch size still %d: no overflow happened", b.max)
	}
	present, err := m.Present(want)
	if err != nil || len(present) != len(want) {
		t.Errorf("Present: %d of %d, %v", len(present), len(want), err)
	}
}

// BenchmarkAddRemoveThousand adds 1000 addresses and removes them again: IPv4 /32s, and half
// IPv4 and half IPv6 /128s.
func BenchmarkAddRemoveThousand(b *testing.B) {
	for _, kind := range []string{"ipv4", "mixed"} {
		b.Run(kind, func(b *testing.B) {
			m := manager(b, labtest.MustHost(b, labtest.ForTest(b), "a", "10.0.4.20/24"))
			addrs := thousand(1000)
			if kind == "ipv4" {
				v4 := netip.MustParseAddr("10.2.0.0")
				for i := range addrs {
					v4 = v4.Next()
					addrs[i].Prefix = netip.PrefixFrom(v4, 32)
				}
			}
			b.Run("add", func(b *testing.B) {
				for b.Loop() {
					b.StopTimer()
					if err := m.Remove(addrs); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
					if err := m.Add(addrs); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("remove", func(b *testing.B) {
				for b.Loop() {
					b.StopTimer()
					if err := m.Add(addrs); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
					if err := m.Remove(addrs); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

// watching gives a host on a fresh LAN, and runs watch on its namespace until the test ends.
func watching(t *testing.T, watch func(ctx context.Context, ns netns.NsHandle)) *lab.Host {
	t.Helper()
	h := labtest.MustHost(t, labtest.ForTest(t), "a", "10.0.4.20/24")
	watchOn(t, h, watch)
	return h
}

// watchOn runs watch on h's namespace until the test ends.
func watchOn(t *testing.T, h *lab.Host, watch func(ctx context.Context, ns netns.NsHandle)) {
	t.Helper()
	ns, err := netns.GetFromName(h.NS)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		watch(ctx, ns)
	}()
	t.Cleanup(func() { cancel(); <-done; ns.Close() })
}

// BenchmarkTakeOverThousand adds a thousand IPv4 VIPs and announces each once, as a new master
// does: all at once, or 64 at a time, each chunk announced as soon as it is on.
func BenchmarkTakeOverThousand(b *testing.B) {
	h := labtest.MustHost(b, labtest.ForTest(b), "a", "10.0.4.20/24")
	m := manager(b, h)
	addrs := thousand(1000)
	v4 := netip.MustParseAddr("10.2.0.0")
	for i := range addrs {
		v4 = v4.Next()
		addrs[i].Prefix = netip.PrefixFrom(v4, 32)
	}
	for _, chunk := range []int{1000, 64} {
		b.Run(fmt.Sprint(chunk), func(b *testing.B) {
			for b.Loop() {
				b.StopTimer()
				if err := m.Remove(addrs); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				err := h.Do(func() error {
					for c := range slices.Chunk(addrs, chunk) {
						if err := m.Add(c); err != nil {
							return err
						}
						if err := m.Announce(c, 1, 0); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("announce", func(b *testing.B) {
		for b.Loop() {
			if err := h.Do(func() error { return m.Announce(addrs, 1, 0) }); err != nil {
				b.Fatal(err)
			}
		}
	})
}

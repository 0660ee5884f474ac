package vip

import (
	"net"
	"net/netip"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/vrrpd/vrrpd/test/lab"
	"github.com/vrrpd/vrrpd/test/lab/labtest"
)

// announcements captures what h hears and returns a function that waits until the
// announcements from src number at least n, then a little longer to catch extra ones, and
// returns them: GARPs and NAs, in the order heard. With n = 0 it returns those heard so far.
func announcements(t *testing.T, h *lab.Host) func(src net.HardwareAddr, n int) []lab.Event {
	t.Helper()
	c, err := lab.StartCapture(h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	from := func(events []lab.Event, src net.HardwareAddr) []lab.Event {
		var out []lab.Event
		for _, e := range events {
			if (e.Kind == lab.GARP || e.Kind == lab.NA) && e.Src.String() == src.String() {
				out = append(out, e)
			}
		}
		return out
	}
	return func(src net.HardwareAddr, n int) []lab.Event {
		t.Helper()
		if n == 0 {
			return from(c.Events(), src)
		}
		if _, err := c.Wait(10*time.Second, func(events []lab.Event) bool { return len(from(events, src)) >= n }); err != nil {
			t.Errorf("%s: waiting for %d announcements from %s: %v", h.Name, n, src, err)
		}
		time.Sleep(300 * time.Millisecond)
		return from(c.Events(), src)
	}
}

// ips is the announced address of each event.
func ips(events []lab.Event) []netip.Addr {
	out := make([]netip.Addr, len(events))
	for i, e := range events {
		out[i] = e.IP
	}
	return out
}

// Paced announcements (keepalived's garp_interval): the first goes out before Announce
// returns and the rest are pending, then they come one per interval, a round of every address
// at a time, IPv4 and IPv6 alike.
func TestAnnouncePaced(t *testing.T) {
	labtest.LeakCheck(t) // the pacing goroutine ends once all is sent
	a, b, m := twoHosts(t)
	x, y := netip.MustParsePrefix("10.0.4.97/24"), netip.MustParsePrefix("10.0.4.98/24")
	addrs := at("eth0", x, y, vip6)
	if err := m.Add(addrs); err != nil {
		t.Fatal(err)
	}
	wait := announcements(t, b)
	const every = 200 * time.Millisecond
	if err := a.Do(func() error { return m.Announce(addrs, 2, every) }); err != nil {
		t.Fatal(err)
	}
	m.mu.Lock()
	pending := map[netip.Addr]int{}
	for k, p := range m.paced {
		pending[k.ip] = p.left
	}
	m.mu.Unlock()
	// Unless this test stalled for two intervals, nothing but x's first packet is out yet.
	if want := map[netip.Addr]int{x.Addr(): 1, y.Addr(): 2, vip6.Addr(): 2}; !maps(pending, want) {
		t.Errorf("pending after Announce returned: %v, want %v", pending, want)
	}

	got := wait(a.MAC, 6)
	want := []netip.Addr{x.Addr(), y.Addr(), vip6.Addr(), x.Addr(), y.Addr(), vip6.Addr()}
	if !slices.Equal(ips(got), want) {
		t.Errorf("announced %v, want %v", ips(got), want)
	}
	for i := 1; i < len(got); i++ {
		if gap := got[i].Time.Sub(got[i-1].Time); gap < every/2 {
			t.Errorf("announcement %d came %s after the one before, want about %s", i, gap, every)
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.paced) != 0 {
		t.Errorf("still pending after all were sent: %v", m.paced)
	}
}

// Unpaced, the packets go at once in rounds: every address's first, then every address's second.
func TestAnnounceRounds(t *testing.T) {
	a, b, m := twoHosts(t)
	x, y := netip.MustParsePrefix("10.0.4.97/24"), netip.MustParsePrefix("10.0.4.98/24")
	addrs := at("eth0", x, y, vip6)
	if err := m.Add(addrs); err != nil {
		t.Fatal(err)
	}
	wait := announcements(t, b)
	if err := a.Do(func() error { return m.Announce(addrs, 2, 0) }); err != nil {
		t.Fatal(err)
	}
	got := wait(a.MAC, 6)
	want := []netip.Addr{x.Addr(), y.Addr(), vip6.Addr(), x.Addr(), y.Addr(), vip6.Addr()}
	if !slices.Equal(ips(got), want) {
		t.Errorf("announced %v, want %v", ips(got), want)
	}
}

func maps[K comparable, V comparable](a, b map[K]V) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// A Remove cancels an address's pending announcements, a new Announce replaces them, and Close
// stops the rest and waits for its goroutines.
func TestAnnouncePacedCancelled(t *testing.T) {
	labtest.LeakCheck(t)
	a, b, m := twoHosts(t)
	x, y, z := netip.MustParsePrefix("10.0.4.97/24"), netip.MustParsePrefix("10.0.4.98/24"), netip.MustParsePrefix("10.0.4.99/24")
	if err := m.Add(at("eth0", x, y, z)); err != nil {
		t.Fatal(err)
	}
	wait := announcements(t, b)
	const every = 100 * time.Millisecond
	err := a.Do(func() error {
		if err := m.Announce(at("eth0", x, y, z), 3, every); err != nil {
			return err
		}
		if err := m.Remove(at("eth0", y)); err != nil { // before its first packet, an interval away
			return err
		}
		return m.Announce(at("eth0", x), 1, 0) // x once more, now, and no more after
	})
	if err != nil {
		t.Fatal(err)
	}
	count := func(events []lab.Event) map[netip.Addr]int {
		n := map[netip.Addr]int{}
		for _, e := range events {
			n[e.IP]++
		}
		return n
	}
	if got, want := count(wait(a.MAC, 5)), map[netip.Addr]int{x.Addr(): 2, z.Addr(): 3}; !maps(got, want) {
		t.Errorf("announced %v, want %v", got, want)
	}

	before := runtime.NumGoroutine()
	if err := a.Do(func() error { return m.Announce(at("eth0", z), 5, time.Second) }); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if n := runtime.NumGoroutine(); n != before {
		t.Errorf("%d goroutines after Close, %d before Announce: Close did not wait for its pacer", n, before)
	}
	time.Sleep(1500 * time.Millisecond) // past the next packet Close stopped
	if got := count(wait(a.MAC, 0))[z.Addr()]; got != 4 {
		t.Errorf("%s announced %d times, want 4: 3, and 1 before Close", z.Addr(), got)
	}
}

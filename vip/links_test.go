package vip

import (
	"context"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/vishvananda/netns"

	"github.com/vrrpd/vrrpd/test/lab/labtest"
)

// WatchLinks reports the initial state of each interface, then every change, from netlink: a
// missing interface, admin down, no carrier, up, deleted, and re-created with a new index.
func TestWatchLinks(t *testing.T) {
	got := make(chan Link, 16)
	h := watching(t, func(ctx context.Context, ns netns.NsHandle) {
		WatchLinks(ctx, ns, []string{"eth0", "trk0"}, slog.New(slog.DiscardHandler), func(s Link) { got <- s })
	})
	ip := func(args ...string) { t.Helper(); labtest.MustIP(t, h, args...) }

	// next waits for name's next report, which must be up/why; allowed lists states that may
	// come first, as the kernel passes through them.
	next := func(name string, up bool, why string, allowed ...string) Link {
		t.Helper()
		for {
			select {
			case s := <-got:
				if s.Name != name || slices.Contains(allowed, s.Why) {
					continue
				}
				if s.Up != up || s.Why != why {
					t.Fatalf("%s: got %+v, want up=%v why=%q", name, s, up, why)
				}
				return s
			case <-time.After(5 * time.Second):
				t.Fatalf("%s: no report of up=%v %q", name, up, why)
			}
		}
	}
	next("eth0", true, "")
	next("trk0", false, "interface trk0 does not exist")

	ip("link", "add", "trk0", "type", "veth", "peer", "name", "trk1")
	first := next("trk0", false, "interface trk0 is administratively down")
	ip("link", "set", "trk0", "up")
	next("trk0", false, "interface trk0 has no carrier") // its peer is down
	ip("link", "set", "trk1", "up")
	next("trk0", true, "")
	ip("link", "set", "trk1", "down")
	next("trk0", false, "interface trk0 has no carrier")
	ip("link", "del", "trk0")
	next("trk0", false, "interface trk0 was deleted", "interface trk0 is administratively down")
	ip("link", "add", "trk0", "type", "veth", "peer", "name", "trk1")
	ip("link", "set", "trk0", "up")
	ip("link", "set", "trk1", "up")
	again := next("trk0", true, "", "interface trk0 is administratively down", "interface trk0 has no carrier")
	if again.Index == first.Index || again.Index == 0 {
		t.Errorf("re-created trk0 has index %d, first was %d", again.Index, first.Index)
	}
}

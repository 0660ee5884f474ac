package vip

import (
	"context"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/vishvananda/netns"

	"github.com/vrrpd/vrrpd/test/lab"
	"github.com/vrrpd/vrrpd/test/lab/labtest"
)

// WatchRemovals reports an address deleted from an interface, with its prefix length.
func TestWatchRemovals(t *testing.T) {
	type removal struct {
		ifname string
		p      netip.Prefix
	}
	got := make(chan removal, 16)
	h := watching(t, func(ctx context.Context, ns netns.NsHandle) {
		WatchRemovals(ctx, ns, slog.New(slog.DiscardHandler), func(ifname string, p netip.Prefix) { got <- removal{ifname, p} })
	})
	// The subscription starts in the background: add and delete until a removal is seen.
	for deadline := time.Now().Add(5 * time.Second); ; {
		for _, args := range [][]string{{"addr", "add", "10.0.4.99/24", "dev", "eth0"}, {"addr", "del", "10.0.4.99/24", "dev", "eth0"}} {
			labtest.MustIP(t, h, args...)
		}
		select {
		case r := <-got:
			if want := (removal{"eth0", netip.MustParsePrefix("10.0.4.99/24")}); r != want {
				t.Errorf("got %+v, want %+v", r, want)
			}
			return
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("no removal reported")
		}
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

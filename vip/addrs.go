package vip

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// WatchRemovals calls removed for every address deleted from an interface, from netlink address
// messages (RTM_DELADDR), until ctx is done. ns is the network namespace to watch; netns.None()
// means the current one.
func WatchRemovals(ctx context.Context, ns netns.NsHandle, log *slog.Logger, removed func(ifname string, p netip.Prefix)) {
	keepWatching(ctx, log, "address", func(sub *subscription) error { return watchRemovals(ctx, ns, sub, removed) })
}

func watchRemovals(ctx context.Context, ns netns.NsHandle, sub *subscription, removed func(string, netip.Prefix)) error {
	updates := make(chan netlink.AddrUpdate, 256)
	opts := netlink.AddrSubscribeOptions{ErrorCallback: sub.onError}
	if ns.IsOpen() {
		opts.Namespace = &ns
	}
	if err := netlink.AddrSubscribeWithOptions(updates, sub.done, opts); err != nil {
		return fmt.Errorf("subscribe to address updates: %w", err)
	}
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return err
	}
	defer h.Close()
	return each(ctx, sub, updates, func(u netlink.AddrUpdate) {
		if u.NewAddr {
			return
		}
		p := prefixOf(&u.LinkAddress)
		if !p.IsValid() {
			return
		}
		l, err := h.LinkByIndex(u.LinkIndex)
		if err != nil {
			return // the interface went with it: link tracking handles that
		}
		removed(l.Attrs().Name, p)
	})
}

package vip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Link is an interface's state as VRRP cares about it.
type Link struct {
	Name  string
	Index int    // the interface's index; 0 if it does not exist
	Up    bool   // it exists, is administratively up and has a carrier
	Why   string // what is wrong when it is not up, e.g. "interface eth0 has no carrier"
}

func linkOf(name string, l netlink.Link) Link {
	if l == nil {
		return Link{Name: name, Why: fmt.Sprintf("interface %s does not exist", name)}
	}
	a := l.Attrs()
	s := Link{Name: name, Index: a.Index}
	switch {
	case a.Flags&net.FlagUp == 0:
		s.Why = fmt.Sprintf("interface %s is administratively down", name)
	case a.RawFlags&unix.IFF_LOWER_UP == 0:
		s.Why = fmt.Sprintf("interface %s has no carrier", name)
	default:
		s.Up = true
	}
	return s
}

// WatchLinks reports the state of each named interface, then again whenever it changes, until
// ctx is done. It learns changes from netlink link messages, not by polling. An interface that
// does not exist is down until it appears; a deleted and re-created one comes back with a new
// Index. ns is the network namespace to watch; netns.None() means the current one.
func WatchLinks(ctx context.Context, ns netns.NsHandle, names []string, log *slog.Logger, report func(Link)) {
	last := map[string]Link{}
	send := func(s Link) {
		if old, ok := last[s.Name]; !ok || old != s {
			last[s.Name] = s
			report(s)
		}
	}
	keepWatching(ctx, log, "link", func(sub *subscription) error { return watchLinks(ctx, ns, names, sub, send) })
}

// subscription is the plumbing of one netlink subscription: what ends it, and its errors.
type subscription struct {
	done  chan struct{}
	errs  chan error
	again bool // an earlier subscription failed: what it would have heard may be lost
}

func (s *subscription) onError(err error) {
	select {
	case s.errs <- err:
	default:
	}
}

// keepWatching runs watch until ctx is done, and again after a failure: the kernel drops
// messages when a subscriber falls behind, so a new subscription re-reads every state
// (WatchLinks) or says that changes may have been lost (WatchAddrs).
func keepWatching(ctx context.Context, log *slog.Logger, what string, watch func(*subscription) error) {
	for again := false; ctx.Err() == nil; again = true {
		sub := &subscription{done: make(chan struct{}), errs: make(chan error, 1), again: again}
		err := watch(sub)
		close(sub.done)
		if ctx.Err() != nil {
			return
		}
		log.Warn(what+" watch restarting", "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// linkUpdates subscribes to the link messages of ns for as long as sub lasts.
func linkUpdates(ns netns.NsHandle, sub *subscription) (<-chan netlink.LinkUpdate, error) {
	updates := make(chan netlink.LinkUpdate, 256)
	opts := netlink.LinkSubscribeOptions{ErrorCallback: sub.onError}
	if ns.IsOpen() {
		opts.Namespace = &ns
	}
	if err := netlink.LinkSubscribeWithOptions(updates, sub.done, opts); err != nil {
		return nil, fmt.Errorf("subscribe to link updates: %w", err)
	}
	return updates, nil
}

// each hands every update to handle until ctx is done (nil) or the subscription fails.
func each[U any](ctx context.Context, sub *subscription, updates <-chan U, handle func(U)) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-sub.errs:
			return err
		case u, ok := <-updates:
			if !ok {
				return errors.New("netlink updates closed")
			}
			handle(u)
		}
	}
}

func watchLinks(ctx context.Context, ns netns.NsHandle, names []string, sub *subscription, send func(Link)) error {
	// Subscribe before reading the current states, so no change falls in between.
	updates, err := linkUpdates(ns, sub)
	if err != nil {
		return err
	}
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return err
	}
	defer h.Close()
	for _, name := range names {
		l, err := h.LinkByName(name)
		var notFound netlink.LinkNotFoundError
		if err != nil && !errors.As(err, &notFound) {
			return fmt.Errorf("read link %s: %w", name, err)
		}
		send(linkOf(name, l))
	}
	tracked := map[string]bool{}
	for _, n := range names {
		tracked[n] = true
	}
	return each(ctx, sub, updates, func(u netlink.LinkUpdate) {
		switch name := u.Link.Attrs().Name; {
		case !tracked[name]:
		case u.Header.Type == unix.RTM_DELLINK:
			send(Link{Name: name, Why: fmt.Sprintf("interface %s was deleted", name)})
		default:
			send(linkOf(name, u.Link))
		}
	})
}

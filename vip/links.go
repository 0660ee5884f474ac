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
	for ctx.Err() == nil {
		err := watchLinks(ctx, ns, names, send)
		if ctx.Err() != nil {
			return
		}
		// The subscription broke (e.g. the kernel dropped messages): subscribe again and
		// re-read every state, so no change is lost.
		log.Warn("link watch restarting", "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func watchLinks(ctx context.Context, ns netns.NsHandle, names []string, send func(Link)) error {
	updates := make(chan netlink.LinkUpdate, 256)
	done := make(chan struct{})
	defer close(done)
	errc := make(chan error, 1)
	opts := netlink.LinkSubscribeOptions{ErrorCallback: func(err error) {
		select {
		case errc <- err:
		default:
		}
	}}
	if ns.IsOpen() {
		opts.Namespace = &ns
	}
	// Subscribe before reading the current states, so no change falls in between.
	if err := netlink.LinkSubscribeWithOptions(updates, done, opts); err != nil {
		return fmt.Errorf("subscribe to link updates: %w", err)
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
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-errc:
			return err
		case u, ok := <-updates:
			if !ok {
				return errors.New("link updates closed")
			}
			name := u.Link.Attrs().Name
			if !tracked[name] {
				continue
			}
			if u.Header.Type == unix.RTM_DELLINK {
				send(Link{Name: name, Why: fmt.Sprintf("interface %s was deleted", name)})
				continue
			}
			send(linkOf(name, u.Link))
		}
	}
}

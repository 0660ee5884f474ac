// Package vip puts virtual IP addresses on interfaces, takes them off again, and tells
// the LAN where they now live: gratuitous ARP for IPv4, unsolicited neighbour
// advertisements for IPv6 (RFC 5798 §6.4.1, §6.4.2; RFC 9568 §6.4.1, §6.4.2). It also
// probes for other hosts holding them, creates the RFC's virtual MAC interfaces, and adds
// the routes and rules that follow a VIP.
//
// Two namespaces matter, and the caller makes them agree:
//   - Addresses, routes, rules and interfaces change through netlink in the Manager's
//     namespace: its netlink handle, and a socket NewAt opens in the namespace it is given.
//   - Announcement and probe sockets, and the sysctls written through /proc/sys, belong to the
//     network namespace of the calling thread, which must be the Manager's: the daemon's
//     process namespace, or in a test a thread switched into the handle's namespace.
package vip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

var (
	// ErrNoInterface means the named interface does not exist.
	ErrNoInterface = errors.New("no such interface")
	// ErrNotEthernet means the interface has no 6-byte hardware address to announce.
	ErrNotEthernet = errors.New("not an Ethernet interface")
)

// Manager adds, removes and announces VIPs. Its methods are safe for concurrent use.
type Manager struct {
	h   *netlink.Handle
	ns  netns.NsHandle // h's namespace, where the batch socket is opened
	log *slog.Logger

	mu      sync.Mutex
	batch   *batch                  // opened on first use
	senders map[string]*sender      // by interface name
	links   map[string]netlink.Link // by name, looked up since the last change; nil unless Watch is subscribed
	paced   map[pacedKey]*paced     // the announcements still to send, by address
	pacers  *sync.WaitGroup         // the goroutines sending them
	stop    chan struct{}           // closed by Close to stop them
	bases   map[string]*baseARP     // the interfaces under our VMACs, by name
}

// New returns a Manager that changes addresses through h, a handle in the current
// namespace (as netlink.NewHandle returns).
func New(h *netlink.Handle, log *slog.Logger) *Manager { return NewAt(netns.None(), h, log) }

// NewAt returns a Manager that changes addresses through h, a handle bound to ns (as
// netlink.NewHandleAt(ns) returns). netns.None() means the current namespace. The caller keeps
// ns open while the Manager is in use.
func NewAt(ns netns.NsHandle, h *netlink.Handle, log *slog.Logger) *Manager {
	return &Manager{
		h: h, ns: ns, log: log, senders: map[string]*sender{}, paced: map[pacedKey]*paced{},
		pacers: new(sync.WaitGroup), stop: make(chan struct{}), bases: map[string]*baseARP{},
	}
}

// Close stops the paced announcements still pending, waits for them, and closes the sockets.
// The Manager can still be used: they are opened again when needed.
func (m *Manager) Close() error {
	m.mu.Lock()
	close(m.stop)
	pacers := m.pacers
	m.stop, m.pacers = make(chan struct{}), new(sync.WaitGroup)
	clear(m.paced)
	m.mu.Unlock()
	pacers.Wait()

	m.mu.Lock()
	defer m.mu.Unlock()
	var errs []error
	for name, s := range m.senders {
		errs = append(errs, s.close())
		delete(m.senders, name)
	}
	if m.batch != nil {
		m.batch.close()
		m.batch = nil
	}
	return errors.Join(errs...)
}

// link looks the interface up, or takes it from the links Watch keeps. m.mu must be held: Watch
// forgets a changed interface under it, so a lookup cannot store what a change it has not yet
// heard of made stale.
func (m *Manager) link(ifname string) (netlink.Link, error) {
	if l, ok := m.links[ifname]; ok {
		return l, nil
	}
	link, err := m.h.LinkByName(ifname)
	if err != nil {
		return nil, notFound(ifname, err)
	}
	if m.links != nil {
		m.links[ifname] = link
	}
	return link, nil
}

// linksOf looks up each interface that addrs name, once: the found ones by name, and an error
// for each missing one. m.mu must be held.
func (m *Manager) linksOf(addrs []Addr) (map[string]netlink.Link, error) {
	found := map[string]netlink.Link{}
	missing := map[string]bool{}
	var errs []error
	for _, a := range addrs {
		if _, ok := found[a.Dev]; ok || missing[a.Dev] {
			continue
		}
		l, err := m.link(a.Dev)
		if err != nil {
			errs = append(errs, err)
			missing[a.Dev] = true
			continue
		}
		found[a.Dev] = l
	}
	return found, errors.Join(errs...)
}

// Watch lets the Manager keep the interfaces it has looked up, until ctx is done, instead of
// asking netlink again for each call, which would cost a round trip before each GARP burst and
// garbage at every one. It listens to netlink link messages in ns (netns.None() for the current
// namespace, which must be the handle's) and forgets an interface as soon as a message says it
// changed: deleted, renamed, a new MAC address, anything. While it is not subscribed, every
// call looks its interface up, as without Watch.
func (m *Manager) Watch(ctx context.Context, ns netns.NsHandle) {
	keepWatching(ctx, m.log, "interface cache", func(sub *subscription) error {
		updates, err := linkUpdates(ns, sub)
		if err != nil {
			return err
		}
		// Subscribed: from here on every change is heard, so what is looked up stays fresh.
		m.cacheLinks(map[string]netlink.Link{})
		defer m.cacheLinks(nil)
		return each(ctx, sub, updates, func(u netlink.LinkUpdate) { m.forget(u.Attrs().Index, u.Attrs().Name) })
	})
}

func (m *Manager) cacheLinks(links map[string]netlink.Link) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.links = links
}

// forget drops the interface a link message is about: by its index, which a rename keeps, and by
// its name, which a new interface may take.
func (m *Manager) forget(index int, name string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.forgetLocked(index, name)
}

func (m *Manager) forgetLocked(index int, name string) {
	for n, l := range m.links {
		if n == name || l.Attrs().Index == index {
			delete(m.links, n)
		}
	}
}

// notFound turns netlink's LinkNotFoundError into ErrNoInterface.
func notFound(name string, err error) error {
	if errors.As(err, new(netlink.LinkNotFoundError)) {
		return fmt.Errorf("%w: %s", ErrNoInterface, name)
	}
	return fmt.Errorf("interface %s: %w", name, err)
}

// prefixOf is n as a netip.Prefix; the zero Prefix if n's address is invalid.
func prefixOf(n *net.IPNet) netip.Prefix {
	ip, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}
	}
	ones, _ := n.Mask.Size()
	return netip.PrefixFrom(ip.Unmap(), ones)
}

// ipNet is p as a *net.IPNet; nil for the zero Prefix.
func ipNet(p netip.Prefix) *net.IPNet {
	if !p.IsValid() {
		return nil
	}
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

package vip

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Addr is a VIP on an interface.
type Addr struct {
	Prefix netip.Prefix // the address with its prefix length: 10.0.4.99/24 adds 10.0.4.99/24
	Dev    string       // the interface it goes on
	Label  string       // IFA_LABEL ("eth0:vip"), IPv4 only: it must start with Dev; "" for none
	Scope  string       // "" or "global", "site", "link", "host"; IPv4 only beyond "global"
}

func (a Addr) String() string { return a.Prefix.String() + " on " + a.Dev }

// scopes are the address scopes by name (rtnetlink's RT_SCOPE_*).
var scopes = map[string]uint8{
	"": unix.RT_SCOPE_UNIVERSE, "global": unix.RT_SCOPE_UNIVERSE, "site": unix.RT_SCOPE_SITE,
	"link": unix.RT_SCOPE_LINK, "host": unix.RT_SCOPE_HOST,
}

// check says what is wrong with a, if anything, before the kernel is asked: every problem, on
// one line.
func (a Addr) check() error {
	var problems []string
	if !a.Prefix.IsValid() {
		problems = append(problems, "invalid address")
	}
	if _, ok := scopes[a.Scope]; !ok {
		problems = append(problems, fmt.Sprintf("unknown scope %q (want global, site, link or host)", a.Scope))
	}
	switch {
	case a.Prefix.Addr().Is6() && a.Label != "":
		problems = append(problems, fmt.Sprintf("label %q on an IPv6 address: labels are IPv4 only", a.Label))
	case a.Label != "" && (!strings.HasPrefix(a.Label, a.Dev) || len(a.Label) >= unix.IFNAMSIZ):
		problems = append(problems, fmt.Sprintf("label %q: it must start with the interface name %s and be at most %d bytes", a.Label, a.Dev, unix.IFNAMSIZ-1))
	}
	if a.Prefix.Addr().Is6() && scopes[a.Scope] != unix.RT_SCOPE_UNIVERSE {
		problems = append(problems, fmt.Sprintf("scope %q on an IPv6 address: its scope follows from the address", a.Scope))
	}
	return oneLine(problems)
}

// oneLine is the problems of one thing as one error on one line ("a; b"), so that the errors of
// a list of things read one line per thing; nil if there are none.
func oneLine(problems []string) error {
	if len(problems) == 0 {
		return nil
	}
	return errors.New(strings.Join(problems, "; "))
}

// Add puts every address on its interface, in one batch of netlink requests. Adding an address
// that is already there is not an error. IPv6 addresses skip duplicate address detection, so
// they are usable at once. Every address that can be added is, and the error names each that
// could not.
func (m *Manager) Add(addrs []Addr) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	links, err := m.linksOf(addrs)
	return errors.Join(err, m.change(links, addrs, unix.RTM_NEWADDR, unix.NLM_F_CREATE|unix.NLM_F_REPLACE, "add", "to", 0))
}

// Remove takes every address off its interface, in one batch of netlink requests, and cancels
// the announcements of it still pending. An address that is not there, or an interface that no
// longer exists, is not an error.
func (m *Manager) Remove(addrs []Addr) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, a := range addrs {
		delete(m.paced, pacedKey{a.Dev, a.Prefix.Addr()})
	}
	links, _ := m.linksOf(addrs) // a missing interface took its addresses with it
	// The kernel answers EADDRNOTAVAIL for an address that is not on the interface.
	return m.change(links, addrs, unix.RTM_DELADDR, 0, "remove", "from", unix.EADDRNOTAVAIL)
}

// change sends a request of that type and flags for each of addrs on an interface of links, in
// one batch, and names each address that is not valid or that the kernel refuses with another
// error than ignore ("add 10.0.4.99/24 to eth0: ..."). m.mu must be held.
func (m *Manager) change(links map[string]netlink.Link, addrs []Addr, typ, flags uint16, verb, prep string, ignore unix.Errno) error {
	var errs []error
	var reqs []request
	var sent []Addr
	for _, a := range addrs {
		l, ok := links[a.Dev]
		if !ok {
			continue
		}
		if err := a.check(); err != nil {
			errs = append(errs, fmt.Errorf("%s %s %s %s: %w", verb, a.Prefix, prep, a.Dev, err))
			continue
		}
		reqs = append(reqs, request{typ: typ, flags: flags, body: addrMsg(l.Attrs().Index, a)})
		sent = append(sent, a)
	}
	results, err := m.exec(reqs)
	if err != nil {
		return errors.Join(append(errs, fmt.Errorf("%s %d addresses: %w", verb, len(reqs), err))...)
	}
	for i, err := range results {
		if err != nil && (ignore == 0 || !errors.Is(err, ignore)) {
			errs = append(errs, fmt.Errorf("%s %s %s %s: %w", verb, sent[i].Prefix, prep, sent[i].Dev, err))
		}
	}
	m.log.Debug("vips changed", "op", verb, "vips", len(addrs), "failed", len(errs))
	return errors.Join(errs...)
}

// exec runs requests on the batch socket, opening it first if needed. m.mu must be held.
func (m *Manager) exec(reqs []request) ([]error, error) {
	if len(reqs) == 0 {
		return nil, nil
	}
	if m.batch == nil {
		b, err := openBatch(m.ns)
		if err != nil {
			return nil, err
		}
		m.batch = b
	}
	return m.batch.exec(reqs), nil
}

// addrMsg is the body of an RTM_NEWADDR or RTM_DELADDR request for a on the interface with
// that index, as iproute2 and vishvananda/netlink write it (a must be valid):
//
//	ifaddrmsg      family, prefix length, flags (IFA_F_NODAD for IPv6), scope, interface index
//	IFA_LOCAL      the address
//	IFA_ADDRESS    the address again (no peer)
//	IFA_BROADCAST  IPv4 up to /30: the subnet's broadcast address
//	IFA_LABEL      IPv4, if a has one: NUL-terminated
func addrMsg(index int, a Addr) []byte {
	ip := a.Prefix.Addr()
	raw := ip.AsSlice()
	msg := make([]byte, unix.SizeofIfAddrmsg, 64)
	msg[0], msg[1], msg[3] = unix.AF_INET, uint8(a.Prefix.Bits()), scopes[a.Scope]
	if ip.Is6() {
		msg[0], msg[2] = unix.AF_INET6, unix.IFA_F_NODAD
	}
	binary.NativeEndian.PutUint32(msg[4:], uint32(index))
	msg = appendAttr(msg, unix.IFA_LOCAL, raw)
	msg = appendAttr(msg, unix.IFA_ADDRESS, raw)
	if ip.Is4() && a.Prefix.Bits() < 31 {
		brd := binary.BigEndian.Uint32(raw) | ^uint32(0)>>a.Prefix.Bits()
		msg = appendAttr(msg, unix.IFA_BROADCAST, binary.BigEndian.AppendUint32(nil, brd))
	}
	if a.Label != "" {
		msg = appendAttr(msg, unix.IFA_LABEL, append([]byte(a.Label), 0))
	}
	return msg
}

// Present returns those of addrs that are on their interface now, with the same prefix length,
// in the order given. Label and scope are not compared. The error names each interface that does
// not exist; the addresses on the others are still returned.
func (m *Manager) Present(addrs []Addr) ([]Addr, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	links, lerr := m.linksOf(addrs)
	if len(links) == 0 {
		return nil, lerr
	}
	list, err := m.h.AddrList(nil, netlink.FAMILY_ALL)
	if err != nil {
		return nil, errors.Join(lerr, fmt.Errorf("list addresses: %w", err))
	}
	type onLink struct {
		index int
		p     netip.Prefix
	}
	on := make(map[onLink]bool, len(list))
	for _, a := range list {
		on[onLink{a.LinkIndex, prefixOf(a.IPNet)}] = true
	}
	var present []Addr
	for _, a := range addrs {
		if l, ok := links[a.Dev]; ok && on[onLink{l.Attrs().Index, a.Prefix}] {
			present = append(present, a)
		}
	}
	return present, lerr
}

// AddrEvents are what WatchAddrs reports.
type AddrEvents struct {
	Added, Removed func(ifname string, p netip.Prefix) // nil: not wanted
	Lost           func()                              // events may have been missed: re-read what matters
}

// addrBuffer is the receive buffer of the address subscription: enough for the messages of a
// thousand addresses added and removed at once, each counted at its buffer's true size.
const addrBuffer = 4 << 20

// WatchAddrs reports every address added to or deleted from an interface, from netlink address
// messages (RTM_NEWADDR, RTM_DELADDR), until ctx is done. ns is the network namespace to watch;
// netns.None() means the current one. If the kernel drops messages all the same, the
// subscription is made again and Lost is called once it is.
func WatchAddrs(ctx context.Context, ns netns.NsHandle, log *slog.Logger, ev AddrEvents) {
	keepWatching(ctx, log, "address", func(sub *subscription) error { return watchAddrs(ctx, ns, sub, ev) })
}

func watchAddrs(ctx context.Context, ns netns.NsHandle, sub *subscription, ev AddrEvents) error {
	updates := make(chan netlink.AddrUpdate, 256)
	opts := netlink.AddrSubscribeOptions{ErrorCallback: sub.onError, ReceiveBufferSize: addrBuffer, ReceiveBufferForceSize: true}
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
	if sub.again && ev.Lost != nil {
		ev.Lost()
	}
	names := linkNames{h: h}
	return each(ctx, sub, updates, func(u netlink.AddrUpdate) {
		report := ev.Removed
		if u.NewAddr {
			report = ev.Added
		}
		p := prefixOf(&u.LinkAddress)
		if report == nil || !p.IsValid() {
			return
		}
		if name, ok := names.of(u.LinkIndex); ok {
			report(name, p)
		}
	})
}

// linkNamesFor is how long linkNames trusts a name it looked up: a new master's thousand VIPs
// arrive as a thousand messages within milliseconds, which must not cost a thousand link
// lookups (each a netlink round trip, and garbage), while a renamed interface is seen soon.
const linkNamesFor = time.Second

// linkNames names interfaces by index for the address watch.
type linkNames struct {
	h       *netlink.Handle
	since   time.Time
	byIndex map[int]string
}

// of returns the name of the interface with index i, or false if there is none (it went with
// its addresses: link tracking handles that).
func (n *linkNames) of(i int) (string, bool) {
	if now := time.Now(); now.Sub(n.since) > linkNamesFor {
		n.since, n.byIndex = now, map[int]string{}
	}
	if name, ok := n.byIndex[i]; ok {
		return name, true
	}
	l, err := n.h.LinkByIndex(i)
	if err != nil {
		return "", false
	}
	n.byIndex[i] = l.Attrs().Name
	return l.Attrs().Name, true
}

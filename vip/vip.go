// Package vip puts virtual IP addresses on interfaces, takes them off again, and tells
// the LAN where they now live: gratuitous ARP for IPv4, unsolicited neighbour
// advertisements for IPv6 (RFC 5798 §6.4.1, §6.4.2; RFC 9568 §6.4.1, §6.4.2).
//
// Addresses go through the netlink handle the Manager is given, so a test can bind it
// to a namespace. The announcement sockets are opened in the network namespace of the
// calling thread, which must be the handle's: the daemon's process namespace, or in a
// test a thread switched into the handle's namespace.
package vip

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"

	"github.com/mdlayher/ndp"
	"github.com/mdlayher/packet"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/net/bpf"
	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
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
	log *slog.Logger

	mu      sync.Mutex
	senders map[string]*sender      // by interface name
	links   map[string]netlink.Link // by name, looked up since the last change; nil unless Watch is subscribed
}

// sender holds an interface's announcement sockets, opened on first use.
type sender struct {
	index int              // the interface's index when the sockets were opened
	arp   *packet.Conn     // raw AF_PACKET socket bound to the interface, for gratuitous ARP
	ndp   *ipv6.PacketConn // raw ICMPv6 socket, for neighbour advertisements
}

// New returns a Manager that changes addresses through h.
func New(h *netlink.Handle, log *slog.Logger) *Manager {
	return &Manager{h: h, log: log, senders: map[string]*sender{}}
}

// Add puts every VIP on the interface with its prefix length (10.0.4.99/24 adds
// 10.0.4.99/24). Adding a VIP that is already there is not an error. IPv6 VIPs skip
// duplicate address detection, so they are usable at once.
func (m *Manager) Add(ifname string, vips []netip.Prefix) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	link, err := m.link(ifname)
	if err != nil {
		return err
	}
	var errs []error
	for _, v := range vips {
		if err := m.h.AddrReplace(link, addr(v)); err != nil {
			errs = append(errs, fmt.Errorf("add %s to %s: %w", v, ifname, err))
			continue
		}
		m.log.Debug("vip added", "vip", v, "interface", ifname)
	}
	return errors.Join(errs...)
}

// Remove takes every VIP off the interface. A VIP that is not there, or an interface
// that no longer exists, is not an error.
func (m *Manager) Remove(ifname string, vips []netip.Prefix) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	link, err := m.link(ifname)
	if errors.Is(err, ErrNoInterface) {
		return nil
	}
	if err != nil {
		return err
	}
	var errs []error
	for _, v := range vips {
		// The kernel answers EADDRNOTAVAIL for an address that is not on the interface.
		switch err := m.h.AddrDel(link, addr(v)); {
		case err == nil:
			m.log.Debug("vip removed", "vip", v, "interface", ifname)
		case !errors.Is(err, unix.EADDRNOTAVAIL):
			errs = append(errs, fmt.Errorf("remove %s from %s: %w", v, ifname, err))
		}
	}
	return errors.Join(errs...)
}

// Present returns those of vips that are on the interface now, with the same prefix
// length, in the order given.
func (m *Manager) Present(ifname string, vips []netip.Prefix) ([]netip.Prefix, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	link, err := m.link(ifname)
	if err != nil {
		return nil, err
	}
	list, err := m.h.AddrList(link, netlink.FAMILY_ALL)
	if err != nil {
		return nil, fmt.Errorf("list addresses of %s: %w", ifname, err)
	}
	on := make(map[netip.Prefix]bool, len(list))
	for _, a := range list {
		on[prefixOf(a.IPNet)] = true
	}
	var present []netip.Prefix
	for _, v := range vips {
		if on[v] {
			present = append(present, v)
		}
	}
	return present, nil
}

// Announce tells the LAN that the VIPs are at this interface's MAC address: count
// gratuitous ARP requests back to back for each IPv4 VIP, and count unsolicited
// neighbour advertisements for each IPv6 VIP (RFC 5798 §6.4.1 and §6.4.2, RFC 9568
// §6.4.1 and §6.4.2). It sends to every VIP even if one fails, and reports all
// failures.
//
// The sockets are opened on first use and kept; they are opened again if the
// interface has been deleted and re-created since (its index changed).
func (m *Manager) Announce(ifname string, vips []netip.Prefix, count int) error {
	if count <= 0 || len(vips) == 0 {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	link, err := m.link(ifname)
	if err != nil {
		return err
	}
	attrs := link.Attrs()
	if len(attrs.HardwareAddr) != 6 {
		return fmt.Errorf("announce on %s: %w", ifname, ErrNotEthernet)
	}
	s := m.sender(attrs)

	// RFC 4861 §4.4 asks for an address of the interface as the source of an NA: its
	// link-local address, or the VIP itself if it has no usable one, as keepalived always does.
	linkLocal := sync.OnceValues(func() (netip.Addr, error) { return m.linkLocal(link) })
	var errs []error
	for _, v := range vips {
		var err error
		if ip := v.Addr(); ip.Is4() {
			err = s.garp(attrs, ip, count)
		} else {
			var ll netip.Addr
			if ll, err = linkLocal(); err == nil {
				err = s.unsolicitedNA(attrs, cmp.Or(ll, ip), ip, count)
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("announce %s on %s: %w", v, ifname, err))
		}
	}
	m.log.Debug("vips announced", "interface", ifname, "vips", vips, "count", count, "failed", len(errs))
	return errors.Join(errs...)
}

// Close closes the announcement sockets. The Manager can still be used: they are
// opened again when needed.
func (m *Manager) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	var errs []error
	for name, s := range m.senders {
		errs = append(errs, s.close())
		delete(m.senders, name)
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
	var notFound netlink.LinkNotFoundError
	if errors.As(err, &notFound) {
		return nil, fmt.Errorf("%w: %s", ErrNoInterface, ifname)
	}
	if err != nil {
		return nil, fmt.Errorf("interface %s: %w", ifname, err)
	}
	if m.links != nil {
		m.links[ifname] = link
	}
	return link, nil
}

// Watch lets the Manager keep the interfaces it has looked up, until ctx is done, instead of
// asking netlink again for each Add, Remove, Present, Announce and Probe, which would cost a
// round trip before each GARP burst and garbage at every one. It listens to netlink link messages in ns (netns.None() for the current
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
	for n, l := range m.links {
		if n == name || l.Attrs().Index == index {
			delete(m.links, n)
		}
	}
}

// sender returns the interface's cached sockets, dropping them first if the interface
// behind the name is not the one they were opened on.
func (m *Manager) sender(attrs *netlink.LinkAttrs) *sender {
	s := m.senders[attrs.Name]
	if s != nil && s.index != attrs.Index {
		if err := s.close(); err != nil {
			m.log.Debug("closing sockets of a re-created interface", "interface", attrs.Name, "err", err)
		}
		s = nil
	}
	if s == nil {
		s = &sender{index: attrs.Index}
		m.senders[attrs.Name] = s
	}
	return s
}

func (s *sender) close() error {
	var errs []error
	if s.arp != nil {
		errs = append(errs, s.arp.Close())
	}
	if s.ndp != nil {
		errs = append(errs, s.ndp.Close())
	}
	return errors.Join(errs...)
}

func (s *sender) garp(attrs *netlink.LinkAttrs, ip netip.Addr, count int) error {
	if s.arp == nil {
		// Send only: a filter that accepts nothing keeps the receive queue empty.
		drop, err := bpf.Assemble([]bpf.Instruction{bpf.RetConstant{Val: 0}})
		if err != nil {
			return err
		}
		c, err := listenARP(attrs, &packet.Config{Filter: drop})
		if err != nil {
			return fmt.Errorf("open ARP socket: %w", err)
		}
		s.arp = c
	}
	frame, err := garpFrame(attrs.HardwareAddr, ip)
	if err != nil {
		return err
	}
	// Sent through the raw descriptor: packet.Conn's WriteTo starts a goroutine per frame to
	// watch a context it never cancels.
	rc, err := s.arp.SyscallConn()
	if err != nil {
		return err
	}
	to := &unix.SockaddrLinklayer{Ifindex: attrs.Index, Protocol: htons(unix.ETH_P_ARP), Halen: 6}
	copy(to.Addr[:], broadcast)
	for range count {
		var serr error
		err := rc.Write(func(fd uintptr) bool {
			serr = unix.Sendto(int(fd), frame, 0, to)
			return serr != unix.EAGAIN
		})
		if err != nil {
			return err
		}
		if serr != nil {
			return os.NewSyscallError("sendto", serr)
		}
	}
	return nil
}

// htons is v in network byte order, as AF_PACKET wants protocol numbers.
func htons(v uint16) uint16 { return v<<8 | v>>8 }

// listenARP opens a raw ARP socket on the interface.
func listenARP(attrs *netlink.LinkAttrs, cfg *packet.Config) (*packet.Conn, error) {
	ifi := &net.Interface{Index: attrs.Index, Name: attrs.Name, HardwareAddr: attrs.HardwareAddr}
	return packet.Listen(ifi, packet.Raw, unix.ETH_P_ARP, cfg)
}

func (s *sender) unsolicitedNA(attrs *netlink.LinkAttrs, src, ip netip.Addr, count int) error {
	if s.ndp == nil {
		c, err := listenICMPv6()
		if err != nil {
			return fmt.Errorf("open ICMPv6 socket: %w", err)
		}
		s.ndp = c
	}
	msg, err := ndp.MarshalMessage(neighborAdvertisement(attrs.HardwareAddr, ip))
	if err != nil {
		return err
	}
	// To all nodes (RFC 4861 §7.2.6) with hop limit 255 (RFC 4861 §7.1.2). The interface
	// is given by index, never by name: Go maps zone names to indexes through a
	// process-wide cache refreshed at most once a minute, which would still hold a
	// deleted interface's index after a re-create. The kernel fills in the checksum.
	cm := &ipv6.ControlMessage{HopLimit: ndp.HopLimit, Src: src.AsSlice(), IfIndex: attrs.Index}
	to := &net.IPAddr{IP: net.IPv6linklocalallnodes}
	for range count {
		if _, err := s.ndp.WriteTo(msg, cm, to); err != nil {
			return err
		}
	}
	return nil
}

// listenICMPv6 opens a send-only raw ICMPv6 socket: it is bound to no address or
// interface, since each message names both, and its filter lets nothing in.
func listenICMPv6() (*ipv6.PacketConn, error) {
	c, err := icmp.ListenPacket("ip6:ipv6-icmp", "::")
	if err != nil {
		return nil, err
	}
	p := c.IPv6PacketConn()
	var f ipv6.ICMPFilter
	f.SetAll(true)
	if err := p.SetICMPFilter(&f); err != nil {
		_ = p.Close()
		return nil, err
	}
	return p, nil
}

// linkLocal returns the interface's usable link-local address, or the zero Addr if it has none.
func (m *Manager) linkLocal(link netlink.Link) (netip.Addr, error) {
	list, err := m.h.AddrList(link, netlink.FAMILY_V6)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("list addresses: %w", err)
	}
	for _, a := range list {
		ip, _ := netip.AddrFromSlice(a.IP)
		if ip.IsLinkLocalUnicast() && a.Flags&(unix.IFA_F_TENTATIVE|unix.IFA_F_DADFAILED) == 0 {
			return ip, nil
		}
	}
	return netip.Addr{}, nil
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

func addr(v netip.Prefix) *netlink.Addr {
	a := &netlink.Addr{IPNet: &net.IPNet{IP: v.Addr().AsSlice(), Mask: net.CIDRMask(v.Bits(), v.Addr().BitLen())}}
	if v.Addr().Is6() {
		a.Flags = unix.IFA_F_NODAD
	}
	return a
}

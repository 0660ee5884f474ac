package vip

import (
	"cmp"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/mdlayher/ndp"
	"github.com/mdlayher/packet"
	"github.com/vishvananda/netlink"
	"golang.org/x/net/bpf"
	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// Announce tells the LAN that the addresses are at their interface's MAC address: count
// gratuitous ARP requests for each IPv4 address, and count unsolicited neighbour
// advertisements for each IPv6 one (RFC 5798 §6.4.1 and §6.4.2, RFC 9568 §6.4.1 and §6.4.2).
//
// With every == 0 the packets go at once, in rounds: every address's first, then every
// address's second, so that the last of a thousand addresses is announced as early as the first
// round allows. With every > 0 (keepalived's garp_interval, for very long
// lists) they go one per every: the first before Announce returns, the rest from a goroutine
// of the Manager, one round of every address and then the next, so that each address is
// announced once as early as it can be. Announce does not wait for them. A Remove of an address
// cancels its pending packets, a new Announce of it replaces them, and Close stops them all.
//
// It sends to every address even if one fails, and reports all failures; a paced packet that
// fails later is logged. The sockets are opened on first use and kept; they are opened again if
// the interface has been deleted and re-created since (its index changed).
func (m *Manager) Announce(addrs []Addr, count int, every time.Duration) error {
	if count <= 0 || len(addrs) == 0 {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	ifaces := map[string]*iface{}
	var errs []error
	var first *paced // the entry whose first packet is sent now
	var queue []*paced
	var now []*paced // every == 0: sent below, in rounds
	for _, a := range addrs {
		key := pacedKey{a.Dev, a.Prefix.Addr()}
		delete(m.paced, key) // this announcement replaces what is pending
		send, err := m.announcer(a, ifaces)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		p := &paced{key: key, send: send, left: count}
		switch {
		case every == 0:
			now = append(now, p)
			continue
		case first == nil:
			first = p
			if err := send(); err != nil {
				errs = append(errs, fmt.Errorf("announce %s: %w", a, err))
				continue
			}
			p.left--
		default:
			queue = append(queue, p)
		}
		if p.left > 0 {
			m.paced[key] = p
		}
	}
	for range count {
		for i, p := range now {
			if p == nil {
				continue
			}
			if err := p.send(); err != nil {
				errs = append(errs, fmt.Errorf("announce %s on %s: %w", p.key.ip, p.key.dev, err))
				now[i] = nil // one error for an address, not one a round
			}
		}
	}
	if first != nil && first.left > 0 {
		queue = append(queue, first) // its second packet after every other address's first
	}
	if len(queue) > 0 {
		m.pacers.Add(1)
		go m.pace(queue, every, m.stop, m.pacers)
	}
	m.log.Debug("vips announced", "vips", len(addrs), "count", count, "every", every, "pending", len(queue), "failed", len(errs))
	return errors.Join(errs...)
}

// pacedKey names an address whose announcements may be pending.
type pacedKey struct {
	dev string
	ip  netip.Addr
}

// paced is an address's pending announcements. It is current while m.paced holds it under its
// key: a Remove, a new Announce or Close takes it out, and its goroutine then drops it.
type paced struct {
	key  pacedKey
	send func() error
	left int
}

// pace sends the queued announcements round after round, one per every, until they are all
// sent, dropped, or stop is closed.
func (m *Manager) pace(queue []*paced, every time.Duration, stop <-chan struct{}, wg *sync.WaitGroup) {
	defer wg.Done()
	t := time.NewTimer(every)
	defer t.Stop()
	current := func(p *paced) bool { return m.paced[p.key] == p }
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		m.mu.Lock()
		ok := current(p)
		m.mu.Unlock()
		if !ok {
			continue // cancelled: it costs no time
		}
		select {
		case <-stop:
			return
		case <-t.C:
			t.Reset(every)
		}
		m.mu.Lock()
		var err error
		if ok = current(p); ok {
			err = p.send()
			if p.left--; p.left == 0 || err != nil {
				delete(m.paced, p.key)
			}
		}
		m.mu.Unlock()
		switch {
		case err != nil:
			m.log.Warn("announcing a VIP failed", "vip", p.key.ip, "interface", p.key.dev, "err", err)
		case ok && p.left > 0:
			queue = append(queue, p)
		}
	}
}

// iface is what the announcements on one interface share within one call.
type iface struct {
	attrs     *netlink.LinkAttrs
	s         *sender
	linkLocal func() (netip.Addr, error)
}

// announcer returns what sends one announcement of a, opening its interface's socket first if
// needed: here, on the calling thread, in its namespace. m.mu must be held.
func (m *Manager) announcer(a Addr, ifaces map[string]*iface) (func() error, error) {
	ifi := ifaces[a.Dev]
	if ifi == nil {
		link, err := m.link(a.Dev)
		if err != nil {
			return nil, fmt.Errorf("announce %s: %w", a, err)
		}
		attrs := link.Attrs()
		if len(attrs.HardwareAddr) != 6 {
			return nil, fmt.Errorf("announce %s: %w", a, ErrNotEthernet)
		}
		ifi = &iface{attrs: attrs, s: m.sender(attrs), linkLocal: sync.OnceValues(func() (netip.Addr, error) { return m.linkLocal(link) })}
		ifaces[a.Dev] = ifi
	}
	ip := a.Prefix.Addr()
	if !ip.IsValid() {
		return nil, fmt.Errorf("announce %s: invalid address", a)
	}
	var send func() error
	var err error
	if ip.Is4() {
		send, err = ifi.s.garp(ifi.attrs, ip)
	} else {
		// RFC 4861 §4.4 asks for an address of the interface as the source of an NA: its
		// link-local address, or the VIP itself if it has no usable one, as keepalived always does.
		var ll netip.Addr
		if ll, err = ifi.linkLocal(); err == nil {
			send, err = ifi.s.unsolicitedNA(ifi.attrs, cmp.Or(ll, ip), ip)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("announce %s: %w", a, err)
	}
	return send, nil
}

// sender holds an interface's announcement sockets, opened on first use.
type sender struct {
	index int              // the interface's index when the sockets were opened
	arp   *packet.Conn     // raw AF_PACKET socket bound to the interface, for gratuitous ARP
	ndp   *ipv6.PacketConn // raw ICMPv6 socket, for neighbour advertisements
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

// garp returns what sends one gratuitous ARP for ip.
func (s *sender) garp(attrs *netlink.LinkAttrs, ip netip.Addr) (func() error, error) {
	if s.arp == nil {
		// Send only: a filter that accepts nothing keeps the receive queue empty.
		drop, err := bpf.Assemble([]bpf.Instruction{bpf.RetConstant{Val: 0}})
		if err != nil {
			return nil, err
		}
		c, err := listenARP(attrs, unix.ETH_P_ARP, &packet.Config{Filter: drop})
		if err != nil {
			return nil, fmt.Errorf("open ARP socket: %w", err)
		}
		s.arp = c
	}
	frame, err := garpFrame(attrs.HardwareAddr, ip)
	if err != nil {
		return nil, err
	}
	return func() error { return sendFrame(s.arp, attrs.Index, unix.ETH_P_ARP, frame) }, nil
}

// sendFrame sends an Ethernet frame broadcast through c, bound to the interface with that index.
// It goes through the raw descriptor: packet.Conn's WriteTo starts a goroutine per frame to watch
// a context it never cancels.
func sendFrame(c *packet.Conn, index int, proto uint16, frame []byte) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	to := &unix.SockaddrLinklayer{Ifindex: index, Protocol: htons(proto), Halen: 6}
	copy(to.Addr[:], frame[:6])
	var serr error
	err = rc.Write(func(fd uintptr) bool {
		serr = unix.Sendto(int(fd), frame, 0, to)
		return serr != unix.EAGAIN
	})
	if err != nil {
		return err
	}
	if serr != nil {
		return os.NewSyscallError("sendto", serr)
	}
	return nil
}

// htons is v in network byte order, as AF_PACKET wants protocol numbers.
func htons(v uint16) uint16 { return v<<8 | v>>8 }

// listenARP opens a raw AF_PACKET socket for the protocol on the interface.
func listenARP(attrs *netlink.LinkAttrs, proto uint16, cfg *packet.Config) (*packet.Conn, error) {
	ifi := &net.Interface{Index: attrs.Index, Name: attrs.Name, HardwareAddr: attrs.HardwareAddr}
	return packet.Listen(ifi, packet.Raw, int(proto), cfg)
}

// unsolicitedNA returns what sends one unsolicited neighbour advertisement for ip from src.
func (s *sender) unsolicitedNA(attrs *netlink.LinkAttrs, src, ip netip.Addr) (func() error, error) {
	if s.ndp == nil {
		c, err := listenICMPv6()
		if err != nil {
			return nil, fmt.Errorf("open ICMPv6 socket: %w", err)
		}
		s.ndp = c
	}
	msg, err := ndp.MarshalMessage(neighborAdvertisement(attrs.HardwareAddr, ip))
	if err != nil {
		return nil, err
	}
	// To all nodes (RFC 4861 §7.2.6) with hop limit 255 (RFC 4861 §7.1.2). The interface
	// is given by index, never by name: Go maps zone names to indexes through a
	// process-wide cache refreshed at most once a minute, which would still hold a
	// deleted interface's index after a re-create. The kernel fills in the checksum.
	cm := &ipv6.ControlMessage{HopLimit: ndp.HopLimit, Src: src.AsSlice(), IfIndex: attrs.Index}
	to := &net.IPAddr{IP: net.IPv6linklocalallnodes}
	conn := s.ndp
	return func() error {
		_, err := conn.WriteTo(msg, cm, to)
		return err
	}, nil
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

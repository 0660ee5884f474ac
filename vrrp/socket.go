package vrrp

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// Conn is one VRRP socket: one interface and one address family, shared by every instance on
// them. It is all the driver knows of the network, so tests can pass a fake.
type Conn interface {
	// Read blocks until a packet arrives. Packet.Data aliases buf.
	Read(buf []byte) (Packet, error)
	// Send sends msg, a complete VRRP message with its checksum, from src to dst with TTL or hop
	// limit 255 (RFC 5798 §5.1.1.3, §5.1.2.3).
	Send(src, dst netip.Addr, msg []byte) error
	// Addrs lists the interface's addresses that can source adverts, in the interface's order:
	// its IPv4 addresses, or its IPv6 link-local ones (RFC 5798 §5.1.2.1).
	Addrs() ([]netip.Addr, error)
	// Index is the index of the interface the socket is bound to.
	Index() int
	// Pending reports whether a packet waits in the socket, not yet Read.
	Pending() bool
	Close() error
}

// Listener opens the Conn for an interface and address family.
type Listener func(ifname string, ipv6 bool) (Conn, error)

// tosNetworkControl is the DSCP class CS6 that keepalived and routers send VRRP with.
const tosNetworkControl = 0xc0

// ListenIP opens a raw IP socket for protocol 112 bound to ifname, joined to 224.0.0.18 or
// ff02::12 there, sending with TTL/hop limit 255. It needs CAP_NET_RAW.
func ListenIP(ifname string, ipv6 bool) (Conn, error) {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, err
	}
	network, group := "ip4:112", MulticastV4
	if ipv6 {
		network, group = "ip6:112", MulticastV6
	}
	pc, err := net.ListenPacket(network, "")
	if err != nil {
		return nil, fmt.Errorf("open raw VRRP socket on %s: %w", ifname, err)
	}
	// Bound to the interface, the socket sees only its packets: the driver demultiplexes the
	// instances of one interface by VRID alone.
	if err := bindToDevice(pc.(*net.IPConn), ifname); err != nil {
		pc.Close()
		return nil, err
	}
	c := &ipConn{ifi: ifi, pc: pc, v6: ipv6}
	if ipv6 {
		err = c.setupV6(group)
	} else {
		err = c.setupV4(group)
	}
	if err != nil {
		pc.Close()
		return nil, fmt.Errorf("set up VRRP socket on %s: %w", ifname, err)
	}
	return c, nil
}

func bindToDevice(c *net.IPConn, ifname string) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptString(int(fd), unix.SOL_SOCKET, unix.SO_BINDTODEVICE, ifname)
	}); err != nil {
		return err
	}
	if serr != nil {
		return fmt.Errorf("bind VRRP socket to %s: %w", ifname, serr)
	}
	return nil
}

type ipConn struct {
	ifi *net.Interface
	pc  net.PacketConn
	v6  bool
	p4  *ipv4.PacketConn
	p6  *ipv6.PacketConn
}

func (c *ipConn) setupV4(group netip.Addr) error {
	c.p4 = ipv4.NewPacketConn(c.pc)
	return errors.Join(
		c.p4.JoinGroup(c.ifi, &net.IPAddr{IP: group.AsSlice()}),
		c.p4.SetMulticastInterface(c.ifi),
		c.p4.SetMulticastLoopback(false),
		c.p4.SetMulticastTTL(255),
		c.p4.SetTTL(255),
		c.p4.SetTOS(tosNetworkControl),
		c.p4.SetControlMessage(ipv4.FlagTTL|ipv4.FlagDst|ipv4.FlagInterface, true),
	)
}

func (c *ipConn) setupV6(group netip.Addr) error {
	c.p6 = ipv6.NewPacketConn(c.pc)
	return errors.Join(
		c.p6.JoinGroup(c.ifi, &net.IPAddr{IP: group.AsSlice()}),
		c.p6.SetMulticastInterface(c.ifi),
		c.p6.SetMulticastLoopback(false),
		c.p6.SetMulticastHopLimit(255),
		c.p6.SetHopLimit(255),
		c.p6.SetTrafficClass(tosNetworkControl),
		c.p6.SetControlMessage(ipv6.FlagHopLimit|ipv6.FlagDst|ipv6.FlagInterface, true),
	)
}

func (c *ipConn) Read(buf []byte) (Packet, error) {
	if c.v6 {
		n, cm, src, err := c.p6.ReadFrom(buf)
		if err != nil {
			return Packet{}, err
		}
		p := Packet{Src: addrOf(src), Data: buf[:n]}
		if cm != nil {
			p.TTL = cm.HopLimit
			p.Dst, _ = netip.AddrFromSlice(cm.Dst)
		}
		return p, nil
	}
	n, cm, src, err := c.p4.ReadFrom(buf)
	if err != nil {
		return Packet{}, err
	}
	p := Packet{Src: addrOf(src), Data: buf[:n]}
	if cm != nil {
		p.TTL = cm.TTL
		if d, ok := netip.AddrFromSlice(cm.Dst); ok {
			p.Dst = d.Unmap()
		}
	}
	return p, nil
}

func addrOf(a net.Addr) netip.Addr {
	if ip, ok := a.(*net.IPAddr); ok {
		if addr, ok := netip.AddrFromSlice(ip.IP); ok {
			return addr.Unmap()
		}
	}
	return netip.Addr{}
}

func (c *ipConn) Send(src, dst netip.Addr, msg []byte) error {
	to := &net.IPAddr{IP: dst.AsSlice()}
	if c.v6 {
		if dst.IsLinkLocalMulticast() || dst.IsLinkLocalUnicast() {
			to.Zone = c.ifi.Name
		}
		_, err := c.p6.WriteTo(msg, &ipv6.ControlMessage{Src: src.AsSlice(), IfIndex: c.ifi.Index}, to)
		return err
	}
	_, err := c.p4.WriteTo(msg, &ipv4.ControlMessage{Src: src.AsSlice(), IfIndex: c.ifi.Index}, to)
	return err
}

func (c *ipConn) Addrs() ([]netip.Addr, error) {
	ifi, err := net.InterfaceByName(c.ifi.Name)
	if err != nil {
		return nil, err
	}
	addrs, err := ifi.Addrs()
	if err != nil {
		return nil, err
	}
	var out []netip.Addr
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		ip, ok := netip.AddrFromSlice(ipn.IP)
		if !ok {
			continue
		}
		ip = ip.Unmap()
		if c.v6 && ip.Is6() && ip.IsLinkLocalUnicast() || !c.v6 && ip.Is4() {
			out = append(out, ip)
		}
	}
	return out, nil
}

func (c *ipConn) Index() int { return c.ifi.Index }

func (c *ipConn) Pending() bool {
	rc, err := c.pc.(*net.IPConn).SyscallConn()
	if err != nil {
		return false
	}
	n := 0
	rc.Control(func(fd uintptr) { n, _ = unix.IoctlGetInt(int(fd), unix.SIOCINQ) })
	return n > 0
}

func (c *ipConn) Close() error { return c.pc.Close() }

// closedConn reports whether err means the socket was closed under a blocked Read.
func closedConn(err error) bool {
	return errors.Is(err, net.ErrClosed) || errors.Is(err, syscall.EBADF)
}

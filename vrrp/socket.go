package vrrp

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"sync/atomic"
	"syscall"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// Conn is one VRRP socket: one interface and one address family, shared by every instance on
// them. It is all the driver knows of the network, so tests can pass a fake.
type Conn interface {
	// Read blocks until packets arrive, and returns them: one or more, up to a batch. They
	// alias the Conn's buffers, and stay valid until Release.
	Read() ([]Packet, error)
	// Release says that the packets of the last Read have been processed.
	Release()
	// Send sends the messages in order, with TTL or hop limit 255 (RFC 5798 §5.1.1.3,
	// §5.1.2.3), and returns how many were sent: on an error, out[n] failed and the ones
	// after it were not tried.
	Send(out []Outgoing) (int, error)
	// Addrs lists the interface's addresses that can source adverts, in the interface's order:
	// its IPv4 addresses, or its IPv6 link-local ones (RFC 5798 §5.1.2.1).
	Addrs() ([]netip.Addr, error)
	// Index is the index of the interface the socket is bound to.
	Index() int
	// Pending reports whether a packet has arrived that is not Released yet: queued in the
	// socket, or read.
	Pending() bool
	Close() error
}

// Outgoing is one VRRP message to send: complete, with its checksum.
type Outgoing struct {
	Src, Dst netip.Addr
	Msg      []byte
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

// recvBuf holds one received message: large enough for the largest VRRP message, 255 IPv6
// addresses (8 + 255*16 bytes).
const recvBuf = 4096

// batchSize is how many packets one system call reads or sends at most: with many instances on
// an interface, their adverts come and go in bursts.
const batchSize = 64

type ipConn struct {
	ifi *net.Interface
	pc  net.PacketConn
	v6  bool
	p4  *ipv4.PacketConn
	p6  *ipv6.PacketConn

	// Read returns the packets one recvmmsg read, from its own buffers.
	rc   syscall.RawConn
	rx   []ipv4.Message // the same type as ipv6.Message
	pkts []Packet
	// busy is set from the moment Read finds packets queued, before it takes them, until they
	// are released: with the queue's length, it tells Pending about every packet that has
	// arrived and not been processed.
	busy atomic.Bool

	// Send reuses its message headers, and keeps the control message of each source address
	// and the socket address of each destination.
	tx      []ipv4.Message
	txBufs  [][]byte
	control map[netip.Addr][]byte
	to      map[netip.Addr]net.Addr
}

func (c *ipConn) setupV4(group netip.Addr) error {
	c.p4 = ipv4.NewPacketConn(c.pc)
	c.initBatches(nil)
	return errors.Join(
		c.p4.JoinGroup(c.ifi, &net.IPAddr{IP: group.AsSlice()}),
		c.p4.SetMulticastInterface(c.ifi),
		c.p4.SetMulticastLoopback(false),
		c.p4.SetMulticastTTL(255),
		c.p4.SetTTL(255),
		c.p4.SetTOS(tosNetworkControl),
	)
}

func (c *ipConn) setupV6(group netip.Addr) error {
	c.p6 = ipv6.NewPacketConn(c.pc)
	flags := ipv6.FlagHopLimit | ipv6.FlagDst
	c.initBatches(func() []byte { return ipv6.NewControlMessage(flags) })
	return errors.Join(
		c.p6.JoinGroup(c.ifi, &net.IPAddr{IP: group.AsSlice()}),
		c.p6.SetMulticastInterface(c.ifi),
		c.p6.SetMulticastLoopback(false),
		c.p6.SetMulticastHopLimit(255),
		c.p6.SetHopLimit(255),
		c.p6.SetTrafficClass(tosNetworkControl),
		c.p6.SetControlMessage(flags, true),
	)
}

func (c *ipConn) initBatches(oob func() []byte) {
	c.rc, _ = c.pc.(*net.IPConn).SyscallConn()
	c.rx = make([]ipv4.Message, batchSize)
	for i := range c.rx {
		c.rx[i].Buffers = [][]byte{make([]byte, recvBuf+60)} // room for an IPv4 header
		if oob != nil {
			c.rx[i].OOB = oob()
		}
	}
	c.control, c.to = map[netip.Addr][]byte{}, map[netip.Addr]net.Addr{}
}

// Read returns the packets one recvmmsg reads. A raw IPv4 socket reads the IP header with the
// message, which gives the TTL and the addresses; IPv6 gives the hop limit and destination in
// control messages.
func (c *ipConn) Read() ([]Packet, error) {
	for {
		if err := c.waitQueued(); err != nil {
			return nil, err
		}
		var n int
		var err error
		if c.v6 {
			n, err = c.p6.ReadBatch(c.rx, unix.MSG_DONTWAIT)
		} else {
			n, err = c.p4.ReadBatch(c.rx, unix.MSG_DONTWAIT)
		}
		if err != nil && !errors.Is(err, unix.EAGAIN) {
			return nil, err
		}
		c.pkts = c.pkts[:0]
		for i := range max(n, 0) {
			c.pkts = append(c.pkts, c.parse(&c.rx[i]))
		}
		if len(c.pkts) > 0 {
			return c.pkts, nil
		}
	}
}

func (c *ipConn) parse(m *ipv4.Message) Packet {
	data := m.Buffers[0][:m.N]
	if c.v6 {
		p := Packet{Src: addrOf(m.Addr), Data: data}
		var cm ipv6.ControlMessage
		if cm.Parse(m.OOB[:m.NN]) == nil {
			p.TTL = cm.HopLimit
			p.Dst, _ = netip.AddrFromSlice(cm.Dst)
		}
		return p
	}
	ihl := 0
	if len(data) >= ipv4.HeaderLen && data[0]>>4 == 4 {
		ihl = int(data[0]&0x0f) * 4
	}
	if ihl < ipv4.HeaderLen || ihl > len(data) {
		return Packet{} // no IPv4 header: too short, dropped as such
	}
	return Packet{
		Src:  netip.AddrFrom4([4]byte(data[12:16])),
		Dst:  netip.AddrFrom4([4]byte(data[16:20])),
		TTL:  int(data[8]),
		Data: data[ihl:],
	}
}

// waitQueued waits until a packet is queued in the socket, and marks the Conn busy before Read
// takes any.
func (c *ipConn) waitQueued() error {
	return c.rc.Read(func(fd uintptr) bool {
		c.busy.Store(true)
		if queued(fd) > 0 {
			return true
		}
		c.busy.Store(false)
		return false // the runtime waits until the socket is readable, and asks again
	})
}

// queued is the size of the next packet in the socket's queue, 0 if there is none (SIOCINQ).
func queued(fd uintptr) int {
	n, _ := unix.IoctlGetInt(int(fd), unix.SIOCINQ)
	return n
}

func addrOf(a net.Addr) netip.Addr {
	if ip, ok := a.(*net.IPAddr); ok {
		if addr, ok := netip.AddrFromSlice(ip.IP); ok {
			return addr.Unmap()
		}
	}
	return netip.Addr{}
}

// Send sends the messages with one sendmmsg, or a few.
func (c *ipConn) Send(out []Outgoing) (int, error) {
	sent := 0
	for sent < len(out) {
		batch := out[sent:min(len(out), sent+batchSize)]
		c.txBufs, c.tx = c.txBufs[:0], c.tx[:0]
		for _, o := range batch {
			c.txBufs = append(c.txBufs, o.Msg)
		}
		for i, o := range batch {
			c.tx = append(c.tx, ipv4.Message{Buffers: c.txBufs[i : i+1 : i+1], OOB: c.controlFor(o.Src), Addr: c.addrFor(o.Dst)})
		}
		var n int
		var err error
		if c.v6 {
			n, err = c.p6.WriteBatch(c.tx, 0)
		} else {
			n, err = c.p4.WriteBatch(c.tx, 0)
		}
		sent += max(n, 0) // on an error, sendmmsg's -1 comes through
		if err != nil {
			return sent, err
		}
	}
	return sent, nil
}

// controlFor is the control message that sends from src out of the socket's interface.
func (c *ipConn) controlFor(src netip.Addr) []byte {
	b, ok := c.control[src]
	if !ok {
		if c.v6 {
			b = (&ipv6.ControlMessage{Src: src.AsSlice(), IfIndex: c.ifi.Index}).Marshal()
		} else {
			b = (&ipv4.ControlMessage{Src: src.AsSlice(), IfIndex: c.ifi.Index}).Marshal()
		}
		c.control[src] = b
	}
	return b
}

func (c *ipConn) addrFor(dst netip.Addr) net.Addr {
	a, ok := c.to[dst]
	if !ok {
		ip := &net.IPAddr{IP: dst.AsSlice()}
		if c.v6 && (dst.IsLinkLocalMulticast() || dst.IsLinkLocalUnicast()) {
			ip.Zone = strconv.Itoa(c.ifi.Index) // by index: Go's name cache may be stale
		}
		a = ip
		c.to[dst] = a
	}
	return a
}

// Addrs asks for the addresses of the interface the socket is bound to, by index: one address
// dump, without the dump of every link that a lookup by name costs.
func (c *ipConn) Addrs() ([]netip.Addr, error) {
	addrs, err := c.ifi.Addrs()
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

func (c *ipConn) Release() { c.busy.Store(false) }

// Pending looks at the socket's queue first, then at the mark: a packet taken from the queue in
// between was taken by a Read already marked busy.
func (c *ipConn) Pending() bool {
	n := 0
	c.rc.Control(func(fd uintptr) { n = queued(fd) })
	return n > 0 || c.busy.Load()
}

func (c *ipConn) Close() error { return c.pc.Close() }

// closedConn reports whether err means the socket was closed under a blocked Read.
func closedConn(err error) bool {
	return errors.Is(err, net.ErrClosed) || errors.Is(err, syscall.EBADF)
}

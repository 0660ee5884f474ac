package vrrp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// Conn is one VRRP socket: one interface and one address family, shared by every instance on
// them. It is all the driver knows of the network, so tests can pass a fake.
type Conn interface {
	// Wait blocks until a packet can be read, or the Conn is closed.
	Wait() error
	// Read returns the packets waiting now, up to a batch, without blocking: none if none
	// wait. They alias the Conn's buffers, and stay valid until the next Read. Only one
	// goroutine reads.
	Read() ([]Packet, error)
	// Send sends the messages in order, with TTL or hop limit 255 (RFC 5798 §5.1.1.3,
	// §5.1.2.3), and returns how many were sent: on an error, out[n] failed and the ones
	// after it were not tried.
	Send(out []Outgoing) (int, error)
	// Addrs lists the interface's addresses that can source adverts, in the interface's order:
	// its IPv4 addresses, or its IPv6 link-local ones (RFC 5798 §5.1.2.1).
	Addrs() ([]netip.Addr, error)
	// Index is the index of the interface the socket is bound to, and MTU its MTU.
	Index() int
	MTU() int
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

// sendBatch and readBatch are how many packets one system call sends or reads at most: with many
// instances on an interface, their adverts come and go in bursts. A read needs a whole buffer
// per packet, so it takes fewer: a few more system calls for a burst, against a socket's memory.
const (
	sendBatch = 64
	readBatch = 16
)

type ipConn struct {
	ifi *net.Interface
	pc  net.PacketConn
	v6  bool
	p4  *ipv4.PacketConn // for the socket options only: packets go through rc
	p6  *ipv6.PacketConn
	rc  syscall.RawConn

	// Read returns the packets one recvmmsg read, from its own buffers.
	rx    batch
	bufs  [][]byte
	names []unix.RawSockaddrInet6 // IPv6 senders; IPv4 reads the IP header
	oob   [][]byte                // IPv6 hop limit and destination
	pkts  []Packet

	// Send reuses its message headers, and keeps the control message of each source address
	// and the socket address of each destination.
	tx      batch
	control map[netip.Addr][]byte
	to      map[netip.Addr]sockaddr
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
	c.rx, c.tx = newBatch(readBatch), newBatch(sendBatch)
	const size = recvBuf + 60 // room for an IPv4 header
	bufs := make([]byte, readBatch*size)
	c.bufs = make([][]byte, readBatch)
	for i := range c.bufs {
		c.bufs[i] = bufs[i*size : (i+1)*size : (i+1)*size]
		c.rx.iov[i] = iovec(c.bufs[i])
	}
	if oob != nil {
		c.names = make([]unix.RawSockaddrInet6, readBatch)
		c.oob = make([][]byte, readBatch)
		for i := range c.oob {
			c.oob[i] = oob()
		}
	}
	c.control, c.to = map[netip.Addr][]byte{}, map[netip.Addr]sockaddr{}
}

// Wait waits until the socket has a packet, without taking it: the runtime's poller watches the
// socket, and asks again whenever it becomes readable.
func (c *ipConn) Wait() error {
	return c.rc.Read(func(fd uintptr) bool { return queued(fd) > 0 })
}

// Read returns the packets one recvmmsg reads without waiting. A raw IPv4 socket reads the IP
// header with the message, which gives the TTL and the addresses; IPv6 gives the hop limit and
// destination in control messages.
func (c *ipConn) Read() ([]Packet, error) {
	var n int
	var errno syscall.Errno
	err := c.rc.Control(func(fd uintptr) {
		c.resetRx()
		n, errno = mmsg(unix.SYS_RECVMMSG, fd, c.rx.hs, unix.MSG_DONTWAIT)
	})
	if err == nil && errno != 0 && errno != unix.EAGAIN {
		err = os.NewSyscallError("recvmmsg", errno)
	}
	if err != nil {
		return nil, err
	}
	c.pkts = c.pkts[:0]
	for i := range n {
		c.pkts = append(c.pkts, c.parse(i))
	}
	return c.pkts, nil
}

// resetRx gives the kernel every receive buffer whole again.
func (c *ipConn) resetRx() {
	for i := range c.rx.hs {
		h := &c.rx.hs[i].hdr
		h.Iov = &c.rx.iov[i]
		h.SetIovlen(1)
		if c.v6 {
			h.Name, h.Namelen = (*byte)(unsafe.Pointer(&c.names[i])), unix.SizeofSockaddrInet6
			h.Control = &c.oob[i][0]
			h.SetControllen(len(c.oob[i]))
		}
	}
}

func (c *ipConn) parse(i int) Packet {
	h := &c.rx.hs[i]
	data := c.bufs[i][:h.n]
	if c.v6 {
		p := Packet{Src: netip.AddrFrom16(c.names[i].Addr), Data: data}
		p.TTL, p.Dst = parseV6Control(c.oob[i][:h.hdr.Controllen])
		return p
	}
	return parseIPv4(data)
}

// parseIPv4 reads what a raw IPv4 socket returns, the IP header and the message: the TTL, the
// addresses and, as Data, what follows the header. Without a whole IPv4 header it returns the
// zero Packet, which is dropped as too short.
func parseIPv4(data []byte) Packet {
	ihl := 0
	if len(data) >= ipv4.HeaderLen && data[0]>>4 == 4 {
		ihl = int(data[0]&0x0f) * 4
	}
	if ihl < ipv4.HeaderLen || ihl > len(data) {
		return Packet{}
	}
	return Packet{
		Src:  netip.AddrFrom4([4]byte(data[12:16])),
		Dst:  netip.AddrFrom4([4]byte(data[16:20])),
		TTL:  int(data[8]),
		Data: data[ihl:],
	}
}

// parseV6Control reads the hop limit and the destination address from an IPv6 packet's
// control messages (RFC 3542 §6); the hop limit is -1 if they lack it.
func parseV6Control(b []byte) (hopLimit int, dst netip.Addr) {
	hopLimit = -1
	for len(b) >= unix.SizeofCmsghdr {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
		if int(h.Len) < unix.CmsgLen(0) || int(h.Len) > len(b) {
			break
		}
		data := b[unix.CmsgLen(0):h.Len]
		switch {
		case h.Level != unix.IPPROTO_IPV6:
		case h.Type == unix.IPV6_HOPLIMIT && len(data) >= 4:
			hopLimit = int(int32(binary.NativeEndian.Uint32(data)))
		case h.Type == unix.IPV6_PKTINFO && len(data) >= unix.SizeofInet6Pktinfo:
			dst = netip.AddrFrom16([16]byte(data[:16]))
		}
		b = b[min(unix.CmsgSpace(len(data)), len(b)):]
	}
	return hopLimit, dst
}

// queued is the size of the next packet in the socket's queue, 0 if there is none (SIOCINQ).
// Like recvmmsg and sendmmsg, it is a raw system call: none of them blocks, and a system call
// made the ordinary way wakes the runtime's monitor thread (sysmon) from its sleep, and an idle
// daemon would pay context switches for every packet.
func queued(fd uintptr) int {
	var n int32
	if _, _, errno := unix.RawSyscall(unix.SYS_IOCTL, fd, unix.SIOCINQ, uintptr(unsafe.Pointer(&n))); errno != 0 {
		return 0
	}
	return int(n)
}

// Send sends the messages with one sendmmsg, or a few.
func (c *ipConn) Send(out []Outgoing) (int, error) {
	sent := 0
	for sent < len(out) {
		batch := out[sent:min(len(out), sent+sendBatch)]
		for i, o := range batch {
			c.tx.iov[i] = iovec(o.Msg)
			ctl, to := c.controlFor(o.Src), c.addrFor(o.Dst)
			h := &c.tx.hs[i].hdr
			h.Iov = &c.tx.iov[i]
			h.SetIovlen(1)
			h.Name, h.Namelen = to.ptr, to.len
			h.Control = &ctl[0]
			h.SetControllen(len(ctl))
		}
		var n int
		var errno syscall.Errno
		err := c.rc.Write(func(fd uintptr) bool {
			n, errno = mmsg(unix.SYS_SENDMMSG, fd, c.tx.hs[:len(batch)], unix.MSG_DONTWAIT)
			return errno != unix.EAGAIN // on EAGAIN the runtime waits until the socket is writable
		})
		if err == nil && errno != 0 {
			err = os.NewSyscallError("sendmmsg", errno)
		}
		sent += n
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

// sockaddr is a destination as the kernel takes it.
type sockaddr struct {
	ptr *byte
	len uint32
}

func (c *ipConn) addrFor(dst netip.Addr) sockaddr {
	a, ok := c.to[dst]
	if !ok {
		if dst.Is4() {
			sa := &unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: dst.As4()}
			a = sockaddr{(*byte)(unsafe.Pointer(sa)), unix.SizeofSockaddrInet4}
		} else {
			sa := &unix.RawSockaddrInet6{Family: unix.AF_INET6, Addr: dst.As16()}
			if dst.IsLinkLocalMulticast() || dst.IsLinkLocalUnicast() {
				sa.Scope_id = uint32(c.ifi.Index) // by index: Go's name cache may be stale
			}
			a = sockaddr{(*byte)(unsafe.Pointer(sa)), unix.SizeofSockaddrInet6}
		}
		c.to[dst] = a
	}
	return a
}

// mmsghdr is struct mmsghdr of <sys/socket.h>: a message and the length received or sent.
type mmsghdr struct {
	hdr unix.Msghdr
	n   uint32
}

// batch is the headers of one recvmmsg or sendmmsg, each with its one buffer.
type batch struct {
	hs  []mmsghdr
	iov []unix.Iovec
}

func newBatch(n int) batch { return batch{make([]mmsghdr, n), make([]unix.Iovec, n)} }

func iovec(b []byte) unix.Iovec {
	v := unix.Iovec{Base: unsafe.SliceData(b)}
	v.SetLen(len(b))
	return v
}

// mmsg makes recvmmsg or sendmmsg as a raw system call (see queued), and returns how many
// messages it moved.
func mmsg(trap, fd uintptr, hs []mmsghdr, flags int) (int, syscall.Errno) {
	n, _, errno := unix.RawSyscall6(trap, fd, uintptr(unsafe.Pointer(&hs[0])), uintptr(len(hs)), uintptr(flags), 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(n), 0
}

// Addrs asks for the addresses of the interface the socket is bound to, by index: one address
// dump, without the dump of every link that a lookup by name costs.
func (c *ipConn) Addrs() ([]netip.Addr, error) { return familyAddrs(c.ifi, c.v6) }

// InterfaceAddrs lists the named interface's IPv4 addresses, or its IPv6 link-local ones.
func InterfaceAddrs(ifname string, ipv6 bool) ([]netip.Addr, error) {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, err
	}
	return familyAddrs(ifi, ipv6)
}

func familyAddrs(ifi *net.Interface, v6 bool) ([]netip.Addr, error) {
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
		if v6 && ip.Is6() && ip.IsLinkLocalUnicast() || !v6 && ip.Is4() {
			out = append(out, ip)
		}
	}
	return out, nil
}

func (c *ipConn) Index() int { return c.ifi.Index }

func (c *ipConn) MTU() int { return c.ifi.MTU }

func (c *ipConn) Close() error { return c.pc.Close() }

// closedConn reports whether err means the socket was closed under a blocked Read.
func closedConn(err error) bool {
	return errors.Is(err, net.ErrClosed) || errors.Is(err, syscall.EBADF)
}

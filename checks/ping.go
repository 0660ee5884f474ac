package checks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// Ping returns a Checker that sends one ICMP (IPv4) or ICMPv6 echo request to target per probe,
// and is healthy on a matching echo reply within the probe's timeout: from target, with the
// request's identifier, sequence number and data (RFC 792, and RFC 4443 §4.2, have the reply carry
// all three back). A link-local IPv6 target needs a zone, the interface to send on ("fe80::1%eth0").
//
// It forks nothing: each probe opens a raw socket (the daemon has CAP_NET_RAW), or, where that is
// not permitted (EPERM), an unprivileged ICMP socket, which Linux allows when
// net.ipv4.ping_group_range includes the process's group; there the kernel sets the identifier.
// The socket, and the zone's interface, belong to the network namespace of the thread Check runs
// on.
func Ping(target netip.Addr) Checker {
	data := []byte("vrrpd check ........")
	for i := len("vrrpd check "); i < len(data); i++ {
		data[i] = byte(rand.Uint32())
	}
	return &pingChecker{target: target.Unmap(), id: uint16(rand.Uint32()), data: data}
}

type pingChecker struct {
	target netip.Addr
	id     uint16 // the identifier of a raw socket's requests
	data   []byte // what every request carries, unique to this checker
	seq    atomic.Uint32
}

func (p *pingChecker) Check(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !p.target.IsValid() {
		return fmt.Errorf("%w: ping: no address", ErrCannotStart)
	}
	v6 := p.target.Is6()
	zone, err := p.zone()
	if err != nil {
		return err
	}
	conn, raw, err := listenICMP(v6)
	if err != nil {
		return fmt.Errorf("%w: ping %s: %w", ErrCannotStart, p.target, err)
	}
	defer conn.Close()
	// Cut the read short when ctx ends; the probe's ErrTimeout or the cancellation then says why.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()

	id := int(p.id)
	var dst net.Addr = &net.IPAddr{IP: p.target.AsSlice(), Zone: zone}
	if !raw {
		id = conn.LocalAddr().(*net.UDPAddr).Port // what the kernel puts in the identifier
		dst = &net.UDPAddr{IP: p.target.AsSlice(), Zone: zone}
	}
	seq := int(uint16(p.seq.Add(1)))
	var request, reply icmp.Type = ipv4.ICMPTypeEcho, ipv4.ICMPTypeEchoReply
	proto := 1 // ICMP, for icmp.ParseMessage
	if v6 {
		request, reply, proto = ipv6.ICMPTypeEchoRequest, ipv6.ICMPTypeEchoReply, 58
	}
	// ICMPv6's checksum covers a pseudo-header; the kernel fills it in (RFC 3542 §3.1).
	b, err := (&icmp.Message{Type: request, Body: &icmp.Echo{ID: id, Seq: seq, Data: p.data}}).Marshal(nil)
	if err != nil {
		return fmt.Errorf("ping %s: %w", p.target, err)
	}
	if _, err := conn.WriteTo(b, dst); err != nil {
		return fmt.Errorf("ping %s: %w", p.target, err)
	}

	buf := make([]byte, 1500)
	for {
		n, from, err := conn.ReadFrom(buf)
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("no echo reply from %s: %w", p.target, ctx.Err())
			}
			return fmt.Errorf("ping %s: %w", p.target, err)
		}
		// A raw socket gets every ICMP message the host receives: others' echoes, errors, and
		// replies to other checks. (A raw IPv4 socket's header is stripped by ReadFrom.)
		m, err := icmp.ParseMessage(proto, buf[:n])
		if err != nil || m.Type != reply || addrOf(from) != p.target.WithZone("") {
			continue
		}
		if echo, ok := m.Body.(*icmp.Echo); ok && echo.ID == id && echo.Seq == seq && bytes.Equal(echo.Data, p.data) {
			return nil
		}
	}
}

// zone returns the zone to send to the target with: for a link-local IPv6 target, its
// interface's index, looked up in this thread's namespace (the net package would resolve a name
// in a cache shared by every namespace); else "".
func (p *pingChecker) zone() (string, error) {
	zone := p.target.Zone()
	if !p.target.Is6() || !p.target.IsLinkLocalUnicast() {
		return "", nil
	}
	if zone == "" {
		return "", fmt.Errorf("%w: ping %s: a link-local address needs a zone, the interface to send on (%s%%eth0)", ErrCannotStart, p.target, p.target)
	}
	if _, err := strconv.Atoi(zone); err == nil {
		return zone, nil
	}
	ifi, err := net.InterfaceByName(zone)
	if err != nil {
		return "", fmt.Errorf("%w: ping %s: %w", ErrCannotStart, p.target, err)
	}
	return strconv.Itoa(ifi.Index), nil
}

// listenICMP opens a raw ICMP or ICMPv6 socket, or an unprivileged one where a raw one is not
// permitted; raw says which it is.
func listenICMP(v6 bool) (conn net.PacketConn, raw bool, err error) {
	network, laddr := "ip4:icmp", "0.0.0.0"
	family, proto, wildcard := unix.AF_INET, unix.IPPROTO_ICMP, unix.Sockaddr(&unix.SockaddrInet4{})
	if v6 {
		network, laddr = "ip6:ipv6-icmp", "::"
		family, proto, wildcard = unix.AF_INET6, unix.IPPROTO_ICMPV6, &unix.SockaddrInet6{}
	}
	c, rawErr := net.ListenPacket(network, laddr)
	if rawErr == nil {
		if v6 {
			// Only echo replies are of interest; the rest need not wake the probe.
			var f ipv6.ICMPFilter
			f.SetAll(true)
			f.Accept(ipv6.ICMPTypeEchoReply)
			_ = ipv6.NewPacketConn(c).SetICMPFilter(&f)
		}
		return c, true, nil
	}
	if !errors.Is(rawErr, unix.EPERM) {
		return nil, false, rawErr
	}
	// x/net/icmp's own "udp4" socket lacks SOCK_CLOEXEC: a check's command started meanwhile
	// would keep it.
	fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, proto)
	if errors.Is(err, unix.EACCES) {
		return nil, false, fmt.Errorf("raw socket: %w; unprivileged ICMP socket: %w (net.ipv4.ping_group_range does not include group %d)", rawErr, err, os.Getegid())
	}
	if err != nil {
		return nil, false, fmt.Errorf("raw socket: %w; unprivileged ICMP socket: %w", rawErr, err)
	}
	f := os.NewFile(uintptr(fd), "icmp")
	defer f.Close() // FilePacketConn holds a duplicate
	// Binding picks the identifier, which LocalAddr then shows as the port.
	if err := unix.Bind(fd, wildcard); err != nil {
		return nil, false, fmt.Errorf("unprivileged ICMP socket: bind: %w", err)
	}
	c, err = net.FilePacketConn(f)
	if err != nil {
		return nil, false, fmt.Errorf("unprivileged ICMP socket: %w", err)
	}
	return c, false, nil
}

// addrOf is the address of a peer a socket read from, without a zone.
func addrOf(a net.Addr) netip.Addr {
	var ip net.IP
	switch a := a.(type) {
	case *net.IPAddr:
		ip = a.IP
	case *net.UDPAddr:
		ip = a.IP
	}
	addr, _ := netip.AddrFromSlice(ip)
	return addr.Unmap()
}

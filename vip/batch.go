package vip

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// A batch sends many rtnetlink requests on one socket without waiting for each answer: as many
// messages per sendmsg as their acknowledgements fit in the socket's receive buffer, then their
// acknowledgements, each matched to its request by sequence number. The kernel handles an
// rtnetlink message within the sendmsg that carries it, so by the time sendmsg returns every
// acknowledgement is queued, or dropped if the buffer overflowed (the next read says ENOBUFS).
type batch struct {
	s   *nl.NetlinkSocket
	seq uint32
	max int    // requests per sendmsg
	out []byte // the messages of one sendmsg
	in  []byte // one acknowledgement
}

// request is one rtnetlink message: its type, flags and body; the batch adds the header.
type request struct {
	typ   uint16
	flags uint16
	body  []byte
}

const (
	// ackBuffer is the receive buffer the batch socket asks for. The kernel counts each queued
	// acknowledgement at its buffer's true size, under a kilobyte for these small messages.
	ackBuffer = 1 << 20
	// ackCost is what one acknowledgement is counted as, rounded up.
	ackCost = 1024
	// maxBatch bounds the requests per sendmsg, and maxSend its bytes: well below the default
	// send buffer (net.core.wmem_default), which a sendmsg must fit in.
	maxBatch = 1024
	maxSend  = 64 << 10
	// ackWait bounds the wait for an acknowledgement that is neither queued nor dropped, which
	// the kernel's synchronous handling never leaves: a safeguard, not a timeout that happens.
	ackWait = 2000 // milliseconds
)

var (
	errNoAck   = errors.New("the kernel did not acknowledge the request")
	errAckLost = errors.New("the kernel's acknowledgement was lost (receive buffer overflow)")
)

// openBatch opens a netlink socket in ns (netns.None(): the current namespace).
func openBatch(ns netns.NsHandle) (*batch, error) {
	s, err := nl.GetNetlinkSocketAt(ns, netns.None(), unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("open netlink socket: %w", err)
	}
	fd := s.GetFd()
	// SO_RCVBUFFORCE goes past net.core.rmem_max, with CAP_NET_ADMIN, which changing addresses
	// needs anyway. Without it, whatever SO_RCVBUF gives; the batch size follows.
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, ackBuffer) != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, ackBuffer)
	}
	// Acknowledgements of failures without a copy of the request (CAP_ACK), and with the kernel's
	// explanation (EXT_ACK). Kernels before 4.3 and 4.12 lack them and send longer or terser
	// acknowledgements, which are read all the same.
	_ = unix.SetsockoptInt(fd, unix.SOL_NETLINK, unix.NETLINK_CAP_ACK, 1)
	_ = unix.SetsockoptInt(fd, unix.SOL_NETLINK, unix.NETLINK_EXT_ACK, 1)
	rcvbuf, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF)
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("netlink socket: %w", err)
	}
	return &batch{s: s, max: min(max(rcvbuf/ackCost, 1), maxBatch), in: make([]byte, 8192)}, nil
}

func (b *batch) close() { b.s.Close() }

// exec sends every request and returns each one's outcome: nil, or the kernel's error (a
// unix.Errno underneath).
func (b *batch) exec(reqs []request) []error {
	errs := make([]error, len(reqs))
	answered := make([]bool, len(reqs))
	todo := make([]int, len(reqs))
	for i := range todo {
		todo[i] = i
	}
	for len(todo) > 0 {
		sent, err := b.round(reqs, todo, errs, answered)
		var again []int
		for _, i := range todo[:sent] {
			if !answered[i] {
				again = append(again, i)
			}
		}
		switch {
		case len(again) == 0:
		case errors.Is(err, errAckLost) && b.max > 1:
			// Fewer at a time, and the unanswered again: replacing an address, or deleting
			// one already gone, is harmless to repeat.
			b.max = max(b.max/2, 1)
		default:
			for _, i := range again {
				errs[i] = err
			}
			again = nil
		}
		todo = append(again, todo[sent:]...)
	}
	return errs
}

// round sends the first requests of todo in one sendmsg and reads their acknowledgements, and
// returns how many it sent. The error is why some were not answered.
func (b *batch) round(reqs []request, todo []int, errs []error, answered []bool) (sent int, err error) {
	first := b.seq + 1
	b.out = b.out[:0]
	for _, i := range todo {
		r := reqs[i]
		size := unix.NLMSG_HDRLEN + len(r.body)
		if sent == b.max || (sent > 0 && len(b.out)+size > maxSend) {
			break
		}
		b.seq++
		b.out = binary.NativeEndian.AppendUint32(b.out, uint32(size))
		b.out = binary.NativeEndian.AppendUint16(b.out, r.typ)
		b.out = binary.NativeEndian.AppendUint16(b.out, unix.NLM_F_REQUEST|unix.NLM_F_ACK|r.flags)
		b.out = binary.NativeEndian.AppendUint32(b.out, b.seq)
		b.out = binary.NativeEndian.AppendUint32(b.out, 0) // port: the kernel's
		b.out = append(b.out, r.body...)
		b.out = append(b.out, zeros[:nlAlign(size)-size]...)
		sent++
	}
	fd := b.s.GetFd()
	for {
		err = unix.Sendto(fd, b.out, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK})
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		return sent, fmt.Errorf("send to netlink: %w", err)
	}
	left, overrun := sent, false
	for left > 0 {
		n, _, err := unix.Recvfrom(fd, b.in, 0) // the socket is non-blocking
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.ENOBUFS:
			overrun = true // some were dropped; read those that were queued
			continue
		case err == unix.EAGAIN && overrun:
			return sent, errAckLost
		case err == unix.EAGAIN:
			ready, err := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, ackWait)
			if err != nil && err != unix.EINTR {
				return sent, fmt.Errorf("wait for netlink: %w", err)
			}
			if ready == 0 && err == nil {
				return sent, errNoAck
			}
			continue
		case err != nil:
			return sent, fmt.Errorf("read from netlink: %w", err)
		}
		for msg := b.in[:n]; len(msg) >= unix.NLMSG_HDRLEN; {
			size := int(binary.NativeEndian.Uint32(msg))
			if size < unix.NLMSG_HDRLEN || size > len(msg) {
				break
			}
			seq := binary.NativeEndian.Uint32(msg[8:])
			if k := int(seq - first); seq-first < uint32(sent) && !answered[todo[k]] {
				if err, ok := ackError(msg[:size]); ok {
					errs[todo[k]], answered[todo[k]] = err, true
					left--
				}
			}
			msg = msg[min(nlAlign(size), len(msg)):]
		}
	}
	return sent, nil
}

// ackError reads an acknowledgement (NLMSG_ERROR): nil for success, else the errno with the
// kernel's message if it gave one. ok is false for any other message.
//
//	nlmsghdr   length, type NLMSG_ERROR, flags (NLM_F_CAPPED, NLM_F_ACK_TLVS), seq, port
//	int32      0 or -errno
//	nlmsghdr   the request's header, and its body unless NLM_F_CAPPED
//	TLVs       if NLM_F_ACK_TLVS: NLMSGERR_ATTR_MSG, a NUL-terminated string, among others
func ackError(msg []byte) (err error, ok bool) {
	const errLen = 4 + unix.NLMSG_HDRLEN
	if binary.NativeEndian.Uint16(msg[4:]) != unix.NLMSG_ERROR || len(msg) < unix.NLMSG_HDRLEN+errLen {
		return nil, false
	}
	flags := binary.NativeEndian.Uint16(msg[6:])
	body := msg[unix.NLMSG_HDRLEN:]
	errno := -int32(binary.NativeEndian.Uint32(body))
	if errno == 0 {
		return nil, true
	}
	e := &kernelError{errno: unix.Errno(errno)}
	if flags&unix.NLM_F_ACK_TLVS != 0 {
		tlvs := body[errLen:]
		if flags&unix.NLM_F_CAPPED == 0 {
			tlvs = body[min(4+nlAlign(int(binary.NativeEndian.Uint32(body[4:]))), len(body)):]
		}
		for len(tlvs) >= 4 {
			l, typ := int(binary.NativeEndian.Uint16(tlvs)), binary.NativeEndian.Uint16(tlvs[2:])
			if l < 4 || l > len(tlvs) {
				break
			}
			if typ == unix.NLMSGERR_ATTR_MSG {
				e.msg = strings.TrimRight(string(tlvs[4:l]), "\x00")
			}
			tlvs = tlvs[min(nlAlign(l), len(tlvs)):]
		}
	}
	return e, true
}

// kernelError is an errno from netlink, with the kernel's explanation if it gave one.
type kernelError struct {
	errno unix.Errno
	msg   string
}

func (e *kernelError) Error() string {
	if e.msg == "" {
		return e.errno.Error()
	}
	return e.errno.Error() + ": " + e.msg
}

func (e *kernelError) Unwrap() error { return e.errno }

func nlAlign(n int) int { return (n + unix.NLMSG_ALIGNTO - 1) &^ (unix.NLMSG_ALIGNTO - 1) }

// appendAttr appends a route attribute (rtattr: length, type, data, padding).
func appendAttr(b []byte, typ uint16, data []byte) []byte {
	l := unix.SizeofRtAttr + len(data)
	b = binary.NativeEndian.AppendUint16(b, uint16(l))
	b = binary.NativeEndian.AppendUint16(b, typ)
	b = append(b, data...)
	return append(b, zeros[:nlAlign(l)-l]...)
}

// zeros pads netlink messages and attributes to their alignment.
var zeros [unix.NLMSG_ALIGNTO]byte

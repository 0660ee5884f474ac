package lab

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mdlayher/arp"
	"github.com/mdlayher/ndp"
	"github.com/mdlayher/packet"
	"golang.org/x/sys/unix"
)

// ErrTimeout means a Capture did not see what was waited for in time.
var ErrTimeout = errors.New("timed out")

// Kind classifies a captured frame.
type Kind uint8

const (
	Other Kind = iota // anything else
	VRRP              // an IPv4 or IPv6 packet with protocol / next header 112
	GARP              // an ARP packet whose sender IP equals its target IP
	NA                // an ICMPv6 neighbour advertisement
)

func (k Kind) String() string {
	switch k {
	case VRRP:
		return "VRRP"
	case GARP:
		return "GARP"
	case NA:
		return "NA"
	}
	return "other"
}

// Event is one captured frame, with the fields that matter for failover pulled out.
type Event struct {
	Time  time.Time        // when the kernel received (or sent) the frame; see KernelTime
	Kind  Kind             // what it is
	Src   net.HardwareAddr // Ethernet source
	Frame []byte           // the whole frame, from the Ethernet header

	IP  netip.Addr       // VRRP: IP source; GARP: sender IP; NA: target address
	MAC net.HardwareAddr // GARP: sender hardware address; NA: target link-layer address option

	Version, VRID, Priority     uint8 // VRRP
	Router, Solicited, Override bool  // NA flags

	// KernelTime says Time is the kernel's software timestamp for the frame (SO_TIMESTAMPNS),
	// taken as the frame reached eth0, before any scheduling of the capturing goroutine. When
	// the kernel gave none, Time is when the frame was read.
	KernelTime bool
}

// Capture records every frame seen on one of a host's interfaces, in both directions.
type Capture struct {
	conn   *packet.Conn
	raw    syscall.RawConn
	wg     sync.WaitGroup
	closed atomic.Bool

	mu     sync.Mutex
	events []Event
	wake   chan struct{} // closed and replaced on every frame, to wake Wait
	drops  uint64        // frames the kernel dropped, as of the last Drops
}

// StartCapture opens an AF_PACKET socket for all protocols on h's eth0. Every frame
// that passes eth0 after it returns is recorded, stamped with the kernel's receive time.
func StartCapture(h *Host) (*Capture, error) { return StartCaptureOn(h, "eth0", 0) }

// StartCaptureOn captures on h's interface ifname, with a receive buffer of buffer bytes (0: the
// socket's default, a few hundred frames): a burst larger than the buffer loses frames, which
// Drops counts.
func StartCaptureOn(h *Host, ifname string, buffer int) (*Capture, error) {
	c := &Capture{wake: make(chan struct{})}
	err := h.Do(func() error {
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			return err
		}
		c.conn, err = packet.Listen(ifi, packet.Raw, unix.ETH_P_ALL, nil)
		return err
	})
	if err == nil {
		c.raw, err = c.conn.SyscallConn()
		if err != nil {
			c.conn.Close()
		}
	}
	if err == nil {
		// Stamp each frame in the kernel as it arrives: a time read after the goroutine
		// is scheduled carries that scheduling's delay, milliseconds on a busy machine.
		var serr error
		err = c.raw.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1)
			if serr == nil && buffer > 0 {
				// FORCE: past net.core.rmem_max, as root may.
				serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, buffer)
			}
		})
		if err = errors.Join(err, serr); err != nil {
			c.conn.Close()
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%s: capture on %s: %w", h.Name, ifname, err)
	}
	c.wg.Add(1)
	go c.read()
	return c, nil
}

func (c *Capture) read() {
	defer c.wg.Done()
	buf := make([]byte, 1<<16)
	oob := make([]byte, unix.CmsgSpace(16)) // one struct timespec
	for {
		var n, oobn int
		var rerr error
		err := c.raw.Read(func(fd uintptr) bool {
			n, oobn, _, _, rerr = unix.Recvmsg(int(fd), buf, oob, 0)
			return rerr != unix.EAGAIN
		})
		now := time.Now()
		if c.closed.Load() {
			return
		}
		if err != nil || rerr != nil {
			continue // such as ENETDOWN, reported once when eth0 is set down
		}
		e := Classify(append([]byte(nil), buf[:n]...))
		e.Time = now
		if t, ok := kernelTime(oob[:oobn]); ok {
			e.Time, e.KernelTime = t, true
		}
		c.mu.Lock()
		c.events = append(c.events, e)
		close(c.wake)
		c.wake = make(chan struct{})
		c.mu.Unlock()
	}
}

// Events returns a copy of the frames recorded so far, oldest first.
func (c *Capture) Events() []Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Event(nil), c.events...)
}

// Since blocks until more than n frames have been recorded, or timeout passes, and returns
// a copy of the frames after the first n. Unlike Wait, it copies only what is new, so a
// caller that keeps count can follow a busy wire cheaply.
func (c *Capture) Since(n int, timeout time.Duration) ([]Event, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		c.mu.Lock()
		var events []Event
		if n < len(c.events) {
			events = append(events, c.events[max(n, 0):]...)
		}
		wake := c.wake
		c.mu.Unlock()
		if len(events) > 0 {
			return events, nil
		}
		select {
		case <-wake:
		case <-deadline.C:
			return nil, fmt.Errorf("capture: %w after %s", ErrTimeout, timeout)
		}
	}
}

// Wait blocks until done is true of the frames recorded so far, and returns them.
func (c *Capture) Wait(timeout time.Duration, done func([]Event) bool) ([]Event, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		c.mu.Lock()
		events, wake := append([]Event(nil), c.events...), c.wake
		c.mu.Unlock()
		if done(events) {
			return events, nil
		}
		select {
		case <-wake:
		case <-deadline.C:
			return events, fmt.Errorf("capture: %w after %s", ErrTimeout, timeout)
		}
	}
}

// Drops is how many frames the kernel has dropped for want of buffer since the capture began.
func (c *Capture) Drops() (uint64, error) {
	st, err := c.conn.Stats() // which resets the kernel's counters
	if err != nil {
		return 0, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.drops += uint64(st.Drops)
	return c.drops, nil
}

// Close stops capturing; it can be called again. Events still works afterwards.
func (c *Capture) Close() error {
	if c.closed.Swap(true) {
		return nil
	}
	err := c.conn.Close()
	c.wg.Wait()
	return err
}

// Filter returns the events of kind k.
func Filter(events []Event, k Kind) []Event {
	var out []Event
	for _, e := range events {
		if e.Kind == k {
			out = append(out, e)
		}
	}
	return out
}

// Takeover is a failover as a wire saw it: from the last event that old matches (the old
// master's adverts) to the first event after it that announced matches (the new master's
// gratuitous ARP or unsolicited NA). ok is false if the events hold no such pair.
func Takeover(events []Event, old, announced func(Event) bool) (d time.Duration, ok bool) {
	var last time.Time
	for _, e := range events {
		switch {
		case old(e):
			last = e.Time
		case announced(e) && !last.IsZero():
			return e.Time.Sub(last), true
		}
	}
	return 0, false
}

// Classify parses an Ethernet frame (untagged) into an Event. Anything it doesn't
// recognise is Other; it never fails.
func Classify(frame []byte) Event {
	e := Event{Frame: frame}
	if len(frame) < 14 {
		return e
	}
	e.Src = net.HardwareAddr(frame[6:12])
	payload := frame[14:]
	switch binary.BigEndian.Uint16(frame[12:14]) {
	case unix.ETH_P_ARP:
		var p arp.Packet
		if p.UnmarshalBinary(payload) == nil && p.SenderIP == p.TargetIP {
			e.Kind, e.IP, e.MAC = GARP, p.SenderIP, p.SenderHardwareAddr
		}
	case unix.ETH_P_IP:
		if len(payload) < 20 || payload[0]>>4 != 4 {
			return e
		}
		ihl := int(payload[0]&0x0f) * 4
		if payload[9] == 112 && len(payload) >= ihl+3 {
			e.IP, _ = netip.AddrFromSlice(payload[12:16])
			e.vrrp(payload[ihl:])
		}
	case unix.ETH_P_IPV6:
		if len(payload) < 40 || payload[0]>>4 != 6 {
			return e
		}
		src, _ := netip.AddrFromSlice(payload[8:24])
		switch body := payload[40:]; payload[6] {
		case 112:
			if len(body) >= 3 {
				e.IP = src
				e.vrrp(body)
			}
		case 58:
			m, err := ndp.ParseMessage(body)
			if na, ok := m.(*ndp.NeighborAdvertisement); err == nil && ok {
				e.Kind, e.IP = NA, na.TargetAddress
				e.Router, e.Solicited, e.Override = na.Router, na.Solicited, na.Override
				for _, o := range na.Options {
					if lla, ok := o.(*ndp.LinkLayerAddress); ok && lla.Direction == ndp.Target {
						e.MAC = lla.Addr
					}
				}
			}
		}
	}
	return e
}

// kernelTime returns the SO_TIMESTAMPNS timestamp among a received message's control
// messages.
func kernelTime(oob []byte) (time.Time, bool) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return time.Time{}, false
	}
	for _, m := range msgs {
		if m.Header.Level != unix.SOL_SOCKET || m.Header.Type != unix.SCM_TIMESTAMPNS {
			continue
		}
		// struct timespec: two native longs, 8 bytes each on 64-bit and 4 on 32-bit.
		switch d := m.Data; len(d) {
		case 16:
			return time.Unix(int64(binary.NativeEndian.Uint64(d)), int64(binary.NativeEndian.Uint64(d[8:]))), true
		case 8:
			return time.Unix(int64(int32(binary.NativeEndian.Uint32(d))), int64(int32(binary.NativeEndian.Uint32(d[4:])))), true
		}
	}
	return time.Time{}, false
}

// vrrp fills the VRRP fields from the first bytes of a VRRP message (RFC 5798 §5.1).
func (e *Event) vrrp(msg []byte) {
	e.Kind, e.Version, e.VRID, e.Priority = VRRP, msg[0]>>4, msg[1], msg[2]
}

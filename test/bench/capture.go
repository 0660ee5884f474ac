package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mdlayher/packet"
	"github.com/vrrpd/vrrpd/test/lab"
	"golang.org/x/sys/unix"
)

// captureBuffer is a capture's receive buffer. The socket default (about 200 KiB) holds a few
// hundred frames, fewer than one takeover of 1000 VIPs sends (5 GARPs each) or one second of
// 1020 instances' adverts when they go out together; a frame the kernel drops there would pass
// for one the daemon never sent.
const captureBuffer = 64 << 20

// capture records every frame that passes one interface of a lab host, in both directions,
// stamped by the kernel (SO_TIMESTAMPNS) as it reaches the interface. It is lab.Capture with
// the interface named and a buffer large enough for a burst, and it counts the frames the
// kernel dropped all the same.
type capture struct {
	conn   *packet.Conn
	raw    syscall.RawConn
	wg     sync.WaitGroup
	closed atomic.Bool

	mu     sync.Mutex
	events []lab.Event
	wake   chan struct{} // closed and replaced on every frame
	drops  uint64        // frames the kernel dropped, as of the last stats read
}

// startCapture starts capturing on interface ifname of h.
func startCapture(h *lab.Host, ifname string) (*capture, error) {
	c := &capture{wake: make(chan struct{})}
	err := h.Do(func() error {
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			return err
		}
		c.conn, err = packet.Listen(ifi, packet.Raw, unix.ETH_P_ALL, nil)
		return err
	})
	if err == nil {
		if c.raw, err = c.conn.SyscallConn(); err != nil {
			c.conn.Close()
		}
	}
	if err == nil {
		var serr error
		err = c.raw.Control(func(fd uintptr) {
			serr = errors.Join(unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1),
				// FORCE: past net.core.rmem_max, as root may.
				unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, captureBuffer))
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

func (c *capture) read() {
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
			continue // such as ENETDOWN, reported once when the interface goes down
		}
		e := lab.Classify(append([]byte(nil), buf[:n]...))
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

// Events returns a copy of the frames recorded so far, in the order they were read.
func (c *capture) Events() []lab.Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]lab.Event(nil), c.events...)
}

// Since blocks until more than n frames have been recorded, or timeout passes, and returns a
// copy of the frames after the first n.
func (c *capture) Since(n int, timeout time.Duration) ([]lab.Event, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		c.mu.Lock()
		var events []lab.Event
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
			return nil, fmt.Errorf("capture: %w after %s", lab.ErrTimeout, timeout)
		}
	}
}

// Drops is how many frames the kernel has dropped for want of buffer since the capture began.
func (c *capture) Drops() (uint64, error) {
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
func (c *capture) Close() error {
	if c.closed.Swap(true) {
		return nil
	}
	err := c.conn.Close()
	c.wg.Wait()
	return err
}

// kernelTime returns the SO_TIMESTAMPNS timestamp among a received message's control messages.
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

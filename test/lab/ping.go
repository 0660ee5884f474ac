package lab

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// ErrNoReply means no echo reply arrived in time.
var ErrNoReply = errors.New("no echo reply")

// PingStats sums up a Pinger's run.
type PingStats struct {
	Sent, Received int
	MaxGap         time.Duration // longest time between two consecutive replies
	First, Last    time.Time     // when the first and the last reply arrived; zero if none did
}

// Pinger sends ICMP or ICMPv6 echo requests from a host at a fixed rate and records
// when the replies arrive, by the kernel's receive timestamp (SO_TIMESTAMPNS) where it
// gives one. Replies are matched by echo identifier and sequence number; duplicates and
// replies to someone else's pings are ignored.
type Pinger struct {
	conn   *net.IPConn
	dst    *net.IPAddr
	proto  int // 1 (ICMP) or 58 (ICMPv6), for icmp.ParseMessage
	req    icmp.Type
	reply  icmp.Type
	id     int
	every  time.Duration
	done   chan struct{}
	once   sync.Once
	wg     sync.WaitGroup
	target netip.Addr

	mu      sync.Mutex
	stats   PingStats
	pending map[int]bool  // sequence numbers sent and not yet answered
	replied chan struct{} // closed and replaced on every reply, to wake WaitReply
}

// StartPinger starts pinging target from h every interval. The raw socket is opened in
// h's namespace. An IPv6 link-local target without a zone is reached through eth0.
func StartPinger(h *Host, target netip.Addr, every time.Duration) (*Pinger, error) {
	p := &Pinger{
		dst:     &net.IPAddr{IP: target.AsSlice(), Zone: target.Zone()},
		id:      rand.IntN(0xffff) + 1,
		every:   every,
		done:    make(chan struct{}),
		target:  target,
		pending: map[int]bool{},
		replied: make(chan struct{}),
	}
	network, laddr := "ip4:icmp", "0.0.0.0"
	p.proto, p.req, p.reply = 1, ipv4.ICMPTypeEcho, ipv4.ICMPTypeEchoReply
	if target.Is6() {
		network, laddr = "ip6:ipv6-icmp", "::"
		p.proto, p.req, p.reply = 58, ipv6.ICMPTypeEchoRequest, ipv6.ICMPTypeEchoReply
	}
	err := h.Do(func() error {
		if target.Is6() && target.IsLinkLocalUnicast() && p.dst.Zone == "" {
			// Zone names are resolved where the packet is written, outside the
			// namespace, so pass eth0's index instead.
			ifi, err := net.InterfaceByName("eth0")
			if err != nil {
				return err
			}
			p.dst.Zone = strconv.Itoa(ifi.Index)
		}
		c, err := net.ListenPacket(network, laddr)
		if err != nil {
			return err
		}
		p.conn = c.(*net.IPConn)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%s: pinger for %s: %w", h.Name, target, err)
	}
	if target.Is6() {
		var f ipv6.ICMPFilter
		f.SetAll(true)
		f.Accept(ipv6.ICMPTypeEchoReply)
		_ = ipv6.NewPacketConn(p.conn).SetICMPFilter(&f) // an optimisation: replies are checked anyway
	}
	// Stamp replies in the kernel as they arrive, not when this process gets to read them.
	// Without timestamps (an error here) replies are stamped when read.
	if rc, err := p.conn.SyscallConn(); err == nil {
		_ = rc.Control(func(fd uintptr) {
			_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1)
		})
	}
	p.wg.Add(2)
	go p.sendLoop()
	go p.recvLoop()
	return p, nil
}

func (p *Pinger) sendLoop() {
	defer p.wg.Done()
	tick := time.NewTicker(p.every)
	defer tick.Stop()
	for seq := 0; ; seq = (seq + 1) & 0xffff {
		b, _ := (&icmp.Message{Type: p.req, Body: &icmp.Echo{ID: p.id, Seq: seq, Data: []byte("vrrpd lab")}}).Marshal(nil)
		p.mu.Lock()
		p.pending[seq] = true
		p.stats.Sent++
		p.mu.Unlock()
		// A failed write (no route, say) is a lost ping like any other.
		_, _ = p.conn.WriteTo(b, p.dst)
		select {
		case <-p.done:
			return
		case <-tick.C:
		}
	}
}

func (p *Pinger) recvLoop() {
	defer p.wg.Done()
	buf := make([]byte, 1500)
	oob := make([]byte, unix.CmsgSpace(16)) // one struct timespec
	for {
		n, oobn, _, _, err := p.conn.ReadMsgIP(buf, oob)
		now := time.Now()
		select {
		case <-p.done:
			return
		default:
		}
		if err != nil {
			continue
		}
		if t, ok := kernelTime(oob[:oobn]); ok {
			now = t
		}
		msg := buf[:n]
		if p.proto == 1 && n >= 20 && msg[0]>>4 == 4 {
			// A raw IPv4 socket delivers the IP header too (ReadFrom strips it; ReadMsgIP
			// does not).
			if hl := int(msg[0]&0x0f) * 4; hl >= 20 && hl <= n {
				msg = msg[hl:]
			}
		}
		m, err := icmp.ParseMessage(p.proto, msg)
		if err != nil || m.Type != p.reply {
			continue
		}
		if echo, ok := m.Body.(*icmp.Echo); ok && echo.ID == p.id {
			p.record(echo.Seq, now)
		}
	}
}

func (p *Pinger) record(seq int, at time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.pending[seq] {
		return
	}
	delete(p.pending, seq)
	s := &p.stats
	if s.Received == 0 {
		s.First = at
	} else if gap := at.Sub(s.Last); gap > s.MaxGap {
		s.MaxGap = gap
	}
	s.Last = at
	s.Received++
	close(p.replied)
	p.replied = make(chan struct{})
}

// WaitReply blocks until a reply has arrived at or after since, or timeout passes.
func (p *Pinger) WaitReply(since time.Time, timeout time.Duration) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		p.mu.Lock()
		last, wake := p.stats.Last, p.replied
		p.mu.Unlock()
		if !last.IsZero() && !last.Before(since) {
			return nil
		}
		select {
		case <-wake:
		case <-deadline.C:
			return fmt.Errorf("%w from %s within %s", ErrNoReply, p.target, timeout)
		case <-p.done:
			return fmt.Errorf("%w from %s: pinger stopped", ErrNoReply, p.target)
		}
	}
}

// Stats returns the numbers so far.
func (p *Pinger) Stats() PingStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stats
}

// Stop stops sending, closes the socket and returns the final numbers. It can be
// called again.
func (p *Pinger) Stop() PingStats {
	p.once.Do(func() {
		close(p.done)
		_ = p.conn.Close()
		p.wg.Wait()
	})
	return p.Stats()
}

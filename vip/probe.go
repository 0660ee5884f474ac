package vip

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/mdlayher/packet"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// MaxDuplicateMACs is how many MACs a Duplicate lists. A VIP held twice is one other host in a
// split brain, two or three while a pair flaps or a host is replaced; more come from a host
// answering for everyone (proxy ARP) or forging replies, and listing them tells an operator
// nothing more, while each would become a log line and a metric series of its own.
const MaxDuplicateMACs = 4

// maxCountedMACs bounds the distinct MACs Seen counts per VIP: each is remembered until the probe
// ends, and a flood of forged replies must not grow that without end.
const maxCountedMACs = 1024

// Duplicate is a VIP that other hosts answer for.
type Duplicate struct {
	VIP  netip.Addr
	MACs []net.HardwareAddr // at most MaxDuplicateMACs, in the order first heard
	Seen int                // distinct MACs that answered (up to maxCountedMACs), which may be more than listed
}

// AnsweredBy says who answered: the MACs listed, and how many more there were.
func (d Duplicate) AnsweredBy() string {
	macs := make([]string, len(d.MACs))
	for i, m := range d.MACs {
		macs[i] = m.String()
	}
	return AnsweredBy(macs, d.Seen)
}

// AnsweredBy says who answered for a VIP: the MACs listed, and how many more of the seen there
// were.
func AnsweredBy(macs []string, seen int) string {
	s := strings.Join(macs, ", ")
	if more := seen - len(macs); more > 0 {
		s += fmt.Sprintf(" and %d more", more)
	}
	return s
}

// Probe asks the LAN who else answers for the addresses, and listens for wait. For IPv4 it sends
// ARP probes (RFC 5227 §2.1.1: sender IP 0.0.0.0, so that no host's cache changes); for IPv6,
// the neighbour solicitation of duplicate address detection (RFC 4862 §5.4.2), which a holder
// answers with an advertisement. It returns one Duplicate per address that another MAC than its
// interface's claimed: by answering, or by sending ARP from it, as a host that still holds the
// VIP after a failover does (one whose daemon was killed), in the order of addrs.
//
// Every frame is validated (parseARPReply, parseNAReply) and costs O(1). Interfaces are probed
// at once; one that fails is reported, and the others still probed.
func (m *Manager) Probe(addrs []Addr, wait time.Duration) ([]Duplicate, error) {
	m.mu.Lock()
	links, err := m.linksOf(addrs)
	m.mu.Unlock()
	errs := []error{err}
	byDev := map[string]*probe{}
	var probes []*probe
	for _, a := range addrs {
		l, ok := links[a.Dev]
		if !ok || !a.Prefix.IsValid() {
			continue
		}
		p, seen := byDev[a.Dev]
		if !seen {
			attrs := l.Attrs()
			if len(attrs.HardwareAddr) == 6 {
				p = &probe{dev: a.Dev, index: attrs.Index, mac: [6]byte(attrs.HardwareAddr), targets: map[netip.Addr]bool{}}
				probes = append(probes, p)
			} else {
				errs = append(errs, fmt.Errorf("probe on %s: %w", a.Dev, ErrNotEthernet))
			}
			byDev[a.Dev] = p
		}
		if p != nil {
			p.targets[a.Prefix.Addr()] = true
		}
	}
	found := &duplicates{byVIP: map[netip.Addr]*Duplicate{}, seen: map[vipMAC]bool{}}
	deadline := time.Now().Add(wait)
	var wg sync.WaitGroup
	listenErrs := make(chan error, 2*len(probes))
	for _, p := range probes {
		// Opened and sent on the calling thread, in its namespace; read from anywhere.
		conns, err := p.start()
		if err != nil {
			errs = append(errs, err)
		}
		for _, c := range conns {
			wg.Go(func() { listenErrs <- p.listen(c, deadline, found) })
		}
	}
	wg.Wait()
	close(listenErrs)
	for err := range listenErrs {
		errs = append(errs, err)
	}
	var dups []Duplicate
	for _, a := range addrs {
		if d := found.byVIP[a.Prefix.Addr()]; d != nil {
			dups = append(dups, *d)
			delete(found.byVIP, a.Prefix.Addr()) // once, if listed twice
		}
	}
	return dups, errors.Join(errs...)
}

// probe is the probing of one interface.
type probe struct {
	dev     string
	index   int
	mac     [6]byte
	targets map[netip.Addr]bool
}

// listening is one socket of a probe and the parser of what it hears.
type listening struct {
	c     *packet.Conn
	parse func([]byte) (reply, error)
}

// naFilter lets only ICMPv6 neighbour advertisements without extension headers through.
var naFilter = []bpf.Instruction{
	bpf.LoadAbsolute{Off: 14 + 6, Size: 1}, // next header
	bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: ipv6NextHeaderICMP, SkipTrue: 3},
	bpf.LoadAbsolute{Off: 14 + 40, Size: 1}, // ICMPv6 type
	bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: icmpTypeNA, SkipTrue: 1},
	bpf.RetConstant{Val: 0xffff},
	bpf.RetConstant{Val: 0},
}

// start opens the sockets the probe needs, each before the probes whose answers it hears, and
// sends the probes.
func (p *probe) start() ([]listening, error) {
	ifi := &net.Interface{Index: p.index, Name: p.dev, HardwareAddr: p.mac[:]}
	var conns []listening
	var arpConn, naConn *packet.Conn
	fail := func(err error) ([]listening, error) {
		for _, l := range conns {
			_ = l.c.Close()
		}
		return nil, fmt.Errorf("probe on %s: %w", p.dev, err)
	}
	for ip := range p.targets {
		var c *packet.Conn
		var proto uint16
		var frame []byte
		var err error
		if ip.Is4() {
			if arpConn == nil {
				if arpConn, err = packet.Listen(ifi, packet.Raw, unix.ETH_P_ARP, nil); err != nil {
					return fail(fmt.Errorf("open ARP socket: %w", err))
				}
				conns = append(conns, listening{arpConn, parseARPReply})
			}
			c, proto = arpConn, unix.ETH_P_ARP
			frame, err = probeFrame(p.mac[:], ip)
		} else {
			if naConn == nil {
				filter, err := bpf.Assemble(naFilter)
				if err != nil {
					return fail(err)
				}
				if naConn, err = packet.Listen(ifi, packet.Raw, unix.ETH_P_IPV6, &packet.Config{Filter: filter}); err != nil {
					return fail(fmt.Errorf("open IPv6 socket: %w", err))
				}
				conns = append(conns, listening{naConn, parseNAReply})
			}
			c, proto = naConn, unix.ETH_P_IPV6
			frame, err = dadFrame(p.mac[:], ip)
		}
		if err == nil {
			err = sendFrame(c, p.index, proto, frame)
		}
		if err != nil {
			return fail(fmt.Errorf("send probe for %s: %w", ip, err))
		}
	}
	return conns, nil
}

// listen reads what l hears until the deadline, and what was queued by then, and adds every
// other host's claim to one of the probe's addresses to found. It closes l's socket.
func (p *probe) listen(l listening, deadline time.Time, found *duplicates) error {
	defer l.c.Close()
	fail := func(err error) error { return fmt.Errorf("probe on %s: %w", p.dev, err) }
	if err := l.c.SetReadDeadline(deadline); err != nil {
		return fail(err)
	}
	buf := make([]byte, 1600)
	for {
		n, _, err := l.c.ReadFrom(buf)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			break
		}
		if err != nil {
			return fail(err)
		}
		p.hear(l, buf[:n], found)
	}
	// A reply that came in time counts even if this goroutine did not run in time to read it.
	if err := l.c.SetReadDeadline(time.Time{}); err != nil {
		return fail(err)
	}
	rc, err := l.c.SyscallConn()
	if err != nil {
		return fail(err)
	}
	for {
		var n int
		var rerr error
		if err := rc.Read(func(fd uintptr) bool {
			n, _, rerr = unix.Recvfrom(int(fd), buf, unix.MSG_DONTWAIT)
			return true
		}); err != nil {
			return fail(err)
		}
		if rerr == unix.EAGAIN {
			return nil
		}
		if rerr != nil {
			return fail(rerr)
		}
		p.hear(l, buf[:n], found)
	}
}

// hear adds the claim of a frame l heard to found, if it is another host's claim to one of the
// probe's addresses. Our own frames pass by too: the socket sees what the interface sends.
func (p *probe) hear(l listening, frame []byte, found *duplicates) {
	r, err := l.parse(frame)
	if err != nil || !p.targets[r.IP] || r.MAC == p.mac || [6]byte(frame[6:12]) == p.mac {
		return
	}
	found.add(r)
}

// duplicates merges what every socket of a Probe hears.
type duplicates struct {
	mu    sync.Mutex
	byVIP map[netip.Addr]*Duplicate
	seen  map[vipMAC]bool
}

type vipMAC struct {
	ip  netip.Addr
	mac [6]byte
}

func (d *duplicates) add(r reply) {
	d.mu.Lock()
	defer d.mu.Unlock()
	k := vipMAC{r.IP, r.MAC}
	if d.seen[k] {
		return
	}
	dup := d.byVIP[r.IP]
	if dup == nil {
		dup = &Duplicate{VIP: r.IP}
		d.byVIP[r.IP] = dup
	}
	if dup.Seen == maxCountedMACs {
		return
	}
	d.seen[k] = true
	dup.Seen++
	if len(dup.MACs) < MaxDuplicateMACs {
		dup.MACs = append(dup.MACs, net.HardwareAddr(r.MAC[:]))
	}
}

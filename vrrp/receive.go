package vrrp

import (
	"net/netip"
	"slices"
	"time"
)

// dropLogEvery limits how often a drop reason is logged per instance: drops are always counted,
// but a flood of bad packets must not flood the log.
const dropLogEvery = 10 * time.Second

// drainBatches bounds how much a backup reads from its socket before acting on an expired timer:
// 64 batches of readBatch packets are more than a socket's receive buffer holds.
const drainBatches = 64

type sockKey struct {
	ifname string
	ipv6   bool
}

// sock is one interface and family's socket, shared by every instance on them.
type sock struct {
	key    sockKey
	conn   Conn        // nil while the interface is missing
	index  int         // the interface index conn is bound to
	mtu    int         // its MTU when conn was opened; 0 before
	out    []Outgoing  // adverts to send at the next flush
	outIn  []*instance // whose each one is
	outBuf []byte      // their bytes
	byVRID [256]*instance
	drops  [NumDrops]uint64
	logged [NumDrops]time.Time
}

// readable says that a socket has packets to read. Its watcher waits for ack before it waits
// again, so that it does not report the same packets twice.
type readable struct {
	s    *sock
	conn Conn
	ack  chan<- struct{}
}

// watch tells Run whenever conn has packets, until conn closes. Only Run reads them, so that it
// can also read them itself, at once, when a timer it must act on has expired.
func (d *Driver) watch(s *sock, conn Conn) {
	defer d.wg.Done()
	ack := make(chan struct{}, 1)
	for {
		if err := conn.Wait(); err != nil {
			if closedConn(err) {
				return
			}
			d.opt.Log.Warn("VRRP socket wait failed", "interface", s.key.ifname, "err", err)
			select {
			case <-time.After(100 * time.Millisecond):
				continue
			case <-d.stop:
				return
			}
		}
		select {
		case d.rx <- readable{s: s, conn: conn, ack: ack}:
		case <-d.stop:
			return
		}
		select {
		case <-ack:
		case <-d.stop:
			return
		}
	}
}

// read reads what a socket its watcher found readable holds, and lets the watcher go on.
// Many instances' adverts arrive in a burst: reading them all now saves the watcher a wake-up
// per batch.
func (d *Driver) read(r readable) {
	if r.conn == r.s.conn {
		d.drain(r.s)
	}
	r.ack <- struct{}{}
}

// drain reads and processes what a socket holds, without waiting for its watcher.
func (d *Driver) drain(s *sock) {
	for range drainBatches {
		if s.conn == nil || d.readBatch(s) == 0 {
			return
		}
	}
}

// readBatch reads and processes the packets waiting on a socket, up to a batch, and says how
// many it read.
func (d *Driver) readBatch(s *sock) int {
	ps, err := s.conn.Read()
	if err != nil {
		if !closedConn(err) {
			d.opt.Log.Warn("VRRP socket read failed", "interface", s.key.ifname, "err", err)
		}
		return 0
	}
	at := d.now()
	for _, p := range ps {
		d.receive(s, p, at)
	}
	return len(ps)
}

// receive validates a packet (RFC 5798 §7.1, RFC 3768 §7.1) and gives it to its instance.
func (d *Driver) receive(s *sock, p Packet, at time.Time) {
	vrid, ok := PeekVRID(p.Data)
	if !ok {
		d.dropped(s, nil, DropLength, p.Src, at)
		return
	}
	in := s.byVRID[vrid]
	if in == nil {
		d.dropped(s, nil, DropVRID, p.Src, at)
		return
	}
	v := in.rules.Check(p, &d.adv)
	if v.Drop != DropNone {
		d.dropped(s, in, v.Drop, p.Src, at)
		return
	}
	in.cnt.AdvertsReceived++
	if v.AddressMismatch {
		in.cnt.Mismatches++
		in.cnt.LastMismatch = Mismatch{From: p.Src, Addresses: slices.Clone(d.adv.Addresses), At: at}
	}
	if v.AddressMismatch && at.Sub(in.warned) >= dropLogEvery {
		in.warned = at
		d.opt.Log.Warn("advert lists other addresses than ours: check the peer's configuration",
			"instance", in.cfg.Name, "vrid", in.cfg.VRID, "from", p.Src, "theirs", d.adv.Addresses, "ours", in.adv.Addresses)
	}
	d.act(in, in.m.Receive(at, p.Src, &d.adv))
}

// dropped counts a discarded packet, and logs it unless the same reason was logged recently.
// It runs for every dropped packet, so it builds the log record only when it logs.
func (d *Driver) dropped(s *sock, in *instance, why Drop, src netip.Addr, at time.Time) {
	last, count := &s.logged[why], &s.drops[why]
	if in != nil {
		last, count = &in.logged[why], &in.cnt.Drops[why]
	}
	*count++
	if at.Sub(*last) < dropLogEvery {
		return
	}
	*last = at
	attrs := []any{"interface", s.key.ifname, "reason", why.String(), "from", src}
	if in != nil {
		attrs = append(attrs, "instance", in.cfg.Name, "vrid", in.cfg.VRID)
	}
	d.opt.Log.Warn("dropped VRRP packet", append(attrs, "dropped_so_far", *count)...)
}

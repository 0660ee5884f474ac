package vrrp

import (
	"cmp"
	"container/heap"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"time"
)

// VIPs adds, removes and announces an instance's virtual addresses. Package vip implements it.
// Add and Remove are idempotent.
type VIPs interface {
	Add(ifname string, vips []netip.Prefix) error
	Remove(ifname string, vips []netip.Prefix) error
	// Announce sends count gratuitous ARPs (IPv4) or unsolicited neighbour advertisements
	// (IPv6) for each VIP.
	Announce(ifname string, vips []netip.Prefix, count int) error
}

// Event is one state change, as hooks see it.
type Event struct {
	Instance  string
	Interface string
	VRID      uint8
	From, To  State // To == Initialize means the instance stopped
	Priority  uint8 // effective priority
	Reason    string
	VIPs      []netip.Prefix
}

// Notifier runs the hooks for an event. Notify must not block: a hung hook must never delay
// an advertisement or a VIP change.
type Notifier interface {
	Notify(Event)
}

// InstanceConfig is one virtual router as the driver runs it.
type InstanceConfig struct {
	Name       string
	Interface  string
	VRID       uint8
	Machine    Config // Machine.Addr is filled from Src or the interface
	VIPs       []netip.Prefix
	Src        netip.Addr   // the advert source; zero: the interface's primary address
	Peers      []netip.Addr // unicast peers; empty: multicast to 224.0.0.18 or ff02::12
	MinTTL     int          // lowest TTL accepted; 0 means 255
	AuthType   AuthType     // VRRPv2 only
	AuthData   [8]byte      // VRRPv2 simple password, NUL padded
	Checksum   ChecksumMode // IPv4 VRRPv3 only
	GARPRepeat int          // GARPs / NAs per VIP in a burst
	Group      string       // sync group: its members stay with one host (see Machine.Hold)

	// What the trackers say at start-up, so that the instance starts right and does not flap:
	// the effective priority (0: Machine.Priority), and why it must start in FAULT ("": it need not).
	InitialPriority uint8
	InitialFault    string
}

// IPv6 reports whether the instance's VIPs are IPv6.
func (c *InstanceConfig) IPv6() bool { return len(c.VIPs) > 0 && c.VIPs[0].Addr().Is6() }

// Counters are an instance's protocol counters.
type Counters struct {
	AdvertsSent     uint64
	AdvertsReceived uint64
	Drops           [NumDrops]uint64
	Announces       uint64      // GARP/NA bursts
	Announced       uint64      // GARP/NA packets sent
	Duplicates      []Duplicate // other hosts answering for the VIPs, at the last probe
	Mismatches      uint64      // accepted adverts whose addresses differ from ours
	LastMismatch    Mismatch    // the latest of them
	Transitions     [4]uint64   // by target State
	SendErrors      uint64
}

// InstanceStatus is what `vrrpd status` shows of an instance.
type InstanceStatus struct {
	Config InstanceConfig // with Machine.Addr resolved
	Status
	Counters
}

// SocketStatus counts the packets a socket dropped before they could be given to an instance.
type SocketStatus struct {
	Interface string
	IPv6      bool
	Drops     [NumDrops]uint64
}

// Duplicate is another host that answers for one of our VIPs while we are master: typically
// one whose daemon was killed and left the VIP on its interface.
type Duplicate struct {
	VIP netip.Addr
	MAC string
}

// Mismatch is an accepted advert whose address list differs from ours: a misconfigured peer, or
// another virtual router on the same VRID.
type Mismatch struct {
	From      netip.Addr
	Addresses []netip.Addr
	At        time.Time
}

// Options are what a Driver is made of.
type Options struct {
	Log    *slog.Logger
	Listen Listener         // ListenIP in the daemon
	VIPs   VIPs             // *vip.Manager in the daemon
	Notify Notifier         // nil: no hooks
	Now    func() time.Time // nil: time.Now
	// Probe asks who else answers for the VIPs (ARP), listening for a moment. The driver
	// probes after each GARP/NA burst of a master, and again every probeAgain while another
	// host answers. nil: no probing.
	Probe func(ifname string, vips []netip.Prefix) []Duplicate
}

// ErrStopped is returned by the Driver's methods once Run has begun to stop.
var ErrStopped = errors.New("driver stopped")

// dropLogEvery limits how often a drop reason is logged per instance: drops are always counted,
// but a flood of bad packets must not flood the log.
const dropLogEvery = 10 * time.Second

// Driver runs virtual routers on sockets. One goroutine (Run) owns every machine and carries out
// their actions; one goroutine per socket reads packets and hands them to it.
type Driver struct {
	opt    Options
	cmds   chan func()
	rx     chan received
	done   chan struct{}  // closed when Run returns
	stop   chan struct{}  // closed when Run starts shutting down: readers stop delivering
	wg     sync.WaitGroup // readers and the prober
	adv    Advertisement  // receive scratch
	order  []*instance    // in the order added
	timers timers         // the instances by deadline
	alarm  *alarm         // goes off at the earliest deadline
	probes probes         // duplicate-VIP probes to run
	epoch  time.Time      // the adverts' grid (Config.Epoch)
	byNm   map[string]*instance
	socks  map[sockKey]*sock
}

type sockKey struct {
	ifname string
	ipv6   bool
}

type sock struct {
	key    sockKey
	conn   Conn        // nil while the interface is missing
	index  int         // the interface index conn is bound to
	out    []Outgoing  // adverts to send at the next flush
	outIn  []*instance // whose each one is
	outBuf []byte      // their bytes
	byVRID [256]*instance
	drops  [NumDrops]uint64
	logged [NumDrops]time.Time
}

// received is a batch of packets one read brought, handed from a reader to Run. The packets
// alias the Conn's buffers: Run releases them, and then the reader reads again.
type received struct {
	s    *sock
	conn Conn
	ps   []Packet
	at   time.Time
	done chan<- struct{}
}

type instance struct {
	cfg    InstanceConfig
	m      *Machine
	s      *sock
	rules  Rules
	dsts   []netip.Addr
	adv    Advertisement // the advert we send, but for its priority
	cnt    Counters
	logged [NumDrops]time.Time
	warned time.Time // last address-list mismatch logged

	fault      string // why it is in FAULT by its own trackers or interface; "" if it is not
	groupFault string // why its sync group puts it in FAULT: another member is; "" if not
	timer      int    // its place in Driver.timers
}

// NewDriver returns a driver; call Run to start it.
func NewDriver(opt Options) *Driver {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	return &Driver{
		epoch: opt.Now(),
		opt:   opt,
		cmds:  make(chan func()),
		rx:    make(chan received, 256),
		done:  make(chan struct{}),
		stop:  make(chan struct{}),
		byNm:  map[string]*instance{},
		socks: map[sockKey]*sock{},
	}
}

// Run runs the instances until ctx is done. Then every instance stops as RFC 5798 §6.4 says
// (a master sends priority 0 and removes its VIPs), the sockets close, and Run returns.
func (d *Driver) Run(ctx context.Context) error {
	defer close(d.done)
	var err error
	if d.alarm, err = newAlarm(); err != nil {
		close(d.stop)
		return err
	}
	d.wg.Add(1)
	go func() { defer d.wg.Done(); d.alarm.run() }()
	var armed time.Time // the deadline the alarm is set for
	for {
		if next := d.timers.next(); !next.Equal(armed) {
			d.alarm.set(next.Sub(d.opt.Now()), next.IsZero())
			armed = next
		}
		select {
		case <-ctx.Done():
			d.shutdown()
			return nil
		case r := <-d.rx:
			d.receive(r)
		case <-d.alarm.C:
			armed = time.Time{} // the alarm has gone off: set it again
			d.fire()
		case f := <-d.cmds:
			f()
		}
		d.flush()
	}
}

// do runs f in Run's goroutine and waits for it.
func (d *Driver) do(f func() error) error {
	errc := make(chan error, 1)
	select {
	case d.cmds <- func() { errc <- f() }:
		return <-errc
	case <-d.stop:
		return ErrStopped
	}
}

// Add starts an instance: it opens or shares its socket, then starts the machine.
func (d *Driver) Add(cfg InstanceConfig) error {
	return d.do(func() error { return d.add(cfg) })
}

// Remove stops an instance as if the daemon stopped, and forgets it.
func (d *Driver) Remove(name string) error {
	return d.do(func() error {
		in := d.byNm[name]
		if in == nil {
			return fmt.Errorf("no instance %q", name)
		}
		d.act(in, in.m.Shutdown(d.opt.Now()))
		d.forget(in)
		return nil
	})
}

// Reconfigure changes a running instance in place, without a new election: its base priority,
// preempt settings, VIPs, GARP settings and sync group. A master takes added VIPs at once and
// announces them, and gives up removed ones. Anything else (interface, VRID, version, interval,
// addresses, authentication) needs Remove and Add.
func (d *Driver) Reconfigure(cfg InstanceConfig) error {
	return d.do(func() error {
		in := d.byNm[cfg.Name]
		if in == nil {
			return fmt.Errorf("no instance %q", cfg.Name)
		}
		old := in.cfg
		if cfg.Interface != old.Interface || cfg.VRID != old.VRID || cfg.IPv6() != old.IPv6() ||
			cfg.Machine.Version != old.Machine.Version || cfg.Machine.Interval != old.Machine.Interval {
			return fmt.Errorf("instance %q: interface, VRID, version, family or interval changed: it needs a restart", cfg.Name)
		}
		added, removed := prefixDiff(cfg.VIPs, old.VIPs), prefixDiff(old.VIPs, cfg.VIPs)
		if in.m.State() == Master && len(removed) > 0 {
			if err := d.opt.VIPs.Remove(old.Interface, removed); err != nil {
				d.opt.Log.Error("removing VIPs failed", "instance", cfg.Name, "err", err)
			}
		}
		if in.m.State() == Master && len(added) > 0 {
			if err := d.opt.VIPs.Add(old.Interface, added); err != nil {
				d.opt.Log.Error("adding VIPs failed", "instance", cfg.Name, "err", err)
			}
			if err := d.opt.VIPs.Announce(old.Interface, added, cfg.GARPRepeat); err != nil {
				d.opt.Log.Error("announcing VIPs failed", "instance", cfg.Name, "err", err)
			}
		}
		in.cfg.VIPs, in.cfg.GARPRepeat, in.cfg.Group = cfg.VIPs, cfg.GARPRepeat, cfg.Group
		in.cfg.Machine.Priority, in.cfg.Machine.Preempt, in.cfg.Machine.PreemptDelay = cfg.Machine.Priority, cfg.Machine.Preempt, cfg.Machine.PreemptDelay
		in.cfg.Machine.GARPDelay, in.cfg.Machine.GARPRefresh = cfg.Machine.GARPDelay, cfg.Machine.GARPRefresh
		in.m.Reconfigure(in.cfg.Machine)
		in.setAddresses()
		d.settle(in)
		return nil
	})
}

// VIPRemoved tells the driver that an address was removed from an interface. If it is the VIP of
// a master there, someone removed it by hand: it is put back and announced, and that is logged.
// The driver's own removals come when the instance is no longer master, and change nothing.
func (d *Driver) VIPRemoved(ifname string, p netip.Prefix) error {
	return d.do(func() error {
		for _, in := range d.order {
			if in.cfg.Interface != ifname || in.m.State() != Master || !slices.Contains(in.cfg.VIPs, p) {
				continue
			}
			d.opt.Log.Warn("a VIP was removed from the interface while master: putting it back",
				"instance", in.cfg.Name, "vrid", in.cfg.VRID, "vip", p, "interface", ifname)
			d.act(in, []Action{{Kind: AddVIPs}, {Kind: Announce}})
		}
		return nil
	})
}

// prefixDiff lists the prefixes of a that are not in b.
func prefixDiff(a, b []netip.Prefix) []netip.Prefix {
	var out []netip.Prefix
	for _, p := range a {
		if !slices.Contains(b, p) {
			out = append(out, p)
		}
	}
	return out
}

// setAddresses sets the addresses the instance advertises and expects in others' adverts.
func (in *instance) setAddresses() {
	in.adv.Addresses = in.adv.Addresses[:0]
	for _, p := range in.cfg.VIPs {
		in.adv.Addresses = append(in.adv.Addresses, p.Addr())
	}
	// RFC 5798 §5.2.9: for IPv6 the link-local VIP comes first in the list.
	slices.SortStableFunc(in.adv.Addresses, func(a, b netip.Addr) int {
		return boolInt(b.IsLinkLocalUnicast()) - boolInt(a.IsLinkLocalUnicast())
	})
	in.rules.Addresses = in.adv.Addresses
}

// SetPriority sets an instance's effective priority; why is logged.
func (d *Driver) SetPriority(name string, prio uint8, why string) error {
	return d.with(name, func(in *instance) {
		if old := in.m.Priority(); old != prio {
			d.opt.Log.Info("priority changed", "instance", name, "vrid", in.cfg.VRID, "from", old, "to", prio, "reason", why)
		}
		d.act(in, in.m.SetPriority(d.opt.Now(), prio))
	})
}

// Fault puts an instance in FAULT, and with it the rest of its sync group.
func (d *Driver) Fault(name, why string) error {
	return d.with(name, func(in *instance) {
		in.fault = why
		d.apply(in, "")
	})
}

// Recover lets an instance in FAULT take part again, once its socket and source address are
// ready (until then it stays in FAULT, saying why) and no other member of its sync group is in
// FAULT.
func (d *Driver) Recover(name, why string) error {
	return d.with(name, func(in *instance) {
		in.fault = ""
		if err := d.ready(in); err != nil {
			in.fault = err.Error()
		}
		d.apply(in, why)
	})
}

func (d *Driver) with(name string, f func(*instance)) error {
	return d.do(func() error {
		in := d.byNm[name]
		if in == nil {
			return fmt.Errorf("no instance %q", name)
		}
		f(in)
		d.settle(in)
		return nil
	})
}

// apply puts the machine in FAULT while the instance or its sync group has a fault, and lets it
// take part again, for the reason why, when neither has.
func (d *Driver) apply(in *instance, why string) {
	now := d.opt.Now()
	if f := cmp.Or(in.fault, in.groupFault); f != "" {
		d.act(in, in.m.Fault(now, f))
	} else if in.m.State() == Fault {
		d.act(in, in.m.Recover(now, why))
	}
}

// Status reports every instance, in the order added, and the sockets' own drop counters.
func (d *Driver) Status() ([]InstanceStatus, []SocketStatus, error) {
	var is []InstanceStatus
	var ss []SocketStatus
	err := d.do(func() error {
		is = make([]InstanceStatus, 0, len(d.order))
		for _, in := range d.order {
			c := in.cfg
			c.VIPs, c.Peers = slices.Clone(c.VIPs), slices.Clone(c.Peers)
			is = append(is, InstanceStatus{Config: c, Status: in.m.Status(), Counters: in.cnt})
		}
		for _, s := range d.socks {
			ss = append(ss, SocketStatus{Interface: s.key.ifname, IPv6: s.key.ipv6, Drops: s.drops})
		}
		slices.SortFunc(ss, func(a, b SocketStatus) int {
			return cmp.Or(cmp.Compare(a.Interface, b.Interface), boolInt(a.IPv6)-boolInt(b.IPv6))
		})
		return nil
	})
	return is, ss, err
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (d *Driver) add(cfg InstanceConfig) error {
	if d.byNm[cfg.Name] != nil {
		return fmt.Errorf("instance %q already runs", cfg.Name)
	}
	if len(cfg.VIPs) == 0 {
		return fmt.Errorf("instance %q has no VIPs", cfg.Name)
	}
	if len(cfg.Peers) == 0 {
		cfg.Peers = nil // nil means multicast to Rules: an empty list would accept no one
	}
	key := sockKey{cfg.Interface, cfg.IPv6()}
	s := d.socks[key]
	if other := s.get(cfg.VRID); other != nil {
		return fmt.Errorf("instance %q: vrid %d on %s is already used by instance %q", cfg.Name, cfg.VRID, cfg.Interface, other.cfg.Name)
	}
	cfg.Machine.Addr, cfg.Machine.Epoch = cfg.Src, d.epoch
	m, err := NewMachine(cfg.Machine)
	if err != nil {
		return fmt.Errorf("instance %q: %w", cfg.Name, err)
	}
	if s == nil {
		s = &sock{key: key}
		d.socks[key] = s
	}
	in := &instance{cfg: cfg, m: m, s: s}
	in.rules = Rules{
		Version: cfg.Machine.Version, Interval: cfg.Machine.Interval,
		AuthType: cfg.AuthType, AuthData: cfg.AuthData,
		Owner: cfg.Machine.Priority == 255, Peers: cfg.Peers, MinTTL: cfg.MinTTL,
	}
	in.adv = Advertisement{
		Version: cfg.Machine.Version, VRID: cfg.VRID, Interval: cfg.Machine.Interval,
		AuthType: cfg.AuthType, AuthData: cfg.AuthData,
	}
	in.setAddresses()
	in.dsts = cfg.Peers
	if len(in.dsts) == 0 {
		in.dsts = []netip.Addr{MulticastV4}
		if key.ipv6 {
			in.dsts = []netip.Addr{MulticastV6}
		}
	}
	s.byVRID[cfg.VRID] = in
	d.byNm[cfg.Name] = in
	d.order = append(d.order, in)
	heap.Push(&d.timers, in)

	now := d.opt.Now()
	if p := cfg.InitialPriority; p != 0 {
		m.SetPriority(now, p) // the trackers' priority at start-up
	}
	in.fault = cfg.InitialFault
	if err := d.ready(in); err != nil && in.fault == "" {
		in.fault = err.Error()
	}
	if in.fault != "" {
		m.Fault(now, in.fault)
	}
	d.opt.Log.Info("instance started", "instance", cfg.Name, "interface", cfg.Interface, "vrid", cfg.VRID,
		"version", int(cfg.Machine.Version), "priority", cfg.Machine.Priority, "source", in.cfg.Src, "vips", cfg.VIPs)
	d.act(in, m.Startup(now))
	d.settle(in)
	return nil
}

// get returns the instance with this VRID on the socket, if any; s may be nil.
func (s *sock) get(vrid uint8) *instance {
	if s == nil {
		return nil
	}
	return s.byVRID[vrid]
}

// ready makes sure an instance can take part: its socket open and its source address known.
// Both can be missing while the interface is (it may appear later, or come back re-created).
func (d *Driver) ready(in *instance) error {
	s := in.s
	if s.conn == nil {
		conn, err := d.opt.Listen(s.key.ifname, s.key.ipv6)
		if err != nil {
			return fmt.Errorf("cannot open a VRRP socket on %s: %w", s.key.ifname, err)
		}
		s.conn, s.index = conn, conn.Index()
		d.wg.Add(1)
		go d.read(s, conn)
	}
	if !in.cfg.Src.IsValid() {
		src, err := primaryAddr(s.conn, d.isVIP, in.cfg.IPv6())
		if err != nil {
			return fmt.Errorf("%s: %w", s.key.ifname, err)
		}
		in.cfg.Src, in.cfg.Machine.Addr = src, src
		in.m.SetAddr(src)
	}
	return nil
}

// SetLink tells the driver an interface's index: 0 when it is gone. A socket stays bound to the
// index it was opened on, so when the interface is deleted and re-created, its sockets are
// opened again. Instances on a missing interface are in FAULT through their trackers.
func (d *Driver) SetLink(ifname string, index int) error {
	return d.do(func() error {
		for _, s := range d.socks {
			if s.key.ifname != ifname || s.conn == nil || s.index == index {
				continue
			}
			d.opt.Log.Info("interface changed: reopening its VRRP socket", "interface", ifname, "index", index)
			s.conn.Close()
			s.conn = nil
		}
		return nil
	})
}

// primaryAddr is the advert source when none is configured: the interface's first address of
// the family (for IPv6, link-local) that is no instance's VIP. A VIP may be on the interface:
// another instance's, or one a killed predecessor left behind.
func primaryAddr(c Conn, isVIP func(netip.Addr) bool, ipv6 bool) (netip.Addr, error) {
	addrs, err := c.Addrs()
	if err != nil {
		return netip.Addr{}, err
	}
	for _, a := range addrs {
		if !isVIP(a) {
			return a, nil
		}
	}
	family := "IPv4 address"
	if ipv6 {
		family = "IPv6 link-local address"
	}
	return netip.Addr{}, fmt.Errorf("the interface has no %s of its own to send adverts from; add one, or set unicast_src", family)
}

// isVIP reports whether a is a VIP of any instance.
func (d *Driver) isVIP(a netip.Addr) bool {
	return slices.ContainsFunc(d.order, func(in *instance) bool { return in.cfg.hasVIP(a) })
}

// hasVIP reports whether a is one of the instance's VIPs.
func (c *InstanceConfig) hasVIP(a netip.Addr) bool {
	return slices.ContainsFunc(c.VIPs, func(p netip.Prefix) bool { return p.Addr() == a })
}

// forget removes a stopped instance and closes its socket if nobody else uses it.
func (d *Driver) forget(in *instance) {
	heap.Remove(&d.timers, in.timer)
	in.s.byVRID[in.cfg.VRID] = nil
	delete(d.byNm, in.cfg.Name)
	d.order = slices.DeleteFunc(d.order, func(o *instance) bool { return o == in })
	d.release(in.s)
}

func (d *Driver) release(s *sock) {
	for _, in := range s.byVRID {
		if in != nil {
			return
		}
	}
	d.flushSock(s)
	delete(d.socks, s.key)
	if s.conn != nil {
		s.conn.Close()
	}
}

// read delivers a socket's packets to Run, a batch at a time, until conn closes.
func (d *Driver) read(s *sock, conn Conn) {
	defer d.wg.Done()
	done := make(chan struct{}, 1)
	for {
		ps, err := conn.Read()
		at := d.opt.Now()
		if err != nil {
			if closedConn(err) {
				return
			}
			d.opt.Log.Warn("VRRP socket read failed", "interface", s.key.ifname, "err", err)
			select {
			case <-time.After(100 * time.Millisecond):
				continue
			case <-d.stop:
				return
			}
		}
		select {
		case d.rx <- received{s: s, conn: conn, ps: ps, at: at, done: done}:
		case <-d.stop:
			return
		}
		select {
		case <-done:
		case <-d.stop:
			return
		}
	}
}

// receive processes a batch of packets, then releases them and lets its reader read again.
func (d *Driver) receive(r received) {
	for _, p := range r.ps {
		d.receiveOne(r.s, p, r.at)
	}
	r.conn.Release()
	r.done <- struct{}{}
}

// receiveOne validates a packet (RFC 5798 §7.1, RFC 3768 §7.1) and gives it to its instance.
func (d *Driver) receiveOne(s *sock, p Packet, at time.Time) {
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
	d.settle(in)
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

// fire runs the machines whose deadline has passed. A timer can fire late: a busy CPU, a paused
// VM or SIGSTOP delay the daemon while the master keeps advertising. Before a backup declares
// its master dead, every advert that has already arrived is processed: those queued for Run,
// and those still waiting in a socket for a reader that has not run yet.
func (d *Driver) fire() {
	d.drain()
	for tries := 0; tries < 10 && d.takeoverWaits(); tries++ {
		select {
		case r := <-d.rx:
			d.receive(r)
			d.drain()
		case <-time.After(5 * time.Millisecond):
		}
	}
	now := d.opt.Now()
	for n := len(d.timers); n > 0; n-- { // each due instance once; Tick moves its deadline on
		in := d.timers[0]
		if dl := in.m.Deadline(); dl.IsZero() || now.Before(dl) {
			break
		}
		d.act(in, in.m.Tick(now))
		d.settle(in)
	}
}

// drain processes every packet the readers have queued.
func (d *Driver) drain() {
	for {
		select {
		case r := <-d.rx:
			d.receive(r)
		default:
			return
		}
	}
}

// takeoverWaits reports whether a backup's Master_Down_Timer has expired while a packet that
// arrived has not been processed: in its socket, in its reader, or queued for Run.
func (d *Driver) takeoverWaits() bool {
	return d.timers.anyDue(d.opt.Now(), func(in *instance) bool {
		return in.m.State() == Backup && in.s.conn != nil && (in.s.conn.Pending() || len(d.rx) > 0)
	})
}

// act carries out a machine's actions in order. Adverts are queued and sent together at the end
// of the event, or before an action that changes addresses or ARP, so that the wire sees the
// actions in the machine's order.
func (d *Driver) act(in *instance, actions []Action) {
	defer d.timers.fix(in)
	c := &in.cfg
	for _, a := range actions {
		if a.Kind == AddVIPs || a.Kind == RemoveVIPs || a.Kind == Announce {
			d.flush()
		}
		switch a.Kind {
		case SendAdvert:
			d.send(in, a.Priority)
		case AddVIPs:
			if err := d.opt.VIPs.Add(c.Interface, c.VIPs); err != nil {
				d.opt.Log.Error("adding VIPs failed", "instance", c.Name, "err", err)
			}
		case RemoveVIPs:
			if err := d.opt.VIPs.Remove(c.Interface, c.VIPs); err != nil {
				d.opt.Log.Error("removing VIPs failed", "instance", c.Name, "err", err)
			}
		case Announce:
			in.cnt.Announces++
			if err := d.opt.VIPs.Announce(c.Interface, c.VIPs, c.GARPRepeat); err != nil {
				d.opt.Log.Error("announcing VIPs failed", "instance", c.Name, "err", err)
			} else {
				in.cnt.Announced += uint64(c.GARPRepeat * len(c.VIPs))
			}
			d.probe(in)
		case Transition:
			in.cnt.Transitions[a.To]++
			if a.To != Master {
				in.cnt.Duplicates = nil
			}
			d.opt.Log.Info("transition", "instance", c.Name, "vrid", c.VRID, "from", a.From.String(), "to", a.To.String(), "reason", a.Reason)
			if d.opt.Notify != nil {
				d.opt.Notify.Notify(Event{
					Instance: c.Name, Interface: c.Interface, VRID: c.VRID, From: a.From, To: a.To,
					Priority: in.m.Priority(), Reason: a.Reason, VIPs: c.VIPs,
				})
			}
		}
	}
}

// send queues an advertisement with the given priority to the multicast group or every peer.
func (d *Driver) send(in *instance, prio uint8) {
	s := in.s
	if s.conn == nil {
		in.cnt.SendErrors++
		return
	}
	in.adv.Priority = prio
	for _, dst := range in.dsts {
		start := len(s.outBuf)
		buf, err := in.adv.AppendBinary(s.outBuf)
		if err != nil {
			// The configuration was validated; this is a bug, not a network condition.
			d.opt.Log.Error("cannot encode advertisement", "instance", in.cfg.Name, "err", err)
			return
		}
		s.outBuf = buf
		msg := buf[start:]
		if in.cfg.Machine.Version == V3 && (s.key.ipv6 || in.cfg.Checksum == ChecksumPseudoHeader) {
			PutChecksum(msg, in.cfg.Src, dst)
		}
		s.out = append(s.out, Outgoing{Src: in.cfg.Src, Dst: dst, Msg: msg})
		s.outIn = append(s.outIn, in)
	}
}

// flush sends every queued advertisement, a socket's at once.
func (d *Driver) flush() {
	for _, s := range d.socks {
		d.flushSock(s)
	}
}

func (d *Driver) flushSock(s *sock) {
	for s.conn != nil && len(s.out) > 0 {
		n, err := s.conn.Send(s.out)
		n = min(max(n, 0), len(s.out))
		if err != nil && n == len(s.out) {
			n-- // the conn broke its contract: count the last one as failed
		}
		for _, in := range s.outIn[:n] {
			in.cnt.AdvertsSent++
		}
		if err == nil {
			break
		}
		// The one at n failed: count it, and go on with the rest.
		in := s.outIn[n]
		in.cnt.SendErrors++
		d.opt.Log.Warn("sending advertisement failed", "instance", in.cfg.Name, "to", s.out[n].Dst, "err", err)
		s.out, s.outIn = s.out[n+1:], s.outIn[n+1:]
	}
	s.out, s.outIn, s.outBuf = s.out[:0], s.outIn[:0], s.outBuf[:0]
}

// shutdown stops every instance, closes the sockets and waits for the readers.
func (d *Driver) shutdown() {
	close(d.stop)
	now := d.opt.Now()
	for _, in := range d.order {
		d.act(in, in.m.Shutdown(now))
	}
	d.flush()
	for _, s := range d.socks {
		if s.conn != nil {
			s.conn.Close()
		}
	}
	d.alarm.close()
	d.wg.Wait()
}

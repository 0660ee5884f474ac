package vrrp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/vrrpd/vrrpd/vip"
)

// The driver tests run daemons on a fake LAN with a fake clock. Time moves only when a test
// steps it, to the next deadline of any driver, and every packet sent is delivered and processed
// before it moves again, so a scenario runs exactly and in microseconds.

// world is one test's LAN, clock and daemons.
type world struct {
	t     *testing.T
	lan   *fakeLAN
	clock *fakeClock
	nodes []*node
}

func newWorld(t *testing.T) *world {
	return &world{t: t, lan: newLAN(), clock: &fakeClock{now: t0}}
}

// fakeClock is the drivers' shared time; its alarms never go off by themselves: the world fires
// the driver whose deadline it steps to.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) set(at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if at.After(c.now) {
		c.now = at
	}
}

func (c *fakeClock) NewAlarm() (Alarm, error) { return fakeAlarm{}, nil }

type fakeAlarm struct{}

func (fakeAlarm) Set(time.Time)      {}
func (fakeAlarm) C() <-chan struct{} { return nil }
func (fakeAlarm) Close() error       { return nil }
func noop() error                    { return nil }
func (w *world) now() time.Time      { return w.clock.Now() }

// idle returns once every packet sent has been read and processed, and every driver is done
// with what it read.
func (w *world) idle() {
	for {
		w.lan.waitEmpty()
		for _, n := range w.nodes {
			n.d.do(noop)
		}
		w.lan.mu.Lock()
		empty := w.lan.empty()
		w.lan.mu.Unlock()
		if empty {
			return
		}
	}
}

// next is the earliest deadline of any running driver, and its driver; zero if none.
func (w *world) next() (time.Time, *node) {
	var at time.Time
	var first *node
	for _, n := range w.nodes {
		var dl time.Time
		if n.d.do(func() error { dl = n.d.next(); return nil }) != nil {
			continue // stopped
		}
		if earlier(dl, at) {
			at, first = dl, n
		}
	}
	return at, first
}

// step moves time to the next deadline, if it comes before end, and fires its driver; it
// reports whether it did.
func (w *world) step(end time.Time) bool {
	w.idle()
	at, n := w.next()
	if at.IsZero() || at.After(end) {
		return false
	}
	w.clock.set(at)
	n.d.do(func() error { n.d.fire(); return nil })
	w.idle()
	return true
}

// advance moves time on by d, firing every deadline on the way.
func (w *world) advance(d time.Duration) {
	end := w.now().Add(d)
	for w.step(end) {
	}
	w.clock.set(end)
	w.idle()
}

// fakeLAN connects fake Conns: what one sends reaches every other Conn of the same family that
// is plugged in, with TTL 255, like a switch with multicast flooding.
type fakeLAN struct {
	mu      sync.Mutex
	read    *sync.Cond // a queue emptied
	conns   []*fakeConn
	opens   atomic.Int32
	missing map[string]bool             // interfaces besides eth0 that do not exist (yet)
	addrs   map[netip.Addr][]netip.Addr // a host's addresses, by the one it started with
}

func newLAN() *fakeLAN {
	l := &fakeLAN{}
	l.read = sync.NewCond(&l.mu)
	return l
}

type fakeConn struct {
	failSends atomic.Int32 // the next sends that fail, as a vanished interface makes them
	lan       *fakeLAN
	addr      netip.Addr
	v6        bool
	queue     []Packet // lan.mu
	closed    bool     // lan.mu
	wake      chan struct{}
	done      chan struct{}
	unplugged atomic.Bool
	deaf      atomic.Bool // Wait does not see what is queued: the watcher has not run yet
}

// listener returns the Listener of a host whose interface has address addr.
func (l *fakeLAN) listener(addr netip.Addr) Listener {
	return func(ifname string, v6 bool) (Conn, error) {
		l.mu.Lock()
		defer l.mu.Unlock()
		if ifname != "eth0" && (l.missing == nil || l.missing[ifname]) {
			return nil, fmt.Errorf("no interface %s", ifname)
		}
		l.opens.Add(1)
		c := &fakeConn{lan: l, addr: addr, v6: v6, wake: make(chan struct{}, 1), done: make(chan struct{})}
		l.conns = append(l.conns, c)
		return c, nil
	}
}

// deliver queues a packet on c; lan.mu is held.
func (c *fakeConn) deliver(p Packet) {
	if c.closed || c.unplugged.Load() || c.v6 != p.Src.Is6() {
		return
	}
	c.queue = append(c.queue, Packet{Src: p.Src, Dst: p.Dst, TTL: p.TTL, Data: slices.Clone(p.Data)})
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// inject delivers a packet to every plugged-in Conn, as a third host on the LAN would.
func (l *fakeLAN) inject(p Packet) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.conns {
		c.deliver(p)
	}
}

// empty reports whether every queue is empty; l.mu is held.
func (l *fakeLAN) empty() bool {
	for _, c := range l.conns {
		if len(c.queue) > 0 {
			return false
		}
	}
	return true
}

func (l *fakeLAN) waitEmpty() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for !l.empty() {
		l.read.Wait()
	}
}

func (c *fakeConn) Wait() error {
	for {
		c.lan.mu.Lock()
		n, closed := len(c.queue), c.closed
		c.lan.mu.Unlock()
		switch {
		case closed:
			return fmt.Errorf("wait: %w", net.ErrClosed)
		case n > 0 && !c.deaf.Load():
			return nil
		}
		select {
		case <-c.wake:
		case <-c.done:
		}
	}
}

func (c *fakeConn) Read() ([]Packet, error) {
	c.lan.mu.Lock()
	defer c.lan.mu.Unlock()
	if c.closed {
		return nil, fmt.Errorf("read: %w", net.ErrClosed)
	}
	n := min(len(c.queue), readBatch)
	ps := slices.Clone(c.queue[:n])
	c.queue = c.queue[n:]
	if len(c.queue) == 0 {
		c.lan.read.Broadcast()
	}
	return ps, nil
}

func (c *fakeConn) Send(out []Outgoing) (int, error) {
	if c.failSends.Load() > 0 {
		c.failSends.Add(-1)
		return -1, fmt.Errorf("sendmmsg: %w", syscall.ENETDOWN)
	}
	if c.unplugged.Load() {
		return len(out), nil // the cable is out: the packets are lost
	}
	c.lan.mu.Lock()
	defer c.lan.mu.Unlock()
	for _, o := range out {
		for _, peer := range c.lan.conns {
			if peer != c && (o.Dst.IsMulticast() || o.Dst == peer.addr) {
				peer.deliver(Packet{Src: o.Src, Dst: o.Dst, TTL: 255, Data: o.Msg})
			}
		}
	}
	return len(out), nil
}

// Addrs lists a VIP before the host's own address, as a killed predecessor can leave it, unless
// the test set the host's addresses.
func (c *fakeConn) Addrs() ([]netip.Addr, error) {
	c.lan.mu.Lock()
	defer c.lan.mu.Unlock()
	if a, ok := c.lan.addrs[c.addr]; ok {
		return a, nil
	}
	return []netip.Addr{netip.MustParseAddr("10.0.0.151"), c.addr}, nil
}

func (c *fakeConn) Index() int { return 1 }

func (c *fakeConn) MTU() int { return 1500 }

func (c *fakeConn) Close() error {
	c.lan.mu.Lock()
	defer c.lan.mu.Unlock()
	if !c.closed {
		c.closed, c.queue = true, nil
		close(c.done)
		c.lan.read.Broadcast()
	}
	return nil
}

// fakeVIPs records what was done to the addresses, routes, rules and VMACs.
type fakeVIPs struct {
	mu        sync.Mutex
	held      bool
	log       []string
	announced int
	added     []netip.Prefix // every address added, in order
	addrs     []vip.Addr     // every address added, as given
	routes    map[vip.Route]bool
	rules     map[vip.Rule]bool
	vmacs     map[string]vip.VMAC
	calls     []string // every call, with the number of items: "add 64"
}

// record records an operation, and the call with its details.
func (f *fakeVIPs) record(op, details string) {
	if n := len(f.log); n == 0 || f.log[n-1] != op { // a takeover adds and announces a chunk at a time
		f.log = append(f.log, op)
	}
	f.calls = append(f.calls, op+details)
}

func (f *fakeVIPs) Add(addrs []vip.Addr) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.held = true
	f.record("add", fmt.Sprintf(" %d", len(addrs)))
	for _, a := range addrs {
		f.added = append(f.added, a.Prefix)
	}
	f.addrs = append(f.addrs, addrs...)
	return nil
}

func (f *fakeVIPs) Remove(addrs []vip.Addr) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.held = false
	f.record("remove", fmt.Sprintf(" %d", len(addrs)))
	return nil
}

func (f *fakeVIPs) Announce(addrs []vip.Addr, count int, every time.Duration) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.announced += count
	f.record("announce", fmt.Sprintf(" %d x%d", len(addrs), count))
	return nil
}

func (f *fakeVIPs) AddRoutes(rs []vip.Route) error { return setHeld(f, &f.routes, rs, true, "routes+") }
func (f *fakeVIPs) RemoveRoutes(rs []vip.Route) error {
	return setHeld(f, &f.routes, rs, false, "routes-")
}
func (f *fakeVIPs) AddRules(rs []vip.Rule) error    { return setHeld(f, &f.rules, rs, true, "rules+") }
func (f *fakeVIPs) RemoveRules(rs []vip.Rule) error { return setHeld(f, &f.rules, rs, false, "rules-") }

// setHeld adds xs to the set m, or takes them out, and records op.
func setHeld[T comparable](f *fakeVIPs, m *map[T]bool, xs []T, on bool, op string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if *m == nil {
		*m = map[T]bool{}
	}
	for _, x := range xs {
		if on {
			(*m)[x] = true
		} else {
			delete(*m, x)
		}
	}
	f.record(op, fmt.Sprintf(" %d", len(xs)))
	return nil
}

func (f *fakeVIPs) EnsureVMAC(v vip.VMAC) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.vmacs == nil {
		f.vmacs = map[string]vip.VMAC{}
	}
	f.vmacs[v.Name] = v
	f.record("vmac+", " "+v.Name)
	return 1, nil
}

func (f *fakeVIPs) RemoveVMAC(name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.vmacs, name)
	f.record("vmac-", " "+name)
	return nil
}

func (f *fakeVIPs) holds() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.held
}

// ops returns what was done since the last call.
func (f *fakeVIPs) ops() []string { return takeAll(&f.mu, &f.log) }

// takeCalls returns the calls since the last, with their details.
func (f *fakeVIPs) takeCalls() []string { return takeAll(&f.mu, &f.calls) }

// takeAll returns what *list holds and empties it, under mu.
func takeAll[T any](mu *sync.Mutex, list *[]T) []T {
	mu.Lock()
	defer mu.Unlock()
	l := *list
	*list = nil
	return l
}

type eventLog struct {
	mu     sync.Mutex
	events []Event
}

func (e *eventLog) Notify(ev Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.events = append(e.events, ev)
}

func (e *eventLog) all() []Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.events)
}

// node is one daemon on the fake LAN.
type node struct {
	w      *world
	d      *Driver
	vips   *fakeVIPs
	events *eventLog
	cfgs   []InstanceConfig
	cancel context.CancelFunc
	done   chan error
}

func (w *world) node(addr netip.Addr, opts ...func(*Options)) *node {
	w.t.Helper()
	n := &node{w: w, vips: &fakeVIPs{}, events: &eventLog{}, done: make(chan error, 1)}
	opt := Options{Listen: w.lan.listener(addr), VIPs: n.vips, Notify: n.events, Clock: w.clock}
	for _, o := range opts {
		o(&opt)
	}
	n.d = NewDriver(opt)
	ctx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	go func() { n.done <- n.d.Run(ctx) }()
	w.nodes = append(w.nodes, n)
	w.t.Cleanup(n.stop)
	// Every host's eth0 is up, as its link watch would report.
	n.link(Link{Name: "eth0", Index: 1, Up: true})
	return n
}

func (n *node) stop() {
	n.cancel()
	<-n.done
	n.done <- nil // a second stop returns at once
}

// add adds instances to the node's configuration and applies it.
func (n *node) add(t *testing.T, cfgs ...InstanceConfig) error {
	t.Helper()
	n.cfgs = append(n.cfgs, cfgs...)
	_, err := n.d.Apply(n.cfgs)
	n.w.idle()
	return err
}

// remove removes an instance from the node's configuration and applies it.
func (n *node) remove(t *testing.T, name string) Plan {
	t.Helper()
	n.cfgs = slices.DeleteFunc(n.cfgs, func(c InstanceConfig) bool { return c.Name == name })
	plan, err := n.d.Apply(n.cfgs)
	if err != nil {
		t.Fatal(err)
	}
	n.w.idle()
	return plan
}

// probesDone waits until no probe runs, and what the last found is recorded.
func (n *node) probesDone() {
	for {
		running := false
		n.d.do(func() error { running = n.d.probes.running; return nil })
		if !running {
			n.w.idle()
			return
		}
		runtime.Gosched()
	}
}

func (n *node) link(l Link) {
	n.d.SetLink(l)
	n.w.idle()
}

func (n *node) report(name string, up bool, why string) {
	n.d.Report(TrackerKey{TrackCheck, name}, Report{Up: up, Why: why})
	n.w.idle()
}

func testInstance(name string, vrid, prio uint8, interval time.Duration) InstanceConfig {
	return InstanceConfig{
		Name: name, Interface: "eth0", VRID: vrid, GARPRepeat: 3,
		Machine: Config{Version: V3, Priority: prio, Interval: interval, Preempt: true},
		VIPs:    []netip.Prefix{netip.MustParsePrefix(fmt.Sprintf("10.0.0.%d/24", 100+int(vrid)%100))},
	}
}

func (n *node) status(t *testing.T, name string) InstanceStatus {
	t.Helper()
	snap, err := n.d.Status()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range snap.Instances {
		if s.Config.Name == name {
			return s
		}
	}
	t.Fatalf("no instance %q", name)
	return InstanceStatus{}
}

// waitFor steps time until the instance's status satisfies ok, within the given time.
func (n *node) waitFor(t *testing.T, name, what string, within time.Duration, ok func(InstanceStatus) bool) InstanceStatus {
	t.Helper()
	end := n.w.now().Add(within)
	for {
		n.w.idle()
		s := n.status(t, name)
		if ok(s) {
			return s
		}
		if !n.w.step(end) {
			t.Fatalf("%s: not %s after %s: %s, master %s (%s)", name, what, within, s.State, s.Master, s.Reason)
		}
	}
}

func (n *node) waitState(t *testing.T, name string, want State, within time.Duration) InstanceStatus {
	t.Helper()
	return n.waitFor(t, name, want.String(), within, func(s InstanceStatus) bool { return s.State == want })
}

var (
	addrA = netip.MustParseAddr("10.0.0.1")
	addrB = netip.MustParseAddr("10.0.0.2")
	addrC = netip.MustParseAddr("10.0.0.3")
)

func TestDriverGracefulFailover(t *testing.T) {
	w := newWorld(t)
	a, b := w.node(addrA), w.node(addrB)
	if err := a.add(t, testInstance("VI_1", 51, 200, 20*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if err := b.add(t, testInstance("VI_1", 51, 100, 20*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	a.waitState(t, "VI_1", Master, 2*time.Second)
	sb := b.waitFor(t, "VI_1", "following a", time.Second, func(s InstanceStatus) bool { return s.Master == addrA })
	if sb.State != Backup || sb.MasterPriority != 200 {
		t.Errorf("backup sees master %s at %d, want %s at 200", sb.Master, sb.MasterPriority, addrA)
	}
	if !a.vips.holds() || b.vips.holds() {
		t.Fatalf("VIPs held: a %v, b %v", a.vips.holds(), b.vips.holds())
	}

	a.stop() // SIGTERM: priority 0, VIPs removed
	if a.vips.holds() {
		t.Error("a still holds the VIPs after stopping")
	}
	stopped := w.now()
	sb = b.waitState(t, "VI_1", Master, time.Second)
	if !strings.Contains(sb.Reason, "10.0.0.1 stopped (sent priority 0)") {
		t.Errorf("reason %q", sb.Reason)
	}
	if !b.vips.holds() || b.vips.announced == 0 {
		t.Errorf("b after takeover: holds %v, announced %d", b.vips.holds(), b.vips.announced)
	}
	// RFC 5798 §6.4.2: after priority 0, the backup waits Skew_Time, not Master_Down_Interval.
	if got, want := sb.Since.Sub(stopped), SkewTime(V3, 100, 20*time.Millisecond); got != want {
		t.Errorf("b took over %s after the priority-0 advert, want Skew_Time %s", got, want)
	}
	var got []string
	for _, ev := range a.events.all() {
		got = append(got, ev.From.String()+"->"+ev.To.String())
	}
	if want := []string{"INIT->BACKUP", "BACKUP->MASTER", "MASTER->INIT"}; !slices.Equal(got, want) {
		t.Errorf("a's events %v, want %v", got, want)
	}
	if _, err := a.d.Apply([]InstanceConfig{testInstance("VI_2", 52, 100, time.Second)}); !errors.Is(err, ErrStopped) {
		t.Errorf("Apply after stop: %v, want ErrStopped", err)
	}
}

func TestDriverHostLoss(t *testing.T) {
	w := newWorld(t)
	a, b := w.node(addrA), w.node(addrB)
	a.add(t, testInstance("VI_1", 51, 200, 20*time.Millisecond))
	b.add(t, testInstance("VI_1", 51, 100, 20*time.Millisecond))
	a.waitState(t, "VI_1", Master, 2*time.Second)
	b.waitFor(t, "VI_1", "following a", time.Second, func(s InstanceStatus) bool { return s.Master == addrA })
	for _, c := range w.lan.conns {
		if c.addr == addrA {
			c.unplugged.Store(true)
		}
	}
	sb := b.waitState(t, "VI_1", Master, time.Second)
	if want := "no advertisement from 10.0.0.1 for 72.1875ms (Master_Down_Interval)"; sb.Reason != want {
		t.Errorf("reason %q, want %q", sb.Reason, want) // 3*20ms + 156*20ms/256
	}
}

// Malformed and crafted packets are dropped and counted; none changes the state.
func TestDriverDropsBadPackets(t *testing.T) {
	w := newWorld(t)
	a := w.node(addrA)
	a.add(t, testInstance("VI_1", 51, 100, time.Second))
	a.waitState(t, "VI_1", Backup, time.Second)

	good := func(prio uint8) []byte {
		adv := Advertisement{Version: V3, VRID: 51, Priority: prio, Interval: time.Second,
			Addresses: []netip.Addr{netip.MustParseAddr("10.0.0.151")}}
		b, err := adv.AppendBinary(nil)
		if err != nil {
			t.Fatal(err)
		}
		PutChecksum(b, addrC, MulticastV4)
		return b
	}
	badSum := good(250)
	badSum[6] ^= 0xff
	otherVRID := good(250)
	otherVRID[1] = 99
	PutChecksum(otherVRID, addrC, MulticastV4)
	v2 := good(250)
	v2[0] = 0x21

	for i := 0; i < 100; i++ {
		w.lan.inject(Packet{Src: addrC, Dst: MulticastV4, TTL: 254, Data: good(250)})
		w.lan.inject(Packet{Src: addrC, Dst: MulticastV4, TTL: 255, Data: badSum})
		w.lan.inject(Packet{Src: addrC, Dst: MulticastV4, TTL: 255, Data: otherVRID})
		w.lan.inject(Packet{Src: addrC, Dst: MulticastV4, TTL: 255, Data: good(250)[:5]})
		w.lan.inject(Packet{Src: addrC, Dst: MulticastV4, TTL: 255, Data: good(250)[:11]})
		w.lan.inject(Packet{Src: addrC, Dst: MulticastV4, TTL: 255, Data: v2})
	}
	w.idle()
	s := a.status(t, "VI_1")
	snap, _ := a.d.Status()
	d, socks := s.Drops, snap.Sockets[0].Drops
	if d[DropTTL] != 100 || d[DropChecksum] != 100 || d[DropLength] != 100 || d[DropVersion] != 100 ||
		socks[DropVRID] != 100 || socks[DropLength] != 100 {
		t.Fatalf("drops %v, socket drops %v", d, socks)
	}
	if s.State != Backup || s.Master.IsValid() || s.AdvertsReceived != 0 {
		t.Errorf("bad packets changed the state: %+v", s.Status)
	}
	// A valid advert is still accepted afterwards.
	w.lan.inject(Packet{Src: addrC, Dst: MulticastV4, TTL: 255, Data: good(250)})
	w.idle()
	if m := a.status(t, "VI_1").Master; m != addrC {
		t.Fatalf("valid advert not accepted after the bad ones: master %s", m)
	}
}

// All instances on one interface and family share one socket, demultiplexed by VRID.
func TestDriverSharesOneSocket(t *testing.T) {
	w := newWorld(t)
	a := w.node(addrA)
	var cfgs []InstanceConfig
	for vrid := 1; vrid <= 255; vrid++ {
		cfgs = append(cfgs, testInstance(fmt.Sprintf("VI_%d", vrid), uint8(vrid), 255, time.Second))
	}
	if err := a.add(t, cfgs...); err != nil {
		t.Fatal(err)
	}
	if n := w.lan.opens.Load(); n != 1 {
		t.Errorf("%d sockets opened for 255 instances, want 1", n)
	}
	if err := a.add(t, testInstance("dup", 7, 100, time.Second)); err == nil || !strings.Contains(err.Error(), `vrid 7 on eth0 is already used by instance "VI_7"`) {
		t.Errorf("duplicate VRID: %v", err)
	}
	snap, _ := a.d.Status()
	for _, s := range snap.Instances {
		if s.State != Master {
			t.Fatalf("%s is %s, want MASTER (owner)", s.Config.Name, s.State)
		}
	}
}

// An instance that a new configuration leaves out stops like a shutdown, and the socket closes
// with its last user.
func TestDriverRemove(t *testing.T) {
	w := newWorld(t)
	a := w.node(addrA)
	a.add(t, testInstance("VI_1", 1, 255, time.Second), testInstance("VI_2", 2, 255, time.Second))
	if plan := a.remove(t, "VI_1"); !slices.Equal(plan.Removed, []string{"VI_1"}) {
		t.Errorf("plan %+v, want VI_1 removed", plan)
	}
	if plan := a.remove(t, "VI_1"); len(plan.Removed) != 0 {
		t.Errorf("second removal removed %v", plan.Removed)
	}
	if snap, _ := a.d.Status(); len(snap.Instances) != 1 || snap.Instances[0].Config.Name != "VI_2" {
		t.Errorf("instances after Remove: %+v", snap.Instances)
	}
	a.remove(t, "VI_2")
	select {
	case <-w.lan.conns[0].done:
	default:
		t.Error("socket still open after its last instance was removed")
	}
}

// An instance on a missing interface starts in FAULT, saying why, and takes part once the
// interface exists. When the interface is re-created, its socket is opened again.
func TestDriverMissingInterface(t *testing.T) {
	w := newWorld(t)
	w.lan.missing = map[string]bool{"eth1": true}
	a := w.node(addrA)
	cfg := testInstance("VI_1", 51, 100, 20*time.Millisecond)
	cfg.Interface = "eth1"
	a.link(Link{Name: "eth1", Why: "interface eth1 does not exist"})
	if err := a.add(t, cfg); err != nil {
		t.Fatal(err)
	}
	s := a.waitState(t, "VI_1", Fault, time.Second)
	if want := "interface eth1 does not exist"; s.Reason != want {
		t.Errorf("reason %q, want %q", s.Reason, want)
	}
	a.link(Link{Name: "eth1", Index: 7, Up: true}) // up, and yet no socket
	if s := a.waitState(t, "VI_1", Fault, time.Second); s.Reason != "cannot open a VRRP socket on eth1: no interface eth1" {
		t.Errorf("recovered without a socket: %q", s.Reason)
	}

	w.lan.mu.Lock()
	w.lan.missing["eth1"] = false
	w.lan.mu.Unlock()
	a.link(Link{Name: "eth1", Index: 7, Up: true})
	a.waitState(t, "VI_1", Master, time.Second) // alone on the LAN
	if n := w.lan.opens.Load(); n != 1 {
		t.Fatalf("%d sockets opened, want 1", n)
	}

	// eth1 is deleted and re-created: it gets a new index, and the old socket hears nothing.
	a.link(Link{Name: "eth1", Why: "interface eth1 was deleted"})
	a.waitState(t, "VI_1", Fault, time.Second)
	a.link(Link{Name: "eth1", Index: 8, Up: true})
	a.waitState(t, "VI_1", Master, time.Second)
	if n := w.lan.opens.Load(); n != 2 {
		t.Errorf("%d sockets opened, want 2: the re-created interface needs a new one", n)
	}
	select {
	case <-w.lan.conns[0].done:
	default:
		t.Error("the socket of the deleted interface is still open")
	}
}

// Trackers' state at start-up is applied before the machine starts: no flap.
func TestDriverInitialTrackers(t *testing.T) {
	w := newWorld(t)
	a := w.node(addrA)
	cfg := testInstance("VI_1", 51, 100, time.Second)
	cfg.Trackers = []Tracker{
		{TrackerKey: TrackerKey{TrackCheck, "nginx"}},
		{TrackerKey: TrackerKey{TrackCheck, "db"}, Weight: -20},
	}
	a.report("nginx", false, "check nginx down")
	a.report("db", false, "check db down")
	a.add(t, cfg)
	s := a.status(t, "VI_1")
	if s.State != Fault || s.Reason != "check nginx down" || s.Priority != 80 {
		t.Errorf("status %+v, want FAULT at 80 for the check", s.Status)
	}
	if got := a.events.all(); len(got) != 1 || got[0].From != Initialize || got[0].To != Fault {
		t.Errorf("events %+v, want one INIT->FAULT", got)
	}
}

// A sync group stays with one host. A member in FAULT takes the others with it, and the peer
// takes the whole group. When one member's priority drops below the peer's, nothing moves
// until every member would move: then the group moves as one.
func TestDriverSyncGroup(t *testing.T) {
	w := newWorld(t)
	a, b := w.node(addrA), w.node(addrB)
	for _, n := range []struct {
		node *node
		prio uint8
	}{{a, 110}, {b, 100}} {
		vi1, vi2 := testInstance("VI_1", 51, n.prio, 20*time.Millisecond), testInstance("VI_2", 52, n.prio, 20*time.Millisecond)
		vi1.Group, vi2.Group = "G1", "G1"
		vi1.Trackers = []Tracker{{TrackerKey: TrackerKey{TrackCheck, "nginx1"}, Weight: -20}}
		vi2.Trackers = []Tracker{{TrackerKey: TrackerKey{TrackInterface, "eth1"}}, {TrackerKey: TrackerKey{TrackCheck, "nginx2"}, Weight: -20}}
		n.node.link(Link{Name: "eth1", Index: 2, Up: true})
		n.node.report("nginx1", true, "check nginx1 up")
		n.node.report("nginx2", true, "check nginx2 up")
		if err := n.node.add(t, vi1, vi2); err != nil {
			t.Fatal(err)
		}
	}
	both := func(n *node, want State) {
		t.Helper()
		n.waitState(t, "VI_1", want, 2*time.Second)
		n.waitState(t, "VI_2", want, 2*time.Second)
	}
	both(a, Master)
	b.waitFor(t, "VI_2", "following a", time.Second, func(s InstanceStatus) bool { return s.Master == addrA })

	a.link(Link{Name: "eth1", Index: 2, Why: "interface eth1 has no carrier"}) // VI_2's alone
	if s := a.status(t, "VI_1"); s.State != Fault || s.Reason != "sync group G1: VI_2 is in FAULT (interface eth1 has no carrier)" {
		t.Errorf("VI_1: %s %q", s.State, s.Reason)
	}
	both(b, Master)
	a.link(Link{Name: "eth1", Index: 2, Up: true})
	both(a, Master)
	both(b, Backup)

	// VI_1 alone drops below the peer: its peer member would preempt, but the peer's VI_2 still
	// follows a's better VI_2, so the group stays.
	a.report("nginx1", false, "check nginx1 down")
	w.advance(300 * time.Millisecond) // many Skew_Times at 20ms
	if s := a.status(t, "VI_1"); s.Priority != 90 {
		t.Fatalf("a's VI_1 at priority %d, want 90", s.Priority)
	}
	if s := b.status(t, "VI_1"); s.State != Backup || !strings.Contains(s.Reason, "but sync group G1: VI_2 follows master 10.0.0.1") {
		t.Errorf("b's VI_1: %s %q, want held BACKUP", s.State, s.Reason)
	}
	// VI_2 drops too: the whole group moves to b.
	a.report("nginx2", false, "check nginx2 down")
	both(b, Master)
	both(a, Backup)
}

// Reconfigure changes a running master in place: it takes an added VIP at once and announces
// it, gives up a removed one, and stays master since the same moment. A change of identity
// restarts the instance.
func TestDriverReconfigure(t *testing.T) {
	w := newWorld(t)
	a := w.node(addrA)
	a.add(t, testInstance("VI_1", 1, 255, time.Second))
	before := a.waitState(t, "VI_1", Master, time.Second)
	a.vips.ops()

	extra := netip.MustParsePrefix("10.0.0.200/24")
	a.cfgs[0].VIPs = append(a.cfgs[0].VIPs, extra)
	a.cfgs[0].Machine.Preempt = false
	if plan, err := a.d.Apply(a.cfgs); err != nil || !slices.Equal(plan.InPlace, []string{"VI_1"}) {
		t.Fatalf("plan %+v, %v; want VI_1 in place", plan, err)
	}
	a.cfgs[0].VIPs = a.cfgs[0].VIPs[1:]
	if _, err := a.d.Apply(a.cfgs); err != nil {
		t.Fatal(err)
	}
	after := a.status(t, "VI_1")
	if after.State != Master || !after.Since.Equal(before.Since) || !slices.Equal(after.Config.VIPs, []netip.Prefix{extra}) {
		t.Errorf("after: %s since %v with %v, want MASTER since %v with [%s]", after.State, after.Since, after.Config.VIPs, before.Since, extra)
	}
	if got, want := a.vips.ops(), []string{"add", "announce", "remove"}; !slices.Equal(got, want) {
		t.Errorf("VIP operations %v, want %v", got, want)
	}
	a.cfgs[0].VRID = 2
	if plan, err := a.d.Apply(a.cfgs); err != nil || !slices.Equal(plan.Restarted, []string{"VI_1"}) || !strings.Contains(plan.Changes["VI_1"][0], "vrid: 1 -> 2") {
		t.Errorf("VRID change: plan %+v, %v; want a restart", plan, err)
	}
}

// A VIP removed by hand from a master's interface is put back and announced; a VIP of a backup,
// or an address that is no VIP, is left alone.
func TestDriverVIPRemoved(t *testing.T) {
	w := newWorld(t)
	a := w.node(addrA)
	a.add(t, testInstance("VI_1", 1, 255, time.Second))
	a.waitState(t, "VI_1", Master, time.Second)
	a.vips.ops()
	a.vips.mu.Lock()
	a.vips.held = false
	a.vips.mu.Unlock()
	a.d.VIPRemoved("eth0", netip.MustParsePrefix("10.0.0.1/24"))   // not a VIP
	a.d.VIPRemoved("eth1", netip.MustParsePrefix("10.0.0.101/24")) // another interface
	a.d.VIPRemoved("eth0", netip.MustParsePrefix("10.0.0.101/24"))
	if got, want := a.vips.ops(), []string{"add", "announce"}; !slices.Equal(got, want) || !a.vips.holds() {
		t.Errorf("VIP operations %v, want %v", got, want)
	}
}

// Masters that take over together are probed together: one probe with every VIP. A duplicate
// shows on the instance whose VIP it is, and is probed again.
func TestDriverProbes(t *testing.T) {
	var mu sync.Mutex
	var calls [][]netip.Prefix
	probed := make(chan struct{}, 10)
	dup := vip.Duplicate{VIP: netip.MustParseAddr("10.0.0.103"), MACs: []net.HardwareAddr{{2, 0, 0, 0, 0, 9}}, Seen: 1}
	probe := func(addrs []vip.Addr) []vip.Duplicate {
		mu.Lock()
		defer mu.Unlock()
		var ps []netip.Prefix
		for _, a := range addrs {
			ps = append(ps, a.Prefix)
		}
		calls = append(calls, ps)
		probed <- struct{}{}
		return []vip.Duplicate{dup}
	}
	w := newWorld(t)
	a := w.node(addrA, func(o *Options) { o.Probe = probe })
	var cfgs []InstanceConfig
	for vrid := uint8(1); vrid <= 10; vrid++ {
		cfgs = append(cfgs, testInstance(fmt.Sprintf("VI_%d", vrid), vrid, 255, time.Second))
	}
	a.add(t, cfgs...) // they take over in one event
	w.step(w.now())   // the probe is due at once
	<-probed
	a.probesDone()
	snap, _ := a.d.Status()
	for i, s := range snap.Instances {
		if want := i == 2; want != (len(s.Duplicates) == 1) {
			t.Errorf("%s shows duplicates %v", s.Config.Name, s.Duplicates)
		}
	}
	mu.Lock()
	if len(calls) != 1 || len(calls[0]) != 10 {
		t.Errorf("probes %v, want one with the 10 VIPs", calls)
	}
	mu.Unlock()
	// VI_3 is probed again after probeAgain, and only it.
	w.advance(probeAgain)
	<-probed
	mu.Lock()
	defer mu.Unlock()
	if len(calls) != 2 || !slices.Equal(calls[1], cfgs[2].VIPs) {
		t.Errorf("probes %v, want a second one with VI_3's VIP", calls)
	}
}

// A send that fails (an interface that vanished) is counted against its instance, and the
// others in the batch still go out; -1 from sendmmsg does not upset the count.
func TestDriverSendErrors(t *testing.T) {
	w := newWorld(t)
	a := w.node(addrA)
	for vrid := uint8(1); vrid <= 3; vrid++ {
		a.add(t, testInstance(fmt.Sprintf("VI_%d", vrid), vrid, 255, 50*time.Millisecond))
	}
	a.waitState(t, "VI_3", Master, time.Second)
	w.lan.conns[0].failSends.Store(1)
	w.advance(200 * time.Millisecond)
	snap, err := a.d.Status()
	if err != nil {
		t.Fatal(err)
	}
	var failed uint64
	for _, s := range snap.Instances {
		failed += s.SendErrors
		if s.AdvertsSent < 3 {
			t.Errorf("%s sent %d adverts", s.Config.Name, s.AdvertsSent)
		}
	}
	if failed != 1 {
		t.Errorf("%d send errors counted, want 1", failed)
	}
}

// A backup whose Master_Down_Timer expired while it could not run (a paused VM, SIGSTOP) reads
// the adverts already waiting in its socket before it acts: the master it hears is alive.
func TestDriverLateTimer(t *testing.T) {
	w := newWorld(t)
	b := w.node(addrB)
	b.add(t, testInstance("VI_1", 51, 100, 100*time.Millisecond))
	adv := Advertisement{Version: V3, VRID: 51, Priority: 200, Interval: 100 * time.Millisecond,
		Addresses: []netip.Addr{netip.MustParseAddr("10.0.0.151")}}
	msg, _ := adv.AppendBinary(nil)
	PutChecksum(msg, addrA, MulticastV4)
	w.lan.inject(Packet{Src: addrA, Dst: MulticastV4, TTL: 255, Data: msg})
	b.waitFor(t, "VI_1", "following a", time.Second, func(s InstanceStatus) bool { return s.Master == addrA })
	before := b.status(t, "VI_1")

	// The master advertises on time, but the backup's socket watcher does not get to run, and
	// its deadline passes: the alarm is the first thing it hears of.
	conn := w.lan.conns[0]
	conn.deaf.Store(true)
	for range 5 {
		w.clock.set(w.now().Add(100 * time.Millisecond))
		w.lan.inject(Packet{Src: addrA, Dst: MulticastV4, TTL: 255, Data: msg})
	}
	w.clock.set(before.Deadline.Add(time.Millisecond))
	b.d.do(func() error { b.d.fire(); return nil })
	conn.deaf.Store(false)
	conn.wake <- struct{}{}
	w.idle()
	if s := b.status(t, "VI_1"); s.State != Backup || !s.Since.Equal(before.Since) {
		t.Errorf("after a late timer: %s since %v (%s), want BACKUP since %v", s.State, s.Since, s.Reason, before.Since)
	}
}

// Reloads while a probe runs: the probe has its own copy of the VIPs, taken on the driver's
// loop. Under -race, a probe that read the instance's configuration would race with the reloads,
// which nothing orders after its start.
func TestDriverReloadWhileProbing(t *testing.T) {
	probe := func(addrs []vip.Addr) []vip.Duplicate {
		_ = fmt.Sprint(addrs)
		return nil
	}
	w := newWorld(t)
	a := w.node(addrA, func(o *Options) { o.Probe = probe })
	a.add(t, testInstance("VI_1", 1, 255, time.Second))
	w.step(w.now()) // the probe starts
	for i := range 20 {
		a.cfgs[0].VIPs = append(slices.Clone(a.cfgs[0].VIPs), netip.MustParsePrefix(fmt.Sprintf("10.0.1.%d/24", i)))
		if _, err := a.d.Apply(a.cfgs); err != nil {
			t.Fatal(err)
		}
	}
	a.probesDone()
}

// Run leaves no goroutine behind, and stopping twice is harmless.
func TestDriverLeavesNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	w := newWorld(t)
	n := w.node(addrA)
	for vrid := 1; vrid <= 10; vrid++ {
		n.add(t, testInstance(fmt.Sprintf("VI_%d", vrid), uint8(vrid), 255, 10*time.Millisecond))
	}
	w.advance(50 * time.Millisecond)
	n.stop()
	n.stop()
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines left, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		runtime.Gosched()
	}
}

// RFC 5798 §6.1: with three or five routers, when the master dies only the highest backup takes
// over; the others hear it before their own timers fire, since Skew_Time differs for any two
// priorities at every interval. The backups join from the lowest priority up, so that a tie
// would go to the wrong one.
func TestDriverOnlyTheHighestBackupTakesOver(t *testing.T) {
	for _, n := range []int{3, 5} {
		for _, interval := range []time.Duration{time.Second, 100 * time.Millisecond, 10 * time.Millisecond} {
			t.Run(fmt.Sprintf("%d routers at %s", n, interval), func(t *testing.T) {
				w := newWorld(t)
				var backups []*node
				for i := n - 1; i >= 1; i-- { // priorities 100-10i, lowest first
					b := w.node(netip.AddrFrom4([4]byte{10, 0, 0, byte(10 + i)}))
					b.add(t, testInstance("VI_1", 51, uint8(100-10*i), interval))
					backups = append(backups, b)
				}
				master := w.node(addrA)
				master.add(t, testInstance("VI_1", 51, 100, interval))
				master.waitState(t, "VI_1", Master, 10*interval)
				for _, b := range backups {
					b.waitFor(t, "VI_1", "following the master", 10*interval, func(s InstanceStatus) bool { return s.Master == addrA })
				}
				for _, c := range w.lan.conns {
					if c.addr == addrA {
						c.unplugged.Store(true)
					}
				}
				highest := backups[len(backups)-1]
				highest.waitState(t, "VI_1", Master, 10*interval)
				w.advance(10 * interval)
				for i, b := range backups {
					s := b.status(t, "VI_1")
					want, takeovers := Backup, uint64(0)
					if b == highest {
						want, takeovers = Master, 1
					}
					if s.State != want || s.Transitions[Master] != takeovers {
						t.Errorf("backup %d (priority %d): %s after %d takeovers, want %s", i, s.Config.Machine.Priority, s.State, s.Transitions[Master], want)
					}
				}
			})
		}
	}
}

// An instance with more VIPs than an advert holds still works: its adverts carry as many as fit
// (255 for IPv4 at an MTU of 1500; 90 for IPv6), the peer with the same VIPs does not call that a
// mismatch and follows, and the master adds and announces every VIP, the excluded ones too.
func TestDriverManyVIPs(t *testing.T) {
	for _, tt := range []struct {
		name       string
		n, inAdv   int
		vip        func(i int) netip.Prefix
		src1, src2 netip.Addr
	}{
		{"1000 IPv4", 1000, 255, func(i int) netip.Prefix {
			return netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), 16)
		}, addrA, addrB},
		{"200 IPv6", 200, 90, func(i int) netip.Prefix {
			return netip.PrefixFrom(netip.AddrFrom16([16]byte{0xfd, 0, 15: byte(i)}), 64)
		}, netip.MustParseAddr("fe80::1"), netip.MustParseAddr("fe80::2")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			a, b := w.node(tt.src1), w.node(tt.src2)
			excluded := []netip.Prefix{netip.MustParsePrefix("192.0.2.7/24"), netip.MustParsePrefix("2001:db8::7/64")}
			for _, n := range []struct {
				node *node
				prio uint8
				src  netip.Addr
			}{{a, 200, tt.src1}, {b, 100, tt.src2}} {
				c := testInstance("VI_1", 51, n.prio, 100*time.Millisecond)
				c.VIPs, c.Src = nil, n.src
				for i := range tt.n {
					c.VIPs = append(c.VIPs, tt.vip(i))
				}
				c.Excluded = excluded
				if err := n.node.add(t, c); err != nil {
					t.Fatal(err)
				}
			}
			a.waitState(t, "VI_1", Master, 2*time.Second)
			w.advance(time.Second)
			sb := b.status(t, "VI_1")
			if sb.State != Backup || sb.Master != tt.src1 || sb.AdvertsReceived == 0 || sb.Mismatches != 0 {
				t.Errorf("backup: %s following %s, %d adverts, %d mismatches", sb.State, sb.Master, sb.AdvertsReceived, sb.Mismatches)
			}
			a.vips.mu.Lock()
			added := a.vips.added
			a.vips.mu.Unlock()
			if len(added) != tt.n+len(excluded) || !slices.Equal(added[tt.n:], excluded) {
				t.Errorf("the master added %d addresses, want the %d VIPs and the excluded ones", len(added), tt.n)
			}
			var in *instance
			a.d.do(func() error { in = a.d.byNm["VI_1"]; return nil })
			var adv []netip.Addr
			a.d.do(func() error { adv = slices.Clone(in.adv.Addresses); return nil })
			if len(adv) != tt.inAdv || slices.ContainsFunc(adv, func(x netip.Addr) bool { return x == excluded[0].Addr() || x == excluded[1].Addr() }) {
				t.Errorf("adverts carry %d addresses, want %d and none excluded", len(adv), tt.inAdv)
			}
		})
	}
}

// timeline records, across nodes, who held the VIPs when, for make-before-break checks.
type timeline struct {
	mu     sync.Mutex
	events []string
}

func (tl *timeline) vips(name string) *recordingVIPs {
	return &recordingVIPs{fakeVIPs: &fakeVIPs{}, name: name, tl: tl}
}

// take returns the events since the last take.
func (tl *timeline) take() []string { return takeAll(&tl.mu, &tl.events) }

type recordingVIPs struct {
	*fakeVIPs
	name string
	tl   *timeline
}

func (r *recordingVIPs) Add(addrs []vip.Addr) error {
	r.tl.mu.Lock()
	r.tl.events = append(r.tl.events, r.name+" add")
	r.tl.mu.Unlock()
	return r.fakeVIPs.Add(addrs)
}

func (r *recordingVIPs) Remove(addrs []vip.Addr) error {
	r.tl.mu.Lock()
	r.tl.events = append(r.tl.events, r.name+" remove")
	r.tl.mu.Unlock()
	return r.fakeVIPs.Remove(addrs)
}

// SPEC.md's drain, make-before-break: the drained master advertises priority 1 and keeps its
// VIPs until the peer, preempting it, has taken them; undrain gives them back by preemption.
// With --force the master yields at once; with no peer at all, a drained backup still takes
// over, as the last resort.
func TestDriverDrain(t *testing.T) {
	w := newWorld(t)
	tl := &timeline{}
	va, vb := tl.vips("a"), tl.vips("b")
	a := w.node(addrA, func(o *Options) { o.VIPs = va })
	b := w.node(addrB, func(o *Options) { o.VIPs = vb })
	a.add(t, testInstance("VI_1", 51, 110, 100*time.Millisecond))
	b.add(t, testInstance("VI_1", 51, 100, 100*time.Millisecond))
	a.waitState(t, "VI_1", Master, 2*time.Second)
	b.waitFor(t, "VI_1", "following a", time.Second, func(s InstanceStatus) bool { return s.Master == addrA })
	tl.take()

	since := w.now()
	drained, err := a.d.Drain(nil, since, false)
	if err != nil || len(drained) != 1 || drained[0].MasterDownInterval != MasterDownInterval(V3, 1, 100*time.Millisecond) {
		t.Fatalf("drain: %v, %v", drained, err)
	}
	w.idle()
	if s := a.status(t, "VI_1"); s.State != Master || s.Priority != 1 || !s.Drained.Equal(since) {
		t.Fatalf("drained a: %s at %d, drained %v; want MASTER at 1 until b takes over", s.State, s.Priority, s.Drained)
	}
	b.waitState(t, "VI_1", Master, time.Second)
	a.waitState(t, "VI_1", Backup, time.Second)
	if got, want := tl.take(), []string{"b add", "a remove"}; !slices.Equal(got, want) {
		t.Errorf("VIPs %v, want %v: b takes them before a gives them up", got, want)
	}
	if s := b.status(t, "VI_1"); !strings.Contains(s.Reason, "preempted master 10.0.0.1, whose priority 1") {
		t.Errorf("b's reason %q", s.Reason)
	}

	// Undrain: a's 110 preempts b again.
	if names, err := a.d.Undrain([]string{"VI_1"}); err != nil || !slices.Equal(names, []string{"VI_1"}) {
		t.Fatalf("undrain: %v, %v", names, err)
	}
	a.waitState(t, "VI_1", Master, time.Second)
	b.waitState(t, "VI_1", Backup, time.Second)

	// --force: a yields at once with priority 0, and b takes over after its Skew_Time.
	tl.take()
	if _, err := a.d.Drain([]string{"VI_1"}, w.now(), true); err != nil {
		t.Fatal(err)
	}
	w.idle()
	if s := a.status(t, "VI_1"); s.State != Backup {
		t.Errorf("after drain --force a is %s, want BACKUP at once", s.State)
	}
	b.waitState(t, "VI_1", Master, time.Second)
	if got, want := tl.take(), []string{"a remove", "b add"}; !slices.Equal(got, want) {
		t.Errorf("VIPs %v, want %v", got, want)
	}

	// The peer dies: the drained a still takes over, as the last resort.
	for _, c := range w.lan.conns {
		if c.addr == addrB {
			c.unplugged.Store(true)
		}
	}
	a.waitState(t, "VI_1", Master, 2*time.Second)

	if _, err := a.d.Drain([]string{"VI_9"}, w.now(), false); err == nil || err.Error() != `no instance "VI_9"` {
		t.Errorf("drain of an unknown instance: %v", err)
	}
	o := w.node(addrC)
	o.add(t, testInstance("OWN", 9, 255, time.Second))
	if _, err := o.d.Drain(nil, w.now(), false); err == nil || !strings.Contains(err.Error(), "cannot drain OWN: an address owner") {
		t.Errorf("drain of an owner: %v", err)
	}
}

// startup_delay: the instance does not take part until it has passed; meanwhile its status
// says why, and the VIPs a killed predecessor left are removed.
func TestDriverStartupDelay(t *testing.T) {
	w := newWorld(t)
	a := w.node(addrA)
	a.d.Delay(w.now().Add(5 * time.Second))
	a.add(t, testInstance("VI_1", 51, 255, time.Second))
	if s := a.status(t, "VI_1"); s.State != Initialize || !strings.HasPrefix(s.Reason, "waiting for startup_delay, until ") {
		t.Errorf("during the delay: %s (%s)", s.State, s.Reason)
	}
	if got := a.vips.ops(); !slices.Equal(got, []string{"remove"}) {
		t.Errorf("VIP operations during the delay %v, want a removal", got)
	}
	w.advance(4 * time.Second)
	if s := a.status(t, "VI_1"); s.State != Initialize {
		t.Errorf("after 4s: %s", s.State)
	}
	s := a.waitState(t, "VI_1", Master, 2*time.Second)
	if !s.Since.Equal(t0.Add(5 * time.Second)) {
		t.Errorf("took part at %v, want at 5s", s.Since.Sub(t0))
	}
}

// Restart in place: a driver frozen and handed over to a new one, 50ms later, goes on where it
// stood. The master keeps its VIPs and its adverts; no transition is reported on either side,
// the state keeps its time, and the counters go on. The handover survives JSON, as the daemon
// passes it to its next image.
func TestDriverRestartInPlace(t *testing.T) {
	w := newWorld(t)
	a, b := w.node(addrA), w.node(addrB)
	cfgA := testInstance("VI_1", 51, 110, 100*time.Millisecond)
	cfgA.Trackers = []Tracker{{TrackerKey: TrackerKey{TrackCheck, "nginx"}, Weight: -20}}
	a.report("nginx", true, "check nginx up")
	a.add(t, cfgA)
	b.add(t, testInstance("VI_1", 51, 100, 100*time.Millisecond))
	before := a.waitState(t, "VI_1", Master, 2*time.Second)
	b.waitFor(t, "VI_1", "following a", time.Second, func(s InstanceStatus) bool { return s.Master == addrA })
	w.advance(1234 * time.Millisecond)
	sentBefore := a.status(t, "VI_1").AdvertsSent
	bEvents := len(b.events.all())
	a.vips.ops()

	h, err := a.d.Freeze()
	if err != nil {
		t.Fatal(err)
	}
	if ops := a.vips.ops(); slices.Contains(ops, "remove") {
		t.Errorf("freezing removed the VIPs: %v", ops)
	}
	b64, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	var got Handover
	if err := json.Unmarshal(b64, &got); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(*h, got, cmpopts.EquateComparable(netip.Addr{}, netip.Prefix{})); diff != "" {
		t.Fatalf("the handover through JSON (-want +got):\n%s", diff)
	}

	w.clock.set(w.now().Add(50 * time.Millisecond)) // the new image starts
	a2 := w.node(addrA)
	if err := a2.d.Resume(&got, 50*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if err := a2.add(t, cfgA); err != nil {
		t.Fatal(err)
	}
	s := a2.status(t, "VI_1")
	if s.State != Master || !s.Since.Equal(before.Since) || s.Priority != 110 || s.AdvertsSent < sentBefore {
		t.Errorf("resumed: %s since %v at %d, %d adverts; want MASTER since %v at 110, at least %d", s.State, s.Since, s.Priority, s.AdvertsSent, before.Since, sentBefore)
	}
	if ev := a2.events.all(); len(ev) != 0 {
		t.Errorf("the new image reported transitions: %v", ev)
	}
	if ops := a2.vips.ops(); !slices.Equal(ops, []string{"add"}) {
		t.Errorf("the new image's VIP operations %v, want the VIPs re-added without an announcement", ops)
	}
	w.advance(time.Second)
	if ev := b.events.all(); len(ev) != bEvents {
		t.Errorf("the peer saw transitions: %v", ev[bEvents:])
	}
	if s := b.status(t, "VI_1"); s.State != Backup || s.Master != addrA {
		t.Errorf("the peer: %s following %s", s.State, s.Master)
	}
	if s := a2.status(t, "VI_1"); s.AdvertsSent < sentBefore+9 || len(s.Trackers) != 2 || !s.Trackers[1].Up {
		t.Errorf("after a second: %d adverts (had %d), trackers %+v", s.AdvertsSent, sentBefore, s.Trackers)
	}
}

// The advert source follows the interface: when its primary address changes, the next advert
// comes from the new one; when it has none, the instance is in FAULT until it has one again.
func TestDriverSourceFollowsTheInterface(t *testing.T) {
	w := newWorld(t)
	a, b := w.node(addrA), w.node(addrB)
	a.add(t, testInstance("VI_1", 51, 200, 100*time.Millisecond))
	b.add(t, testInstance("VI_1", 51, 100, 100*time.Millisecond))
	a.waitState(t, "VI_1", Master, 2*time.Second)
	b.waitFor(t, "VI_1", "following a", time.Second, func(s InstanceStatus) bool { return s.Master.IsValid() })
	moved := netip.MustParseAddr("10.0.0.77")
	w.lan.mu.Lock()
	w.lan.addrs = map[netip.Addr][]netip.Addr{addrA: {moved}}
	w.lan.mu.Unlock()
	a.d.AddrsChanged("eth0", netip.MustParsePrefix("10.0.0.151/24")) // its VIP: changes nothing
	w.advance(300 * time.Millisecond)
	if s := b.status(t, "VI_1"); s.Master != addrA {
		t.Errorf("b follows %s after a VIP came and went, want %s", s.Master, addrA)
	}
	a.d.AddrsChanged("eth0", netip.PrefixFrom(moved, 24))
	w.advance(300 * time.Millisecond)
	if s := b.status(t, "VI_1"); s.Master != moved {
		t.Errorf("b follows %s, want the master's new address %s", s.Master, moved)
	}
	if s := a.status(t, "VI_1"); s.Config.Src != moved || s.State != Master {
		t.Errorf("a advertises from %s as %s", s.Config.Src, s.State)
	}
	w.lan.mu.Lock()
	w.lan.addrs[addrA] = nil
	w.lan.mu.Unlock()
	a.d.AddrsChanged("eth0", netip.PrefixFrom(moved, 24))
	w.idle()
	if s := a.status(t, "VI_1"); s.State != Fault || !strings.Contains(s.Reason, "no IPv4 address of its own") {
		t.Errorf("without an address: %s (%s)", s.State, s.Reason)
	}
	w.lan.mu.Lock()
	w.lan.addrs[addrA] = []netip.Addr{addrA}
	w.lan.mu.Unlock()
	a.d.AddrsChanged("eth0", netip.PrefixFrom(addrA, 24))
	a.waitState(t, "VI_1", Master, 2*time.Second)
}

package vrrp

import (
	"context"
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
)

// fakeLAN connects fake Conns: what one sends reaches every other Conn of the same family that
// is plugged in, with TTL 255, like a switch with multicast flooding.
type fakeLAN struct {
	mu      sync.Mutex
	conns   []*fakeConn
	opens   atomic.Int32
	missing map[string]bool // interfaces besides eth0 that do not exist (yet)
}

type fakeConn struct {
	failSends atomic.Int32 // the next sends that fail, as a vanished interface makes them
	lan       *fakeLAN
	addr      netip.Addr
	v6        bool
	in        chan Packet
	closed    chan struct{}
	closeOnce sync.Once
	unplugged atomic.Bool
}

// listener returns the Listener of a host whose interface has address addr.
func (l *fakeLAN) listener(addr netip.Addr) Listener {
	return func(ifname string, v6 bool) (Conn, error) {
		l.mu.Lock()
		missing := ifname != "eth0" && (l.missing == nil || l.missing[ifname])
		l.mu.Unlock()
		if missing {
			return nil, fmt.Errorf("no interface %s", ifname)
		}
		l.opens.Add(1)
		c := &fakeConn{lan: l, addr: addr, v6: v6, in: make(chan Packet, 4096), closed: make(chan struct{})}
		l.mu.Lock()
		l.conns = append(l.conns, c)
		l.mu.Unlock()
		return c, nil
	}
}

// inject delivers a packet to every plugged-in Conn, as a third host on the LAN would.
func (l *fakeLAN) inject(p Packet) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.conns {
		if !c.unplugged.Load() && c.v6 == p.Src.Is6() {
			c.in <- Packet{Src: p.Src, Dst: p.Dst, TTL: p.TTL, Data: slices.Clone(p.Data)}
		}
	}
}

func (c *fakeConn) Read() ([]Packet, error) {
	select {
	case p := <-c.in:
		ps := []Packet{p}
		for len(ps) < 64 {
			select {
			case p := <-c.in:
				ps = append(ps, p)
				continue
			default:
			}
			break
		}
		return ps, nil
	case <-c.closed:
		return nil, fmt.Errorf("read: %w", net.ErrClosed)
	}
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
			if peer == c || peer.v6 != c.v6 || peer.unplugged.Load() {
				continue
			}
			if o.Dst.IsMulticast() || o.Dst == peer.addr {
				select {
				case peer.in <- Packet{Src: o.Src, Dst: o.Dst, TTL: 255, Data: slices.Clone(o.Msg)}:
				default:
				}
			}
		}
	}
	return len(out), nil
}

// Addrs lists a VIP before the host's own address, as a killed predecessor can leave it.
func (c *fakeConn) Addrs() ([]netip.Addr, error) {
	return []netip.Addr{netip.MustParseAddr("10.0.0.151"), c.addr}, nil
}

func (c *fakeConn) Index() int { return 1 }

func (c *fakeConn) Pending() bool { return len(c.in) > 0 }

func (c *fakeConn) Release() {}

func (c *fakeConn) Close() error {
	c.closeOnce.Do(func() { close(c.closed) })
	return nil
}

// fakeVIPs records what was done to the addresses.
type fakeVIPs struct {
	mu        sync.Mutex
	held      bool
	log       []string
	announced int
}

func (f *fakeVIPs) Add(ifname string, vips []netip.Prefix) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.held = true
	f.log = append(f.log, "add")
	return nil
}

func (f *fakeVIPs) Remove(ifname string, vips []netip.Prefix) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.held = false
	f.log = append(f.log, "remove")
	return nil
}

func (f *fakeVIPs) Announce(ifname string, vips []netip.Prefix, count int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.announced += count
	f.log = append(f.log, "announce")
	return nil
}

func (f *fakeVIPs) holds() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.held
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
	d      *Driver
	vips   *fakeVIPs
	events *eventLog
	cancel context.CancelFunc
	done   chan error
}

func startNode(t *testing.T, lan *fakeLAN, addr netip.Addr) *node {
	t.Helper()
	n := &node{vips: &fakeVIPs{}, events: &eventLog{}, done: make(chan error, 1)}
	n.d = NewDriver(Options{Listen: lan.listener(addr), VIPs: n.vips, Notify: n.events})
	ctx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	go func() { n.done <- n.d.Run(ctx) }()
	t.Cleanup(n.stop)
	return n
}

func (n *node) stop() {
	n.cancel()
	<-n.done
	n.done <- nil // a second stop returns at once
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
	is, _, err := n.d.Status()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range is {
		if s.Config.Name == name {
			return s
		}
	}
	t.Fatalf("no instance %q", name)
	return InstanceStatus{}
}

// waitFor polls until the instance's status satisfies ok; generous bounds, the test asserts that
// it happens, not how fast.
func (n *node) waitFor(t *testing.T, name, what string, within time.Duration, ok func(InstanceStatus) bool) InstanceStatus {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		s := n.status(t, name)
		if ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not %s after %s: %s, master %s (%s)", name, what, within, s.State, s.Master, s.Reason)
		}
		time.Sleep(5 * time.Millisecond)
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
	lan := &fakeLAN{}
	a, b := startNode(t, lan, addrA), startNode(t, lan, addrB)
	if err := a.d.Add(testInstance("VI_1", 51, 200, 20*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if err := b.d.Add(testInstance("VI_1", 51, 100, 20*time.Millisecond)); err != nil {
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
	sb = b.waitState(t, "VI_1", Master, time.Second)
	if !strings.Contains(sb.Reason, "10.0.0.1 stopped (sent priority 0)") {
		t.Errorf("reason %q", sb.Reason)
	}
	if !b.vips.holds() || b.vips.announced == 0 {
		t.Errorf("b after takeover: holds %v, announced %d", b.vips.holds(), b.vips.announced)
	}
	var got []string
	for _, ev := range a.events.all() {
		got = append(got, ev.From.String()+"->"+ev.To.String())
	}
	if want := []string{"INIT->BACKUP", "BACKUP->MASTER", "MASTER->INIT"}; !slices.Equal(got, want) {
		t.Errorf("a's events %v, want %v", got, want)
	}
	if err := a.d.Add(testInstance("VI_2", 52, 100, time.Second)); !errors.Is(err, ErrStopped) {
		t.Errorf("Add after stop: %v, want ErrStopped", err)
	}
}

func TestDriverHostLoss(t *testing.T) {
	lan := &fakeLAN{}
	a, b := startNode(t, lan, addrA), startNode(t, lan, addrB)
	a.d.Add(testInstance("VI_1", 51, 200, 20*time.Millisecond))
	b.d.Add(testInstance("VI_1", 51, 100, 20*time.Millisecond))
	a.waitState(t, "VI_1", Master, 2*time.Second)
	b.waitFor(t, "VI_1", "following a", time.Second, func(s InstanceStatus) bool { return s.Master == addrA })
	for _, c := range lan.conns {
		if c.addr == addrA {
			c.unplugged.Store(true)
		}
	}
	sb := b.waitState(t, "VI_1", Master, time.Second)
	if want := "no advertisement from 10.0.0.1 for 70ms (Master_Down_Interval)"; sb.Reason != want {
		t.Errorf("reason %q, want %q", sb.Reason, want) // 3*20ms + 156*2/256 cs (1cs) = 70ms
	}
}

// Malformed and crafted packets are dropped and counted; none changes the state.
func TestDriverDropsBadPackets(t *testing.T) {
	lan := &fakeLAN{}
	a := startNode(t, lan, addrA)
	a.d.Add(testInstance("VI_1", 51, 100, time.Second))
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
		lan.inject(Packet{Src: addrC, Dst: MulticastV4, TTL: 254, Data: good(250)})
		lan.inject(Packet{Src: addrC, Dst: MulticastV4, TTL: 255, Data: badSum})
		lan.inject(Packet{Src: addrC, Dst: MulticastV4, TTL: 255, Data: otherVRID})
		lan.inject(Packet{Src: addrC, Dst: MulticastV4, TTL: 255, Data: good(250)[:5]})
		lan.inject(Packet{Src: addrC, Dst: MulticastV4, TTL: 255, Data: good(250)[:11]})
		lan.inject(Packet{Src: addrC, Dst: MulticastV4, TTL: 255, Data: v2})
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		s := a.status(t, "VI_1")
		_, socks, _ := a.d.Status()
		d := s.Drops
		if d[DropTTL] == 100 && d[DropChecksum] == 100 && d[DropLength] == 100 && d[DropVersion] == 100 &&
			socks[0].Drops[DropVRID] == 100 && socks[0].Drops[DropLength] == 100 {
			if s.State != Backup || s.Master.IsValid() || s.AdvertsReceived != 0 {
				t.Errorf("bad packets changed the state: %+v", s.Status)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("drops %v, socket drops %v", d, socks[0].Drops)
		}
		time.Sleep(5 * time.Millisecond)
	}
	// A valid advert is still accepted afterwards.
	lan.inject(Packet{Src: addrC, Dst: MulticastV4, TTL: 255, Data: good(250)})
	deadline = time.Now().Add(time.Second)
	for a.status(t, "VI_1").Master != addrC {
		if time.Now().After(deadline) {
			t.Fatal("valid advert not accepted after the bad ones")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// All instances on one interface and family share one socket, demultiplexed by VRID.
func TestDriverSharesOneSocket(t *testing.T) {
	lan := &fakeLAN{}
	a := startNode(t, lan, addrA)
	for vrid := 1; vrid <= 255; vrid++ {
		cfg := testInstance(fmt.Sprintf("VI_%d", vrid), uint8(vrid), 255, time.Second)
		if err := a.d.Add(cfg); err != nil {
			t.Fatal(err)
		}
	}
	if n := lan.opens.Load(); n != 1 {
		t.Errorf("%d sockets opened for 255 instances, want 1", n)
	}
	if err := a.d.Add(testInstance("dup", 7, 100, time.Second)); err == nil || !strings.Contains(err.Error(), `vrid 7 on eth0 is already used by instance "VI_7"`) {
		t.Errorf("duplicate VRID: %v", err)
	}
	is, _, _ := a.d.Status()
	for _, s := range is {
		if s.State != Master {
			t.Fatalf("%s is %s, want MASTER (owner)", s.Config.Name, s.State)
		}
	}
}

// Remove stops one instance like a shutdown, and closes the socket with its last user.
func TestDriverRemove(t *testing.T) {
	lan := &fakeLAN{}
	a := startNode(t, lan, addrA)
	a.d.Add(testInstance("VI_1", 1, 255, time.Second))
	a.d.Add(testInstance("VI_2", 2, 255, time.Second))
	if err := a.d.Remove("VI_1"); err != nil {
		t.Fatal(err)
	}
	if err := a.d.Remove("VI_1"); err == nil {
		t.Error("second Remove succeeded")
	}
	if is, _, _ := a.d.Status(); len(is) != 1 || is[0].Config.Name != "VI_2" {
		t.Errorf("instances after Remove: %+v", is)
	}
	a.d.Remove("VI_2")
	select {
	case <-lan.conns[0].closed:
	default:
		t.Error("socket still open after its last instance was removed")
	}
}

// An instance on a missing interface starts in FAULT, saying why, and takes part once the
// interface exists. When the interface is re-created, its socket is opened again.
func TestDriverMissingInterface(t *testing.T) {
	lan := &fakeLAN{missing: map[string]bool{"eth1": true}}
	a := startNode(t, lan, addrA)
	cfg := testInstance("VI_1", 51, 100, 20*time.Millisecond)
	cfg.Interface = "eth1"
	if err := a.d.Add(cfg); err != nil {
		t.Fatal(err)
	}
	s := a.waitState(t, "VI_1", Fault, time.Second)
	if want := "cannot open a VRRP socket on eth1: no interface eth1"; s.Reason != want {
		t.Errorf("reason %q, want %q", s.Reason, want)
	}
	a.d.Recover("VI_1", "interface eth1 is up")
	if s := a.waitState(t, "VI_1", Fault, time.Second); s.Reason != "cannot open a VRRP socket on eth1: no interface eth1" {
		t.Errorf("recovered without a socket: %q", s.Reason)
	}

	lan.mu.Lock()
	lan.missing["eth1"] = false
	lan.mu.Unlock()
	a.d.Recover("VI_1", "interface eth1 is up")
	a.waitState(t, "VI_1", Master, time.Second) // alone on the LAN
	if n := lan.opens.Load(); n != 1 {
		t.Fatalf("%d sockets opened, want 1", n)
	}

	// eth1 is deleted and re-created: it gets a new index, and the old socket hears nothing.
	a.d.Fault("VI_1", "interface eth1 was deleted")
	a.d.SetLink("eth1", 0)
	a.d.SetLink("eth1", 7)
	a.d.Recover("VI_1", "interface eth1 is up")
	a.waitState(t, "VI_1", Master, time.Second)
	if n := lan.opens.Load(); n != 2 {
		t.Errorf("%d sockets opened, want 2: the re-created interface needs a new one", n)
	}
	select {
	case <-lan.conns[0].closed:
	default:
		t.Error("the socket of the deleted interface is still open")
	}
}

// Trackers' state at start-up is applied before the machine starts: no flap.
func TestDriverInitialTrackers(t *testing.T) {
	lan := &fakeLAN{}
	a := startNode(t, lan, addrA)
	cfg := testInstance("VI_1", 51, 100, time.Second)
	cfg.InitialPriority, cfg.InitialFault = 80, "check nginx down"
	a.d.Add(cfg)
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
	lan := &fakeLAN{}
	a, b := startNode(t, lan, addrA), startNode(t, lan, addrB)
	for _, n := range []struct {
		node *node
		prio uint8
	}{{a, 110}, {b, 100}} {
		for _, c := range []InstanceConfig{testInstance("VI_1", 51, n.prio, 20*time.Millisecond), testInstance("VI_2", 52, n.prio, 20*time.Millisecond)} {
			c.Group = "G1"
			if err := n.node.d.Add(c); err != nil {
				t.Fatal(err)
			}
		}
	}
	both := func(n *node, want State) {
		t.Helper()
		n.waitState(t, "VI_1", want, 2*time.Second)
		n.waitState(t, "VI_2", want, 2*time.Second)
	}
	both(a, Master)
	b.waitFor(t, "VI_2", "following a", time.Second, func(s InstanceStatus) bool { return s.Master == addrA })

	a.d.Fault("VI_2", "interface eth1 has no carrier")
	if s := a.status(t, "VI_1"); s.State != Fault || s.Reason != "sync group G1: VI_2 is in FAULT (interface eth1 has no carrier)" {
		t.Errorf("VI_1: %s %q", s.State, s.Reason)
	}
	both(b, Master)
	a.d.Recover("VI_2", "interface eth1 is up")
	both(a, Master)
	both(b, Backup)

	// VI_1 alone drops below the peer: its peer member would preempt, but the peer's VI_2 still
	// follows a's better VI_2, so the group stays.
	a.d.SetPriority("VI_1", 90, "check nginx down (weight -20): priority 110 -> 90")
	time.Sleep(300 * time.Millisecond) // many Skew_Times at 20ms
	if s := b.status(t, "VI_1"); s.State != Backup || !strings.Contains(s.Reason, "but sync group G1: VI_2 follows master 10.0.0.1") {
		t.Errorf("b's VI_1: %s %q, want held BACKUP", s.State, s.Reason)
	}
	// VI_2 drops too: the whole group moves to b.
	a.d.SetPriority("VI_2", 90, "check nginx down (weight -20): priority 110 -> 90")
	both(b, Master)
	both(a, Backup)
}

// Reconfigure changes a running master in place: it takes an added VIP at once and announces
// it, gives up a removed one, and stays master since the same moment. A change of identity is
// refused: it needs a restart.
func TestDriverReconfigure(t *testing.T) {
	lan := &fakeLAN{}
	a := startNode(t, lan, addrA)
	cfg := testInstance("VI_1", 1, 255, time.Second)
	a.d.Add(cfg)
	before := a.waitState(t, "VI_1", Master, time.Second)
	a.vips.mu.Lock()
	a.vips.log = nil
	a.vips.mu.Unlock()

	extra := netip.MustParsePrefix("10.0.0.200/24")
	cfg.VIPs = append(cfg.VIPs, extra)
	cfg.Machine.Preempt = false
	if err := a.d.Reconfigure(cfg); err != nil {
		t.Fatal(err)
	}
	cfg.VIPs = cfg.VIPs[1:]
	if err := a.d.Reconfigure(cfg); err != nil {
		t.Fatal(err)
	}
	after := a.status(t, "VI_1")
	if after.State != Master || !after.Since.Equal(before.Since) || !slices.Equal(after.Config.VIPs, []netip.Prefix{extra}) {
		t.Errorf("after: %s since %v with %v, want MASTER since %v with [%s]", after.State, after.Since, after.Config.VIPs, before.Since, extra)
	}
	a.vips.mu.Lock()
	got := slices.Clone(a.vips.log)
	a.vips.mu.Unlock()
	if want := []string{"add", "announce", "remove"}; !slices.Equal(got, want) {
		t.Errorf("VIP operations %v, want %v", got, want)
	}
	cfg.VRID = 2
	if err := a.d.Reconfigure(cfg); err == nil || !strings.Contains(err.Error(), "needs a restart") {
		t.Errorf("VRID change: %v", err)
	}
}

// A VIP removed by hand from a master's interface is put back and announced; a VIP of a backup,
// or an address that is no VIP, is left alone.
func TestDriverVIPRemoved(t *testing.T) {
	lan := &fakeLAN{}
	a := startNode(t, lan, addrA)
	a.d.Add(testInstance("VI_1", 1, 255, time.Second))
	a.waitState(t, "VI_1", Master, time.Second)
	a.vips.mu.Lock()
	a.vips.log, a.vips.held = nil, false
	a.vips.mu.Unlock()
	a.d.VIPRemoved("eth0", netip.MustParsePrefix("10.0.0.1/24"))   // not a VIP
	a.d.VIPRemoved("eth1", netip.MustParsePrefix("10.0.0.101/24")) // another interface
	a.d.VIPRemoved("eth0", netip.MustParsePrefix("10.0.0.101/24"))
	a.vips.mu.Lock()
	got := slices.Clone(a.vips.log)
	a.vips.mu.Unlock()
	if want := []string{"add", "announce"}; !slices.Equal(got, want) || !a.vips.holds() {
		t.Errorf("VIP operations %v, want %v", got, want)
	}
}

// Masters that take over together are probed together: one probe per interface with every VIP.
// A duplicate shows on the instance whose VIP it is, and is probed again.
func TestDriverProbes(t *testing.T) {
	var mu sync.Mutex
	var calls [][]netip.Prefix
	dup := Duplicate{VIP: netip.MustParseAddr("10.0.0.103"), MAC: "02:00:00:00:00:09"}
	probe := func(ifname string, vips []netip.Prefix) []Duplicate {
		mu.Lock()
		defer mu.Unlock()
		calls = append(calls, slices.Clone(vips))
		return []Duplicate{dup}
	}
	lan := &fakeLAN{}
	d := NewDriver(Options{Listen: lan.listener(addrA), VIPs: &fakeVIPs{}, Probe: probe})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	defer func() { cancel(); <-done }()
	var cfgs []InstanceConfig
	for vrid := uint8(1); vrid <= 10; vrid++ {
		cfgs = append(cfgs, testInstance(fmt.Sprintf("VI_%d", vrid), vrid, 255, time.Second))
	}
	// Add them in one command, as their take-over in one event would queue them.
	d.do(func() error {
		for _, c := range cfgs {
			d.add(c)
		}
		return nil
	})
	deadline := time.Now().Add(2 * time.Second)
	for {
		is, _, _ := d.Status()
		if len(is) == 10 && len(is[2].Duplicates) == 1 {
			for i, s := range is {
				if i != 2 && len(s.Duplicates) != 0 {
					t.Errorf("%s shows duplicates %v of another instance's VIP", s.Config.Name, s.Duplicates)
				}
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no duplicate recorded for VI_3: %+v", is)
		}
		time.Sleep(5 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(calls) != 1 || len(calls[0]) != 10 {
		t.Errorf("probes %v, want one with the 10 VIPs", calls)
	}
	var again time.Time
	d.do(func() error { again = d.probes.due[d.byNm["VI_3"]]; return nil })
	if again.IsZero() {
		t.Error("VI_3 is not probed again")
	}
}

// A send that fails (an interface that vanished) is counted against its instance, and the
// others in the batch still go out; -1 from sendmmsg does not upset the count.
func TestDriverSendErrors(t *testing.T) {
	lan := &fakeLAN{}
	a := startNode(t, lan, addrA)
	for vrid := uint8(1); vrid <= 3; vrid++ {
		a.d.Add(testInstance(fmt.Sprintf("VI_%d", vrid), vrid, 255, 50*time.Millisecond))
	}
	a.waitState(t, "VI_3", Master, time.Second)
	lan.conns[0].failSends.Store(1)
	time.Sleep(200 * time.Millisecond)
	is, _, err := a.d.Status()
	if err != nil {
		t.Fatal(err)
	}
	var failed uint64
	for _, s := range is {
		failed += s.SendErrors
		if s.AdvertsSent < 3 {
			t.Errorf("%s sent %d adverts", s.Config.Name, s.AdvertsSent)
		}
	}
	if failed != 1 {
		t.Errorf("%d send errors counted, want 1", failed)
	}
}

// Run leaves no goroutine behind, and stopping twice is harmless.
func TestDriverLeavesNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	lan := &fakeLAN{}
	n := startNode(t, lan, addrA)
	for vrid := 1; vrid <= 10; vrid++ {
		n.d.Add(testInstance(fmt.Sprintf("VI_%d", vrid), uint8(vrid), 255, 10*time.Millisecond))
	}
	time.Sleep(50 * time.Millisecond)
	n.stop()
	n.stop()
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines left, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

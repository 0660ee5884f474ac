package vrrp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vrrpd/vrrpd/vip"
)

// VIPs puts on the host what a master holds, and takes it off: its addresses, routes and rules,
// and the virtual MAC interfaces instances run on. *vip.Manager implements it; see there. Adding
// what is there and removing what is gone are no errors.
type VIPs interface {
	Add(addrs []vip.Addr) error
	Remove(addrs []vip.Addr) error
	// Announce sends count gratuitous ARPs (IPv4) or unsolicited neighbour advertisements
	// (IPv6) for each address, in rounds, one packet per every (0: at once).
	Announce(addrs []vip.Addr, count int, every time.Duration) error
	AddRoutes(routes []vip.Route) error
	RemoveRoutes(routes []vip.Route) error
	AddRules(rules []vip.Rule) error
	RemoveRules(rules []vip.Rule) error
	EnsureVMAC(v vip.VMAC) (index int, err error)
	RemoveVMAC(name string) error
}

// Event is what hooks hear of: a state change, or two more things (EventKind).
type Event struct {
	Kind      EventKind
	Instance  string
	Interface string
	VRID      uint8
	From, To  State // To == Initialize means the instance stopped; From == To but for a state change
	Priority  uint8 // effective priority
	Reason    string
	VIPs      []netip.Prefix
}

// EventKind says what an Event is about.
type EventKind uint8

const (
	StateChanged    EventKind = iota // From -> To
	Reasserted                       // as master, we answered another master (a healed split brain)
	PriorityChanged                  // the effective priority changed, to Priority
)

// Notifier runs the hooks for an event. Notify must not block: a hung hook must never delay
// an advertisement or a VIP change.
type Notifier interface {
	Notify(Event)
}

// Options are what a Driver is made of.
type Options struct {
	Log    *slog.Logger
	Listen Listener // ListenIP in the daemon
	VIPs   VIPs     // *vip.Manager in the daemon
	Notify Notifier // nil: no hooks
	Clock  Clock    // nil: SystemClock
	// InterfaceAddrs lists an interface's addresses of a family (for IPv6, link-local), for a
	// VMAC instance's source address. nil: InterfaceAddrs.
	InterfaceAddrs func(ifname string, ipv6 bool) ([]netip.Addr, error)
	// Probe asks who else answers for the addresses (ARP, or IPv6 duplicate address detection),
	// listening for a moment. The driver probes after each GARP/NA burst of a master, and again
	// every probeAgain while another host answers. nil: no probing.
	Probe func(addrs []vip.Addr) []vip.Duplicate
}

// ErrStopped is returned by the Driver's methods once Run has begun to stop.
var ErrStopped = errors.New("driver stopped")

// Driver runs virtual routers on sockets. It does the I/O: one goroutine (Run) owns every
// Machine and the Policy, and carries out what they decide; one goroutine per socket waits for
// packets and tells Run, which reads them. See the package documentation for an advert's way
// through it.
type Driver struct {
	opt    Options
	pol    *Policy
	cmds   chan func()
	rx     chan readable
	done   chan struct{}  // closed when Run returns
	stop   chan struct{}  // closed when Run starts shutting down: goroutines stop delivering
	wg     sync.WaitGroup // the socket watchers and the prober
	alarm  Alarm          // goes off at the earliest deadline
	adv    Advertisement  // receive scratch
	order  []*instance    // in the configuration's order
	timers timers         // the instances by their machines' deadlines
	probes probes         // duplicate-VIP probes to run
	epoch  time.Time      // the adverts' grid (Config.Epoch)
	byNm   map[string]*instance
	vips   map[netip.Addr]bool // every address an instance holds as master (isVIP)
	socks  map[sockKey]*sock

	frozen  bool                         // Freeze: Run returns without shutting the instances down
	resume  map[string]*InstanceHandover // Resume: what the first Apply restores
	elapsed time.Duration                // since the handover was frozen
}

// NewDriver returns a driver; call Run to start it.
func NewDriver(opt Options) *Driver {
	if opt.Clock == nil {
		opt.Clock = SystemClock{}
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	if opt.InterfaceAddrs == nil {
		opt.InterfaceAddrs = InterfaceAddrs
	}
	return &Driver{
		epoch: opt.Clock.Now(),
		opt:   opt,
		pol:   NewPolicy(),
		cmds:  make(chan func()),
		rx:    make(chan readable, 16),
		done:  make(chan struct{}),
		stop:  make(chan struct{}),
		byNm:  map[string]*instance{},
		socks: map[sockKey]*sock{},
	}
}

func (d *Driver) now() time.Time { return d.opt.Clock.Now() }

// Run runs the instances until ctx is done. Then every instance stops as RFC 5798 §6.4 says
// (a master sends priority 0 and removes its VIPs), the sockets close, and Run returns.
func (d *Driver) Run(ctx context.Context) error {
	defer close(d.done)
	var err error
	if d.alarm, err = d.opt.Clock.NewAlarm(); err != nil {
		close(d.stop)
		return err
	}
	var armed time.Time // the deadline the alarm is set for
	for {
		if next := d.next(); !next.Equal(armed) {
			d.alarm.Set(next)
			armed = next
		}
		select {
		case <-ctx.Done():
			d.shutdown()
			return nil
		case r := <-d.rx:
			d.read(r)
		case <-d.alarm.C():
			armed = time.Time{} // the alarm has gone off: set it again
			d.fire()
		case f := <-d.cmds:
			f()
			if d.frozen {
				d.halt()
				return nil
			}
		}
		d.flush()
	}
}

// next is the earliest deadline: a machine's, the policy's or a probe's.
func (d *Driver) next() time.Time {
	next := d.timers.next()
	if t := d.pol.Deadline(); earlier(t, next) {
		next = t
	}
	if t := d.probes.next; earlier(t, next) {
		next = t
	}
	return next
}

// fire does what is due: the machines' timers, the policy's and the probes. A timer can fire
// late: a busy CPU, a paused VM or SIGSTOP delay the daemon while the master keeps advertising.
// So before a backup declares its master dead, the adverts already waiting in its socket are
// read and processed, and a backup paused past Master_Down_Interval does not take over from a
// master that is alive.
func (d *Driver) fire() {
	now := d.now()
	var socks []*sock
	d.timers.due(now, func(in *instance) {
		if in.m.State() == Backup && in.s.conn != nil && !slices.Contains(socks, in.s) {
			socks = append(socks, in.s)
		}
	})
	for _, s := range socks {
		d.drain(s)
	}
	now = d.now()
	for n := len(d.timers); n > 0; n-- { // each due instance once; Tick moves its deadline on
		in := d.timers[0]
		if dl := in.m.Deadline(); dl.IsZero() || now.Before(dl) {
			break
		}
		d.act(in, in.m.Tick(now))
	}
	if dl := d.pol.Deadline(); !dl.IsZero() && !now.Before(dl) {
		d.enact(d.pol.Tick(now))
	}
	if !d.probes.next.IsZero() && !now.Before(d.probes.next) {
		d.startProbes(now)
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

// Apply makes cfgs the running instances, in their order, as Reload says: an instance that
// is new starts, one that is gone stops as on shutdown, one whose identity changed restarts,
// and one that changed otherwise changes in place, without a new election. An unchanged
// instance keeps its state, timers and VIPs. The error lists the instances that could not
// start; the others run.
func (d *Driver) Apply(cfgs []InstanceConfig) (Plan, error) {
	var plan Plan
	err := d.do(func() error {
		var err error
		plan, err = d.apply(cloneConfigs(cfgs))
		return err
	})
	return plan, err
}

// Report tells the driver what a tracker says. The policy decides what follows for every
// instance that tracks it. Reports of trackers that no instance tracks yet are kept for
// those that will.
func (d *Driver) Report(key TrackerKey, r Report) error {
	return d.do(func() error {
		d.enact(d.pol.Report(d.now(), key, r))
		return nil
	})
}

// Delay keeps every instance from taking part until the given time: startup_delay, from the
// daemon's start. Call it before the first Apply.
func (d *Driver) Delay(until time.Time) error {
	return d.do(func() error {
		d.pol.Delay(until)
		return nil
	})
}

// Drained is an instance that Drain drained, and the longest Master_Down_Interval a peer of it
// can have (a peer of priority 1's): how long one may take to take over.
type Drained struct {
	Name               string
	MasterDownInterval time.Duration
}

// Drain takes the named instances out of service (all of them if names is empty), as SPEC.md's
// `vrrpd drain` says: each advertises priority 1, so that any healthy peer outranks it, and a
// master keeps its VIPs until another router takes over (make-before-break). With force, a
// master yields at once with priority 0. The drain lasts until Undrain. An address owner
// (priority 255) cannot be drained: its priority is part of its identity.
func (d *Driver) Drain(names []string, since time.Time, force bool) ([]Drained, error) {
	var out []Drained
	err := d.do(func() error {
		ins, err := d.named(names)
		if err != nil {
			return err
		}
		var owners []string
		for _, in := range ins {
			if in.cfg.Machine.Priority == 255 {
				owners = append(owners, in.cfg.Name)
			}
		}
		if len(owners) > 0 {
			return fmt.Errorf("cannot drain %s: an address owner (priority 255) keeps its priority; give it a lower one first", strings.Join(owners, ", "))
		}
		for _, in := range ins {
			d.enact(d.pol.Drain(in.cfg.Name, since))
			if force {
				d.act(in, in.m.Yield(d.now(), "drained with --force by the operator"))
			}
			out = append(out, Drained{Name: in.cfg.Name, MasterDownInterval: MasterDownInterval(in.cfg.Machine.Version, 1, in.cfg.Machine.Interval)})
		}
		return nil
	})
	return out, err
}

// Undrain ends the drain of the named instances (all if names is empty): the priority returns to
// what the configuration and the trackers say, and preemption applies as usual.
func (d *Driver) Undrain(names []string) ([]string, error) {
	var out []string
	err := d.do(func() error {
		ins, err := d.named(names)
		if err != nil {
			return err
		}
		for _, in := range ins {
			d.enact(d.pol.Drain(in.cfg.Name, time.Time{}))
			out = append(out, in.cfg.Name)
		}
		return nil
	})
	return out, err
}

// Restore drains the instances a previous run had drained (the daemon keeps them in its
// state_dir), before the first Apply, so that they start drained. Names that are not configured
// keep their drain for when they are.
func (d *Driver) Restore(drained map[string]time.Time) error {
	return d.do(func() error {
		for name, since := range drained {
			d.pol.Drain(name, since)
		}
		return nil
	})
}

// DrainedSet lists the drained instances, configured or not, and since when.
func (d *Driver) DrainedSet() map[string]time.Time {
	var out map[string]time.Time
	d.do(func() error { out = d.pol.Drained(); return nil })
	return out
}

// named returns the named instances, or every one if names is empty; an unknown name is an error.
func (d *Driver) named(names []string) ([]*instance, error) {
	if len(names) == 0 {
		return slices.Clone(d.order), nil
	}
	var ins []*instance
	var unknown []string
	for _, n := range names {
		if in := d.byNm[n]; in != nil {
			ins = append(ins, in)
		} else {
			unknown = append(unknown, strconv.Quote(n))
		}
	}
	if len(unknown) > 0 {
		return nil, fmt.Errorf("no instance %s", strings.Join(unknown, ", "))
	}
	return ins, nil
}

// Link is an interface's state, as the daemon's link watch reports it.
type Link struct {
	Name  string
	Index int    // 0 when it does not exist
	Up    bool   // it exists, is administratively up and has a carrier
	Why   string // what is wrong when it is not up, e.g. "interface eth0 has no carrier"
}

// SetLink tells the driver an interface's state. A socket stays bound to the index it was opened
// on, so when the interface is deleted and re-created, its sockets are opened again. Then the
// link is reported to the policy, as the tracker of every instance on it, and of those that
// track it.
func (d *Driver) SetLink(l Link) error {
	return d.do(func() error {
		for _, s := range d.socks {
			if s.key.ifname == l.Name && s.conn != nil && s.index != l.Index {
				d.opt.Log.Info("interface changed: reopening its VRRP socket", "interface", l.Name, "index", l.Index)
				s.conn.Close()
				s.conn = nil
			}
		}
		if l.Up {
			for _, in := range d.order {
				if in.cfg.Interface == l.Name {
					d.enact(d.pol.Ready(in.cfg.Name, d.ready(in)))
				}
			}
		}
		why := l.Why
		if l.Up {
			why = "interface " + l.Name + " is up"
		}
		d.enact(d.pol.Report(d.now(), TrackerKey{TrackInterface, l.Name}, Report{Up: l.Up, Why: why}))
		return nil
	})
}

// AddrsChanged tells the driver that p was added to or removed from an interface. An instance
// that advertises from the interface's own address (no unicast_src) moves to its new primary
// address at once, so that its next advert comes from it; one that had no address to advertise
// from takes part once it has one. A VIP coming and going changes no instance's own address, and
// is ignored: a master adding a thousand must not read the interface's addresses a thousand times.
func (d *Driver) AddrsChanged(ifname string, p netip.Prefix) error {
	return d.do(func() error {
		if d.isVIP(p.Addr()) {
			return nil
		}
		for _, in := range d.order {
			if d.srcInterface(in) == ifname {
				d.resolve(in)
			}
		}
		return nil
	})
}

// Resync makes every master re-add its VIPs, and every instance re-read its interface's
// addresses: the daemon's address watch may have missed changes (the kernel drops netlink
// messages when a subscriber falls behind).
func (d *Driver) Resync() error {
	return d.do(func() error {
		for _, in := range d.order {
			d.resolve(in)
			if in.m.State() == Master {
				d.act(in, []Action{{Kind: AddVIPs}})
			}
		}
		return nil
	})
}

// resolve reads the instance's source address again, if it is the interface's, and tells the
// policy whether the instance can run.
func (d *Driver) resolve(in *instance) {
	if !in.cfg.Src.IsValid() && in.s.conn != nil {
		src, err := d.primaryAddr(in)
		switch {
		case err != nil:
			in.src = netip.Addr{} // ready says what is missing
		case src != in.src:
			if in.src.IsValid() {
				d.opt.Log.Info("the interface's address changed: advertising from the new one", "instance", in.cfg.Name, "interface", in.cfg.Interface, "from", in.src, "to", src)
			}
			in.src = src
			in.m.SetAddr(src)
		}
	}
	d.enact(d.pol.Ready(in.cfg.Name, d.ready(in)))
}

// VIPRemoved tells the driver that an address was removed from an interface. If it is the VIP of
// a master there, someone removed it by hand: it is put back and announced, and that is logged.
// The driver's own removals come when the instance is no longer master, and change nothing.
func (d *Driver) VIPRemoved(ifname string, p netip.Prefix) error {
	return d.do(func() error {
		for _, in := range d.order {
			if in.m.State() != Master || !slices.Contains(in.held, p) || in.cfg.devOf(p.Addr()) != ifname {
				continue
			}
			d.opt.Log.Warn("a VIP was removed from the interface while master: putting it back",
				"instance", in.cfg.Name, "vrid", in.cfg.VRID, "vip", p, "interface", ifname)
			d.act(in, []Action{{Kind: AddVIPs}, {Kind: Announce}})
		}
		return nil
	})
}

// shutdown stops every instance, as RFC 5798 §6.4 says, then halts.
func (d *Driver) shutdown() {
	close(d.stop)
	now := d.now()
	for _, in := range d.order {
		d.act(in, in.m.Shutdown(now))
	}
	d.flush()
	d.halt()
	for _, in := range d.order {
		d.removeVMAC(in)
	}
}

// halt closes the sockets and waits for the goroutines.
func (d *Driver) halt() {
	select {
	case <-d.stop:
	default:
		close(d.stop)
	}
	for _, s := range d.socks {
		if s.conn != nil {
			s.conn.Close()
		}
	}
	d.alarm.Close()
	d.wg.Wait()
}

package main

import (
	"context"
	"log/slog"
	"maps"
	"reflect"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vishvananda/netns"

	"github.com/vrrpd/vrrpd/checks"
	"github.com/vrrpd/vrrpd/configs"
	"github.com/vrrpd/vrrpd/vip"
	"github.com/vrrpd/vrrpd/vrrp"
)

// tracking turns the world's state (links, checks) into each instance's effective priority
// and FAULT, and tells the driver when they change.
type tracking struct {
	log    *slog.Logger
	driver *vrrp.Driver

	mu        sync.Mutex
	instances []*tracked
	links     map[string]vip.Link
	checks    map[string]bool          // name -> up, once it has reported
	whys      map[string]string        // kind+" "+name -> the tracker's latest explanation
	running   map[string]*runningCheck // the check goroutines, by name
	watch     *linkWatch               // the link watch goroutine
	started   bool                     // the driver runs the instances: changes go to it

	probing sync.WaitGroup // the check goroutines: each kills its probe's process group as it ends
}

// tracked is one instance's trackers and what they last decided.
type tracked struct {
	name     string
	base     uint8
	trackers []checks.Tracker
	prio     uint8
	fault    string // why it must be in FAULT; "" if it need not
	why      string // what the trackers do, e.g. "check nginx down (weight -20): priority 100 -> 80"
}

type runningCheck struct {
	cfg    configs.Check
	cred   *syscall.Credential // script_user, for exec and script checks
	cancel context.CancelFunc
}

type linkWatch struct {
	names  []string
	cancel context.CancelFunc
}

func newTracking(driver *vrrp.Driver, log *slog.Logger) *tracking {
	return &tracking{
		log: log, driver: driver, links: map[string]vip.Link{}, checks: map[string]bool{},
		whys: map[string]string{}, running: map[string]*runningCheck{},
	}
}

// trackedOf lists an instance's trackers: its own interface always (its link going down means
// FAULT), then its track_interfaces and track_checks.
func trackedOf(in configs.Instance) *tracked {
	ti := &tracked{name: in.Name, base: in.Priority, prio: in.Priority}
	ti.trackers = append(ti.trackers, checks.Tracker{Kind: checks.KindInterface, Name: in.Interface})
	for _, tr := range in.TrackInterfaces {
		if tr.Name != in.Interface {
			ti.trackers = append(ti.trackers, checks.Tracker{Kind: checks.KindInterface, Name: tr.Name, Weight: tr.Weight})
		}
	}
	for _, tc := range in.TrackChecks {
		ti.trackers = append(ti.trackers, checks.Tracker{Kind: checks.KindCheck, Name: tc.Name, Weight: tc.Weight})
	}
	return ti
}

// names lists the tracked names of one kind.
func (t *tracking) names(kind string) []string {
	var out []string
	for _, ti := range t.instances {
		for _, tr := range ti.trackers {
			if tr.Kind == kind && !slices.Contains(out, tr.Name) {
				out = append(out, tr.Name)
			}
		}
	}
	slices.Sort(out)
	return out
}

// reconfigure switches tracking to cfg, at start-up and on reload. Checks whose configuration
// is unchanged keep running, and the link watch restarts only if the set of links changes, so an
// unchanged instance sees no blip. It waits until every tracker has reported (at most wait), so
// that instances start with the right priority instead of flapping. Then, with the lock held so
// that no tracker change interleaves, it calls change to add, reconfigure and remove the
// driver's instances, with initial telling what the trackers say of an instance, and brings
// every other instance in line with its trackers.
func (t *tracking) reconfigure(ctx context.Context, cfg *configs.Config, wait time.Duration,
	change func(initial func(name string) (uint8, string)) error) error {
	t.mu.Lock()
	t.started = false
	t.instances = nil
	for _, in := range cfg.Instances {
		t.instances = append(t.instances, trackedOf(in))
	}
	wanted, cred := t.names(checks.KindCheck), cfg.Global.ScriptCredential
	for name, rc := range t.running {
		i := slices.IndexFunc(cfg.Checks, func(c configs.Check) bool { return c.Name == name })
		if i < 0 || !slices.Contains(wanted, name) || !reflect.DeepEqual(cfg.Checks[i], rc.cfg) || !reflect.DeepEqual(cred, rc.cred) {
			rc.cancel()
			delete(t.running, name)
			delete(t.checks, name)
		}
	}
	for _, c := range cfg.Checks {
		if slices.Contains(wanted, c.Name) && t.running[c.Name] == nil {
			t.startCheck(ctx, c, cred)
		}
	}
	links := t.names(checks.KindInterface)
	if t.watch == nil || !slices.Equal(links, t.watch.names) {
		if t.watch != nil {
			t.watch.cancel()
		}
		t.startWatch(ctx, links)
	}
	t.mu.Unlock()

	t.waitReported(ctx, wait, links, wanted)

	t.mu.Lock()
	defer t.mu.Unlock()
	for _, ti := range t.instances {
		for i, tr := range ti.trackers {
			if tr.Kind == checks.KindInterface {
				ti.trackers[i].Up = t.links[tr.Name].Up
			} else {
				ti.trackers[i].Up = t.checks[tr.Name]
			}
		}
		t.decide(ti)
	}
	err := change(func(name string) (uint8, string) {
		if ti := t.find(name); ti != nil {
			return ti.prio, ti.fault
		}
		return 0, ""
	})
	t.reconcile()
	t.started = true
	return err
}

func (t *tracking) find(name string) *tracked {
	for _, ti := range t.instances {
		if ti.name == name {
			return ti
		}
	}
	return nil
}

// startCheck runs a check in its own goroutine until it is stopped; exec and script checks run
// as cred (nil: the daemon's own user). t.mu is held.
func (t *tracking) startCheck(ctx context.Context, c configs.Check, cred *syscall.Credential) {
	ctx, cancel := context.WithCancel(ctx)
	rc := &runningCheck{cfg: c, cred: cred, cancel: cancel}
	t.running[c.Name] = rc
	spec := checks.Spec{Name: c.Name, Checker: checkerOf(c, cred), Interval: c.Interval, Timeout: c.Timeout, Rise: c.Rise, Fall: c.Fall}
	t.probing.Go(func() {
		checks.Run(ctx, spec, t.log, func(up bool, why string) {
			t.mu.Lock()
			defer t.mu.Unlock()
			if t.running[c.Name] != rc {
				return // a check stopped by a reload
			}
			t.checks[c.Name] = up
			t.update(checks.KindCheck, c.Name, up, why)
		})
	})
}

// wait waits until every check has ended, once their context is done: a probe still running
// then is killed with its process group first, which the daemon must see done before it exits,
// for nothing else would.
func (t *tracking) wait() { t.probing.Wait() }

func checkerOf(c configs.Check, cred *syscall.Credential) checks.Checker {
	switch c.Kind {
	case configs.CheckProcess:
		return checks.Process(c.Process)
	case configs.CheckExec:
		return checks.Exec(c.Exec, checks.WithCredential(cred))
	case configs.CheckScript:
		return checks.Script(c.Script, checks.WithCredential(cred))
	case configs.CheckTCP:
		return checks.TCP(c.TCP)
	}
	return checks.HTTP(c.HTTP)
}

// startWatch watches the named links until it is replaced. t.mu is held.
func (t *tracking) startWatch(ctx context.Context, names []string) {
	ctx, cancel := context.WithCancel(ctx)
	w := &linkWatch{names: names, cancel: cancel}
	t.watch = w
	go vip.WatchLinks(ctx, netns.None(), names, t.log, func(l vip.Link) {
		t.mu.Lock()
		defer t.mu.Unlock()
		if t.watch == w {
			t.link(l)
		}
	})
}

// waitReported waits until every link and check named has reported, or for at most wait.
func (t *tracking) waitReported(ctx context.Context, wait time.Duration, links, checkNames []string) {
	deadline := time.Now().Add(wait)
	for ctx.Err() == nil {
		t.mu.Lock()
		missing := 0
		for _, name := range links {
			if _, ok := t.links[name]; !ok {
				missing++
			}
		}
		for _, name := range checkNames {
			if _, ok := t.checks[name]; !ok {
				missing++
			}
		}
		t.mu.Unlock()
		if missing == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.log.Warn("starting before every tracker reported", "waited", wait, "missing", missing)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// link records a link's state. t.mu is held.
func (t *tracking) link(l vip.Link) {
	old, seen := t.links[l.Name]
	t.links[l.Name] = l
	if seen && old.Index != l.Index {
		// Deleted or re-created: its sockets must be opened again.
		t.driver.SetLink(l.Name, l.Index)
	}
	why := l.Why
	if l.Up {
		why = "interface " + l.Name + " is up"
	}
	t.update(checks.KindInterface, l.Name, l.Up, why)
}

// update records a tracker's state and, once the driver runs the instances, applies what
// follows to every instance that tracks it. t.mu is held: the driver never calls back into
// tracking, so waiting for it here is safe.
func (t *tracking) update(kind, name string, up bool, why string) {
	t.whys[kind+" "+name] = why
	for _, ti := range t.instances {
		i := slices.IndexFunc(ti.trackers, func(tr checks.Tracker) bool { return tr.Kind == kind && tr.Name == name })
		if i < 0 || ti.trackers[i].Up == up {
			continue
		}
		ti.trackers[i].Up = up
		oldPrio, oldFault := ti.prio, ti.fault
		t.decide(ti)
		if !t.started {
			continue
		}
		if ti.fault != "" && ti.fault != oldFault {
			t.driver.Fault(ti.name, ti.fault)
		}
		if ti.prio != oldPrio {
			t.driver.SetPriority(ti.name, ti.prio, ti.why)
		}
		if ti.fault == "" && oldFault != "" {
			t.driver.Recover(ti.name, why)
		}
	}
}

// reconcile brings every running instance in line with what its trackers decided: after a
// reload, trackers may have changed while the driver was not told. t.mu is held.
func (t *tracking) reconcile() {
	is, _, err := t.driver.Status()
	if err != nil {
		return
	}
	for _, s := range is {
		ti := t.find(s.Config.Name)
		if ti == nil {
			continue
		}
		if ti.fault != "" && (s.State != vrrp.Fault || s.Reason != ti.fault) {
			t.driver.Fault(ti.name, ti.fault)
		}
		if ti.prio != s.Priority {
			t.driver.SetPriority(ti.name, ti.prio, ti.why)
		}
		if ti.fault == "" && s.State == vrrp.Fault {
			t.driver.Recover(ti.name, "its trackers are up")
		}
	}
}

// decide computes the instance's effective priority and fault from its trackers. A fault is
// explained in the words of the trackers that cause it, e.g. "interface eth0 has no carrier".
func (t *tracking) decide(ti *tracked) {
	prio, fault, why := checks.Effective(ti.base, ti.trackers)
	ti.prio, ti.why, ti.fault = prio, why, ""
	if !fault {
		return
	}
	var causes []string
	for _, tr := range ti.trackers {
		if !tr.Up && tr.Weight == 0 {
			why, ok := t.whys[tr.Kind+" "+tr.Name]
			if !ok {
				why = tr.Kind + " " + tr.Name + " has not reported yet"
			}
			causes = append(causes, why)
		}
	}
	ti.fault = strings.Join(causes, "; ")
}

// checkStates reports whether each check that has reported is up.
func (t *tracking) checkStates() map[string]bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return maps.Clone(t.checks)
}

// status lists an instance's trackers for `vrrpd status`, and what they do to its priority.
func (t *tracking) status(name string) (docs []trackerDoc, why string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	docs = []trackerDoc{}
	if ti := t.find(name); ti != nil {
		for _, tr := range ti.trackers {
			docs = append(docs, trackerDoc{Kind: tr.Kind, Name: tr.Name, Up: tr.Up, Weight: tr.Weight})
		}
		why = ti.why
	}
	return docs, why
}

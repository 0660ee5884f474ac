package main

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
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
	checks    map[string]bool   // name -> has reported at least once
	whys      map[string]string // kind+" "+name -> the tracker's latest explanation
	started   bool              // the driver runs the instances: changes go to it
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

func newTracking(cfg *configs.Config, driver *vrrp.Driver, log *slog.Logger) *tracking {
	t := &tracking{log: log, driver: driver, links: map[string]vip.Link{}, checks: map[string]bool{}, whys: map[string]string{}}
	for _, in := range cfg.Instances {
		ti := &tracked{name: in.Name, base: in.Priority, prio: in.Priority}
		// The instance's own interface is always tracked: its link going down means FAULT.
		ti.trackers = append(ti.trackers, checks.Tracker{Kind: checks.KindInterface, Name: in.Interface})
		for _, ti2 := range in.TrackInterfaces {
			if ti2.Name != in.Interface {
				ti.trackers = append(ti.trackers, checks.Tracker{Kind: checks.KindInterface, Name: ti2.Name, Weight: ti2.Weight})
			}
		}
		for _, tc := range in.TrackChecks {
			ti.trackers = append(ti.trackers, checks.Tracker{Kind: checks.KindCheck, Name: tc.Name, Weight: tc.Weight})
		}
		t.instances = append(t.instances, ti)
	}
	return t
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
	return out
}

// start watches the links and runs the tracked checks until ctx is done. It returns once every
// link and check has reported its first state, or after wait, so that instances start with
// the right priority instead of flapping.
func (t *tracking) start(ctx context.Context, cfg *configs.Config, wait time.Duration) {
	links, tracked := t.names(checks.KindInterface), t.names(checks.KindCheck)
	go vip.WatchLinks(ctx, netns.None(), links, t.log, t.link)
	for _, c := range cfg.Checks {
		if slices.Contains(tracked, c.Name) {
			spec := checks.Spec{Name: c.Name, Checker: checkerOf(c), Interval: c.Interval, Timeout: c.Timeout, Rise: c.Rise, Fall: c.Fall}
			go checks.Run(ctx, spec, t.log, func(up bool, why string) { t.check(c.Name, up, why) })
		}
	}
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		t.mu.Lock()
		n := len(t.links) + len(t.checks)
		t.mu.Unlock()
		if n == len(links)+len(tracked) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.log.Warn("starting before every tracker reported", "waited", wait)
}

func checkerOf(c configs.Check) checks.Checker {
	switch c.Kind {
	case configs.CheckProcess:
		return checks.Process(c.Process)
	case configs.CheckExec:
		return checks.Exec(c.Exec)
	case configs.CheckScript:
		return checks.Script(c.Script)
	case configs.CheckTCP:
		return checks.TCP(c.TCP)
	}
	return checks.HTTP(c.HTTP)
}

// launch starts every instance with what its trackers say now, through add; from then on,
// tracker changes go to the driver. Holding the lock throughout, no change falls in between.
func (t *tracking) launch(add func(name string, prio uint8, fault string) error) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, ti := range t.instances {
		t.decide(ti)
		if err := add(ti.name, ti.prio, ti.fault); err != nil {
			return err
		}
	}
	t.started = true
	return nil
}

func (t *tracking) link(l vip.Link) {
	t.mu.Lock()
	defer t.mu.Unlock()
	old, seen := t.links[l.Name]
	t.links[l.Name] = l
	if seen && old.Index != l.Index && t.started {
		// Deleted or re-created: its sockets must be opened again.
		t.driver.SetLink(l.Name, l.Index)
	}
	why := l.Why
	if l.Up {
		why = fmt.Sprintf("interface %s is up", l.Name)
	}
	t.update(checks.KindInterface, l.Name, l.Up, why)
}

func (t *tracking) check(name string, up bool, why string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.checks[name] = true
	t.update(checks.KindCheck, name, up, why)
}

// update records a tracker's state and applies what follows to every instance that tracks it.
// t.mu is held: the driver never calls back into tracking, so waiting for it here is safe.
func (t *tracking) update(kind, name string, up bool, why string) {
	t.whys[kind+" "+name] = why
	for _, ti := range t.instances {
		i := slices.IndexFunc(ti.trackers, func(tr checks.Tracker) bool { return tr.Kind == kind && tr.Name == name })
		if i < 0 || ti.trackers[i].Up == up && t.started {
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
			causes = append(causes, t.whys[tr.Kind+" "+tr.Name])
		}
	}
	ti.fault = strings.Join(causes, "; ")
}

// status lists an instance's trackers for `vrrpd status`, and what they do to its priority.
func (t *tracking) status(name string) (docs []trackerDoc, why string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	docs = []trackerDoc{}
	for _, ti := range t.instances {
		if ti.name != name {
			continue
		}
		for _, tr := range ti.trackers {
			docs = append(docs, trackerDoc{Kind: tr.Kind, Name: tr.Name, Up: tr.Up, Weight: tr.Weight})
		}
		why = ti.why
	}
	return docs, why
}

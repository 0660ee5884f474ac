package main

import (
	"context"
	"log/slog"
	"reflect"
	"slices"
	"sync"
	"syscall"

	"github.com/vishvananda/netns"

	"github.com/vrrpd/vrrpd/checks"
	"github.com/vrrpd/vrrpd/configs"
	"github.com/vrrpd/vrrpd/notify/child"
	"github.com/vrrpd/vrrpd/vip"
	"github.com/vrrpd/vrrpd/vrrp"
)

// tracking runs what the instances track, the checks and the links of their interfaces, and
// reports each one's state to the driver, whose policy decides what it means for them.
type tracking struct {
	log    *slog.Logger
	driver *vrrp.Driver
	reaper *child.Reaper // the daemon's, when it is PID 1; nil otherwise

	mu       sync.Mutex
	running  map[string]*runningCheck // the check goroutines, by name
	watch    *linkWatch               // the link watch goroutine
	reported map[vrrp.TrackerKey]bool // trackers that have reported since they started
	waiting  []*waiter

	probing sync.WaitGroup // the check goroutines: each kills its probe's process group as it ends
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

// waiter is a start-up or a reload waiting for its trackers' first reports.
type waiter struct {
	keys []vrrp.TrackerKey
	done chan struct{}
}

func newTracking(driver *vrrp.Driver, reaper *child.Reaper, log *slog.Logger) *tracking {
	return &tracking{log: log, driver: driver, reaper: reaper, running: map[string]*runningCheck{}, reported: map[vrrp.TrackerKey]bool{}}
}

// trackedKeys lists the trackers of every instance: each one's own interface, its
// track_interfaces and its track_checks.
func trackedKeys(cfg *configs.Config) []vrrp.TrackerKey {
	var keys []vrrp.TrackerKey
	add := func(k vrrp.TrackerKey) {
		if !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	for _, in := range cfg.Instances {
		add(vrrp.TrackerKey{Kind: vrrp.TrackInterface, Name: in.Interface})
		for _, tr := range in.TrackInterfaces {
			add(vrrp.TrackerKey{Kind: vrrp.TrackInterface, Name: tr.Name})
		}
		for _, tc := range in.TrackChecks {
			add(vrrp.TrackerKey{Kind: vrrp.TrackCheck, Name: tc.Name})
		}
	}
	return keys
}

// reconfigure runs the trackers cfg needs, at start-up and on reload. A check whose
// configuration is unchanged keeps running, and the link watch restarts only if the set of links
// changes, so that an unchanged instance sees no blip. The channel it returns is closed once every
// tracker cfg needs has reported since it started, so that instances start with the right
// priority instead of flapping.
func (t *tracking) reconfigure(ctx context.Context, cfg *configs.Config) <-chan struct{} {
	t.mu.Lock()
	defer t.mu.Unlock()
	keys := trackedKeys(cfg)
	var links, wanted []string
	for _, k := range keys {
		if k.Kind == vrrp.TrackInterface {
			links = append(links, k.Name)
		} else {
			wanted = append(wanted, k.Name)
		}
	}
	slices.Sort(links)
	cred := cfg.Global.ScriptCredential
	for name, rc := range t.running {
		i := slices.IndexFunc(cfg.Checks, func(c configs.Check) bool { return c.Name == name })
		if i < 0 || !slices.Contains(wanted, name) || !reflect.DeepEqual(cfg.Checks[i], rc.cfg) || !reflect.DeepEqual(cred, rc.cred) {
			rc.cancel()
			delete(t.running, name)
			delete(t.reported, vrrp.TrackerKey{Kind: vrrp.TrackCheck, Name: name})
		}
	}
	for _, c := range cfg.Checks {
		if slices.Contains(wanted, c.Name) && t.running[c.Name] == nil {
			t.startCheck(ctx, c, cred)
		}
	}
	if t.watch == nil || !slices.Equal(links, t.watch.names) {
		if t.watch != nil {
			t.watch.cancel()
		}
		t.startWatch(ctx, links)
	}
	w := &waiter{keys: keys, done: make(chan struct{})}
	t.waiting = append(t.waiting, w)
	t.wake()
	return w.done
}

// missing counts the trackers cfg needs that have not reported yet.
func (t *tracking) missing(cfg *configs.Config) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, k := range trackedKeys(cfg) {
		if !t.reported[k] {
			n++
		}
	}
	return n
}

// wake releases the waiters whose trackers have all reported. t.mu is held.
func (t *tracking) wake() {
	t.waiting = slices.DeleteFunc(t.waiting, func(w *waiter) bool {
		if slices.ContainsFunc(w.keys, func(k vrrp.TrackerKey) bool { return !t.reported[k] }) {
			return false
		}
		close(w.done)
		return true
	})
}

// resume counts the trackers a previous image handed over as reported: their states are the
// driver's already, so nothing waits for them again.
func (t *tracking) resume(h *vrrp.Handover) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, r := range h.Reports {
		t.reported[r.Key] = true
	}
}

// seen records that a tracker has reported: its state went to the driver. t.mu is held while it
// goes, so that a stopped tracker's late report cannot overtake its successor's; the driver never
// calls back into tracking, so waiting for it then is safe.
func (t *tracking) seen(key vrrp.TrackerKey) {
	if !t.reported[key] {
		t.reported[key] = true
		t.wake()
	}
}

// startCheck runs a check in its own goroutine until it is stopped; exec and script checks run
// as cred (nil: the daemon's own user). t.mu is held.
func (t *tracking) startCheck(ctx context.Context, c configs.Check, cred *syscall.Credential) {
	ctx, cancel := context.WithCancel(ctx)
	rc := &runningCheck{cfg: c, cred: cred, cancel: cancel}
	t.running[c.Name] = rc
	spec := checks.Spec{Name: c.Name, Checker: checkerOf(c, cred, t.reaper), Interval: c.Interval, Timeout: c.Timeout,
		Rise: c.Rise, Fall: c.Fall, InitFail: c.InitFail, Reverse: c.Reverse && c.Kind != configs.CheckFile} // a file check's is the policy's
	key := vrrp.TrackerKey{Kind: vrrp.TrackCheck, Name: c.Name}
	t.probing.Go(func() {
		checks.Run(ctx, spec, t.log, func(r checks.Report) {
			t.mu.Lock()
			defer t.mu.Unlock()
			if t.running[c.Name] == rc { // not a check stopped by a reload
				t.driver.Report(key, vrrp.Report{Up: r.Up, Value: r.Value, Why: r.Why})
				t.seen(key)
			}
		})
	})
}

// wait waits until every check has ended, once their context is done: a probe still running
// then is killed with its process group first, which the daemon must see done before it exits,
// for nothing else would.
func (t *tracking) wait() { t.probing.Wait() }

// checkerOf is a check's probe. exec and script checks run as the check's own user, else as
// script_user (cred).
func checkerOf(c configs.Check, cred *syscall.Credential, reaper *child.Reaper) checks.Checker {
	if c.UserCredential != nil {
		cred = c.UserCredential
	}
	switch c.Kind {
	case configs.CheckProcess:
		return checks.Process(c.Process)
	case configs.CheckExec:
		return checks.Exec(c.Exec, checks.WithCredential(cred), checks.WithReaper(reaper))
	case configs.CheckScript:
		return checks.Script(c.Script, checks.WithCredential(cred), checks.WithReaper(reaper))
	case configs.CheckTCP:
		return checks.TCP(c.TCP)
	case configs.CheckFile:
		return checks.File(c.File)
	case configs.CheckPing:
		return checks.Ping(c.Ping)
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
		if t.watch != w {
			return
		}
		t.driver.SetLink(vrrp.Link{Name: l.Name, Index: l.Index, Up: l.Up, Why: l.Why})
		t.seen(vrrp.TrackerKey{Kind: vrrp.TrackInterface, Name: l.Name})
	})
}

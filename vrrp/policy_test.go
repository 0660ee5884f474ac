package vrrp

import (
	"fmt"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func check(name string, weight int) Tracker {
	return Tracker{TrackerKey: TrackerKey{TrackCheck, name}, Weight: weight}
}

func iface(name string, weight int) Tracker {
	return Tracker{TrackerKey: TrackerKey{TrackInterface, name}, Weight: weight}
}

// policyOf returns a policy with one instance on eth0 (up) at base priority, tracking ts, each
// reported up or down as state says.
func policyOf(t *testing.T, base uint8, ts []Tracker, state map[string]bool) *Policy {
	t.Helper()
	p := NewPolicy()
	p.Report(t0, TrackerKey{TrackInterface, "eth0"}, Report{Up: true, Why: "interface eth0 is up"})
	for _, tr := range ts {
		up, ok := state[tr.Name]
		if !ok {
			continue
		}
		why := fmt.Sprintf("%s %s is down", tr.Kind, tr.Name)
		if up {
			why = fmt.Sprintf("%s %s is up", tr.Kind, tr.Name)
		}
		p.Report(t0, tr.TrackerKey, Report{Up: up, Why: why})
	}
	p.Configure(t0, []InstanceConfig{{Name: "VI_1", Interface: "eth0", Machine: Config{Priority: base}, Trackers: ts}})
	return p
}

// SPEC.md, "Effective priority is the base priority plus the weights of the trackers that apply,
// clamped to 1-254 (an owner at 255 is never changed)"; [[check]] weight: "0 puts tracking
// instances in FAULT while the check is down"; a check's negative weight applies while down, a
// positive one while up; track_interfaces' weight is "added while down".
func TestPolicyPriority(t *testing.T) {
	tests := []struct {
		name      string
		base      uint8
		trackers  []Tracker
		up        map[string]bool
		wantPrio  uint8
		wantFault string
		wantWhy   string
	}{
		{"none", 100, nil, nil, 100, "", ""},
		{"all up", 100, []Tracker{check("nginx", -20), iface("eth1", -10), check("db", 0)},
			map[string]bool{"nginx": true, "eth1": true, "db": true}, 100, "", ""},
		{"negative check down", 100, []Tracker{check("nginx", -20)}, map[string]bool{"nginx": false},
			80, "", "check nginx down (weight -20): priority 100 -> 80"},
		{"positive check up", 100, []Tracker{check("db", 10)}, map[string]bool{"db": true},
			110, "", "check db up (weight +10): priority 100 -> 110"},
		{"positive check down", 100, []Tracker{check("db", 10)}, map[string]bool{"db": false}, 100, "", ""},
		{"interface negative down", 100, []Tracker{iface("eth1", -30)}, map[string]bool{"eth1": false},
			70, "", "interface eth1 down (weight -30): priority 100 -> 70"},
		{"interface positive down", 100, []Tracker{iface("eth1", 30)}, map[string]bool{"eth1": false},
			130, "", "interface eth1 down (weight +30): priority 100 -> 130"},
		{"interface weight up", 100, []Tracker{iface("eth1", 30)}, map[string]bool{"eth1": true}, 100, "", ""},
		{"interface fault", 100, []Tracker{iface("eth1", 0)}, map[string]bool{"eth1": false},
			100, "interface eth1 is down", "interface eth1 down"},
		{"check fault", 100, []Tracker{check("nginx", 0)}, map[string]bool{"nginx": false},
			100, "check nginx is down", "check nginx down"},
		{"not reported yet", 100, []Tracker{check("nginx", 0)}, nil,
			100, "check nginx has not reported yet", "check nginx down"},
		{"mixed", 100, []Tracker{check("nginx", -20), check("db", 15), iface("eth1", -10), check("cache", -5)},
			map[string]bool{"nginx": false, "db": true, "eth1": false, "cache": true},
			85, "", "check nginx down (weight -20), check db up (weight +15), interface eth1 down (weight -10): priority 100 -> 85"},
		{"faults and weights", 100, []Tracker{iface("eth1", 0), check("nginx", -20), check("db", 0)},
			map[string]bool{"eth1": false, "nginx": false, "db": false},
			80, "interface eth1 is down; check db is down", "interface eth1 down, check db down; check nginx down (weight -20): priority 100 -> 80"},
		{"clamped low", 100, []Tracker{check("a", -60), check("b", -60)}, map[string]bool{"a": false, "b": false},
			1, "", "check a down (weight -60), check b down (weight -60): priority 100 -> 1 (clamped from -20)"},
		{"clamped to 1 exactly at 0", 20, []Tracker{check("a", -20)}, map[string]bool{"a": false},
			1, "", "check a down (weight -20): priority 20 -> 1 (clamped from 0)"},
		{"lowest unclamped", 21, []Tracker{check("a", -20)}, map[string]bool{"a": false},
			1, "", "check a down (weight -20): priority 21 -> 1"},
		{"clamped high", 250, []Tracker{check("a", 10)}, map[string]bool{"a": true},
			254, "", "check a up (weight +10): priority 250 -> 254 (clamped from 260)"},
		{"highest unclamped", 244, []Tracker{check("a", 10)}, map[string]bool{"a": true},
			254, "", "check a up (weight +10): priority 244 -> 254"},
		{"254 plus nothing", 254, nil, nil, 254, "", ""},
		{"owner keeps 255", 255, []Tracker{check("nginx", -20)}, map[string]bool{"nginx": false},
			255, "", "check nginx down (weight -20): priority 255 unchanged (address owner)"},
		{"owner faults", 255, []Tracker{iface("eth1", 0)}, map[string]bool{"eth1": false},
			255, "interface eth1 is down", "interface eth1 down"},
		{"owner nothing applies", 255, []Tracker{check("nginx", -20)}, map[string]bool{"nginx": true}, 255, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := policyOf(t, tt.base, tt.trackers, tt.up).Starting("VI_1")
			want := Decision{Priority: tt.wantPrio, PriorityWhy: tt.wantWhy, Fault: tt.wantFault}
			if diff := cmp.Diff(want, d); diff != "" {
				t.Errorf("decision (-want +got):\n%s", diff)
			}
		})
	}
}

// SPEC.md: "The instance's own interface is always tracked: its link going down puts the
// instance in FAULT"; what the driver lacks to run an instance (a socket, a source address) is a
// FAULT too, named once the trackers are up.
func TestPolicyOwnInterfaceAndReady(t *testing.T) {
	p := NewPolicy()
	p.Configure(t0, []InstanceConfig{{Name: "VI_1", Interface: "eth0", Machine: Config{Priority: 100}}})
	steps := []struct {
		name  string
		event func() []Change
		want  []Change
	}{
		{"not reported", func() []Change { return nil }, nil},
		{"down", func() []Change {
			return p.Report(t0, TrackerKey{TrackInterface, "eth0"}, Report{Why: "interface eth0 has no carrier"})
		}, []Change{{Instance: "VI_1", Decision: Decision{Priority: 100, PriorityWhy: "interface eth0 down", Fault: "interface eth0 has no carrier"}, Why: "interface eth0 has no carrier"}}},
		{"no socket, while down", func() []Change { return p.Ready("VI_1", "cannot open a VRRP socket on eth0") }, nil},
		{"up, still no socket", func() []Change {
			return p.Report(t0, TrackerKey{TrackInterface, "eth0"}, Report{Up: true, Why: "interface eth0 is up"})
		}, []Change{{Instance: "VI_1", Decision: Decision{Priority: 100, Fault: "cannot open a VRRP socket on eth0"}, Why: "interface eth0 is up"}}},
		{"ready", func() []Change { return p.Ready("VI_1", "") },
			[]Change{{Instance: "VI_1", Decision: Decision{Priority: 100}, Why: "interface eth0 is ready"}}},
		{"same report again", func() []Change {
			return p.Report(t0, TrackerKey{TrackInterface, "eth0"}, Report{Up: true, Why: "interface eth0 is up"})
		}, nil},
	}
	p.Starting("VI_1")
	for _, s := range steps {
		if diff := cmp.Diff(s.want, s.event()); diff != "" {
			t.Errorf("%s: changes (-want +got):\n%s", s.name, diff)
		}
	}
}

// SPEC.md track_interfaces' down_delay and up_delay: "a link change counts only once it has
// lasted that long". A blip shorter than the delay changes nothing; a lasting loss counts at the
// delay's end, exactly. The first report counts at once: the link was in that state before the
// daemon could watch it.
func TestPolicyLinkDelays(t *testing.T) {
	p := NewPolicy()
	eth1 := TrackerKey{TrackInterface, "eth1"}
	p.Report(t0, TrackerKey{TrackInterface, "eth0"}, Report{Up: true})
	p.Report(t0, eth1, Report{Up: true, Why: "interface eth1 is up"})
	p.Configure(t0, []InstanceConfig{{Name: "VI_1", Interface: "eth0", Machine: Config{Priority: 100},
		Trackers: []Tracker{{TrackerKey: eth1, DownDelay: 2 * time.Second, UpDelay: time.Second}}}})
	p.Starting("VI_1")
	down := Report{Why: "interface eth1 has no carrier"}
	up := Report{Up: true, Why: "interface eth1 is up"}
	faulted := []Change{{Instance: "VI_1", Decision: Decision{Priority: 100, PriorityWhy: "interface eth1 down", Fault: "interface eth1 has no carrier"},
		Why: "interface eth1 has no carrier for 2s"}}
	recovered := []Change{{Instance: "VI_1", Decision: Decision{Priority: 100}, Why: "interface eth1 is up for 1s"}}
	steps := []struct {
		at       time.Duration
		report   *Report // nil: time passes
		want     []Change
		deadline time.Duration // -1: none
	}{
		{ms(1000), &down, nil, ms(3000)},   // the blip starts
		{ms(2000), &up, nil, -1},           // and ends after 1s, within down_delay
		{ms(2999), nil, nil, -1},           // nothing was pending
		{ms(5000), &down, nil, ms(7000)},   // a lasting loss
		{ms(6999), nil, nil, ms(7000)},     //
		{ms(7000), nil, faulted, -1},       // counts after 2s
		{ms(8000), &up, nil, ms(9000)},     // back, for up_delay
		{ms(8500), &down, nil, -1},         // down again within up_delay: still FAULT
		{ms(9000), nil, nil, -1},           //
		{ms(10000), &up, nil, ms(11000)},   //
		{ms(11000), nil, recovered, -1},    //
		{ms(11000), &up, nil, -1},          // the same again: no change
		{ms(20000), &down, nil, ms(22000)}, //
	}
	for _, s := range steps {
		var got []Change
		if s.report != nil {
			got = p.Report(at(s.at), eth1, *s.report)
		} else {
			got = p.Tick(at(s.at))
		}
		if diff := cmp.Diff(s.want, got); diff != "" {
			t.Errorf("at %s: changes (-want +got):\n%s", s.at, diff)
		}
		want := time.Time{}
		if s.deadline >= 0 {
			want = at(s.deadline)
		}
		if got := p.Deadline(); !got.Equal(want) {
			t.Errorf("at %s: deadline %v, want %v", s.at, got, want)
		}
	}
}

// SPEC.md's file check, keepalived's track_file: the file holds N; with weight 0, N != 0 means
// FAULT; otherwise N x weight is added to the priority, and a result below -253 means FAULT.
// Reversed, N x weight is subtracted, and with weight 0 N == 0 means FAULT.
func TestPolicyScaled(t *testing.T) {
	tests := []struct {
		name      string
		weight    int
		reverse   bool
		value     int
		wantPrio  uint8
		wantFault string
		wantWhy   string
	}{
		{"weight 0, file holds 0", 0, false, 0, 100, "", ""},
		{"weight 0, file holds 1", 0, false, 1, 100, "maintenance on", "check maint down"},
		{"weight -10, holds 0", -10, false, 0, 100, "", ""},
		{"weight -10, holds 3", -10, false, 3, 70, "", "check maint holds 3 (weight -10: -30): priority 100 -> 70"},
		{"weight 10, holds 2", 10, false, 2, 120, "", "check maint holds 2 (weight +10: +20): priority 100 -> 120"},
		{"weight -10, holds -2", -10, false, -2, 120, "", "check maint holds -2 (weight -10: +20): priority 100 -> 120"},
		{"clamped", -10, false, 25, 1, "", "check maint holds 25 (weight -10: -250): priority 100 -> 1 (clamped from -150)"},
		{"-253 is not yet FAULT", -1, false, 253, 1, "", "check maint holds 253 (weight -1: -253): priority 100 -> 1 (clamped from -153)"},
		{"-254 is FAULT", -1, false, 254, 100, "maintenance on", "check maint down"},
		{"reversed weight 0, holds 0", 0, true, 0, 100, "maintenance on", "check maint down"},
		{"reversed weight 0, holds 1", 0, true, 1, 100, "", ""},
		{"reversed weight 10, holds 3", 10, true, 3, 70, "", "check maint holds 3 (weight +10 reversed: -30): priority 100 -> 70"},
		{"reversed weight -10, holds 0", -10, true, 0, 100, "", ""},
	}
	key := TrackerKey{TrackCheck, "maint"}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := NewPolicy()
			p.Report(t0, TrackerKey{TrackInterface, "eth0"}, Report{Up: true})
			p.Report(t0, key, Report{Up: tt.value == 0, Value: tt.value, Why: "maintenance on"})
			p.Configure(t0, []InstanceConfig{{Name: "VI_1", Interface: "eth0", Machine: Config{Priority: 100},
				Trackers: []Tracker{{TrackerKey: key, Weight: tt.weight, Scaled: true, Reverse: tt.reverse}}}})
			want := Decision{Priority: tt.wantPrio, PriorityWhy: tt.wantWhy, Fault: tt.wantFault}
			if diff := cmp.Diff(want, p.Starting("VI_1")); diff != "" {
				t.Errorf("decision (-want +got):\n%s", diff)
			}
		})
	}
}

// keepalived's vrrp_sync_group (SPEC.md [[sync_group]]): while one member is in FAULT, all are;
// while one member follows a better master, the others are held back from being master. Holds
// and group faults never feed each other.
func TestPolicySyncGroup(t *testing.T) {
	p := NewPolicy()
	for _, n := range []string{"eth0", "eth1"} {
		p.Report(t0, TrackerKey{TrackInterface, n}, Report{Up: true, Why: "interface " + n + " is up"})
	}
	p.Configure(t0, []InstanceConfig{
		{Name: "web", Interface: "eth0", Machine: Config{Priority: 100}, Group: "G1"},
		{Name: "db", Interface: "eth0", Machine: Config{Priority: 100}, Group: "G1", Trackers: []Tracker{iface("eth1", 0)}},
		{Name: "other", Interface: "eth0", Machine: Config{Priority: 100}},
	})
	for _, n := range []string{"web", "db", "other"} {
		p.Starting(n)
	}
	ok := Decision{Priority: 100}
	steps := []struct {
		name  string
		event func() []Change
		want  []Change
	}{
		{"db's link fails", func() []Change {
			return p.Report(t0, TrackerKey{TrackInterface, "eth1"}, Report{Why: "interface eth1 has no carrier"})
		}, []Change{
			{Instance: "db", Decision: Decision{Priority: 100, PriorityWhy: "interface eth1 down", Fault: "interface eth1 has no carrier"}, Why: "interface eth1 has no carrier"},
			{Instance: "web", Decision: Decision{Priority: 100, Fault: "sync group G1: db is in FAULT (interface eth1 has no carrier)"}, Why: "interface eth1 has no carrier"},
		}},
		{"it returns", func() []Change {
			return p.Report(t0, TrackerKey{TrackInterface, "eth1"}, Report{Up: true, Why: "interface eth1 is up"})
		}, []Change{
			{Instance: "db", Decision: ok, Why: "interface eth1 is up"},
			{Instance: "web", Decision: ok, Why: "sync group G1 has no member in FAULT"},
		}},
		{"web follows a better master", func() []Change { return p.Observe("web", "follows master 10.0.4.21") },
			[]Change{{Instance: "db", Decision: Decision{Priority: 100, Held: "sync group G1: web follows master 10.0.4.21"}}}},
		{"the same again", func() []Change { return p.Observe("web", "follows master 10.0.4.21") }, nil},
		{"an instance outside a group", func() []Change { return p.Observe("other", "follows master 10.0.4.21") }, nil},
		{"web no longer yields", func() []Change { return p.Observe("web", "") },
			[]Change{{Instance: "db", Decision: ok}}},
	}
	for _, s := range steps {
		if diff := cmp.Diff(s.want, s.event()); diff != "" {
			t.Errorf("%s: changes (-want +got):\n%s", s.name, diff)
		}
	}
}

// A reload keeps what the policy knows of an instance that stays, and applies new weights and
// trackers at once; the reports of trackers a new instance uses count for it from the start,
// and those of trackers nothing tracks any more are forgotten.
func TestPolicyConfigure(t *testing.T) {
	p := NewPolicy()
	p.Report(t0, TrackerKey{TrackInterface, "eth0"}, Report{Up: true})
	p.Report(t0, TrackerKey{TrackCheck, "old"}, Report{Up: true})
	base := InstanceConfig{Name: "VI_1", Interface: "eth0", Machine: Config{Priority: 100}}
	p.Configure(t0, []InstanceConfig{base})
	p.Starting("VI_1")
	if c := p.Checks(); len(c) != 0 {
		t.Errorf("checks %v after a configuration that tracks none", c)
	}
	p.Report(t0, TrackerKey{TrackCheck, "nginx"}, Report{Why: "check nginx down: exit status 1"})
	tracking := base
	tracking.Trackers = []Tracker{check("nginx", -20)}
	got := p.Configure(t0, []InstanceConfig{tracking})
	want := []Change{{Instance: "VI_1", Decision: Decision{Priority: 80, PriorityWhy: "check nginx down (weight -20): priority 100 -> 80"}, Why: "its configuration changed"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("tracking a check that is down (-want +got):\n%s", diff)
	}
	if got := p.Configure(t0, []InstanceConfig{tracking}); got != nil {
		t.Errorf("the same configuration again: %v", got)
	}
	p.Configure(t0, []InstanceConfig{tracking, {Name: "VI_2", Interface: "eth0", Machine: Config{Priority: 50}, Trackers: []Tracker{check("nginx", 0)}}})
	if d := p.Starting("VI_2"); d.Fault != "check nginx down: exit status 1" {
		t.Errorf("a new instance tracking a check that is down: %+v", d)
	}
}

// The one list of what a reload changes in place: the RFC's identity of a virtual router needs
// a restart, everything else does not.
func TestReload(t *testing.T) {
	a := InstanceConfig{Name: "VI_1", Interface: "eth0", VRID: 51,
		Machine:    Config{Version: V3, Priority: 100, Interval: time.Second, Preempt: true},
		VIPs:       []netip.Prefix{netip.MustParsePrefix("10.0.4.99/24")},
		GARPRepeat: 5,
	}
	tests := []struct {
		name        string
		change      func(*InstanceConfig)
		wantChanges []string
		wantRestart bool
	}{
		{"nothing", func(*InstanceConfig) {}, nil, false},
		{"priority", func(c *InstanceConfig) { c.Machine.Priority = 120 }, []string{"priority: 100 -> 120"}, false},
		{"to owner", func(c *InstanceConfig) { c.Machine.Priority = 255 }, []string{"priority: 100 -> 255"}, true},
		{"preempt", func(c *InstanceConfig) { c.Machine.Preempt = false }, []string{"preempt: true -> false"}, false},
		{"vips", func(c *InstanceConfig) { c.VIPs = append(c.VIPs, netip.MustParsePrefix("10.0.4.98/24")) },
			[]string{"vips: [10.0.4.99/24] -> [10.0.4.99/24 10.0.4.98/24]"}, false},
		{"vips of another family", func(c *InstanceConfig) { c.VIPs = []netip.Prefix{netip.MustParsePrefix("fd00::99/64")} },
			[]string{"vips: [10.0.4.99/24] -> [fd00::99/64]"}, true},
		{"garp", func(c *InstanceConfig) { c.GARPRepeat = 3 }, []string{"garp_repeat: 5 -> 3"}, false},
		{"trackers", func(c *InstanceConfig) { c.Trackers = []Tracker{check("nginx", -20)} },
			[]string{"trackers: [] -> [check nginx weight -20]"}, false},
		{"group", func(c *InstanceConfig) { c.Group = "G1" }, []string{"sync_group:  -> G1"}, false},
		{"interface", func(c *InstanceConfig) { c.Interface = "eth1" }, []string{"interface: eth0 -> eth1"}, true},
		{"vrid", func(c *InstanceConfig) { c.VRID = 52 }, []string{"vrid: 51 -> 52"}, true},
		{"version", func(c *InstanceConfig) { c.Machine.Version = V2 }, []string{"version: 3 -> 2"}, true},
		{"interval", func(c *InstanceConfig) { c.Machine.Interval = 2 * time.Second }, []string{"advert_interval: 1s -> 2s"}, true},
		{"password", func(c *InstanceConfig) { c.AuthType, c.AuthData = AuthSimple, [8]byte{'s'} }, []string{"auth_pass changed"}, true},
		{"peers", func(c *InstanceConfig) { c.Peers = []netip.Addr{lb2} }, []string{"unicast_peers: [] -> [10.0.4.21]"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := a
			b.VIPs = append([]netip.Prefix(nil), a.VIPs...)
			tt.change(&b)
			changes, restart := Reload(&a, &b)
			if diff := cmp.Diff(tt.wantChanges, changes); diff != "" || restart != tt.wantRestart {
				t.Errorf("Reload: restart %v, want %v; changes (-want +got):\n%s", restart, tt.wantRestart, diff)
			}
		})
	}
}

// SPEC.md's `vrrpd drain`: a drained instance advertises priority 1, whatever its trackers say,
// until undrain returns it to what they say; FAULT still applies; a drain of an instance not
// configured yet waits for it; an owner's 255 never changes.
func TestPolicyDrain(t *testing.T) {
	p := policyOf(t, 110, []Tracker{check("nginx", -20)}, map[string]bool{"nginx": false})
	p.Starting("VI_1")
	since := time.Date(2026, 12, 4, 19, 40, 0, 0, time.UTC)
	drained := Decision{Priority: 1, PriorityWhy: "drained by the operator at 2026-12-04T19:40:00Z: priority 110 -> 1", Drained: since}
	if diff := cmp.Diff([]Change{{Instance: "VI_1", Decision: drained, Why: "drained by the operator"}}, p.Drain("VI_1", since)); diff != "" {
		t.Errorf("drain (-want +got):\n%s", diff)
	}
	if got := p.Report(t0, TrackerKey{TrackCheck, "nginx"}, Report{Up: true, Why: "check nginx up"}); got != nil {
		t.Errorf("a tracker changed a drained instance's priority: %v", got)
	}
	faulted := p.Report(t0, TrackerKey{TrackInterface, "eth0"}, Report{Why: "interface eth0 has no carrier"})
	if len(faulted) != 1 || faulted[0].Fault != "interface eth0 has no carrier" || faulted[0].Priority != 1 {
		t.Errorf("FAULT while drained: %v", faulted)
	}
	p.Report(t0, TrackerKey{TrackInterface, "eth0"}, Report{Up: true, Why: "interface eth0 is up"})
	undrained := Decision{Priority: 110}
	if diff := cmp.Diff([]Change{{Instance: "VI_1", Decision: undrained, Why: "no longer drained"}}, p.Drain("VI_1", time.Time{})); diff != "" {
		t.Errorf("undrain (-want +got):\n%s", diff)
	}

	p.Drain("VI_2", since) // not configured yet
	p.Configure(t0, []InstanceConfig{
		{Name: "VI_1", Interface: "eth0", Machine: Config{Priority: 110}},
		{Name: "VI_2", Interface: "eth0", Machine: Config{Priority: 100}},
		{Name: "OWNER", Interface: "eth0", Machine: Config{Priority: 255}},
	})
	if d := p.Starting("VI_2"); d.Priority != 1 || !d.Drained.Equal(since) {
		t.Errorf("VI_2 starts %+v, want drained at priority 1", d)
	}
	p.Drain("OWNER", since)
	if d := p.Told("OWNER"); d.Priority != 0 && d.Priority != 255 || !d.Drained.IsZero() {
		t.Errorf("an owner was drained: %+v", d)
	}
	if got := p.Drained(); len(got) != 2 {
		t.Errorf("drained %v, want VI_2 and OWNER's request", got)
	}
}

// SPEC.md's global.startup_delay: nothing takes part before it has passed; Tick says when.
func TestPolicyStartupDelay(t *testing.T) {
	p := NewPolicy()
	p.Delay(at(5 * time.Second))
	p.Configure(t0, []InstanceConfig{{Name: "VI_1", Interface: "eth0", Machine: Config{Priority: 100}}})
	p.Report(t0, TrackerKey{TrackInterface, "eth0"}, Report{Up: true})
	if d := p.Starting("VI_1"); d.Waiting != "waiting for startup_delay, until 2026-11-22T04:00:05Z" {
		t.Errorf("waiting %q", d.Waiting)
	}
	if got := p.Deadline(); !got.Equal(at(5 * time.Second)) {
		t.Errorf("deadline %v", got)
	}
	if got := p.Tick(at(4 * time.Second)); got != nil {
		t.Errorf("before the delay: %v", got)
	}
	got := p.Tick(at(5 * time.Second))
	if len(got) != 1 || got[0].Waiting != "" || got[0].Why != "startup_delay is over" || !p.Deadline().IsZero() {
		t.Errorf("at the delay's end: %v, deadline %v", got, p.Deadline())
	}
}

// sameConfig must see every field of InstanceConfig and of its Machine (but Addr and Epoch, the
// driver's): otherwise a reload that changes only that field would change nothing. Each field is
// set to something other than its zero value in turn, and both sameConfig and Reload must notice.
func TestSameConfig(t *testing.T) {
	nonZero := func(v reflect.Value) {
		switch x := v.Addr().Interface().(type) {
		case *netip.Addr:
			*x = netip.MustParseAddr("10.0.0.1")
		case *time.Time:
			*x = t0
		default:
			switch v.Kind() {
			case reflect.String:
				v.SetString("x")
			case reflect.Bool:
				v.SetBool(true)
			case reflect.Int, reflect.Int64:
				v.SetInt(1)
			case reflect.Uint8, reflect.Uint32:
				v.SetUint(1)
			case reflect.Array:
				v.Index(0).SetUint(1)
			case reflect.Slice:
				v.Set(reflect.MakeSlice(v.Type(), 1, 1))
			case reflect.Map:
				m := reflect.MakeMap(v.Type())
				m.SetMapIndex(reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem())
				v.Set(m)
			case reflect.Pointer:
				v.Set(reflect.New(v.Type().Elem()))
			default:
				t.Fatalf("a field of kind %s: teach this test to set it", v.Kind())
			}
		}
	}
	check := func(name string, set func(*InstanceConfig)) {
		var a, b InstanceConfig
		set(&b)
		if sameConfig(&a, &b) {
			t.Errorf("sameConfig misses %s", name)
		}
		if changes, _ := Reload(&a, &b); len(changes) == 0 && name != "Name" { // instances are matched by name
			t.Errorf("Reload misses %s", name)
		}
	}
	ct := reflect.TypeFor[InstanceConfig]()
	for i := range ct.NumField() {
		f := ct.Field(i)
		if f.Name == "Machine" {
			continue
		}
		check(f.Name, func(c *InstanceConfig) { nonZero(reflect.ValueOf(c).Elem().Field(i)) })
	}
	mt := reflect.TypeFor[Config]()
	for i := range mt.NumField() {
		if f := mt.Field(i); f.Name != "Addr" && f.Name != "Epoch" {
			check("Machine."+f.Name, func(c *InstanceConfig) { nonZero(reflect.ValueOf(&c.Machine).Elem().Field(i)) })
		}
	}
	var a InstanceConfig
	b := a
	b.Machine.Addr, b.Machine.Epoch = netip.MustParseAddr("10.0.0.1"), t0
	if !sameConfig(&a, &b) {
		t.Error("sameConfig sees the driver's Addr and Epoch")
	}
}

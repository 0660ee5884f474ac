package vrrp

import (
	"cmp"
	"fmt"
	"maps"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"time"
)

// The policy decides what each Machine is told: its effective priority, whether it is in FAULT,
// whether its sync group holds it back. The Machine is RFC 5798; none of this is. The rules come
// from keepalived's behaviour and from SPEC.md, and each is cited where it is written.
//
// Policy has no goroutines, no clock and no I/O, like the Machine: events go in with the time
// (a tracker reported, the driver found an instance ready or not, a sync group member's state
// changed, a configuration arrived, time passed), and Changes come out. The driver runs it on
// its loop, and carries each Change out on the instance's Machine.

// TrackerKind says what a tracker watches.
type TrackerKind uint8

const (
	TrackInterface TrackerKind = iota + 1 // a link: the instance's own interface, or one it tracks
	TrackCheck                            // a [[check]]
)

func (k TrackerKind) String() string {
	switch k {
	case TrackInterface:
		return "interface"
	case TrackCheck:
		return "check"
	}
	return fmt.Sprintf("TrackerKind(%d)", uint8(k))
}

// TrackerKey names a tracker: its kind and the interface's or the check's name.
type TrackerKey struct {
	Kind TrackerKind
	Name string
}

func (k TrackerKey) String() string { return k.Kind.String() + " " + k.Name }

// Tracker is one thing an instance tracks, as configured. The instance's own interface is
// always tracked with weight 0; listing it here sets its delays.
type Tracker struct {
	TrackerKey
	// Weight is the priority change. SPEC.md: 0 puts the instance in FAULT while the tracker is
	// down. A check's negative weight is added while it is down and a positive one while it is
	// up; an interface's weight is added while it is down, whatever its sign.
	Weight int
	// Scaled multiplies the weight by the number the tracker reports (Report.Value): a file
	// check, keepalived's track_file.
	Scaled bool
	// Reverse, with Scaled, is keepalived's track_file reverse: N x Weight is subtracted instead,
	// and with Weight 0 a number of 0 means FAULT instead of any other.
	Reverse bool
	// DownDelay and UpDelay debounce an interface: a change counts once it has lasted this long.
	// 0 (the default): at once.
	DownDelay, UpDelay time.Duration
}

func (t Tracker) String() string {
	s := fmt.Sprintf("%s weight %d", t.TrackerKey, t.Weight)
	if t.Reverse {
		s += " reversed"
	}
	if t.DownDelay != 0 || t.UpDelay != 0 {
		s += fmt.Sprintf(" down_delay %s up_delay %s", t.DownDelay, t.UpDelay)
	}
	return s
}

// Report is a tracker's state, as its watcher reports it.
type Report struct {
	Up    bool
	Value int    // a file check: the number the file holds (0 when it is missing)
	Why   string // the state in words: "interface eth0 has no carrier", "check nginx up (1 success)"
}

// Decision is what the policy has decided for one instance.
type Decision struct {
	Priority    uint8     // the effective priority
	PriorityWhy string    // what changes it, e.g. "check nginx down (weight -20): priority 100 -> 80"; "" if nothing
	Fault       string    // why it must be in FAULT; "" if it need not
	Held        string    // why its sync group holds it back from being master; "" if it does not
	Drained     time.Time // when the operator drained it; zero if not
	Waiting     string    // why it must not take part yet (startup_delay); "" if it may
}

// Change is a new Decision for an instance, and the event that caused it, in words: the reason of
// a transition the change may cause ("interface eth1 is up").
type Change struct {
	Instance string
	Decision
	Why string
}

// TrackerStatus is one of an instance's trackers as `vrrpd status` shows it.
type TrackerStatus struct {
	Tracker
	Up    bool // as it counts now, after any delay
	Value int  // a scaled tracker's number
}

// Policy holds the rules for every instance. It is not safe for concurrent use.
type Policy struct {
	insts   []*policed
	byName  map[string]*policed
	groups  map[string][]*policed // sync group name -> its members
	reports map[TrackerKey]Report // the latest report of every tracker, known or not yet used
	drained map[string]time.Time  // instance name -> when it was drained, configured or not
	delay   time.Time             // startup_delay: nothing takes part before; zero once passed
	next    time.Time             // Deadline
}

// policed is one instance as the policy sees it.
type policed struct {
	name     string
	iface    string
	base     uint8
	group    string
	tracks   []tracked
	notReady string // why the driver cannot run it (its socket, its source address); "" if it can
	yielding string // its sync group: what it follows, as Observe last said; "" if it does not yield
	told     Decision
}

// tracked is one tracker of one instance, with its state as it counts for the instance.
type tracked struct {
	Tracker
	known   bool // a report has counted
	up      bool
	value   int
	why     string
	pending time.Time // a debounced change counts then; zero if none waits
}

// NewPolicy returns a policy with no instances.
func NewPolicy() *Policy {
	return &Policy{byName: map[string]*policed{}, reports: map[TrackerKey]Report{}, drained: map[string]time.Time{}}
}

// Configure makes cfgs the instances, in their order: at start-up and on every reload. An
// instance that stays keeps what the policy knows of it (whether it is ready, what its sync group
// member follows). Trackers keep their reported states. It returns the changes of the instances
// that stay; a new instance's decision is read with Starting before it starts. The reports of
// trackers that no instance tracks are forgotten.
func (p *Policy) Configure(now time.Time, cfgs []InstanceConfig) []Change {
	old, oldGroups := p.byName, p.groups
	p.insts, p.byName, p.groups = make([]*policed, 0, len(cfgs)), make(map[string]*policed, len(cfgs)), map[string][]*policed{}
	kept := make(map[TrackerKey]bool, len(p.reports))
	for i := range cfgs {
		c := &cfgs[i]
		x := &policed{name: c.Name, iface: c.Interface, base: c.Machine.Priority, group: c.Group}
		o := old[c.Name]
		if o != nil {
			x.notReady, x.yielding, x.told = o.notReady, o.yielding, o.told
		}
		for _, t := range trackersOf(c) {
			tr := tracked{Tracker: t}
			if j := slices.IndexFunc(o.trackers(), func(ot tracked) bool { return ot.TrackerKey == t.TrackerKey }); j >= 0 {
				tr.known, tr.up, tr.value, tr.why, tr.pending = o.tracks[j].known, o.tracks[j].up, o.tracks[j].value, o.tracks[j].why, o.tracks[j].pending
			} else if r, ok := p.reports[t.TrackerKey]; ok {
				tr.count(r)
			}
			x.tracks = append(x.tracks, tr)
			kept[t.TrackerKey] = true
		}
		p.insts = append(p.insts, x)
		p.byName[x.name] = x
		if x.group != "" {
			p.groups[x.group] = append(p.groups[x.group], x)
		}
	}
	// A tracker that no instance tracks any more is forgotten: it has stopped.
	for k := range p.reports {
		if !kept[k] {
			delete(p.reports, k)
		}
	}
	p.reschedule()
	// Only what the reload changed is decided again: an instance with the same priority,
	// trackers and sync group as before, in a group of the same members, would be told what
	// it was told, and a thousand of them must not cost the protocol loop milliseconds.
	regrouped := map[string]bool{}
	for name, xs := range p.groups {
		regrouped[name] = !slices.EqualFunc(xs, oldGroups[name], func(a, b *policed) bool { return a.name == b.name })
	}
	var changes []Change
	for _, x := range p.insts {
		o := old[x.name]
		if o == nil || o.base == x.base && o.group == x.group && !regrouped[x.group] &&
			slices.EqualFunc(o.tracks, x.tracks, func(a, b tracked) bool { return a.Tracker == b.Tracker }) {
			continue
		}
		changes = p.decide(changes, x, "its configuration changed")
	}
	return p.settle(changes, "its configuration changed")
}

// Starting returns what an instance that is about to start must be told, and records it as
// told. The zero Decision if there is no such instance.
func (p *Policy) Starting(name string) Decision {
	x := p.byName[name]
	if x == nil {
		return Decision{}
	}
	x.told = p.decision(x)
	return x.told
}

// Report records what a tracker says, and applies it to every instance that tracks it. A report
// counts at once the first time and when it needs no delay; an interface's change waits its
// down or up delay, and is forgotten if the link changes back before then.
func (p *Policy) Report(now time.Time, key TrackerKey, r Report) []Change {
	p.reports[key] = r
	var changes []Change
	for _, x := range p.insts {
		changed := false
		for i := range x.tracks {
			t := &x.tracks[i]
			if t.TrackerKey != key {
				continue
			}
			delay := t.DownDelay
			if r.Up {
				delay = t.UpDelay
			}
			switch {
			case t.known && t.up == r.Up && t.value == r.Value:
				// No change, or a change undone within its delay; the words may be new.
				changed = changed || t.why != r.Why
				t.why, t.pending = r.Why, time.Time{}
			case t.known && delay > 0:
				if t.pending.IsZero() {
					t.pending = now.Add(delay)
				}
			default:
				t.count(r)
				changed = true
			}
		}
		if changed {
			changes = p.decide(changes, x, r.Why)
		}
	}
	p.reschedule()
	return p.settle(changes, r.Why)
}

// trackersOf lists what an instance tracks. SPEC.md: its own interface always, first, with weight
// 0 (its link going down means FAULT); track_interfaces may name it to set its delays. A VMAC's
// own interface is its base, the one configured: the VMAC is the driver's, made once the instance
// starts, and its link follows the base's.
func trackersOf(c *InstanceConfig) []Tracker {
	own := Tracker{TrackerKey: TrackerKey{TrackInterface, c.link()}}
	out := []Tracker{own}
	for _, t := range c.Trackers {
		if t.TrackerKey == own.TrackerKey {
			out[0].DownDelay, out[0].UpDelay = t.DownDelay, t.UpDelay
		} else {
			out = append(out, t)
		}
	}
	return out
}

// trackers is x's trackers; none if x is nil.
func (x *policed) trackers() []tracked {
	if x == nil {
		return nil
	}
	return x.tracks
}

func (t *tracked) count(r Report) {
	t.known, t.up, t.value, t.why, t.pending = true, r.Up, r.Value, r.Why, time.Time{}
}

// Deadline is when Tick next has something to do; zero if nothing waits.
func (p *Policy) Deadline() time.Time { return p.next }

// reschedule recomputes Deadline, after the events that can change it.
func (p *Policy) reschedule() {
	p.next = p.delay
	for _, x := range p.insts {
		for _, t := range x.tracks {
			if !t.pending.IsZero() && (p.next.IsZero() || t.pending.Before(p.next)) {
				p.next = t.pending
			}
		}
	}
}

// Tick counts the debounced changes that have lasted their delay by now.
func (p *Policy) Tick(now time.Time) []Change {
	var changes []Change
	why := ""
	if !p.delay.IsZero() && !now.Before(p.delay) {
		p.delay, why = time.Time{}, "startup_delay is over"
		for _, x := range p.insts {
			changes = p.decide(changes, x, why)
		}
	}
	for _, x := range p.insts {
		for i := range x.tracks {
			t := &x.tracks[i]
			if t.pending.IsZero() || now.Before(t.pending) {
				continue
			}
			t.count(p.reports[t.TrackerKey])
			delay := t.DownDelay
			if t.up {
				delay = t.UpDelay
			}
			why = fmt.Sprintf("%s for %s", t.why, delay)
			changes = p.decide(changes, x, why)
		}
	}
	p.reschedule()
	return p.settle(changes, why)
}

// Delay holds every instance back from taking part until the given time (SPEC.md's
// global.startup_delay: interfaces settling at boot). The time passing is reported by Tick.
func (p *Policy) Delay(until time.Time) {
	p.delay = until
	p.reschedule()
}

// Drain takes an instance out of service (SPEC.md's `vrrpd drain`): it advertises priority 1,
// so that any healthy peer outranks it, whatever its trackers say; FAULT still applies. since
// is when the operator drained it, shown in its status; zero ends the drain, and the priority
// returns to what the configuration and the trackers say. A name that is not configured (yet)
// keeps its drain for when it is.
func (p *Policy) Drain(name string, since time.Time) []Change {
	if since.IsZero() {
		delete(p.drained, name)
	} else {
		p.drained[name] = since
	}
	x := p.byName[name]
	if x == nil {
		return nil
	}
	why := "drained by the operator"
	if since.IsZero() {
		why = "no longer drained"
	}
	return p.settle(p.decide(nil, x, why), why)
}

// Drained lists the drained instances, configured or not, and since when.
func (p *Policy) Drained() map[string]time.Time { return maps.Clone(p.drained) }

// Ready records whether the driver can run the instance: why is what it lacks (its socket, its
// source address), or "" once it has it. While it lacks it, the instance is in FAULT.
func (p *Policy) Ready(name, why string) []Change {
	x := p.byName[name]
	if x == nil || x.notReady == why {
		return nil
	}
	x.notReady = why
	cause := why
	if why == "" {
		cause = "interface " + x.iface + " is ready"
	}
	return p.settle(p.decide(nil, x, cause), cause)
}

// Observe records what an instance of a sync group follows: the master it yields to, in words
// ("follows master 10.0.4.21"), or "" when it does not yield. Its siblings are held back from
// being master while it yields.
func (p *Policy) Observe(name, yielding string) []Change {
	x := p.byName[name]
	if x == nil || x.group == "" || x.yielding == yielding {
		return nil
	}
	x.yielding = yielding
	return p.settle(nil, "")
}

// decide recomputes x's own decision and appends a Change if it differs from what x was told.
// Its sync group siblings follow in settle.
func (p *Policy) decide(changes []Change, x *policed, why string) []Change {
	v := p.decision(x)
	if v == x.told {
		return changes
	}
	x.told = v
	return append(changes, Change{Instance: x.name, Decision: v, Why: why})
}

// settle brings every sync group in line after a change: a member's FAULT puts its siblings in
// FAULT, and a member that yields holds its siblings back. It converges: neither a group fault
// nor a hold can give a member faults of its own or make it yield.
func (p *Policy) settle(changes []Change, why string) []Change {
	for _, x := range p.insts {
		if x.group == "" {
			continue
		}
		v := p.decision(x)
		if v == x.told {
			continue
		}
		cause := why
		if v.Fault == "" && x.told.Fault != "" {
			cause = fmt.Sprintf("sync group %s has no member in FAULT", x.group)
		}
		x.told = v
		if i := slices.IndexFunc(changes, func(c Change) bool { return c.Instance == x.name }); i >= 0 {
			changes[i].Decision = v
			continue
		}
		changes = append(changes, Change{Instance: x.name, Decision: v, Why: cause})
	}
	return changes
}

// decision computes x's decision from its trackers, its readiness and its sync group.
func (p *Policy) decision(x *policed) Decision {
	var v Decision
	v.Priority, v.PriorityWhy, _ = p.priority(x)
	v.Fault = p.faultsOf(x)
	if since, ok := p.drained[x.name]; ok && x.base != 255 {
		v.Drained = since
		v.Priority, v.PriorityWhy = 1, fmt.Sprintf("drained by the operator at %s: priority %d -> 1", since.UTC().Format(time.RFC3339), x.base)
	}
	if !p.delay.IsZero() {
		v.Waiting = fmt.Sprintf("waiting for startup_delay, until %s", p.delay.UTC().Format(time.RFC3339))
	}
	if x.group == "" {
		return v
	}
	// keepalived's vrrp_sync_group (SPEC.md [[sync_group]]): while one member is in FAULT, all
	// are; while one member follows a better master, the others on this host do not stay or
	// become master.
	for _, y := range p.groups[x.group] {
		if y == x {
			continue
		}
		switch own := p.faultsOf(y); {
		case own != "" && v.Fault == "":
			v.Fault = fmt.Sprintf("sync group %s: %s is in FAULT (%s)", x.group, y.name, own)
		case y.yielding != "" && v.Held == "":
			v.Held = fmt.Sprintf("sync group %s: %s %s", x.group, y.name, y.yielding)
		}
	}
	return v
}

// faultsOf is why x itself must be in FAULT, whatever its sync group: its trackers, or else what
// the driver lacks to run it (which a tracker that is down usually explains).
func (p *Policy) faultsOf(x *policed) string {
	_, _, faults := p.priority(x)
	return cmp.Or(faults, x.notReady)
}

// priority is SPEC.md's effective priority: the base priority plus the weights of the trackers
// that apply, clamped to 1-254; an owner at 255 is never changed. It also says why, in the order
// of the trackers, and what puts the instance in FAULT: a tracker of weight 0 that is down, or a
// scaled tracker whose change is below -253 (keepalived's track_file).
func (p *Policy) priority(x *policed) (prio uint8, why, fault string) {
	var faults, causes, weights []string
	sum := int(x.base)
	for _, t := range x.tracks {
		what := t.TrackerKey.String()
		w, applies := t.weight()
		switch {
		case !applies:
		case w == 0 || w < -253:
			faults = append(faults, what+" down")
			causes = append(causes, t.cause())
		case t.Scaled:
			rev := ""
			if t.Reverse {
				rev = " reversed"
			}
			weights = append(weights, fmt.Sprintf("%s holds %d (weight %+d%s: %+d)", what, t.value, t.Weight, rev, w))
			sum += w
		case t.up:
			weights = append(weights, fmt.Sprintf("%s up (weight %+d)", what, w))
			sum += w
		default:
			weights = append(weights, fmt.Sprintf("%s down (weight %+d)", what, w))
			sum += w
		}
	}
	var change string
	switch {
	case x.base == 255:
		prio, change = 255, "priority 255 unchanged (address owner)"
	case sum < 1:
		prio, change = 1, fmt.Sprintf("priority %d -> 1 (clamped from %d)", x.base, sum)
	case sum > 254:
		prio, change = 254, fmt.Sprintf("priority %d -> 254 (clamped from %d)", x.base, sum)
	default:
		prio, change = uint8(sum), fmt.Sprintf("priority %d -> %d", x.base, sum)
	}
	why = strings.Join(faults, ", ")
	if len(weights) > 0 {
		why = join("; ", why, strings.Join(weights, ", ")+": "+change)
	}
	return prio, why, strings.Join(causes, "; ")
}

// weight is the change the tracker makes now, and whether it applies at all. A weight of 0 that
// applies means FAULT.
func (t *tracked) weight() (int, bool) {
	switch {
	case t.Scaled && t.Weight == 0:
		// keepalived's track_file with weight 0: a number other than 0 means FAULT (reversed: 0 does).
		return 0, (t.value != 0) != t.Reverse
	case t.Scaled && t.Reverse:
		return -t.value * t.Weight, t.value != 0
	case t.Scaled:
		return t.value * t.Weight, t.value != 0
	case t.Kind != TrackInterface && t.up && t.Weight > 0:
		return t.Weight, true
	case t.up:
		return 0, false
	case t.Kind == TrackInterface || t.Weight <= 0:
		return t.Weight, true
	}
	return 0, false // a check's positive weight while it is down
}

// cause is the tracker's state in words, for a FAULT it causes.
func (t *tracked) cause() string {
	if !t.known {
		return t.TrackerKey.String() + " has not reported yet"
	}
	return t.why
}

// Trackers lists an instance's trackers, its own interface first, as they count now.
func (p *Policy) Trackers(name string) []TrackerStatus {
	x := p.byName[name]
	if x == nil {
		return nil
	}
	out := make([]TrackerStatus, len(x.tracks))
	for i, t := range x.tracks {
		out[i] = TrackerStatus{Tracker: t.Tracker, Up: t.up, Value: t.value}
	}
	return out
}

// Checks reports whether each check that has reported is up.
func (p *Policy) Checks() map[string]bool {
	out := map[string]bool{}
	for k, r := range p.reports {
		if k.Kind == TrackCheck {
			out[k.Name] = r.Up
		}
	}
	return out
}

func join(sep string, parts ...string) string {
	return strings.Join(slices.DeleteFunc(parts, func(s string) bool { return s == "" }), sep)
}

// Reload lists what differs between two versions of an instance, and whether any of it needs a
// restart: a new election on a new socket, because the RFC's identity of the virtual router
// changed (RFC 5798 §5.2.3 scopes a VRID to an interface; interval, version, addresses and
// authentication are what peers compare). Everything else changes in place, without a flap. This
// is the one list of what a reload may change in place; the driver and the daemon's log follow it.
func Reload(a, b *InstanceConfig) (changes []string, restart bool) {
	if sameConfig(a, b) {
		return nil, false // most instances of a reload, and cheap to find out
	}
	diff := func(key string, x, y any, needsRestart bool) {
		if !reflect.DeepEqual(x, y) {
			changes = append(changes, fmt.Sprintf("%s: %v -> %v", key, x, y))
			restart = restart || needsRestart
		}
	}
	am, bm := a.Machine, b.Machine
	diff("interface", a.Interface, b.Interface, true)
	diff("vrid", a.VRID, b.VRID, true)
	diff("version", am.Version, bm.Version, true)
	diff("advert_interval", am.Interval, bm.Interval, true)
	// The address owner's priority is part of its identity: it takes the addresses at once and
	// discards others' adverts (RFC 5798 §6.4.1, §7.1).
	diff("priority", am.Priority, bm.Priority, am.Priority == 255 || bm.Priority == 255)
	diff("preempt", am.Preempt, bm.Preempt, false)
	diff("preempt_delay", am.PreemptDelay, bm.PreemptDelay, false)
	diff("vips", a.VIPs, b.VIPs, a.IPv6() != b.IPv6())
	diff("vips_excluded", a.Excluded, b.Excluded, false)
	diff("unicast_src", a.Src, b.Src, true)
	diff("unicast_peers", a.Peers, b.Peers, true)
	diff("unicast_min_ttl", a.MinTTL, b.MinTTL, true)
	if a.AuthType != b.AuthType || a.AuthData != b.AuthData {
		changes, restart = append(changes, "auth_pass changed"), true // never log a password
	}
	diff("v3_checksum", a.Checksum, b.Checksum, true)
	diff("garp_delay", am.GARPDelay, bm.GARPDelay, false)
	diff("garp_repeat", a.GARPRepeat, b.GARPRepeat, false)
	diff("garp_refresh", am.GARPRefresh, bm.GARPRefresh, false)
	diff("garp_interval", a.GARPInterval, b.GARPInterval, false)
	diff("vip options", a.Placement, b.Placement, false)
	diff("vmac", a.VMAC, b.VMAC, true)
	diff("routes", a.Routes, b.Routes, false)
	diff("rules", a.Rules, b.Rules, false)
	diff("trackers", a.Trackers, b.Trackers, false)
	diff("sync_group", a.Group, b.Group, false)
	return changes, restart
}

// sameConfig reports whether a and b configure the same instance: every field equal, but the
// machine's Addr and Epoch, which are the driver's. TestSameConfig sees that no field is missed.
func sameConfig(a, b *InstanceConfig) bool {
	am, bm := a.Machine, b.Machine
	am.Addr, am.Epoch, bm.Addr, bm.Epoch = netip.Addr{}, time.Time{}, netip.Addr{}, time.Time{}
	return a.Name == b.Name && a.Interface == b.Interface && a.VRID == b.VRID && am == bm &&
		slices.Equal(a.VIPs, b.VIPs) && slices.Equal(a.Excluded, b.Excluded) && a.Src == b.Src &&
		slices.Equal(a.Peers, b.Peers) && a.MinTTL == b.MinTTL && a.AuthType == b.AuthType &&
		a.AuthData == b.AuthData && a.Checksum == b.Checksum && a.GARPRepeat == b.GARPRepeat &&
		a.Group == b.Group && slices.Equal(a.Trackers, b.Trackers) && a.GARPInterval == b.GARPInterval &&
		maps.Equal(a.Placement, b.Placement) && (a.VMAC == nil) == (b.VMAC == nil) && (a.VMAC == nil || *a.VMAC == *b.VMAC) &&
		slices.Equal(a.Routes, b.Routes) && slices.Equal(a.Rules, b.Rules)
}

// Told is the decision the instance was last given.
func (p *Policy) Told(name string) Decision {
	if x := p.byName[name]; x != nil {
		return x.told
	}
	return Decision{}
}

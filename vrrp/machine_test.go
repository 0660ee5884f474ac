package vrrp

import (
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var (
	t0  = time.Date(2026, 11, 22, 4, 0, 0, 0, time.UTC)
	lb1 = netip.MustParseAddr("10.0.4.20")
	lb2 = netip.MustParseAddr("10.0.4.21")
)

func at(d time.Duration) time.Time { return t0.Add(d) }

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

// newTestMachine returns a VRRPv3 machine at 1s with the given priority, preempt on, at lb1.
func newTestMachine(t *testing.T, prio uint8, opts ...func(*Config)) *Machine {
	t.Helper()
	cfg := Config{Version: V3, Priority: prio, Interval: time.Second, Preempt: true, Addr: lb1}
	for _, o := range opts {
		o(&cfg)
	}
	m, err := NewMachine(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func advert(prio uint8, interval time.Duration) *Advertisement {
	return &Advertisement{Version: V3, VRID: 51, Priority: prio, Interval: interval}
}

// kinds lists the kinds of actions, with the priority of adverts and the states of transitions,
// in a form that reads well in a diff.
func kinds(as []Action) []string {
	var out []string
	for _, a := range as {
		switch a.Kind {
		case SendAdvert:
			out = append(out, "SendAdvert "+strconv.Itoa(int(a.Priority)))
		case Transition:
			out = append(out, "Transition "+a.From.String()+"->"+a.To.String())
		default:
			out = append(out, a.Kind.String())
		}
	}
	return out
}

func wantActions(t *testing.T, step string, got []Action, want ...string) {
	t.Helper()
	if diff := cmp.Diff(want, kinds(got)); diff != "" {
		t.Errorf("%s: actions (-want +got):\n%s", step, diff)
	}
}

// wantDeadline stops the test unless m's next timer, named what, expires at want.
func wantDeadline(t *testing.T, what string, m *Machine, want time.Time) {
	t.Helper()
	if got := m.Deadline(); !got.Equal(want) {
		t.Fatalf("%s: deadline %v, want %v", what, got, want)
	}
}

// dur parses a duration written as Go prints it.
func dur(s string) time.Duration {
	d, err := time.ParseDuration(s)
	if err != nil {
		panic(err)
	}
	return d
}

// RFC 5798 §6.1 (v3) and RFC 3768 §6.1 (v2): Skew_Time and Master_Down_Interval, exactly, not
// truncated to centiseconds.
func TestTimers(t *testing.T) {
	tests := []struct {
		version  Version
		prio     uint8
		interval time.Duration
		skew     string
		down     string
	}{
		{V3, 100, time.Second, "609.375ms", "3.609375s"},             // 156/256 s
		{V3, 200, time.Second, "218.75ms", "3.21875s"},               // 56/256 s
		{V3, 254, time.Second, "7.8125ms", "3.0078125s"},             // 2/256 s
		{V3, 1, time.Second, "996.09375ms", "3.99609375s"},           // 255/256 s
		{V3, 100, ms(100), "60.9375ms", "360.9375ms"},                // 156/256 x 100ms
		{V3, 90, ms(100), "64.84375ms", "364.84375ms"},               // 166/256 x 100ms
		{V3, 80, ms(100), "68.75ms", "368.75ms"},                     // 176/256 x 100ms
		{V3, 100, ms(30), "18.28125ms", "108.28125ms"},               // 156/256 x 30ms
		{V3, 100, ms(10), "6.09375ms", "36.09375ms"},                 // 156/256 x 10ms
		{V3, 90, ms(10), "6.484375ms", "36.484375ms"},                // 166/256 x 10ms
		{V3, 89, ms(10), "6.5234375ms", "36.5234375ms"},              // one priority apart: 39µs
		{V3, 1, ms(40950), "40.790039062s", "2m43.640039062s"},       // 255/256 x 40.95s, to the ns
		{V2, 100, time.Second, "609.375ms", "3.609375s"},             // (256-100)/256 s
		{V2, 90, time.Second, "648.4375ms", "3.6484375s"},            // RFC 3768 §6.1's example priority
		{V2, 100, 3 * time.Second, "609.375ms", "9.609375s"},         // v2 skew does not scale with the interval
		{V2, 150, 255 * time.Second, "414.0625ms", "12m45.4140625s"}, // 106/256 s
	}
	for _, tt := range tests {
		m := newTestMachine(t, tt.prio, func(c *Config) { c.Version, c.Interval = tt.version, tt.interval })
		if got := m.skewTime(); got != dur(tt.skew) {
			t.Errorf("v%d priority %d interval %s: Skew_Time = %s, want %s", tt.version, tt.prio, tt.interval, got, tt.skew)
		}
		if got := m.masterDownInterval(); got != dur(tt.down) {
			t.Errorf("v%d priority %d interval %s: Master_Down_Interval = %s, want %s", tt.version, tt.prio, tt.interval, got, tt.down)
		}
	}
	// Any two priorities give different skews, at every interval from 10ms.
	for _, interval := range []time.Duration{ms(10), ms(100), time.Second} {
		for p := 1; p < 255; p++ {
			if a, b := SkewTime(V3, uint8(p), interval), SkewTime(V3, uint8(p+1), interval); a <= b {
				t.Fatalf("at %s, priority %d waits %s and %d waits %s", interval, p, a, p+1, b)
			}
		}
	}
}

func TestNewMachineRejectsBadConfig(t *testing.T) {
	for _, cfg := range []Config{
		{Version: 4, Priority: 100, Interval: time.Second},
		{Version: V3, Priority: 0, Interval: time.Second},
		{Version: V3, Priority: 100, Interval: 0},
		{Version: V3, Priority: 100, Interval: 15 * time.Millisecond},
	} {
		if _, err := NewMachine(cfg); err == nil {
			t.Errorf("NewMachine(%+v) succeeded, want an error", cfg)
		}
	}
}

// RFC 5798 §6.4.1: a router that is not the owner starts as a backup and waits one
// Master_Down_Interval; stale VIPs from a killed predecessor are removed first.
func TestStartupBackup(t *testing.T) {
	m := newTestMachine(t, 100)
	wantActions(t, "startup", m.Startup(t0), "RemoveVIPs", "Transition INIT->BACKUP")
	wantDeadline(t, "Master_Down_Timer", m, at(dur("3.609375s")))
	wantActions(t, "tick just before", m.Tick(at(dur("3.609374s"))))
	got := m.Tick(at(dur("3.609375s")))
	wantActions(t, "tick at Master_Down_Interval", got, "SendAdvert 100", "AddVIPs", "Announce", "Transition BACKUP->MASTER")
	if r := got[3].Reason; r != "no master heard for 3.609375s (Master_Down_Interval) after start-up" {
		t.Errorf("reason %q", r)
	}
	wantActions(t, "second startup", m.Startup(at(ms(3700))))
}

// RFC 5798 §6.4.1: the address owner (priority 255) becomes master at once and keeps its VIPs.
func TestStartupOwner(t *testing.T) {
	m := newTestMachine(t, 255)
	got := m.Startup(t0)
	wantActions(t, "startup", got, "SendAdvert 255", "AddVIPs", "Announce", "Transition INIT->MASTER")
	if got[0].Priority != 255 {
		t.Errorf("advertised priority %d", got[0].Priority)
	}
	wantDeadline(t, "Adver_Timer", m, at(time.Second))
	wantActions(t, "priority change", m.SetPriority(at(1), 200))
	if m.Priority() != 255 {
		t.Errorf("owner priority changed to %d", m.Priority())
	}
}

// RFC 5798 §6.4.2: a backup follows the master's adverts; when they stop it takes over exactly
// one Master_Down_Interval after the last one. r1 priority 100, r2 priority 200 advertising
// every second from t=1s to t=5s, then silent: r1 becomes master at 5s + 3.609375s.
func TestBackupTakesOverAfterMasterDownInterval(t *testing.T) {
	m := newTestMachine(t, 100)
	m.Startup(t0)
	for s := 1; s <= 5; s++ {
		wantActions(t, "advert", m.Receive(at(time.Duration(s)*time.Second), lb2, advert(200, time.Second)))
	}
	st := m.Status()
	if st.Master != lb2 || st.MasterPriority != 200 || st.State != Backup {
		t.Errorf("status %+v, want backup of %s at 200", st, lb2)
	}
	if want := "master 10.0.4.21 has higher priority 200 (ours 100)"; st.Reason != want {
		t.Errorf("reason %q, want %q", st.Reason, want)
	}
	wantActions(t, "8.609374s", m.Tick(at(dur("8.609374s"))))
	got := m.Tick(at(dur("8.609375s")))
	wantActions(t, "8.609375s", got, "SendAdvert 100", "AddVIPs", "Announce", "Transition BACKUP->MASTER")
	if want := "no advertisement from 10.0.4.21 for 3.609375s (Master_Down_Interval)"; got[3].Reason != want {
		t.Errorf("reason %q, want %q", got[3].Reason, want)
	}
	if st := m.Status(); st.Master != lb1 || st.Since != at(dur("8.609375s")) {
		t.Errorf("status %+v, want master %s since 8.609375s", st, lb1)
	}
}

// A backup that follows a master ignores another router's priority 0: its master still serves.
func TestBackupIgnoresAnotherRoutersPriorityZero(t *testing.T) {
	m := newTestMachine(t, 100)
	m.Startup(t0)
	m.Receive(at(time.Second), lb2, advert(200, time.Second))
	stranger := netip.MustParseAddr("10.0.4.66")
	wantActions(t, "a stranger's priority 0", m.Receive(at(ms(1500)), stranger, advert(0, time.Second)))
	wantDeadline(t, "Master_Down_Interval from lb2's advert", m, at(time.Second+dur("3.609375s")))
}

// RFC 5798 §6.4.2: a backup that receives priority 0 takes over after Skew_Time only.
func TestBackupTakesOverAfterSkewOnPriorityZero(t *testing.T) {
	m := newTestMachine(t, 100)
	m.Startup(t0)
	m.Receive(at(time.Second), lb2, advert(200, time.Second))
	wantActions(t, "priority 0", m.Receive(at(ms(1500)), lb2, advert(0, time.Second)))
	wantDeadline(t, "Skew_Time 609.375ms", m, at(dur("2.109375s")))
	got := m.Tick(at(dur("2.109375s")))
	wantActions(t, "skew", got, "SendAdvert 100", "AddVIPs", "Announce", "Transition BACKUP->MASTER")
	if want := "master 10.0.4.21 stopped (sent priority 0); took over after Skew_Time 609.375ms"; got[3].Reason != want {
		t.Errorf("reason %q", got[3].Reason)
	}
}

// RFC 5798 §6.1, §6.4.2: v3 learns Master_Adver_Interval from the master's advert.
func TestBackupLearnsMasterInterval(t *testing.T) {
	m := newTestMachine(t, 100)
	m.Startup(t0)
	m.Receive(at(time.Second), lb2, advert(200, ms(200)))
	// 3*200ms + 156*200ms/256 = 721.875ms
	wantDeadline(t, "Master_Down_Timer", m, at(time.Second+dur("721.875ms")))
	if got := m.Status().MasterInterval; got != ms(200) {
		t.Errorf("Master_Adver_Interval %s, want 200ms", got)
	}
}

// RFC 3768 §6.1: v2 uses its own interval; the master's is checked equal by receive validation.
func TestV2UsesItsOwnInterval(t *testing.T) {
	m := newTestMachine(t, 100, func(c *Config) { c.Version, c.Interval = V2, 3*time.Second })
	m.Startup(t0)
	m.Receive(at(time.Second), lb2, &Advertisement{Version: V2, Priority: 200, Interval: time.Second})
	wantDeadline(t, "Master_Down_Timer", m, at(time.Second+dur("9.609375s")))
}

// RFC 5798 §6.4.3: a master advertises every Advertisement_Interval. The schedule is kept even
// when a tick comes late, so intervals do not stretch.
func TestMasterAdvertSchedule(t *testing.T) {
	m := newTestMachine(t, 255)
	m.Startup(t0)
	wantActions(t, "late tick", m.Tick(at(ms(1003))), "SendAdvert 255")
	wantDeadline(t, "next advert", m, at(2*time.Second))
	// After a long stall (a paused VM), the schedule restarts from now instead of bursting.
	wantActions(t, "after stall", m.Tick(at(ms(10500))), "SendAdvert 255")
	wantDeadline(t, "next advert after the stall", m, at(ms(11500)))
}

// With an Epoch, adverts fall on a grid, so that instances advertise together: the first one
// after becoming master comes sooner than an interval (which is always safe), then every
// interval on the grid.
func TestAdvertGrid(t *testing.T) {
	m := newTestMachine(t, 255, func(c *Config) { c.Epoch = at(ms(50)) })
	m.Startup(at(ms(1337)))
	wantDeadline(t, "first advert, at the grid point before 2.337s", m, at(ms(2050)))
	wantActions(t, "grid", m.Tick(at(ms(2050))), "SendAdvert 255")
	wantDeadline(t, "next advert", m, at(ms(3050)))
	// Two instances becoming master at different times advertise together from then on.
	o := newTestMachine(t, 255, func(c *Config) { c.Epoch = at(ms(50)) })
	o.Startup(at(ms(2999)))
	if !o.Deadline().Equal(m.Deadline()) {
		t.Errorf("grids differ: %v and %v", o.Deadline(), m.Deadline())
	}
}

// RFC 5798 §6.4.3: a master that receives priority 0 advertises at once and resets Adver_Timer.
// Another master was stopping or yielding, so clients may point at it: vrrpd also re-announces.
// It answers at most once a second, or once per three intervals if that is shorter, so that a
// flood of priority-0 adverts cannot use it as a reflector. Its own burst on becoming master does
// not count: the other master may have announced after it. The reassert hook runs at most once
// per reassertGap, since it may call a cloud's API.
func TestMasterAnswersPriorityZero(t *testing.T) {
	m := newTestMachine(t, 255)
	m.Startup(t0)
	wantActions(t, "priority 0", m.Receive(at(ms(400)), lb2, advert(0, time.Second)), "SendAdvert 255", "Announce", "Reassert")
	wantDeadline(t, "Adver_Timer", m, at(ms(1400)))
	wantActions(t, "again within 1s", m.Receive(at(ms(900)), lb2, advert(0, time.Second)))
	wantDeadline(t, "Adver_Timer on its schedule", m, at(ms(1400)))
	wantActions(t, "later", m.Receive(at(ms(5000)), lb2, advert(0, time.Second)), "SendAdvert 255", "Announce")
	wantActions(t, "after reassertGap", m.Receive(at(ms(400)+reassertGap), lb2, advert(0, time.Second)), "SendAdvert 255", "Announce", "Reassert")

	// At 200ms, the other router can be master again 3 intervals (600ms) plus its Skew_Time after
	// our advert: a split brain that heals then is answered too. TestSplitBrainHeals found this.
	f := newTestMachine(t, 255, func(c *Config) { c.Interval = ms(200) })
	f.Startup(t0)
	wantActions(t, "200ms: priority 0", f.Receive(at(ms(100)), lb2, advert(0, ms(200))), "SendAdvert 255", "Announce", "Reassert")
	wantActions(t, "200ms: within 600ms", f.Receive(at(ms(650)), lb2, advert(0, ms(200))))
	wantActions(t, "200ms: after 600ms", f.Receive(at(ms(700)), lb2, advert(0, ms(200))), "SendAdvert 255", "Announce")
}

// becomeMasterAt makes a machine master at t0 through Master_Down_Interval expiry.
func becomeMasterAt(t *testing.T, m *Machine) time.Time {
	t.Helper()
	m.Startup(t0.Add(-10 * time.Second))
	m.Tick(m.Deadline())
	if m.State() != Master {
		t.Fatalf("state %s, want MASTER", m.State())
	}
	return m.Status().Since
}

// RFC 5798 §6.4.3: a master that hears a higher priority becomes backup and gives up the VIPs.
func TestMasterYieldsToHigherPriority(t *testing.T) {
	m := newTestMachine(t, 100)
	now := becomeMasterAt(t, m).Add(ms(300))
	got := m.Receive(now, lb2, advert(120, ms(500)))
	wantActions(t, "higher", got, "SendAdvert 0", "RemoveVIPs", "Transition MASTER->BACKUP")
	if want := "higher priority 120 from 10.0.4.21"; got[2].Reason != want {
		t.Errorf("reason %q, want %q", got[2].Reason, want)
	}
	// The new Master_Down_Interval uses the learned 500ms: 1.5s + 156*500ms/256.
	wantDeadline(t, "Master_Down_Timer", m, now.Add(dur("1.8046875s")))
}

// RFC 5798 §6.4.3: equal priorities are broken by the primary address, as unsigned integers.
func TestMasterTieBreak(t *testing.T) {
	tests := []struct {
		name   string
		ours   netip.Addr
		theirs netip.Addr
		yields bool
	}{
		{"higher IPv4 wins", lb1, lb2, true},
		{"lower IPv4 loses", lb2, lb1, false},
		{"unsigned: 10.0.4.200 > 10.0.4.21", lb2, netip.MustParseAddr("10.0.4.200"), true},
		{"IPv6 link-local", netip.MustParseAddr("fe80::1"), netip.MustParseAddr("fe80::a"), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newTestMachine(t, 100, func(c *Config) { c.Addr = tt.ours })
			now := becomeMasterAt(t, m).Add(ms(100))
			got := m.Receive(now, tt.theirs, advert(100, time.Second))
			if tt.yields {
				wantActions(t, "tie", got, "SendAdvert 0", "RemoveVIPs", "Transition MASTER->BACKUP")
				if want := "equal priority 100 from higher address " + tt.theirs.String(); got[2].Reason != want {
					t.Errorf("reason %q, want %q", got[2].Reason, want)
				}
			} else {
				wantActions(t, "tie", got, "SendAdvert 100", "Announce", "Reassert")
			}
		})
	}
}

// RFC 9568 §6.4.3: a master discards a lower-priority advert and advertises at once. vrrpd also
// re-announces the VIPs, so clients of a healed split brain come back, even right after becoming
// master; it answers at most once per answerGap.
func TestMasterAssertsAgainstLowerPriority(t *testing.T) {
	m := newTestMachine(t, 100)
	now := becomeMasterAt(t, m)
	wantActions(t, "just became master", m.Receive(now.Add(ms(100)), lb2, advert(50, time.Second)), "SendAdvert 100", "Announce", "Reassert")
	wantActions(t, "within 1s", m.Receive(now.Add(ms(600)), lb2, advert(50, time.Second)))
	wantActions(t, "after 1s", m.Receive(now.Add(ms(1100)), lb2, advert(50, time.Second)), "SendAdvert 100", "Announce")
	if m.State() != Master {
		t.Errorf("state %s", m.State())
	}
}

// A backup that preempts a lower-priority master expects it to yield with priority 0: that is
// no other master to assert against, and runs no reassert hook; it is answered with an advert
// alone (RFC 5798 §6.4.3). A priority 0 from anyone else later is.
func TestPreemptedMastersYieldIsNoReassert(t *testing.T) {
	m := newTestMachine(t, 110)
	m.Startup(t0)
	m.Receive(at(time.Second), lb2, advert(100, time.Second))
	got := m.Tick(m.Deadline())
	wantActions(t, "preempt", got, "SendAdvert 110", "AddVIPs", "Announce", "Transition BACKUP->MASTER")
	now := m.Deadline().Add(-time.Second) // about when it took over
	wantActions(t, "the yield", m.Receive(now.Add(ms(10)), lb2, advert(0, time.Second)), "SendAdvert 110")
	wantActions(t, "lb2 again, later", m.Receive(now.Add(ms(2000)), lb2, advert(0, time.Second)), "SendAdvert 110", "Announce", "Reassert")
}

// RFC 5798 §6.4.2: with Preempt_Mode off, a backup follows a lower-priority master.
func TestNoPreemptFollowsLowerPriority(t *testing.T) {
	m := newTestMachine(t, 200, func(c *Config) { c.Preempt = false })
	m.Startup(t0)
	m.Receive(at(time.Second), lb2, advert(100, time.Second))
	// 3s + 56/256 s
	wantDeadline(t, "Master_Down_Timer", m, at(dur("4.21875s")))
	if want := "master 10.0.4.21 has lower priority 100 (ours 200), but preempt is off"; m.Status().Reason != want {
		t.Errorf("reason %q", m.Status().Reason)
	}
}

// With Preempt_Mode on, a backup that hears a lower-priority master takes over after Skew_Time,
// not Master_Down_Interval (a deliberate refinement of RFC 5798 §6.4.2; see backupReceive).
func TestPreemptAfterSkew(t *testing.T) {
	m := newTestMachine(t, 200)
	m.Startup(t0)
	wantActions(t, "lower", m.Receive(at(time.Second), lb2, advert(100, time.Second)))
	wantDeadline(t, "Skew_Time 218.75ms", m, at(dur("1.21875s")))
	got := m.Tick(at(dur("1.21875s")))
	wantActions(t, "preempt", got, "SendAdvert 200", "AddVIPs", "Announce", "Transition BACKUP->MASTER")
	if want := "preempted master 10.0.4.21, whose priority 100 is lower than ours (200)"; got[3].Reason != want {
		t.Errorf("reason %q", got[3].Reason)
	}
}

// preempt_delay: a backup lets a lower-priority master stay this long after first hearing it.
// It still follows that master meanwhile, so the master's death is noticed as usual.
func TestPreemptDelay(t *testing.T) {
	m := newTestMachine(t, 200, func(c *Config) { c.PreemptDelay = 10 * time.Second })
	m.Startup(t0)
	for s := 1; s <= 7; s++ {
		now := at(time.Duration(s) * time.Second)
		m.Receive(now, lb2, advert(100, time.Second))
		wantDeadline(t, "Master_Down_Timer while preempt_delay runs", m, now.Add(dur("3.21875s")))
	}
	// From 8s on, 11s (1s + 10s) is within Master_Down_Interval: preempt exactly then.
	m.Receive(at(8*time.Second), lb2, advert(100, time.Second))
	wantDeadline(t, "preempt_delay's end", m, at(11*time.Second))
	m.Receive(at(9*time.Second), lb2, advert(100, time.Second))
	m.Receive(at(10*time.Second), lb2, advert(100, time.Second))
	got := m.Tick(at(11 * time.Second))
	wantActions(t, "preempt", got, "SendAdvert 200", "AddVIPs", "Announce", "Transition BACKUP->MASTER")
	if !strings.HasSuffix(got[3].Reason, "after preempt_delay 10s") {
		t.Errorf("reason %q", got[3].Reason)
	}
	// A higher-priority master in between resets the delay.
	m2 := newTestMachine(t, 200, func(c *Config) { c.PreemptDelay = 10 * time.Second })
	m2.Startup(t0)
	m2.Receive(at(time.Second), lb2, advert(100, time.Second))
	m2.Receive(at(2*time.Second), lb2, advert(250, time.Second))
	m2.Receive(at(9*time.Second), lb2, advert(100, time.Second))
	wantDeadline(t, "delay not reset: Master_Down_Timer", m2, at(9*time.Second+dur("3.21875s")))
}

// garp_delay and garp_refresh: a burst on becoming master, a second after garp_delay, then one
// every garp_refresh.
func TestGARPSchedule(t *testing.T) {
	m := newTestMachine(t, 255, func(c *Config) { c.GARPDelay, c.GARPRefresh = 5*time.Second, 10*time.Second })
	m.Startup(t0)
	var announced []time.Duration
	for now := t0; now.Before(at(30 * time.Second)); now = m.Deadline() {
		for _, a := range m.Tick(now) {
			if a.Kind == Announce {
				announced = append(announced, now.Sub(t0))
			}
		}
	}
	want := []time.Duration{5 * time.Second, 15 * time.Second, 25 * time.Second}
	if diff := cmp.Diff(want, announced); diff != "" {
		t.Errorf("bursts (-want +got):\n%s", diff)
	}
	// Without a refresh there is exactly one delayed burst.
	m2 := newTestMachine(t, 255, func(c *Config) { c.GARPDelay = 5 * time.Second })
	m2.Startup(t0)
	n := 0
	for now := t0; now.Before(at(30 * time.Second)); now = m2.Deadline() {
		for _, a := range m2.Tick(now) {
			if a.Kind == Announce {
				n++
			}
		}
	}
	if n != 1 {
		t.Errorf("%d delayed bursts, want 1", n)
	}
}

// RFC 5798 §6.4.3: a master that shuts down sends priority 0 and gives up its VIPs;
// §6.4.2: a backup just stops.
func TestShutdown(t *testing.T) {
	m := newTestMachine(t, 100)
	becomeMasterAt(t, m)
	got := m.Shutdown(t0)
	wantActions(t, "master", got, "SendAdvert 0", "RemoveVIPs", "Transition MASTER->INIT")
	if !m.Deadline().IsZero() {
		t.Errorf("deadline %v after shutdown", m.Deadline())
	}
	wantActions(t, "again", m.Shutdown(t0))

	b := newTestMachine(t, 100)
	b.Startup(t0)
	wantActions(t, "backup", b.Shutdown(t0), "Transition BACKUP->INIT")
	wantActions(t, "advert after shutdown", b.Receive(t0, lb2, advert(0, time.Second)))
}

// A master whose effective priority changes advertises it at once.
func TestSetPriority(t *testing.T) {
	m := newTestMachine(t, 100)
	now := becomeMasterAt(t, m)
	wantActions(t, "master", m.SetPriority(now.Add(ms(200)), 80), "SendAdvert 80")
	wantActions(t, "unchanged", m.SetPriority(now.Add(ms(300)), 80))
	wantDeadline(t, "Adver_Timer", m, now.Add(ms(1200)))
	// The lower priority now changes the election: a backup at 90 preempts this master.
	b := newTestMachine(t, 90, func(c *Config) { c.Addr = lb2 })
	b.Startup(t0)
	b.Receive(now.Add(ms(200)), lb1, advert(80, time.Second))
	wantDeadline(t, "the backup's Skew_Time (166/256 s)", b, now.Add(ms(200)+dur("648.4375ms")))
}

// FAULT: a master gives up (priority 0, VIPs removed), adverts are ignored, and recovery starts
// over as a backup.
func TestFault(t *testing.T) {
	m := newTestMachine(t, 100)
	now := becomeMasterAt(t, m)
	got := m.Fault(now, "interface eth0 is down")
	wantActions(t, "fault", got, "SendAdvert 0", "RemoveVIPs", "Transition MASTER->FAULT")
	if st := m.Status(); st.Reason != "interface eth0 is down" || st.Master.IsValid() {
		t.Errorf("status %+v", st)
	}
	wantActions(t, "advert in FAULT", m.Receive(now, lb2, advert(0, time.Second)))
	wantActions(t, "tick in FAULT", m.Tick(now.Add(time.Hour)))
	if !m.Deadline().IsZero() {
		t.Errorf("deadline %v in FAULT", m.Deadline())
	}
	wantActions(t, "second fault", m.Fault(now, "check nginx down"))
	got = m.Recover(now.Add(time.Second), "interface eth0 is up")
	wantActions(t, "recover", got, "RemoveVIPs", "Transition FAULT->BACKUP")
	wantDeadline(t, "Master_Down_Timer after recovery", m, now.Add(time.Second+dur("3.609375s")))
	wantActions(t, "recover again", m.Recover(now, "again"))
}

// A fault known before start-up makes the instance start in FAULT.
func TestFaultBeforeStartup(t *testing.T) {
	m := newTestMachine(t, 100)
	m.Fault(t0, "interface eth9 does not exist")
	got := m.Startup(t0)
	wantActions(t, "startup", got, "RemoveVIPs", "Transition INIT->FAULT")
	if got[1].Reason != "interface eth9 does not exist" {
		t.Errorf("reason %q", got[1].Reason)
	}
	wantActions(t, "recover", m.Recover(at(time.Second), "interface eth9 appeared"), "RemoveVIPs", "Transition FAULT->BACKUP")
}

// wire is a discrete-event simulation of routers on one LAN: every advert one sends reaches the
// others at the same instant, unless the sender is unplugged.
type wire struct {
	t       *testing.T
	now     time.Time
	routers []*simRouter
}

type simRouter struct {
	name      string
	addr      netip.Addr
	m         *Machine
	unplugged bool
	lastSent  time.Time
	log       []string    // transitions, "MASTER at 3.21s"
	announced []time.Time // GARP/NA bursts
}

func (w *wire) add(name string, prio uint8, addr netip.Addr) *simRouter {
	r := &simRouter{name: name, addr: addr, m: newTestMachine(w.t, prio, func(c *Config) { c.Addr = addr })}
	w.routers = append(w.routers, r)
	return r
}

func (w *wire) act(r *simRouter, as []Action) {
	as = append([]Action(nil), as...) // the machine reuses its slice
	for _, a := range as {
		switch a.Kind {
		case Transition:
			r.log = append(r.log, a.To.String()+" at "+w.now.Sub(t0).String())
		case Announce:
			r.announced = append(r.announced, w.now)
		case SendAdvert:
			if r.unplugged {
				continue
			}
			r.lastSent = w.now
			for _, o := range w.routers {
				if o != r && !o.unplugged {
					w.act(o, o.m.Receive(w.now, r.addr, advert(a.Priority, time.Second)))
				}
			}
		}
	}
}

// run advances simulated time to end, firing each machine's deadline in order.
func (w *wire) run(end time.Time) {
	for {
		var next *simRouter
		for _, r := range w.routers {
			if d := r.m.Deadline(); !d.IsZero() && (next == nil || d.Before(next.m.Deadline())) {
				next = r
			}
		}
		if next == nil || next.m.Deadline().After(end) {
			w.now = end
			return
		}
		w.now = next.m.Deadline()
		w.act(next, next.m.Tick(w.now))
	}
}

// startPair starts the nginx pair, lb1 (110) and lb2 (100), together at t0 on a simulated wire;
// partitioned, neither hears the other until the test plugs them in.
func startPair(t *testing.T, partitioned bool) (w *wire, r1, r2 *simRouter) {
	w = &wire{t: t, now: t0}
	r1, r2 = w.add("lb1", 110, lb1), w.add("lb2", 100, lb2)
	r1.unplugged, r2.unplugged = partitioned, partitioned
	w.act(r1, r1.m.Startup(t0))
	w.act(r2, r2.m.Startup(t0))
	return w, r1, r2
}

// The nginx pair end to end, in simulated time: lb1 (110) and lb2 (100) start together;
// lb1 wins after its own Master_Down_Interval. lb1 is unplugged: lb2 takes over one
// Master_Down_Interval after lb1's last advert. lb1 returns and preempts after Skew_Time.
// lb1 stops cleanly: lb2 takes over after Skew_Time.
func TestPairScenario(t *testing.T) {
	w, r1, r2 := startPair(t, false)
	w.run(at(10 * time.Second))
	// lb1: 3s + 146/256 s = 3.5703125s; lb2 would have waited 3.609375s.
	if diff := cmp.Diff([]string{"BACKUP at 0s", "MASTER at 3.5703125s"}, r1.log); diff != "" {
		t.Errorf("lb1 (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"BACKUP at 0s"}, r2.log); diff != "" {
		t.Errorf("lb2 (-want +got):\n%s", diff)
	}

	// Host loss: lb1's cable is pulled at 10.2s. Its last advert went out at 9.5703125s.
	w.run(at(ms(10200)))
	r1.unplugged = true
	last := r1.lastSent
	w.run(at(20 * time.Second))
	if got, want := r2.log[len(r2.log)-1], "MASTER at "+last.Add(MasterDownInterval(V3, 100, time.Second)).Sub(t0).String(); got != want {
		t.Errorf("lb2 after host loss: %s, want %s", got, want)
	}
	if r1.m.State() != Master {
		t.Errorf("unplugged lb1 is %s: it hears nothing and stays master", r1.m.State())
	}

	// lb1 comes back: both are master until the first advert crosses; lb2 (lower) yields.
	// lb2's advert (x.18s) crosses before lb1's (x.57s): lb1 answers with an advert and
	// re-announces the VIP at once, so the clients that followed lb2 come back.
	r1.unplugged = false
	replug := w.now
	w.run(at(30 * time.Second))
	if r1.m.State() != Master || r2.m.State() != Backup {
		t.Errorf("after replug: lb1 %s, lb2 %s", r1.m.State(), r2.m.State())
	}
	if n := len(r1.announced); n == 0 || r1.announced[n-1].Before(replug) || r1.announced[n-1].Sub(replug) > time.Second {
		t.Errorf("lb1 did not re-announce within 1s of the replug at %s: %v", replug.Sub(t0), r1.announced)
	}

	// Graceful stop of lb1: lb2 takes over after its Skew_Time (609.375ms).
	w.run(at(ms(30500)))
	w.act(r1, r1.m.Shutdown(w.now))
	w.run(at(40 * time.Second))
	if got, want := r2.log[len(r2.log)-1], "MASTER at 31.109375s"; got != want {
		t.Errorf("lb2 after graceful stop: %s, want %s", got, want)
	}

	// lb1 restarts and preempts lb2 after its Skew_Time from lb2's next advert.
	w.run(at(41 * time.Second))
	w.act(r1, r1.m.Startup(w.now))
	w.run(at(50 * time.Second))
	if r1.m.State() != Master || r2.m.State() != Backup {
		t.Errorf("after restart: lb1 %s, lb2 %s", r1.m.State(), r2.m.State())
	}
	// lb2 advertises at 41.109375s (its schedule since 31.109375s); lb1 preempts its Skew_Time,
	// 570.3125ms, later.
	if got, want := r1.log[len(r1.log)-1], "MASTER at 41.6796875s"; got != want {
		t.Errorf("lb1 preempted at %s, want %s", got, want)
	}
}

// The other order of a healing split brain: the winner's advert reaches the loser first. The
// loser yields with priority 0, so the winner still learns of it and re-announces the VIP.
func TestSplitBrainHealsWhenTheWinnerSpeaksFirst(t *testing.T) {
	// Partitioned: both become master, lb1 at 3.5703125s, lb2 at 3.609375s; lb1 advertises at
	// x.5703125s.
	w, r1, r2 := startPair(t, true)
	w.run(at(ms(10500)))
	if r1.m.State() != Master || r2.m.State() != Master {
		t.Fatalf("partitioned: lb1 %s, lb2 %s, want both MASTER", r1.m.State(), r2.m.State())
	}
	r1.unplugged, r2.unplugged = false, false
	w.run(at(12 * time.Second))
	// lb1 advertised first, at 10.5703125s; lb2 yielded with priority 0, and lb1 answered it.
	if diff := cmp.Diff([]string{"BACKUP at 0s", "MASTER at 3.609375s", "BACKUP at 10.5703125s"}, r2.log); diff != "" {
		t.Errorf("lb2 (-want +got):\n%s", diff)
	}
	if n := len(r1.announced); n == 0 || !r1.announced[n-1].Equal(at(dur("10.5703125s"))) {
		t.Errorf("lb1's bursts %v, want one at 10.5703125s", r1.announced)
	}
}

// A split brain shorter than a second heals too: lb1 became master at 3.5703125s, lb2 at
// 3.609375s (its GARP turned the clients), and the partition ends at 3.65s. lb1's next advert at
// 4.5703125s makes lb2 yield, and lb1 re-announces then, although it announced less than a
// second before.
func TestShortSplitBrainHeals(t *testing.T) {
	w, r1, r2 := startPair(t, true)
	w.run(at(ms(3650)))
	r1.unplugged, r2.unplugged = false, false
	w.run(at(5 * time.Second))
	if r2.m.State() != Backup {
		t.Fatalf("lb2 is %s", r2.m.State())
	}
	if n := len(r1.announced); n < 2 || !r1.announced[n-1].Equal(at(dur("4.5703125s"))) {
		t.Errorf("lb1's bursts %v, want the last at 4.5703125s", r1.announced)
	}
}

// Sync groups: a held master steps down with priority 0; a held backup follows a lower-priority
// master instead of preempting it; on release it preempts after Skew_Time.
func TestHold(t *testing.T) {
	m := newTestMachine(t, 110)
	now := becomeMasterAt(t, m)
	if m.Yielding() {
		t.Error("a master is not yielding")
	}
	got := m.Hold(now, "sync group G1: VI_2 follows a better master")
	wantActions(t, "hold master", got, "SendAdvert 0", "RemoveVIPs", "Transition MASTER->BACKUP")
	if got[2].Reason != "sync group G1: VI_2 follows a better master" {
		t.Errorf("reason %q", got[2].Reason)
	}
	wantActions(t, "hold again", m.Hold(now, "sync group G1: VI_2 follows a better master"))

	// The other host's member takes over at priority 100: held, we follow it.
	wantActions(t, "lower master while held", m.Receive(now.Add(ms(700)), lb2, advert(100, time.Second)))
	if m.Yielding() {
		t.Error("a held backup following a lower-priority master must not hold its siblings")
	}
	if want := "master 10.0.4.21 has lower priority 100 (ours 110), but sync group G1: VI_2 follows a better master"; m.Status().Reason != want {
		t.Errorf("reason %q, want %q", m.Status().Reason, want)
	}
	wantDeadline(t, "Master_Down_Timer: a dead master is not waited for", m, now.Add(ms(700)+dur("3.5703125s")))

	// Released: preempt after Skew_Time (146/256 s).
	rel := now.Add(ms(1000))
	wantActions(t, "release", m.Hold(rel, ""))
	wantDeadline(t, "Skew_Time after the release", m, rel.Add(dur("570.3125ms")))
	got = m.Tick(rel.Add(dur("570.3125ms")))
	wantActions(t, "preempt", got, "SendAdvert 110", "AddVIPs", "Announce", "Transition BACKUP->MASTER")

	// A backup that follows a higher-priority master yields.
	b := newTestMachine(t, 100)
	b.Startup(t0)
	b.Receive(at(time.Second), lb2, advert(110, time.Second))
	if !b.Yielding() {
		t.Error("a backup following a higher-priority master yields")
	}
}

// A master flooded with forged priority-0 and lower-priority adverts is no reflector: over 5s at
// 1s, 10,000 of them draw one answer per answerGap, beside the adverts of its own schedule.
func TestMasterFloodIsNoReflector(t *testing.T) {
	m := newTestMachine(t, 100)
	start := becomeMasterAt(t, m)
	adverts, bursts := 0, 0
	count := func(as []Action) {
		for _, a := range as {
			switch a.Kind {
			case SendAdvert:
				adverts++
			case Announce:
				bursts++
			}
		}
	}
	for i := range 10000 {
		now := start.Add(time.Duration(i) * 500 * time.Microsecond)
		if dl := m.Deadline(); !now.Before(dl) {
			count(m.Tick(dl))
		}
		prio := uint8(0)
		if i%2 == 1 {
			prio = 50
		}
		count(m.Receive(now, lb2, advert(prio, time.Second)))
	}
	// 5 scheduled adverts, and 5 answers (each an advert and a burst), one per second.
	if adverts > 10 || bursts > 5 || m.State() != Master {
		t.Errorf("10,000 forged adverts in 5s drew %d adverts and %d bursts (state %s); want at most 10 and 5", adverts, bursts, m.State())
	}
}

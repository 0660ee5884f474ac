package vrrp

import (
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// State is a virtual router's state: the three of RFC 5798 §6.4, and FAULT.
type State uint8

const (
	Initialize State = iota // RFC 5798 §6.4.1: not taking part (before start-up, after shutdown)
	Backup                  // RFC 5798 §6.4.2
	Master                  // RFC 5798 §6.4.3 (RFC 9568 calls it Active)
	Fault                   // a tracked interface or check forbids taking part: no VIPs, no adverts
)

func (s State) String() string {
	switch s {
	case Initialize:
		return "INIT"
	case Backup:
		return "BACKUP"
	case Master:
		return "MASTER"
	case Fault:
		return "FAULT"
	}
	return fmt.Sprintf("State(%d)", uint8(s))
}

// ActionKind says what the driver must do for the machine.
type ActionKind uint8

const (
	SendAdvert ActionKind = iota + 1 // send an ADVERTISEMENT carrying Action.Priority
	AddVIPs                          // add the virtual addresses to the interface
	RemoveVIPs                       // remove them (idempotent: also used at start-up for stale ones)
	Announce                         // a burst of gratuitous ARPs / unsolicited NAs for every VIP
	Transition                       // the state changed from Action.From to Action.To, for Action.Reason
	Reassert                         // as master, we answered another master (Action.Reason says which)
)

func (k ActionKind) String() string {
	return [...]string{"?", "SendAdvert", "AddVIPs", "RemoveVIPs", "Announce", "Transition", "Reassert"}[min(int(k), 6)]
}

// Action is one thing the machine asks the driver to do, in order.
type Action struct {
	Kind     ActionKind
	Priority uint8  // SendAdvert: the priority to advertise (0 when leaving MASTER)
	From, To State  // Transition
	Reason   string // Transition, Reassert: why, in words an operator understands
}

// Config is what the machine needs of an instance's configuration.
type Config struct {
	Version      Version
	Priority     uint8         // base priority, 1-255; 255 means the address owner
	Interval     time.Duration // Advertisement_Interval: v2 whole seconds, v3 a multiple of 10ms
	Preempt      bool          // Preempt_Mode (RFC 5798 §6.1)
	PreemptDelay time.Duration // how long a backup lets a lower-priority master stay before preempting it
	Addr         netip.Addr    // this router's primary address: the advert's source and the tie-breaker
	GARPDelay    time.Duration // a second GARP/NA burst this long after becoming master; 0: none
	GARPRefresh  time.Duration // then a burst this often while master; 0: never
	// Epoch, when set, puts the adverts on a grid: Epoch plus whole intervals. Instances with
	// the same interval then advertise together, and one wake-up serves them all.
	Epoch time.Time
}

// answerGap limits how often a master answers another master's advert (with an advert and a
// GARP/NA burst): once a second, or once per three Advertisement_Intervals if that is shorter.
// Two masters mean a healed split brain, and the burst turns the clients that followed the loser
// back to us. The loser can only be master again after its Master_Down_Interval, which is more
// than three of our intervals after our last advert, so the gap never withholds the answer from
// the next split brain; it stops an answer per advert from a peer that keeps advertising a lower
// priority, and a flood of forged priority-0 or low adverts from using us as a reflector: our
// adverts stay on their schedule, plus one answer per gap.
func (m *Machine) answerGap() time.Duration { return min(time.Second, 3*m.cfg.Interval) }

// reassertGap limits how often a master's answers run the reassert hook, which may call a cloud's
// API to re-claim the address: a lasting one-way partition would otherwise run it every
// answerGap. The answers themselves (advert and burst) still go every answerGap.
const reassertGap = 10 * time.Second

// cs is a centisecond, the unit of RFC 5798's Max Adver Int.
const cs = 10 * time.Millisecond

// Machine is one virtual router's RFC 5798 §6 state machine. It is pure: events go in with the
// current time, and actions come out, with the next deadline from Deadline. It has no goroutines,
// sockets or clock of its own, and is not safe for concurrent use.
//
// Each event method returns the actions to carry out, in order. The slice is reused by the next
// call, so the caller must act on it (or copy it) before calling again.
type Machine struct {
	cfg  Config
	prio uint8 // effective priority: cfg.Priority adjusted by trackers

	state   State
	since   time.Time
	reason  string
	faulted bool // a tracker forbids taking part; Startup and Recover honour it

	master         netip.Addr    // the master as we know it (our own address when we are master)
	masterPriority uint8         // its advertised priority
	masterInterval time.Duration // Master_Adver_Interval (RFC 5798 §6.1)

	advertAt   time.Time  // Master: Adver_Timer
	garpAt     time.Time  // Master: the next GARP/NA burst (the delayed second one, then refreshes)
	lastAnswer time.Time  // Master: the last burst sent in answer to another master
	reasserted time.Time  // Master: the last answer that ran the reassert hook
	preempted  netip.Addr // Master: the master we preempted, whose priority-0 yield is expected
	downAt     time.Time  // Backup: Master_Down_Timer
	down       downCause  // Backup: why we will take over when downAt passes
	preemptAt  time.Time  // Backup: when the lower-priority master we hear may be preempted
	held       string     // why a sync group holds us back from being master; "" if it does not

	out []Action
}

// NewMachine returns a machine in the Initialize state.
func NewMachine(cfg Config) (*Machine, error) {
	var errs []error
	if cfg.Version != V2 && cfg.Version != V3 {
		errs = append(errs, fmt.Errorf("version %d is not 2 or 3", cfg.Version))
	}
	if cfg.Priority == 0 {
		errs = append(errs, errors.New("priority 0 is reserved for a stopping master"))
	}
	if cfg.Interval < cs || cfg.Interval%cs != 0 {
		errs = append(errs, fmt.Errorf("interval %s is not a positive multiple of 10ms", cfg.Interval))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &Machine{cfg: cfg, prio: cfg.Priority, masterInterval: cfg.Interval, reason: "not started"}, nil
}

// Status is a snapshot of the machine for `vrrpd status`.
type Status struct {
	State          State
	Since          time.Time
	Reason         string
	Priority       uint8         // effective priority
	Master         netip.Addr    // the current master as this router knows it; ours when master
	MasterPriority uint8         // the master's advertised priority
	MasterInterval time.Duration // Master_Adver_Interval
	Deadline       time.Time     // the next timer; zero if none
}

// Status reports the machine's state and why it is in it.
func (m *Machine) Status() Status {
	return Status{
		State: m.state, Since: m.since, Reason: m.why(), Priority: m.prio,
		Master: m.master, MasterPriority: m.masterPriority, MasterInterval: m.masterInterval,
		Deadline: m.Deadline(),
	}
}

// why explains the current state. A backup's reason follows the master it hears; the other
// states keep the reason of the transition that entered them.
func (m *Machine) why() string {
	if m.state != Backup || !m.master.IsValid() {
		return m.reason
	}
	switch {
	case m.masterPriority > m.prio:
		return fmt.Sprintf("master %s has higher priority %d (ours %d)", m.master, m.masterPriority, m.prio)
	case m.masterPriority == m.prio:
		return fmt.Sprintf("master %s has equal priority %d and was master first", m.master, m.prio)
	case !m.preempts():
		return fmt.Sprintf("master %s has lower priority %d (ours %d), but preempt is off", m.master, m.masterPriority, m.prio)
	case m.held != "":
		return fmt.Sprintf("master %s has lower priority %d (ours %d), but %s", m.master, m.masterPriority, m.prio, m.held)
	}
	return m.down.String()
}

// Deadline is when the machine next needs Tick; zero if it needs none.
func (m *Machine) Deadline() time.Time {
	switch m.state {
	case Backup:
		return m.downAt
	case Master:
		if !m.garpAt.IsZero() && m.garpAt.Before(m.advertAt) {
			return m.garpAt
		}
		return m.advertAt
	}
	return time.Time{}
}

// Reconfigure takes new settings, changed only where Reload allows a change in place: base
// priority, preempt, preempt_delay and GARP timing. They apply from the next event on; the
// effective priority follows through SetPriority.
func (m *Machine) Reconfigure(cfg Config) { m.cfg = cfg }

// SetAddr sets the router's primary address when it was not known at creation: the interface
// had none yet.
func (m *Machine) SetAddr(a netip.Addr) {
	m.cfg.Addr = a
	if m.state == Master {
		m.master = a
	}
}

// Priority is the effective priority.
func (m *Machine) Priority() uint8 { return m.prio }

// State is the current state.
func (m *Machine) State() State { return m.state }

// SkewTime is Skew_Time: RFC 5798 §6.1, ((256 - Priority) * Master_Adver_Interval) / 256; RFC
// 3768 §6.1 (v2), (256 - Priority) / 256 seconds. It is computed in nanoseconds, not truncated to
// the centiseconds the advert carries, so that any two priorities give different skews at every
// interval, 10ms included: backups of priorities 90 and 80 at 100ms wait 64.84ms and 68.75ms
// more than three intervals, so the 90 takes over and the 80 hears it before its timer fires.
// For v2 it is exact (1s/256 is 3906250ns); for v3 it is exact to the nanosecond.
func SkewTime(v Version, prio uint8, masterInterval time.Duration) time.Duration {
	p := time.Duration(256 - int(prio))
	if v == V2 {
		return p * time.Second / 256
	}
	return p * masterInterval / 256
}

// MasterDownInterval is Master_Down_Interval: 3 * Master_Adver_Interval + Skew_Time (RFC 5798
// §6.1, RFC 3768 §6.1). For v2, Master_Adver_Interval is the router's own Advertisement_Interval.
func MasterDownInterval(v Version, prio uint8, masterInterval time.Duration) time.Duration {
	return 3*masterInterval + SkewTime(v, prio, masterInterval)
}

// skewTime and masterDownInterval use the effective priority and, for v3, the interval learned
// from the master; for v2, receive validation guarantees the master's interval equals ours.
func (m *Machine) skewTime() time.Duration { return SkewTime(m.cfg.Version, m.prio, m.masterInterval) }

func (m *Machine) masterDownInterval() time.Duration {
	return MasterDownInterval(m.cfg.Version, m.prio, m.masterInterval)
}

// preempts is Preempt_Mode, which the address owner ignores: it always preempts (RFC 5798 §6.1).
func (m *Machine) preempts() bool { return m.cfg.Preempt || m.cfg.Priority == 255 }

// Startup is RFC 5798 §6.4.1's Startup event.
func (m *Machine) Startup(now time.Time) []Action {
	m.out = m.out[:0]
	if m.state != Initialize {
		return m.out
	}
	if m.faulted {
		m.do(Action{Kind: RemoveVIPs})
		m.enter(now, Fault, m.reason)
		return m.out
	}
	m.start(now, "start-up")
	return m.out
}

// start leaves Initialize or FAULT as RFC 5798 §6.4.1 says: the owner becomes master at once,
// anyone else a backup that waits one Master_Down_Interval for a master.
func (m *Machine) start(now time.Time, why string) {
	if m.prio == 255 {
		m.becomeMaster(now, why+": address owner (priority 255)")
		return
	}
	// Any of our VIPs still on the interface were left by a predecessor that was killed before
	// it could remove them, or by someone's hand. Nobody has elected us: remove them first.
	m.do(Action{Kind: RemoveVIPs})
	m.awaitMaster(now, why)
	m.enter(now, Backup, why+": waiting for a master")
}

// awaitMaster forgets the master and arms Master_Down_Timer for one Master_Down_Interval at
// our own interval (RFC 5798 §6.4.1): a backup with no master yet.
func (m *Machine) awaitMaster(now time.Time, why string) {
	m.masterInterval = m.cfg.Interval
	m.master, m.masterPriority = netip.Addr{}, 0
	m.preemptAt = time.Time{}
	mdi := m.masterDownInterval()
	m.downAt = now.Add(mdi)
	m.down = downCause{kind: downStart, d: mdi, why: why}
}

// expect arms Master_Down_Timer for the master src (RFC 5798 §6.4.2): if it stays silent for
// Master_Down_Interval, we take over.
func (m *Machine) expect(now time.Time, src netip.Addr) {
	mdi := m.masterDownInterval()
	m.downAt = now.Add(mdi)
	m.down = downCause{kind: downSilent, src: src, d: mdi}
}

// Shutdown is the Shutdown event of RFC 5798 §6.4.2 and §6.4.3. A master announces priority 0
// so that a backup takes over after Skew_Time instead of Master_Down_Interval.
func (m *Machine) Shutdown(now time.Time) []Action {
	m.out = m.out[:0]
	if m.state == Initialize {
		return m.out
	}
	if m.state == Master {
		m.do(Action{Kind: SendAdvert, Priority: 0})
		m.do(Action{Kind: RemoveVIPs})
	}
	m.enter(now, Initialize, "shutdown")
	return m.out
}

// Tick handles every timer that has expired by now.
func (m *Machine) Tick(now time.Time) []Action {
	m.out = m.out[:0]
	switch m.state {
	case Backup:
		// RFC 5798 §6.4.2: the Master_Down_Timer fires.
		if !m.downAt.IsZero() && !now.Before(m.downAt) {
			down := m.down
			m.becomeMaster(now, down.String())
			if down.kind == downPreempt {
				m.preempted = down.src
			}
		}
	case Master:
		// RFC 5798 §6.4.3: the Adver_Timer fires. The next one is due one interval after this
		// one was due, not after now, so a late wake-up does not stretch the schedule.
		if !now.Before(m.advertAt) {
			m.do(Action{Kind: SendAdvert, Priority: m.prio})
			m.advertAt = m.advertAt.Add(m.cfg.Interval)
			if !m.advertAt.After(now) {
				m.advertAt = m.nextAdvert(now)
			}
		}
		if !m.garpAt.IsZero() && !now.Before(m.garpAt) {
			m.do(Action{Kind: Announce})
			m.garpAt = time.Time{}
			if m.cfg.GARPRefresh > 0 {
				m.garpAt = now.Add(m.cfg.GARPRefresh)
			}
		}
	}
	return m.out
}

// Receive handles an ADVERTISEMENT from src that passed receive validation (RFC 5798 §7.1).
func (m *Machine) Receive(now time.Time, src netip.Addr, adv *Advertisement) []Action {
	m.out = m.out[:0]
	switch m.state {
	case Backup:
		m.backupReceive(now, src, adv)
	case Master:
		m.masterReceive(now, src, adv)
	}
	return m.out
}

// backupReceive is RFC 5798 §6.4.2, "If an ADVERTISEMENT is received".
func (m *Machine) backupReceive(now time.Time, src netip.Addr, adv *Advertisement) {
	if adv.Priority == 0 {
		if m.master.IsValid() && src != m.master {
			// RFC 5798 §6.4.2 has the one master stop. Another router's priority 0 says
			// nothing of the master this backup follows, which still serves: taking over
			// would make two masters, and let any host on the LAN move the VIP at will.
			return
		}
		// The master is stopping: take over after Skew_Time, so that the backup with the
		// highest priority (the shortest skew) goes first.
		skew := m.skewTime()
		m.downAt = now.Add(skew)
		m.down = downCause{kind: downStopped, src: src, d: skew}
		return
	}
	m.master, m.masterPriority = src, adv.Priority
	if !m.preempts() || adv.Priority >= m.prio || m.held != "" {
		// Follow this master. v3 learns its interval; v2 has checked that it equals ours.
		if m.cfg.Version == V3 {
			m.masterInterval = adv.Interval
		}
		m.preemptAt = time.Time{}
		m.expect(now, src)
		return
	}
	// Preempt_Mode is on and the master's priority is lower than ours. RFC 5798 discards the
	// advert and lets Master_Down_Timer expire, which preempts up to 3 intervals later. vrrpd
	// takes over after Skew_Time instead (after preempt_delay, if set), so that a master whose
	// check failed hands over within about one interval. Skew_Time still lets the backup with
	// the highest priority go first.
	if m.preemptAt.IsZero() {
		m.preemptAt = now.Add(m.cfg.PreemptDelay)
	}
	at := now.Add(m.skewTime())
	if m.preemptAt.After(at) {
		at = m.preemptAt
	}
	if mdi := m.masterDownInterval(); at.After(now.Add(mdi)) {
		// Still inside preempt_delay: the lower-priority master stays for now, and its
		// silence would still be noticed after Master_Down_Interval.
		m.expect(now, src)
		return
	}
	m.downAt = at
	m.down = downCause{kind: downPreempt, src: src, theirs: adv.Priority, ours: m.prio, d: m.cfg.PreemptDelay}
}

// masterReceive is RFC 5798 §6.4.3, "If an ADVERTISEMENT is received".
//
// Two masters at once mean a split brain that is healing, and clients may have followed the
// other one. vrrpd makes sure the winner learns of it and re-announces the VIPs: the loser
// yields with a priority-0 advert (as a stopping master does), and a master that hears priority
// 0 or a lower priority answers with an advert and a GARP/NA burst, at most once per answerGap.
func (m *Machine) masterReceive(now time.Time, src netip.Addr, adv *Advertisement) {
	if adv.Priority == 0 && src == m.preempted {
		// The master we preempted yields, as asked: advertise at once (RFC 5798 §6.4.3), so
		// that its backups see us. Our burst on becoming master announced the VIPs already.
		m.preempted = netip.Addr{}
		m.do(Action{Kind: SendAdvert, Priority: m.prio})
		m.advertAt = m.nextAdvert(now)
		return
	}
	if adv.Priority == 0 {
		// Another master is stopping or yielding: advertise at once, so its backups see us.
		if m.answer(now, src, adv.Priority) {
			m.advertAt = m.nextAdvert(now)
		}
		return
	}
	higher := adv.Priority > m.prio
	if higher || adv.Priority == m.prio && src.Compare(m.cfg.Addr) > 0 {
		// The tie is broken by the primary address, compared as an unsigned integer.
		m.master, m.masterPriority = src, adv.Priority
		if m.cfg.Version == V3 {
			m.masterInterval = adv.Interval
		}
		m.expect(now, src)
		why := fmt.Sprintf("higher priority %d from %s", adv.Priority, src)
		if !higher {
			why = fmt.Sprintf("equal priority %d from higher address %s", adv.Priority, src)
		}
		m.do(Action{Kind: SendAdvert, Priority: 0})
		m.do(Action{Kind: RemoveVIPs})
		m.enter(now, Backup, why)
		return
	}
	// RFC 9568 §6.4.3: discard it, and advertise at once to assert our state to the sender
	// and to learning bridges (at most once per answerGap).
	m.answer(now, src, adv.Priority)
}

// nextAdvert is when the Adver_Timer fires after an advert sent now: Advertisement_Interval
// later (RFC 5798 §6.4.3), or sooner, to fall on the Epoch's grid. Advertising sooner is always
// safe: backups only need an advert at least every interval.
func (m *Machine) nextAdvert(now time.Time) time.Time {
	next := now.Add(m.cfg.Interval)
	if m.cfg.Epoch.IsZero() || next.Before(m.cfg.Epoch) {
		return next
	}
	return next.Add(-next.Sub(m.cfg.Epoch) % m.cfg.Interval)
}

// answer asserts our state to another master, src at prio, and re-announces the VIPs to the
// clients that may have followed it, at most once per answerGap, and says whether it did; then
// the reassert hook may re-claim the address where announcing is not enough (a cloud's API).
// The burst sent on becoming master does not count: the other master may have announced after
// it, as when a split brain heals within a second.
func (m *Machine) answer(now time.Time, src netip.Addr, prio uint8) bool {
	if !m.lastAnswer.IsZero() && now.Sub(m.lastAnswer) < m.answerGap() {
		return false
	}
	m.lastAnswer = now
	m.do(Action{Kind: SendAdvert, Priority: m.prio})
	m.do(Action{Kind: Announce})
	if m.reasserted.IsZero() || now.Sub(m.reasserted) >= reassertGap {
		m.reasserted = now
		m.do(Action{Kind: Reassert, Reason: fmt.Sprintf("answered master %s, which advertised priority %d", src, prio)})
	}
	return true
}

// becomeMaster is the transition to Master of RFC 5798 §6.4.1 and §6.4.2: advertise, take the
// VIPs, announce them, and start the Adver_Timer. The VIPs are added before the GARP/NA burst,
// so that the clients it turns to us find the addresses already there.
func (m *Machine) becomeMaster(now time.Time, why string) {
	m.do(Action{Kind: SendAdvert, Priority: m.prio})
	m.do(Action{Kind: AddVIPs})
	m.do(Action{Kind: Announce})
	m.advertAt = m.nextAdvert(now)
	switch {
	case m.cfg.GARPDelay > 0:
		m.garpAt = now.Add(m.cfg.GARPDelay)
	case m.cfg.GARPRefresh > 0:
		m.garpAt = now.Add(m.cfg.GARPRefresh)
	default:
		m.garpAt = time.Time{}
	}
	m.lastAnswer, m.reasserted, m.preempted = time.Time{}, time.Time{}, netip.Addr{}
	m.master, m.masterPriority, m.masterInterval = m.cfg.Addr, m.prio, m.cfg.Interval
	m.enter(now, Master, why)
}

// SetPriority changes the effective priority, as trackers decide. The address owner's priority
// never changes. A master advertises its new priority at once, and the rules of RFC 5798 §6.4
// decide what follows.
func (m *Machine) SetPriority(now time.Time, prio uint8) []Action {
	m.out = m.out[:0]
	if m.cfg.Priority == 255 || prio == 0 || prio == m.prio {
		return m.out
	}
	m.prio = prio
	if m.state == Master {
		m.master, m.masterPriority = m.cfg.Addr, prio
		m.do(Action{Kind: SendAdvert, Priority: prio})
		m.advertAt = m.nextAdvert(now)
	}
	return m.out
}

// Fault takes the router out of the election: a tracked interface is down or a check with
// weight 0 failed. A master announces priority 0 and gives up its VIPs.
func (m *Machine) Fault(now time.Time, why string) []Action {
	m.out = m.out[:0]
	m.faulted = true
	switch m.state {
	case Initialize, Fault:
		m.reason = why // from Initialize, Startup enters FAULT with this reason
		return m.out
	case Master:
		m.do(Action{Kind: SendAdvert, Priority: 0})
		m.do(Action{Kind: RemoveVIPs})
	}
	m.enter(now, Fault, why)
	return m.out
}

// Recover lets the router take part again once every fault has cleared: it starts over as a
// backup (or as master, if it owns the address).
func (m *Machine) Recover(now time.Time, why string) []Action {
	m.out = m.out[:0]
	m.faulted = false
	if m.state == Fault {
		m.start(now, why)
	}
	return m.out
}

// Yielding reports whether the router is a backup that follows a live master because that
// master is better: higher or equal priority, or preempt is off. Its sync group siblings are
// then held, so the whole group stays with that master's host.
func (m *Machine) Yielding() bool {
	return m.state == Backup && m.master.IsValid() && (m.masterPriority >= m.prio || !m.preempts())
}

// Hold holds the router back from being master for its sync group (why says which sibling
// yields), or releases it when why is "". A held master steps down, sending priority 0 so that
// the other host takes over at once; a held backup does not preempt. It still takes over when
// Master_Down_Timer fires: a dead master is never waited for. On release, a backup that hears a
// lower-priority master preempts it after Skew_Time.
func (m *Machine) Hold(now time.Time, why string) []Action {
	m.out = m.out[:0]
	if why == m.held {
		return m.out
	}
	m.held = why
	switch {
	case why != "" && m.state == Master:
		m.stepDown(now, why)
	case why == "" && m.state == Backup && m.master.IsValid() && m.masterPriority < m.prio && m.preempts():
		m.downAt = now.Add(m.skewTime())
		m.down = downCause{kind: downRelease, src: m.master, theirs: m.masterPriority, ours: m.prio}
	}
	return m.out
}

// Yield makes a master step down at once (a drain with --force): it announces priority 0, so
// that a backup takes over after Skew_Time, gives up its VIPs and waits one Master_Down_Interval
// as a backup; if no router takes over by then, it becomes master again. Any other state is left
// as it is.
func (m *Machine) Yield(now time.Time, why string) []Action {
	m.out = m.out[:0]
	if m.state == Master {
		m.stepDown(now, why)
	}
	return m.out
}

// stepDown takes a master to BACKUP with priority 0, as RFC 5798 §6.4.3's Shutdown does, but
// waiting for a master instead of stopping.
func (m *Machine) stepDown(now time.Time, why string) {
	m.awaitMaster(now, "stepping down")
	m.do(Action{Kind: SendAdvert, Priority: 0})
	m.do(Action{Kind: RemoveVIPs})
	m.enter(now, Backup, why)
}

// Waiting says why an instance has not started yet (startup_delay), for its status.
func (m *Machine) Waiting(why string) {
	if m.state == Initialize {
		m.reason = why
	}
}

// downCause is why Master_Down_Timer is set. A backup resets the timer on every advert, so the
// reason is kept as values and written out only when a transition or `vrrpd status` needs it.
type downCause struct {
	kind         downKind
	src          netip.Addr    // the master it concerns
	d            time.Duration // Master_Down_Interval, Skew_Time, or preempt_delay
	theirs, ours uint8         // priorities, when preempting
	why          string        // downStart: what started the wait
}

type downKind uint8

const (
	downStart   downKind = iota // start-up, recovery, or stepping down: no master heard yet
	downSilent                  // the master we follow may fall silent
	downStopped                 // the master sent priority 0
	downPreempt                 // we preempt a lower-priority master
	downRelease                 // we preempt it once our sync group is whole
)

func (c downCause) String() string {
	switch c.kind {
	case downStart:
		return fmt.Sprintf("no master heard for %s (Master_Down_Interval) after %s", c.d, c.why)
	case downSilent:
		return fmt.Sprintf("no advertisement from %s for %s (Master_Down_Interval)", c.src, c.d)
	case downStopped:
		return fmt.Sprintf("master %s stopped (sent priority 0); took over after Skew_Time %s", c.src, c.d)
	}
	s := fmt.Sprintf("preempted master %s, whose priority %d is lower than ours (%d)", c.src, c.theirs, c.ours)
	if c.kind == downRelease {
		return s + ", once the sync group was whole"
	}
	if c.d > 0 {
		s += fmt.Sprintf(", after preempt_delay %s", c.d)
	}
	return s
}

// enter moves to state s and reports the transition.
func (m *Machine) enter(now time.Time, s State, why string) {
	from := m.state
	m.state, m.since, m.reason = s, now, why
	if s != Master {
		m.advertAt, m.garpAt = time.Time{}, time.Time{}
	}
	if s != Backup {
		m.downAt, m.preemptAt = time.Time{}, time.Time{}
	}
	if s == Initialize || s == Fault {
		m.master, m.masterPriority = netip.Addr{}, 0
	}
	m.do(Action{Kind: Transition, From: from, To: s, Reason: why})
}

func (m *Machine) do(a Action) { m.out = append(m.out, a) }

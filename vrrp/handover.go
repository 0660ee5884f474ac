package vrrp

import (
	"net/netip"
	"time"
)

// Restart in place (SPEC.md, SIGUSR2): the daemon executes its binary again in the same process,
// and hands its state across, so that the new image resumes where the old one stopped and no
// peer or client sees a transition. This file is what crosses: a Handover, written by Freeze and
// read by Resume.

// Handover is a frozen driver's state. Times in it are durations left from the moment it was
// frozen, which the caller stamps as At on a clock the new image shares (CLOCK_MONOTONIC), so
// that the new image, with its own clock, resumes every timer where it stood.
type Handover struct {
	At        time.Duration
	Instances []InstanceHandover
	Reports   []ReportHandover // the trackers' last reports, so that nothing waits for them again
}

// InstanceHandover is one instance: the configuration it ran, its machine and its counters.
type InstanceHandover struct {
	Config   InstanceConfig
	Src      netip.Addr // the advert source it resolved
	Machine  MachineState
	Counters Counters
}

// ReportHandover is one tracker's last report.
type ReportHandover struct {
	Key    TrackerKey
	Report Report
}

// MachineState is what a Machine needs to go on where another left off.
type MachineState struct {
	State          State
	Since          time.Time
	Reason         string
	Priority       uint8
	Faulted        bool
	Held           string
	Master         netip.Addr
	MasterPriority uint8
	MasterInterval time.Duration
	// The timers, as the time left when frozen; 0 means not armed, and a timer that is due is
	// left 1ns.
	Advert, GARP, Down, Preempt time.Duration
	DownCause                   DownCause
}

// DownCause is downCause, exported for the handover.
type DownCause struct {
	Kind         uint8
	Src          netip.Addr
	D            time.Duration
	Theirs, Ours uint8
	Why          string
}

// left is the time from now to t: 0 for no timer, at least 1ns for one that is due.
func left(now, t time.Time) time.Duration {
	if t.IsZero() {
		return 0
	}
	return max(t.Sub(now), 1)
}

// back is the time left d after now, shortened by elapsed; zero for no timer.
func back(now time.Time, d, elapsed time.Duration) time.Time {
	if d == 0 {
		return time.Time{}
	}
	return now.Add(d - elapsed)
}

// Save returns the machine's state, with its timers as the time left from now.
func (m *Machine) Save(now time.Time) MachineState {
	return MachineState{
		State: m.state, Since: m.since, Reason: m.reason, Priority: m.prio, Faulted: m.faulted, Held: m.held,
		Master: m.master, MasterPriority: m.masterPriority, MasterInterval: m.masterInterval,
		Advert: left(now, m.advertAt), GARP: left(now, m.garpAt), Down: left(now, m.downAt), Preempt: left(now, m.preemptAt),
		DownCause: DownCause{Kind: uint8(m.down.kind), Src: m.down.src, D: m.down.d, Theirs: m.down.theirs, Ours: m.down.ours, Why: m.down.why},
	}
}

// Restore puts a new machine (in Initialize) in the state another saved, elapsed after it saved
// it, as if it had been running all along: no transition, and the timers where they stood (a
// timer due by now fires at the next Tick). A master asks for its VIPs again, which are still
// there, unless someone removed them meanwhile; it does not announce them.
func (m *Machine) Restore(now time.Time, s MachineState, elapsed time.Duration) []Action {
	m.out = m.out[:0]
	m.state, m.since, m.reason, m.prio, m.faulted, m.held = s.State, s.Since, s.Reason, s.Priority, s.Faulted, s.Held
	m.master, m.masterPriority, m.masterInterval = s.Master, s.MasterPriority, s.MasterInterval
	m.advertAt, m.garpAt = back(now, s.Advert, elapsed), back(now, s.GARP, elapsed)
	m.downAt, m.preemptAt = back(now, s.Down, elapsed), back(now, s.Preempt, elapsed)
	c := s.DownCause
	m.down = downCause{kind: downKind(c.Kind), src: c.Src, d: c.D, theirs: c.Theirs, ours: c.Ours, why: c.Why}
	if m.masterInterval == 0 {
		m.masterInterval = m.cfg.Interval
	}
	if m.state == Master {
		m.do(Action{Kind: AddVIPs})
	}
	return m.out
}

// Freeze stops the driver without a word to the LAN, for a restart in place, and returns its
// state: unlike a shutdown, no master sends priority 0 or gives up its VIPs, and no transition
// is reported. The sockets close and Run returns; the caller must then execute the new image
// soon, within a Master_Down_Interval of its peers, or the backups take over.
func (d *Driver) Freeze() (*Handover, error) {
	var h Handover
	err := d.do(func() error {
		now := d.now()
		for _, in := range d.order {
			h.Instances = append(h.Instances, InstanceHandover{Config: in.cfg, Src: in.src, Machine: in.m.Save(now), Counters: in.cnt})
		}
		for k, r := range d.pol.reports {
			h.Reports = append(h.Reports, ReportHandover{Key: k, Report: r})
		}
		d.frozen = true
		return nil
	})
	if err != nil {
		return nil, err
	}
	<-d.done
	return &h, nil
}

// Resume makes the instances of a handover, elapsed after it was frozen, go on where they
// stood, when the first Apply starts them: those whose identity is unchanged (see Reload) are
// restored without a transition; the others start as usual. The trackers' reports count at once.
// Call it before the first Apply.
func (d *Driver) Resume(h *Handover, elapsed time.Duration) error {
	return d.do(func() error {
		d.resume, d.elapsed = map[string]*InstanceHandover{}, elapsed
		for i := range h.Instances {
			d.resume[h.Instances[i].Config.Name] = &h.Instances[i]
		}
		now := d.now()
		for _, r := range h.Reports {
			d.pol.Report(now, r.Key, r.Report)
		}
		return nil
	})
}

// restore restores a started instance from the handover, if it was handed over unchanged, and
// says whether it did.
func (d *Driver) restore(in *instance) bool {
	r := d.resume[in.cfg.Name]
	if r == nil {
		return false
	}
	delete(d.resume, in.cfg.Name)
	if _, restart := Reload(&r.Config, &in.cfg); restart {
		return false
	}
	if !in.cfg.Src.IsValid() && r.Src.IsValid() {
		in.src = r.Src
		in.m.SetAddr(r.Src)
	}
	in.cnt = r.Counters
	now := d.now()
	d.act(in, in.m.Restore(now, r.Machine, d.elapsed))
	d.tell(in, d.pol.Starting(in.cfg.Name), "restarted in place")
	d.opt.Log.Info("instance resumed", "instance", in.cfg.Name, "state", r.Machine.State.String(), "since", r.Machine.Since)
	return true
}

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"

	"github.com/vrrpd/vrrpd/test/lab"
)

// errNoFailover means the wire did not show the failover a trial waited for.
var errNoFailover = errors.New("no failover on the wire")

// scenario is how the master fails.
type scenario string

const (
	hostLoss scenario = "host loss"
	graceful scenario = "graceful"
)

// trial is what one failover showed. Times are kernel timestamps: the client's for the delay,
// lb2's own eth0 for the breakdown.
type trial struct {
	delay  time.Duration // client's wire: old master's last (host loss) or priority-0 (graceful) advert to new master's first GARP
	outage time.Duration // longest gap between the client's ping replies
	// The breakdown, from lb2's eth0.
	timerLate    time.Duration // from receiving the old master's advert to lb2's first own packet as master, less the ideal
	advertGARP   time.Duration // from lb2's first advert as master to its first GARP (negative: GARP first)
	garpWire     time.Duration // from lb2 sending its GARP to the client receiving it
	lastPrioZero bool          // host loss: the last advert the client saw from lb1 had priority 0 (lb1 saw its link go)
}

// failKey names one failover measurement.
type failKey struct {
	daemon   string
	scenario scenario
	interval time.Duration
}

// failResult is every trial of one measurement, with the ideal it is compared to.
type failResult struct {
	ideal  time.Duration
	trials []trial
	errs   []error
}

// failover runs every daemon through both scenarios at every interval.
func (b *bench) failover(ctx context.Context, res *results) {
	for _, d := range b.opt.intervals {
		for _, im := range b.imps {
			if ctx.Err() != nil {
				return
			}
			b.failoverPair(ctx, res, im, d)
		}
	}
}

// failoverPair runs the trials of both scenarios for one daemon at one interval, on one LAN.
func (b *bench) failoverPair(ctx context.Context, res *results, im *impl, interval time.Duration) {
	v := versionFor(interval)
	in := inst{name: "VI_1", iface: "eth0", vrid: 51, version: v, interval: interval, vips: []netip.Prefix{failVIP}}
	results := map[scenario]*failResult{
		hostLoss: {ideal: im.masterDown(v, prioBackup, interval)},
		graceful: {ideal: im.skew(v, prioBackup, interval)},
	}
	for s, r := range results {
		res.failover[failKey{im.name, s, interval}] = r
	}
	b.say("%s, VRRPv%d at %s: starting lb1 and lb2", im.name, v, interval)
	// No second GARP burst: the first one is what is measured, and a late burst from an earlier
	// trial must not be taken for the next trial's.
	p, err := b.newGroup(ctx, im, groupSpec{prios: []int{prioMaster, prioBackup}, insts: []inst{in}})
	if err != nil {
		for _, r := range results {
			r.errs = append(r.errs, err)
		}
		b.say("%s at %s: %v", im.name, interval, err)
		return
	}
	defer func() {
		if err := p.close(); err != nil {
			b.say("%s at %s: stopping: %v", im.name, interval, err)
		}
	}()
	for i := range b.opt.trials {
		for _, s := range []scenario{hostLoss, graceful} {
			if ctx.Err() != nil {
				return
			}
			r := results[s]
			t, err := p.trial(ctx, s, r.ideal)
			if err != nil {
				r.errs = append(r.errs, err)
				b.say("%s %s %s trial %d/%d: %v", im.name, s, interval, i+1, b.opt.trials, err)
			} else {
				r.trials = append(r.trials, t)
				b.say("%s %s %s trial %d/%d: %s (ideal %s%s); timer late %s, advert→GARP %s; client outage %s",
					im.name, s, interval, i+1, b.opt.trials, fmtDur(t.delay), fmtDur(r.ideal), ratioText(t.delay, r.ideal),
					fmtDur(t.timerLate), fmtDur(t.advertGARP), fmtDur(t.outage))
			}
			// Back to lb1 master, lb2 backup, whatever happened.
			if err := p.restore(ctx, s); err != nil {
				r.errs = append(r.errs, fmt.Errorf("restoring after %s: %w", s, err))
				b.say("%s %s: restoring after %s: %v", im.name, interval, s, err)
				return
			}
		}
	}
}

// trial fails lb1 one way and measures the failover to lb2.
func (p *group) trial(ctx context.Context, s scenario, ideal time.Duration) (trial, error) {
	in := p.insts[0]
	vip := in.vips[0].Addr()
	lb1, lb2 := nodePrefix(0, 0).Addr(), nodePrefix(1, 0).Addr()
	ping, err := lab.StartPinger(p.client, vip, 2*time.Millisecond)
	if err != nil {
		return trial{}, err
	}
	defer ping.Stop()
	if err := ping.WaitReply(time.Now(), 5*time.Second); err != nil {
		return trial{}, err
	}
	var caps [2]*follower // the client's wire, lb2's wire
	for i, h := range []*lab.Host{p.client, p.hosts[1]} {
		c, err := startCapture(h, "eth0")
		if err != nil {
			return trial{}, err
		}
		defer c.Close()
		caps[i] = &follower{c: c}
	}
	// Start from an advert of lb1 on both wires, so there is a last one on each: one the client
	// saw before lb2's capture began would leave lb2's empty, when lb1 fails within an interval.
	isLB1 := func(e lab.Event) bool { return e.Kind == lab.VRRP && e.IP == lb1 }
	for _, c := range caps {
		if _, err := c.until(ctx, time.Time{}, in.interval+2*time.Second, isLB1); err != nil {
			return trial{}, fmt.Errorf("no advert from lb1 before the trial: %w", err)
		}
	}

	t0 := time.Now()
	switch s {
	case hostLoss:
		err = p.hosts[0].Unplug()
	case graceful:
		p.procs[0].signal(syscall.SIGTERM)
	}
	if err != nil {
		return trial{}, err
	}
	garp, err := caps[0].until(ctx, t0, ideal+5*time.Second, isGARP(p.hosts[1].MAC, vip))
	if err != nil {
		return trial{}, fmt.Errorf("%w: no GARP from lb2 within %s of the failure", errNoFailover, ideal+5*time.Second)
	}
	// The client's outage ends with its first reply from lb2, a round trip after the GARP.
	_ = ping.WaitReply(garp.Time, 2*time.Second)
	stats := ping.Stop()
	// lb2's own copies of its first advert and GARP, and of the advert it last heard.
	_, err = caps[1].until(ctx, t0, time.Second, isGARP(p.hosts[1].MAC, vip))
	if err != nil {
		return trial{}, fmt.Errorf("lb2's capture: %w", err)
	}
	t, err := analyse(s, caps[0].events, caps[1].events, t0, lb1, lb2, p.hosts[1].MAC, vip, ideal)
	t.outage = stats.MaxGap
	return t, err
}

// analyse finds a trial's times in the client's and lb2's captures (events after t0 belong to
// the trial).
func analyse(s scenario, client, own []lab.Event, t0 time.Time, oldIP, newIP netip.Addr, newMAC net.HardwareAddr, vip netip.Addr, ideal time.Duration) (trial, error) {
	garp, ok := first(client, t0, isGARP(newMAC, vip))
	if !ok {
		return trial{}, fmt.Errorf("%w: the client saw no GARP from lb2", errNoFailover)
	}
	var t trial
	from, ok := lab.Event{}, false
	fromOld := func(e lab.Event) bool { return e.Kind == lab.VRRP && e.IP == oldIP }
	switch s {
	case hostLoss:
		from, ok = last(client, garp.Time, fromOld)
		t.lastPrioZero = ok && from.Priority == 0
	case graceful:
		from, ok = first(client, t0, func(e lab.Event) bool { return fromOld(e) && e.Priority == 0 })
	}
	if !ok || from.Time.After(garp.Time) {
		return trial{}, fmt.Errorf("%w: the client saw no advert from lb1 before lb2's GARP", errNoFailover)
	}
	t.delay = garp.Time.Sub(from.Time)

	ownGARP, ok1 := first(own, t0, isGARP(newMAC, vip))
	ownAdvert, ok2 := first(own, t0, func(e lab.Event) bool { return e.Kind == lab.VRRP && e.IP == newIP })
	if !ok1 || !ok2 {
		return trial{}, fmt.Errorf("%w: lb2's own capture lacks its advert (%v) or GARP (%v)", errNoFailover, ok2, ok1)
	}
	heard, ok := last(own, ownAdvert.Time, func(e lab.Event) bool {
		return fromOld(e) && (s == hostLoss || e.Priority == 0)
	})
	if !ok {
		return trial{}, fmt.Errorf("%w: lb2's capture has no advert from lb1 before its own", errNoFailover)
	}
	firstOut := ownAdvert.Time
	if ownGARP.Time.Before(firstOut) {
		firstOut = ownGARP.Time
	}
	t.timerLate = firstOut.Sub(heard.Time) - ideal
	t.advertGARP = ownGARP.Time.Sub(ownAdvert.Time)
	t.garpWire = garp.Time.Sub(ownGARP.Time)
	return t, nil
}

// restore brings the pair back to lb1 master, lb2 backup after a trial of s.
func (p *group) restore(ctx context.Context, s scenario) error {
	switch s {
	case hostLoss:
		if err := p.hosts[0].Plug(); err != nil {
			return err
		}
	case graceful:
		// Stopped by the trial, or now if the trial failed before it could.
		if err := p.procs[0].stop(10 * time.Second); err != nil && !isSignalExit(err) {
			return fmt.Errorf("lb1 did not stop cleanly: %w", err)
		}
		if err := p.startNode(0); err != nil {
			return err
		}
	}
	interval := p.insts[0].interval
	if err := p.waitSteady(ctx, 10*interval+10*time.Second, 0); err != nil {
		return err
	}
	// lb2 has heard lb1 for a few adverts: its Master_Down_Timer runs from lb1's latest.
	return sleep(ctx, 3*interval+250*time.Millisecond)
}

// isGARP matches a gratuitous ARP for vip from mac.
func isGARP(mac net.HardwareAddr, vip netip.Addr) func(lab.Event) bool {
	return func(e lab.Event) bool {
		return e.Kind == lab.GARP && e.IP == vip && bytes.Equal(e.MAC, mac)
	}
}

// first returns the earliest event at or after t that matches. Kernel timestamps need not
// be in capture order, so every event is looked at.
func first(events []lab.Event, t time.Time, match func(lab.Event) bool) (lab.Event, bool) {
	var out lab.Event
	found := false
	for _, e := range events {
		if !e.Time.Before(t) && match(e) && (!found || e.Time.Before(out.Time)) {
			out, found = e, true
		}
	}
	return out, found
}

// last returns the latest event before t that matches.
func last(events []lab.Event, t time.Time, match func(lab.Event) bool) (lab.Event, bool) {
	var out lab.Event
	found := false
	for _, e := range events {
		if e.Time.Before(t) && match(e) && (!found || e.Time.After(out.Time)) {
			out, found = e, true
		}
	}
	return out, found
}

// follower keeps everything a capture has recorded and waits for a frame cheaply: it copies
// only what is new.
type follower struct {
	c      *lab.Capture
	events []lab.Event
}

// until returns the earliest recorded frame at or after t that matches, waiting up to within
// for one.
func (f *follower) until(ctx context.Context, t time.Time, within time.Duration, match func(lab.Event) bool) (lab.Event, error) {
	deadline := time.Now().Add(within)
	// Only new frames need a look: had an older one matched, until would have returned.
	for seen := 0; ; {
		if e, ok := first(f.events[seen:], t, match); ok {
			return e, nil
		}
		left := time.Until(deadline)
		if left <= 0 {
			return lab.Event{}, fmt.Errorf("capture: %w after %s", lab.ErrTimeout, within)
		}
		if ctx.Err() != nil {
			return lab.Event{}, ctx.Err()
		}
		more, err := f.c.Since(len(f.events), min(left, 100*time.Millisecond))
		if err != nil && !errors.Is(err, lab.ErrTimeout) {
			return lab.Event{}, err
		}
		seen = len(f.events)
		f.events = append(f.events, more...)
	}
}

// follow calls each on every frame the capture has recorded, in the order they were read, and
// then on each new one as it comes, until each returns true; it waits up to within.
func (f *follower) follow(ctx context.Context, within time.Duration, each func(lab.Event) bool) error {
	deadline := time.Now().Add(within)
	for seen := 0; ; {
		for ; seen < len(f.events); seen++ {
			if each(f.events[seen]) {
				return nil
			}
		}
		left := time.Until(deadline)
		if left <= 0 {
			return fmt.Errorf("capture: %w after %s", lab.ErrTimeout, within)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		more, err := f.c.Since(len(f.events), min(left, 100*time.Millisecond))
		if err != nil && !errors.Is(err, lab.ErrTimeout) {
			return err
		}
		f.events = append(f.events, more...)
	}
}

// ratioText is ", ratio 1.0012", or nothing when the ideal is 0.
func ratioText(delay, ideal time.Duration) string {
	if ideal <= 0 {
		return ""
	}
	return fmt.Sprintf(", ratio %.4f", ratio(delay, ideal))
}

// ratio is delay / ideal; NaN-free: an ideal of 0 gives 0.
func ratio(delay, ideal time.Duration) float64 {
	if ideal <= 0 {
		return 0
	}
	return float64(delay) / float64(ideal)
}

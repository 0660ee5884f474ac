package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"time"

	"github.com/vrrpd/vrrpd/test/lab"
)

// The three-router scenario (issue 15): lb1 is master at 100, lb2 and lb3 back it up at 90 and
// 80. When lb1 goes, lb2's timer fires first and lb3 hears lb2 before its own fires, exactly when
// every priority gives its own Skew_Time.
var threePrios = []int{100, 90, 80}

// threeIntervals are the advert intervals it runs at.
var threeIntervals = []time.Duration{time.Second, 100 * time.Millisecond, 10 * time.Millisecond}

// threeKey names one daemon at one interval.
type threeKey struct {
	daemon   string
	interval time.Duration
}

// threeTrial is what the client's wire showed after lb1 was unplugged.
type threeTrial struct {
	masters []string      // the nodes that advertised or announced the VIP after lb1 went, by name
	delay   time.Duration // lb1's last advert to lb2's first gratuitous ARP; 0 if lb2 sent none
}

// clean is a takeover by lb2, the 90, alone.
func (t threeTrial) clean() bool { return slices.Equal(t.masters, []string{"lb2"}) }

// threeResult is every trial of one daemon at one interval.
type threeResult struct {
	ideal   time.Duration // lb2's Master_Down_Interval
	trials  []threeTrial
	errs    []error // of failed trials
	stopped error   // why the trials stopped early, if they did
}

// threeRouters runs every daemon through the scenario at every interval.
func (b *bench) threeRouters(ctx context.Context, res *results) {
	for _, d := range threeIntervals {
		for _, im := range b.imps {
			if ctx.Err() != nil {
				return
			}
			r := &threeResult{ideal: im.masterDown(versionFor(d), uint8(threePrios[1]), d)}
			res.three[threeKey{im.name, d}] = r
			b.threeAt(ctx, im, d, r)
		}
	}
}

// threeAt runs the trials of one daemon at one interval, on one LAN.
func (b *bench) threeAt(ctx context.Context, im *impl, d time.Duration, r *threeResult) {
	v := versionFor(d)
	b.say("%s, three routers, VRRPv%d at %s: starting lb1, lb2 and lb3", im.name, v, d)
	in := inst{name: "VI_1", iface: "eth0", vrid: 51, version: v, interval: d, vips: []netip.Prefix{failVIP}}
	g, err := b.newGroup(ctx, im, groupSpec{prios: threePrios, insts: []inst{in}})
	if err != nil {
		r.stopped = err
		b.say("%s, three routers at %s: %v", im.name, d, err)
		return
	}
	defer func() {
		if err := g.close(); err != nil {
			b.say("%s, three routers at %s: stopping: %v", im.name, d, err)
		}
	}()
	// lb3 would have fired by its own Master_Down_Interval after lb1's last advert.
	lastFire := im.masterDown(v, uint8(threePrios[2]), d)
	for i := range b.opt.edgeTrials {
		if ctx.Err() != nil {
			return
		}
		t, err := g.threeTrial(ctx, r.ideal, lastFire)
		if err != nil {
			r.errs = append(r.errs, err)
			b.say("%s three routers %s trial %d/%d: %v", im.name, d, i+1, b.opt.edgeTrials, err)
		} else {
			r.trials = append(r.trials, t)
			b.say("%s three routers %s trial %d/%d: masters %v; lb2 after %s (ideal %s%s)", im.name, d, i+1, b.opt.edgeTrials,
				t.masters, fmtDur(t.delay), fmtDur(r.ideal), ratioText(t.delay, r.ideal))
		}
		if err := g.restore(ctx, hostLoss); err != nil {
			r.stopped = fmt.Errorf("restoring: %w", err)
			b.say("%s three routers %s: %v", im.name, d, r.stopped)
			return
		}
	}
}

// threeTrial unplugs lb1 and watches the client's wire until lb3's timer would have fired too.
func (g *group) threeTrial(ctx context.Context, ideal, lastFire time.Duration) (threeTrial, error) {
	in := g.insts[0]
	vip := in.vips[0].Addr()
	macs := make([]net.HardwareAddr, len(g.hosts))
	for i, h := range g.hosts {
		macs[i] = h.MAC
	}
	c, err := startCapture(g.client, "eth0")
	if err != nil {
		return threeTrial{}, err
	}
	defer c.Close()
	f := &follower{c: c}
	fromLB1 := func(e lab.Event) bool { return e.Kind == lab.VRRP && bytes.Equal(e.Src, macs[0]) }
	if _, err := f.until(ctx, time.Time{}, in.interval+2*time.Second, fromLB1); err != nil {
		return threeTrial{}, fmt.Errorf("no advert from lb1 before the trial: %w", err)
	}
	t0 := time.Now()
	if err := g.hosts[0].Unplug(); err != nil {
		return threeTrial{}, err
	}
	announced := func(e lab.Event) bool { return e.Kind == lab.GARP && e.IP == vip && !bytes.Equal(e.MAC, macs[0]) }
	if _, err := f.until(ctx, t0, ideal+5*time.Second, announced); err != nil {
		return threeTrial{}, fmt.Errorf("%w: no GARP within %s of the failure", errNoFailover, ideal+5*time.Second)
	}
	// lb1's last advert was before t0; give a late timer an interval and 200ms more.
	if err := sleep(ctx, time.Until(t0.Add(lastFire+in.interval+200*time.Millisecond))); err != nil {
		return threeTrial{}, err
	}
	if err := dropped(c, "the client's"); err != nil {
		return threeTrial{}, err
	}
	return analyseThree(c.Events(), t0, macs, vip)
}

// analyseThree finds, in the client's capture, which nodes took over after t0 (an advert or a
// GARP for vip from them) and how long lb2 took: from lb1's (macs[0]) last advert to lb2's
// (macs[1]) first GARP.
func analyseThree(events []lab.Event, t0 time.Time, macs []net.HardwareAddr, vip netip.Addr) (threeTrial, error) {
	var t threeTrial
	for i, mac := range macs[1:] {
		if _, ok := first(events, t0, func(e lab.Event) bool {
			return e.Kind == lab.VRRP && bytes.Equal(e.Src, mac) || isGARP(mac, vip)(e)
		}); ok {
			t.masters = append(t.masters, fmt.Sprintf("lb%d", i+2))
		}
	}
	if len(t.masters) == 0 {
		return t, fmt.Errorf("%w: no router took over", errNoFailover)
	}
	if garp, ok := first(events, t0, isGARP(macs[1], vip)); ok {
		from, ok := last(events, garp.Time, func(e lab.Event) bool { return e.Kind == lab.VRRP && bytes.Equal(e.Src, macs[0]) })
		if !ok {
			return t, fmt.Errorf("%w: the client saw no advert from lb1 before lb2's GARP", errNoFailover)
		}
		t.delay = garp.Time.Sub(from.Time)
	}
	return t, nil
}

// dropped is an error if the capture's kernel buffer overflowed: its frames are not the wire's.
func dropped(c *lab.Capture, whose string) error {
	n, err := c.Drops()
	if err != nil {
		return err
	}
	if n > 0 {
		return fmt.Errorf("%s capture dropped %d frames", whose, n)
	}
	return nil
}

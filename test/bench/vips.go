package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"time"

	"github.com/vrrpd/vrrpd/test/lab"
	"golang.org/x/sys/unix"
)

// The thousand-VIP scenario (issue 15): one instance with 1000 VIPs, lb1 master, lb2 backup;
// lb1's switch port goes down, and the client's wire shows when lb2 announces the first VIP and
// when the last.
const manyVIPsCount = 1000

// vipsIntervals are the advert intervals it runs at.
var vipsIntervals = []time.Duration{time.Second, 100 * time.Millisecond}

// manyVIPs returns n /32 VIPs, 250 to a /24: 10.0.64.1 to 10.0.64.250, 10.0.65.1, ...
func manyVIPs(n int) []netip.Prefix {
	out := make([]netip.Prefix, n)
	for i := range out {
		out[i] = netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 0, byte(64 + i/250), byte(1 + i%250)}), 32)
	}
	return out
}

// vipsKey names one daemon at one interval.
type vipsKey struct {
	daemon   string
	interval time.Duration
}

// vipsTrial is one takeover on the client's wire, from lb1's last advert.
type vipsTrial struct {
	first, last time.Duration // to lb2's first GARP, and to its first GARP for the last VIP it announced
	advert      time.Duration // to lb2's first advert
	garps       int           // lb2's GARPs up to the last VIP's first
	advertised  int           // the addresses lb2's first advert listed
}

// vipsResult is every trial of one daemon at one interval.
type vipsResult struct {
	ideal   time.Duration // lb2's Master_Down_Interval
	trials  []vipsTrial
	errs    []error // of failed trials
	stopped error   // why the trials stopped early, if they did
}

// manyVIPs runs every daemon through the scenario at every interval.
func (b *bench) manyVIPs(ctx context.Context, res *results) {
	for _, d := range vipsIntervals {
		for _, im := range b.imps {
			if ctx.Err() != nil {
				return
			}
			r := &vipsResult{ideal: im.masterDown(versionFor(d), prioBackup, d)}
			res.vips[vipsKey{im.name, d}] = r
			b.vipsAt(ctx, im, d, r)
		}
	}
}

// vipsAt runs the trials of one daemon at one interval, on one LAN.
func (b *bench) vipsAt(ctx context.Context, im *impl, d time.Duration, r *vipsResult) {
	v := versionFor(d)
	b.say("%s, %d VIPs, VRRPv%d at %s: starting lb1 and lb2", im.name, manyVIPsCount, v, d)
	in := inst{name: "VI_1", iface: "eth0", vrid: 51, version: v, interval: d, vips: manyVIPs(manyVIPsCount)}
	// No second GARP burst: a late one must not be taken for the next trial's.
	g, err := b.newGroup(ctx, im, groupSpec{prios: []int{prioMaster, prioBackup}, insts: []inst{in}})
	if err != nil {
		r.stopped = err
		b.say("%s, %d VIPs at %s: %v", im.name, manyVIPsCount, d, err)
		return
	}
	defer func() {
		if err := g.close(); err != nil {
			b.say("%s, %d VIPs at %s: stopping: %v", im.name, manyVIPsCount, d, err)
		}
	}()
	for i := range b.opt.edgeTrials {
		if ctx.Err() != nil {
			return
		}
		t, err := g.vipsTrial(ctx, r.ideal)
		if err != nil {
			r.errs = append(r.errs, err)
			b.say("%s %d VIPs %s trial %d/%d: %v", im.name, manyVIPsCount, d, i+1, b.opt.edgeTrials, err)
		} else {
			r.trials = append(r.trials, t)
			b.say("%s %d VIPs %s trial %d/%d: first %s, last %s (ideal %s: %.4f, %.4f) after %d GARPs; lb2's first advert at %s lists %d",
				im.name, manyVIPsCount, d, i+1, b.opt.edgeTrials, fmtDur(t.first), fmtDur(t.last), fmtDur(r.ideal),
				ratio(t.first, r.ideal), ratio(t.last, r.ideal), t.garps, fmtDur(t.advert), t.advertised)
		}
		if err := g.restore(ctx, hostLoss); err != nil {
			r.stopped = fmt.Errorf("restoring: %w", err)
			b.say("%s %d VIPs %s: %v", im.name, manyVIPsCount, d, r.stopped)
			return
		}
	}
}

// vipsTrial unplugs lb1 and follows the client's wire until lb2 has announced every VIP.
func (g *group) vipsTrial(ctx context.Context, ideal time.Duration) (vipsTrial, error) {
	in := g.insts[0]
	lb1, lb2 := g.hosts[0].MAC, g.hosts[1].MAC
	c, err := startCapture(g.client, "eth0")
	if err != nil {
		return vipsTrial{}, err
	}
	defer c.Close()
	f := &follower{c: c}
	fromLB1 := func(e lab.Event) bool { return e.Kind == lab.VRRP && bytes.Equal(e.Src, lb1) }
	if _, err := f.until(ctx, time.Time{}, in.interval+2*time.Second, fromLB1); err != nil {
		return vipsTrial{}, fmt.Errorf("no advert from lb1 before the trial: %w", err)
	}
	t0 := time.Now()
	if err := g.hosts[0].Unplug(); err != nil {
		return vipsTrial{}, err
	}
	vips := make(map[netip.Addr]bool, len(in.vips))
	for _, v := range in.vips {
		vips[v.Addr()] = true
	}
	seen := map[netip.Addr]bool{}
	within := ideal + 10*time.Second
	err = f.follow(ctx, within, func(e lab.Event) bool {
		if e.Kind == lab.GARP && bytes.Equal(e.MAC, lb2) && vips[e.IP] && !e.Time.Before(t0) {
			seen[e.IP] = true
		}
		return len(seen) == len(vips)
	})
	if err != nil {
		return vipsTrial{}, fmt.Errorf("%w: lb2 announced %d of %d VIPs within %s of the failure", errNoFailover, len(seen), len(vips), within)
	}
	// lb2's first advert, which may follow its GARPs.
	fromLB2 := func(e lab.Event) bool { return e.Kind == lab.VRRP && bytes.Equal(e.Src, lb2) }
	if _, err := f.until(ctx, t0, in.interval+time.Second, fromLB2); err != nil {
		return vipsTrial{}, fmt.Errorf("%w: no advert from lb2", errNoFailover)
	}
	if err := dropped(c, "the client's"); err != nil {
		return vipsTrial{}, err
	}
	return analyseVIPs(f.events, t0, lb1, lb2, in.vips)
}

// analyseVIPs finds, in the client's capture, lb2's announcements after t0: from lb1's last
// advert before lb2's first GARP, to that GARP (first) and to the first GARP for the last of
// vips to be announced (last). Every VIP must have been announced.
func analyseVIPs(events []lab.Event, t0 time.Time, lb1, lb2 net.HardwareAddr, vips []netip.Prefix) (vipsTrial, error) {
	want := make(map[netip.Addr]bool, len(vips))
	for _, v := range vips {
		want[v.Addr()] = true
	}
	var garps []lab.Event
	for _, e := range events {
		if e.Kind == lab.GARP && bytes.Equal(e.MAC, lb2) && want[e.IP] && !e.Time.Before(t0) {
			garps = append(garps, e)
		}
	}
	// Kernel timestamps need not follow capture order.
	slices.SortStableFunc(garps, func(a, b lab.Event) int { return a.Time.Compare(b.Time) })
	seen := map[netip.Addr]bool{}
	var lastNew time.Time
	var t vipsTrial
	for i, e := range garps {
		if !seen[e.IP] {
			seen[e.IP], lastNew, t.garps = true, e.Time, i+1
		}
	}
	if len(seen) < len(want) {
		return vipsTrial{}, fmt.Errorf("%w: lb2 announced %d of %d VIPs", errNoFailover, len(seen), len(want))
	}
	from, ok := last(events, garps[0].Time, func(e lab.Event) bool { return e.Kind == lab.VRRP && bytes.Equal(e.Src, lb1) })
	if !ok {
		return vipsTrial{}, fmt.Errorf("%w: the client saw no advert from lb1 before lb2's GARP", errNoFailover)
	}
	t.first, t.last = garps[0].Time.Sub(from.Time), lastNew.Sub(from.Time)
	adv, ok := first(events, t0, func(e lab.Event) bool { return e.Kind == lab.VRRP && bytes.Equal(e.Src, lb2) })
	if !ok {
		return vipsTrial{}, fmt.Errorf("%w: the client saw no advert from lb2", errNoFailover)
	}
	t.advert, t.advertised = adv.Time.Sub(from.Time), advertCount(adv.Frame)
	return t, nil
}

// advertCount is the Count IPvX Addr field of the VRRP message in an Ethernet frame, or -1 if the
// frame holds none (RFC 5798 §5.2.5, RFC 3768 §5.3.5: the message's fourth byte).
func advertCount(frame []byte) int {
	if len(frame) < 14 {
		return -1
	}
	p := frame[14:]
	var msg []byte
	switch binary.BigEndian.Uint16(frame[12:14]) {
	case unix.ETH_P_IP:
		if len(p) >= 20 && p[0]>>4 == 4 && p[9] == 112 {
			if ihl := int(p[0]&0x0f) * 4; ihl >= 20 && len(p) >= ihl+4 {
				msg = p[ihl:]
			}
		}
	case unix.ETH_P_IPV6:
		if len(p) >= 44 && p[0]>>4 == 6 && p[6] == 112 {
			msg = p[40:]
		}
	}
	if msg == nil {
		return -1
	}
	return int(msg[3])
}

package main

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"syscall"
	"time"

	"github.com/vrrpd/vrrpd/test/lab"
)

// reloadWindow is how long the reload scenario watches lb1's adverts before the SIGHUP, and
// after the change it made shows on the wire.
const reloadWindow = 5 * time.Second

// reloadResult is one daemon's reload (SIGHUP) of the 1020-instance configuration on lb1, the
// master, with one instance's priority changed.
type reloadResult struct {
	steady, busy time.Duration // the largest lateness of lb1's adverts: before the SIGHUP, and from it on
	applied      time.Duration // from the SIGHUP to lb1's first advert at the new priority
	adverts      int           // lb1's adverts looked at
	flaps        int           // transitions either node logged from the SIGHUP on
	wrong        int           // instances not in their roles at the end
	err          error
}

// scale runs the 1020-instance pair of each daemon once, for its cost, its reload, or both.
func (b *bench) scale(ctx context.Context, res *results, cost, reload bool) {
	res.scaled = true
	cc := scaleCost()
	for _, im := range b.imps {
		if ctx.Err() != nil {
			return
		}
		g, err := b.costGroup(ctx, im, cc)
		if err != nil {
			b.say("%s, %s: %v", im.name, cc, err)
			if cost {
				res.cost[costKey{im.name, cc.instances}] = &costResult{total: cc.instances, err: err}
			}
			if reload {
				res.reload[im.name] = &reloadResult{err: err}
			}
			continue
		}
		if cost {
			res.cost[costKey{im.name, cc.instances}] = b.cost(ctx, g, cc)
		}
		if reload && ctx.Err() == nil {
			r := g.reload(ctx)
			res.reload[im.name] = r
			if r.err != nil {
				b.say("%s, reload of %s: %v", im.name, cc, r.err)
			} else {
				b.say("%s, reload of %s: on the wire after %s; largest advert lateness %s (steady %s) over %d adverts; %d transitions, %d instances in the wrong state",
					im.name, cc, fmtDur(r.applied), fmtDur(r.busy), fmtDur(r.steady), r.adverts, r.flaps, r.wrong)
			}
		}
		if err := g.close(); err != nil {
			b.say("%s, %s: stopping: %v", im.name, cc, err)
		}
	}
}

// reload captures lb1's adverts on lb2's side of every LAN, steady for reloadWindow, then
// through a SIGHUP to lb1 with the first instance's priority one higher, until reloadWindow
// after that change is on the wire.
func (g *group) reload(ctx context.Context) *reloadResult {
	r := &reloadResult{}
	var caps []*lab.Capture
	defer func() {
		for _, c := range caps {
			c.Close()
		}
	}()
	for k := range g.lans {
		c, err := startCapture(g.hosts[1], fmt.Sprintf("eth%d", k))
		if err != nil {
			r.err = err
			return r
		}
		caps = append(caps, c)
	}
	if r.err = sleep(ctx, reloadWindow); r.err != nil {
		return r
	}
	var before [2]peerView
	for i := range before {
		if before[i], r.err = g.view(i); r.err != nil {
			return r
		}
	}
	changedIn := g.insts[0] // on eth0
	conf := g.confs[0]
	conf.prios = map[string]int{changedIn.name: conf.prio + 1}
	if r.err = os.WriteFile(g.procs[0].confPath, []byte(g.im.conf(conf)), 0o644); r.err != nil {
		return r
	}
	g.confs[0] = conf
	hup := time.Now()
	g.procs[0].signal(syscall.SIGHUP)

	lb1 := nodePrefix(0, 0).Addr() // on eth0, the first instance's LAN
	f := &follower{c: caps[0]}
	e, err := f.until(ctx, hup, 30*time.Second, func(e lab.Event) bool {
		return e.Kind == lab.VRRP && e.IP == lb1 && int(e.VRID) == changedIn.vrid && int(e.Priority) == conf.prio+1
	})
	if err != nil {
		r.err = fmt.Errorf("no advert of %s at priority %d from lb1 within 30s of the SIGHUP: %w", changedIn.name, conf.prio+1, err)
		return r
	}
	r.applied = e.Time.Sub(hup)
	if r.err = sleep(ctx, reloadWindow); r.err != nil {
		return r
	}
	for i, c := range caps {
		if r.err = dropped(c, "lb2's"); r.err != nil {
			return r
		}
		steady, busy, n := lateness(c.Events(), nodePrefix(0, i).Addr(), changedIn.interval, hup)
		r.steady, r.busy, r.adverts = max(r.steady, steady), max(r.busy, busy), r.adverts+n
	}
	for i := range before {
		after, err := g.view(i)
		if err != nil {
			r.err = err
			return r
		}
		n, _ := changed(before[i], after)
		r.flaps += n
	}
	r.wrong, r.err = g.wrongStates(0)
	return r
}

// lateness is, over the adverts from src in a capture, the largest amount by which the gap
// between two consecutive adverts of one VRID exceeded interval: among the gaps that end before
// split (steady) and those that end at or after it (busy). n counts the adverts.
func lateness(events []lab.Event, src netip.Addr, interval time.Duration, split time.Time) (steady, busy time.Duration, n int) {
	byVRID := map[uint8][]time.Time{}
	for _, e := range events {
		if e.Kind == lab.VRRP && e.IP == src {
			byVRID[e.VRID] = append(byVRID[e.VRID], e.Time)
			n++
		}
	}
	for _, ts := range byVRID {
		slices.SortFunc(ts, time.Time.Compare)
		for k := 1; k < len(ts); k++ {
			late := ts[k].Sub(ts[k-1]) - interval
			if ts[k].Before(split) {
				steady = max(steady, late)
			} else {
				busy = max(busy, late)
			}
		}
	}
	return steady, busy, n
}

package vrrp

import (
	"fmt"
	"net/netip"
	"slices"
	"time"
)

// probeAgain is how often a master probes again while another host answers for its VIPs.
const probeAgain = 10 * time.Second

// probes are the duplicate-VIP probes the driver owes: which masters to probe, and when. One
// goroutine runs them, an interface at a time with every due master's VIPs at once, so that a
// host whose 200 instances become master together sends one probe, not 200.
type probes struct {
	due     map[*instance]time.Time
	running bool // the prober goroutine runs
}

// probe asks, in the background, who else answers for a master's VIPs.
func (d *Driver) probe(in *instance) {
	if d.opt.Probe == nil || in.m.State() != Master {
		return
	}
	if d.probes.due == nil {
		d.probes.due = map[*instance]time.Time{}
	}
	if _, queued := d.probes.due[in]; queued {
		return
	}
	d.probes.due[in] = time.Time{}
	if !d.probes.running {
		d.probes.running = true
		d.wg.Add(1)
		go d.prober()
	}
}

// prober runs the probes that are due, until none is left to run.
func (d *Driver) prober() {
	defer d.wg.Done()
	for {
		var work map[string][]*instance
		var next time.Time
		if d.do(func() error { work, next = d.takeProbes(); return nil }) != nil {
			return
		}
		if len(work) == 0 && next.IsZero() {
			return // nothing left; takeProbes has marked the prober stopped
		}
		for ifname, masters := range work {
			var vips []netip.Prefix
			for _, in := range masters {
				vips = append(vips, in.cfg.VIPs...)
			}
			dups := d.opt.Probe(ifname, vips)
			if d.do(func() error { d.probed(masters, dups); return nil }) != nil {
				return
			}
		}
		if len(work) == 0 {
			select {
			case <-d.stop:
				return
			case <-time.After(time.Until(next)):
			}
		}
	}
}

// takeProbes removes the due probes from the queue, by interface, and says when the next one is
// due. With nothing queued it stops the prober.
func (d *Driver) takeProbes() (map[string][]*instance, time.Time) {
	now := d.opt.Now()
	work := map[string][]*instance{}
	var next time.Time
	for in, at := range d.probes.due {
		switch {
		case d.byNm[in.cfg.Name] != in || in.m.State() != Master:
			delete(d.probes.due, in)
		case !at.After(now):
			delete(d.probes.due, in)
			work[in.cfg.Interface] = append(work[in.cfg.Interface], in)
		case next.IsZero() || at.Before(next):
			next = at
		}
	}
	if len(work) == 0 && next.IsZero() {
		d.probes.running = false
	}
	return work, next
}

// probed records what a probe found for each master, and probes again after probeAgain while
// another host still answers for its VIPs.
func (d *Driver) probed(masters []*instance, dups []Duplicate) {
	for _, in := range masters {
		if d.byNm[in.cfg.Name] != in || in.m.State() != Master {
			continue
		}
		var mine []Duplicate
		for _, dup := range dups {
			if !in.cfg.hasVIP(dup.VIP) {
				continue
			}
			mine = append(mine, dup)
			if !slices.Contains(in.cnt.Duplicates, dup) {
				d.opt.Log.Warn(fmt.Sprintf("duplicate VIP %s answered by %s: another host still holds it", dup.VIP, dup.MAC),
					"instance", in.cfg.Name, "vrid", in.cfg.VRID)
			}
		}
		if len(mine) == 0 && len(in.cnt.Duplicates) > 0 {
			d.opt.Log.Info("no other host answers for the VIPs any more", "instance", in.cfg.Name, "vrid", in.cfg.VRID)
		}
		in.cnt.Duplicates = mine
		if len(mine) > 0 {
			d.probes.due[in] = d.opt.Now().Add(probeAgain)
		}
	}
}

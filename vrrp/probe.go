package vrrp

import (
	"fmt"
	"slices"
	"time"

	"github.com/vrrpd/vrrpd/vip"
)

// probeAgain is how often a master probes again while another host answers for its VIPs.
const probeAgain = 10 * time.Second

// probes are the duplicate-VIP probes the driver owes: which masters to probe, and when. One
// goroutine at a time runs those that are due, every due master's addresses at once, so that a
// host whose instances become master together sends one probe, not one for each. Run starts it
// when the earliest is due.
type probes struct {
	due     map[*instance]time.Time
	running bool      // a probe goroutine runs: it reports back before the next starts
	next    time.Time // the earliest due, while none runs; zero if none
}

// probe asks, in the background and at once, who else answers for a master's VIPs.
func (d *Driver) probe(in *instance) {
	if d.opt.Probe == nil || in.m.State() != Master {
		return
	}
	if d.probes.due == nil {
		d.probes.due = map[*instance]time.Time{}
	}
	if _, queued := d.probes.due[in]; !queued {
		d.probes.due[in] = d.now()
		d.probes.reschedule()
	}
}

// reschedule sets next to the earliest due probe, unless one runs.
func (p *probes) reschedule() {
	p.next = time.Time{}
	if p.running {
		return
	}
	for _, at := range p.due {
		if p.next.IsZero() || at.Before(p.next) {
			p.next = at
		}
	}
}

// startProbes starts a goroutine that runs the probes due by now, and reports what it found. It
// probes a copy of the masters' addresses, taken here: a reload may change theirs meanwhile.
func (d *Driver) startProbes(now time.Time) {
	var masters []*instance
	var addrs []vip.Addr
	for in, at := range d.probes.due {
		switch {
		case d.byNm[in.cfg.Name] != in || in.m.State() != Master:
			delete(d.probes.due, in)
		case !at.After(now):
			delete(d.probes.due, in)
			masters = append(masters, in)
			addrs = append(addrs, in.addrs...)
		}
	}
	if len(masters) == 0 {
		d.probes.reschedule()
		return
	}
	d.probes.running = true
	d.probes.reschedule()
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		found := d.opt.Probe(addrs)
		d.do(func() error {
			d.probes.running = false
			d.probed(masters, found)
			d.probes.reschedule()
			return nil
		})
	}()
}

// probed records what a probe found for each master, and probes again after probeAgain while
// another host still answers for its VIPs.
func (d *Driver) probed(masters []*instance, dups []vip.Duplicate) {
	for _, in := range masters {
		if d.byNm[in.cfg.Name] != in || in.m.State() != Master {
			continue
		}
		var mine []vip.Duplicate
		for _, dup := range dups {
			if !in.cfg.hasVIP(dup.VIP) {
				continue
			}
			mine = append(mine, dup)
			// Once per VIP while others answer for it, however many do: a host spraying
			// replies from a thousand MACs makes one line, with their number.
			if !slices.ContainsFunc(in.cnt.Duplicates, func(o vip.Duplicate) bool { return o.VIP == dup.VIP }) {
				d.opt.Log.Warn(fmt.Sprintf("duplicate VIP %s answered by %s: another host still holds it", dup.VIP, dup.AnsweredBy()),
					"instance", in.cfg.Name, "vrid", in.cfg.VRID)
			}
		}
		if len(mine) == 0 && len(in.cnt.Duplicates) > 0 {
			d.opt.Log.Info("no other host answers for the VIPs any more", "instance", in.cfg.Name, "vrid", in.cfg.VRID)
		}
		in.cnt.Duplicates = mine
		if len(mine) > 0 {
			d.probes.due[in] = d.now().Add(probeAgain)
		}
	}
}

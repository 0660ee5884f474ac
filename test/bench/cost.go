package main

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/vrrpd/vrrpd/vrrp"
)

// costKey names one steady-state measurement.
type costKey struct {
	daemon    string
	instances int
}

// costCase is one steady-state setting of the issue.
type costCase struct {
	instances int
	version   vrrp.Version
	interval  time.Duration
}

// costCases are the issue's: one instance at 1s (VRRPv2, the classic keepalived pair), and 200
// instances at 100ms (VRRPv3) on one interface.
func costCases() []costCase {
	return []costCase{
		{instances: 1, version: vrrp.V2, interval: time.Second},
		{instances: 200, version: vrrp.V3, interval: 100 * time.Millisecond},
	}
}

// costResult is one daemon's steady state on master (0) and backup (1).
type costResult struct {
	cpu   [2]float64 // CPU seconds per second, over the window
	rss   [2]uint64  // peak RSS in bytes; a process tree summed
	procs [2]int     // processes in each tree
	wrong int        // instances not in their expected state at the end
	total int
	err   error
}

// costs measures every daemon in every cost case, one at a time.
func (b *bench) costs(ctx context.Context, res *results) {
	for _, cc := range costCases() {
		for _, im := range b.imps {
			if ctx.Err() != nil {
				return
			}
			r := b.cost(ctx, im, cc)
			res.cost[costKey{im.name, cc.instances}] = r
			if r.err != nil {
				b.say("%s, %d instances: %v", im.name, cc.instances, r.err)
				continue
			}
			b.say("%s, %d instance%s at %s: CPU %.4f / %.4f s/s, peak RSS %s / %s (master / backup), %d of %d in the wrong state",
				im.name, cc.instances, plural(cc.instances), cc.interval, r.cpu[0], r.cpu[1], mib(r.rss[0]), mib(r.rss[1]), r.wrong, r.total)
		}
	}
}

// cost runs one daemon pair with the case's instances, lets it settle, and measures it over the
// window.
func (b *bench) cost(ctx context.Context, im *impl, cc costCase) *costResult {
	r := &costResult{total: cc.instances}
	insts := make([]inst, cc.instances)
	for i := range insts {
		vip := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 0, 5, byte(i + 1)}), 32)
		if cc.instances == 1 {
			vip = failVIP
		}
		insts[i] = inst{name: fmt.Sprintf("VI_%d", i+1), vrid: i + 1, version: cc.version, interval: cc.interval, vip: vip}
	}
	b.say("%s, %d instance%s at %s (VRRPv%d): starting lb1 and lb2", im.name, cc.instances, plural(cc.instances), cc.interval, cc.version)
	// The daemons' default second GARP burst, 5s after becoming master; the settling time
	// covers it.
	p, err := b.newPair(ctx, im, insts, 5*time.Second)
	if err != nil {
		r.err = err
		return r
	}
	defer func() {
		if err := p.close(); err != nil {
			b.say("%s, %d instances: stopping: %v", im.name, cc.instances, err)
		}
	}()
	if r.err = sleep(ctx, b.opt.settle); r.err != nil {
		return r
	}
	var ids [2][]procID
	var before [2]time.Duration
	for i, pr := range p.procs {
		ids[i] = pr.pids()
		if before[i], r.err = cpuTime(ids[i]); r.err != nil {
			return r
		}
	}
	start := time.Now()
	if r.err = sleep(ctx, b.opt.window); r.err != nil {
		return r
	}
	for i := range p.procs {
		after, err := cpuTime(ids[i])
		if err != nil {
			r.err = err
			return r
		}
		r.cpu[i] = (after - before[i]).Seconds() / time.Since(start).Seconds()
		if r.rss[i], r.err = peakRSS(ids[i]); r.err != nil {
			return r
		}
		r.procs[i] = len(ids[i])
	}
	r.wrong, r.err = p.wrongStates()
	return r
}

// mib formats bytes in MiB.
func mib(n uint64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

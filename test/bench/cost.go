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

// costCase is one steady-state setting of the issues.
type costCase struct {
	instances int
	version   vrrp.Version
	interval  time.Duration
	lans      int // the instances are spread over this many LANs, 255 at most on each
}

// smallCosts are issue 7's: one instance at 1s (VRRPv2, the classic keepalived pair), and 200
// instances at 100ms (VRRPv3) on one interface.
func smallCosts() []costCase {
	return []costCase{
		{instances: 1, version: vrrp.V2, interval: time.Second, lans: 1},
		{instances: 200, version: vrrp.V3, interval: 100 * time.Millisecond, lans: 1},
	}
}

// scaleCost is issue 15's: 255 instances on each of 4 interfaces at 1s (VRRPv2), VRIDs 1-255 on
// each. keepalived runs the same, so it is measured beside vrrpd.
func scaleCost() costCase {
	return costCase{instances: 4 * 255, version: vrrp.V2, interval: time.Second, lans: 4}
}

// insts are the case's instances: VI_1... on eth0, then eth1, ..., VRIDs from 1 on each, one /32
// VIP each, 10.0.5.VRID on eth0, 10.0.6.VRID on eth1, ... (failVIP for a single instance).
func (cc costCase) insts() []inst {
	insts := make([]inst, cc.instances)
	perLAN := (cc.instances + cc.lans - 1) / cc.lans
	for i := range insts {
		k, vrid := i/perLAN, i%perLAN+1
		vip := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 0, byte(5 + k), byte(vrid)}), 32)
		if cc.instances == 1 {
			vip = failVIP
		}
		insts[i] = inst{name: fmt.Sprintf("VI_%d", i+1), iface: fmt.Sprintf("eth%d", k), vrid: vrid,
			version: cc.version, interval: cc.interval, vips: []netip.Prefix{vip}}
	}
	return insts
}

func (cc costCase) String() string {
	return fmt.Sprintf("%d instance%s at %s (VRRPv%d)", cc.instances, plural(cc.instances), cc.interval, cc.version)
}

// costResult is one daemon's steady state on master (0) and backup (1).
type costResult struct {
	settled [2]span    // from each node's start to all its instances in their roles
	cpu     [2]float64 // CPU seconds per second, over the window
	rss     [2]uint64  // peak RSS in bytes; a process tree summed
	procs   [2]int     // processes in each tree
	wrong   int        // instances not in their expected state at the end
	total   int
	err     error
}

// costs measures every daemon in every case, one at a time.
func (b *bench) costs(ctx context.Context, res *results, cases []costCase) {
	for _, cc := range cases {
		for _, im := range b.imps {
			if ctx.Err() != nil {
				return
			}
			g, err := b.costGroup(ctx, im, cc)
			if err != nil {
				res.cost[costKey{im.name, cc.instances}] = &costResult{total: cc.instances, err: err}
				b.say("%s, %s: %v", im.name, cc, err)
				continue
			}
			res.cost[costKey{im.name, cc.instances}] = b.cost(ctx, g, cc)
			if err := g.close(); err != nil {
				b.say("%s, %s: stopping: %v", im.name, cc, err)
			}
		}
	}
}

// costGroup starts a pair running the case's instances.
func (b *bench) costGroup(ctx context.Context, im *impl, cc costCase) (*group, error) {
	where := ""
	if cc.lans > 1 {
		where = fmt.Sprintf(" on %d LANs", cc.lans)
	}
	b.say("%s, %s%s: starting lb1 and lb2", im.name, cc, where)
	// The daemons' default second GARP burst, 5s after becoming master; the settling time
	// covers it.
	return b.newGroup(ctx, im, groupSpec{prios: []int{prioMaster, prioBackup}, insts: cc.insts(), garpDelay: 5 * time.Second, lans: cc.lans})
}

// cost lets a steady pair settle and measures it over the window.
func (b *bench) cost(ctx context.Context, g *group, cc costCase) *costResult {
	r := &costResult{total: cc.instances, settled: [2]span(g.settled)}
	defer func() {
		if r.err != nil {
			b.say("%s, %s: %v", g.im.name, cc, r.err)
			return
		}
		b.say("%s, %s: settled in %s / %s, CPU %.4f / %.4f s/s, peak RSS %s / %s (master / backup), %d of %d in the wrong state",
			g.im.name, cc, r.settled[0], r.settled[1], r.cpu[0], r.cpu[1], mib(r.rss[0]), mib(r.rss[1]), r.wrong, r.total)
	}()
	if r.err = sleep(ctx, b.opt.settle); r.err != nil {
		return r
	}
	var ids [2][]procID
	var before [2]time.Duration
	for i, pr := range g.procs {
		ids[i] = pr.pids()
		if before[i], r.err = cpuTime(ids[i]); r.err != nil {
			return r
		}
	}
	start := time.Now()
	if r.err = sleep(ctx, b.opt.window); r.err != nil {
		return r
	}
	for i := range g.procs {
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
	r.wrong, r.err = g.wrongStates(0)
	return r
}

// mib formats bytes in MiB.
func mib(n uint64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

package main

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/vrrpd/vrrpd/test/lab"
)

// The day-2 scenario (issue 16): routine work on lb1, the master of a pair at 1s adverts, while
// the client pings the VIP every 2ms. Each operation is measured by the client's longest silence
// and the transitions lb2 logged meanwhile.
type day2Op int

const (
	opDrain   day2Op = iota // vrrpd drain VI_1; keepalived: 1 into its track_file
	opUndrain               // vrrpd undrain VI_1; keepalived: the track_file removed
	opRestart               // vrrpd: SIGUSR2 with the binary installed again; keepalived: SIGTERM, then a start
)

var day2Ops = []day2Op{opDrain, opUndrain, opRestart}

func (o day2Op) String() string {
	return [...]string{"drain", "undrain", "restart"}[o]
}

// what says what the operation is for a daemon.
func (o day2Op) what(im *impl) string {
	if im.inPlace {
		return [...]string{"vrrpd drain", "vrrpd undrain", "SIGUSR2"}[o]
	}
	return [...]string{"track_file drain", "track_file removed", "restart"}[o]
}

// day2Key names one operation of one daemon.
type day2Key struct {
	daemon string
	op     day2Op
}

// day2Result is every trial of one operation.
type day2Result struct {
	silences []time.Duration // the client's longest silence
	peer     []int           // lb2's transitions
	errs     []error
}

// day2 runs every daemon's pair through drain, undrain and restart, trials times.
func (b *bench) day2(ctx context.Context, res *results) {
	for _, im := range b.imps {
		if ctx.Err() != nil {
			return
		}
		rs := map[day2Op]*day2Result{}
		for _, op := range day2Ops {
			rs[op] = &day2Result{}
			res.day2[day2Key{im.name, op}] = rs[op]
		}
		b.say("%s, day-2 operations, VRRPv2 at 1s: starting lb1 and lb2", im.name)
		in := inst{name: "VI_1", iface: "eth0", vrid: 51, version: 2, interval: time.Second, vips: []netip.Prefix{failVIP}}
		g, err := b.newGroup(ctx, im, groupSpec{prios: []int{prioMaster, prioBackup}, insts: []inst{in},
			ownBinary: im.inPlace, drainFile: !im.inPlace})
		if err != nil {
			b.say("%s, day-2: %v", im.name, err)
			for _, r := range rs {
				r.errs = append(r.errs, err)
			}
			continue
		}
		b.day2Trials(ctx, g, rs)
		if err := g.close(); err != nil {
			b.say("%s, day-2: stopping: %v", im.name, err)
		}
	}
}

// day2Trials runs the operations in turn, trials times; after a failed one, whose end state is
// unknown, it stops.
func (b *bench) day2Trials(ctx context.Context, g *group, rs map[day2Op]*day2Result) {
	for i := range b.opt.edgeTrials {
		for _, op := range day2Ops {
			if ctx.Err() != nil {
				return
			}
			silence, peer, err := g.operate(ctx, op)
			r := rs[op]
			if err != nil {
				r.errs = append(r.errs, err)
				b.say("%s %s trial %d/%d: %v", g.im.name, op.what(g.im), i+1, b.opt.edgeTrials, err)
				return
			}
			r.silences, r.peer = append(r.silences, silence), append(r.peer, peer)
			b.say("%s %s trial %d/%d: the client's longest silence %s; lb2 made %d transitions",
				g.im.name, op.what(g.im), i+1, b.opt.edgeTrials, fmtDur(silence), peer)
		}
	}
}

// operate carries out one operation on lb1 while the client pings the VIP, and waits until the
// pair is steady again: lb2 master after a drain, lb1 after the others. It returns the client's
// longest silence and the transitions lb2 logged (or, if it logged none, the instances whose
// state or since changed).
func (g *group) operate(ctx context.Context, op day2Op) (time.Duration, int, error) {
	in := g.insts[0]
	ping, err := lab.StartPinger(g.client, in.vips[0].Addr(), 2*time.Millisecond)
	if err != nil {
		return 0, 0, err
	}
	defer ping.Stop()
	if err := ping.WaitReply(time.Now(), 5*time.Second); err != nil {
		return 0, 0, err
	}
	before, err := g.view(1)
	if err != nil {
		return 0, 0, err
	}
	master := 0
	switch op {
	case opDrain:
		master = 1
		err = g.im.drain(g.procs[0], in.name, true)
	case opUndrain:
		err = g.im.drain(g.procs[0], in.name, false)
	case opRestart:
		err = g.restartMaster(ctx)
	}
	if err == nil {
		err = g.waitSteady(ctx, 10*in.interval+10*time.Second, master)
	}
	// The pings go on a little: a silence that began at the end shows as no reply after it.
	if err == nil {
		err = sleep(ctx, 500*time.Millisecond)
	}
	if err == nil {
		err = ping.WaitReply(time.Now(), 2*time.Second)
	}
	stats := ping.Stop()
	after, verr := g.view(1)
	if err = errors.Join(err, verr); err != nil {
		return 0, 0, err
	}
	n, moved := changed(before, after)
	if n == 0 {
		n = len(moved)
	}
	return stats.MaxGap, n, nil
}

// restartMaster restarts lb1's daemon. vrrpd: the binary installed again at its path and
// SIGUSR2, then a wait past lb2's Master_Down_Interval, in which lb2 would take over if it
// missed lb1. keepalived: SIGTERM, and a start once it has exited.
func (g *group) restartMaster(ctx context.Context) error {
	pr := g.procs[0]
	if !g.im.inPlace {
		if err := pr.stop(10 * time.Second); err != nil && !isSignalExit(err) {
			return fmt.Errorf("lb1 did not stop cleanly: %w", err)
		}
		return g.startNode(0)
	}
	if err := installCopy(g.im.bin, g.bins[0]); err != nil {
		return err
	}
	mark := len(pr.log())
	pr.signal(syscall.SIGUSR2)
	for deadline := time.Now().Add(30 * time.Second); ; {
		log := pr.log()[mark:]
		if strings.Contains(log, "restarted in place: resuming") {
			break
		}
		if strings.Contains(log, "SIGUSR2: ") || !pr.alive() || time.Now().After(deadline) {
			return fmt.Errorf("lb1 did not restart in place:\n%s", tail(log, 10))
		}
		if err := sleep(ctx, 20*time.Millisecond); err != nil {
			return err
		}
	}
	if exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pr.cmd.Process.Pid)); err != nil || exe != g.bins[0] {
		return fmt.Errorf("after SIGUSR2 lb1 runs %q (%v), not the binary installed at %s", exe, err, g.bins[0])
	}
	in := g.insts[0]
	return sleep(ctx, g.im.masterDown(in.version, prioBackup, in.interval)+500*time.Millisecond)
}

package main

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/vrrpd/vrrpd/test/lab"
)

// errNotSteady means the pair did not settle with lb1 master of every instance and lb2 backup.
var errNotSteady = errors.New("not steady")

// pair is one daemon on lb1 (master) and lb2 (backup) of a fresh LAN, with a client.
type pair struct {
	b      *bench
	im     *impl
	lab    *lab.Lab
	lb     [2]*lab.Host // lb1, lb2
	client *lab.Host
	procs  [2]*proc
	confs  [2]string
	insts  []inst
}

// newPair builds the LAN, starts the daemon on lb1 and, once lb1 holds every VIP, on lb2, and
// waits until the pair is steady.
func (b *bench) newPair(ctx context.Context, im *impl, insts []inst, garpDelay time.Duration) (*pair, error) {
	l, err := b.newLab()
	if err != nil {
		return nil, err
	}
	p := &pair{b: b, im: im, lab: l, insts: insts}
	for i, pfx := range []netip.Prefix{lb1Prefix, lb2Prefix} {
		name := fmt.Sprintf("lb%d", i+1)
		if p.lb[i], err = l.AddHost(name, pfx); err != nil {
			return nil, errors.Join(err, p.close())
		}
		p.confs[i] = im.conf(name, []int{prioMaster, prioBackup}[i], insts, garpDelay)
	}
	if p.client, err = l.AddHost("client", clientPrefix); err != nil {
		return nil, errors.Join(err, p.close())
	}
	if err := p.startNode(0); err != nil {
		return nil, errors.Join(err, p.close())
	}
	within := 10*insts[0].interval + 10*time.Second
	if err := p.waitFor(ctx, within, func(n1, n2 int) bool { return n1 == len(insts) }); err != nil {
		return nil, errors.Join(fmt.Errorf("%s on lb1 alone: %w", im.name, err), p.close())
	}
	if err := p.startNode(1); err != nil {
		return nil, errors.Join(err, p.close())
	}
	if err := p.waitSteady(ctx, within); err != nil {
		return nil, errors.Join(err, p.close())
	}
	return p, nil
}

// startNode starts the daemon on lb1 (0) or lb2 (1).
func (p *pair) startNode(i int) error {
	pr, err := p.b.start(p.im, p.lb[i], p.confs[i])
	if err != nil {
		return err
	}
	p.procs[i] = pr
	return nil
}

// close stops both daemons and removes the LAN.
func (p *pair) close() error {
	var errs []error
	for _, pr := range p.procs {
		if pr != nil {
			if err := pr.stop(10 * time.Second); err != nil && !isSignalExit(err) {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(append(errs, p.b.closeLab(p.lab))...)
}

// isSignalExit is true of the exit of a process that a signal ended; a daemon stopped with
// SIGTERM should exit 0, but keepalived's parent may report its child's signal.
func isSignalExit(err error) bool { return err != nil && strings.Contains(err.Error(), "signal:") }

// vipsOn counts the pair's VIPs that host h carries on eth0.
func (p *pair) vipsOn(h *lab.Host) (int, error) {
	addrs, err := h.Addrs("eth0")
	if err != nil {
		return 0, err
	}
	want := make(map[netip.Addr]bool, len(p.insts))
	for _, in := range p.insts {
		want[in.vip.Addr()] = true
	}
	n := 0
	for _, a := range addrs {
		if want[a.Addr()] {
			n++
		}
	}
	return n, nil
}

// waitFor polls the VIP counts on lb1 and lb2 until ok holds, within the time given.
func (p *pair) waitFor(ctx context.Context, within time.Duration, ok func(n1, n2 int) bool) error {
	deadline := time.Now().Add(within)
	for {
		n1, err1 := p.vipsOn(p.lb[0])
		n2, err2 := p.vipsOn(p.lb[1])
		if err := errors.Join(err1, err2); err != nil {
			return err
		}
		if ok(n1, n2) {
			return nil
		}
		for i, pr := range p.procs {
			if pr != nil && !pr.alive() {
				return fmt.Errorf("%s on lb%d exited: %v\n%s", p.im.name, i+1, pr.err, tail(pr.log(), 20))
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w within %s: lb1 holds %d VIPs, lb2 %d, of %d", errNotSteady, within, n1, n2, len(p.insts))
		}
		if err := sleep(ctx, 20*time.Millisecond); err != nil {
			return err
		}
	}
}

// waitSteady waits until lb1 holds every VIP and lb2 none and, for a daemon that reports its
// state, until lb1 says MASTER and lb2 BACKUP for every instance.
func (p *pair) waitSteady(ctx context.Context, within time.Duration) error {
	deadline := time.Now().Add(within)
	if err := p.waitFor(ctx, within, func(n1, n2 int) bool { return n1 == len(p.insts) && n2 == 0 }); err != nil {
		return err
	}
	for p.im.status != nil {
		wrong, err := p.wrongStates()
		if err == nil && wrong == 0 {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w within %s: %d instances in the wrong state (%v)", errNotSteady, within, wrong, err)
		}
		if err := sleep(ctx, 20*time.Millisecond); err != nil {
			return err
		}
	}
	return nil
}

// wrongStates counts the instances not in their expected state: lb1 master, lb2 backup. A VIP
// missing from lb1 or present on lb2 counts, and so, for vrrpd, does a state that
// `vrrpd status` reports otherwise. Each instance counts once.
func (p *pair) wrongStates() (int, error) {
	wrong := map[int]bool{}
	for i, want := range []bool{true, false} {
		addrs, err := p.lb[i].Addrs("eth0")
		if err != nil {
			return 0, err
		}
		has := map[netip.Addr]bool{}
		for _, a := range addrs {
			has[a.Addr()] = true
		}
		for _, in := range p.insts {
			if has[in.vip.Addr()] != want {
				wrong[in.vrid] = true
			}
		}
		if p.im.status == nil {
			continue
		}
		states, err := p.im.status(p.procs[i].dir)
		if err != nil {
			return 0, err
		}
		for _, in := range p.insts {
			if (states[in.vrid] == "MASTER") != want || (!want && states[in.vrid] != "BACKUP") {
				wrong[in.vrid] = true
			}
		}
	}
	return len(wrong), nil
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

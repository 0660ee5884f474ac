package main

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/vrrpd/vrrpd/test/lab"
)

// errNotSteady means the group did not settle with lb1 master of every instance and the
// others backup.
var errNotSteady = errors.New("not steady")

// groupSpec says what a group runs.
type groupSpec struct {
	prios     []int // each node's priority, lb1 first; lb1 must be the highest
	insts     []inst
	garpDelay time.Duration // the second GARP burst after becoming master; 0 means none
	// lans is how many LANs the nodes share: eth0 on the lab's switch, eth1... each on a
	// switch of its own (VRIDs are unique per LAN, not across them). 0 means 1.
	lans int
	// ownBinary runs lb1 from a copy of the binary of its own, as an installed daemon runs:
	// a restart in place (SIGUSR2) starts what is at that path then.
	ownBinary bool
	// drainFile gives keepalived a track_file per node that drains it (nodeConf.drainFile).
	drainFile bool
}

// group is one daemon on each of lb1 (the master), lb2, ... of a fresh LAN, with a client.
type group struct {
	b      *bench
	im     *impl
	lab    *lab.Lab
	hosts  []*lab.Host // lb1, lb2, ...
	client *lab.Host
	procs  []*proc
	bins   []string // each node's binary
	confs  []nodeConf
	insts  []inst
	lans   int // eth0 ... eth<lans-1>
	// settled is, for each node, the time from its start to every instance in its role
	// there (lb1 master, the others backup), as newGroup started them one after the other.
	settled []span
}

// span is a time known to lie between from and to.
type span struct{ from, to time.Duration }

func (s span) String() string { return fmtDur(s.from) + "–" + fmtDur(s.to) }

// newGroup builds the LAN and starts the daemon on lb1 and then, once lb1 is master of every
// instance, on each other node in turn, waiting each time until the group is steady.
func (b *bench) newGroup(ctx context.Context, im *impl, spec groupSpec) (*group, error) {
	l, err := b.newLab()
	if err != nil {
		return nil, err
	}
	g := &group{b: b, im: im, lab: l, insts: spec.insts, lans: max(spec.lans, 1)}
	for i, prio := range spec.prios {
		name := fmt.Sprintf("lb%d", i+1)
		h, err := l.AddHost(name, nodePrefix(i, 0))
		if err != nil {
			return nil, errors.Join(err, g.close())
		}
		dir, err := os.MkdirTemp(b.dir, im.name+"-"+name+"-")
		if err != nil {
			return nil, errors.Join(err, g.close())
		}
		c := nodeConf{name: name, prio: prio, insts: spec.insts, garpDelay: spec.garpDelay, dir: dir}
		if spec.drainFile {
			c.drainFile = drainPath(dir)
		}
		bin := im.bin
		if spec.ownBinary && i == 0 {
			bin = filepath.Join(dir, "sbin", filepath.Base(im.bin))
			if err := installCopy(im.bin, bin); err != nil {
				return nil, errors.Join(err, g.close())
			}
		}
		g.hosts, g.confs, g.bins = append(g.hosts, h), append(g.confs, c), append(g.bins, bin)
	}
	g.procs, g.settled = make([]*proc, len(g.hosts)), make([]span, len(g.hosts))
	if g.client, err = l.AddHost("client", clientPrefix); err != nil {
		return nil, errors.Join(err, g.close())
	}
	if err := addLANs(l, g.hosts, g.lans); err != nil {
		return nil, errors.Join(err, g.close())
	}
	within := 10*spec.insts[0].interval + 10*time.Second + time.Duration(len(spec.insts))*10*time.Millisecond
	for i := range g.hosts {
		start := time.Now()
		if err := g.startNode(i); err != nil {
			return nil, errors.Join(err, g.close())
		}
		var err error
		if g.settled[i], err = g.settle(ctx, within, i, start); err == nil {
			err = g.waitSteady(ctx, within, 0)
		}
		if err != nil {
			return nil, errors.Join(fmt.Errorf("%s, %d of %d nodes started: %w", im.name, i+1, len(g.hosts), err), g.close())
		}
	}
	return g, nil
}

// settle waits until node i has every instance in its role, lb1 the master, and says when
// that happened, from start, as closely as looking can tell: after the last look that found it
// otherwise began, and before the first look that found it so ended.
func (g *group) settle(ctx context.Context, within time.Duration, i int, start time.Time) (span, error) {
	deadline := time.Now().Add(within)
	for from := start; ; {
		look := time.Now()
		wrong := map[string]bool{}
		err := g.wrongOn(i, 0, wrong)
		if err == nil && len(wrong) == 0 {
			return span{from.Sub(start), time.Since(start)}, nil
		}
		if !g.procs[i].alive() {
			return span{}, fmt.Errorf("%s on lb%d exited: %v\n%s", g.im.name, i+1, g.procs[i].err, tail(g.procs[i].log(), 20))
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = fmt.Errorf("%w within %s: %d of %d instances not in their roles on lb%d", errNotSteady, within, len(wrong), len(g.insts), i+1)
			}
			return span{}, err
		}
		from = look
		if err := sleep(ctx, 5*time.Millisecond); err != nil {
			return span{}, err
		}
	}
}

// installCopy copies the binary at from to path as an installer would: a new file renamed over
// whatever is at path, so that a daemon running from path keeps its image and path names the
// new file.
func installCopy(from, path string) error {
	bin, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(path+".new", bin, 0o755); err != nil {
		return err
	}
	return os.Rename(path+".new", path)
}

// addLANs gives every host eth1 ... eth<n-1>, LAN k on a bridge br<k> of its own in the lab's
// switch namespace, host i at nodePrefix(i, k).
func addLANs(l *lab.Lab, hosts []*lab.Host, n int) error {
	for k := 1; k < n; k++ {
		sw := []string{fmt.Sprintf("link add br%d type bridge mcast_snooping 0", k), fmt.Sprintf("link set br%d up", k)}
		for i, h := range hosts {
			port := fmt.Sprintf("%s-%d", h.Name, k)
			sw = append(sw,
				fmt.Sprintf("link add name %s type veth peer name eth%d address 02:00:00:00:%02x:%02x netns %s", port, k, k, i+1, h.NS),
				fmt.Sprintf("link set dev %s master br%d up", port, k))
		}
		if err := ipBatch(l.BridgeNS, sw...); err != nil {
			return err
		}
		for i, h := range hosts {
			if err := ipBatch(h.NS, fmt.Sprintf("addr add %s dev eth%d", nodePrefix(i, k), k), fmt.Sprintf("link set eth%d up", k)); err != nil {
				return err
			}
		}
	}
	return nil
}

// ipBatch runs ip commands, one per line, in namespace ns.
func ipBatch(ns string, lines ...string) error {
	cmd := exec.Command("ip", "-n", ns, "-batch", "-")
	cmd.Stdin = strings.NewReader(strings.Join(lines, "\n") + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("ip -n %s -batch: %w: %s", ns, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// startNode starts the daemon on node i (0 for lb1) with its configuration as it is now.
func (g *group) startNode(i int) error {
	pr, err := g.b.start(g.im, g.hosts[i], g.bins[i], g.confs[i].dir, g.im.conf(g.confs[i]))
	if err != nil {
		return err
	}
	g.procs[i] = pr
	return nil
}

// close stops every daemon and removes the LAN.
func (g *group) close() error {
	var errs []error
	for _, pr := range g.procs {
		if pr != nil {
			if err := pr.stop(10 * time.Second); err != nil && !isSignalExit(err) {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(append(errs, g.b.closeLab(g.lab))...)
}

// isSignalExit is true of the exit of a process that a signal ended; a daemon stopped with
// SIGTERM should exit 0, but keepalived's parent may report its child's signal.
func isSignalExit(err error) bool { return err != nil && strings.Contains(err.Error(), "signal:") }

// held returns, for each instance, how many of its VIPs host h carries on the instance's
// interface.
func (g *group) held(h *lab.Host) (map[string]int, error) {
	byIface := map[string]map[netip.Addr]bool{}
	for _, in := range g.insts {
		if byIface[in.iface] != nil {
			continue
		}
		addrs, err := h.Addrs(in.iface)
		if err != nil {
			return nil, err
		}
		has := map[netip.Addr]bool{}
		for _, a := range addrs {
			has[a.Addr()] = true
		}
		byIface[in.iface] = has
	}
	out := make(map[string]int, len(g.insts))
	for _, in := range g.insts {
		for _, v := range in.vips {
			if byIface[in.iface][v.Addr()] {
				out[in.name]++
			}
		}
	}
	return out, nil
}

// waitSteady waits until every running node is in its role for every instance: node master
// holds all the instance's VIPs and says MASTER, every other node holds none and says BACKUP.
func (g *group) waitSteady(ctx context.Context, within time.Duration, master int) error {
	deadline := time.Now().Add(within)
	for {
		wrong, err := g.wrongStates(master)
		if err == nil && wrong == 0 {
			return nil
		}
		for i, pr := range g.procs {
			if pr != nil && !pr.alive() {
				return fmt.Errorf("%s on lb%d exited: %v\n%s", g.im.name, i+1, pr.err, tail(pr.log(), 20))
			}
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = fmt.Errorf("%w within %s: %d of %d instances not in their roles, lb%d master", errNotSteady, within, wrong, len(g.insts), master+1)
			}
			return err
		}
		if err := sleep(ctx, 20*time.Millisecond); err != nil {
			return err
		}
	}
}

// wrongStates counts the instances not in their roles on the running nodes, node master the
// master: a VIP missing from the master or present on a backup counts, and so does a state that
// the daemon reports otherwise. Each instance counts once.
func (g *group) wrongStates(master int) (int, error) {
	wrong := map[string]bool{}
	for i, pr := range g.procs {
		if pr == nil {
			continue
		}
		if err := g.wrongOn(i, master, wrong); err != nil {
			return 0, err
		}
	}
	return len(wrong), nil
}

// wrongOn adds to wrong the instances not in their roles on node i.
func (g *group) wrongOn(i, master int, wrong map[string]bool) error {
	held, err := g.held(g.hosts[i])
	if err != nil {
		return err
	}
	states, err := g.im.status(g.procs[i])
	if err != nil {
		return err
	}
	for _, in := range g.insts {
		ok := states[in.name].state == "BACKUP" && held[in.name] == 0
		if i == master {
			ok = states[in.name].state == "MASTER" && held[in.name] == len(in.vips)
		}
		if !ok {
			wrong[in.name] = true
		}
	}
	return nil
}

// peerView is what one node says of its instances, and the transitions its log holds so far.
type peerView struct {
	states      map[string]instState
	transitions int
}

func (g *group) view(i int) (peerView, error) {
	states, err := g.im.status(g.procs[i])
	return peerView{states: states, transitions: g.im.transitions(g.procs[i].log())}, err
}

// changed says how a node's view moved between two looks: the transitions logged in between,
// and the instances whose state or since differ.
func changed(before, after peerView) (transitions int, moved []string) {
	for name, s := range after.states {
		if before.states[name] != s {
			moved = append(moved, name)
		}
	}
	slices.Sort(moved)
	return after.transitions - before.transitions, moved
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

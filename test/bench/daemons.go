package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vrrpd/vrrpd/test/lab"
	"github.com/vrrpd/vrrpd/vrrp"
)

// The LAN every scenario uses. lb1 is the master, lb2 the backup; the same for both daemons.
// The backup's priority sets the timers measured: Skew_Time is (256 - 100)/256 of a second (v2)
// or of Master_Adver_Interval (v3).
const (
	prioMaster = 110
	prioBackup = 100
)

var (
	clientPrefix = netip.MustParsePrefix("10.0.4.10/24")
	failVIP      = netip.MustParsePrefix("10.0.4.99/24")
)

// nodePrefix is node i's (0 for lb1) address on LAN k, eth<k>: 10.0.4.20/24 for lb1 on eth0,
// 10.0.14.21/24 for lb2 on eth1.
func nodePrefix(i, k int) netip.Prefix {
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 0, byte(4 + 10*k), byte(20 + i)}), 24)
}

// inst is one virtual router, configured alike on every node.
type inst struct {
	name     string
	iface    string // eth0, or eth<k> of a group with more LANs
	vrid     int
	version  vrrp.Version
	interval time.Duration
	vips     []netip.Prefix
}

// nodeConf is what one node's configuration says.
type nodeConf struct {
	name      string         // router_id: lb1, lb2, ...
	prio      int            // every instance's priority, but those in prios
	prios     map[string]int // priorities of single instances, by name
	insts     []inst
	garpDelay time.Duration // the second GARP burst after becoming master; 0 means none
	dir       string        // the node's own directory: vrrpd's state_dir is in it
	// drainFile, for keepalived: every instance tracks this file with weight -drainWeight, so
	// that writing 1 into it drains the node (the file is absent otherwise); "" for none.
	drainFile string
}

// drainWeight takes lb1 (110) below lb2 (100) while keepalived's drain file holds 1.
const drainWeight = 20

func (c nodeConf) prioOf(in inst) int {
	if p, ok := c.prios[in.name]; ok {
		return p
	}
	return c.prio
}

// versionFor is the VRRP version the harness uses at an advert interval: v2 for whole seconds
// (RFC 3768 has no finer unit), v3 otherwise.
func versionFor(d time.Duration) vrrp.Version {
	if d%time.Second == 0 {
		return vrrp.V2
	}
	return vrrp.V3
}

// instState is one instance's state as its daemon reports it.
type instState struct {
	state string // MASTER, BACKUP, FAULT, ...
	since string // when it entered it (vrrpd); "" if the daemon does not say
}

// impl is one VRRP daemon: how to configure and start it, and how it computes its timers.
type impl struct {
	name string
	bin  string
	// conf renders a node's configuration.
	conf func(c nodeConf) string
	// argv is the command line that runs bin with conf, its pid files and sockets in dir.
	argv func(bin, dir, conf string) []string
	// skew is Skew_Time for a backup of priority prio, as this daemon computes it.
	skew func(v vrrp.Version, prio uint8, interval time.Duration) time.Duration
	// status reports each instance's state, by name, from the daemon p.
	status func(p *proc) (map[string]instState, error)
	// transitions counts the state changes a daemon's log records.
	transitions func(log string) int
	// drain takes the daemon p out of service for instance name (on) or puts it back (off), as
	// an operator would: vrrpd drain and undrain; for keepalived, its drain file.
	drain func(p *proc, name string, on bool) error
	// inPlace: SIGUSR2 restarts the daemon in place (vrrpd). keepalived has no such thing: its
	// restart is a stop and a start.
	inPlace bool
}

// masterDown is Master_Down_Interval, 3 × Master_Adver_Interval + Skew_Time (RFC 5798 §6.1,
// RFC 3768 §6.1), with this daemon's Skew_Time.
func (im *impl) masterDown(v vrrp.Version, prio uint8, interval time.Duration) time.Duration {
	return 3*interval + im.skew(v, prio, interval)
}

func vrrpdImpl(bin string) *impl {
	return &impl{
		name: "vrrpd", bin: bin,
		conf: vrrpdConf,
		argv: func(bin, dir, conf string) []string {
			return []string{bin, "run", "--config", conf, "--socket", filepath.Join(dir, "vrrpd.sock")}
		},
		// vrrpd's own function: exact, in nanoseconds, for both versions (RFC 5798 §6.1,
		// RFC 3768 §6.1).
		skew:        vrrp.SkewTime,
		status:      func(p *proc) (map[string]instState, error) { return vrrpdStatus(bin, p.dir) },
		transitions: func(log string) int { return strings.Count(log, "msg=transition ") },
		drain:       func(p *proc, name string, on bool) error { return vrrpdDrain(bin, p.dir, name, on) },
		inPlace:     true,
	}
}

func keepalivedImpl(bin string) *impl {
	return &impl{
		name: "keepalived", bin: bin,
		conf: keepalivedConf,
		argv: func(bin, dir, conf string) []string {
			// Foreground (-n), VRRP only (-P), log to the console (-l) and not syslog (-G),
			// no respawning (-R); pid files unique to this run.
			return []string{bin, "-n", "-l", "-G", "-P", "-R", "-f", conf,
				"-p", filepath.Join(dir, "keepalived.pid"), "-r", filepath.Join(dir, "vrrp.pid")}
		},
		skew:        keepalivedSkew,
		status:      func(p *proc) (map[string]instState, error) { return keepalivedStates(p.log()), nil },
		transitions: func(log string) int { return len(keepalivedEntering.FindAllStringIndex(log, -1)) },
		drain: func(p *proc, _ string, on bool) error {
			if on {
				return os.WriteFile(drainPath(p.dir), []byte("1\n"), 0o644)
			}
			return os.Remove(drainPath(p.dir))
		},
	}
}

// drainPath is keepalived's drain file in a node's directory: every instance tracks it with
// weight -drainWeight, so 1 in it drains the node and no file is 0.
func drainPath(dir string) string { return filepath.Join(dir, "drain") }

// keepalivedSkew is Skew_Time as keepalived 2.2.7 computes it (VRRP_TIMER_SKEW in vrrp.h), in
// whole microseconds: for v2 (256 - Priority)/256 s; for v3 (256 - Priority) × Master_Adver_Interval
// in centiseconds × 625/16 µs, which is RFC 5798 §6.1's formula without rounding to centiseconds.
func keepalivedSkew(v vrrp.Version, prio uint8, interval time.Duration) time.Duration {
	p := int64(256 - int(prio))
	if v == vrrp.V2 {
		return time.Duration(p*1_000_000/256) * time.Microsecond
	}
	cs := int64(interval / (10 * time.Millisecond))
	return time.Duration(p*cs*625/16) * time.Microsecond
}

// vrrpdConf renders a vrrpd configuration (SPEC.md).
func vrrpdConf(c nodeConf) string {
	var b strings.Builder
	fmt.Fprintf(&b, "[global]\nrouter_id = %q\nstate_dir = %q\n", c.name, filepath.Join(c.dir, "state"))
	for _, in := range c.insts {
		vips := make([]string, len(in.vips))
		for i, v := range in.vips {
			vips[i] = strconv.Quote(v.String())
		}
		fmt.Fprintf(&b, "\n[[instance]]\nname = %q\ninterface = %q\nvrid = %d\npriority = %d\nversion = %d\n"+
			"advert_interval = %q\nvips = [%s]\ngarp_delay = %q\n",
			in.name, in.iface, in.vrid, c.prioOf(in), in.version, in.interval, strings.Join(vips, ", "), c.garpDelay)
	}
	return b.String()
}

// keepalivedConf renders a keepalived.conf with the same meaning as vrrpdConf: every instance
// starts as BACKUP and preempts (keepalived's defaults), and the priorities decide.
func keepalivedConf(c nodeConf) string {
	var b strings.Builder
	fmt.Fprintf(&b, "global_defs {\n    router_id %s\n}\n", c.name)
	track := ""
	if c.drainFile != "" {
		fmt.Fprintf(&b, "track_file drain {\n    file %q\n    weight -%d\n}\n", c.drainFile, drainWeight)
		track = "    track_file {\n        drain\n    }\n"
	}
	for _, in := range c.insts {
		vips := make([]string, len(in.vips))
		for i, v := range in.vips {
			vips[i] = "        " + v.String() + "\n"
		}
		fmt.Fprintf(&b, "vrrp_instance %s {\n    state BACKUP\n    interface %s\n    virtual_router_id %d\n"+
			"    version %d\n    priority %d\n    advert_int %s\n    garp_master_delay %d\n%s"+
			"    virtual_ipaddress {\n%s    }\n}\n",
			in.name, in.iface, in.vrid, in.version, c.prioOf(in), strconv.FormatFloat(in.interval.Seconds(), 'f', -1, 64),
			int(c.garpDelay/time.Second), track, strings.Join(vips, ""))
	}
	return b.String()
}

// vrrpdStatus runs `vrrpd status --json` against the daemon whose socket is in dir, and
// returns each instance's state by name.
func vrrpdStatus(bin, dir string) (map[string]instState, error) {
	var out, errOut bytes.Buffer
	cmd := exec.Command(bin, "status", "--json", "--socket", filepath.Join(dir, "vrrpd.sock"))
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("vrrpd status: %w: %s", err, strings.TrimSpace(errOut.String()))
	}
	var s struct {
		Instances []struct {
			Name  string `json:"name"`
			State string `json:"state"`
			Since string `json:"since"`
		} `json:"instances"`
	}
	if err := json.Unmarshal(out.Bytes(), &s); err != nil {
		return nil, fmt.Errorf("vrrpd status --json: %w", err)
	}
	states := make(map[string]instState, len(s.Instances))
	for _, in := range s.Instances {
		states[in.Name] = instState{state: in.State, since: in.Since}
	}
	return states, nil
}

// vrrpdDrain runs `vrrpd drain NAME` or `vrrpd undrain NAME` against the daemon whose socket is
// in dir. A drain returns once another router has taken over (SPEC.md).
func vrrpdDrain(bin, dir, name string, on bool) error {
	verb := "undrain"
	if on {
		verb = "drain"
	}
	out, err := exec.Command(bin, verb, "--socket", filepath.Join(dir, "vrrpd.sock"), name).CombinedOutput()
	if err != nil {
		return fmt.Errorf("vrrpd %s %s: %w: %s", verb, name, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// keepalivedEntering matches keepalived's log line for a state change:
// "(VI_1) Entering MASTER STATE", "(VI_1) Entering BACKUP STATE (init)".
var keepalivedEntering = regexp.MustCompile(`\(([^()\s]+)\) Entering ([A-Z]+) STATE`)

// keepalivedStates is each instance's state as the last such line of keepalived's log says.
func keepalivedStates(log string) map[string]instState {
	states := map[string]instState{}
	for _, m := range keepalivedEntering.FindAllStringSubmatch(log, -1) {
		states[m[1]] = instState{state: m[2]}
	}
	return states
}

// proc is one daemon process in a lab host's namespace. `ip netns exec` execs the daemon in
// place, so cmd's pid is the daemon's (keepalived's parent, for keepalived).
type proc struct {
	b        *bench
	im       *impl
	host     *lab.Host
	dir      string // the node's directory: configuration, sockets, pid files, state
	confPath string
	logPath  string
	cmd      *exec.Cmd
	exited   chan struct{} // closed when the process has been waited for
	err      error         // its exit, once exited is closed
}

// start writes conf into dir and starts the daemon's binary bin with it on h. Each start logs
// to a file of its own in dir: log.1, log.2, ...
func (b *bench) start(im *impl, h *lab.Host, bin, dir, conf string) (*proc, error) {
	confPath := filepath.Join(dir, im.name+".conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	var log *os.File
	for n := 1; log == nil; n++ {
		f, err := os.OpenFile(filepath.Join(dir, fmt.Sprintf("log.%d", n)), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err == nil {
			log = f
		} else if !errors.Is(err, os.ErrExist) {
			return nil, err
		}
	}
	p := &proc{b: b, im: im, host: h, dir: dir, confPath: confPath, logPath: log.Name(), exited: make(chan struct{})}
	p.cmd = h.Command(context.Background(), im.argv(bin, dir, confPath)...)
	p.cmd.Stdout, p.cmd.Stderr = log, log
	if err := p.cmd.Start(); err != nil {
		log.Close()
		return nil, fmt.Errorf("%s on %s: %w", im.name, h.Name, err)
	}
	b.track(p)
	go func() {
		p.err = p.cmd.Wait()
		log.Close()
		close(p.exited)
	}()
	return p, nil
}

func (p *proc) String() string {
	return fmt.Sprintf("%s on %s (pid %d)", p.im.name, p.host.Name, p.cmd.Process.Pid)
}

// alive reports whether the process has not exited yet.
func (p *proc) alive() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// pids is the process and its descendants (keepalived's VRRP child), as /proc shows them now.
func (p *proc) pids() []procID {
	if !p.alive() {
		return nil
	}
	return tree(p.cmd.Process.Pid)
}

// signal sends sig to the process itself.
func (p *proc) signal(sig syscall.Signal) {
	if p.alive() {
		_ = p.cmd.Process.Signal(sig)
	}
}

// wait waits up to timeout for the process to exit and returns its exit.
func (p *proc) wait(timeout time.Duration) error {
	select {
	case <-p.exited:
		p.b.untrack(p)
		return p.err
	case <-time.After(timeout):
		return fmt.Errorf("%s did not exit within %s", p, timeout)
	}
}

// stop sends SIGTERM, as systemd does, and waits up to timeout. A process still running then
// is killed with its descendants, each by pid. stop can be called again.
func (p *proc) stop(timeout time.Duration) error {
	kids := p.pids()
	p.signal(syscall.SIGTERM)
	err := p.wait(timeout)
	if p.alive() {
		for _, id := range p.pids() {
			id.kill()
		}
		<-p.exited
		p.b.untrack(p)
	}
	// keepalived's VRRP child dies with its parent (PR_SET_PDEATHSIG); make sure of it.
	deadline := time.Now().Add(timeout)
	for _, id := range kids[min(1, len(kids)):] {
		for id.alive() {
			if time.Now().After(deadline) {
				id.kill()
				err = errors.Join(err, fmt.Errorf("%s: child %d outlived its parent: killed", p, id.pid))
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	return err
}

// log returns what the daemon has logged so far.
func (p *proc) log() string {
	b, _ := os.ReadFile(p.logPath)
	return string(b)
}

// procID names one process for good: a pid, and the process's start time, so that a pid reused
// by someone else's process is never mistaken for ours.
type procID struct {
	pid   int
	start uint64 // clock ticks after boot, /proc/PID/stat field 22
}

// alive reports whether the process still runs (and is not a zombie).
func (id procID) alive() bool {
	st, err := readStat(id.pid)
	return err == nil && st.start == id.start && st.state != "Z"
}

// kill sends SIGKILL to the process if it is still the one named.
func (id procID) kill() {
	if id.alive() {
		_ = syscall.Kill(id.pid, syscall.SIGKILL)
	}
}

// tree returns pid and all its descendants, from /proc.
func tree(pid int) []procID {
	stats := map[int]stat{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, err := readStat(n); err == nil {
			stats[n] = st
		}
	}
	root, ok := stats[pid]
	if !ok {
		return nil
	}
	out := []procID{{pid, root.start}}
	for i := 0; i < len(out); i++ {
		for child, st := range stats {
			if st.ppid == out[i].pid {
				out = append(out, procID{child, st.start})
			}
		}
	}
	return out
}

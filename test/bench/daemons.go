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
	lb1Prefix    = netip.MustParsePrefix("10.0.4.20/24")
	lb2Prefix    = netip.MustParsePrefix("10.0.4.21/24")
	clientPrefix = netip.MustParsePrefix("10.0.4.10/24")
	failVIP      = netip.MustParsePrefix("10.0.4.99/24")
)

// inst is one virtual router, configured alike on both nodes.
type inst struct {
	name     string
	vrid     int
	version  vrrp.Version
	interval time.Duration
	vip      netip.Prefix
}

// versionFor is the VRRP version the harness uses at an advert interval: v2 for whole seconds
// (RFC 3768 has no finer unit), v3 otherwise.
func versionFor(d time.Duration) vrrp.Version {
	if d%time.Second == 0 {
		return vrrp.V2
	}
	return vrrp.V3
}

// impl is one VRRP daemon: how to configure and start it, and how it computes its timers.
type impl struct {
	name string
	bin  string
	// conf renders a configuration for a node. garpDelay is the delay of the second GARP
	// burst after becoming master; 0 means none.
	conf func(node string, prio int, insts []inst, garpDelay time.Duration) string
	// argv is the command line that runs bin with conf, its pid files and sockets in dir.
	argv func(dir, conf string) []string
	// skew is Skew_Time for a backup of priority prio, as this daemon computes it.
	skew func(v vrrp.Version, prio uint8, interval time.Duration) time.Duration
	// status reports, per VRID, whether the daemon says the instance is master (nil: the
	// daemon has no status; the VIPs and the wire tell).
	status func(dir string) (map[int]string, error)
}

// masterDown is Master_Down_Interval, 3 × Master_Adver_Interval + Skew_Time (RFC 5798 §6.1,
// RFC 3768 §6.1), with this daemon's Skew_Time.
func (im *impl) masterDown(v vrrp.Version, prio uint8, interval time.Duration) time.Duration {
	return 3*interval + im.skew(v, prio, interval)
}

func vrrpdImpl(bin string) *impl {
	im := &impl{
		name: "vrrpd", bin: bin,
		conf: vrrpdConf,
		argv: func(dir, conf string) []string {
			return []string{bin, "run", "--config", conf, "--socket", filepath.Join(dir, "vrrpd.sock")}
		},
		// vrrpd's own function: exact, in nanoseconds, for both versions (RFC 5798 §6.1,
		// RFC 3768 §6.1).
		skew: vrrp.SkewTime,
	}
	im.status = func(dir string) (map[int]string, error) { return vrrpdStatus(bin, dir) }
	return im
}

func keepalivedImpl(bin string) *impl {
	return &impl{
		name: "keepalived", bin: bin,
		conf: keepalivedConf,
		argv: func(dir, conf string) []string {
			// Foreground (-n), VRRP only (-P), log to the console (-l) and not syslog (-G),
			// no respawning (-R); pid files unique to this run.
			return []string{bin, "-n", "-l", "-G", "-P", "-R", "-f", conf,
				"-p", filepath.Join(dir, "keepalived.pid"), "-r", filepath.Join(dir, "vrrp.pid")}
		},
		skew: keepalivedSkew,
	}
}

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
func vrrpdConf(node string, prio int, insts []inst, garpDelay time.Duration) string {
	var b strings.Builder
	fmt.Fprintf(&b, "[global]\nrouter_id = %q\n", node)
	for _, in := range insts {
		fmt.Fprintf(&b, "\n[[instance]]\nname = %q\ninterface = \"eth0\"\nvrid = %d\npriority = %d\nversion = %d\n"+
			"advert_interval = %q\nvips = [%q]\ngarp_delay = %q\n",
			in.name, in.vrid, prio, in.version, in.interval, in.vip, garpDelay)
	}
	return b.String()
}

// keepalivedConf renders a keepalived.conf with the same meaning as vrrpdConf: every instance
// starts as BACKUP and preempts (keepalived's defaults), and the priorities decide.
func keepalivedConf(node string, prio int, insts []inst, garpDelay time.Duration) string {
	var b strings.Builder
	fmt.Fprintf(&b, "global_defs {\n    router_id %s\n}\n", node)
	for _, in := range insts {
		fmt.Fprintf(&b, "vrrp_instance %s {\n    state BACKUP\n    interface eth0\n    virtual_router_id %d\n"+
			"    version %d\n    priority %d\n    advert_int %s\n    garp_master_delay %d\n"+
			"    virtual_ipaddress {\n        %s\n    }\n}\n",
			in.name, in.vrid, in.version, prio, strconv.FormatFloat(in.interval.Seconds(), 'f', -1, 64),
			int(garpDelay/time.Second), in.vip)
	}
	return b.String()
}

// vrrpdStatus runs `vrrpd status --json` against the daemon whose socket is in dir, and
// returns each instance's state by VRID.
func vrrpdStatus(bin, dir string) (map[int]string, error) {
	var out, errOut bytes.Buffer
	cmd := exec.Command(bin, "status", "--json", "--socket", filepath.Join(dir, "vrrpd.sock"))
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("vrrpd status: %w: %s", err, strings.TrimSpace(errOut.String()))
	}
	var s struct {
		Instances []struct {
			VRID  int    `json:"vrid"`
			State string `json:"state"`
		} `json:"instances"`
	}
	if err := json.Unmarshal(out.Bytes(), &s); err != nil {
		return nil, fmt.Errorf("vrrpd status --json: %w", err)
	}
	states := make(map[int]string, len(s.Instances))
	for _, in := range s.Instances {
		states[in.VRID] = in.State
	}
	return states, nil
}

// proc is one daemon process in a lab host's namespace. `ip netns exec` execs the daemon in
// place, so cmd's pid is the daemon's (keepalived's parent, for keepalived).
type proc struct {
	b      *bench
	im     *impl
	host   *lab.Host
	dir    string
	cmd    *exec.Cmd
	exited chan struct{} // closed when the process has been waited for
	err    error         // its exit, once exited is closed
}

// start writes conf into a fresh directory and starts the daemon with it on h.
func (b *bench) start(im *impl, h *lab.Host, conf string) (*proc, error) {
	dir, err := os.MkdirTemp(b.dir, im.name+"-"+h.Name+"-")
	if err != nil {
		return nil, err
	}
	confPath := filepath.Join(dir, im.name+".conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	log, err := os.Create(filepath.Join(dir, "log"))
	if err != nil {
		return nil, err
	}
	p := &proc{b: b, im: im, host: h, dir: dir, exited: make(chan struct{})}
	p.cmd = h.Command(context.Background(), im.argv(dir, confPath)...)
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
	b, _ := os.ReadFile(filepath.Join(p.dir, "log"))
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

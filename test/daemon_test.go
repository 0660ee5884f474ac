// Package test holds vrrpd's end-to-end tests: real daemons in network namespaces joined by a
// bridge, with real multicast, netlink and ARP, and a client namespace that observes.
package test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vrrpd/vrrpd/test/lab"
)

// vrrpdBin is the daemon under test, built once by TestMain.
var vrrpdBin string

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "vrrpd-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	// A race-built vrrpd sleeps a second before it exits, which every `vrrpd status` would pay.
	os.Setenv("GORACE", "atexit_sleep_ms=0")
	// Build only where the end-to-end tests can run; elsewhere they skip (or fail, with
	// VRRPD_REQUIRE_E2E=1) through labtest.Skip.
	if os.Geteuid() == 0 {
		vrrpdBin = filepath.Join(dir, "vrrpd")
		args := []string{"build", "-o", vrrpdBin}
		if raceEnabled {
			args = append(args, "-race") // the daemons are race-checked too
		}
		cmd := exec.Command("go", append(args, "../cmd/vrrpd")...)
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "building vrrpd: %v\n%s", err, out)
			return 1
		}
	}
	return m.Run()
}

// daemon is one vrrpd process in a lab host's namespace.
type daemon struct {
	t       *testing.T
	name    string
	host    *lab.Host
	dir     string
	conf    string   // the configuration file
	program []string // the vrrpd binary, possibly behind a wrapper
	*proc            // the running (or last) process
}

// proc is a process a test started, with its output appended to a log file.
type proc struct {
	name string
	cmd  *exec.Cmd
	done chan error // its exit, once
	err  error
	gone bool // its exit has been read
}

// startProc starts cmd, named name in errors, with its output appended to logPath.
func startProc(name string, cmd *exec.Cmd, logPath string) (*proc, error) {
	log, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, err
	}
	p := &proc{name: name, cmd: cmd, done: make(chan error, 1)}
	go func() { p.done <- cmd.Wait(); log.Close() }()
	return p, nil
}

// wait returns the process's exit, waiting up to 15s for it before killing it.
func (p *proc) wait() error {
	if p.gone {
		return p.err
	}
	select {
	case p.err = <-p.done:
	case <-time.After(15 * time.Second):
		p.cmd.Process.Kill()
		p.err = fmt.Errorf("%s did not exit within 15s: %w", p.name, <-p.done)
	}
	p.gone = true
	return p.err
}

// stop sends SIGTERM, as systemd or docker stop would, and waits for the exit.
func (p *proc) stop() error {
	if !p.gone {
		p.cmd.Process.Signal(syscall.SIGTERM)
	}
	return p.wait()
}

// kill sends SIGKILL, as an OOM kill or `docker kill` would, and waits for the exit.
func (p *proc) kill() error {
	if !p.gone {
		p.cmd.Process.Kill()
	}
	return p.wait()
}

func (d *daemon) socket() string  { return filepath.Join(d.dir, "vrrpd.sock") }
func (d *daemon) logPath() string { return filepath.Join(d.dir, "vrrpd.log") }

// startDaemon writes config and runs `vrrpd run` with it in host's namespace. The daemon is
// stopped (SIGTERM) when the test ends, and its log shown if the test failed.
func startDaemon(t *testing.T, host *lab.Host, config string) *daemon {
	t.Helper()
	dir := t.TempDir()
	conf := filepath.Join(dir, "vrrpd.toml")
	if err := os.WriteFile(conf, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	return runDaemon(t, host, dir, conf, vrrpdBin)
}

// runDaemon runs `PROGRAM run --config conf --socket dir/vrrpd.sock` in host's namespace, with
// its log in dir. PROGRAM is the vrrpd binary, possibly behind a wrapper such as setpriv. The
// daemon is stopped (SIGTERM) when the test ends, and its log shown if the test failed.
func runDaemon(t *testing.T, host *lab.Host, dir, conf string, program ...string) *daemon {
	t.Helper()
	d := &daemon{t: t, name: host.Name, host: host, dir: dir, conf: conf, program: program}
	d.start()
	t.Cleanup(func() {
		d.stop()
		if t.Failed() {
			log, _ := os.ReadFile(d.logPath())
			t.Logf("--- %s's log:\n%s", d.name, log)
		}
	})
	return d
}

func (d *daemon) start() {
	d.t.Helper()
	argv := append(slices.Clone(d.program), "run", "--config", d.conf, "--socket", d.socket())
	cmd := d.host.Command(d.t.Context(), argv...)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	p, err := startProc(d.name, cmd, d.logPath())
	if err != nil {
		d.t.Fatal(err)
	}
	d.proc = p
}

// restart runs the daemon again with the same configuration, after it stopped or was killed.
func (d *daemon) restart() {
	d.t.Helper()
	if !d.gone {
		d.t.Fatalf("%s: restart of a running daemon", d.name)
	}
	d.start()
}

// status is the subset of `vrrpd status --json` (SPEC.md) that the tests read.
type status struct {
	RouterID  string     `json:"router_id"`
	Instances []instance `json:"instances"`
	Sockets   []struct {
		Interface string            `json:"interface"`
		Family    string            `json:"family"`
		Drops     map[string]uint64 `json:"drops"`
	} `json:"sockets"`
}

type instance struct {
	Name              string            `json:"name"`
	Interface         string            `json:"interface"`
	VRID              int               `json:"vrid"`
	Version           int               `json:"version"`
	State             string            `json:"state"`
	Priority          int               `json:"priority"`
	EffectivePriority int               `json:"effective_priority"`
	PriorityReason    string            `json:"priority_reason"`
	Master            string            `json:"master"`
	MasterPriority    int               `json:"master_priority"`
	VIPs              []string          `json:"vips"`
	Since             string            `json:"since"`
	Reason            string            `json:"reason"`
	AdvertInterval    string            `json:"advert_interval"`
	MasterInterval    string            `json:"master_advert_interval"`
	AdvertsSent       uint64            `json:"adverts_sent"`
	AdvertsReceived   uint64            `json:"adverts_received"`
	Transitions       map[string]uint64 `json:"transitions"`
	Drops             map[string]uint64 `json:"drops"`
	Trackers          []tracker         `json:"trackers"`
	Duplicates        []struct {
		VIP      string   `json:"vip"`
		MAC      string   `json:"mac"`
		MACs     []string `json:"macs"`
		Answered int      `json:"answered"`
	} `json:"duplicates"`
	AddressMismatches uint64 `json:"address_mismatches"`
	Drained           bool   `json:"drained"`
	LastMismatch      *struct {
		From string   `json:"from"`
		VIPs []string `json:"vips"`
	} `json:"last_mismatch"`
}

// status runs `vrrpd status --json` against the daemon's socket, as an operator would.
func (d *daemon) status() (status, error) {
	var out, errOut bytes.Buffer
	cmd := exec.Command(vrrpdBin, "status", "--json", "--socket", d.socket())
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return status{}, fmt.Errorf("vrrpd status: %v: %s", err, strings.TrimSpace(errOut.String()))
	}
	return parseStatus(d.name, out.Bytes())
}

// parseStatus decodes the output of `vrrpd status --json` on the router who.
func parseStatus(who string, out []byte) (status, error) {
	var s status
	if err := json.Unmarshal(out, &s); err != nil {
		return status{}, fmt.Errorf("%s: vrrpd status --json: %v\n%s", who, err, out)
	}
	return s, nil
}

// instance returns the named instance.
func (s status) instance(name string) (instance, bool) {
	i := slices.IndexFunc(s.Instances, func(in instance) bool { return in.Name == name })
	if i < 0 {
		return instance{}, false
	}
	return s.Instances[i], true
}

func (d *daemon) instance(name string) (instance, error) {
	s, err := d.status()
	if err != nil {
		return instance{}, err
	}
	if in, ok := s.instance(name); ok {
		return in, nil
	}
	return instance{}, fmt.Errorf("%s has no instance %q", d.name, name)
}

// waitFor polls the daemon's status until ok holds for the instance, within generous bounds.
// t is the calling test, which may be a subtest of the one that started the daemon.
func (d *daemon) waitFor(t *testing.T, name, what string, within time.Duration, ok func(instance) bool) instance {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		in, err := d.instance(name)
		if err == nil && ok(in) {
			return in
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s %s: not %s within %s: %+v %v", d.name, name, what, within, in, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (d *daemon) waitState(t *testing.T, name, state string, within time.Duration) instance {
	t.Helper()
	return d.waitFor(t, name, state, within, func(in instance) bool { return in.State == state })
}

// logged waits until the daemon has logged a line that contains every one of subs, and
// returns it.
func (d *daemon) logged(t *testing.T, within time.Duration, subs ...string) string {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		log, _ := os.ReadFile(d.logPath())
		if lines := matching(string(log), subs...); len(lines) > 0 {
			return lines[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not log a line with %q within %s:\n%s", d.name, subs, within, log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// matching returns the lines of log that contain every one of subs.
func matching(log string, subs ...string) []string {
	var lines []string
	for line := range strings.Lines(log) {
		if !slices.ContainsFunc(subs, func(sub string) bool { return !strings.Contains(line, sub) }) {
			lines = append(lines, line)
		}
	}
	return lines
}

// runCmd runs a command, such as `vrrpd check` or `vrrpd drain`, and returns its exit code,
// stdout and stderr.
func runCmd(t *testing.T, cmd *exec.Cmd) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, out.String(), errOut.String()
}

// hasAddr reports whether the host's eth0 carries addr.
func hasAddr(t *testing.T, h *lab.Host, addr netip.Addr) bool {
	t.Helper()
	ps, err := h.Addrs("eth0")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		if p.Addr() == addr {
			return true
		}
	}
	return false
}

package test

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Day-2 operations (SPEC.md, "Operating without failovers"): routine work on a pair costs no
// failover. Each test has a client ping the VIP every 5ms, and asserts where the VIP ends, that
// the peer saw no transition it should not have, and the client's longest silence.

// installBinary copies vrrpd to path as an installer would: a new file renamed over the old,
// so that a running daemon keeps its image and the path names the new one.
func installBinary(t *testing.T, path string, content []byte) {
	t.Helper()
	tmp := path + ".new"
	if err := os.WriteFile(tmp, content, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// startInstalled runs the daemon from its own copy of the binary, at dir/sbin/vrrpd.
func startInstalled(t *testing.T, n *lan, host, config string) (*daemon, string) {
	t.Helper()
	bin, err := os.ReadFile(vrrpdBin)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "sbin", "vrrpd")
	os.MkdirAll(filepath.Dir(path), 0o755)
	installBinary(t, path, bin)
	conf := filepath.Join(dir, "vrrpd.toml")
	if err := os.WriteFile(conf, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	h := n.lb1
	if host == "lb2" {
		h = n.lb2
	}
	return runDaemon(t, h, dir, conf, path), path
}

// exeOf is where /proc says a process's binary is: " (deleted)" follows a replaced one.
func exeOf(t *testing.T, pid int) string {
	t.Helper()
	target, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	if err != nil {
		t.Fatal(err)
	}
	return target
}

// SIGUSR2 with a new binary installed over the running one's path: the daemon executes it in
// the same process and resumes. It stays master since the same moment, the peer sees no
// transition, and the client's pings go on.
func TestRestartInPlace(t *testing.T) {
	t.Parallel()
	n := newLAN(t, false)
	vip := netip.MustParseAddr("10.0.4.99")
	d1, path := startInstalled(t, n, "lb1", config("lb1", shared(110, "1s")))
	d2 := startDaemon(t, n.lb2, config("lb2", shared(100, "1s")))
	before := d1.waitState(t, "VI_1", "MASTER", 10*time.Second)
	d2.waitFor(t, "VI_1", "following lb1", 5*time.Second, func(in instance) bool { return in.Master == "10.0.4.20" })
	ping, _ := n.watch(t, vip)
	pid := d1.cmd.Process.Pid
	peerTransitions := d2.transitions()

	bin, _ := os.ReadFile(vrrpdBin)
	installBinary(t, path, bin)
	if exe := exeOf(t, pid); !strings.HasSuffix(exe, " (deleted)") {
		t.Fatalf("the running binary is %s, want the replaced one", exe)
	}
	d1.cmd.Process.Signal(syscall.SIGUSR2)
	t.Logf("lb1: %s", strings.TrimSpace(d1.logged(t, 30*time.Second, "restarted in place: resuming")))
	in := d1.waitState(t, "VI_1", "MASTER", 5*time.Second)
	time.Sleep(3 * time.Second) // longer than lb2's Master_Down_Interval

	if exe := exeOf(t, pid); exe != path {
		t.Errorf("after SIGUSR2 process %d runs %s, want the new %s", pid, exe, path)
	}
	if in.Since != before.Since {
		t.Errorf("lb1 is MASTER since %s, was since %s", in.Since, before.Since)
	}
	if got := d2.transitions(); got != peerTransitions {
		t.Errorf("lb2 made %d transitions during the restart", got-peerTransitions)
	}
	if s, _ := d2.instance("VI_1"); s.State != "BACKUP" || s.Master != "10.0.4.20" {
		t.Errorf("lb2: %s following %s", s.State, s.Master)
	}
	if !hasAddr(t, n.lb1, vip) || hasAddr(t, n.lb2, vip) {
		t.Error("the VIP is not on lb1 alone")
	}
	stats := ping.Stop()
	t.Logf("client: %d replies, longest silence %s", stats.Received, stats.MaxGap)
	if stats.MaxGap > 500*time.Millisecond {
		t.Errorf("the client's longest silence was %s", stats.MaxGap)
	}
	if got := logLines(t, d1, "msg=transition"); got != 2 {
		t.Errorf("lb1 logged %d transitions, want its first two only", got)
	}
}

// SIGUSR2 with a binary that exits at once: the running daemon checks it first, says why it
// will not restart, and goes on, master as before.
func TestRestartInPlaceRefused(t *testing.T) {
	t.Parallel()
	n := newLAN(t, false)
	d1, path := startInstalled(t, n, "lb1", config("lb1", shared(110, "1s")))
	before := d1.waitState(t, "VI_1", "MASTER", 10*time.Second)
	installBinary(t, path, []byte("#!/bin/sh\nexit 1\n"))
	d1.cmd.Process.Signal(syscall.SIGUSR2)
	d1.logged(t, 30*time.Second, "SIGUSR2: the new binary cannot take over, so the running one goes on")
	in, err := d1.instance("VI_1")
	if err != nil || in.State != "MASTER" || in.Since != before.Since {
		t.Errorf("after a refused restart: %+v, %v", in, err)
	}
	if !strings.HasSuffix(exeOf(t, d1.cmd.Process.Pid), " (deleted)") {
		t.Error("the daemon runs the broken binary")
	}
}

// A package upgrade (the .deb's postinst, configure with the old version) sends the running
// daemon SIGUSR2 once dpkg has put the new binary in place: it restarts in place, master as
// before. The postinst runs as under systemd: in a mount namespace whose /run has
// /run/systemd/system, with systemctl answering the daemon's pid as vrrpd.service's MainPID.
func TestUpgradeRestartsInPlace(t *testing.T) {
	t.Parallel()
	n := newLAN(t, false)
	d1, path := startInstalled(t, n, "lb1", config("lb1", shared(110, "1s")))
	before := d1.waitState(t, "VI_1", "MASTER", 10*time.Second)
	bin, _ := os.ReadFile(vrrpdBin)
	installBinary(t, path, bin) // what dpkg does before it runs the postinst

	fake := t.TempDir()
	for name, script := range map[string]string{
		"systemctl":          fmt.Sprintf("#!/bin/sh\n[ \"$1\" = show ] && echo %d\nexit 0\n", d1.cmd.Process.Pid),
		"deb-systemd-helper": "#!/bin/sh\nexit 0\n",
		"deb-systemd-invoke": "#!/bin/sh\nexit 0\n",
	} {
		if err := os.WriteFile(filepath.Join(fake, name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	postinst, err := filepath.Abs("../configs/package/postinst")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("unshare", "--mount", "sh", "-ec",
		`mount -t tmpfs tmpfs /run && mkdir -p /run/systemd/system && PATH="$FAKE:$PATH" sh "$POSTINST" configure 1.0.0`)
	cmd.Env = append(os.Environ(), "FAKE="+fake, "POSTINST="+postinst)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("postinst configure 1.0.0: %v\n%s", err, out)
	}
	d1.logged(t, 30*time.Second, "restarted in place: resuming")
	in := d1.waitState(t, "VI_1", "MASTER", 5*time.Second)
	if in.Since != before.Since {
		t.Errorf("lb1 is MASTER since %s, was since %s", in.Since, before.Since)
	}
	if exe := exeOf(t, d1.cmd.Process.Pid); exe != path {
		t.Errorf("after the upgrade the daemon runs %s, want the new %s", exe, path)
	}
}

// As PID 1 (here in a PID namespace of its own, as in a container started without an init),
// vrrpd reaps the orphans its hooks leave: each run of this hook leaves a background child
// that outlives it and is handed to PID 1.
func TestReapsOrphansAsPID1(t *testing.T) {
	t.Parallel()
	n := newLAN(t, false)
	dir := t.TempDir()
	hook := filepath.Join(dir, "hook.sh")
	ran := filepath.Join(dir, "ran")
	if err := os.WriteFile(hook, []byte("#!/bin/sh\n( sleep 0.2 ) &\necho >>"+ran+"\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "vrrpd.toml")
	cfg := config("lb1", shared(110, "100ms").with(fmt.Sprintf("[instance.notify]\nany = [%q]\n", hook)))
	if err := os.WriteFile(conf, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	d := runDaemon(t, n.lb1, dir, conf, "unshare", "--pid", "--fork", "--mount-proc", "--kill-child=SIGTERM", vrrpdBin)
	d.waitState(t, "VI_1", "MASTER", 10*time.Second)
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if b, _ := os.ReadFile(ran); len(b) >= 2 { // both hooks ran, and left their children
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the hooks did not run")
		}
	}
	daemonPid := childOf(t, d.cmd.Process.Pid)
	// unshare ignores SIGTERM while it waits for its child: stop the daemon itself, before the
	// cleanup that stops unshare.
	t.Cleanup(func() { syscall.Kill(daemonPid, syscall.SIGTERM) })
	time.Sleep(2 * time.Second) // the orphans have exited by now
	if z := zombiesOf(daemonPid); len(z) > 0 {
		t.Errorf("vrrpd (pid 1 of its namespace) left %d zombies: %v", len(z), z)
	}
}

// childOf returns the one child of pid.
func childOf(t *testing.T, pid int) int {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if kids := procs(func(_ int, ppid int, _ string) bool { return ppid == pid }); len(kids) == 1 {
			return kids[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %d has no single child", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// zombiesOf lists the zombie children of pid.
func zombiesOf(pid int) []int {
	return procs(func(_ int, ppid int, state string) bool { return ppid == pid && state == "Z" })
}

// procs lists the processes for which match holds, from /proc/PID/stat.
func procs(match func(pid, ppid int, state string) bool) []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) < 2 {
			continue
		}
		if ppid, err := strconv.Atoi(f[1]); err == nil && match(pid, ppid, f[0]) {
			out = append(out, pid)
		}
	}
	return out
}

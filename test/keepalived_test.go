package test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vrrpd/vrrpd/test/lab"
	"github.com/vrrpd/vrrpd/test/lab/labtest"
)

// requireKeepalived returns the path of keepalived, the interop peer. Like labtest.RequireRoot, it
// skips when keepalived is missing, and fails instead with VRRPD_REQUIRE_E2E=1 (CI installs
// Debian's package, so a green CI run never hides a skipped interop test).
func requireKeepalived(t *testing.T) string {
	t.Helper()
	labtest.RequireRoot(t, "runs keepalived in network namespaces")
	path, err := exec.LookPath("keepalived")
	if err != nil {
		path = "/usr/sbin/keepalived" // root's PATH has it, a test runner's may not
		if _, serr := os.Stat(path); serr != nil {
			labtest.Skip(t, "needs keepalived (apt-get install keepalived): "+err.Error())
		}
	}
	return path
}

// kaVR is one vrrp_instance of a keepalived configuration, with the same meaning as vr.
type kaVR struct {
	name     string
	vrid     int
	prio     int
	version  int
	interval time.Duration // v2: whole seconds; v3: down to 10ms
	vips     []string
	src      string
	peers    []string
	auth     string
	extra    string // more lines for the instance, e.g. "use_vmac"
}

// kaConfig renders a keepalived.conf. Every instance starts as BACKUP and preempts (keepalived's
// defaults), as a migrating operator's configuration would.
func kaConfig(routerID string, vrs ...kaVR) string {
	var b strings.Builder
	fmt.Fprintf(&b, "global_defs {\n    router_id %s\n}\n", routerID)
	for _, v := range vrs {
		fmt.Fprintf(&b, "vrrp_instance %s {\n    state BACKUP\n    interface eth0\n    virtual_router_id %d\n"+
			"    version %d\n    priority %d\n    advert_int %s\n",
			v.name, v.vrid, v.version, v.prio, strconv.FormatFloat(v.interval.Seconds(), 'f', -1, 64))
		if v.auth != "" {
			fmt.Fprintf(&b, "    authentication {\n        auth_type PASS\n        auth_pass %s\n    }\n", v.auth)
		}
		if v.src != "" {
			fmt.Fprintf(&b, "    unicast_src_ip %s\n    unicast_peer {\n", v.src)
			for _, p := range v.peers {
				fmt.Fprintf(&b, "        %s\n", p)
			}
			b.WriteString("    }\n")
		}
		b.WriteString(v.extra)
		b.WriteString("    virtual_ipaddress {\n")
		for _, a := range v.vips {
			fmt.Fprintf(&b, "        %s\n", a)
		}
		b.WriteString("    }\n}\n")
	}
	return b.String()
}

// keepalived is one keepalived (VRRP subsystem only) in a lab host's namespace. It runs in the
// foreground (-n) and logs to its console (-l), which goes to a file, not to syslog (-G). Its
// parent process forks a VRRP child; both pids are known, and both are gone after stop.
type keepalived struct {
	t     *testing.T
	host  *lab.Host
	dir   string
	*proc     // the parent
	child int // the VRRP child's pid, from the -r pidfile
}

func (k *keepalived) conf() string    { return filepath.Join(k.dir, "keepalived.conf") }
func (k *keepalived) logPath() string { return filepath.Join(k.dir, "keepalived.log") }

// startKeepalived writes conf and runs keepalived with it in host's namespace. It is stopped
// (SIGTERM) when the test ends, and its log shown if the test failed.
func startKeepalived(t *testing.T, host *lab.Host, conf string) *keepalived {
	t.Helper()
	bin := requireKeepalived(t)
	k := &keepalived{t: t, host: host, dir: t.TempDir()}
	if err := os.WriteFile(k.conf(), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	// ip netns exec execs keepalived in place: the command's pid is keepalived's parent. stop
	// ends it, so that its exit status is checked, not a cancelled context's.
	cmd := host.Command(context.Background(), bin, "-n", "-l", "-G", "-P", "-R", "-f", k.conf(),
		"-p", filepath.Join(k.dir, "keepalived.pid"), "-r", filepath.Join(k.dir, "vrrp.pid"))
	p, err := startProc("keepalived", cmd, k.logPath())
	if err != nil {
		t.Fatal(err)
	}
	k.proc = p
	t.Cleanup(func() {
		if err := k.stop(); err != nil {
			t.Errorf("keepalived on %s: %v", host.Name, err)
		}
		if t.Failed() {
			out, _ := os.ReadFile(k.logPath())
			t.Logf("--- keepalived on %s (%s):\n%s--- its configuration:\n%s", host.Name, k.conf(), out, conf)
		}
	})
	k.child = k.waitChild()
	return k
}

// waitChild returns the VRRP child's pid once keepalived has written it.
func (k *keepalived) waitChild() int {
	k.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := os.ReadFile(filepath.Join(k.dir, "vrrp.pid"))
		if pid, perr := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && perr == nil && pid > 0 {
			return pid
		}
		select {
		case err := <-k.done:
			k.done <- err
			k.t.Fatalf("keepalived on %s exited at start-up: %v", k.host.Name, err)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			k.t.Fatalf("keepalived on %s started no VRRP child within 10s", k.host.Name)
		}
	}
}

// stop sends SIGTERM to keepalived's parent, as systemd does, and waits for it to exit. The
// parent stops its VRRP child first, which sends priority 0 for every master and removes the
// VIPs. stop can be called again.
func (k *keepalived) stop() error {
	if k.gone {
		return k.err
	}
	k.proc.stop()
	// The child dies with its parent (keepalived sets PR_SET_PDEATHSIG), but make sure: it is
	// ours if its command line names our configuration file.
	if k.child > 0 {
		deadline := time.Now().Add(5 * time.Second)
		for k.childAlive() {
			if time.Now().After(deadline) {
				syscall.Kill(k.child, syscall.SIGKILL)
				k.err = fmt.Errorf("VRRP child %d outlived its parent: killed", k.child)
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return k.err
}

func (k *keepalived) childAlive() bool {
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", k.child))
	if err != nil || !bytes.Contains(cmdline, []byte(k.conf())) {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", k.child))
	return err == nil && !bytes.Contains(stat, []byte(") Z ")) // a zombie is gone
}

// log returns what keepalived has logged so far.
func (k *keepalived) log() string {
	b, _ := os.ReadFile(k.logPath())
	return string(b)
}

// waitLog waits until keepalived has logged a line containing s, such as "(VI_1) Entering
// BACKUP STATE". The wire and the VIPs are the tests' evidence; the log says when keepalived is
// ready.
func (k *keepalived) waitLog(t *testing.T, s string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !strings.Contains(k.log(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("keepalived on %s did not log %q within %s", k.host.Name, s, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

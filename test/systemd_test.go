package test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vrrpd/vrrpd/test/lab"
	"github.com/vrrpd/vrrpd/test/lab/labtest"
)

// TestSystemdUnitVerify runs `systemd-analyze verify` on configs/systemd/vrrpd.service: the unit
// parses, every key is known with a valid value, and the commands exist. It also asks
// `systemd-analyze security` to rate the sandbox, and fails if someone loosens it.
//
// verify needs the unit's commands to exist, and only checks that they are executable files, so
// a copy of the unit is verified with the binary's path pointing at this test's own executable.
// That needs no root and no build. verify reports most mistakes ("Unknown key", "Failed to parse")
// as warnings and still exits 0, so any output at all fails the test.
func TestSystemdUnitVerify(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		// Not an end-to-end test: without systemd there is nothing to verify against, and
		// VRRPD_REQUIRE_E2E does not turn this into a failure.
		t.Skip("systemd-analyze is not installed, so the unit is not verified")
	}
	unit, err := os.ReadFile(unitPath)
	if err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(unit, []byte(installedBinary)) {
		t.Fatalf("%s does not mention %s", unitPath, installedBinary)
	}
	// The file name is the unit's name, so it must stay vrrpd.service.
	copied := filepath.Join(t.TempDir(), "vrrpd.service")
	if err := os.WriteFile(copied, bytes.ReplaceAll(unit, []byte(installedBinary), []byte(self)), 0o644); err != nil {
		t.Fatal(err)
	}

	out, err := exec.CommandContext(t.Context(), analyze, "verify", "--man=no", copied).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("systemd-analyze verify %s: %v\n%s", unitPath, err, out)
	}

	// --threshold fails the command when the exposure (0 best, 10 worst) is above 3.0. The unit
	// rates 2.2 (most of it for the host network and the two capabilities it needs); the
	// hooks-as-root override its header describes rates 4.4 and would fail here, as it should
	// for the shipped file.
	out, err = exec.CommandContext(t.Context(), analyze, "security", "--offline=yes", "--threshold=30", "--no-pager", copied).CombinedOutput()
	if err != nil {
		t.Errorf("systemd-analyze security: %v: the unit's sandbox got looser:\n%s", err, out)
	}
}

// TestSystemdCredentials runs the daemon with the credentials the unit gives it, without
// systemd: a non-root user (a dynamic user's uid), holding exactly the capabilities of the
// unit's AmbientCapabilities= in its effective, permitted, inheritable, ambient and bounding
// sets, with no_new_privs. setpriv(1) sets them as systemd would. It shows that these suffice:
// the daemon opens its VRRP and packet sockets, wins the election against a root peer, adds the
// VIP, announces it with gratuitous ARP, serves `vrrpd status` to root, and on SIGTERM releases
// the VIP and exits 0.
func TestSystemdCredentials(t *testing.T) {
	labtest.RequireRoot(t, "switches to a dynamic user's uid in a network namespace")
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		labtest.Skip(t, "needs util-linux's setpriv")
	}
	caps, noNewPrivs := unitCredentials(t)
	const uid = 61184 // the first uid systemd hands out to a DynamicUser

	n := newLAN(t, false)
	capture := startCapture(t, n.client)
	vip := netip.MustParseAddr("10.0.4.99")

	// What systemd's RuntimeDirectory gives the daemon: a directory of its own for the socket.
	// The test binary's directory is private to root, so the daemon gets a copy of the binary.
	dir, err := os.MkdirTemp("", "vrrpd-unit-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, uid, uid); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "vrrpd")
	if err := copyFile(bin, vrrpdBin, 0o755); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "vrrpd.toml")
	if err := os.WriteFile(conf, []byte(config("lb1", shared(110, "200ms"))), 0o644); err != nil {
		t.Fatal(err)
	}

	argv := []string{setpriv, "--reuid", strconv.Itoa(uid), "--regid", strconv.Itoa(uid), "--clear-groups",
		"--inh-caps", caps, "--ambient-caps", caps, "--bounding-set", caps}
	if noNewPrivs {
		argv = append(argv, "--no-new-privs")
	}
	lb1 := runDaemon(t, n.lb1, dir, conf, append(argv, bin)...)
	lb2 := startDaemon(t, n.lb2, config("lb2", shared(100, "200ms")))

	lb1.waitState(t, "VI_1", "MASTER", 10*time.Second)
	// lb2 hears lb1's adverts: they left through the unprivileged raw socket.
	if in := lb2.waitState(t, "VI_1", "BACKUP", 10*time.Second); in.Master != "10.0.4.20" {
		t.Errorf("lb2 sees master %q, want lb1 (10.0.4.20)", in.Master)
	}
	if !hasAddr(t, n.lb1, vip) {
		t.Errorf("lb1 is MASTER without the VIP on eth0: netlink failed")
	}
	// The gratuitous ARP left through the packet socket.
	if _, err := capture.Wait(5*time.Second, func(es []lab.Event) bool {
		for _, e := range lab.Filter(es, lab.GARP) {
			if e.IP == vip && bytes.Equal(e.MAC, n.lb1.MAC) {
				return true
			}
		}
		return false
	}); err != nil {
		t.Errorf("no gratuitous ARP for %s from lb1: %v", vip, err)
	}

	// The daemon really runs with those credentials (and root could ask it for its status all
	// along, as an operator would, through a socket the daemon's user owns).
	want := map[string]string{
		"Uid": fmt.Sprintf("%d\t%[1]d\t%[1]d\t%[1]d", uid), "Gid": fmt.Sprintf("%d\t%[1]d\t%[1]d\t%[1]d", uid),
		"Groups": "", "CapEff": capMask(t, caps), "CapPrm": capMask(t, caps), "CapAmb": capMask(t, caps),
		"CapBnd": capMask(t, caps), "NoNewPrivs": "1",
	}
	if !noNewPrivs {
		want["NoNewPrivs"] = "0"
	}
	got := procStatus(t, lb1.cmd.Process.Pid, want)
	for k, v := range want {
		if got[k] != v {
			t.Errorf("lb1's /proc/PID/status %s: %q, want %q", k, got[k], v)
		}
	}

	// SIGTERM, as `systemctl stop` sends it: the VIP goes, the backup takes over, exit 0.
	if err := lb1.stop(); err != nil {
		t.Errorf("lb1 stopped with %v, want exit 0", err)
	}
	if hasAddr(t, n.lb1, vip) {
		t.Errorf("lb1 exited with the VIP still on eth0")
	}
	lb2.waitState(t, "VI_1", "MASTER", 5*time.Second)
}

// unitCredentials reads the unit's AmbientCapabilities= (as setpriv's list, "-all,+net_admin,...")
// and NoNewPrivileges=. The unit must bound the capabilities to the same set.
func unitCredentials(t *testing.T) (caps string, noNewPrivs bool) {
	t.Helper()
	b, err := os.ReadFile(unitPath)
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok && !strings.HasPrefix(k, "#") {
			keys[k] = v
		}
	}
	ambient := strings.Fields(keys["AmbientCapabilities"])
	if len(ambient) == 0 {
		t.Fatalf("%s: no AmbientCapabilities=", unitPath)
	}
	if bounding := strings.Fields(keys["CapabilityBoundingSet"]); strings.Join(bounding, " ") != strings.Join(ambient, " ") {
		t.Fatalf("%s: CapabilityBoundingSet=%s differs from AmbientCapabilities=%s", unitPath, bounding, ambient)
	}
	caps = "-all"
	for _, c := range ambient {
		caps += ",+" + strings.ToLower(strings.TrimPrefix(c, "CAP_"))
	}
	return caps, keys["NoNewPrivileges"] == "yes"
}

// capMask turns setpriv's list into the hexadecimal mask /proc/PID/status shows.
func capMask(t *testing.T, caps string) string {
	t.Helper()
	bits := map[string]uint{"net_admin": 12, "net_raw": 13} // linux/capability.h
	var m uint64
	for _, c := range strings.Split(caps, ",")[1:] {
		bit, ok := bits[strings.TrimPrefix(c, "+")]
		if !ok {
			t.Fatalf("capability %s: add its number to capMask", c)
		}
		m |= 1 << bit
	}
	return fmt.Sprintf("%016x", m)
}

// procStatus returns the fields of /proc/PID/status named in want.
func procStatus(t *testing.T, pid int, want map[string]string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for line := range strings.Lines(string(b)) {
		k, v, _ := strings.Cut(strings.TrimSuffix(line, "\n"), ":")
		if _, ok := want[k]; ok {
			got[k] = strings.TrimSpace(v)
		}
	}
	return got
}

func copyFile(dst, src string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

package test

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vrrpd/vrrpd/test/lab/labtest"
)

// What keepalived users bring along (issue 17, SPEC.md "added 2026-12"): the file and ping
// checks, a check's own user, link debounce, the reassert and priority hooks, and `vrrpd check`
// on pairs and offline.

// writeTrackFile writes content to path as SPEC.md's file check asks an operator to: a new file
// renamed over the old one, so that the daemon never reads it half written.
func writeTrackFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path+".new", []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".new", path); err != nil {
		t.Fatal(err)
	}
}

// fileCheck is a [[check]] named maint reading path, keepalived's track_file, at weight.
func fileCheck(path string, weight int) string {
	return fmt.Sprintf("\n[[check]]\nname = \"maint\"\nfile = %q\ninterval = \"1s\"\nweight = %d\n", path, weight)
}

const trackMaint = "track_checks = [{ name = \"maint\" }]\n"

// A file check with weight -20 on lb1 (110 against lb2's 100): "1" in the file takes 20 off lb1's
// priority, so lb2 preempts it, and lb1's status says why; removing the file (a missing file counts
// as 0) gives lb1 its 110 back, and it preempts in turn. With weight 0, any number but 0 is FAULT.
func TestFileCheck(t *testing.T) {
	t.Parallel()
	t.Run("weight -20", func(t *testing.T) {
		t.Parallel()
		n := newLAN(t, false)
		vip := netip.MustParseAddr("10.0.4.99")
		maint := filepath.Join(t.TempDir(), "maintenance")
		d1 := startDaemon(t, n.lb1, configWith("lb1", fileCheck(maint, -20), shared(110, "200ms").with(trackMaint)))
		d1.waitState(t, "VI_1", "MASTER", 10*time.Second)
		d2 := startDaemon(t, n.lb2, config("lb2", shared(100, "200ms")))
		d2.waitFor(t, "VI_1", "following lb1", 5*time.Second, func(in instance) bool { return in.Master == "10.0.4.20" })
		n.watch(t, vip)

		writeTrackFile(t, maint, "1\n")
		d2.waitState(t, "VI_1", "MASTER", 10*time.Second)
		in := d1.waitState(t, "VI_1", "BACKUP", 5*time.Second)
		if want := "check maint holds 1 (weight -20: -20): priority 110 -> 90"; in.EffectivePriority != 90 || in.PriorityReason != want {
			t.Errorf("lb1 with 1 in the file: priority %d, priority_reason %q; want 90, %q", in.EffectivePriority, in.PriorityReason, want)
		}
		if len(in.Trackers) != 2 || in.Trackers[1] != (tracker{"check", "maint", false, -20}) {
			t.Errorf("lb1's trackers %+v, want check maint down at -20", in.Trackers)
		}
		clientFollows(t, n.client, vip, n.lb2.MAC)

		if err := os.Remove(maint); err != nil {
			t.Fatal(err)
		}
		in = d1.waitState(t, "VI_1", "MASTER", 10*time.Second)
		if in.EffectivePriority != 110 || in.PriorityReason != "" {
			t.Errorf("lb1 without the file: priority %d, priority_reason %q; want 110 and none", in.EffectivePriority, in.PriorityReason)
		}
		d2.waitState(t, "VI_1", "BACKUP", 5*time.Second)
		clientFollows(t, n.client, vip, n.lb1.MAC)
	})

	t.Run("weight 0", func(t *testing.T) {
		t.Parallel()
		n := newLAN(t, false)
		maint := filepath.Join(t.TempDir(), "maintenance")
		writeTrackFile(t, maint, "0\n")
		d1 := startDaemon(t, n.lb1, configWith("lb1", fileCheck(maint, 0), shared(110, "200ms").with(trackMaint)))
		d1.waitState(t, "VI_1", "MASTER", 10*time.Second)

		writeTrackFile(t, maint, "3\n")
		in := d1.waitState(t, "VI_1", "FAULT", 5*time.Second)
		if want := "check maint: " + maint + " holds 3"; in.Reason != want {
			t.Errorf("lb1's reason %q, want %q", in.Reason, want)
		}
		if hasAddr(t, n.lb1, netip.MustParseAddr("10.0.4.99")) {
			t.Error("lb1 kept the VIP in FAULT")
		}
		writeTrackFile(t, maint, "0\n")
		d1.waitState(t, "VI_1", "MASTER", 10*time.Second)
	})
}

// childFaults is the number of minor page faults of the daemon's children that it has waited
// for (cminflt in /proc/PID/stat): every program it runs, however briefly, adds hundreds.
func (d *daemon) childFaults(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", d.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:]) // f[0] is field 3, the state
	n, err := strconv.Atoi(f[8])                             // field 11, cminflt
	if err != nil {
		t.Fatalf("/proc/%d/stat: %v", d.cmd.Process.Pid, err)
	}
	return n
}

// A ping check of the gateway, gw, with weight -20 on lb1: deleting gw's address moves the VIP to
// lb2, and restoring it brings it back. The echo is sent from the daemon itself: it runs no
// program while the check runs, fails and recovers.
func TestPingCheck(t *testing.T) {
	t.Parallel()
	n := newLAN(t, false)
	gw := labtest.MustHost(t, n.lab, "gw", "10.0.4.1/24")
	check := "\n[[check]]\nname = \"gateway\"\nping = \"10.0.4.1\"\ninterval = \"200ms\"\ntimeout = \"150ms\"\nfall = 2\nrise = 2\nweight = -20\n"
	d1 := startDaemon(t, n.lb1, configWith("lb1", check, shared(110, "200ms").with("track_checks = [{ name = \"gateway\" }]\n")))
	d1.waitState(t, "VI_1", "MASTER", 10*time.Second)
	faults := d1.childFaults(t)
	d2 := startDaemon(t, n.lb2, config("lb2", shared(100, "200ms")))
	d2.waitFor(t, "VI_1", "following lb1", 5*time.Second, func(in instance) bool { return in.Master == "10.0.4.20" })
	if in, _ := d1.instance("VI_1"); len(in.Trackers) != 2 || in.Trackers[1] != (tracker{"check", "gateway", true, -20}) {
		t.Fatalf("lb1's trackers %+v, want check gateway up", in.Trackers)
	}

	labtest.MustIP(t, gw, "addr", "del", "10.0.4.1/24", "dev", "eth0")
	d2.waitState(t, "VI_1", "MASTER", 10*time.Second)
	in := d1.waitState(t, "VI_1", "BACKUP", 5*time.Second)
	if in.EffectivePriority != 90 || !strings.HasPrefix(in.PriorityReason, "check gateway down (weight -20)") {
		t.Errorf("lb1 with the gateway gone: priority %d, priority_reason %q", in.EffectivePriority, in.PriorityReason)
	}

	labtest.MustIP(t, gw, "addr", "add", "10.0.4.1/24", "dev", "eth0")
	d1.waitState(t, "VI_1", "MASTER", 10*time.Second)
	d2.waitState(t, "VI_1", "BACKUP", 5*time.Second)
	if got := d1.childFaults(t); got != faults {
		t.Errorf("lb1 ran programs while its ping check ran: their page faults went from %d to %d", faults, got)
	}
	pid := d1.cmd.Process.Pid
	if kids := procs(func(_, ppid int, _ string) bool { return ppid == pid }); len(kids) > 0 {
		t.Errorf("lb1 has child processes %v", kids)
	}
}

// An exec check with user = "nobody" runs its program as nobody: the program records its uid.
func TestCheckUser(t *testing.T) {
	t.Parallel()
	n := newLAN(t, false)
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Fatal(err)
	}
	bin, out := labtest.SharedDir(t), labtest.WritableDir(t)
	script := filepath.Join(bin, "whoami.sh")
	uid := filepath.Join(out, "uid")
	if err := os.WriteFile(script, []byte("#!/bin/sh\nid -u > "+uid+".new && mv "+uid+".new "+uid+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	check := fmt.Sprintf("\n[[check]]\nname = \"whoami\"\nexec = [%q]\nuser = \"nobody\"\ninterval = \"200ms\"\nweight = -20\n", script)
	d1 := startDaemon(t, n.lb1, configWith("lb1", check, shared(110, "200ms").with("track_checks = [{ name = \"whoami\" }]\n")))
	d1.waitFor(t, "VI_1", "with the check up", 10*time.Second, func(in instance) bool {
		return len(in.Trackers) == 2 && in.Trackers[1].Up
	})
	b, err := os.ReadFile(uid)
	if got := strings.TrimSpace(string(b)); err != nil || got != nobody.Uid {
		t.Errorf("the check ran as uid %q (%v), want nobody's %s", got, err, nobody.Uid)
	}
}

// lb1 tracks a second link with down_delay = "2s" and weight -20: a 1s blip changes nothing (lb2
// makes no transition and lb1 stays master since the same moment), while a lasting loss moves the
// VIP to lb2.
func TestLinkDebounce(t *testing.T) {
	t.Parallel()
	n := newLAN(t, false)
	vip := netip.MustParseAddr("10.0.4.99")
	down, up := secondLink(t, n.lb1)
	track := "track_interfaces = [{ name = \"trk0\", weight = -20, down_delay = \"2s\" }]\n"
	d1 := startDaemon(t, n.lb1, config("lb1", shared(110, "200ms").with(track)))
	d1.waitState(t, "VI_1", "MASTER", 10*time.Second)
	d2 := startDaemon(t, n.lb2, config("lb2", shared(100, "200ms")))
	before := d2.waitFor(t, "VI_1", "following lb1", 5*time.Second, func(in instance) bool { return in.Master == "10.0.4.20" })
	master, _ := d1.instance("VI_1")
	transitions := d2.transitions()

	down()
	time.Sleep(time.Second)
	up()
	time.Sleep(3 * time.Second) // past the down_delay, and more than lb2's Skew_Time beyond it
	in2, err := d2.instance("VI_1")
	if err != nil {
		t.Fatal(err)
	}
	if got := d2.transitions(); got != transitions || in2.State != "BACKUP" || in2.Since != before.Since {
		t.Errorf("after a 1s blip under a 2s down_delay, lb2 made %d transitions and is %s since %s (was since %s)",
			got-transitions, in2.State, in2.Since, before.Since)
	}
	if in1, _ := d1.instance("VI_1"); in1.State != "MASTER" || in1.Since != master.Since || in1.EffectivePriority != 110 {
		t.Errorf("after the blip lb1 is %s at %d since %s (was MASTER since %s)", in1.State, in1.EffectivePriority, in1.Since, master.Since)
	}
	if !hasAddr(t, n.lb1, vip) || hasAddr(t, n.lb2, vip) {
		t.Error("after the blip the VIP is not on lb1 alone")
	}

	down()
	d2.waitState(t, "VI_1", "MASTER", 10*time.Second)
	if in1 := d1.waitState(t, "VI_1", "BACKUP", 5*time.Second); in1.EffectivePriority != 90 {
		t.Errorf("lb1 with trk0 down for good: priority %d, want 90", in1.EffectivePriority)
	}
	up()
	d1.waitState(t, "VI_1", "MASTER", 10*time.Second)
}

// A split brain (VRRP blocked on the bridge, so both lb1 and lb2 are master) heals: lb1, the
// winner at 110, hears lb2 and answers it, and runs its reassert hook, which a cloud hook would
// use to claim the address back; lb2, which yields, does not run its own. The master hook is the
// example cloud hook, configs/cloud-hook.sh, which says what it would claim.
func TestReassertHook(t *testing.T) {
	t.Parallel()
	n := newLAN(t, false)
	cloudHook, err := filepath.Abs("../configs/cloud-hook.sh")
	if err != nil {
		t.Fatal(err)
	}
	rec1, rec2 := newRecorder(t), newRecorder(t)
	reassert := func(r recorder) string {
		return fmt.Sprintf("[instance.notify]\nmaster = [%q]\nreassert = [%q, \"reassert-hook\"]\n", cloudHook, r.hook)
	}
	d1 := startDaemon(t, n.lb1, config("lb1", shared(110, "200ms").with(reassert(rec1))))
	d1.waitState(t, "VI_1", "MASTER", 10*time.Second)
	d2 := startDaemon(t, n.lb2, config("lb2", shared(100, "200ms").with(reassert(rec2))))
	d2.waitFor(t, "VI_1", "following lb1", 5*time.Second, func(in instance) bool { return in.Master == "10.0.4.20" })

	if err := n.lab.NFT("add", "rule", "bridge", "lab", "labforward", "ip", "protocol", "112", "drop"); err != nil {
		t.Fatal(err)
	}
	d2.waitState(t, "VI_1", "MASTER", 5*time.Second)
	if in, _ := d1.instance("VI_1"); in.State != "MASTER" {
		t.Fatalf("lb1 is %s during the split brain, want MASTER", in.State)
	}
	for _, r := range []recorder{rec1, rec2} {
		if b, _ := os.ReadFile(r.out); len(b) > 0 {
			t.Fatalf("a reassert hook ran before the split brain healed:\n%s", b)
		}
	}

	if err := n.lab.NFT("flush", "chain", "bridge", "lab", "labforward"); err != nil {
		t.Fatal(err)
	}
	d2.waitState(t, "VI_1", "BACKUP", 5*time.Second)
	call := rec1.calls(t, 1)[0]
	want := "reassert-hook | VI_1 MASTER->MASTER prio=110 vrid=51 if=eth0 vips=10.0.4.99/24 group=none | answered master 10.0.4.21, which advertised priority "
	if !strings.HasPrefix(call, want) {
		t.Errorf("lb1's reassert hook:\n got %s\nwant %s...", call, want)
	}
	time.Sleep(time.Second) // lb2 follows lb1 now: a hook of its own would have run by now
	if b, _ := os.ReadFile(rec2.out); len(b) > 0 {
		t.Errorf("lb2, which yielded, ran its reassert hook:\n%s", b)
	}
	d1.logged(t, time.Second, "another master was heard: re-announced the VIPs")
	d1.logged(t, time.Second, "hook=master", "cloud-hook: dry run (CLOUD_PROVIDER is not set): would claim 10.0.4.99 for VI_1 (no master heard for")

	// A plain preemption is no split brain: lb2 yields with priority 0 as lb1 asked, and no
	// reassert hook runs.
	d1.stop()
	d2.waitState(t, "VI_1", "MASTER", 5*time.Second)
	d1.restart()
	d1.waitState(t, "VI_1", "MASTER", 10*time.Second)
	d2.waitState(t, "VI_1", "BACKUP", 5*time.Second)
	time.Sleep(time.Second)
	if got := rec1.calls(t, 1); len(got) != 1 {
		t.Errorf("lb1's reassert hook ran again after preempting lb2:\n%s", strings.Join(got, "\n"))
	}
}

// The priority hook runs whenever a check's weight changes the effective priority, with the new
// priority in VRRPD_PRIORITY and what changed it in VRRPD_REASON: a file check at weight -20
// holding 1, then 2, then removed.
func TestPriorityHook(t *testing.T) {
	t.Parallel()
	n := newLAN(t, false)
	rec := newRecorder(t)
	maint := filepath.Join(t.TempDir(), "maintenance")
	hooks := fmt.Sprintf("[instance.notify]\npriority = [%q, \"priority-hook\"]\n", rec.hook)
	d1 := startDaemon(t, n.lb1, configWith("lb1", fileCheck(maint, -20), shared(110, "200ms").with(trackMaint+hooks)))
	d1.waitState(t, "VI_1", "MASTER", 10*time.Second)

	for i, c := range []struct {
		content string // "" removes the file
		prio    int
		reason  string
	}{
		{"1", 90, "check maint holds 1 (weight -20: -20): priority 110 -> 90"},
		{"2", 70, "check maint holds 2 (weight -20: -40): priority 110 -> 70"},
		{"", 110, "back to the configured priority 110: nothing changes it"},
	} {
		if c.content == "" {
			if err := os.Remove(maint); err != nil {
				t.Fatal(err)
			}
		} else {
			writeTrackFile(t, maint, c.content+"\n")
		}
		d1.waitFor(t, "VI_1", fmt.Sprintf("at priority %d", c.prio), 5*time.Second, func(in instance) bool { return in.EffectivePriority == c.prio })
		got := rec.calls(t, i+1)
		want := strings.TrimSpace(fmt.Sprintf("priority-hook | VI_1 MASTER->MASTER prio=%d vrid=51 if=eth0 vips=10.0.4.99/24 group=none | %s", c.prio, c.reason))
		if len(got) != i+1 || got[i] != want {
			t.Fatalf("after %q in the file the priority hook recorded:\n%s\nwant call %d: %s", c.content, strings.Join(got, "\n"), i+1, want)
		}
	}
}

// `vrrpd check lb1.toml lb2.toml` on the shipped example pair exits 0 and says they work
// together; with lb1's nginx weight cut to -5 (110 - 5 is still above lb2's 100) it exits 1 and
// names the file, the instance and the problem.
func TestCheckPair(t *testing.T) {
	t.Parallel()
	labtest.RequireRoot(t, "uses the vrrpd binary built for the end-to-end tests")
	dir := t.TempDir()
	lb1, lb2 := filepath.Join(dir, "lb1.toml"), filepath.Join(dir, "lb2.toml")
	for src, dst := range map[string]string{"../configs/lb1.toml": lb1, "../configs/lb2.toml": lb2} {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// --offline: the examples' notify.sh is not installed on this machine.
	code, out, errOut := runCmd(t, exec.Command(vrrpdBin, "check", "--offline", lb1, lb2))
	if code != 0 || !strings.Contains(out, lb1+", "+lb2+" work together as the hosts of one LAN") {
		t.Errorf("the example pair: exit %d\n%s%s", code, out, errOut)
	}

	b, _ := os.ReadFile(lb1)
	weak := strings.Replace(string(b), "weight = -20", "weight = -5", 1)
	if weak == string(b) {
		t.Fatal("lb1.toml has no weight = -20 to weaken")
	}
	if err := os.WriteFile(lb1, []byte(weak), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = runCmd(t, exec.Command(vrrpdBin, "check", "--offline", lb1, lb2))
	want := lb1 + `: instance "VI_1": track_checks "nginx": weight -5 cannot move the VIP: 110 - 5 = 105 is not below 100, the priority of "VI_1" in ` + lb2
	if code != 1 || !strings.Contains(errOut, want) || strings.Contains(out, "work together") {
		t.Errorf("the pair with weight -5: exit %d\nstdout:\n%s\nstderr:\n%s\nwant exit 1 and %q", code, out, errOut, want)
	}
}

// `vrrpd check --offline` passes a configuration whose check programs and interfaces this host
// lacks (for a CI pipeline). On the host, without --offline, check fails on the missing programs,
// naming each; and once they are there, it passes but warns of each missing interface.
func TestCheckOffline(t *testing.T) {
	t.Parallel()
	n := newLAN(t, false)
	bin := filepath.Join(t.TempDir(), "bin")
	conf := filepath.Join(t.TempDir(), "vrrpd.toml")
	cfg := fmt.Sprintf(`[global]
router_id = "lb1"

[[check]]
name = "api"
exec = ["%[1]s/check_api", "--quick"]

[[check]]
name = "nginx"
script = "%[1]s/check_nginx.sh --quick"

[[instance]]
name = "VI_1"
interface = "bond7"
vrid = 51
priority = 110
vips = ["10.0.4.99/24"]
track_checks = [{ name = "api" }, { name = "nginx" }]
track_interfaces = [{ name = "bond8", weight = -20 }]
`, bin)
	if err := os.WriteFile(conf, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	valid := conf + " is valid: 1 instance(s), 2 check(s), 0 sync group(s)\n"
	check := func(args ...string) (int, string, string) {
		t.Helper()
		return runCmd(t, n.lb1.Command(t.Context(), append([]string{vrrpdBin, "check"}, args...)...))
	}

	if code, out, errOut := check("--offline", conf); code != 0 || out != valid || errOut != "" {
		t.Errorf("check --offline: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}

	code, out, errOut := check(conf)
	if code != 1 {
		t.Errorf("check on the host without the programs: exit %d, want 1\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	for _, what := range []string{`check "api": exec: ` + bin + "/check_api", `check "nginx": script: ` + bin + "/check_nginx.sh"} {
		if !strings.Contains(errOut, what) {
			t.Errorf("check on the host does not name %s:\n%s", what, errOut)
		}
	}

	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, prog := range []string{"check_api", "check_nginx.sh"} {
		if err := os.WriteFile(filepath.Join(bin, prog), []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	code, out, errOut = check(conf)
	if code != 0 || out != valid {
		t.Errorf("check on the host with the programs: exit %d, want 0\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	for _, what := range []string{"interface: bond7 does not exist on this host", "track_interfaces[0].name: bond8 does not exist on this host"} {
		if !strings.Contains(errOut, "warning: "+conf+": "+`instance "VI_1": `+what) {
			t.Errorf("check on the host does not warn that %s:\n%s", what, errOut)
		}
	}
}

package test

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vrrpd/vrrpd/test/lab"
	"github.com/vrrpd/vrrpd/test/lab/labtest"
)

// fakeProcess runs a copy of sleep under name, as a stand-in for nginx that a process check
// finds in /proc; kill stops it. The name is unique to the test: /proc is shared by every
// namespace.
type fakeProcess struct {
	t    *testing.T
	path string
	cmd  *exec.Cmd
}

func startFake(t *testing.T, name string) *fakeProcess {
	t.Helper()
	sleep, err := os.ReadFile("/bin/sleep")
	if err != nil {
		t.Fatal(err)
	}
	p := &fakeProcess{t: t, path: filepath.Join(t.TempDir(), name)}
	if err := os.WriteFile(p.path, sleep, 0o755); err != nil {
		t.Fatal(err)
	}
	p.start()
	t.Cleanup(p.kill)
	return p
}

func (p *fakeProcess) start() {
	p.t.Helper()
	p.cmd = exec.Command(p.path, "1000")
	if err := p.cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
}

func (p *fakeProcess) kill() {
	if p.cmd != nil {
		p.cmd.Process.Kill()
		p.cmd.Wait()
		p.cmd = nil
	}
}

// recorder writes a notify hook that appends one line per call, with its arguments and the
// VRRPD_* environment, to a file.
type recorder struct {
	hook, out string
}

func newRecorder(t *testing.T) recorder {
	dir := t.TempDir()
	r := recorder{hook: filepath.Join(dir, "hook.sh"), out: filepath.Join(dir, "calls")}
	script := `#!/bin/sh
echo "$* | $VRRPD_INSTANCE $VRRPD_PREVIOUS_STATE->$VRRPD_STATE prio=$VRRPD_PRIORITY vrid=$VRRPD_VRID if=$VRRPD_INTERFACE vips=$VRRPD_VIPS group=${VRRPD_GROUP-none} | $VRRPD_REASON" >> ` + r.out + "\n"
	if err := os.WriteFile(r.hook, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return r
}

// notify renders an [instance.notify] table running the recorder for every state and for any.
func (r recorder) notify() string {
	return fmt.Sprintf(`
[instance.notify]
master = [%[1]q, "master-hook"]
backup = [%[1]q, "backup-hook"]
fault = [%[1]q, "fault-hook"]
stop = [%[1]q, "stop-hook"]
any = [%[1]q]
`, r.hook)
}

// calls waits until the recorder holds at least n lines and returns them.
func (r recorder) calls(t *testing.T, n int) []string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, _ := os.ReadFile(r.out)
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		if len(b) > 0 && len(lines) >= n {
			return lines
		}
		if time.Now().After(deadline) {
			t.Fatalf("hooks recorded %d calls, want %d:\n%s", len(lines), n, b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The nginx pair with a process check: killing nginx on the master moves the VIP within
// the check's fall time plus about one advert interval; restarting it moves the VIP back. The
// hooks see every transition with keepalived's arguments and SPEC's environment.
func TestCheckMovesVIP(t *testing.T) {
	t.Parallel()
	n := newLAN(t, false)
	vip := netip.MustParseAddr("10.0.4.99")
	name := "ngx-" + n.lab.Prefix // unique in /proc, at most 15 bytes
	nginx := startFake(t, name)
	rec := newRecorder(t)
	check := fmt.Sprintf("\n[[check]]\nname = \"nginx\"\nprocess = %q\ninterval = \"100ms\"\nfall = 2\nrise = 2\nweight = -20\n", name)
	d1 := startDaemon(t, n.lb1, configWith("lb1", check, shared(110, "200ms").with("track_checks = [{ name = \"nginx\" }]\n"+rec.notify())))
	// lb2 starts once lb1 is master, so that lb1's first master hook has a known reason: had lb2
	// started first, it could become master before lb1 and be preempted.
	d1.waitState(t, "VI_1", "MASTER", 5*time.Second)
	d2 := startDaemon(t, n.lb2, config("lb2", shared(100, "200ms")))
	d2.waitFor(t, "VI_1", "following lb1", 5*time.Second, func(in instance) bool { return in.Master == "10.0.4.20" })
	ping, _ := n.watch(t, vip)

	killed := time.Now()
	nginx.kill()
	in := d2.waitState(t, "VI_1", "MASTER", 5*time.Second)
	t.Logf("nginx killed -> lb2 MASTER seen after %s (fall 2 x 100ms + about one 200ms interval)", time.Since(killed))
	if in.Reason != "preempted master 10.0.4.20, whose priority 90 is lower than ours (100)" {
		t.Errorf("lb2's reason %q", in.Reason)
	}
	in1 := d1.waitState(t, "VI_1", "BACKUP", 2*time.Second)
	if in1.EffectivePriority != 90 || len(in1.Trackers) != 2 || in1.Trackers[1] != (tracker{"check", "nginx", false, -20}) {
		t.Errorf("lb1: effective priority %d, trackers %+v", in1.EffectivePriority, in1.Trackers)
	}
	clientFollows(t, n.client, vip, n.lb2.MAC)
	if err := ping.WaitReply(time.Now(), 5*time.Second); err != nil {
		t.Fatal(err)
	}

	nginx.start()
	d1.waitState(t, "VI_1", "MASTER", 5*time.Second)
	d2.waitState(t, "VI_1", "BACKUP", 2*time.Second)
	clientFollows(t, n.client, vip, n.lb1.MAC)

	// The hooks, in order: start-up as backup, master, backup for the check, master again.
	// Each state hook gets its arguments, and any gets keepalived's INSTANCE name state priority.
	want := []string{
		"backup-hook | VI_1 INIT->BACKUP prio=110 vrid=51 if=eth0 vips=10.0.4.99/24 group=none | start-up: waiting for a master",
		"INSTANCE VI_1 BACKUP 110 | VI_1 INIT->BACKUP prio=110 vrid=51 if=eth0 vips=10.0.4.99/24 group=none | start-up: waiting for a master",
		"master-hook | VI_1 BACKUP->MASTER prio=110 vrid=51 if=eth0 vips=10.0.4.99/24 group=none | ",
		"INSTANCE VI_1 MASTER 110 | VI_1 BACKUP->MASTER prio=110 vrid=51 if=eth0 vips=10.0.4.99/24 group=none | ",
		"backup-hook | VI_1 MASTER->BACKUP prio=90 vrid=51 if=eth0 vips=10.0.4.99/24 group=none | higher priority 100 from 10.0.4.21",
		"INSTANCE VI_1 BACKUP 90 | VI_1 MASTER->BACKUP prio=90 vrid=51 if=eth0 vips=10.0.4.99/24 group=none | higher priority 100 from 10.0.4.21",
		"master-hook | VI_1 BACKUP->MASTER prio=110 vrid=51 if=eth0 vips=10.0.4.99/24 group=none | preempted master 10.0.4.21, whose priority 100 is lower than ours (110)",
		"INSTANCE VI_1 MASTER 110 | VI_1 BACKUP->MASTER prio=110 vrid=51 if=eth0 vips=10.0.4.99/24 group=none | preempted master 10.0.4.21, whose priority 100 is lower than ours (110)",
	}
	got := rec.calls(t, len(want))
	for i := range want {
		if i == 2 || i == 3 { // lb1 became master at start-up after Master_Down_Interval: the reason says so
			if !strings.HasPrefix(got[i], want[i]+"no master heard for") {
				t.Errorf("call %d:\n got %s\nwant %s...", i, got[i], want[i])
			}
			continue
		}
		if got[i] != want[i] {
			t.Errorf("call %d:\n got %s\nwant %s", i, got[i], want[i])
		}
	}
	d1.stop()
	if got := rec.calls(t, len(want)+2); !strings.HasPrefix(got[len(want)], "stop-hook | VI_1 MASTER->STOP") {
		t.Errorf("after SIGTERM: %s, want the stop hook", got[len(want)])
	}
}

// tracker is a tracker in `vrrpd status --json`.
type tracker struct {
	Kind   string `json:"kind"`
	Name   string `json:"name"`
	Up     bool   `json:"up"`
	Weight int    `json:"weight"`
}

// secondLink gives a host a second link, trk0, whose carrier the test controls through its
// peer trk1, both in the host's namespace.
func secondLink(t *testing.T, h *lab.Host) (down, up func()) {
	ip := func(args ...string) { t.Helper(); labtest.MustIP(t, h, args...) }
	ip("link", "add", "trk0", "type", "veth", "peer", "name", "trk1")
	ip("link", "set", "trk0", "up")
	ip("link", "set", "trk1", "up")
	return func() { ip("link", "set", "trk1", "down") }, func() { ip("link", "set", "trk1", "up") }
}

// A tracked interface going down puts the instance in FAULT; the peer takes over at once (the
// faulting master sends priority 0), and the VIP comes back when the link does.
func TestTrackedInterfaceFault(t *testing.T) {
	t.Parallel()
	n := newLAN(t, false)
	vip := netip.MustParseAddr("10.0.4.99")
	down, up := secondLink(t, n.lb1)
	d1 := startDaemon(t, n.lb1, config("lb1", shared(110, "1s").with("track_interfaces = [{ name = \"trk0\" }]\n")))
	d2 := startDaemon(t, n.lb2, config("lb2", shared(100, "1s")))
	d1.waitState(t, "VI_1", "MASTER", 10*time.Second)
	d2.waitFor(t, "VI_1", "following lb1", 5*time.Second, func(in instance) bool { return in.Master == "10.0.4.20" })
	n.watch(t, vip) // the client uses the VIP: its ARP entry must follow

	down()
	in := d1.waitState(t, "VI_1", "FAULT", 5*time.Second)
	if in.Reason != "interface trk0 has no carrier" {
		t.Errorf("lb1's reason %q", in.Reason)
	}
	// At 1s adverts, lb2 takes over after Skew_Time (0.61s) thanks to the priority 0, not 3.61s.
	in2 := d2.waitState(t, "VI_1", "MASTER", 2*time.Second)
	if !strings.Contains(in2.Reason, "stopped (sent priority 0)") {
		t.Errorf("lb2's reason %q", in2.Reason)
	}
	clientFollows(t, n.client, vip, n.lb2.MAC)
	if hasAddr(t, n.lb1, vip) {
		t.Error("lb1 kept the VIP in FAULT")
	}

	up()
	d1.waitState(t, "VI_1", "MASTER", 10*time.Second)
	clientFollows(t, n.client, vip, n.lb1.MAC)
}

// A sync group moves together: when one member's interface fails, both VIPs move to the peer,
// and back when it recovers. The group's own hook sees the group's states.
func TestSyncGroup(t *testing.T) {
	t.Parallel()
	n := newLAN(t, false)
	down, up := secondLink(t, n.lb1)
	rec := newRecorder(t)
	group := fmt.Sprintf("\n[[sync_group]]\nname = \"G1\"\ninstances = [\"web\", \"db\"]\n[sync_group.notify]\nany = [%q]\n", rec.hook)
	pair := func(prio int, track string) []vr {
		return []vr{
			{name: "web", vrid: 51, prio: prio, interval: "200ms", vips: []string{"10.0.4.99/24"}},
			{name: "db", vrid: 52, prio: prio, interval: "200ms", vips: []string{"10.0.4.98/24"}, extra: track},
		}
	}
	d1 := startDaemon(t, n.lb1, configWith("lb1", "", pair(110, "track_interfaces = [{ name = \"trk0\" }]\n")...)+group)
	d2 := startDaemon(t, n.lb2, configWith("lb2", "", pair(100, "")...)+strings.Replace(group, rec.hook, "/bin/true", 1))
	for _, name := range []string{"web", "db"} {
		d1.waitState(t, name, "MASTER", 5*time.Second)
		d2.waitFor(t, name, "following lb1", 5*time.Second, func(in instance) bool { return in.Master == "10.0.4.20" })
	}

	down()
	if in := d1.waitState(t, "web", "FAULT", 5*time.Second); in.Reason != "sync group G1: db is in FAULT (interface trk0 has no carrier)" {
		t.Errorf("web's reason %q", in.Reason)
	}
	for _, name := range []string{"web", "db"} {
		d2.waitState(t, name, "MASTER", 5*time.Second)
	}
	for _, v := range []string{"10.0.4.99", "10.0.4.98"} {
		if !hasAddr(t, n.lb2, netip.MustParseAddr(v)) || hasAddr(t, n.lb1, netip.MustParseAddr(v)) {
			t.Errorf("%s is not on lb2 alone", v)
		}
	}

	up()
	for _, name := range []string{"web", "db"} {
		d1.waitState(t, name, "MASTER", 5*time.Second)
		d2.waitState(t, name, "BACKUP", 5*time.Second)
	}
	calls := rec.calls(t, 4)
	var states []string
	for _, c := range calls {
		states = append(states, strings.Fields(c)[2]) // GROUP G1 <state> | ...
	}
	if got := strings.Join(states, " "); got != "BACKUP MASTER FAULT BACKUP" && got != "BACKUP MASTER FAULT BACKUP MASTER" {
		t.Errorf("group hook states %q, want BACKUP MASTER FAULT BACKUP MASTER", got)
	}
	if !strings.HasPrefix(calls[0], "GROUP G1 BACKUP | ") || !strings.Contains(calls[0], "group=G1") {
		t.Errorf("group hook call %q", calls[0])
	}
}

// A master hook that hangs delays nothing: the new master advertises on schedule and holds the
// VIP while its hook sleeps, and the hook is killed at its timeout.
func TestHungHook(t *testing.T) {
	t.Parallel()
	n := newLAN(t, false)
	vip := netip.MustParseAddr("10.0.4.99")
	hung := filepath.Join(t.TempDir(), "hung.sh")
	os.WriteFile(hung, []byte("#!/bin/sh\nsleep 60\n"), 0o755)
	hooks := fmt.Sprintf("[instance.notify]\nmaster = [%q]\nbackup = [%[1]q]\ntimeout = \"3s\"\n", hung)
	d1 := startDaemon(t, n.lb1, config("lb1", shared(110, "100ms")))
	d2 := startDaemon(t, n.lb2, config("lb2", shared(100, "100ms").with(hooks)))
	d1.waitState(t, "VI_1", "MASTER", 5*time.Second)
	d2.waitFor(t, "VI_1", "following lb1", 5*time.Second, func(in instance) bool { return in.Master == "10.0.4.20" })
	_, capture := n.watch(t, vip)
	heard(t, capture, netip.MustParseAddr("10.0.4.20"))

	n.lb1.Unplug()
	d2.waitState(t, "VI_1", "MASTER", 5*time.Second)
	if !hasAddr(t, n.lb2, vip) {
		t.Fatal("lb2 is MASTER without the VIP while its hook hangs")
	}
	time.Sleep(2 * time.Second) // the hook still sleeps
	var last time.Time
	var gaps []time.Duration
	for _, e := range capture.Events() {
		if e.Kind == lab.VRRP && e.IP == netip.MustParseAddr("10.0.4.21") {
			if !last.IsZero() {
				gaps = append(gaps, e.Time.Sub(last))
			}
			last = e.Time
		}
	}
	if len(gaps) < 15 {
		t.Fatalf("lb2 sent %d adverts in 2s at 100ms while its hook hung", len(gaps)+1)
	}
	for _, g := range gaps {
		if g > 150*time.Millisecond {
			t.Errorf("adverts %s apart while the hook hung, want 100ms", g)
		}
	}
	d2.logged(t, 5*time.Second, "notify hook timed out: killed it and its process group") // at its 3s timeout
}

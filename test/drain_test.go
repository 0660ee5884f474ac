package test

import (
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// drainCmd runs `vrrpd drain` (or undrain) against the daemon, as an operator would, and returns
// its exit code, stdout and stderr.
func (d *daemon) drainCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	return runCmd(t, exec.Command(vrrpdBin, append([]string{args[0], "--socket", d.socket()}, args[1:]...)...))
}

// withStateDir gives a configuration its own state_dir, for the drain to be kept in.
func withStateDir(t *testing.T, cfg string) string {
	return strings.Replace(cfg, "[global]\n", "[global]\nstate_dir = \""+filepath.Join(t.TempDir(), "state")+"\"\n", 1)
}

// SPEC.md's drain, make-before-break, with a vrrpd peer and with a keepalived peer: the drained
// master keeps the VIP until the peer has taken it (vrrpd preempts after its Skew_Time, keepalived
// when its Master_Down_Timer expires), drain returns 0 once it has, and the client's pings go on.
// Undrain gives the VIP back by preemption.
func TestDrain(t *testing.T) {
	t.Parallel()
	for _, peer := range []string{"vrrpd", "keepalived"} {
		t.Run(peer, func(t *testing.T) {
			t.Parallel()
			n := newLAN(t, false)
			vip := netip.MustParseAddr("10.0.4.99")
			d1 := startDaemon(t, n.lb1, withStateDir(t, config("lb1", vr{name: "VI_1", vrid: 51, prio: 110, version: 2, vips: []string{"10.0.4.99/24"}})))
			d1.waitState(t, "VI_1", "MASTER", 10*time.Second)
			if peer == "vrrpd" {
				startDaemon(t, n.lb2, config("lb2", vr{name: "VI_1", vrid: 51, prio: 100, version: 2, vips: []string{"10.0.4.99/24"}}))
			} else {
				startKeepalived(t, n.lb2, kaConfig("lb2", kaVR{name: "VI_1", vrid: 51, prio: 100, version: 2, interval: time.Second, vips: []string{"10.0.4.99/24"}}))
			}
			time.Sleep(4 * time.Second) // the peer hears lb1
			ping, _ := n.watch(t, vip)

			code, out, errOut := d1.drainCmd(t, "drain", "VI_1")
			if code != 0 || !strings.Contains(out, "VI_1 drained: BACKUP, 10.0.4.21 is master") {
				t.Fatalf("drain: exit %d\n%s%s", code, out, errOut)
			}
			clientFollows(t, n.client, vip, n.lb2.MAC)
			in, _ := d1.instance("VI_1")
			if in.State != "BACKUP" || in.EffectivePriority != 1 || !in.Drained {
				t.Errorf("lb1 after the drain: %s at %d, drained %v", in.State, in.EffectivePriority, in.Drained)
			}
			if !hasAddr(t, n.lb2, vip) || hasAddr(t, n.lb1, vip) {
				t.Error("the VIP is not on lb2 alone")
			}
			stats := ping.Stop()
			t.Logf("drain: the client's longest silence %s", stats.MaxGap)
			if stats.MaxGap > time.Second {
				t.Errorf("the client lost the VIP for %s during the drain", stats.MaxGap)
			}

			ping, _ = n.watch(t, vip)
			if code, out, errOut := d1.drainCmd(t, "undrain", "VI_1"); code != 0 {
				t.Fatalf("undrain: exit %d\n%s%s", code, out, errOut)
			}
			d1.waitState(t, "VI_1", "MASTER", 10*time.Second)
			clientFollows(t, n.client, vip, n.lb1.MAC)
			stats = ping.Stop()
			t.Logf("undrain: the client's longest silence %s", stats.MaxGap)
			if stats.MaxGap > time.Second {
				t.Errorf("the client lost the VIP for %s during the undrain", stats.MaxGap)
			}
		})
	}
}

// A drain that nobody can answer: with the peer stopped, and with a peer that has preempt off,
// drain exits 1 and says why; the instance stays drained and keeps serving. Then --force yields at
// once: the nopreempt peer takes over, since the master sent priority 0.
func TestDrainUnanswered(t *testing.T) {
	t.Parallel()
	n := newLAN(t, false)
	vip := netip.MustParseAddr("10.0.4.99")
	d1 := startDaemon(t, n.lb1, withStateDir(t, config("lb1", shared(110, "200ms"))))
	d1.waitState(t, "VI_1", "MASTER", 10*time.Second)

	code, _, errOut := d1.drainCmd(t, "drain", "--timeout", "1s")
	if code != 1 || !strings.Contains(errOut, "VI_1 is still MASTER: no other router took over within 1s") || !strings.Contains(errOut, "preempt off") {
		t.Errorf("drain with no peer: exit %d, %s", code, errOut)
	}
	if in, _ := d1.instance("VI_1"); in.State != "MASTER" || !in.Drained || !hasAddr(t, n.lb1, vip) {
		t.Errorf("lb1 after an unanswered drain: %s, drained %v", in.State, in.Drained)
	}

	d2 := startDaemon(t, n.lb2, config("lb2", shared(100, "200ms").with("preempt = false\n")))
	d2.waitFor(t, "VI_1", "following lb1", 10*time.Second, func(in instance) bool { return in.Master == "10.0.4.20" })
	code, _, errOut = d1.drainCmd(t, "drain", "--timeout", "2s", "VI_1")
	if code != 1 || !strings.Contains(errOut, "no other router took over within 2s") {
		t.Errorf("drain with a nopreempt peer: exit %d, %s", code, errOut)
	}
	ping, _ := n.watch(t, vip)
	code, out, errOut := d1.drainCmd(t, "drain", "--force", "VI_1")
	if code != 0 {
		t.Errorf("drain --force: exit %d\n%s%s", code, out, errOut)
	}
	d2.waitState(t, "VI_1", "MASTER", 5*time.Second)
	clientFollows(t, n.client, vip, n.lb2.MAC)
	t.Logf("drain --force: the client's longest silence %s", ping.Stop().MaxGap)
	if code, _, errOut := d1.drainCmd(t, "drain", "VI_9"); code != 1 || !strings.Contains(errOut, `no instance "VI_9"`) {
		t.Errorf("drain of an unknown instance: exit %d, %s", code, errOut)
	}
}

// A drain lasts across a restart of the daemon: it starts drained, at priority 1, and does not
// take the VIP back; the state directory says so. Undrain ends it.
func TestDrainAcrossRestart(t *testing.T) {
	t.Parallel()
	n := newLAN(t, false)
	d1 := startDaemon(t, n.lb1, withStateDir(t, config("lb1", shared(110, "200ms"))))
	d2 := startDaemon(t, n.lb2, config("lb2", shared(100, "200ms")))
	d1.waitState(t, "VI_1", "MASTER", 10*time.Second)
	d2.waitFor(t, "VI_1", "following lb1", 5*time.Second, func(in instance) bool { return in.Master == "10.0.4.20" })
	if code, out, errOut := d1.drainCmd(t, "drain"); code != 0 {
		t.Fatalf("drain: exit %d\n%s%s", code, out, errOut)
	}
	d1.stop()
	d1.restart()
	in := d1.waitFor(t, "VI_1", "following lb2", 10*time.Second, func(in instance) bool { return in.Master == "10.0.4.21" })
	time.Sleep(time.Second) // a Skew_Time of lb1's would long be over
	if in, _ = d1.instance("VI_1"); in.State != "BACKUP" || !in.Drained || in.EffectivePriority != 1 {
		t.Errorf("lb1 after its restart: %s at %d, drained %v; want a drained BACKUP", in.State, in.EffectivePriority, in.Drained)
	}
	conf, _ := os.ReadFile(d1.conf)
	state := strings.Split(strings.Split(string(conf), `state_dir = "`)[1], `"`)[0]
	if b, err := os.ReadFile(filepath.Join(state, "drained.json")); err != nil || !strings.Contains(string(b), `"VI_1"`) {
		t.Errorf("the state directory: %s, %v", b, err)
	}
	if code, _, errOut := d1.drainCmd(t, "undrain"); code != 0 {
		t.Fatalf("undrain: exit %d, %s", code, errOut)
	}
	d1.waitState(t, "VI_1", "MASTER", 5*time.Second)
}

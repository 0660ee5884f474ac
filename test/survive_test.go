package test

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// transitions counts the transitions in a daemon's log.
func (d *daemon) transitions() int {
	log, _ := os.ReadFile(d.logPath())
	return strings.Count(string(log), "msg=transition ")
}

// A backup delayed past Master_Down_Interval (here stopped with SIGSTOP, as a paused VM or a
// starved CPU would) while the master keeps advertising must not declare it dead: the adverts
// are already waiting in its socket when it runs again.
func TestLateTimers(t *testing.T) {
	t.Parallel()
	n := newLAN(t, false)
	inst := func(prio int) vr {
		return vr{name: "VI_1", vrid: 51, prio: prio, interval: "100ms", vips: []string{"10.0.4.99/24"}}
	}
	d1 := startDaemon(t, n.lb1, config("lb1", inst(110)))
	d2 := startDaemon(t, n.lb2, config("lb2", inst(100)))
	d1.waitState("VI_1", "MASTER", 5*time.Second)
	before := d2.waitFor("VI_1", "following lb1", 5*time.Second, func(in instance) bool { return in.Master == "10.0.4.20" })
	count := d2.transitions()

	for i := 0; i < 5; i++ {
		d2.cmd.Process.Signal(syscall.SIGSTOP)
		time.Sleep(time.Second) // Master_Down_Interval is 360ms
		d2.cmd.Process.Signal(syscall.SIGCONT)
		time.Sleep(300 * time.Millisecond)
	}
	after, err := d2.instance("VI_1")
	if err != nil {
		t.Fatal(err)
	}
	if got := d2.transitions(); got != count || after.State != "BACKUP" || after.Since != before.Since {
		t.Errorf("lb2 after being stopped 5 times for 1s: %d transitions (had %d), %s since %s (was since %s)",
			got, count, after.State, after.Since, before.Since)
	}
	if in, _ := d1.instance("VI_1"); in.State != "MASTER" || in.Since != "" && d1.transitions() != 2 {
		t.Errorf("lb1: %s after %d transitions", in.State, d1.transitions())
	}
}

// A daemon killed with SIGKILL (an OOM kill, a removed container) leaves its VIP behind. The new
// master notices that another host still answers for it, and says so in its log and status.
// The restarted daemon removes the stale VIP before it takes part, and the pair ends with one
// holder.
func TestKilledDaemon(t *testing.T) {
	t.Parallel()
	n := newLAN(t, false)
	vip := netip.MustParseAddr("10.0.4.99")
	inst := func(prio int) vr {
		return vr{name: "VI_1", vrid: 51, prio: prio, interval: "200ms", vips: []string{"10.0.4.99/24"}}
	}
	d1 := startDaemon(t, n.lb1, config("lb1", inst(110)))
	d2 := startDaemon(t, n.lb2, config("lb2", inst(100)))
	d1.waitState("VI_1", "MASTER", 5*time.Second)
	d2.waitFor("VI_1", "following lb1", 5*time.Second, func(in instance) bool { return in.Master == "10.0.4.20" })
	n.watch(t, vip)

	d1.kill()
	if !hasAddr(t, n.lb1, vip) {
		t.Fatal("SIGKILL removed the VIP: the test needs it left behind")
	}
	d2.waitState("VI_1", "MASTER", 5*time.Second)
	clientFollows(t, n.client, vip, n.lb2.MAC)
	in := d2.waitFor("VI_1", "seeing the duplicate", 5*time.Second, func(in instance) bool { return len(in.Duplicates) > 0 })
	if d := in.Duplicates[0]; len(in.Duplicates) != 1 || d.VIP != "10.0.4.99" || d.MAC != n.lb1.MAC.String() {
		t.Errorf("lb2's duplicates %+v, want 10.0.4.99 at %s", in.Duplicates, n.lb1.MAC)
	}
	d2.logged("duplicate VIP 10.0.4.99 answered by "+n.lb1.MAC.String()+": another host still holds it", time.Second)

	// lb1 comes back at a lower priority, so it stays a backup: it must not hold the VIP.
	os.WriteFile(filepath.Join(d1.dir, "vrrpd.toml"), []byte(config("lb1", inst(90))), 0o644)
	d1.restart()
	d1.waitFor("VI_1", "following lb2", 5*time.Second, func(in instance) bool { return in.Master == "10.0.4.21" })
	if hasAddr(t, n.lb1, vip) || !hasAddr(t, n.lb2, vip) {
		t.Errorf("after the restart: lb1 holds the VIP %v, lb2 %v; want lb2 alone", hasAddr(t, n.lb1, vip), hasAddr(t, n.lb2, vip))
	}
	// lb2 probes again while a duplicate remains, and clears it once lb1 has let go.
	d2.waitFor("VI_1", "no duplicate", 15*time.Second, func(in instance) bool { return len(in.Duplicates) == 0 })
	d2.logged("no other host answers for the VIPs any more", time.Second)
}

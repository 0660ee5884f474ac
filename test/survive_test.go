package test

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vrrpd/vrrpd/test/lab/labtest"
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
	d1, d2 := startPair(t, newLAN(t, false), "100ms")
	before, _ := d2.instance("VI_1")
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
	d1, d2 := startPair(t, n, "200ms")
	n.watch(t, vip)

	d1.kill()
	if !hasAddr(t, n.lb1, vip) {
		t.Fatal("SIGKILL removed the VIP: the test needs it left behind")
	}
	d2.waitState(t, "VI_1", "MASTER", 5*time.Second)
	clientFollows(t, n.client, vip, n.lb2.MAC)
	in := d2.waitFor(t, "VI_1", "seeing the duplicate", 5*time.Second, func(in instance) bool { return len(in.Duplicates) > 0 })
	if d := in.Duplicates[0]; len(in.Duplicates) != 1 || d.VIP != "10.0.4.99" || d.MAC != n.lb1.MAC.String() {
		t.Errorf("lb2's duplicates %+v, want 10.0.4.99 at %s", in.Duplicates, n.lb1.MAC)
	}
	d2.logged(t, time.Second, "duplicate VIP 10.0.4.99 answered by "+n.lb1.MAC.String()+": another host still holds it")

	// lb1 comes back at a lower priority, so it stays a backup: it must not hold the VIP.
	os.WriteFile(d1.conf, []byte(config("lb1", shared(90, "200ms"))), 0o644)
	d1.restart()
	d1.waitFor(t, "VI_1", "following lb2", 5*time.Second, func(in instance) bool { return in.Master == "10.0.4.21" })
	if hasAddr(t, n.lb1, vip) || !hasAddr(t, n.lb2, vip) {
		t.Errorf("after the restart: lb1 holds the VIP %v, lb2 %v; want lb2 alone", hasAddr(t, n.lb1, vip), hasAddr(t, n.lb2, vip))
	}
	// lb2 probes again while a duplicate remains, and clears it once lb1 has let go.
	d2.waitFor(t, "VI_1", "no duplicate", 15*time.Second, func(in instance) bool { return len(in.Duplicates) == 0 })
	d2.logged(t, time.Second, "no other host answers for the VIPs any more")
}

// Someone deletes the VIP by hand while we are master: it is put back, and that is logged.
func TestVIPRemovedByHand(t *testing.T) {
	t.Parallel()
	n := newLAN(t, false)
	vip := netip.MustParseAddr("10.0.4.99")
	d1, _ := startPair(t, n, "200ms")
	labtest.MustIP(t, n.lb1, "addr", "del", "10.0.4.99/24", "dev", "eth0")
	d1.logged(t, 5*time.Second, "a VIP was removed from the interface while master: putting it back")
	if !hasAddr(t, n.lb1, vip) {
		t.Error("the VIP is not back")
	}
	if in, _ := d1.instance("VI_1"); in.State != "MASTER" {
		t.Errorf("lb1 is %s", in.State)
	}
}

// The interface is deleted and re-created, as a restarted container's veth is: the instance goes
// to FAULT, then takes part again on a new socket, without a daemon restart.
func TestInterfaceRecreated(t *testing.T) {
	t.Parallel()
	n := newLAN(t, false)
	d1, d2 := startPair(t, n, "200ms")
	if err := n.lb1.Recreate(netip.MustParsePrefix("10.0.4.20/24")); err != nil {
		t.Fatal(err)
	}
	// lb2 takes over; lb1 may preempt it again within a Skew_Time, too soon to poll for.
	d2.logged(t, 5*time.Second, "from=BACKUP to=MASTER")
	// lb1 must hear lb2 on the new interface to preempt it, and lb2 must hear lb1 to yield.
	d1.waitState(t, "VI_1", "MASTER", 10*time.Second)
	d2.waitFor(t, "VI_1", "following lb1 again", 5*time.Second, func(in instance) bool { return in.State == "BACKUP" && in.Master == "10.0.4.20" })
	d1.logged(t, time.Second, "interface changed: reopening its VRRP socket")
	// The kernel removes an interface's addresses before the interface: the address watch may
	// tell first, and FAULT then says the address went.
	log, _ := os.ReadFile(d1.logPath())
	if len(matching(string(log), "to=FAULT reason=\"interface eth0 was deleted\""))+len(matching(string(log), "to=FAULT reason=\"interface eth0 does not exist\""))+
		len(matching(string(log), "to=FAULT reason=\"interface eth0 is administratively down\""))+
		len(matching(string(log), "to=FAULT reason=\"eth0: the interface has no IPv4 address of its own")) == 0 {
		t.Errorf("lb1 did not go to FAULT when eth0 went away:\n%s", log)
	}
}

// A split brain: VRRP between the hosts is blocked, so both become master, and the client
// follows whichever announced last. When it heals, the loser yields and the winner re-announces
// at once, so the client comes back within a second instead of when its ARP entry expires.
func TestSplitBrainHeals(t *testing.T) {
	t.Parallel()
	n := newLAN(t, false)
	vip := netip.MustParseAddr("10.0.4.99")
	d1, d2 := startPair(t, n, "200ms")
	n.watch(t, vip)
	if err := n.lab.NFT("add", "rule", "bridge", "lab", "labforward", "ip", "protocol", "112", "drop"); err != nil {
		t.Fatal(err)
	}
	d2.waitState(t, "VI_1", "MASTER", 5*time.Second)
	clientFollows(t, n.client, vip, n.lb2.MAC) // lb2's GARP turned the client
	if in, _ := d1.instance("VI_1"); in.State != "MASTER" {
		t.Fatalf("lb1 is %s during the split brain, want MASTER", in.State)
	}

	healed := time.Now()
	if err := n.lab.NFT("flush", "chain", "bridge", "lab", "labforward"); err != nil {
		t.Fatal(err)
	}
	d2.waitState(t, "VI_1", "BACKUP", 5*time.Second)
	clientFollows(t, n.client, vip, n.lb1.MAC)
	back := time.Since(healed)
	t.Logf("client back on lb1 %s after the heal", back)
	if back > time.Second {
		t.Errorf("the client came back %s after the heal, want within a second", back)
	}
}

// At 5% random loss of VRRP packets, a pair at 1s adverts keeps one master for a minute.
func TestPacketLoss(t *testing.T) {
	t.Parallel()
	n := newLAN(t, false)
	d1, d2 := startPair(t, n, "1s")
	before1, before2 := d1.transitions(), d2.transitions()
	err := n.lab.NFT("add", "rule", "bridge", "lab", "labforward", "ip", "protocol", "112", "numgen", "random", "mod", "100", "<", "5", "drop")
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Minute)
	in1, _ := d1.instance("VI_1")
	in2, _ := d2.instance("VI_1")
	if d1.transitions() != before1 || d2.transitions() != before2 || in1.State != "MASTER" || in2.State != "BACKUP" {
		t.Errorf("after a minute at 5%% loss: lb1 %s (%d transitions, had %d), lb2 %s (%d, had %d)",
			in1.State, d1.transitions(), before1, in2.State, d2.transitions(), before2)
	}
	t.Logf("lb2 received %d adverts in the minute's run", in2.AdvertsReceived)
}

// processGroups lists the process groups of the processes whose command line contains marker:
// a probe is one group (the shell and what it runs).
func processGroups(marker string) []string {
	var groups []string
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		b, err := os.ReadFile("/proc/" + d.Name() + "/cmdline")
		if err != nil || !strings.Contains(string(b), marker) {
			continue
		}
		stat, err := os.ReadFile("/proc/" + d.Name() + "/stat")
		if fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:])); err == nil && len(fields) > 2 {
			if pgrp := fields[2]; !slices.Contains(groups, pgrp) {
				groups = append(groups, pgrp)
			}
		}
	}
	return groups
}

// A check that never returns counts as failed at its timeout, and the VIP moves. Each hung
// probe is killed with its children, and none is left behind when the daemon stops.
func TestHungCheck(t *testing.T) {
	t.Parallel()
	n := newLAN(t, false)
	marker := fmt.Sprintf("4242.%d", time.Now().UnixNano()%1e9) // a sleep argument unique to this test
	check := fmt.Sprintf("\n[[check]]\nname = \"hang\"\nscript = \"sleep %s\"\ninterval = \"500ms\"\ntimeout = \"300ms\"\n", marker)
	d2 := startDaemon(t, n.lb2, config("lb2", shared(100, "200ms")))
	d1 := startDaemon(t, n.lb1, configWith("lb1", check, shared(110, "200ms").with("track_checks = [{ name = \"hang\" }]\n")))
	in := d1.waitState(t, "VI_1", "FAULT", 5*time.Second)
	if !strings.Contains(in.Reason, "check hang down") || !strings.Contains(in.Reason, "timed out after 300ms") {
		t.Errorf("lb1's reason %q", in.Reason)
	}
	d2.waitState(t, "VI_1", "MASTER", 5*time.Second)
	time.Sleep(time.Second) // a few more probes, each killed at its timeout
	if groups := processGroups(marker); len(groups) > 1 {
		t.Errorf("%d hung probes alive at once (process groups %v)", len(groups), groups)
	}
	if err := d1.stop(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if groups := processGroups(marker); len(groups) > 0 {
		t.Errorf("probes left behind after the daemon stopped (process groups %v)", groups)
	}
}

// SIGTERM in the middle of a reload still ends with the VIP removed, a priority-0 advert sent
// (the peer takes over after Skew_Time) and exit status 0.
func TestStopDuringReload(t *testing.T) {
	t.Parallel()
	n := newLAN(t, false)
	d1, d2 := startPair(t, n, "1s")
	d1.cmd.Process.Signal(syscall.SIGHUP)
	if err := d1.stop(); err != nil {
		t.Fatalf("exit: %v", err)
	}
	if hasAddr(t, n.lb1, netip.MustParseAddr("10.0.4.99")) {
		t.Error("lb1 kept the VIP")
	}
	in := d2.waitState(t, "VI_1", "MASTER", 3*time.Second) // Master_Down_Interval would be 3.61s
	if !strings.Contains(in.Reason, "stopped (sent priority 0)") {
		t.Errorf("lb2's reason %q", in.Reason)
	}
}

// Hooks run as global.script_user; a hook that others could replace is refused, by `vrrpd
// check` and by `vrrpd run`, saying what to chmod; a config file anyone may write is a warning.
func TestScriptUser(t *testing.T) {
	t.Parallel()
	n := newLAN(t, false)
	bin, out := labtest.SharedDir(t), labtest.WritableDir(t)
	hook := filepath.Join(bin, "whoami.sh")
	os.WriteFile(hook, []byte("#!/bin/sh\nid -u > "+filepath.Join(out, "uid")+"\n"), 0o755)
	conf := "[global]\nrouter_id = \"lb1\"\nscript_user = \"nobody\"\n" +
		"\n[[instance]]\nname = \"VI_1\"\ninterface = \"eth0\"\nvrid = 51\npriority = 255\nvips = [\"10.0.4.99/24\"]\n" +
		fmt.Sprintf("[instance.notify]\nmaster = [%q]\n", hook)

	d := startDaemon(t, n.lb1, conf)
	d.waitState(t, "VI_1", "MASTER", 5*time.Second)
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, _ := os.ReadFile(filepath.Join(out, "uid"))
		if strings.TrimSpace(string(b)) == "65534" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the master hook did not run as nobody (uid 65534): %q", b)
		}
		time.Sleep(20 * time.Millisecond)
	}
	d.stop()

	// Anyone could replace the hook now.
	os.Chmod(hook, 0o777)
	confPath := filepath.Join(t.TempDir(), "vrrpd.toml")
	os.WriteFile(confPath, []byte(conf), 0o666)
	os.Chmod(confPath, 0o666)
	want := hook + " is writable by any user (mode 0777): chmod o-w " + hook
	for _, args := range [][]string{{"check", "--config", confPath}, {"run", "--config", confPath, "--socket", filepath.Join(t.TempDir(), "s")}} {
		got, err := n.lb1.Command(t.Context(), append([]string{vrrpdBin}, args...)...).CombinedOutput()
		if err == nil || !strings.Contains(string(got), want) {
			t.Errorf("vrrpd %s: %v\n%s\nwant an error saying %q", args[0], err, got, want)
		}
		if args[0] == "check" && !strings.Contains(string(got), "warning: "+confPath+" is writable by any user (mode 0666)") {
			t.Errorf("vrrpd check does not warn of the world-writable config:\n%s", got)
		}
	}
}

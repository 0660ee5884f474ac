package test

import (
	"os"
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

package test

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/vrrpd/vrrpd/test/lab/labtest"
)

// Three routers, as RFC 5798 §6.1 expects them to behave: when the master (100) dies, only the
// highest backup (90) takes over; the lowest (80) hears it before its own Master_Down_Timer
// fires, and never becomes master. At 1s and at 100ms (where Skew_Time once truncated to the
// same 6cs for both backups, and both took over).
func TestThreeRouters(t *testing.T) {
	t.Parallel()
	for _, interval := range []string{"1s", "100ms"} {
		t.Run(interval, func(t *testing.T) {
			t.Parallel()
			l := labtest.ForTest(t)
			var ds []*daemon
			for i, prio := range []int{100, 90, 80} {
				name := fmt.Sprintf("lb%d", i+1)
				h := labtest.MustHost(t, l, name, fmt.Sprintf("10.0.4.%d/24", 20+i))
				ds = append(ds, startDaemon(t, h, config(name, shared(prio, interval))))
			}
			ds[0].waitState(t, "VI_1", "MASTER", 15*time.Second)
			for _, d := range ds[1:] {
				d.waitFor(t, "VI_1", "following lb1", 5*time.Second, func(in instance) bool { return in.Master == "10.0.4.20" })
			}
			ds[0].host.Unplug()
			in := ds[1].waitState(t, "VI_1", "MASTER", 15*time.Second)
			time.Sleep(3 * parseDuration(t, interval)) // past lb3's own Master_Down_Interval
			if got := logLines(t, ds[2], "msg=transition", "to=MASTER"); got != 0 {
				t.Errorf("lb3 (80) became master %d times; lb2 (90) took over at %s", got, in.Since)
			}
			if s, _ := ds[2].instance("VI_1"); s.State != "BACKUP" || s.Master != "10.0.4.21" {
				t.Errorf("lb3: %s following %s, want BACKUP following lb2", s.State, s.Master)
			}
			if got := logLines(t, ds[1], "msg=transition", "to=MASTER"); got != 1 {
				t.Errorf("lb2 became master %d times, want once", got)
			}
			if !hasAddr(t, ds[1].host, netip.MustParseAddr("10.0.4.99")) || hasAddr(t, ds[2].host, netip.MustParseAddr("10.0.4.99")) {
				t.Error("the VIP is not on lb2 alone")
			}
		})
	}
}

func parseDuration(t *testing.T, s string) time.Duration {
	t.Helper()
	d, err := time.ParseDuration(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

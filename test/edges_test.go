package test

import (
	"bytes"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/vrrpd/vrrpd/test/lab"
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

// A thousand VIPs on one instance, at 100ms: the master advertises the first 255 (as many as an
// advert holds), the backup follows it without calling that a mismatch, and when the master's
// link goes the backup takes over every VIP and announces the first and the last of them, which
// the client can then reach.
func TestThousandVIPs(t *testing.T) {
	t.Parallel()
	n := newLAN(t, false)
	labtest.MustIP(t, n.client, "route", "add", "10.1.0.0/16", "dev", "eth0") // the VIPs are on-link
	var vips []string
	for i := range 1000 {
		vips = append(vips, fmt.Sprintf("10.1.%d.%d/32", i/250, 1+i%250))
	}
	first, last := netip.MustParseAddr("10.1.0.1"), netip.MustParseAddr("10.1.3.250")
	inst := func(prio int) vr {
		return vr{name: "VI_1", vrid: 51, prio: prio, interval: "100ms", vips: vips, extra: "garp_delay = \"0s\"\n"}
	}
	d1 := startDaemon(t, n.lb1, config("lb1", inst(110)))
	d1.waitState(t, "VI_1", "MASTER", 15*time.Second)
	d2 := startDaemon(t, n.lb2, config("lb2", inst(100)))
	d2.waitFor(t, "VI_1", "following lb1", 10*time.Second, func(in instance) bool { return in.Master == "10.0.4.20" })
	time.Sleep(time.Second)
	if in, _ := d2.instance("VI_1"); in.State != "BACKUP" || in.AddressMismatches != 0 {
		t.Errorf("lb2: %s with %d address mismatches, want a BACKUP with none", in.State, in.AddressMismatches)
	}
	capt := startCapture(t, n.client)
	heard(t, capt, netip.MustParseAddr("10.0.4.20"))
	n.lb1.Unplug()
	d2.waitState(t, "VI_1", "MASTER", 5*time.Second)
	announced := func(vip netip.Addr) bool {
		for _, e := range capt.Events() {
			if e.Kind == lab.GARP && e.IP == vip && bytes.Equal(e.MAC, n.lb2.MAC) {
				return true
			}
		}
		return false
	}
	for deadline := time.Now().Add(5 * time.Second); !announced(first) || !announced(last); {
		if time.Now().After(deadline) {
			t.Fatalf("lb2 announced the first VIP: %v, the last: %v", announced(first), announced(last))
		}
		time.Sleep(20 * time.Millisecond)
	}
	es := capt.Events()
	t.Logf("from lb1's last advert: the first VIP announced after %s, the last after %s (Master_Down_Interval 360.9375ms)",
		wireDelay(t, es, netip.MustParseAddr("10.0.4.20"), n.lb2.MAC, first), wireDelay(t, es, netip.MustParseAddr("10.0.4.20"), n.lb2.MAC, last))
	ps, err := n.lb2.Addrs("eth0")
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) < 1000 {
		t.Errorf("lb2 holds %d addresses, want the 1000 VIPs and its own", len(ps))
	}
	ping, err := lab.StartPinger(n.client, last, 5*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer ping.Stop()
	if err := ping.WaitReply(time.Now(), 5*time.Second); err != nil {
		t.Errorf("the client cannot reach the last VIP: %v", err)
	}
}

package test

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/vrrpd/vrrpd/test/lab"
	"github.com/vrrpd/vrrpd/test/lab/labtest"
	"github.com/vrrpd/vrrpd/vrrp"
)

// vr is one [[instance]] of a test configuration.
type vr struct {
	name     string
	vrid     int
	prio     int
	version  int    // default 3
	interval string // default "1s"
	vips     []string
	src      string
	peers    []string
	auth     string
	extra    string // more TOML for the instance, e.g. track_checks or an [instance.notify] table
}

// config renders a vrrpd configuration.
func config(routerID string, vrs ...vr) string { return configWith(routerID, "", vrs...) }

// configWith renders a vrrpd configuration with more top-level TOML, e.g. [[check]] tables.
func configWith(routerID, top string, vrs ...vr) string {
	var b strings.Builder
	fmt.Fprintf(&b, "[global]\nrouter_id = %q\n%s\n", routerID, top)
	for _, v := range vrs {
		if v.version == 0 {
			v.version = 3
		}
		if v.interval == "" {
			v.interval = "1s"
		}
		fmt.Fprintf(&b, "\n[[instance]]\nname = %q\ninterface = \"eth0\"\nvrid = %d\npriority = %d\nversion = %d\nadvert_interval = %q\nvips = [%s]\n",
			v.name, v.vrid, v.prio, v.version, v.interval, quoted(v.vips))
		if v.src != "" {
			fmt.Fprintf(&b, "unicast_src = %q\nunicast_peers = [%s]\n", v.src, quoted(v.peers))
		}
		if v.auth != "" {
			fmt.Fprintf(&b, "auth_pass = %q\n", v.auth)
		}
		b.WriteString(v.extra)
	}
	return b.String()
}

func quoted(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}

// lan is the setting: lb1 and lb2 share a VIP, and a client uses it.
type lan struct {
	lab              *lab.Lab
	lb1, lb2, client *lab.Host
}

func newLAN(t *testing.T, v6 bool) *lan {
	l := labtest.ForTest(t)
	if v6 {
		return &lan{lab: l,
			lb1:    labtest.MustHost(t, l, "lb1", "fd00:4::20/64"),
			lb2:    labtest.MustHost(t, l, "lb2", "fd00:4::21/64"),
			client: labtest.MustHost(t, l, "client", "fd00:4::10/64"),
		}
	}
	return &lan{lab: l,
		lb1:    labtest.MustHost(t, l, "lb1", "10.0.4.20/24"),
		lb2:    labtest.MustHost(t, l, "lb2", "10.0.4.21/24"),
		client: labtest.MustHost(t, l, "client", "10.0.4.10/24"),
	}
}

// shared is the VIP as one instance, VI_1 on vrid 51, at prio and the given interval.
func shared(prio int, interval string) vr {
	return vr{name: "VI_1", vrid: 51, prio: prio, interval: interval, vips: []string{"10.0.4.99/24"}}
}

// with returns v with more TOML for the instance.
func (v vr) with(extra string) vr {
	v.extra = extra
	return v
}

// startPair starts lb1 (110) and lb2 (100) sharing 10.0.4.99 at the given interval, and waits until
// lb1 is master and lb2 follows it.
func startPair(t *testing.T, n *lan, interval string) (d1, d2 *daemon) {
	t.Helper()
	d1 = startDaemon(t, n.lb1, config("lb1", shared(110, interval)))
	d2 = startDaemon(t, n.lb2, config("lb2", shared(100, interval)))
	d1.waitState(t, "VI_1", "MASTER", 10*time.Second)
	d2.waitFor(t, "VI_1", "following lb1", 5*time.Second, func(in instance) bool { return in.Master == "10.0.4.20" })
	return d1, d2
}

// watch starts a client pinging vip every 5ms and capturing its wire, and waits for a reply.
func (n *lan) watch(t *testing.T, vip netip.Addr) (*lab.Pinger, *lab.Capture) {
	t.Helper()
	p, err := lab.StartPinger(n.client, vip, 5*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Stop() })
	if err := p.WaitReply(time.Now(), 10*time.Second); err != nil {
		t.Fatalf("client cannot reach %s: %v", vip, err)
	}
	return p, startCapture(t, n.client)
}

// startCapture records h's wire until the test ends.
func startCapture(t *testing.T, h *lab.Host) *lab.Capture {
	t.Helper()
	c, err := lab.StartCapture(h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// heard waits until the capture has seen an advert from master, so that a failover measured
// from its last advert has one to start from.
func heard(t *testing.T, c *lab.Capture, master netip.Addr) {
	t.Helper()
	_, err := c.Wait(10*time.Second, func(es []lab.Event) bool {
		for _, e := range es {
			if e.Kind == lab.VRRP && e.IP == master {
				return true
			}
		}
		return false
	})
	if err != nil {
		t.Fatalf("no advert from %s on the wire: %v", master, err)
	}
}

// wireDelay is the failover as the wire saw it: from the old master's last VRRP packet to the
// new master's first gratuitous ARP or neighbour advertisement for vip.
func wireDelay(t *testing.T, events []lab.Event, oldMaster netip.Addr, newMAC net.HardwareAddr, vip netip.Addr) time.Duration {
	t.Helper()
	d, ok := lab.Takeover(events,
		func(e lab.Event) bool { return e.Kind == lab.VRRP && e.IP == oldMaster },
		func(e lab.Event) bool {
			return (e.Kind == lab.GARP || e.Kind == lab.NA) && e.IP == vip && bytes.Equal(e.MAC, newMAC)
		})
	if ok {
		return d
	}
	var seen []string
	for _, e := range events {
		if e.Kind != lab.Other {
			seen = append(seen, fmt.Sprintf("%s %s %s %s", e.Time.Format("05.000"), e.Kind, e.IP, e.MAC))
		}
	}
	t.Fatalf("the capture has no advert from %s followed by an announcement of %s from %s; it saw:\n%s",
		oldMaster, vip, newMAC, strings.Join(seen, "\n"))
	return 0
}

// clientFollows waits until the client's neighbour entry for vip points at mac.
func clientFollows(t *testing.T, client *lab.Host, vip netip.Addr, mac net.HardwareAddr) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, err := client.Neighbor(vip)
		if err == nil && bytes.Equal(got, mac) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("client's neighbour entry for %s is %v (%v), want %s", vip, got, err, mac)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

// inBounds checks a measured delay against the RFC's ideal, within generous bounds: the test
// asserts that the failover happens at the RFC's timer, not how precisely (the benchmark does).
func inBounds(t *testing.T, what string, got, ideal time.Duration) {
	t.Helper()
	t.Logf("%s: %s on the wire, RFC ideal %s (ratio %.4f)", what, got, ideal, float64(got)/float64(ideal))
	if got < ideal-ms(50) || got > ideal+ms(500) {
		t.Errorf("%s took %s, want about %s", what, got, ideal)
	}
}

// The nginx pair of the issue at VRRPv3 1s: lb1 (priority 110) is master. A killed predecessor's
// VIP on lb2 is removed at start-up. lb1 loses its link: lb2 takes over one Master_Down_Interval
// after lb1's last advert and the client follows its GARP. lb1 returns and preempts. lb1 stops
// cleanly: lb2 takes over after Skew_Time.
func TestNginxPair(t *testing.T) {
	t.Parallel()
	n := newLAN(t, false)
	vip := netip.MustParseAddr("10.0.4.99")
	lb1Addr := netip.MustParseAddr("10.0.4.20")
	d1 := startDaemon(t, n.lb1, config("lb1", shared(110, "1s")))
	d1.waitState(t, "VI_1", "MASTER", 10*time.Second)

	// A predecessor on lb2 was killed and left the VIP behind.
	labtest.MustIP(t, n.lb2, "addr", "add", "10.0.4.99/24", "dev", "eth0")
	d2 := startDaemon(t, n.lb2, config("lb2", shared(100, "1s")))
	d2.waitFor(t, "VI_1", "following lb1", 5*time.Second, func(in instance) bool { return in.Master == "10.0.4.20" })
	if hasAddr(t, n.lb2, vip) {
		t.Fatal("lb2 kept the stale VIP after start-up")
	}
	ping, capture := n.watch(t, vip)
	clientFollows(t, n.client, vip, n.lb1.MAC)
	heard(t, capture, lb1Addr)

	t.Run("host loss", func(t *testing.T) {
		before := ping.Stats()
		if err := n.lb1.Unplug(); err != nil {
			t.Fatal(err)
		}
		in := d2.waitState(t, "VI_1", "MASTER", 10*time.Second)
		if !strings.HasPrefix(in.Reason, "no advertisement from 10.0.4.20") {
			t.Errorf("lb2's reason %q", in.Reason)
		}
		clientFollows(t, n.client, vip, n.lb2.MAC)
		if err := ping.WaitReply(time.Now(), 5*time.Second); err != nil {
			t.Fatalf("client's pings did not resume through lb2: %v", err)
		}
		inBounds(t, "host loss at 1s", wireDelay(t, capture.Events(), lb1Addr, n.lb2.MAC, vip),
			vrrp.MasterDownInterval(vrrp.V3, 100, time.Second))
		t.Logf("client outage: %s (longest gap between 5ms pings; %d replies before)", ping.Stats().MaxGap, before.Received)
	})

	t.Run("preempt back", func(t *testing.T) {
		if err := n.lb1.Plug(); err != nil {
			t.Fatal(err)
		}
		d1.waitState(t, "VI_1", "MASTER", 10*time.Second)
		in := d2.waitState(t, "VI_1", "BACKUP", 10*time.Second)
		if in.Reason != "master 10.0.4.20 has higher priority 110 (ours 100)" {
			t.Errorf("lb2's reason %q", in.Reason)
		}
		clientFollows(t, n.client, vip, n.lb1.MAC)
		if hasAddr(t, n.lb2, vip) {
			t.Error("lb2 kept the VIP after lb1 preempted")
		}
	})

	t.Run("graceful stop", func(t *testing.T) {
		capture := startCapture(t, n.client)
		heard(t, capture, lb1Addr)
		if err := d1.stop(); err != nil {
			t.Fatalf("lb1 exit: %v", err)
		}
		if hasAddr(t, n.lb1, vip) {
			t.Error("lb1 kept the VIP after SIGTERM")
		}
		in := d2.waitState(t, "VI_1", "MASTER", 5*time.Second)
		if !strings.Contains(in.Reason, "stopped (sent priority 0)") {
			t.Errorf("lb2's reason %q", in.Reason)
		}
		clientFollows(t, n.client, vip, n.lb2.MAC)
		inBounds(t, "graceful stop at 1s", wireDelay(t, capture.Events(), lb1Addr, n.lb2.MAC, vip),
			vrrp.SkewTime(vrrp.V3, 100, time.Second))
	})
}

// VRRPv3 at 100ms adverts: a host loss fails over after 360ms.
func TestFastAdverts(t *testing.T) {
	t.Parallel()
	n := newLAN(t, false)
	vip := netip.MustParseAddr("10.0.4.99")
	_, d2 := startPair(t, n, "100ms")
	if in, _ := d2.instance("VI_1"); in.MasterInterval != "100ms" {
		t.Errorf("lb2 learned Master_Adver_Interval %s, want 100ms", in.MasterInterval)
	}
	ping, capture := n.watch(t, vip)
	heard(t, capture, netip.MustParseAddr("10.0.4.20"))
	n.lb1.Unplug()
	d2.waitState(t, "VI_1", "MASTER", 5*time.Second)
	clientFollows(t, n.client, vip, n.lb2.MAC)
	if err := ping.WaitReply(time.Now(), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	inBounds(t, "host loss at 100ms", wireDelay(t, capture.Events(), netip.MustParseAddr("10.0.4.20"), n.lb2.MAC, vip),
		vrrp.MasterDownInterval(vrrp.V3, 100, ms(100)))
	t.Logf("client outage: %s", ping.Stats().MaxGap)
}

// An IPv6 VIP: adverts from link-local addresses to ff02::12 with the pseudo-header checksum,
// and unsolicited neighbour advertisements (R=1, S=0, O=1) that turn the client to lb2.
func TestIPv6(t *testing.T) {
	t.Parallel()
	n := newLAN(t, true)
	vip := netip.MustParseAddr("fd00:4::99")
	v6 := func(prio int) vr {
		return vr{name: "VI_6", vrid: 61, prio: prio, interval: "200ms", vips: []string{"fe80::99/64", "fd00:4::99/64"}}
	}
	ll1, err := n.lb1.LinkLocal() // before the link-local VIP is there too
	if err != nil {
		t.Fatal(err)
	}
	d1 := startDaemon(t, n.lb1, config("lb1", v6(110)))
	d2 := startDaemon(t, n.lb2, config("lb2", v6(100)))
	d1.waitState(t, "VI_6", "MASTER", 5*time.Second)
	d2.waitFor(t, "VI_6", "following lb1", 5*time.Second, func(in instance) bool { return in.Master == ll1.String() })
	ping, capture := n.watch(t, vip)
	clientFollows(t, n.client, vip, n.lb1.MAC)
	heard(t, capture, ll1)
	n.lb1.Unplug()
	d2.waitState(t, "VI_6", "MASTER", 5*time.Second)
	clientFollows(t, n.client, vip, n.lb2.MAC)
	if err := ping.WaitReply(time.Now(), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	events := capture.Events()
	inBounds(t, "IPv6 host loss at 200ms", wireDelay(t, events, ll1, n.lb2.MAC, vip), vrrp.MasterDownInterval(vrrp.V3, 100, ms(200)))
	for _, e := range lab.Filter(events, lab.NA) {
		if e.IP == vip && e.MAC.String() == n.lb2.MAC.String() && !(e.Router && !e.Solicited && e.Override) {
			t.Errorf("NA for %s has R=%v S=%v O=%v, want R=1 S=0 O=1 (RFC 5798 §6.4.2)", vip, e.Router, e.Solicited, e.Override)
		}
	}
}

// Unicast peers: adverts go to the peer's address, not to 224.0.0.18, and failover works.
func TestUnicast(t *testing.T) {
	t.Parallel()
	n := newLAN(t, false)
	vip := netip.MustParseAddr("10.0.4.99")
	uni := func(prio int, src, peer string) vr {
		return vr{name: "VI_U", vrid: 55, prio: prio, interval: "200ms", vips: []string{"10.0.4.99/24"}, src: src, peers: []string{peer}}
	}
	lb2Capture := startCapture(t, n.lb2)
	d1 := startDaemon(t, n.lb1, config("lb1", uni(110, "10.0.4.20", "10.0.4.21")))
	d2 := startDaemon(t, n.lb2, config("lb2", uni(100, "10.0.4.21", "10.0.4.20")))
	d1.waitState(t, "VI_U", "MASTER", 5*time.Second)
	d2.waitFor(t, "VI_U", "following lb1", 5*time.Second, func(in instance) bool { return in.Master == "10.0.4.20" })
	adverts := 0
	for _, e := range lab.Filter(lb2Capture.Events(), lab.VRRP) {
		if e.IP != netip.MustParseAddr("10.0.4.20") {
			continue
		}
		adverts++
		if dst := netip.AddrFrom4([4]byte(e.Frame[30:34])); dst != netip.MustParseAddr("10.0.4.21") {
			t.Fatalf("lb1 sent an advert to %s, want the unicast peer 10.0.4.21", dst)
		}
	}
	if adverts == 0 {
		t.Fatal("lb2 saw no advert from lb1")
	}
	ping, _ := n.watch(t, vip)
	n.lb1.Unplug()
	d2.waitState(t, "VI_U", "MASTER", 5*time.Second)
	clientFollows(t, n.client, vip, n.lb2.MAC)
	if err := ping.WaitReply(time.Now(), 5*time.Second); err != nil {
		t.Fatal(err)
	}
}

// VRRPv2 with a simple password (RFC 3768 §5.3.6): the pair fails over, and a third router
// with the wrong password is dropped and counted instead of taking the VIP.
func TestV2Password(t *testing.T) {
	t.Parallel()
	n := newLAN(t, false)
	intruder := labtest.MustHost(t, n.lab, "lb3", "10.0.4.22/24")
	v2 := func(prio int, pass string) vr {
		return vr{name: "VI_2", vrid: 52, prio: prio, version: 2, vips: []string{"10.0.4.99/24"}, auth: pass}
	}
	d1 := startDaemon(t, n.lb1, config("lb1", v2(110, "secret12")))
	d2 := startDaemon(t, n.lb2, config("lb2", v2(100, "secret12")))
	d1.waitState(t, "VI_2", "MASTER", 10*time.Second)
	d2.waitFor(t, "VI_2", "following lb1", 5*time.Second, func(in instance) bool { return in.Master == "10.0.4.20" })
	startDaemon(t, intruder, config("lb3", v2(200, "wrong")))
	in := d1.waitFor(t, "VI_2", "dropping the wrong password", 10*time.Second, func(in instance) bool { return in.Drops["auth"] >= 2 })
	if in.State != "MASTER" {
		t.Errorf("lb1 is %s after adverts with a wrong password", in.State)
	}
	n.lb1.Unplug()
	in = d2.waitState(t, "VI_2", "MASTER", 10*time.Second)
	if in.Version != 2 || in.Drops["auth"] == 0 {
		t.Errorf("lb2: version %d, auth drops %d", in.Version, in.Drops["auth"])
	}
}

// Two instances on one interface, each with its own master, share one socket per daemon.
func TestTwoInstances(t *testing.T) {
	t.Parallel()
	n := newLAN(t, false)
	pair := func(prio1, prio2 int) string {
		return config("lb",
			vr{name: "web", vrid: 51, prio: prio1, interval: "200ms", vips: []string{"10.0.4.99/24"}},
			vr{name: "api", vrid: 52, prio: prio2, interval: "200ms", vips: []string{"10.0.4.98/24"}})
	}
	d1 := startDaemon(t, n.lb1, pair(110, 100))
	d2 := startDaemon(t, n.lb2, pair(100, 110))
	d1.waitState(t, "web", "MASTER", 5*time.Second)
	d2.waitState(t, "api", "MASTER", 5*time.Second)
	d1.waitFor(t, "api", "following lb2", 5*time.Second, func(in instance) bool { return in.Master == "10.0.4.21" && in.State == "BACKUP" })
	d2.waitFor(t, "web", "following lb1", 5*time.Second, func(in instance) bool { return in.Master == "10.0.4.20" && in.State == "BACKUP" })
	for _, c := range []struct {
		host *lab.Host
		has  string
		not  string
	}{{n.lb1, "10.0.4.99", "10.0.4.98"}, {n.lb2, "10.0.4.98", "10.0.4.99"}} {
		if !hasAddr(t, c.host, netip.MustParseAddr(c.has)) || hasAddr(t, c.host, netip.MustParseAddr(c.not)) {
			t.Errorf("%s should hold %s and not %s", c.host.Name, c.has, c.not)
		}
	}
	for _, d := range []*daemon{d1, d2} {
		if s, err := d.status(); err != nil || len(s.Sockets) != 1 {
			t.Errorf("%s: %d sockets (%v), want 1 shared by both instances", d.name, len(s.Sockets), err)
		}
	}
}

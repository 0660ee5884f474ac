package test

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vrrpd/vrrpd/test/lab"
	"github.com/vrrpd/vrrpd/vrrp"
)

// virtualMAC is the RFC 5798 §7.3 virtual router MAC of VRID 51 over IPv4.
var virtualMAC = net.HardwareAddr{0x00, 0x00, 0x5e, 0x00, 0x01, 51}

// operatorSysctls sets what an operator sets on a base interface that carries VMACs, as
// keepalived's documentation asks: eth0 answers ARP only for its own addresses, from them.
func operatorSysctls(t *testing.T, hs ...*lab.Host) {
	t.Helper()
	for _, h := range hs {
		out, err := h.Command(context.Background(), "sysctl", "-qw",
			"net.ipv4.conf.eth0.arp_ignore=1", "net.ipv4.conf.eth0.arp_announce=2").CombinedOutput()
		if err != nil {
			t.Fatalf("%s: sysctl: %v: %s", h.Name, err, out)
		}
	}
}

// holdsOn reports whether h's interface ifname carries addr.
func holdsOn(t *testing.T, h *lab.Host, ifname string, addr netip.Addr) bool {
	t.Helper()
	ps, err := h.Addrs(ifname)
	if err != nil {
		return false // no such interface
	}
	return slices.ContainsFunc(ps, func(p netip.Prefix) bool { return p.Addr() == addr })
}

// macvlans lists h's macvlan interfaces.
func macvlans(t *testing.T, h *lab.Host) []string {
	t.Helper()
	out, err := h.Command(context.Background(), "ip", "-o", "link", "show", "type", "macvlan").CombinedOutput()
	if err != nil {
		t.Fatalf("%s: ip link: %v: %s", h.Name, err, out)
	}
	var names []string
	for line := range strings.Lines(string(out)) {
		if f := strings.Fields(line); len(f) > 1 {
			names = append(names, strings.SplitN(strings.TrimSuffix(f[1], ":"), "@", 2)[0])
		}
	}
	return names
}

// neighbourWatch records every MAC the client's neighbour entry for vip points at, from now on.
type neighbourWatch struct {
	mu   sync.Mutex
	macs []string
	stop chan struct{}
	done chan struct{}
}

func watchNeighbour(t *testing.T, client *lab.Host, vip netip.Addr) *neighbourWatch {
	w := &neighbourWatch{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for {
			if mac, err := client.Neighbor(vip); err == nil && len(mac) > 0 {
				w.mu.Lock()
				if s := mac.String(); !slices.Contains(w.macs, s) {
					w.macs = append(w.macs, s)
				}
				w.mu.Unlock()
			}
			select {
			case <-w.stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	t.Cleanup(func() { w.end() })
	return w
}

// end stops the watch and returns the MACs seen.
func (w *neighbourWatch) end() []string {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.macs)
}

// use_vmac on both hosts, one LAN, each pairing of vrrpd and keepalived: the VIP lives on a
// macvlan with the virtual MAC on whichever host is master, so the client's neighbour entry for
// the VIP is the virtual MAC before, during and after each failover, and its pings resume.
func TestVMAC(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, lb1, lb2 string }{
		{"vrrpd-vrrpd", "vrrpd", "vrrpd"},
		{"vrrpd-keepalived", "vrrpd", "keepalived"},
		{"keepalived-vrrpd", "keepalived", "vrrpd"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			n := newLAN(t, false)
			operatorSysctls(t, n.lb1, n.lb2)
			vip := netip.MustParseAddr("10.0.4.99")
			start := func(h *lab.Host, kind string, prio int) (stop, again func()) {
				if kind == "keepalived" {
					conf := kaConfig(h.Name, kaVR{name: "VI_1", vrid: 51, prio: prio, version: 3, interval: 200 * time.Millisecond,
						vips: []string{"10.0.4.99/24"}, extra: "    use_vmac vrrp.51\n"})
					k := startKeepalived(t, h, conf)
					return func() { k.stop() }, func() { startKeepalived(t, h, conf) }
				}
				d := startDaemon(t, h, config(h.Name, shared(prio, "200ms").with("vmac = true\n")))
				return func() { d.stop() }, d.restart
			}
			stop1, again1 := start(n.lb1, tc.lb1, 110)
			deadline := time.Now().Add(15 * time.Second)
			for !holdsOn(t, n.lb1, "vrrp.51", vip) {
				if time.Now().After(deadline) {
					t.Fatalf("lb1 (%s) never put %s on vrrp.51", tc.lb1, vip)
				}
				time.Sleep(20 * time.Millisecond)
			}
			stop2, _ := start(n.lb2, tc.lb2, 100)
			ping, _ := n.watch(t, vip)
			clientFollows(t, n.client, vip, virtualMAC)
			neigh := watchNeighbour(t, n.client, vip)
			time.Sleep(2 * time.Second) // lb2 follows lb1

			stop1() // graceful: lb2 takes over
			for deadline := time.Now().Add(5 * time.Second); !holdsOn(t, n.lb2, "vrrp.51", vip); {
				if time.Now().After(deadline) {
					t.Fatalf("lb2 (%s) did not take %s onto vrrp.51", tc.lb2, vip)
				}
				time.Sleep(20 * time.Millisecond)
			}
			if err := ping.WaitReply(time.Now(), 5*time.Second); err != nil {
				t.Fatalf("after lb1 stopped: %v", err)
			}
			again1() // lb1 comes back and preempts
			for deadline := time.Now().Add(15 * time.Second); !holdsOn(t, n.lb1, "vrrp.51", vip) || holdsOn(t, n.lb2, "vrrp.51", vip); {
				if time.Now().After(deadline) {
					t.Fatalf("lb1 did not take %s back", vip)
				}
				time.Sleep(20 * time.Millisecond)
			}
			if err := ping.WaitReply(time.Now(), 5*time.Second); err != nil {
				t.Fatalf("after lb1 came back: %v", err)
			}
			stats := ping.Stop()
			if macs := neigh.end(); !slices.Equal(macs, []string{virtualMAC.String()}) {
				t.Errorf("the client's neighbour entry for %s was %v, want only the virtual MAC %s", vip, macs, virtualMAC)
			}
			t.Logf("client: %d replies, longest silence %s", stats.Received, stats.MaxGap)
			stop2()
		})
	}
}

// A VMAC left behind by a SIGKILLed daemon is taken over at the next start, not duplicated; a
// stop removes it. Adverts and announcements leave from the virtual MAC (RFC 5798 §7.3).
func TestVMACAcrossKill(t *testing.T) {
	t.Parallel()
	n := newLAN(t, false)
	operatorSysctls(t, n.lb1)
	vip := netip.MustParseAddr("10.0.4.99")
	d1 := startDaemon(t, n.lb1, config("lb1", shared(110, "200ms").with("vmac = true\n")))
	d1.waitState(t, "VI_1", "MASTER", 10*time.Second)
	c := startCapture(t, n.client)
	if _, err := c.Wait(5*time.Second, func(es []lab.Event) bool {
		return slices.ContainsFunc(es, func(e lab.Event) bool { return e.Kind == lab.VRRP && bytes.Equal(e.Src, virtualMAC) })
	}); err != nil {
		t.Errorf("no advert from the virtual MAC: %v", err)
	}
	d1.kill()
	if got := macvlans(t, n.lb1); !slices.Equal(got, []string{"vrrp.51"}) {
		t.Fatalf("after SIGKILL: macvlans %v, want the one left behind", got)
	}
	d1.restart()
	d1.waitState(t, "VI_1", "MASTER", 10*time.Second)
	if got := macvlans(t, n.lb1); !slices.Equal(got, []string{"vrrp.51"}) {
		t.Errorf("after the restart: macvlans %v, want exactly vrrp.51", got)
	}
	if !holdsOn(t, n.lb1, "vrrp.51", vip) || holdsOn(t, n.lb1, "eth0", vip) {
		t.Error("the VIP is not on vrrp.51 alone")
	}
	if err := d1.stop(); err != nil {
		t.Fatal(err)
	}
	if got := macvlans(t, n.lb1); len(got) != 0 {
		t.Errorf("after stop: macvlans %v, want none", got)
	}
}

// Routes, rules and excluded addresses (one IPv6) are held by the master only, move with a
// failover, change with a reload, and are never carried in adverts.
func TestRoutesRulesExcluded(t *testing.T) {
	t.Parallel()
	n := newLAN(t, false)
	cfg := func(name string, prio int, table string) string {
		return config(name, shared(prio, "200ms").with(`vips_excluded = ["10.0.5.99/24", "fd00:5::99/64"]
routes = [{ to = "10.9.0.0/16", via = "10.0.4.1", table = `+table+` }, { to = "10.8.0.0/16", dev = "eth0", metric = 7 }]
rules = [{ from = "10.0.4.99/32", table = 100, priority = 1000 }]
`))
	}
	d1 := startDaemon(t, n.lb1, cfg("lb1", 110, "100"))
	d1.waitState(t, "VI_1", "MASTER", 10*time.Second)
	d2 := startDaemon(t, n.lb2, cfg("lb2", 100, "100"))
	d2.waitFor(t, "VI_1", "following lb1", 10*time.Second, func(in instance) bool { return in.Master == "10.0.4.20" })

	ip := func(h *lab.Host, args ...string) string {
		out, _ := h.Command(context.Background(), append([]string{"ip"}, args...)...).CombinedOutput()
		return string(out) // an empty table does not exist: an error, and nothing in it
	}
	type holding struct{ ex4, ex6, route, connected, rule bool }
	holdingOf := func(h *lab.Host, table string) holding {
		return holding{
			ex4:       holdsOn(t, h, "eth0", netip.MustParseAddr("10.0.5.99")),
			ex6:       holdsOn(t, h, "eth0", netip.MustParseAddr("fd00:5::99")),
			route:     strings.Contains(ip(h, "route", "show", "table", table), "10.9.0.0/16 via 10.0.4.1"),
			connected: strings.Contains(ip(h, "route", "show"), "10.8.0.0/16 dev eth0"),
			rule:      strings.Contains(ip(h, "rule", "show"), "1000:\tfrom 10.0.4.99 lookup 100"),
		}
	}
	all, none := holding{true, true, true, true, true}, holding{}
	for _, c := range []struct {
		h    *lab.Host
		want holding
	}{{n.lb1, all}, {n.lb2, none}} {
		if got := holdingOf(c.h, "100"); got != c.want {
			t.Errorf("%s holds %+v, want %+v", c.h.Name, got, c.want)
		}
	}
	// Adverts carry the VIP alone.
	capt := startCapture(t, n.client)
	es, err := capt.Wait(5*time.Second, func(es []lab.Event) bool {
		return slices.ContainsFunc(es, func(e lab.Event) bool { return e.Kind == lab.VRRP })
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		if e.Kind != lab.VRRP {
			continue
		}
		ihl := int(e.Frame[14]&0x0f) * 4
		var a vrrp.Advertisement
		if err := a.UnmarshalBinary(e.Frame[14+ihl:]); err != nil {
			t.Fatalf("an advert on the wire: %v", err)
		}
		if len(a.Addresses) != 1 || a.Addresses[0] != netip.MustParseAddr("10.0.4.99") {
			t.Errorf("an advert carries %v, want the VIP alone", a.Addresses)
		}
	}

	// A reload moves the route to another table, in place.
	before, _ := d1.instance("VI_1")
	d1.reload(cfg("lb1", 110, "101"))
	d1.logged(t, 5*time.Second, "reload: instance changed", "routes")
	if got := holdingOf(n.lb1, "101"); got != all {
		t.Errorf("after the reload lb1 holds %+v in table 101", got)
	}
	if strings.Contains(ip(n.lb1, "route", "show", "table", "100"), "10.9.0.0/16") {
		t.Error("the route is still in table 100")
	}
	if after, _ := d1.instance("VI_1"); after.State != "MASTER" || after.Since != before.Since {
		t.Errorf("the reload flapped lb1: %s since %s", after.State, after.Since)
	}

	// A failover moves everything.
	d1.stop()
	d2.waitState(t, "VI_1", "MASTER", 5*time.Second)
	if got := holdingOf(n.lb2, "100"); got != all {
		t.Errorf("lb2 after the failover holds %+v, want %+v", got, all)
	}
	if got := holdingOf(n.lb1, "101"); got != none {
		t.Errorf("lb1 after stopping holds %+v, want nothing", got)
	}
}

package test

import (
	"bytes"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vrrpd/vrrpd/test/lab"
	"github.com/vrrpd/vrrpd/test/lab/labtest"
	"github.com/vrrpd/vrrpd/vrrp"
)

// variant is one way of running VRRP that keepalived and vrrpd must agree on. Each is one
// virtual router, and all of them run side by side in one keepalived and one vrrpd, as
// instances on one interface do in production. Each has its own VRID and VIP, so the wire
// tells them apart.
type variant struct {
	name     string // the instance's name in both configurations, and the subtest's
	vrid     int
	version  int
	ipv6     bool
	unicast  bool
	auth     string        // VRRPv2 simple password
	interval time.Duration // keepalived's fastest v2 interval is 1s; v3 is faster, to keep the suite short
}

var variants = []variant{
	{name: "v2_multicast", vrid: 51, version: 2, interval: time.Second},
	{name: "v2_password", vrid: 52, version: 2, auth: "secret12", interval: time.Second},
	{name: "v3_ipv4", vrid: 53, version: 3, interval: 200 * time.Millisecond}, // keepalived sends the pseudo-header checksum
	{name: "v3_ipv6", vrid: 54, version: 3, ipv6: true, interval: 200 * time.Millisecond},
	{name: "v2_unicast", vrid: 55, version: 2, unicast: true, interval: time.Second},
	{name: "v3_unicast", vrid: 56, version: 3, unicast: true, interval: 200 * time.Millisecond},
}

// vip is the address the client uses; vips is the instance's configured list.
func (v variant) vip() netip.Addr {
	if v.ipv6 {
		return netip.MustParseAddr(fmt.Sprintf("fd00:4::%d", v.vrid))
	}
	return netip.MustParseAddr(fmt.Sprintf("10.0.4.%d", v.vrid))
}

func (v variant) vips() []string {
	if v.ipv6 {
		// RFC 5798 §5.2.9: the link-local VIP first.
		return []string{fmt.Sprintf("fe80::%d/64", v.vrid), fmt.Sprintf("fd00:4::%d/64", v.vrid)}
	}
	return []string{fmt.Sprintf("10.0.4.%d/24", v.vrid)}
}

// Priorities in the mixed pairs: the master's and the backup's.
const (
	highPrio = 150
	lowPrio  = 100
)

// keepalived and vrrpd run opposite each other in every variant: people migrate one host of a
// pair at a time.
//   - keepalived is master and vrrpd backup, then the reverse: the pair settles with exactly one
//     master; the backup takes over when the master's host is lost (after Master_Down_Interval)
//     and when the master stops gracefully (priority 0, after Skew_Time); the master preempts
//     back when its host returns.
//   - At equal priorities, when a partition that made both master heals, the router with the
//     higher primary address stays master (RFC 3768 §6.4.3, RFC 5798 §6.4.3), in both orders.
//
// keepalived's state is read from the wire (who sends adverts, who sends GARPs or NAs) and from
// where the VIPs are; vrrpd's from `vrrpd status` as well. The four settings run in parallel,
// each in its own lab, and every variant in each.
func TestInterop(t *testing.T) {
	requireKeepalived(t)
	t.Run("keepalived master", func(t *testing.T) { t.Parallel(); testMixedPair(t, true) })
	t.Run("vrrpd master", func(t *testing.T) { t.Parallel(); testMixedPair(t, false) })
	t.Run("tie-break keepalived higher", func(t *testing.T) { t.Parallel(); testTieBreak(t, true) })
	t.Run("tie-break vrrpd higher", func(t *testing.T) { t.Parallel(); testTieBreak(t, false) })
}

// pair is a LAN with one keepalived host (ka), one vrrpd host (vd) and a client.
type pair struct {
	lab            *lab.Lab
	ka, vd, client *lab.Host
	kaWire, vdWire *lab.Capture
	primary        map[*lab.Host]map[bool]netip.Addr // by host and by ipv6
	failed         map[string]bool                   // variants that failed a step: later steps skip them
}

// newPair builds the LAN. kaHigher says whose primary addresses (IPv4 and IPv6 link-local) are
// the higher ones.
func newPair(t *testing.T, kaHigher bool) *pair {
	t.Helper()
	p := &pair{lab: labtest.ForTest(t), primary: map[*lab.Host]map[bool]netip.Addr{}, failed: map[string]bool{}}
	host := func(name string, n int) *lab.Host {
		h := labtest.MustHost(t, p.lab, name, fmt.Sprintf("10.0.4.%d/24", n), fmt.Sprintf("fd00:4::%d/64", n))
		ll, err := h.LinkLocal() // before a link-local VIP is there too
		if err != nil {
			t.Fatal(err)
		}
		p.primary[h] = map[bool]netip.Addr{false: netip.MustParseAddr(fmt.Sprintf("10.0.4.%d", n)), true: ll}
		return h
	}
	// Hosts get MACs, and so IPv6 link-local addresses, in the order they are added.
	if kaHigher {
		p.vd, p.ka = host("vd", 20), host("ka", 21)
	} else {
		p.ka, p.vd = host("ka", 20), host("vd", 21)
	}
	p.client = host("client", 10)
	for _, ipv6 := range []bool{false, true} {
		if ka, vd := p.primary[p.ka][ipv6], p.primary[p.vd][ipv6]; ka.Compare(vd) > 0 != kaHigher {
			t.Fatalf("keepalived's address %s, vrrpd's %s: the wrong way round", ka, vd)
		}
	}
	p.kaWire, p.vdWire = startCapture(t, p.ka), startCapture(t, p.vd)
	return p
}

// addr is h's primary address for the variant, its advert source and tie-breaker: its IPv4
// address, or its IPv6 link-local one.
func (p *pair) addr(h *lab.Host, v variant) netip.Addr {
	return p.primary[h][v.ipv6]
}

func (p *pair) startVrrpd(t *testing.T, prio int) *daemon {
	t.Helper()
	var vrs []vr
	for _, v := range variants {
		c := vr{name: v.name, vrid: v.vrid, prio: prio, version: v.version, interval: v.interval.String(), vips: v.vips(), auth: v.auth}
		if v.unicast {
			c.src, c.peers = p.addr(p.vd, v).String(), []string{p.addr(p.ka, v).String()}
		}
		vrs = append(vrs, c)
	}
	return startDaemon(t, p.vd, config("vd", vrs...))
}

func (p *pair) startKeepalived(t *testing.T, prio int) *keepalived {
	t.Helper()
	var vrs []kaVR
	for _, v := range variants {
		c := kaVR{name: v.name, vrid: v.vrid, prio: prio, version: v.version, interval: v.interval, vips: v.vips(), auth: v.auth}
		if v.unicast {
			c.src, c.peers = p.addr(p.ka, v).String(), []string{p.addr(p.vd, v).String()}
		}
		vrs = append(vrs, c)
	}
	return startKeepalived(t, p.ka, kaConfig("ka", vrs...))
}

func (p *pair) other(h *lab.Host) *lab.Host {
	if h == p.ka {
		return p.vd
	}
	return p.ka
}

// wire is the capture on h's own eth0. It sees what h sends, and what reaches h: in unicast
// mode, the client's port never sees the adverts.
func (p *pair) wire(h *lab.Host) *lab.Capture {
	if h == p.ka {
		return p.kaWire
	}
	return p.vdWire
}

// each runs check as a subtest of t for every variant that has not failed a step yet, and
// marks those that fail: later steps would only repeat their failure.
func (p *pair) each(t *testing.T, check func(t *testing.T, v variant)) {
	t.Helper()
	for _, v := range p.live() {
		if !t.Run(v.name, func(t *testing.T) { check(t, v) }) {
			p.failed[v.name] = true
		}
	}
}

// live returns the variants that have not failed a step.
func (p *pair) live() []variant {
	return slices.DeleteFunc(slices.Clone(variants), func(v variant) bool { return p.failed[v.name] })
}

// sent returns the frames that h sent in [from, to) for which is (isAdvert, isAnnounce) holds
// with the variant.
func (p *pair) sent(h *lab.Host, v variant, is func(lab.Event, variant) bool, from, to time.Time) []lab.Event {
	var out []lab.Event
	for _, e := range p.wire(h).Events() {
		if is(e, v) && bytes.Equal(e.Src, h.MAC) && !e.Time.Before(from) && e.Time.Before(to) {
			out = append(out, e)
		}
	}
	return out
}

func isAdvert(e lab.Event, v variant) bool {
	return e.Kind == lab.VRRP && int(e.VRID) == v.vrid && e.IP.Is6() == v.ipv6
}

func isAnnounce(e lab.Event, v variant) bool {
	return (e.Kind == lab.GARP || e.Kind == lab.NA) && e.IP == v.vip()
}

// waitVIP waits until h holds the variant's VIP (want) or does not.
func (p *pair) waitVIP(t *testing.T, h *lab.Host, v variant, want bool, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for hasAddr(t, h, v.vip()) != want {
		if time.Now().After(deadline) {
			t.Fatalf("%s: holds %s is %v after %s, want %v", h.Name, v.vip(), !want, within, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitAdvert waits until h's wire has an advert of the variant from src, at or after since.
func (p *pair) waitAdvert(t *testing.T, h *lab.Host, v variant, src netip.Addr, since time.Time) {
	t.Helper()
	_, err := p.wire(h).Wait(10*time.Second, func(es []lab.Event) bool {
		return slices.ContainsFunc(es, func(e lab.Event) bool { return isAdvert(e, v) && e.IP == src && !e.Time.Before(since) })
	})
	if err != nil {
		t.Fatalf("%s's wire has no %s advert from %s: %v", h.Name, v.name, src, err)
	}
}

// steadyUntil is when a steady state has lasted long enough to prove itself, in a pair whose
// newer router started at started: four advert intervals from now or, if later, two intervals
// past that router's Master_Down_Interval, so that a backup that does not hear the master has
// time to show up as a second master. The slowest variant sets the pace.
func steadyUntil(started time.Time) time.Time {
	until := time.Now()
	for _, v := range variants {
		for _, end := range []time.Time{
			time.Now().Add(4 * v.interval),
			started.Add(vrrp.MasterDownInterval(vrrp.Version(v.version), lowPrio, v.interval) + 2*v.interval),
		} {
			if end.After(until) {
				until = end
			}
		}
	}
	return until
}

// steady watches the pair until the given time and checks, for every variant, that master
// alone is master: it sends the adverts, it holds the VIP, and the other router sends no adverts
// and no GARPs or NAs. vrrpd's status must agree, and not change.
func (p *pair) steady(t *testing.T, d *daemon, master *lab.Host, until time.Time) {
	t.Helper()
	backup := p.other(master)
	before, err := d.status()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	time.Sleep(time.Until(until))
	end := time.Now()
	after, err := d.status()
	if err != nil {
		t.Fatal(err)
	}
	p.each(t, func(t *testing.T, v variant) {
		sent := p.sent(master, v, isAdvert, start, end)
		if want := int(end.Sub(start)/v.interval) - 2; len(sent) < want {
			t.Errorf("%s sent %d adverts in %s, want at least %d", master.Name, len(sent), end.Sub(start), want)
		}
		for _, e := range sent {
			if e.Priority == 0 || int(e.Version) != v.version {
				t.Errorf("%s sent an advert with version %d priority %d", master.Name, e.Version, e.Priority)
				break
			}
		}
		if extra := p.sent(backup, v, isAdvert, start, end); len(extra) > 0 {
			t.Errorf("the backup %s sent %d adverts in %s, the first at priority %d: two masters",
				backup.Name, len(extra), end.Sub(start), extra[0].Priority)
		}
		if garps := p.sent(backup, v, isAnnounce, start, end); len(garps) > 0 {
			t.Errorf("the backup %s announced %s %d times", backup.Name, v.vip(), len(garps))
		}
		if !hasAddr(t, master, v.vip()) || hasAddr(t, backup, v.vip()) {
			t.Errorf("%s is on %s: %v, on %s: %v; want it only on %s", v.vip(),
				master.Name, hasAddr(t, master, v.vip()), backup.Name, hasAddr(t, backup, v.vip()), master.Name)
		}

		b, a := instanceOf(t, before, v.name), instanceOf(t, after, v.name)
		want := "BACKUP"
		if master == p.vd {
			want = "MASTER"
		}
		if a.State != want || a.Master != p.addr(master, v).String() {
			t.Errorf("vrrpd is %s following %q, want %s following %s", a.State, a.Master, want, p.addr(master, v))
		}
		if a.Since != b.Since {
			t.Errorf("vrrpd's state changed during the steady state: since %s, then %s (%s)", b.Since, a.Since, a.Reason)
		}
		t.Logf("steady for %s: %s sent %d adverts, %s none; vrrpd %s: %s", end.Sub(start).Round(time.Millisecond),
			master.Name, len(sent), backup.Name, a.State, a.Reason)
	})
}

func instanceOf(t *testing.T, s status, name string) instance {
	t.Helper()
	in, ok := s.instance(name)
	if !ok {
		t.Fatalf("vrrpd has no instance %s", name)
	}
	return in
}

// takeover is a failover of the variant as the new master's own wire saw it: from the old
// master's last advert to the new master's first gratuitous ARP or unsolicited NA for the VIP.
func (p *pair) takeover(t *testing.T, v variant, from time.Time, old, to *lab.Host) time.Duration {
	t.Helper()
	oldAddr := p.addr(old, v)
	// delay finds the takeover in the events: the old master's last advert, then the new one's
	// first announcement. The announcement may follow the VIP by a moment: wait for it.
	delay := func(es []lab.Event) (time.Duration, bool) {
		return lab.Takeover(es,
			func(e lab.Event) bool { return !e.Time.Before(from) && isAdvert(e, v) && e.IP == oldAddr },
			func(e lab.Event) bool { return !e.Time.Before(from) && isAnnounce(e, v) && bytes.Equal(e.Src, to.MAC) })
	}
	es, err := p.wire(to).Wait(5*time.Second, func(es []lab.Event) bool { _, ok := delay(es); return ok })
	if err == nil {
		d, _ := delay(es)
		return d
	}
	var seen []string
	for _, e := range es {
		if (isAdvert(e, v) || isAnnounce(e, v)) && !e.Time.Before(from) {
			seen = append(seen, fmt.Sprintf("%s %s %s from %s prio %d", e.Time.Format("05.000"), e.Kind, e.IP, e.Src, e.Priority))
		}
	}
	t.Fatalf("%s's wire has no advert from %s followed by an announcement of %s by %s within 5s; it saw:\n%s",
		to.Name, oldAddr, v.vip(), to.Name, strings.Join(seen, "\n"))
	return 0
}

// testMixedPair runs a mixed pair: kaMaster says whether keepalived (priority 150) or vrrpd is
// the master; the other router has priority 100.
func testMixedPair(t *testing.T, kaMaster bool) {
	p := newPair(t, false)
	master, backup := p.vd, p.ka
	if kaMaster {
		master, backup = p.ka, p.vd
	}

	// The master starts alone and takes the VIPs; the backup joins and follows it.
	var ka *keepalived
	var d *daemon
	var joined time.Time
	if kaMaster {
		ka = p.startKeepalived(t, highPrio)
		for _, v := range variants {
			p.waitVIP(t, p.ka, v, true, 15*time.Second)
		}
		joined = time.Now()
		d = p.startVrrpd(t, lowPrio)
		for _, v := range variants {
			d.waitFor(t, v.name, "following keepalived", 15*time.Second, func(in instance) bool {
				return in.State == "BACKUP" && in.Master == p.addr(p.ka, v).String()
			})
		}
	} else {
		d = p.startVrrpd(t, highPrio)
		for _, v := range variants {
			d.waitState(t, v.name, "MASTER", 15*time.Second)
			p.waitVIP(t, p.vd, v, true, 5*time.Second)
		}
		joined = time.Now()
		ka = p.startKeepalived(t, lowPrio)
		for _, v := range variants {
			ka.waitLog(t, "("+v.name+") Entering BACKUP STATE", 10*time.Second)
		}
	}
	t.Run("steady state", func(t *testing.T) { p.steady(t, d, master, steadyUntil(joined)) })

	pings := map[string]*lab.Pinger{}
	for _, v := range p.live() {
		ping, err := lab.StartPinger(p.client, v.vip(), 20*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ping.Stop() })
		if err := ping.WaitReply(time.Now(), 10*time.Second); err != nil {
			t.Fatalf("the client cannot reach %s: %v", v.vip(), err)
		}
		pings[v.name] = ping
	}

	// When a variant's backup took over, the client follows it to its MAC and its pings to the
	// VIP are answered again.
	clientMoved := func(t *testing.T, v variant, to *lab.Host) {
		t.Helper()
		clientFollows(t, p.client, v.vip(), to.MAC)
		if err := pings[v.name].WaitReply(time.Now(), 5*time.Second); err != nil {
			t.Fatalf("the client's pings did not resume through %s: %v", to.Name, err)
		}
	}

	t.Run("host loss", func(t *testing.T) {
		from := time.Now()
		for _, v := range p.live() {
			p.waitAdvert(t, backup, v, p.addr(master, v), from)
		}
		if err := master.Unplug(); err != nil {
			t.Fatal(err)
		}
		p.each(t, func(t *testing.T, v variant) {
			p.waitVIP(t, backup, v, true, 15*time.Second)
			if backup == p.vd {
				in := d.waitState(t, v.name, "MASTER", 5*time.Second)
				if want := "no advertisement from " + p.addr(p.ka, v).String(); !strings.HasPrefix(in.Reason, want) {
					t.Errorf("vrrpd's reason %q, want it to start with %q", in.Reason, want)
				}
			} else {
				p.waitAdvert(t, backup, v, p.addr(p.ka, v), from) // a backup keepalived sends none: it is master
			}
			inBounds(t, fmt.Sprintf("%s takes over from %s after host loss", backup.Name, master.Name),
				p.takeover(t, v, from, master, backup), vrrp.MasterDownInterval(vrrp.Version(v.version), lowPrio, v.interval))
			clientMoved(t, v, backup)
		})
	})

	t.Run("preempt back", func(t *testing.T) {
		if err := master.Plug(); err != nil {
			t.Fatal(err)
		}
		p.each(t, func(t *testing.T, v variant) {
			p.waitVIP(t, backup, v, false, 15*time.Second)
			p.waitVIP(t, master, v, true, 5*time.Second)
			want := "MASTER"
			if kaMaster {
				want = "BACKUP"
			}
			in := d.waitFor(t, v.name, want+" following "+master.Name, 5*time.Second, func(in instance) bool {
				return in.State == want && in.Master == p.addr(master, v).String()
			})
			t.Logf("vrrpd is %s: %s", in.State, in.Reason)
			clientMoved(t, v, master)
		})
	})

	t.Run("graceful stop", func(t *testing.T) {
		from := time.Now()
		for _, v := range p.live() {
			p.waitAdvert(t, backup, v, p.addr(master, v), from)
		}
		if kaMaster {
			if err := ka.stop(); err != nil {
				t.Fatalf("keepalived's exit: %v", err)
			}
		} else if err := d.stop(); err != nil {
			t.Fatalf("vrrpd's exit: %v", err)
		}
		p.each(t, func(t *testing.T, v variant) {
			if hasAddr(t, master, v.vip()) {
				t.Errorf("%s kept %s after SIGTERM", master.Name, v.vip())
			}
			p.waitVIP(t, backup, v, true, 10*time.Second)
			if !slices.ContainsFunc(p.wire(backup).Events(), func(e lab.Event) bool {
				return isAdvert(e, v) && e.IP == p.addr(master, v) && e.Priority == 0 && !e.Time.Before(from)
			}) {
				t.Errorf("%s saw no priority-0 advert from %s", backup.Name, master.Name)
			}
			if backup == p.vd {
				in := d.waitState(t, v.name, "MASTER", 5*time.Second)
				if !strings.Contains(in.Reason, "stopped (sent priority 0)") {
					t.Errorf("vrrpd's reason %q", in.Reason)
				}
			}
			inBounds(t, fmt.Sprintf("%s takes over from %s after a graceful stop", backup.Name, master.Name),
				p.takeover(t, v, from, master, backup), vrrp.SkewTime(vrrp.Version(v.version), lowPrio, v.interval))
			clientMoved(t, v, backup)
		})
	})
}

// testTieBreak checks RFC 5798 §6.4.3 (RFC 3768 §6.4.3 for v2) at equal priorities: a partition
// between the routers makes both master; when it heals, the one with the lower primary address
// hears the other's advert and becomes backup.
func testTieBreak(t *testing.T, kaHigher bool) {
	p := newPair(t, kaHigher)
	winner, loser := p.vd, p.ka
	if kaHigher {
		winner, loser = p.ka, p.vd
	}
	partition := [][]string{
		{"add", "rule", "bridge", "lab", "labforward", "ip", "protocol", "112", "drop"},
		{"add", "rule", "bridge", "lab", "labforward", "ip6", "nexthdr", "112", "drop"},
	}
	for _, rule := range partition {
		if err := p.lab.NFT(rule...); err != nil {
			t.Fatal(err)
		}
	}
	started := time.Now()
	d := p.startVrrpd(t, lowPrio)
	p.startKeepalived(t, lowPrio)
	mastered := map[string]instance{}
	t.Run("partitioned", func(t *testing.T) {
		p.each(t, func(t *testing.T, v variant) {
			mastered[v.name] = d.waitState(t, v.name, "MASTER", 15*time.Second)
			p.waitVIP(t, p.vd, v, true, 5*time.Second)
			p.waitVIP(t, p.ka, v, true, 15*time.Second)
			// Only a master advertises: both are.
			p.waitAdvert(t, p.ka, v, p.addr(p.ka, v), started)
			p.waitAdvert(t, p.vd, v, p.addr(p.vd, v), started)
		})
	})

	healed := time.Now()
	if err := p.lab.NFT("flush", "chain", "bridge", "lab", "labforward"); err != nil {
		t.Fatal(err)
	}
	t.Run("healed", func(t *testing.T) {
		p.each(t, func(t *testing.T, v variant) {
			p.waitVIP(t, loser, v, false, 10*time.Second)
			t.Logf("%s (%s) yielded to %s (%s) within %s of the partition healing", loser.Name, p.addr(loser, v),
				winner.Name, p.addr(winner, v), time.Since(healed).Round(time.Millisecond))
			if loser == p.vd {
				kaAddr := p.addr(p.ka, v)
				d.waitFor(t, v.name, "following keepalived", 5*time.Second, func(in instance) bool {
					return in.State == "BACKUP" && in.Master == kaAddr.String()
				})
				d.logged(t, 5*time.Second, "instance="+v.name+" ", fmt.Sprintf("equal priority %d from higher address %s", lowPrio, kaAddr))
			} else if in, err := d.instance(v.name); err != nil || in.State != "MASTER" || in.Since != mastered[v.name].Since {
				t.Errorf("vrrpd, the higher address, did not stay master since %s: %+v %v", mastered[v.name].Since, in, err)
			}
		})
	})
	t.Run("steady state", func(t *testing.T) { p.steady(t, d, winner, steadyUntil(healed)) })
}

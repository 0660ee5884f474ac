package test

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/ipv4"

	"github.com/vrrpd/vrrpd/test/lab"
	"github.com/vrrpd/vrrpd/test/lab/labtest"
	"github.com/vrrpd/vrrpd/vrrp"
)

// rawSender writes whole IPv4 packets (IP_HDRINCL) from a host's namespace, so that a test
// chooses the TTL, the source and every byte of the VRRP message.
type rawSender struct {
	conn *ipv4.RawConn
}

func newRawSender(t *testing.T, h *lab.Host) *rawSender {
	t.Helper()
	var s rawSender
	err := h.Do(func() error {
		ifi, err := net.InterfaceByName("eth0")
		if err != nil {
			return err
		}
		pc, err := net.ListenPacket("ip4:112", "0.0.0.0")
		if err != nil {
			return err
		}
		if s.conn, err = ipv4.NewRawConn(pc); err != nil {
			pc.Close()
			return err
		}
		return s.conn.SetMulticastInterface(ifi) // 224.0.0.18 leaves through eth0: there is no route for it
	})
	if err != nil {
		t.Fatalf("%s: raw socket: %v", h.Name, err)
	}
	t.Cleanup(func() { s.conn.Close() })
	return &s
}

// send sends msg as the payload of an IPv4 packet with protocol 112 (VRRP).
func (s *rawSender) send(t *testing.T, src, dst netip.Addr, ttl int, msg []byte) {
	t.Helper()
	h := &ipv4.Header{
		Version: ipv4.Version, Len: ipv4.HeaderLen, TOS: 0xc0, TotalLen: ipv4.HeaderLen + len(msg),
		TTL: ttl, Protocol: vrrp.Protocol, Src: src.AsSlice(), Dst: dst.AsSlice(),
	}
	if err := s.conn.WriteTo(h, msg, nil); err != nil {
		t.Fatalf("sending %d bytes from %s to %s: %v", len(msg), src, dst, err)
	}
}

// advert encodes a valid advertisement from src to dst: for v3, with the pseudo-header checksum
// (RFC 5798 §5.2.8) that keepalived sends.
func advert(t *testing.T, a vrrp.Advertisement, src, dst netip.Addr) []byte {
	t.Helper()
	msg, err := a.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if a.Version == vrrp.V3 {
		vrrp.PutChecksum(msg, src, dst)
	}
	return msg
}

// counted is where a daemon counts a dropped packet: an instance's drops, or (instance "") the
// socket's, for packets it cannot attribute to an instance.
type counted struct {
	d        *daemon
	instance string
	drop     string
}

func (c counted) String() string {
	if c.instance == "" {
		return fmt.Sprintf("%s socket %s", c.d.name, c.drop)
	}
	return fmt.Sprintf("%s %s %s", c.d.name, c.instance, c.drop)
}

// dropCounters reads every drop counter of d, keyed like counted.
func dropCounters(t *testing.T, d *daemon) map[counted]uint64 {
	t.Helper()
	s, err := d.status()
	if err != nil {
		t.Fatal(err)
	}
	out := map[counted]uint64{}
	for _, in := range s.Instances {
		for k, n := range in.Drops {
			out[counted{d, in.Name, k}] = n
		}
	}
	for _, so := range s.Sockets {
		if so.Interface == "eth0" && so.Family == "ipv4" {
			for k, n := range so.Drops {
				out[counted{d, "", k}] = n
			}
		}
	}
	return out
}

// The hostile pair: lb1 is master and lb2 backup of a VRRPv3 router (51), a VRRPv2 router with a
// password (52) and a unicast VRRPv3 router (53); lb1 also owns 54 (priority 255). A third host
// sends them thousands of malformed and crafted packets, most with a priority (254) that would
// take the VIP if they were accepted. Both daemons keep running, nothing changes state, no
// crafted packet is accepted, and each is counted under the reason RFC 5798 §7.1 or RFC 3768
// §7.1 (or unicast mode) gives for dropping it.
func TestHostile(t *testing.T) {
	t.Parallel()
	l := labtest.ForTest(t)
	lb1 := labtest.MustHost(t, l, "lb1", "10.0.4.20/24")
	lb2 := labtest.MustHost(t, l, "lb2", "10.0.4.21/24")
	evil := labtest.MustHost(t, l, "evil", "10.0.4.66/24")
	routers := func(prio int, src, peer string) []vr {
		return []vr{
			{name: "v3", vrid: 51, prio: prio, interval: "200ms", vips: []string{"10.0.4.99/24"}},
			{name: "v2", vrid: 52, prio: prio, version: 2, vips: []string{"10.0.4.98/24"}, auth: "secret12"},
			{name: "uni", vrid: 53, prio: prio, interval: "200ms", vips: []string{"10.0.4.97/24"}, src: src, peers: []string{peer}},
		}
	}
	d1 := startDaemon(t, lb1, config("lb1", append(routers(110, "10.0.4.20", "10.0.4.21"),
		vr{name: "owner", vrid: 54, prio: 255, vips: []string{"10.0.4.94/24"}})...))
	d2 := startDaemon(t, lb2, config("lb2", routers(100, "10.0.4.21", "10.0.4.20")...))
	for _, name := range []string{"v3", "v2", "uni", "owner"} {
		d1.waitState(t, name, "MASTER", 15*time.Second)
	}
	for _, name := range []string{"v3", "v2", "uni"} {
		d2.waitFor(t, name, "following lb1", 15*time.Second, func(in instance) bool {
			return in.State == "BACKUP" && in.Master == "10.0.4.20"
		})
	}

	var (
		mcast    = vrrp.MulticastV4
		src      = netip.MustParseAddr("10.0.4.66")
		lb1Addr  = netip.MustParseAddr("10.0.4.20")
		lb2Addr  = netip.MustParseAddr("10.0.4.21")
		ours     = func(s string) []netip.Addr { return []netip.Addr{netip.MustParseAddr(s)} }
		password = [8]byte([]byte("secret12"))
		wrong    = [8]byte([]byte("wrong\x00\x00\x00"))
	)
	// Valid adverts at priority 254, which every router here would obey.
	v3 := vrrp.Advertisement{Version: vrrp.V3, VRID: 51, Priority: 254, Interval: 200 * time.Millisecond, Addresses: ours("10.0.4.99")}
	v2 := vrrp.Advertisement{Version: vrrp.V2, VRID: 52, Priority: 254, Interval: time.Second,
		AuthType: vrrp.AuthSimple, AuthData: password, Addresses: ours("10.0.4.98")}
	uni := vrrp.Advertisement{Version: vrrp.V3, VRID: 53, Priority: 254, Interval: 200 * time.Millisecond, Addresses: ours("10.0.4.97")}
	owned := vrrp.Advertisement{Version: vrrp.V3, VRID: 54, Priority: 254, Interval: time.Second, Addresses: ours("10.0.4.94")}
	with := func(a vrrp.Advertisement, f func(*vrrp.Advertisement)) vrrp.Advertisement { f(&a); return a }
	edited := func(msg []byte, f func(m []byte)) []byte { m := slices.Clone(msg); f(m); return m }
	resum := func(m []byte) { vrrp.PutChecksum(m, src, mcast) }
	both := func(instance, drop string) []counted {
		return []counted{{d1, instance, drop}, {d2, instance, drop}}
	}

	goodV3, goodV2 := advert(t, v3, src, mcast), advert(t, v2, src, mcast)
	var truncated [][]byte
	for n := range 8 {
		truncated = append(truncated, goodV3[:n])
	}
	cases := []struct {
		name     string
		src, dst netip.Addr
		ttl      int
		msgs     [][]byte // sent in turn
		counted  []counted
	}{
		{"shorter than the fixed header", src, mcast, 255, truncated, both("", "length")},
		{"count 2 with one address", src, mcast, 255,
			[][]byte{edited(goodV3, func(m []byte) { m[3] = 2; resum(m) })}, both("v3", "length")},
		{"bad checksum", src, mcast, 255,
			[][]byte{edited(goodV3, func(m []byte) { m[7] ^= 0x5a })}, both("v3", "checksum")},
		{"TTL 64", src, mcast, 64, [][]byte{goodV3}, both("v3", "ttl")},
		{"TTL 254", src, mcast, 254, [][]byte{goodV3}, both("v3", "ttl")},
		{"version 2 to a v3 router", src, mcast, 255,
			[][]byte{advert(t, with(v2, func(a *vrrp.Advertisement) { a.VRID = 51 }), src, mcast)}, both("v3", "version")},
		{"version 4", src, mcast, 255,
			[][]byte{edited(goodV3, func(m []byte) { m[0] = 0x41; resum(m) })}, both("v3", "version")},
		{"type 2", src, mcast, 255,
			[][]byte{edited(goodV3, func(m []byte) { m[0] = 0x32; resum(m) })}, both("v3", "type")},
		{"Max Adver Int 0", src, mcast, 255,
			[][]byte{edited(goodV3, func(m []byte) { m[4], m[5] = 0, 0; resum(m) })}, both("v3", "interval")},
		{"foreign VRID", src, mcast, 255,
			[][]byte{advert(t, with(v3, func(a *vrrp.Advertisement) { a.VRID = 200 }), src, mcast)}, both("", "vrid")},
		{"v2 wrong password", src, mcast, 255,
			[][]byte{advert(t, with(v2, func(a *vrrp.Advertisement) { a.AuthData = wrong }), src, mcast)}, both("v2", "auth")},
		{"v2 no authentication", src, mcast, 255,
			[][]byte{advert(t, with(v2, func(a *vrrp.Advertisement) { a.AuthType, a.AuthData = vrrp.AuthNone, [8]byte{} }), src, mcast)},
			both("v2", "auth")},
		{"v2 Adver Int 2s", src, mcast, 255,
			[][]byte{advert(t, with(v2, func(a *vrrp.Advertisement) { a.Interval = 2 * time.Second }), src, mcast)}, both("v2", "interval")},
		{"v2 bad checksum", src, mcast, 255,
			[][]byte{edited(goodV2, func(m []byte) { m[6] ^= 0xff })}, both("v2", "checksum")},
		{"v2 TTL 1", src, mcast, 1, [][]byte{goodV2}, both("v2", "ttl")},
		{"v2 other addresses", src, mcast, 255, // RFC 3768 §7.1: dropped unless from the owner
			[][]byte{advert(t, with(v2, func(a *vrrp.Advertisement) { a.Addresses = ours("10.0.4.55") }), src, mcast)},
			both("v2", "addresses")},
		{"unicast from a stranger", src, lb1Addr, 255,
			[][]byte{advert(t, uni, src, lb1Addr)}, []counted{{d1, "uni", "peer"}}},
		{"unicast from the peer's address with TTL 254", lb2Addr, lb1Addr, 254,
			[][]byte{advert(t, uni, lb2Addr, lb1Addr)}, []counted{{d1, "uni", "ttl"}}},
		{"to the address owner", src, mcast, 255, // RFC 5798 §7.1: the owner discards adverts for its VRID
			[][]byte{advert(t, owned, src, mcast)}, []counted{{d1, "owner", "owner"}, {d2, "", "vrid"}}},
	}

	s1, err := d1.status()
	if err != nil {
		t.Fatal(err)
	}
	s2, err := d2.status()
	if err != nil {
		t.Fatal(err)
	}
	counters := map[*daemon]map[counted]uint64{d1: dropCounters(t, d1), d2: dropCounters(t, d2)}

	// Each kind is sent n times, in bursts small enough for the daemons' socket buffers: a
	// packet the kernel dropped for lack of room would never be counted.
	const n, burst = 250, 25
	want := map[counted]uint64{}
	why := map[counted][]string{} // the kinds of packet each counter counts
	raw := newRawSender(t, evil)
	start := time.Now()
	for _, c := range cases {
		for i := range n {
			raw.send(t, c.src, c.dst, c.ttl, c.msgs[i%len(c.msgs)])
			if i%burst == burst-1 {
				time.Sleep(2 * time.Millisecond)
			}
		}
		for _, k := range c.counted {
			want[k] += n
			why[k] = append(why[k], c.name)
		}
	}
	t.Logf("sent %d crafted packets of %d kinds in %s", n*len(cases), len(cases), time.Since(start).Round(time.Millisecond))

	// Every packet is counted where it should be.
	deadline := time.Now().Add(15 * time.Second)
	for {
		var short []string
		now := map[*daemon]map[counted]uint64{d1: dropCounters(t, d1), d2: dropCounters(t, d2)}
		for k, w := range want {
			if got := now[k.d][k] - counters[k.d][k]; got < w {
				short = append(short, fmt.Sprintf("%s rose by %d, want at least %d (%s)", k, got, w, strings.Join(why[k], "; ")))
			}
		}
		if len(short) == 0 {
			var rose []string
			for k := range want {
				rose = append(rose, fmt.Sprintf("%s +%d", k, now[k.d][k]-counters[k.d][k]))
			}
			slices.Sort(rose)
			t.Logf("drop counters: %s", strings.Join(rose, ", "))
			break
		}
		if time.Now().After(deadline) {
			slices.Sort(short)
			t.Fatalf("drop counters:\n%s", strings.Join(short, "\n"))
		}
		time.Sleep(50 * time.Millisecond)
	}

	// lb1 hears nothing but the crafted packets (lb2 is a silent backup), so each of them must
	// have been counted exactly once, under its own reason.
	for k, n := range dropCounters(t, d1) {
		if got := n - counters[d1][k]; got != want[k] {
			t.Errorf("%s rose by %d, want %d", k, got, want[k])
		}
	}

	// Nothing was accepted, and nothing changed.
	for _, c := range []struct {
		d      *daemon
		before status
	}{{d1, s1}, {d2, s2}} {
		after, err := c.d.status()
		if err != nil {
			t.Fatalf("%s after the flood: %v", c.d.name, err)
		}
		for _, b := range c.before.Instances {
			a, ok := after.instance(b.Name)
			if !ok {
				t.Errorf("%s lost instance %s", c.d.name, b.Name)
				continue
			}
			if a.State != b.State || a.Since != b.Since || a.Master != b.Master || a.Reason != b.Reason {
				t.Errorf("%s %s changed: %s following %s since %s (%s), was %s following %s since %s (%s)",
					c.d.name, b.Name, a.State, a.Master, a.Since, a.Reason, b.State, b.Master, b.Since, b.Reason)
			}
			if c.d == d1 && a.AdvertsReceived != b.AdvertsReceived {
				// lb1 is master everywhere and lb2 silent: whatever lb1 accepted was crafted.
				t.Errorf("lb1 %s accepted %d adverts", b.Name, a.AdvertsReceived-b.AdvertsReceived)
			}
		}
	}
	for _, vip := range []string{"10.0.4.99", "10.0.4.98", "10.0.4.97", "10.0.4.94"} {
		if a := netip.MustParseAddr(vip); !hasAddr(t, lb1, a) || hasAddr(t, lb2, a) {
			t.Errorf("VIP %s: on lb1 %v, on lb2 %v; want on lb1 only", vip, hasAddr(t, lb1, a), hasAddr(t, lb2, a))
		}
	}

	// A second master on VRID 51 whose VIPs differ from ours: RFC 5798 §7.1 accepts its
	// adverts (a lower priority: lb1 stays master) and says to log the mismatch, which vrrpd
	// does once per 10s, not once per packet.
	t.Run("VRID collision", func(t *testing.T) {
		before, err := d1.instance("v3")
		if err != nil {
			t.Fatal(err)
		}
		rogue := with(v3, func(a *vrrp.Advertisement) { a.Priority, a.Addresses = 50, ours("10.0.4.55") })
		const sent = 20
		for range sent {
			raw.send(t, src, lb1Addr, 255, advert(t, rogue, src, lb1Addr))
		}
		after := d1.waitFor(t, "v3", "hearing the rogue master", 5*time.Second, func(in instance) bool {
			return in.AdvertsReceived >= before.AdvertsReceived+sent
		})
		if after.State != "MASTER" || after.Since != before.Since {
			t.Errorf("lb1 v3 is %s since %s, was MASTER since %s", after.State, after.Since, before.Since)
		}
		line := d1.logged(t, 5*time.Second, "other addresses", "instance=v3 ", "from=10.0.4.66")
		if !strings.Contains(line, "10.0.4.55") {
			t.Errorf("the log does not show the rogue's addresses: %s", line)
		}
		if got := logLines(t, d1, "other addresses", "instance=v3 "); got != 1 {
			t.Errorf("lb1 logged the mismatch %d times for %d adverts, want once (rate-limited)", got, sent)
		}
		in, err := d1.instance("v3")
		if err != nil {
			t.Fatal(err)
		}
		if m := in.LastMismatch; in.AddressMismatches != uint64(sent) || m == nil || m.From != "10.0.4.66" || len(m.VIPs) != 1 || m.VIPs[0] != "10.0.4.55" {
			t.Errorf("status: %d mismatches, last %+v; want %d, from 10.0.4.66 with [10.0.4.55]", in.AddressMismatches, m, sent)
		}
	})

	// RFC 3768 §7.1 drops a VRRPv2 advert with other addresses unless it comes from the address
	// owner (priority 255). This one does: lb1 obeys it, and logs the mismatch.
	t.Run("v2 owner with other addresses", func(t *testing.T) {
		owner := with(v2, func(a *vrrp.Advertisement) { a.Priority, a.Addresses = 255, ours("10.0.4.55") })
		raw.send(t, src, lb1Addr, 255, advert(t, owner, src, lb1Addr))
		d1.waitFor(t, "v2", "following the owner", 5*time.Second, func(in instance) bool {
			return in.State == "BACKUP" && in.Master == "10.0.4.66"
		})
		if hasAddr(t, lb1, netip.MustParseAddr("10.0.4.98")) {
			t.Error("lb1 kept 10.0.4.98 after yielding to the owner")
		}
		d1.logged(t, 5*time.Second, "other addresses", "instance=v2 ", "from=10.0.4.66")
	})
}

// logLines counts the daemon's log lines that contain every one of subs.
func logLines(t *testing.T, d *daemon, subs ...string) int {
	t.Helper()
	log, err := os.ReadFile(d.logPath())
	if err != nil {
		t.Fatal(err)
	}
	return len(matching(string(log), subs...))
}

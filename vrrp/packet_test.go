package vrrp

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// cmpAddr lets go-cmp compare netip.Addr values, which have unexported fields.
var cmpAddr = cmpopts.EquateComparable(netip.Addr{})

// goldenVRRP is one VRRP packet from testdata/keepalived-2.2.7.vectors (a copy of
// /work/shared/testdata/keepalived-2.2.7.vectors, so the test runs wherever the repo is checked
// out), with the IP header parsed here and the fields its comment states.
type goldenVRRP struct {
	name     string
	src, dst netip.Addr
	ttl      int
	msg      []byte // the IP payload

	// Stated by the entry's comment.
	ipVersion int
	version   Version
	vrid      uint8
	priority  uint8
	count     int
	authType  AuthType
	password  string
	ttlStated int
	srcStated netip.Addr
	dstStated netip.Addr
}

// goldenComment matches the comment of a VRRP entry, for example
// "# IPv4 packet: VRRPv2 vrid 52 priority 0 count 2 authtype 1 password 'secret12' 10.77.0.1 > 224.0.0.18 ttl 255".
var goldenComment = regexp.MustCompile(`^# IPv([46]) packet: VRRPv([23]) vrid (\d+) priority (\d+) count (\d+)` +
	`(?: authtype (\d+) password '([^']*)')? (\S+) > (\S+) (?:ttl|hop limit) (\d+)$`)

// goldenInstances is keepalived-2.2.7.conf by VRID: what each instance advertises.
var goldenInstances = map[uint8]struct {
	name      string
	interval  time.Duration
	password  string
	addresses []netip.Addr
	unicast   bool
}{
	51: {"V2_PLAIN", time.Second, "", addrs("10.77.0.250"), false},
	52: {"V2_PASS", 3 * time.Second, "secret12", addrs("10.77.0.251", "10.77.0.252"), false},
	53: {"V3_V4", 500 * time.Millisecond, "", addrs("10.77.0.253"), false},
	54: {"V3_V6", time.Second, "", addrs("fe80::77:54", "fd77::254"), false},
	55: {"V2_UNICAST", time.Second, "", addrs("10.77.0.254"), true},
	56: {"V3_UNICAST", time.Second, "", addrs("10.77.0.249"), true},
}

func addrs(ss ...string) []netip.Addr {
	out := make([]netip.Addr, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParseAddr(s)
	}
	return out
}

func password(s string) (b [8]byte) {
	copy(b[:], s)
	return b
}

// loadGoldenVRRP returns the 12 VRRP packets of the vectors file. It skips the Ethernet (ARP)
// entry and the ICMPv6 entries, which belong to package vip, and fails if an IP entry carrying
// protocol 112 has a comment it cannot read.
func loadGoldenVRRP(tb testing.TB) []goldenVRRP {
	tb.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "keepalived-2.2.7.vectors"))
	if err != nil {
		tb.Fatal(err)
	}
	lines := strings.Split(string(data), "\n")
	var out []goldenVRRP
	skipped := 0
	for i := 0; i+1 < len(lines); i++ {
		comment := lines[i]
		if !strings.HasPrefix(comment, "# IPv4 packet:") && !strings.HasPrefix(comment, "# IPv6 packet:") {
			continue
		}
		pkt, err := hex.DecodeString(strings.TrimSpace(lines[i+1]))
		if err != nil {
			tb.Fatalf("line %d: %v", i+2, err)
		}
		g, proto := parseIPHeader(tb, pkt)
		if proto != Protocol {
			skipped++
			continue
		}
		m := goldenComment.FindStringSubmatch(comment)
		if m == nil {
			tb.Fatalf("line %d: VRRP entry with an unreadable comment: %q", i+1, comment)
		}
		num := func(s string) int {
			n, err := strconv.Atoi(s)
			if err != nil {
				tb.Fatalf("line %d: %v", i+1, err)
			}
			return n
		}
		g.name = fmt.Sprintf("line%d_v%s_vrid%s_prio%s", i+1, m[2], m[3], m[4])
		g.ipVersion = num(m[1])
		g.version = Version(num(m[2]))
		g.vrid = uint8(num(m[3]))
		g.priority = uint8(num(m[4]))
		g.count = num(m[5])
		if m[6] != "" {
			g.authType = AuthType(num(m[6]))
		}
		g.password = m[7]
		g.srcStated = netip.MustParseAddr(m[8])
		g.dstStated = netip.MustParseAddr(m[9])
		g.ttlStated = num(m[10])
		out = append(out, g)
	}
	if len(out) != 12 || skipped != 2 {
		tb.Fatalf("read %d VRRP entries and skipped %d others, want 12 and 2", len(out), skipped)
	}
	return out
}

// parseIPHeader reads an IPv4 header (with options, per IHL) or the fixed IPv6 header.
func parseIPHeader(tb testing.TB, pkt []byte) (g goldenVRRP, proto int) {
	tb.Helper()
	switch pkt[0] >> 4 {
	case 4:
		ihl := int(pkt[0]&0x0f) * 4
		if total := int(binary.BigEndian.Uint16(pkt[2:4])); total != len(pkt) || ihl < 20 {
			tb.Fatalf("IPv4 total length %d, IHL %d for a %d-byte packet", total, ihl, len(pkt))
		}
		g.ttl = int(pkt[8])
		g.src = netip.AddrFrom4([4]byte(pkt[12:16]))
		g.dst = netip.AddrFrom4([4]byte(pkt[16:20]))
		g.msg = pkt[ihl:]
		return g, int(pkt[9])
	case 6:
		if payload := int(binary.BigEndian.Uint16(pkt[4:6])); payload != len(pkt)-40 {
			tb.Fatalf("IPv6 payload length %d for a %d-byte packet", payload, len(pkt))
		}
		g.ttl = int(pkt[7])
		g.src = netip.AddrFrom16([16]byte(pkt[8:24]))
		g.dst = netip.AddrFrom16([16]byte(pkt[24:40]))
		g.msg = pkt[40:]
		return g, int(pkt[6])
	}
	tb.Fatalf("IP version %d", pkt[0]>>4)
	return g, 0
}

// want returns the advertisement the entry should decode to: its comment's fields plus its
// instance's configuration.
func (g goldenVRRP) want() Advertisement {
	inst := goldenInstances[g.vrid]
	return Advertisement{
		Version:   g.version,
		VRID:      g.vrid,
		Priority:  g.priority,
		Interval:  inst.interval,
		AuthType:  g.authType,
		AuthData:  password(g.password),
		Addresses: inst.addresses,
	}
}

// rules returns the Rules of a keepalived peer of the sender: the same configuration.
func (g goldenVRRP) rules() Rules {
	inst := goldenInstances[g.vrid]
	r := Rules{
		Version:  g.version,
		Interval: inst.interval,
		AuthType: g.authType,
		AuthData: password(g.password),
		MinTTL:   255,
	}
	r.SetAddresses(inst.addresses, len(inst.addresses))
	if inst.unicast {
		r.Peers = []netip.Addr{g.src}
	}
	return r
}

func TestGolden(t *testing.T) {
	var none netip.Addr
	for _, g := range loadGoldenVRRP(t) {
		t.Run(g.name, func(t *testing.T) {
			inst, ok := goldenInstances[g.vrid]
			if !ok {
				t.Fatalf("vrid %d is not in keepalived-2.2.7.conf", g.vrid)
			}
			// The IP header says what the comment says.
			if got := map[bool]int{true: 4, false: 6}[g.src.Is4()]; got != g.ipVersion {
				t.Errorf("IP version %d, comment says %d", got, g.ipVersion)
			}
			if g.src != g.srcStated || g.dst != g.dstStated || g.ttl != g.ttlStated {
				t.Errorf("IP header %v > %v ttl %d, comment says %v > %v ttl %d",
					g.src, g.dst, g.ttl, g.srcStated, g.dstStated, g.ttlStated)
			}
			if g.count != len(inst.addresses) {
				t.Errorf("comment says count %d, %s has %d addresses", g.count, inst.name, len(inst.addresses))
			}

			var got Advertisement
			if err := got.UnmarshalBinary(g.msg); err != nil {
				t.Fatal(err)
			}
			want := g.want()
			if diff := cmp.Diff(want, got, cmpAddr); diff != "" {
				t.Errorf("decoded (-want +got):\n%s", diff)
			}
			if got.Len() != len(g.msg) {
				t.Errorf("Len() = %d, want %d", got.Len(), len(g.msg))
			}

			// The checksum verifies in the form keepalived uses: message only for v2 (RFC 3768
			// §5.3.8), pseudo-header for v3 in both families (RFC 5798 §5.2.8). For IPv4 v3 the
			// RFC 9568 message-only form must not verify, or the test would prove nothing.
			stored := binary.BigEndian.Uint16(g.msg[6:8])
			if g.version == V2 {
				if c := Checksum(g.msg, none, none); c != stored {
					t.Errorf("message checksum %#04x, packet has %#04x", c, stored)
				}
			} else {
				if c := Checksum(g.msg, g.src, g.dst); c != stored {
					t.Errorf("pseudo-header checksum %#04x, packet has %#04x", c, stored)
				}
				if g.src.Is4() && (Checksum(g.msg, none, none) == stored || checksumVerifies(g.msg, none, none)) {
					t.Errorf("message-only checksum also verifies %#04x", stored)
				}
			}

			// Marshal (+ PutChecksum for v3) reproduces keepalived's bytes exactly.
			out, err := want.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			if g.version == V3 {
				PutChecksum(out, g.src, g.dst)
			}
			if !bytes.Equal(out, g.msg) {
				t.Errorf("marshal:\n got %x\nwant %x", out, g.msg)
			}

			// A peer with the same configuration accepts it.
			r := g.rules()
			var adv Advertisement
			if v := r.Check(Packet{Src: g.src, Dst: g.dst, TTL: g.ttl, Data: g.msg}, &adv); v != (Verdict{}) {
				t.Errorf("Check = %+v, want accepted", v)
			}
			if diff := cmp.Diff(want, adv, cmpAddr); diff != "" {
				t.Errorf("Check decoded (-want +got):\n%s", diff)
			}
		})
	}
}

// TestGoldenV3Interval pins the one sub-second interval: keepalived's advert_int 0.5 is 50
// centiseconds on the wire (RFC 5798 §5.2.7).
func TestGoldenV3Interval(t *testing.T) {
	n := 0
	for _, g := range loadGoldenVRRP(t) {
		if g.vrid != 53 {
			continue
		}
		n++
		if c := int(g.msg[4]&0x0f)<<8 | int(g.msg[5]); c != 50 {
			t.Errorf("%s: Max Adver Int %d centiseconds, want 50", g.name, c)
		}
		var a Advertisement
		if err := a.UnmarshalBinary(g.msg); err != nil || a.Interval != 500*time.Millisecond {
			t.Errorf("%s: interval %v (%v), want 500ms", g.name, a.Interval, err)
		}
	}
	if n != 2 {
		t.Fatalf("%d V3_V4 packets, want 2", n)
	}
}

// Hand-built messages for the tables below, checksum field zero.
var (
	// VRRPv2 vrid 7 priority 100 count 2, auth type 1, 3s, 10.0.0.1 10.0.0.2, "pw".
	pktV2 = []byte{0x21, 7, 100, 2, 1, 3, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2, 'p', 'w', 0, 0, 0, 0, 0, 0}
	// VRRPv3 vrid 7 priority 100 count 1, 1s, 10.0.0.1.
	pktV3v4 = []byte{0x31, 7, 100, 1, 0x00, 100, 0, 0, 10, 0, 0, 1}
	// VRRPv3 vrid 7 priority 100 count 1, 40.95s, fd00::1.
	pktV3v6 = append([]byte{0x31, 7, 100, 1, 0x0f, 0xff, 0, 0}, netip.MustParseAddr("fd00::1").AsSlice()...)
)

// edited returns a copy of b with f applied.
func edited(b []byte, f func(b []byte)) []byte {
	b = bytes.Clone(b)
	f(b)
	return b
}

func TestUnmarshal(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want Advertisement
	}{
		{"v2", pktV2, Advertisement{Version: V2, VRID: 7, Priority: 100, Interval: 3 * time.Second,
			AuthType: AuthSimple, AuthData: password("pw"), Addresses: addrs("10.0.0.1", "10.0.0.2")}},
		{"v3 IPv4", pktV3v4, Advertisement{Version: V3, VRID: 7, Priority: 100, Interval: time.Second,
			Addresses: addrs("10.0.0.1")}},
		{"v3 IPv6", pktV3v6, Advertisement{Version: V3, VRID: 7, Priority: 100, Interval: 40950 * time.Millisecond,
			Addresses: addrs("fd00::1")}},
		// RFC 5798 §5.2.6: rsvd is ignored on receipt.
		{"v3 rsvd set", edited(pktV3v4, func(b []byte) { b[4] |= 0xf0 }), Advertisement{Version: V3, VRID: 7,
			Priority: 100, Interval: time.Second, Addresses: addrs("10.0.0.1")}},
		// Structure only: these parse, and Rules.Check drops them.
		{"v3 interval 0", edited(pktV3v4, func(b []byte) { b[5] = 0 }), Advertisement{Version: V3, VRID: 7,
			Priority: 100, Addresses: addrs("10.0.0.1")}},
		{"v2 interval 0, AH", edited(pktV2, func(b []byte) { b[4], b[5] = 2, 0 }), Advertisement{Version: V2,
			VRID: 7, Priority: 100, AuthType: AuthAH, AuthData: password("pw"), Addresses: addrs("10.0.0.1", "10.0.0.2")}},
		{"v3 IPv4-mapped IPv6", append([]byte{0x31, 7, 100, 1, 0, 100, 0, 0}, netip.MustParseAddr("::ffff:10.0.0.1").AsSlice()...),
			Advertisement{Version: V3, VRID: 7, Priority: 100, Interval: time.Second, Addresses: addrs("::ffff:10.0.0.1")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A reused value: its old addresses and auth fields must not leak through.
			got := Advertisement{AuthType: 9, AuthData: password("stale"), Addresses: addrs("192.0.2.1", "192.0.2.2", "192.0.2.3")}
			if err := got.UnmarshalBinary(tt.in); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, cmpAddr); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestUnmarshalMalformed(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"nil", nil, ErrTooShort},
		{"version 0", edited(pktV3v4, func(b []byte) { b[0] = 0x01 }), ErrVersion},
		{"version 1", edited(pktV3v4, func(b []byte) { b[0] = 0x11 }), ErrVersion},
		{"version 4", edited(pktV3v4, func(b []byte) { b[0] = 0x41 }), ErrVersion},
		{"version 15", edited(pktV2, func(b []byte) { b[0] = 0xf1 }), ErrVersion},
		{"type 0", edited(pktV3v4, func(b []byte) { b[0] = 0x30 }), ErrType},
		{"type 2", edited(pktV2, func(b []byte) { b[0] = 0x22 }), ErrType},
		{"type 15", edited(pktV3v6, func(b []byte) { b[0] = 0x3f }), ErrType},
		{"v2 count 0", edited(pktV2, func(b []byte) { b[3] = 0 }), ErrLength},
		{"v2 count 1 of 2", edited(pktV2, func(b []byte) { b[3] = 1 }), ErrLength},
		{"v2 count 3 of 2", edited(pktV2, func(b []byte) { b[3] = 3 }), ErrLength},
		{"v2 no auth data", pktV2[:16], ErrLength},
		{"v2 with a 16-byte address", edited(append(bytes.Clone(pktV3v6), make([]byte, 8)...), func(b []byte) { b[0] = 0x21 }), ErrLength},
		{"v2 trailing byte", append(bytes.Clone(pktV2), 0), ErrLength},
		{"v3 count 0", pktV3v4[:8], ErrLength},
		{"v3 count 0 with an address", edited(pktV3v4, func(b []byte) { b[3] = 0 }), ErrLength},
		{"v3 count 2 of 1", edited(pktV3v4, func(b []byte) { b[3] = 2 }), ErrLength},
		{"v3 count 2 of 1 IPv6", edited(pktV3v6, func(b []byte) { b[3] = 2 }), ErrLength},
		{"v3 trailing byte", append(bytes.Clone(pktV3v4), 0), ErrLength},
		{"v3 neither family", append(bytes.Clone(pktV3v4), 0, 0), ErrLength},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			testUnmarshalFails(t, tt.in, tt.want)
		})
	}
}

// TestUnmarshalTruncated cuts each message at every length. One cut is not an error: a v3 IPv6
// message cut to 8+4n bytes is a well-formed IPv4 one, as v3 carries no family and the length
// decides it (RFC 5798 §5.2.5). Rules.Check drops it as DropLength because the packet's own
// family is IPv6.
func TestUnmarshalTruncated(t *testing.T) {
	msgs := [][]byte{pktV2, pktV3v4, pktV3v6}
	for _, g := range loadGoldenVRRP(t) {
		msgs = append(msgs, g.msg)
	}
	for _, msg := range msgs {
		for n := range len(msg) {
			t.Run(fmt.Sprintf("%x/%d", msg[:4], n), func(t *testing.T) {
				switch {
				case n < 8:
					testUnmarshalFails(t, msg[:n], ErrTooShort)
				case msg[0]>>4 == 3 && n == 8+4*int(msg[3]):
					var a Advertisement
					if err := a.UnmarshalBinary(msg[:n]); err != nil || !a.Addresses[0].Is4() {
						t.Errorf("IPv6 message cut to its IPv4 length: %v, %v; want IPv4", a.Addresses, err)
					}
				default:
					testUnmarshalFails(t, msg[:n], ErrLength)
				}
			})
		}
	}
}

// testUnmarshalFails checks that in fails with want and leaves the value untouched.
func testUnmarshalFails(t *testing.T, in []byte, want error) {
	t.Helper()
	before := Advertisement{Version: V2, VRID: 1, Priority: 2, Interval: time.Second, AuthType: AuthSimple,
		AuthData: password("keep"), Addresses: addrs("192.0.2.1")}
	got := before
	got.Addresses = addrs("192.0.2.1")
	err := got.UnmarshalBinary(in)
	if !errors.Is(err, want) {
		t.Errorf("UnmarshalBinary(%x) = %v, want %v", in, err, want)
	}
	if diff := cmp.Diff(before, got, cmpAddr); diff != "" {
		t.Errorf("failed decode changed the value (-before +after):\n%s", diff)
	}
}

func TestMarshal(t *testing.T) {
	v4, v6 := addrs("10.0.0.1"), addrs("fd00::1")
	many := func(n int, ipv6 bool) []netip.Addr {
		out := make([]netip.Addr, n)
		for i := range out {
			out[i] = netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)})
			if ipv6 {
				out[i] = netip.AddrFrom16([16]byte{0xfd, 15: byte(i)})
			}
		}
		return out
	}
	tests := []struct {
		name    string
		adv     Advertisement
		wantLen int
	}{
		{"v2 1s", Advertisement{Version: V2, VRID: 1, Interval: time.Second, Addresses: v4}, 20},
		{"v2 255s", Advertisement{Version: V2, VRID: 255, Priority: 255, Interval: 255 * time.Second, Addresses: v4}, 20},
		{"v2 255 addresses", Advertisement{Version: V2, Interval: time.Second, AuthType: AuthSimple,
			AuthData: password("12345678"), Addresses: many(255, false)}, 8 + 4*255 + 8},
		{"v3 10ms", Advertisement{Version: V3, Interval: 10 * time.Millisecond, Addresses: v4}, 12},
		{"v3 40.95s", Advertisement{Version: V3, Interval: 40950 * time.Millisecond, Addresses: v6}, 24},
		{"v3 255 IPv6 addresses", Advertisement{Version: V3, Interval: time.Second, Addresses: many(255, true)}, 8 + 16*255},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := tt.adv.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			if len(out) != tt.wantLen || tt.adv.Len() != tt.wantLen {
				t.Errorf("len %d, Len() %d, want %d", len(out), tt.adv.Len(), tt.wantLen)
			}
			if c := Checksum(out, netip.Addr{}, netip.Addr{}); binary.BigEndian.Uint16(out[6:8]) != c {
				t.Errorf("checksum field %#04x, want the message checksum %#04x", out[6:8], c)
			}
			var back Advertisement
			if err := back.UnmarshalBinary(out); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.adv, back, cmpAddr, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("round trip (-want +got):\n%s", diff)
			}
			// AppendBinary appends after what is there.
			prefix := []byte{0xde, 0xad}
			app, err := tt.adv.AppendBinary(bytes.Clone(prefix))
			if err != nil || !bytes.Equal(app, append(prefix, out...)) {
				t.Errorf("AppendBinary = %x, %v; want %x%x", app, err, prefix, out)
			}
		})
	}
}

func TestMarshalErrors(t *testing.T) {
	v4, v6 := addrs("10.0.0.1"), addrs("fd00::1")
	tests := []struct {
		name string
		adv  Advertisement
		want error
	}{
		{"version 0", Advertisement{Interval: time.Second, Addresses: v4}, ErrVersion},
		{"version 4", Advertisement{Version: 4, Interval: time.Second, Addresses: v4}, ErrVersion},
		{"no addresses", Advertisement{Version: V3, Interval: time.Second}, ErrAddress},
		{"256 addresses", Advertisement{Version: V3, Interval: time.Second, Addresses: make([]netip.Addr, 256)}, ErrAddress},
		{"zero address", Advertisement{Version: V3, Interval: time.Second, Addresses: []netip.Addr{{}}}, ErrAddress},
		{"v2 IPv6", Advertisement{Version: V2, Interval: time.Second, Addresses: v6}, ErrAddress},
		{"v2 IPv4-mapped", Advertisement{Version: V2, Interval: time.Second, Addresses: addrs("::ffff:10.0.0.1")}, ErrAddress},
		{"v3 mixed families", Advertisement{Version: V3, Interval: time.Second, Addresses: append(addrs("10.0.0.1"), v6...)}, ErrAddress},
		{"v3 mixed, IPv6 first", Advertisement{Version: V3, Interval: time.Second, Addresses: append(addrs("fd00::1"), v4...)}, ErrAddress},
		{"v3 zero address second", Advertisement{Version: V3, Interval: time.Second, Addresses: append(addrs("fd00::1"), netip.Addr{})}, ErrAddress},
		{"v2 interval 0", Advertisement{Version: V2, Addresses: v4}, ErrInterval},
		{"v2 interval 1.5s", Advertisement{Version: V2, Interval: 1500 * time.Millisecond, Addresses: v4}, ErrInterval},
		{"v2 interval 256s", Advertisement{Version: V2, Interval: 256 * time.Second, Addresses: v4}, ErrInterval},
		{"v2 interval -1s", Advertisement{Version: V2, Interval: -time.Second, Addresses: v4}, ErrInterval},
		{"v3 interval 0", Advertisement{Version: V3, Addresses: v4}, ErrInterval},
		{"v3 interval 15ms", Advertisement{Version: V3, Interval: 15 * time.Millisecond, Addresses: v4}, ErrInterval},
		{"v3 interval 40.96s", Advertisement{Version: V3, Interval: 40960 * time.Millisecond, Addresses: v6}, ErrInterval},
		{"v3 interval -10ms", Advertisement{Version: V3, Interval: -10 * time.Millisecond, Addresses: v6}, ErrInterval},
		{"v3 auth type", Advertisement{Version: V3, Interval: time.Second, AuthType: AuthSimple, Addresses: v4}, ErrAuth},
		{"v3 auth data", Advertisement{Version: V3, Interval: time.Second, AuthData: password("x"), Addresses: v4}, ErrAuth},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := tt.adv.MarshalBinary()
			if !errors.Is(err, tt.want) || out != nil {
				t.Errorf("MarshalBinary = %x, %v; want nil, %v", out, err, tt.want)
			}
			buf := []byte{1, 2, 3}
			app, err := tt.adv.AppendBinary(buf)
			if !errors.Is(err, tt.want) || !bytes.Equal(app, []byte{1, 2, 3}) {
				t.Errorf("AppendBinary = %x, %v; want 010203, %v", app, err, tt.want)
			}
		})
	}
}

// TestChecksum checks the arithmetic against RFC 1071 and an independent reference that lays out
// each pseudo-header byte by byte.
func TestChecksum(t *testing.T) {
	// RFC 1071 §3: the words 0001 f203 f4f5 f6f7 sum to ddf2.
	if got := foldOnesComplement(onesComplementSum(0, []byte{0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7})); got != 0xddf2 {
		t.Errorf("RFC 1071 example sums to %#04x, want 0xddf2", got)
	}
	// An odd last byte is padded on the right.
	if got := onesComplementSum(0, []byte{0x12, 0x34, 0x56}); got != 0x1234+0x5600 {
		t.Errorf("odd sum %#x, want %#x", got, 0x1234+0x5600)
	}
	// Carries fold back in, repeatedly if needed.
	if got := foldOnesComplement(0x2_fffe); got != 0x0001 {
		t.Errorf("fold(0x2fffe) = %#04x, want 0x0001", got)
	}

	src4, dst4 := netip.MustParseAddr("10.77.0.1"), netip.MustParseAddr("224.0.0.18")
	src6, dst6 := netip.MustParseAddr("fe80::1"), netip.MustParseAddr("ff02::12")
	msgs := [][]byte{pktV2, pktV3v4, pktV3v6, {}, {0x31}, {0x31, 1, 2, 3, 4, 5, 6}, {0x31, 1, 2, 3, 4, 5, 6, 7, 8}}
	for _, g := range loadGoldenVRRP(t) {
		msgs = append(msgs, g.msg)
	}
	for _, msg := range msgs {
		var none netip.Addr
		zeroed := bytes.Clone(msg)
		if len(zeroed) >= 8 {
			zeroed[6], zeroed[7] = 0, 0
		} else if len(zeroed) == 7 {
			zeroed[6] = 0
		}
		length := []byte{byte(len(msg) >> 8), byte(len(msg))}
		v4Pseudo := append(append(src4.AsSlice(), dst4.AsSlice()...), append([]byte{0, Protocol}, length...)...)
		v6Pseudo := append(append(src6.AsSlice(), dst6.AsSlice()...), append([]byte{0, 0}, append(length, 0, 0, 0, Protocol)...)...)
		for _, c := range []struct {
			name     string
			src, dst netip.Addr
			covered  []byte
		}{
			{"message", none, none, zeroed},
			{"message, one address", src4, none, zeroed},
			{"IPv4 pseudo-header", src4, dst4, append(v4Pseudo, zeroed...)},
			{"IPv6 pseudo-header", src6, dst6, append(v6Pseudo, zeroed...)},
		} {
			want := referenceChecksum(c.covered)
			if got := Checksum(msg, c.src, c.dst); got != want {
				t.Errorf("%x %s: Checksum = %#04x, want %#04x", msg, c.name, got, want)
			}
			if len(msg) < 8 {
				continue
			}
			sealed := bytes.Clone(msg)
			PutChecksum(sealed, c.src, c.dst)
			if !checksumVerifies(sealed, c.src, c.dst) {
				t.Errorf("%x %s: does not verify after PutChecksum", msg, c.name)
			}
			sealed[len(sealed)-1] ^= 0x40
			if checksumVerifies(sealed, c.src, c.dst) {
				t.Errorf("%x %s: verifies after a bit flip", msg, c.name)
			}
		}
	}
}

// referenceChecksum is RFC 1071 written as plainly as possible: add 16-bit words into 32 bits,
// fold, complement.
func referenceChecksum(b []byte) uint16 {
	var sum uint32
	for i := 0; i < len(b); i += 2 {
		w := uint32(b[i]) << 8
		if i+1 < len(b) {
			w |= uint32(b[i+1])
		}
		sum += w
	}
	for sum>>16 != 0 {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}

func TestPeekVRID(t *testing.T) {
	for _, tt := range []struct {
		in   []byte
		vrid uint8
		ok   bool
	}{
		{nil, 0, false},
		{[]byte{0x31, 9}, 0, false},
		{pktV3v4[:7], 0, false},
		{pktV3v4[:8], 7, true},
		{pktV2, 7, true},
	} {
		if vrid, ok := PeekVRID(tt.in); vrid != tt.vrid || ok != tt.ok {
			t.Errorf("PeekVRID(%x) = %d, %t; want %d, %t", tt.in, vrid, ok, tt.vrid, tt.ok)
		}
	}
}

func TestChecksumModeString(t *testing.T) {
	for m, want := range map[ChecksumMode]string{ChecksumPseudoHeader: "pseudo-header", ChecksumMessage: "message", 7: "ChecksumMode(7)"} {
		if got := m.String(); got != want {
			t.Errorf("ChecksumMode(%d).String() = %q, want %q", m, got, want)
		}
	}
}

// benchAdverts are the three shapes of advertisement: v2 with a password, v3 IPv4, v3 IPv6.
func benchAdverts() map[string]Advertisement {
	return map[string]Advertisement{
		"v2":   {Version: V2, VRID: 52, Priority: 150, Interval: 3 * time.Second, AuthType: AuthSimple, AuthData: password("secret12"), Addresses: addrs("10.77.0.251", "10.77.0.252")},
		"v3v4": {Version: V3, VRID: 53, Priority: 100, Interval: 500 * time.Millisecond, Addresses: addrs("10.77.0.253")},
		"v3v6": {Version: V3, VRID: 54, Priority: 200, Interval: time.Second, Addresses: addrs("fe80::77:54", "fd77::254")},
	}
}

// TestCodecZeroAllocs fails if encoding into a reused buffer or decoding into a reused value
// starts to allocate.
func TestCodecZeroAllocs(t *testing.T) {
	for name, adv := range benchAdverts() {
		buf := make([]byte, 0, 64)
		var err error
		if n := testing.AllocsPerRun(100, func() { buf, err = adv.AppendBinary(buf[:0]) }); n != 0 || err != nil {
			t.Errorf("%s: AppendBinary: %v allocs/op, %v", name, n, err)
		}
		msg := bytes.Clone(buf)
		var into Advertisement
		if err := into.UnmarshalBinary(msg); err != nil {
			t.Fatal(err)
		}
		if n := testing.AllocsPerRun(100, func() { err = into.UnmarshalBinary(msg) }); n != 0 || err != nil {
			t.Errorf("%s: UnmarshalBinary: %v allocs/op, %v", name, n, err)
		}
	}
}

// BenchmarkMarshal encodes with AppendBinary into a reused buffer, as the driver does.
func BenchmarkMarshal(b *testing.B) {
	for name, adv := range benchAdverts() {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			buf := make([]byte, 0, 64)
			for b.Loop() {
				var err error
				if buf, err = adv.AppendBinary(buf[:0]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkUnmarshal decodes into a reused value.
func BenchmarkUnmarshal(b *testing.B) {
	for name, adv := range benchAdverts() {
		b.Run(name, func(b *testing.B) {
			msg, err := adv.MarshalBinary()
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			var into Advertisement
			for b.Loop() {
				if err := into.UnmarshalBinary(msg); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

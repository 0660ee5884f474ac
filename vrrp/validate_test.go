package vrrp

import (
	"bytes"
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var (
	chkSrc4  = netip.MustParseAddr("10.0.4.21")
	chkDst4  = netip.MustParseAddr("10.0.4.20") // our address, in unicast mode
	chkSrc6  = netip.MustParseAddr("fe80::21")
	chkOther = netip.MustParseAddr("10.0.4.66")
)

// sealedPacket encodes adv into a TTL 255 packet from src to dst, with the checksum as mode says
// for IPv4 v3 (v2 is always message-only, IPv6 always pseudo-header).
func sealedPacket(t *testing.T, adv Advertisement, src, dst netip.Addr, mode ChecksumMode) Packet {
	t.Helper()
	msg, err := adv.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	p := Packet{Src: src, Dst: dst, TTL: 255, Data: msg}
	resealChecksum(p, mode)
	return p
}

// resealChecksum recomputes p's checksum after an edit, so only the edit can fail a check.
func resealChecksum(p Packet, mode ChecksumMode) {
	if Version(p.Data[0]>>4) == V2 || p.Src.Is4() && mode == ChecksumMessage {
		PutChecksum(p.Data, netip.Addr{}, netip.Addr{})
	} else {
		PutChecksum(p.Data, p.Src, p.Dst)
	}
}

// editPacket returns a copy of p with f applied to the message and the checksum recomputed.
func editPacket(p Packet, mode ChecksumMode, f func(msg []byte)) Packet {
	p.Data = edited(p.Data, f)
	resealChecksum(p, mode)
	return p
}

// packetTo returns p with other IP header fields.
// withAddresses returns r expecting these VIPs, all of which its adverts carry.
func withAddresses(r Rules, vips ...string) Rules {
	r.SetAddresses(addrs(vips...), len(vips))
	return r
}

func packetTo(p Packet, src, dst netip.Addr, ttl int) Packet {
	p.Src, p.Dst, p.TTL = src, dst, ttl
	return p
}

func TestCheck(t *testing.T) {
	v2Adv := Advertisement{Version: V2, VRID: 52, Priority: 100, Interval: time.Second, AuthType: AuthSimple,
		AuthData: password("secret12"), Addresses: addrs("10.0.4.98", "10.0.4.99")}
	v2Rules := withAddresses(Rules{Version: V2, Interval: time.Second, AuthType: AuthSimple, AuthData: password("secret12")},
		"10.0.4.99", "10.0.4.98") // the other order: the comparison ignores order
	v3Adv4 := Advertisement{Version: V3, VRID: 53, Priority: 100, Interval: 500 * time.Millisecond, Addresses: addrs("10.0.4.97")}
	v3Rules4 := withAddresses(Rules{Version: V3, Interval: time.Second}, "10.0.4.97") // v3 ignores Rules.Interval
	v3Adv6 := Advertisement{Version: V3, VRID: 54, Priority: 200, Interval: time.Second, Addresses: addrs("fe80::77:54", "fd77::254")}
	v3Rules6 := withAddresses(Rules{Version: V3}, "fd77::254", "fe80::77:54")

	v2 := sealedPacket(t, v2Adv, chkSrc4, MulticastV4, ChecksumPseudoHeader)
	v3v4 := sealedPacket(t, v3Adv4, chkSrc4, MulticastV4, ChecksumPseudoHeader)
	v3v4msg := sealedPacket(t, v3Adv4, chkSrc4, MulticastV4, ChecksumMessage)
	v3v6 := sealedPacket(t, v3Adv6, chkSrc6, MulticastV6, ChecksumPseudoHeader)

	rules := func(r Rules, f func(r *Rules)) Rules { f(&r); return r }
	advert := func(a Advertisement, f func(a *Advertisement)) Advertisement { f(&a); return a }
	unicast := func(r *Rules) { r.Peers = []netip.Addr{chkOther, chkSrc4} }
	flip := func(i int) func([]byte) { return func(b []byte) { b[i] ^= 0x01 } }
	unsealed := func(p Packet, f func([]byte)) Packet { p.Data = bytes.Clone(p.Data); f(p.Data); return p }
	none := Verdict{}

	tests := []struct {
		name  string
		rules Rules
		pkt   Packet
		want  Verdict
	}{
		// Accepted.
		{"v2", v2Rules, v2, none},
		{"v3 IPv4 pseudo-header checksum (RFC 5798)", v3Rules4, v3v4, none},
		{"v3 IPv4 message checksum (RFC 9568)", v3Rules4, v3v4msg, Verdict{Checksum: ChecksumMessage}},
		{"v3 IPv6", v3Rules6, v3v6, none},
		{"v2 unicast from a peer", rules(v2Rules, unicast), packetTo(v2, chkSrc4, chkDst4, 255), none},
		{"v3 unicast from a peer", rules(v3Rules4, unicast), sealedPacket(t, v3Adv4, chkSrc4, chkDst4, ChecksumPseudoHeader), none},
		{"TTL 254 relaxed to 254", rules(v2Rules, func(r *Rules) { r.MinTTL = 254 }), packetTo(v2, chkSrc4, MulticastV4, 254), none},
		{"IPv4-mapped addresses", v3Rules4, packetTo(v3v4, netip.AddrFrom16(chkSrc4.As16()), netip.AddrFrom16(MulticastV4.As16()), 255), none},
		{"v2 no auth ignores auth data (RFC 3768 §5.3.10)", rules(v2Rules, func(r *Rules) { r.AuthType, r.AuthData = AuthNone, [8]byte{} }),
			sealedPacket(t, advert(v2Adv, func(a *Advertisement) { a.AuthType = AuthNone }), chkSrc4, MulticastV4, 0), none},
		{"priority 0", v2Rules, sealedPacket(t, advert(v2Adv, func(a *Advertisement) { a.Priority = 0 }), chkSrc4, MulticastV4, 0), none},

		// The fixed header, version and type.
		{"empty", v2Rules, Packet{Src: chkSrc4, Dst: MulticastV4, TTL: 255}, Verdict{Drop: DropLength}},
		{"7 bytes", v2Rules, truncatedPacket(v2, 7), Verdict{Drop: DropLength}},
		{"v3 packet, v2 instance", v2Rules, v3v4, Verdict{Drop: DropVersion}},
		{"v2 packet, v3 instance", v3Rules4, v2, Verdict{Drop: DropVersion}},
		{"version 4", rules(v3Rules4, func(r *Rules) { r.Version = 4 }), editPacket(v3v4, 0, func(b []byte) { b[0] = 0x41 }), Verdict{Drop: DropVersion}},
		{"type 2", v2Rules, editPacket(v2, 0, func(b []byte) { b[0] = 0x22 }), Verdict{Drop: DropType}},
		{"type 0", v3Rules6, editPacket(v3v6, 0, func(b []byte) { b[0] = 0x30 }), Verdict{Drop: DropType}},

		// TTL (RFC 3768 §7.1, RFC 5798 §7.1), in multicast and unicast mode.
		{"TTL 254", v2Rules, packetTo(v2, chkSrc4, MulticastV4, 254), Verdict{Drop: DropTTL}},
		{"TTL 254 v3", v3Rules4, packetTo(v3v4, chkSrc4, MulticastV4, 254), Verdict{Drop: DropTTL}},
		{"TTL 254 unicast", rules(v2Rules, unicast), packetTo(v2, chkSrc4, chkDst4, 254), Verdict{Drop: DropTTL}},
		{"TTL 1 below MinTTL 2", rules(v2Rules, func(r *Rules) { r.MinTTL = 2 }), packetTo(v2, chkSrc4, MulticastV4, 1), Verdict{Drop: DropTTL}},
		{"hop limit 254", v3Rules6, packetTo(v3v6, chkSrc6, MulticastV6, 254), Verdict{Drop: DropTTL}},

		// Length against count, and family.
		{"v2 count 3 of 2", v2Rules, editPacket(v2, 0, func(b []byte) { b[3] = 3 }), Verdict{Drop: DropLength}},
		{"v2 count 0", v2Rules, editPacket(v2, 0, func(b []byte) { b[3] = 0 }), Verdict{Drop: DropLength}},
		{"v2 without auth data", v2Rules, truncatedPacket(v2, 16), Verdict{Drop: DropLength}},
		{"v3 count 2 of 1", v3Rules4, editPacket(v3v4, 0, func(b []byte) { b[3] = 2 }), Verdict{Drop: DropLength}},
		{"v3 IPv6 addresses in an IPv4 packet", v3Rules6, packetTo(v3v6, chkSrc4, MulticastV4, 255), Verdict{Drop: DropLength}},
		{"v3 IPv4 addresses in an IPv6 packet", v3Rules4, packetTo(v3v4, chkSrc6, MulticastV6, 255), Verdict{Drop: DropLength}},
		{"v2 in an IPv6 packet", v2Rules, packetTo(v2, chkSrc6, MulticastV6, 255), Verdict{Drop: DropLength}},
		{"source and destination of two families", v3Rules4, packetTo(v3v4, chkSrc4, MulticastV6, 255), Verdict{Drop: DropLength}},
		{"no source", v3Rules4, packetTo(v3v4, netip.Addr{}, MulticastV4, 255), Verdict{Drop: DropLength}},

		// Checksum, each form.
		{"v2 bad checksum", v2Rules, unsealed(v2, flip(7)), Verdict{Drop: DropChecksum}},
		{"v2 corrupt auth data", v2Rules, unsealed(v2, flip(23)), Verdict{Drop: DropChecksum}},
		{"v2 with a pseudo-header checksum", v2Rules, unsealed(v2, func(b []byte) { PutChecksum(b, chkSrc4, MulticastV4) }), Verdict{Drop: DropChecksum}},
		{"v3 IPv4 pseudo-header, bad", v3Rules4, unsealed(v3v4, flip(6)), Verdict{Drop: DropChecksum}},
		{"v3 IPv4 message, bad", v3Rules4, unsealed(v3v4msg, flip(6)), Verdict{Drop: DropChecksum}},
		{"v3 IPv4 pseudo-header for other addresses", v3Rules4, packetTo(v3v4, chkOther, MulticastV4, 255), Verdict{Drop: DropChecksum}},
		{"v3 IPv4 corrupt address", v3Rules4, unsealed(v3v4, flip(11)), Verdict{Drop: DropChecksum}},
		{"v3 IPv6 bad", v3Rules6, unsealed(v3v6, flip(7)), Verdict{Drop: DropChecksum}},
		{"v3 IPv6 message-only checksum", v3Rules6, unsealed(v3v6, func(b []byte) { PutChecksum(b, netip.Addr{}, netip.Addr{}) }), Verdict{Drop: DropChecksum}},

		// Unicast peers.
		{"v2 unicast from a stranger", rules(v2Rules, unicast), packetTo(v2, netip.MustParseAddr("10.0.4.22"), chkDst4, 255), Verdict{Drop: DropPeer}},
		{"v3 unicast from a stranger", rules(v3Rules6, func(r *Rules) { r.Peers = addrs("fe80::22") }), v3v6, Verdict{Drop: DropPeer}},
		{"unicast with no peers", rules(v2Rules, func(r *Rules) { r.Peers = []netip.Addr{} }), v2, Verdict{Drop: DropPeer}},

		// The owner (RFC 3768 §7.1, RFC 5798 §7.1).
		{"v2 owner", rules(v2Rules, func(r *Rules) { r.Owner = true }), v2, Verdict{Drop: DropOwner}},
		{"v3 owner", rules(v3Rules6, func(r *Rules) { r.Owner = true }), v3v6, Verdict{Drop: DropOwner}},

		// v2 authentication (RFC 3768 §7.1).
		{"auth type 0, ours 1", v2Rules, sealedPacket(t, advert(v2Adv, func(a *Advertisement) { a.AuthType, a.AuthData = AuthNone, [8]byte{} }), chkSrc4, MulticastV4, 0), Verdict{Drop: DropAuth}},
		{"auth type 1, ours 0", rules(v2Rules, func(r *Rules) { r.AuthType, r.AuthData = AuthNone, [8]byte{} }), v2, Verdict{Drop: DropAuth}},
		{"password differs", rules(v2Rules, func(r *Rules) { r.AuthData = password("secret13") }), v2, Verdict{Drop: DropAuth}},
		{"password is a prefix", rules(v2Rules, func(r *Rules) { r.AuthData = password("secret1") }), v2, Verdict{Drop: DropAuth}},
		{"AH, ours none", rules(v2Rules, func(r *Rules) { r.AuthType, r.AuthData = AuthNone, [8]byte{} }),
			editPacket(v2, 0, func(b []byte) { b[4] = byte(AuthAH) }), Verdict{Drop: DropAuth}},
		{"AH, ours AH", rules(v2Rules, func(r *Rules) { r.AuthType = AuthAH }), editPacket(v2, 0, func(b []byte) { b[4] = byte(AuthAH) }), Verdict{Drop: DropAuth}},
		{"unknown auth type 7, ours 7", rules(v2Rules, func(r *Rules) { r.AuthType = 7 }), editPacket(v2, 0, func(b []byte) { b[4] = 7 }), Verdict{Drop: DropAuth}},

		// Interval: v2 must match ours (RFC 3768 §7.1); v3 must not be 0.
		{"v2 interval 2s, ours 1s", v2Rules, sealedPacket(t, advert(v2Adv, func(a *Advertisement) { a.Interval = 2 * time.Second }), chkSrc4, MulticastV4, 0), Verdict{Drop: DropInterval}},
		{"v2 interval 0", v2Rules, editPacket(v2, 0, func(b []byte) { b[5] = 0 }), Verdict{Drop: DropInterval}},
		{"v3 interval 0", v3Rules4, editPacket(v3v4, 0, func(b []byte) { b[4], b[5] = 0, 0 }), Verdict{Drop: DropInterval}},
		{"v3 interval 0, rsvd set", v3Rules6, editPacket(v3v6, 0, func(b []byte) { b[4], b[5] = 0xf0, 0 }), Verdict{Drop: DropInterval}},
		{"v3 interval 40.95s", v3Rules4, sealedPacket(t, advert(v3Adv4, func(a *Advertisement) { a.Interval = 40950 * time.Millisecond }), chkSrc4, MulticastV4, 0), none},

		// Addresses (RFC 3768 §7.1, RFC 5798 §7.1).
		{"v2 addresses differ", v2Rules, sealedPacket(t, advert(v2Adv, func(a *Advertisement) { a.Addresses = addrs("10.0.4.98", "10.0.4.100") }), chkSrc4, MulticastV4, 0), Verdict{Drop: DropAddresses}},
		{"v2 one address missing", v2Rules, sealedPacket(t, advert(v2Adv, func(a *Advertisement) { a.Addresses = addrs("10.0.4.98") }), chkSrc4, MulticastV4, 0), Verdict{Drop: DropAddresses}},
		{"v2 one address repeated", v2Rules, sealedPacket(t, advert(v2Adv, func(a *Advertisement) { a.Addresses = addrs("10.0.4.98", "10.0.4.98") }), chkSrc4, MulticastV4, 0), Verdict{Drop: DropAddresses}},
		{"v2 addresses differ, from the owner", v2Rules, sealedPacket(t, advert(v2Adv, func(a *Advertisement) { a.Priority, a.Addresses = 255, addrs("10.0.4.100") }), chkSrc4, MulticastV4, 0), Verdict{AddressMismatch: true}},
		{"v3 addresses differ", v3Rules4, sealedPacket(t, advert(v3Adv4, func(a *Advertisement) { a.Addresses = addrs("10.0.4.97", "10.0.4.100") }), chkSrc4, MulticastV4, 0), Verdict{AddressMismatch: true}},
		{"v3 IPv6 addresses differ", v3Rules6, sealedPacket(t, advert(v3Adv6, func(a *Advertisement) { a.Addresses = addrs("fe80::77:54") }), chkSrc6, MulticastV6, 0), Verdict{AddressMismatch: true}},
		{"v3 IPv4 addresses differ, message checksum", v3Rules4, sealedPacket(t, advert(v3Adv4, func(a *Advertisement) { a.Addresses = addrs("10.0.4.100") }), chkSrc4, MulticastV4, ChecksumMessage), Verdict{AddressMismatch: true, Checksum: ChecksumMessage}},

		// Several failures: the first in Check's order wins.
		{"version before TTL", v3Rules4, packetTo(v2, chkSrc4, MulticastV4, 1), Verdict{Drop: DropVersion}},
		{"type before TTL", v2Rules, packetTo(editPacket(v2, 0, func(b []byte) { b[0] = 0x22 }), chkSrc4, MulticastV4, 1), Verdict{Drop: DropType}},
		{"TTL before length", v2Rules, packetTo(truncatedPacket(v2, 16), chkSrc4, MulticastV4, 1), Verdict{Drop: DropTTL}},
		{"length before checksum", v2Rules, unsealed(v2, func(b []byte) { b[3] = 3 }), Verdict{Drop: DropLength}},
		{"checksum before peer", rules(v2Rules, func(r *Rules) { r.Peers = addrs("10.0.4.22") }), unsealed(v2, flip(7)), Verdict{Drop: DropChecksum}},
		{"peer before owner", rules(v2Rules, func(r *Rules) { r.Owner, r.Peers = true, addrs("10.0.4.22") }), v2, Verdict{Drop: DropPeer}},
		{"owner before auth", rules(v2Rules, func(r *Rules) { r.Owner, r.AuthData = true, password("other") }), v2, Verdict{Drop: DropOwner}},
		{"auth before interval", rules(v2Rules, func(r *Rules) { r.Interval, r.AuthData = 3*time.Second, password("other") }), v2, Verdict{Drop: DropAuth}},
		{"interval before addresses", rules(v2Rules, func(r *Rules) { r.Interval = 3 * time.Second; r.SetAddresses(addrs("10.0.4.1"), 1) }), v2, Verdict{Drop: DropInterval}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := bytes.Clone(tt.pkt.Data)
			var adv Advertisement
			got := tt.rules.Check(tt.pkt, &adv)
			if got != tt.want {
				t.Errorf("Check = %+v (%v), want %+v (%v)", got, got.Drop, tt.want, tt.want.Drop)
			}
			if !bytes.Equal(tt.pkt.Data, data) {
				t.Errorf("Check changed the packet")
			}
			// An accepted packet was decoded into adv.
			if got.Drop == DropNone {
				var want Advertisement
				if err := want.UnmarshalBinary(tt.pkt.Data); err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(want, adv, cmpAddr); diff != "" {
					t.Errorf("adv (-want +got):\n%s", diff)
				}
			}
		})
	}
}

// truncatedPacket returns p with its message cut to n bytes.
func truncatedPacket(p Packet, n int) Packet {
	p.Data = p.Data[:n]
	return p
}

func TestDropString(t *testing.T) {
	want := []string{"none", "ttl", "version", "type", "length", "checksum", "vrid", "owner", "auth", "interval", "peer", "addresses"}
	var got []string
	for d := range NumDrops {
		got = append(got, d.String())
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Drop keys (-want +got):\n%s", diff)
	}
	if s := NumDrops.String(); s != "Drop(12)" {
		t.Errorf("NumDrops.String() = %q, want Drop(12)", s)
	}
	if slices.Contains(got[1:], "none") {
		t.Errorf("a drop reason is called none")
	}
}

// TestCheckZeroAllocs fails if Check starts to allocate on an accepted packet or a dropped one.
func TestCheckZeroAllocs(t *testing.T) {
	for _, g := range loadGoldenVRRP(t) {
		r := g.rules()
		p := Packet{Src: g.src, Dst: g.dst, TTL: g.ttl, Data: g.msg}
		var adv Advertisement
		var v Verdict
		if n := testing.AllocsPerRun(100, func() { v = r.Check(p, &adv) }); n != 0 || v != (Verdict{}) {
			t.Errorf("%s: Check: %v allocs/op, %+v", g.name, n, v)
		}
		bad := truncatedPacket(p, len(p.Data)-1)
		if n := testing.AllocsPerRun(100, func() { v = r.Check(bad, &adv) }); n != 0 || v.Drop != DropLength {
			t.Errorf("%s: Check truncated: %v allocs/op, %+v", g.name, n, v)
		}
	}
}

// BenchmarkCheck validates each golden packet into a reused value.
func BenchmarkCheck(b *testing.B) {
	for _, g := range loadGoldenVRRP(b) {
		if g.priority == 0 {
			continue
		}
		b.Run(g.name, func(b *testing.B) {
			r := g.rules()
			p := Packet{Src: g.src, Dst: g.dst, TTL: g.ttl, Data: g.msg}
			var adv Advertisement
			b.ReportAllocs()
			for b.Loop() {
				if v := r.Check(p, &adv); v.Drop != DropNone {
					b.Fatal(v.Drop)
				}
			}
		})
	}
}

// RFC 5798 §7.1 compares the addresses as sets. When we have more VIPs than an advert holds, a
// peer with the same VIPs advertises the ones that fit: not a mismatch, as long as it lists at
// least as many as our own adverts carry, each once and each ours.
func TestSameAddresses(t *testing.T) {
	var ours []string
	for i := range 300 {
		ours = append(ours, fmt.Sprintf("10.1.%d.%d", i/256, i%256))
	}
	var r Rules
	r.SetAddresses(addrs(ours...), 255)
	few := Rules{}
	few.SetAddresses(addrs("10.0.4.99", "10.0.4.98"), 2)
	tests := []struct {
		name   string
		r      *Rules
		theirs []string
		want   bool
	}{
		{"the same, other order", &few, []string{"10.0.4.98", "10.0.4.99"}, true},
		{"one missing", &few, []string{"10.0.4.98"}, false},
		{"one more", &few, []string{"10.0.4.98", "10.0.4.99", "10.0.4.97"}, false},
		{"one repeated", &few, []string{"10.0.4.98", "10.0.4.98"}, false},
		{"the first 255 of 300", &r, ours[:255], true},
		{"255 others of the 300", &r, ours[45:], true},
		{"all 300 (a peer with jumbo frames)", &r, ours, true},
		{"only 10 of the 300", &r, ours[:10], false},
		{"254 of ours and a stranger", &r, append(slices.Clone(ours[:254]), "192.0.2.1"), false},
		{"255 with one twice", &r, append(slices.Clone(ours[:254]), ours[0]), false},
	}
	for _, tt := range tests {
		if got := tt.r.sameAddresses(addrs(tt.theirs...)); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}

package vrrp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// FuzzAdvertisement checks that parse, marshal and parse again agree. If UnmarshalBinary accepts
// a message, MarshalBinary gives back the same bytes except for two fields the parser
// deliberately does not keep: the checksum (bytes 6-7; AppendBinary writes the message-only
// one) and the v3 rsvd bits (RFC 5798 §5.2.6: ignored on receipt, sent as zero). The one
// message the parser accepts and the marshaller refuses is an interval of 0 (v2 Adver Int or v3
// Max Adver Int): the wire can carry it, RFC 3768 §5.3.7 and RFC 5798 §5.2.7 give it no meaning,
// and Rules.Check drops it, so MarshalBinary must refuse it with ErrInterval.
func FuzzAdvertisement(f *testing.F) {
	for _, g := range loadGoldenVRRP(f) {
		f.Add(g.msg)
	}
	f.Add(pktV2)
	f.Add(pktV3v4)
	f.Add(pktV3v6)
	f.Add(edited(pktV3v4, func(b []byte) { b[4] |= 0xf0 }))
	f.Add(edited(pktV3v4, func(b []byte) { b[5] = 0 }))
	f.Add(edited(pktV2, func(b []byte) { b[5] = 0 }))

	f.Fuzz(func(t *testing.T, in []byte) {
		var a Advertisement
		if err := a.UnmarshalBinary(in); err != nil {
			if !errors.Is(err, ErrTooShort) && !errors.Is(err, ErrVersion) && !errors.Is(err, ErrType) && !errors.Is(err, ErrLength) {
				t.Fatalf("UnmarshalBinary(%x): unexpected error %v", in, err)
			}
			return
		}
		if a.Len() != len(in) {
			t.Fatalf("Len() = %d for a %d-byte message", a.Len(), len(in))
		}
		out, err := a.MarshalBinary()
		if a.Interval == 0 {
			if !errors.Is(err, ErrInterval) {
				t.Fatalf("MarshalBinary with interval 0 = %x, %v; want ErrInterval", out, err)
			}
			return
		}
		if err != nil {
			t.Fatalf("MarshalBinary(%+v) of a parsed message: %v", a, err)
		}
		want := bytes.Clone(in)
		want[6], want[7] = out[6], out[7]
		if a.Version == V3 {
			want[4] &= 0x0f
		}
		if !bytes.Equal(out, want) {
			t.Fatalf("marshal differs from the input beyond checksum and rsvd:\n got %x\nwant %x", out, want)
		}
		if c := Checksum(out, netip.Addr{}, netip.Addr{}); binary.BigEndian.Uint16(out[6:8]) != c {
			t.Fatalf("checksum field %x, want the message checksum %04x", out[6:8], c)
		}
		var b Advertisement
		if err := b.UnmarshalBinary(out); err != nil {
			t.Fatalf("parse of marshalled %x: %v", out, err)
		}
		if diff := cmp.Diff(a, b, cmpAddr); diff != "" {
			t.Fatalf("parse, marshal, parse (-first +second):\n%s", diff)
		}
	})
}

// FuzzCheck checks that Rules.Check never panics, whatever the packet and the rules, and that
// its verdict agrees with the codec: a message UnmarshalBinary refuses is dropped by one of the
// checks before the checksum, and an accepted one was decoded into adv exactly and can be sent
// back out.
func FuzzCheck(f *testing.F) {
	for _, g := range loadGoldenVRRP(f) {
		r := g.rules()
		var vips []byte
		for _, a := range r.Addresses {
			vips = append(vips, a.AsSlice()...)
		}
		f.Add(g.msg, g.src.AsSlice(), g.dst.AsSlice(), g.ttl, uint8(r.Version), uint16(r.Interval/centisecond),
			uint8(r.AuthType), g.password, false, r.Peers != nil, 255, vips)
	}

	f.Fuzz(func(t *testing.T, msg, srcb, dstb []byte, ttl int, version uint8, intervalCentis uint16,
		authType uint8, pass string, owner, unicast bool, minTTL int, vips []byte) {
		src, _ := netip.AddrFromSlice(srcb)
		dst, _ := netip.AddrFromSlice(dstb)
		r := Rules{
			Version:  Version(version),
			Interval: time.Duration(intervalCentis) * centisecond,
			AuthType: AuthType(authType),
			AuthData: password(pass),
			Owner:    owner,
			MinTTL:   minTTL,
		}
		if unicast {
			r.Peers = []netip.Addr{src.Unmap()}
		}
		size := 4
		if !src.Unmap().Is4() {
			size = 16
		}
		for len(vips) >= size {
			a, _ := netip.AddrFromSlice(vips[:size])
			r.Addresses = append(r.Addresses, a)
			vips = vips[size:]
		}

		p := Packet{Src: src, Dst: dst, TTL: ttl, Data: msg}
		in := bytes.Clone(msg)
		var adv Advertisement
		v := r.Check(p, &adv)
		if !bytes.Equal(msg, in) {
			t.Fatalf("Check changed the packet")
		}
		if v.Drop >= NumDrops || v.Drop == DropVRID {
			t.Fatalf("Check returned %v", v.Drop)
		}
		if v.Checksum == ChecksumMessage && (v.Drop != DropNone || adv.Version != V3 || !src.Unmap().Is4()) {
			t.Fatalf("message checksum reported for %+v, %+v", v, adv)
		}
		var parsed Advertisement
		if err := parsed.UnmarshalBinary(msg); err != nil {
			switch v.Drop {
			case DropLength, DropVersion, DropType, DropTTL:
			default:
				t.Fatalf("UnmarshalBinary refuses %x (%v) but Check says %v", msg, err, v.Drop)
			}
			return
		}
		if v.Drop != DropNone {
			return
		}
		if adv.Version != r.Version || ttl < max(minTTL, 1) || minTTL == 0 && ttl < 255 {
			t.Fatalf("accepted version %d, TTL %d under %+v", adv.Version, ttl, r)
		}
		if v.AddressMismatch == sameAddressSet(adv.Addresses, r.Addresses) {
			t.Fatalf("AddressMismatch %t for %v against %v", v.AddressMismatch, adv.Addresses, r.Addresses)
		}
		if diff := cmp.Diff(parsed, adv, cmpAddr); diff != "" {
			t.Fatalf("Check decoded differently from UnmarshalBinary (-parse +check):\n%s", diff)
		}
		if _, err := adv.MarshalBinary(); err != nil {
			t.Fatalf("accepted advertisement cannot be sent: %v", err)
		}
	})
}

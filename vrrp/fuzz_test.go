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
			uint8(r.AuthType), g.password, false, r.Peers != nil, 255, vips, uint8(len(r.Addresses)))
	}

	f.Fuzz(func(t *testing.T, msg, srcb, dstb []byte, ttl int, version uint8, intervalCentis uint16,
		authType uint8, pass string, owner, unicast bool, minTTL int, vips []byte, advertised uint8) {
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
		var ours []netip.Addr
		for len(vips) >= size {
			a, _ := netip.AddrFromSlice(vips[:size])
			ours = append(ours, a)
			vips = vips[size:]
		}
		r.SetAddresses(ours, int(advertised))

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
		if v.AddressMismatch == sameAsSets(adv.Addresses, ours, int(advertised)) {
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

// FuzzSocketParse checks the raw socket's parsers: what a raw IPv4 socket returns, and the
// control messages of an IPv6 one. They never panic, the message they return is the end of what
// was read, and the TTL or hop limit is one the header can carry.
func FuzzSocketParse(f *testing.F) {
	for _, g := range loadGoldenVRRP(f) {
		if g.src.Is4() {
			hdr := []byte{0x45, 0xc0, 0, 0, 0, 0, 0, 0, byte(g.ttl), 112, 0, 0}
			hdr = append(append(append(hdr, g.src.AsSlice()...), g.dst.AsSlice()...), g.msg...)
			f.Add(hdr)
		}
	}
	f.Add([]byte{0x46, 0, 0, 0})
	f.Add(make([]byte, 64))
	f.Fuzz(func(t *testing.T, b []byte) {
		p := parseIPv4(b)
		if p.Data != nil && (!bytes.HasSuffix(b, p.Data) || len(p.Data) > len(b)-20 || p.TTL < 0 || p.TTL > 255 || !p.Src.Is4()) {
			t.Fatalf("parseIPv4(%x) = %+v", b, p)
		}
		hop, dst := parseV6Control(b)
		if hop < -1 || hop > 1<<31 || dst.IsValid() && !dst.Is6() {
			t.Fatalf("parseV6Control(%x) = %d, %v", b, hop, dst)
		}
	})
}

// FuzzMachine drives a Machine through any sequence of events, with time only moving forward,
// and checks RFC 5798 §6.4's invariants after each: the state is one of the four; a master holds
// its VIPs and advertises its own address and priority, with Adver_Timer armed; a backup waits on
// Master_Down_Timer and holds no VIP; INIT and FAULT hold none and wait on nothing; every
// transition the actions report is the change of state that happened; the effective priority is
// never 0, and the owner's is 255.
func FuzzMachine(f *testing.F) {
	f.Add(uint8(100), false, []byte{0, 1, 120, 2, 3, 4, 0, 5, 6, 7, 8})
	f.Add(uint8(255), true, []byte{0, 1, 0, 1, 255, 3, 9, 9, 9})
	f.Add(uint8(1), false, []byte{5, 0, 6, 1, 50, 2, 7, 3, 1, 0})
	f.Fuzz(func(t *testing.T, prio uint8, v2 bool, ops []byte) {
		if prio == 0 {
			prio = 1
		}
		cfg := Config{Version: V3, Priority: prio, Interval: 100 * time.Millisecond, Preempt: true, Addr: lb1,
			GARPDelay: 300 * time.Millisecond, GARPRefresh: time.Second}
		if v2 {
			cfg.Version, cfg.Interval = V2, time.Second
		}
		m, err := NewMachine(cfg)
		if err != nil {
			t.Fatal(err)
		}
		now, holding := t0, false
		next := func() byte {
			if len(ops) == 0 {
				return 0
			}
			b := ops[0]
			ops = ops[1:]
			return b
		}
		for steps := 0; len(ops) > 0 && steps < 200; steps++ {
			before := m.State()
			now = now.Add(time.Duration(next()) * 7 * time.Millisecond)
			var as []Action
			switch op := next() % 9; op {
			case 0:
				as = m.Startup(now)
			case 1:
				a := advert(next(), time.Duration(next()%200+1)*10*time.Millisecond)
				if v2 {
					a.Version, a.Interval = V2, time.Second
				}
				src := lb2
				if next()%2 == 0 {
					src = netip.MustParseAddr("10.0.4.5")
				}
				as = m.Receive(now, src, a)
			case 2:
				if dl := m.Deadline(); !dl.IsZero() && dl.After(now) {
					now = dl
				}
				as = m.Tick(now)
			case 3:
				as = m.SetPriority(now, next())
			case 4:
				as = m.Fault(now, "interface eth0 has no carrier")
			case 5:
				as = m.Recover(now, "interface eth0 is up")
			case 6:
				why := ""
				if next()%2 == 0 {
					why = "sync group G1: VI_2 follows master 10.0.4.21"
				}
				as = m.Hold(now, why)
			case 7:
				as = m.Shutdown(now)
			case 8:
				c := cfg
				c.Preempt, c.PreemptDelay = next()%2 == 0, time.Duration(next())*10*time.Millisecond
				m.Reconfigure(c)
			}
			state := before
			for _, a := range as {
				switch a.Kind {
				case AddVIPs:
					holding = true
				case RemoveVIPs:
					holding = false
				case Transition:
					if a.From != state {
						t.Fatalf("transition from %s while in %s", a.From, state)
					}
					state = a.To
				case SendAdvert:
					if a.Priority != 0 && a.Priority != m.Priority() {
						t.Fatalf("advertised %d at priority %d", a.Priority, m.Priority())
					}
				}
			}
			s := m.Status()
			if state != s.State {
				t.Fatalf("the actions say %s, the machine %s", state, s.State)
			}
			dl := m.Deadline()
			switch s.State {
			case Master:
				if !holding || s.Master != lb1 || s.MasterPriority != m.Priority() || dl.IsZero() {
					t.Fatalf("master: holding %v, master %s at %d, deadline %v", holding, s.Master, s.MasterPriority, dl)
				}
			case Backup:
				if holding || dl.IsZero() {
					t.Fatalf("backup: holding %v, deadline %v", holding, dl)
				}
			case Initialize, Fault:
				if holding || !dl.IsZero() {
					t.Fatalf("%s: holding %v, deadline %v", s.State, holding, dl)
				}
			default:
				t.Fatalf("state %v", s.State)
			}
			if p := m.Priority(); p == 0 || prio == 255 && p != 255 {
				t.Fatalf("priority %d (base %d)", p, prio)
			}
		}
	})
}

// sameAsSets is Rules.sameAddresses written plainly, with maps: theirs lists each address once,
// all of them ours, and all of ours or at least as many as our adverts carry.
func sameAsSets(theirs, ours []netip.Addr, advertised int) bool {
	set, seen := map[netip.Addr]bool{}, map[netip.Addr]bool{}
	for _, a := range ours {
		set[a] = true
	}
	for _, a := range theirs {
		if !set[a] || seen[a] {
			return false
		}
		seen[a] = true
	}
	return len(theirs) == len(ours) || len(theirs) >= advertised && len(theirs) <= len(ours)
}

package vip

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"net"
	"net/netip"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/mdlayher/arp"
	"github.com/mdlayher/ndp"
)

// Packets keepalived 2.2.7 sent, from shared/testdata/keepalived-2.2.7.vectors.
const (
	// Ethernet frame: gratuitous ARP request for 10.77.0.253 from ba:43:07:5f:b3:cb
	keepalivedGARP = "ffffffffffffba43075fb3cb08060001080006040001ba43075fb3cb0a4d00fdffffffffffff0a4d00fd"
	// IPv6 packet: unsolicited neighbor advertisement target fd77::254 R=0 S=0 O=1 fd77::254 > ff02::1 hop limit 255
	keepalivedNAGlobal = "6000000000203afffd770000000000000000000000000254ff0200000000000000000000000000018800e19920000000fd7700000000000000000000000002540201ba43075fb3cb"
	// IPv6 packet: unsolicited neighbor advertisement target fe80::77:54 R=0 S=0 O=1 fe80::77:54 > ff02::1 hop limit 255
	keepalivedNALinkLocal = "6000000000203afffe800000000000000000000000770054ff0200000000000000000000000000018800e29920000000fe8000000000000000000000007700540201ba43075fb3cb"
)

var keepalivedMAC = net.HardwareAddr{0xba, 0x43, 0x07, 0x5f, 0xb3, 0xcb}

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestGARPFrame(t *testing.T) {
	got, err := garpFrame(keepalivedMAC, netip.MustParseAddr("10.77.0.253"))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(unhex(t, keepalivedGARP), got); diff != "" {
		t.Errorf("garpFrame differs from keepalived's (-keepalived +ours):\n%s", diff)
	}

	for _, tc := range []struct {
		name string
		mac  net.HardwareAddr
		ip   netip.Addr
		want error
	}{
		{"IPv6 address", keepalivedMAC, netip.MustParseAddr("fd77::254"), arp.ErrInvalidIP},
		{"short MAC", keepalivedMAC[:4], netip.MustParseAddr("10.77.0.253"), arp.ErrInvalidHardwareAddr},
	} {
		if _, err := garpFrame(tc.mac, tc.ip); !errors.Is(err, tc.want) {
			t.Errorf("%s: garpFrame error = %v, want %v", tc.name, err, tc.want)
		}
	}
}

// Our neighbour advertisement is keepalived's except for the Router flag, which the
// RFC asks for and keepalived leaves unset. The ICMPv6 checksum (bytes 2-3) is left to
// the kernel, which computes it for ICMPv6 sockets.
func TestNeighborAdvertisement(t *testing.T) {
	allNodes := netip.IPv6LinkLocalAllNodes()
	for _, tc := range []struct {
		name   string
		packet string
		target netip.Addr
	}{
		{"global", keepalivedNAGlobal, netip.MustParseAddr("fd77::254")},
		{"link-local", keepalivedNALinkLocal, netip.MustParseAddr("fe80::77:54")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := unhex(t, tc.packet)[40:] // the ICMPv6 message after the IPv6 header
			na := neighborAdvertisement(keepalivedMAC, tc.target)
			got, err := ndp.MarshalMessage(na)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want) {
				t.Fatalf("length %d, keepalived's %d", len(got), len(want))
			}
			const flags = 4
			if got[flags] != want[flags]|0x80 {
				t.Errorf("flags byte %#02x, want keepalived's %#02x with R (0x80) set", got[flags], want[flags])
			}
			masked := func(b []byte) []byte {
				b = append([]byte(nil), b...)
				b[2], b[3], b[flags] = 0, 0, b[flags]&^0x80
				return b
			}
			if diff := cmp.Diff(masked(want), masked(got)); diff != "" {
				t.Errorf("besides R and the checksum, differs from keepalived's (-keepalived +ours):\n%s", diff)
			}

			// Without R and with the checksum over keepalived's addresses (it sends from
			// the VIP), the message is keepalived's to the last byte.
			na.Router = false
			exact, err := ndp.MarshalMessageChecksum(na, tc.target, allNodes)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, exact); diff != "" {
				t.Errorf("with R unset and checksummed (-keepalived +ours):\n%s", diff)
			}
		})
	}
}

// A frame of our own making, and keepalived's NA with an Ethernet header: what the reply parsers
// accept, and the starting points of the fuzz targets.
var (
	validARPReply = "ffffffffffff02aa0000000108060001080006040002" + "02aa00000001" + "0a000463" + "ffffffffffff" + "0a000414"
	validNA       = "333300000001ba43075fb3cb86dd" + keepalivedNAGlobal
)

func TestParseARPReply(t *testing.T) {
	good := unhex(t, validARPReply)
	r, err := parseARPReply(good)
	if want := (reply{IP: netip.MustParseAddr("10.0.4.99"), MAC: [6]byte{0x02, 0xaa, 0, 0, 0, 1}}); err != nil || r != want {
		t.Fatalf("parseARPReply = %+v, %v; want %+v", r, err, want)
	}
	request := slices.Clone(good)
	request[21] = 1
	if _, err := parseARPReply(request); err != nil {
		t.Errorf("an ARP request from the holder: %v, want it accepted", err)
	}
	for _, tc := range []struct {
		name   string
		change func([]byte) []byte
		want   error
	}{
		{"short", func(b []byte) []byte { return b[:41] }, errFrameShort},
		{"empty", func([]byte) []byte { return nil }, errFrameShort},
		{"not ARP", func(b []byte) []byte { b[13] = 0; return b }, errEtherType},
		{"hardware type 6", func(b []byte) []byte { b[15] = 6; return b }, errARPFormat},
		{"protocol IPv6", func(b []byte) []byte { b[16], b[17] = 0x86, 0xdd; return b }, errARPFormat},
		{"hardware length 8", func(b []byte) []byte { b[18] = 8; return b }, errARPFormat},
		{"protocol length 16", func(b []byte) []byte { b[19] = 16; return b }, errARPFormat},
		{"operation 3", func(b []byte) []byte { b[21] = 3; return b }, errARPOp},
		{"operation 0", func(b []byte) []byte { b[21] = 0; return b }, errARPOp},
		{"probe, from 0.0.0.0", func(b []byte) []byte { copy(b[28:32], []byte{0, 0, 0, 0}); return b }, errSenderIP},
		{"group sender MAC", func(b []byte) []byte { b[22] = 0x03; return b }, errMAC},
		{"zero sender MAC", func(b []byte) []byte { copy(b[22:28], make([]byte, 6)); return b }, errMAC},
	} {
		if _, err := parseARPReply(tc.change(slices.Clone(good))); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestParseNAReply(t *testing.T) {
	good := unhex(t, validNA)
	r, err := parseNAReply(good)
	if want := (reply{IP: netip.MustParseAddr("fd77::254"), MAC: [6]byte(keepalivedMAC)}); err != nil || r != want {
		t.Fatalf("parseNAReply = %+v, %v; want %+v", r, err, want)
	}
	// Without the target link-layer address option, the MAC is the Ethernet source.
	noOption := slices.Clone(good[:len(good)-8])
	binary.BigEndian.PutUint16(noOption[18:], 24)
	copy(noOption[6:12], []byte{0x02, 0, 0, 0, 0, 9})
	if r, err := parseNAReply(noOption); err != nil || r.MAC != [6]byte{0x02, 0, 0, 0, 0, 9} {
		t.Errorf("without the option: %+v, %v; want the Ethernet source", r, err)
	}
	const icmp = 14 + 40
	for _, tc := range []struct {
		name   string
		change func([]byte) []byte
		want   error
	}{
		{"short", func(b []byte) []byte { return b[:icmp+23] }, errFrameShort},
		{"not IPv6", func(b []byte) []byte { b[12] = 0x08; return b }, errEtherType},
		{"version 4", func(b []byte) []byte { b[14] = 0x40; return b }, errIPv6Header},
		{"extension header", func(b []byte) []byte { b[20] = 0; return b }, errIPv6Header},
		{"payload longer than the frame", func(b []byte) []byte { b[19]++; return b }, errIPv6Header},
		{"payload shorter than an NA", func(b []byte) []byte { b[19] = 23; return b }, errIPv6Header},
		{"hop limit 64", func(b []byte) []byte { b[21] = 64; return b }, errHopLimit},
		{"a solicitation", func(b []byte) []byte { b[icmp] = 135; return b }, errNotNA},
		{"code 1", func(b []byte) []byte { b[icmp+1] = 1; return b }, errNotNA},
		{"solicited, to all nodes", func(b []byte) []byte { b[icmp+4] |= 0x40; return b }, errNASolicited},
		{"multicast target", func(b []byte) []byte { b[icmp+8] = 0xff; return b }, errTarget},
		{"unspecified target", func(b []byte) []byte { copy(b[icmp+8:icmp+24], make([]byte, 16)); return b }, errTarget},
		{"option of length 0", func(b []byte) []byte { b[icmp+25] = 0; return b }, errNAOption},
		{"option past the end", func(b []byte) []byte { b[icmp+25] = 2; return b }, errNAOption},
		{"target link-layer option of 16 bytes", func(b []byte) []byte {
			b = append(b, make([]byte, 8)...)
			b[icmp+25] = 2
			binary.BigEndian.PutUint16(b[18:], 40)
			return b
		}, errNAOption},
		{"group MAC in the option", func(b []byte) []byte { b[icmp+26] = 0x01; return b }, errMAC},
	} {
		if _, err := parseNAReply(tc.change(slices.Clone(good))); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}

// The solicitation is duplicate address detection's (RFC 4862 §5.4.2): from ::, to the target's
// solicited-node group, at its multicast MAC, hop limit 255, checksummed, without options.
func TestDADFrame(t *testing.T) {
	target := netip.MustParseAddr("fd00:4::1:99")
	frame, err := dadFrame(keepalivedMAC, target)
	if err != nil {
		t.Fatal(err)
	}
	group := netip.MustParseAddr("ff02::1:ff01:99")
	src, _ := netip.AddrFromSlice(frame[22:38])
	dst, _ := netip.AddrFromSlice(frame[38:54])
	got := []any{net.HardwareAddr(frame[0:6]).String(), net.HardwareAddr(frame[6:12]).String(), frame[12:14], frame[14] >> 4, int(binary.BigEndian.Uint16(frame[18:])), frame[20], frame[21], src, dst}
	want := []any{"33:33:ff:01:00:99", keepalivedMAC.String(), []byte{0x86, 0xdd}, byte(6), len(frame) - 54, byte(58), byte(255), netip.IPv6Unspecified(), group}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(x, y netip.Addr) bool { return x == y })); diff != "" {
		t.Errorf("[dst src type version length next hop src dst] (-want +got):\n%s", diff)
	}
	msg, err := ndp.ParseMessage(frame[54:])
	if err != nil {
		t.Fatal(err)
	}
	ns, ok := msg.(*ndp.NeighborSolicitation)
	if !ok || ns.TargetAddress != target || len(ns.Options) != 0 {
		t.Errorf("message %#v, want a solicitation for %s without options", msg, target)
	}
	recomputed, err := ndp.MarshalMessageChecksum(ns, src, dst)
	if err != nil || !slices.Equal(recomputed, frame[54:]) {
		t.Errorf("checksum: message %x, recomputed %x (%v)", frame[54:], recomputed, err)
	}
}

// FuzzARPReply: parseARPReply never panics, and what it accepts has a sender address and a
// unicast MAC, read from where ARP keeps them.
func FuzzARPReply(f *testing.F) {
	f.Add(unhex(f, validARPReply))
	f.Add(unhex(f, keepalivedGARP))
	f.Fuzz(func(t *testing.T, frame []byte) {
		r, err := parseARPReply(frame)
		if err != nil {
			if r != (reply{}) {
				t.Errorf("rejected (%v) but returned %+v", err, r)
			}
			return
		}
		if !r.IP.Is4() || r.IP.IsUnspecified() || !unicastMAC(r.MAC) {
			t.Errorf("accepted %+v", r)
		}
		if r.IP.As4() != [4]byte(frame[28:32]) || r.MAC != [6]byte(frame[22:28]) {
			t.Errorf("accepted %+v, which is not the frame's sender", r)
		}
	})
}

// FuzzNAReply: parseNAReply never panics, and what it accepts has a unicast IPv6 target, read
// from where the advertisement keeps it, and a unicast MAC.
func FuzzNAReply(f *testing.F) {
	f.Add(unhex(f, validNA))
	f.Add(unhex(f, "333300000001ba43075fb3cb86dd"+keepalivedNALinkLocal))
	f.Fuzz(func(t *testing.T, frame []byte) {
		r, err := parseNAReply(frame)
		if err != nil {
			if r != (reply{}) {
				t.Errorf("rejected (%v) but returned %+v", err, r)
			}
			return
		}
		if !r.IP.Is6() || r.IP.IsUnspecified() || r.IP.IsMulticast() || !unicastMAC(r.MAC) {
			t.Errorf("accepted %+v", r)
		}
		if r.IP.As16() != [16]byte(frame[62:78]) || frame[20] != 58 || frame[54] != 136 {
			t.Errorf("accepted %+v from a frame that is not an NA for it", r)
		}
	})
}

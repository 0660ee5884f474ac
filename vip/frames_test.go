package vip

import (
	"encoding/hex"
	"errors"
	"net"
	"net/netip"
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

func unhex(t *testing.T, s string) []byte {
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

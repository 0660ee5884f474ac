package vrrp

import (
	"net/netip"
	"testing"

	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// TestParseV6Control reads the hop limit and destination the kernel reports for an IPv6
// packet, from control messages as x/net lays them out, and survives cut and empty ones.
func TestParseV6Control(t *testing.T) {
	dst := netip.MustParseAddr("ff02::12")
	b := (&ipv6.ControlMessage{HopLimit: 255, Src: dst.AsSlice(), IfIndex: 7}).Marshal()
	if hl, got := parseV6Control(b); hl != 255 || got != dst {
		t.Errorf("parseV6Control = %d, %v; want 255, %v", hl, got, dst)
	}
	b = (&ipv6.ControlMessage{HopLimit: 1}).Marshal()
	if hl, got := parseV6Control(b); hl != 1 || got.IsValid() {
		t.Errorf("hop limit only: parseV6Control = %d, %v; want 1 and no destination", hl, got)
	}
	full := (&ipv6.ControlMessage{HopLimit: 255, Src: dst.AsSlice(), IfIndex: 7}).Marshal()
	for n := range len(full) {
		hl, got := parseV6Control(full[:n]) // must not panic
		wantHL, wantDst := n >= unix.CmsgLen(4), n >= unix.CmsgSpace(4)+unix.CmsgLen(unix.SizeofInet6Pktinfo)
		if (hl == 255) != wantHL || got.IsValid() != wantDst {
			t.Errorf("cut to %d bytes: parseV6Control = %d, %v; want hop limit %v, destination %v", n, hl, got, wantHL, wantDst)
		}
	}
}

package vip

import (
	"encoding/binary"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/mdlayher/arp"
	"github.com/mdlayher/ethernet"
	"github.com/mdlayher/packet"
	"golang.org/x/sys/unix"

	"github.com/vrrpd/vrrpd/test/lab"
	"github.com/vrrpd/vrrpd/test/lab/labtest"
)

// probe runs m.Probe in h's namespace, where its sockets must live.
func probeOn(t *testing.T, h *lab.Host, m *Manager, addrs []Addr) []Duplicate {
	t.Helper()
	var dups []Duplicate
	err := h.Do(func() (err error) {
		dups, err = m.Probe(addrs, 300*time.Millisecond)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return dups
}

// Probe finds another host that still answers for a VIP, and only such a host: for IPv4 and,
// with duplicate address detection's solicitation, for IPv6.
func TestProbe(t *testing.T) {
	a, b, m := twoHosts(t)
	labtest.MustIP(t, b, "addr", "add", vip4.String(), "dev", "eth0")
	labtest.MustIP(t, b, "addr", "add", vip6.String(), "dev", "eth0", "nodad")
	if err := m.Add(at("eth0", vip4, vip6)); err != nil { // a holds them too, as a new master would
		t.Fatal(err)
	}
	dups := probeOn(t, a, m, at("eth0", vip4, vip6))
	want := []Duplicate{{VIP: vip4.Addr(), MACs: []net.HardwareAddr{b.MAC}, Seen: 1}, {VIP: vip6.Addr(), MACs: []net.HardwareAddr{b.MAC}, Seen: 1}}
	if !sameDuplicates(dups, want) {
		t.Errorf("duplicates %v, want %v", dups, want)
	}
	if none := probeOn(t, a, m, at("eth0", netip.MustParsePrefix("10.0.4.98/24"), netip.MustParsePrefix("fd00:4::98/64"))); len(none) != 0 {
		t.Errorf("duplicates of addresses nobody holds: %v", none)
	}
}

func sameDuplicates(got, want []Duplicate) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if got[i].VIP != want[i].VIP || got[i].Seen != want[i].Seen || len(got[i].MACs) != len(want[i].MACs) {
			return false
		}
		for j := range got[i].MACs {
			if got[i].MACs[j].String() != want[i].MACs[j].String() {
				return false
			}
		}
	}
	return true
}

// A host spraying ARP replies for a VIP from 400 MACs is one Duplicate, listing MaxDuplicateMACs
// of them and counting all 400; its malformed replies count for nothing.
func TestProbeFlood(t *testing.T) {
	a, b, m := twoHosts(t)
	const n = 400
	var frames [][]byte
	for i := range n {
		frames = append(frames, arpReply(t, net.HardwareAddr{0x02, 0xaa, 0, 0, byte(i >> 8), byte(i)}, vip4.Addr()))
	}
	bad := net.HardwareAddr{0x02, 0xbb, 0, 0, 0, 1}
	wrongType := arpReply(t, bad, vip4.Addr())
	binary.BigEndian.PutUint16(wrongType[14:], 6) // IEEE 802
	wrongOp := arpReply(t, bad, vip4.Addr())
	binary.BigEndian.PutUint16(wrongOp[20:], 3)
	groupMAC := arpReply(t, net.HardwareAddr{0x03, 0xbb, 0, 0, 0, 1}, vip4.Addr())
	copy(groupMAC[6:], bad) // a group sender in a frame from a valid source, which the switch passes
	frames = append(frames, wrongType, wrongOp, groupMAC, arpReply(t, bad, vip4.Addr())[:30])

	var c *packet.Conn
	err := b.Do(func() (err error) {
		ifi, err := net.InterfaceByName("eth0")
		if err == nil {
			c, err = packet.Listen(ifi, packet.Raw, unix.ETH_P_ARP, nil)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			for _, f := range frames {
				if _, err := c.WriteTo(f, &packet.Addr{HardwareAddr: ethernet.Broadcast}); err != nil {
					t.Error(err)
					return
				}
			}
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	})
	dups := probeOn(t, a, m, at("eth0", vip4))
	close(stop)
	wg.Wait()

	if len(dups) != 1 {
		t.Fatalf("%d duplicates, want 1: %v", len(dups), dups)
	}
	d := dups[0]
	if d.VIP != vip4.Addr() || d.Seen != n || len(d.MACs) != MaxDuplicateMACs {
		t.Errorf("duplicate of %s, %d MACs listed, %d seen; want %s, %d, %d", d.VIP, len(d.MACs), d.Seen, vip4.Addr(), MaxDuplicateMACs, n)
	}
	listed := map[string]bool{}
	for _, mac := range d.MACs {
		if mac[0] != 0x02 || mac[1] != 0xaa || listed[mac.String()] {
			t.Errorf("listed %s: not one of the valid repliers, or twice", mac)
		}
		listed[mac.String()] = true
	}
}

// arpReply is an ARP reply frame saying that ip is at mac, broadcast from mac.
func arpReply(t *testing.T, mac net.HardwareAddr, ip netip.Addr) []byte {
	t.Helper()
	p, err := arp.NewPacket(arp.OperationReply, mac, ip, ethernet.Broadcast, netip.MustParseAddr("10.0.4.20"))
	if err != nil {
		t.Fatal(err)
	}
	body, err := p.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	frame := append(append(append([]byte{}, ethernet.Broadcast...), mac...), 0x08, 0x06)
	return append(frame, body...)
}

// A reply that reached the socket before the deadline counts, even if the listener only runs
// after it: here it starts after the deadline, with the reply queued.
func TestProbeCountsQueuedReplies(t *testing.T) {
	a, b, _ := twoHosts(t)
	var c *packet.Conn
	var p *probe
	err := a.Do(func() (err error) {
		ifi, err := net.InterfaceByName("eth0")
		if err == nil {
			p = &probe{dev: "eth0", index: ifi.Index, mac: [6]byte(ifi.HardwareAddr), targets: map[netip.Addr]bool{vip4.Addr(): true}}
			c, err = packet.Listen(ifi, packet.Raw, unix.ETH_P_ARP, nil)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	labtest.MustIP(t, b, "addr", "add", vip4.String(), "dev", "eth0")
	// b answers a's ARP request for the VIP with a reply from it, queued on c.
	request, err := arpFrame(a.MAC, netip.MustParseAddr("10.0.4.20"), make(net.HardwareAddr, 6), vip4.Addr())
	if err == nil {
		err = sendFrame(c, p.index, unix.ETH_P_ARP, request)
	}
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	found := &duplicates{byVIP: map[netip.Addr]*Duplicate{}, seen: map[vipMAC]bool{}}
	if err := p.listen(listening{c, parseARPReply}, time.Now().Add(-time.Second), found); err != nil {
		t.Fatal(err)
	}
	if d := found.byVIP[vip4.Addr()]; d == nil || d.Seen != 1 || d.MACs[0].String() != b.MAC.String() {
		t.Errorf("found %+v, want %s at %s", d, vip4.Addr(), b.MAC)
	}
}

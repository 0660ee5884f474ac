package vip

import (
	"encoding/binary"
	"net"
	"net/netip"

	"github.com/mdlayher/arp"
	"github.com/mdlayher/ethernet"
	"github.com/mdlayher/ndp"
)

var broadcast = ethernet.Broadcast

// garpFrame returns the gratuitous ARP request announcing that ip is at mac, byte for
// byte the frame keepalived sends:
//
//	Ethernet  destination ff:ff:ff:ff:ff:ff, source mac, type 0x0806 (ARP)
//	ARP       hardware type 1, protocol 0x0800, lengths 6 and 4, operation 1 (request),
//	          sender mac and ip, target ff:ff:ff:ff:ff:ff and ip
//
// RFC 5798 §6.4.1 and §6.4.2 (RFC 9568 likewise) ask to "broadcast a gratuitous ARP
// request containing the virtual router MAC address". Like keepalived without VMACs, the
// MAC we announce is the interface's own. The frame is 42 bytes: ethernet.Frame would
// pad it to 60, which the NIC does anyway, so the header is written here.
func garpFrame(mac net.HardwareAddr, ip netip.Addr) ([]byte, error) {
	return arpFrame(mac, ip, broadcast, ip)
}

// probeFrame is an ARP probe for ip from mac (RFC 5227 §2.1.1): a broadcast request with sender
// IP 0.0.0.0 and an empty target hardware address, so that no host's cache changes.
func probeFrame(mac net.HardwareAddr, ip netip.Addr) ([]byte, error) {
	return arpFrame(mac, netip.IPv4Unspecified(), net.HardwareAddr{0, 0, 0, 0, 0, 0}, ip)
}

// arpFrame is a broadcast Ethernet frame carrying an ARP request from mac.
func arpFrame(mac net.HardwareAddr, senderIP netip.Addr, targetMAC net.HardwareAddr, targetIP netip.Addr) ([]byte, error) {
	p, err := arp.NewPacket(arp.OperationRequest, mac, senderIP, targetMAC, targetIP)
	if err != nil {
		return nil, err
	}
	body, err := p.MarshalBinary()
	if err != nil {
		return nil, err
	}
	frame := make([]byte, 0, 14+len(body))
	frame = append(frame, broadcast...)
	frame = append(frame, mac...)
	frame = binary.BigEndian.AppendUint16(frame, uint16(ethernet.EtherTypeARP))
	return append(frame, body...), nil
}

// neighborAdvertisement returns the unsolicited neighbour advertisement announcing that
// ip is at mac: RFC 5798 §6.4.1/§6.4.2 and RFC 9568 §6.4.1/§6.4.2 ask for the Router
// flag set, Solicited unset, Override set, the VIP as target, and a Target Link-Layer
// Address option (the interface's MAC, as keepalived sends without VMACs). keepalived
// 2.2.7 leaves R unset; we follow the RFC.
func neighborAdvertisement(mac net.HardwareAddr, ip netip.Addr) *ndp.NeighborAdvertisement {
	return &ndp.NeighborAdvertisement{
		Router:        true,
		Solicited:     false,
		Override:      true,
		TargetAddress: ip,
		Options:       []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Target, Addr: mac}},
	}
}

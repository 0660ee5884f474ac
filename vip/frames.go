package vip

import (
	"encoding/binary"
	"errors"
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

// dadFrame is the neighbour solicitation duplicate address detection sends for target, from
// mac (RFC 4862 §5.4.2): from the unspecified address to target's solicited-node multicast
// address, hop limit 255, and without a source link-layer address option (RFC 4861 §7.1.1
// forbids one from ::). A host that holds target answers to all nodes (RFC 4861 §7.2.4).
//
//	Ethernet  destination 33:33 and the group's last 4 bytes, source mac, type 0x86dd (IPv6)
//	IPv6      version 6, payload length 24, next header 58 (ICMPv6), hop limit 255,
//	          source ::, destination ff02::1:ffXX:XXXX
//	ICMPv6    type 135, code 0, checksum, reserved, target
func dadFrame(mac net.HardwareAddr, target netip.Addr) ([]byte, error) {
	group, err := ndp.SolicitedNodeMulticast(target)
	if err != nil {
		return nil, err
	}
	msg, err := ndp.MarshalMessageChecksum(&ndp.NeighborSolicitation{TargetAddress: target}, netip.IPv6Unspecified(), group)
	if err != nil {
		return nil, err
	}
	g := group.As16()
	frame := make([]byte, 0, 14+40+len(msg))
	frame = append(frame, 0x33, 0x33, g[12], g[13], g[14], g[15])
	frame = append(frame, mac...)
	frame = binary.BigEndian.AppendUint16(frame, uint16(ethernet.EtherTypeIPv6))
	frame = append(frame, 0x60, 0, 0, 0) // version 6, traffic class and flow label 0
	frame = binary.BigEndian.AppendUint16(frame, uint16(len(msg)))
	frame = append(frame, ipv6NextHeaderICMP, ndp.HopLimit)
	frame = append(frame, make([]byte, 16)...) // ::
	frame = append(frame, g[:]...)
	return append(frame, msg...), nil
}

// reply is a host that says it holds an address: from an ARP packet's sender fields, or a
// neighbour advertisement's target and link-layer address.
type reply struct {
	IP  netip.Addr
	MAC [6]byte
}

// Why parseARPReply and parseNAReply reject a frame.
var (
	errFrameShort  = errors.New("frame too short")
	errEtherType   = errors.New("wrong EtherType")
	errARPFormat   = errors.New("not Ethernet/IPv4 ARP (hardware type, protocol or lengths)")
	errARPOp       = errors.New("ARP operation neither request nor reply")
	errSenderIP    = errors.New("no sender address")
	errMAC         = errors.New("not a unicast MAC address")
	errIPv6Header  = errors.New("not an IPv6 packet carrying ICMPv6 directly")
	errHopLimit    = errors.New("hop limit not 255")
	errNotNA       = errors.New("not a neighbour advertisement")
	errTarget      = errors.New("target not a unicast address")
	errNAOption    = errors.New("malformed option")
	errNASolicited = errors.New("solicited advertisement to a multicast address")
)

const (
	ipv6NextHeaderICMP = 58
	icmpTypeNA         = 136
	ndpOptionTargetLL  = 2
)

// parseARPReply reads who an ARP frame says holds its sender address: any request or reply
// from a host with an address, for a host answering a probe or announcing itself tells the same.
//
//	Ethernet  destination, source, type 0x0806
//	ARP       hardware type 1 (Ethernet), protocol 0x0800 (IPv4), lengths 6 and 4,
//	          operation 1 (request) or 2 (reply), sender MAC and IP, target MAC and IP
//
// The sender must be a unicast MAC and an address other than 0.0.0.0 (a probe's).
func parseARPReply(frame []byte) (reply, error) {
	if len(frame) < 14+28 {
		return reply{}, errFrameShort
	}
	if binary.BigEndian.Uint16(frame[12:]) != uint16(ethernet.EtherTypeARP) {
		return reply{}, errEtherType
	}
	p := frame[14:]
	if binary.BigEndian.Uint16(p[0:]) != 1 || binary.BigEndian.Uint16(p[2:]) != uint16(ethernet.EtherTypeIPv4) || p[4] != 6 || p[5] != 4 {
		return reply{}, errARPFormat
	}
	if op := binary.BigEndian.Uint16(p[6:]); op != 1 && op != 2 {
		return reply{}, errARPOp
	}
	r := reply{IP: netip.AddrFrom4([4]byte(p[14:18])), MAC: [6]byte(p[8:14])}
	if r.IP.IsUnspecified() {
		return reply{}, errSenderIP
	}
	if !unicastMAC(r.MAC) {
		return reply{}, errMAC
	}
	return r, nil
}

// parseNAReply reads who a neighbour advertisement says holds its target (RFC 4861 §4.4), and
// validates it as RFC 4861 §7.1.2 asks, but for the checksum: the frame's own check sequence
// has caught corruption, and a forger computes a checksum as easily as we do.
//
//	Ethernet  destination, source, type 0x86dd
//	IPv6      version 6, payload length, next header 58 (ICMPv6, no extension headers),
//	          hop limit 255, source, destination
//	ICMPv6    type 136, code 0, checksum, flags (R S O), reserved, target, options
//
// The MAC is the target link-layer address option's, or else the Ethernet source; it must be
// unicast, and the target a unicast address.
func parseNAReply(frame []byte) (reply, error) {
	const ip6 = 14
	const icmp = ip6 + 40
	if len(frame) < icmp+24 {
		return reply{}, errFrameShort
	}
	if binary.BigEndian.Uint16(frame[12:]) != uint16(ethernet.EtherTypeIPv6) {
		return reply{}, errEtherType
	}
	h := frame[ip6:icmp]
	payload := int(binary.BigEndian.Uint16(h[4:]))
	if h[0]>>4 != 6 || h[6] != ipv6NextHeaderICMP || payload < 24 || payload > len(frame)-icmp {
		return reply{}, errIPv6Header
	}
	if h[7] != ndp.HopLimit {
		return reply{}, errHopLimit
	}
	msg := frame[icmp : icmp+payload]
	if msg[0] != icmpTypeNA || msg[1] != 0 {
		return reply{}, errNotNA
	}
	if solicited := msg[4]&0x40 != 0; solicited && h[24] == 0xff {
		return reply{}, errNASolicited
	}
	r := reply{IP: netip.AddrFrom16([16]byte(msg[8:24])), MAC: [6]byte(frame[6:12])}
	if r.IP.IsMulticast() || r.IP.IsUnspecified() || r.IP.Is4In6() {
		return reply{}, errTarget
	}
	for opts := msg[24:]; len(opts) > 0; {
		if len(opts) < 2 || opts[1] == 0 || int(opts[1])*8 > len(opts) {
			return reply{}, errNAOption
		}
		n := int(opts[1]) * 8
		if opts[0] == ndpOptionTargetLL {
			if n != 8 {
				return reply{}, errNAOption
			}
			r.MAC = [6]byte(opts[2:8])
		}
		opts = opts[n:]
	}
	if !unicastMAC(r.MAC) {
		return reply{}, errMAC
	}
	return r, nil
}

// unicastMAC reports whether mac can be a host's: not all zeros, and not a group address.
func unicastMAC(mac [6]byte) bool { return mac != [6]byte{} && mac[0]&1 == 0 }

package vrrp

import (
	"fmt"
	"net/netip"
	"slices"
	"time"
)

// Drop says why a received packet was discarded. String gives its key in the status JSON.
type Drop uint8

// The drop reasons. Rules.Check returns all but DropVRID, which is the caller's: it finds the
// virtual router with PeekVRID before calling Check.
const (
	DropNone      Drop = iota
	DropTTL            // "ttl"       TTL / hop limit below Rules.MinTTL (255 unless relaxed)
	DropVersion        // "version"   version differs from the instance's
	DropType           // "type"      type is not 1 (ADVERTISEMENT)
	DropLength         // "length"    too short, or length disagrees with count (+ v2 auth data), or wrong family
	DropChecksum       // "checksum"
	DropVRID           // "vrid"      no instance has this VRID on this interface and family
	DropOwner          // "owner"     we are the address owner (priority 255), RFC 5798 §7.1
	DropAuth           // "auth"      v2 auth type or password differs (RFC 3768 §7.1, §5.3.6)
	DropInterval       // "interval"  v2 Adver Int differs from ours; v3 Max Adver Int is 0
	DropPeer           // "peer"      unicast mode and the source is not a configured peer
	DropAddresses      // "addresses" v2 address list differs from ours and the sender is not the owner (RFC 3768 §7.1)
	NumDrops           // the number of reasons, DropNone included: bounds an array of counters
)

// String gives the drop's JSON key ("ttl", "checksum", ...), "none" for DropNone.
func (d Drop) String() string {
	switch d {
	case DropNone:
		return "none"
	case DropTTL:
		return "ttl"
	case DropVersion:
		return "version"
	case DropType:
		return "type"
	case DropLength:
		return "length"
	case DropChecksum:
		return "checksum"
	case DropVRID:
		return "vrid"
	case DropOwner:
		return "owner"
	case DropAuth:
		return "auth"
	case DropInterval:
		return "interval"
	case DropPeer:
		return "peer"
	case DropAddresses:
		return "addresses"
	}
	return fmt.Sprintf("Drop(%d)", uint8(d))
}

// Packet is a received VRRP packet: the message and what the IP header said about it.
// An IPv4-mapped IPv6 Src or Dst counts as IPv4.
type Packet struct {
	Src, Dst netip.Addr
	TTL      int    // TTL or hop limit
	Data     []byte // VRRP message
}

// Rules is what one virtual router accepts.
type Rules struct {
	Version  Version
	Interval time.Duration // v2: must equal the packet's; unused for v3
	AuthType AuthType      // v2
	AuthData [8]byte       // v2
	Owner    bool          // local priority is 255
	Peers    []netip.Addr  // non-nil: unicast mode, only these sources are accepted
	MinTTL   int           // 255 by default (0 means 255)
	// Addresses are our VIPs, sorted (SetAddresses), for the address-list comparison, and
	// Advertised is how many of them our own adverts carry: fewer than all when there are more
	// than an advert holds.
	Addresses  []netip.Addr
	Advertised int
}

// SetAddresses sets the VIPs the address-list comparison expects, of which an advert carries n.
func (r *Rules) SetAddresses(vips []netip.Addr, n int) {
	r.Addresses = slices.Clone(vips)
	slices.SortFunc(r.Addresses, netip.Addr.Compare)
	r.Advertised = n
}

// Verdict is Rules.Check's decision on one packet.
type Verdict struct {
	Drop            Drop
	AddressMismatch bool         // accepted, but the address list differs (v3, or v2 from the owner): log it
	Checksum        ChecksumMode // which form matched (IPv4 v3); ChecksumPseudoHeader otherwise
}

// Check validates a received packet for the virtual router r describes (RFC 3768 §7.1 for v2,
// RFC 5798 §7.1 and RFC 9568 §7.1 for v3) and returns the first failure in this order: fixed
// header present (DropLength), version, type, TTL, length against count and family (DropLength),
// checksum, peer, owner, v2 auth, interval, addresses.
//
// It decodes the message into adv, which must not be nil. adv holds the decoded message when the
// drop is DropNone, and after any drop from DropChecksum on, so the caller can log the sender's
// fields. Check never panics, and does not allocate once adv.Addresses has room for the packet's
// addresses.
func (r *Rules) Check(p Packet, adv *Advertisement) Verdict {
	msg := p.Data
	src, dst := p.Src.Unmap(), p.Dst.Unmap()

	// RFC 3768 §7.1, RFC 5798 §7.1: the packet must hold at least the fixed header.
	if len(msg) < msgFixedLen {
		return Verdict{Drop: DropLength}
	}
	// RFC 3768 §7.1, RFC 5798 §7.1: the version must be ours (2 or 3).
	if Version(msg[0]>>4) != r.Version || (r.Version != V2 && r.Version != V3) {
		return Verdict{Drop: DropVersion}
	}
	// RFC 3768 §5.3.2, RFC 5798 §5.2.2: a packet of unknown type MUST be discarded.
	if msg[0]&0x0f != advertisementType {
		return Verdict{Drop: DropType}
	}
	// RFC 3768 §7.1, RFC 5798 §7.1, RFC 9568 §7.1: the TTL or hop limit MUST be 255, so the
	// packet cannot have crossed a router. Unicast mode checks it too, unless relaxed.
	minTTL := r.MinTTL
	if minTTL == 0 {
		minTTL = 255
	}
	if p.TTL < minTTL {
		return Verdict{Drop: DropTTL}
	}
	// RFC 3768 §7.1, RFC 5798 §7.1: the packet must be complete, with Count addresses (and v2
	// auth data). Their family is the packet's own: VRRPv3 infers it from the IP version.
	addrLen := messageAddrLen(msg)
	ipv4 := src.Is4() && dst.Is4()
	ipv6 := src.Is6() && dst.Is6()
	if addrLen == 0 || !(ipv4 && addrLen == 4 || ipv6 && addrLen == 16) {
		return Verdict{Drop: DropLength}
	}
	adv.decode(msg, addrLen)

	// The checksum: RFC 3768 §5.3.8 over the message for v2; RFC 5798 §5.2.8 with the RFC 8200
	// pseudo-header for IPv6. For IPv4 v3, RFC 5798 §5.2.8 includes an IPv4 pseudo-header and
	// RFC 9568 §5.2.8 does not; both are deployed, so either is accepted and reported.
	var v Verdict
	var none netip.Addr
	var ok bool
	switch {
	case r.Version == V2:
		ok = checksumVerifies(msg, none, none)
	case ipv6:
		ok = checksumVerifies(msg, src, dst)
	default:
		ok = checksumVerifies(msg, src, dst)
		if !ok && checksumVerifies(msg, none, none) {
			ok, v.Checksum = true, ChecksumMessage
		}
	}
	if !ok {
		return Verdict{Drop: DropChecksum}
	}

	// Unicast mode (a keepalived extension, not in the RFCs): only configured peers count.
	if r.Peers != nil && !slices.Contains(r.Peers, src) {
		return Verdict{Drop: DropPeer}
	}
	// RFC 3768 §7.1, RFC 5798 §7.1: the address owner discards advertisements for its VRID.
	if r.Owner {
		return Verdict{Drop: DropOwner}
	}
	if r.Version == V2 {
		// RFC 3768 §7.1: the Auth Type MUST match ours, and its method must pass. RFC 3768
		// §5.3.10 ignores the data for type 0; RFC 2338 §5.3.6.1 compares the password for
		// type 1. AH (type 2) and unknown types are never accepted.
		if adv.AuthType != r.AuthType || adv.AuthType > AuthSimple ||
			adv.AuthType == AuthSimple && adv.AuthData != r.AuthData {
			return Verdict{Drop: DropAuth}
		}
		// RFC 3768 §7.1: the Adver Int MUST be the one configured locally.
		if adv.Interval != r.Interval {
			return Verdict{Drop: DropInterval}
		}
	} else if adv.Interval == 0 {
		// RFC 5798 §5.2.7, §6.1: a backup adopts the master's Max Adver Int, and 0 would make
		// its Skew_Time and Master_Down_Interval 0: it would take over at once.
		return Verdict{Drop: DropInterval}
	}
	// RFC 3768 §7.1, RFC 5798 §7.1: the receiver MAY compare the addresses and SHOULD log a
	// mismatch. RFC 3768 then drops the packet unless it comes from the owner (priority 255);
	// RFC 5798 keeps it.
	if !r.sameAddresses(adv.Addresses) {
		if r.Version == V2 && adv.Priority != 255 {
			return Verdict{Drop: DropAddresses}
		}
		v.AddressMismatch = true
	}
	return v
}

// sameAddresses reports whether an advert's addresses are ours, compared as sets, in any order:
// all of them, or, when we have more VIPs than an advert holds, at least as many as our own
// adverts carry (a peer with the same VIPs sends the ones that fit, as keepalived sends the
// first 255). No address may be listed twice. It takes O(n log nm) for n advertised and m of
// ours, and allocates nothing.
func (r *Rules) sameAddresses(theirs []netip.Addr) bool {
	if len(theirs) != len(r.Addresses) && (len(theirs) > len(r.Addresses) || len(theirs) < r.Advertised) {
		return false
	}
	for _, a := range theirs {
		if _, ok := slices.BinarySearchFunc(r.Addresses, a, netip.Addr.Compare); !ok {
			return false
		}
	}
	return !listedTwice(theirs)
}

// listedTwice reports whether an address is in list twice: by comparing every pair for the
// short lists adverts usually carry, and through a sorted copy on the stack for long ones.
func listedTwice(list []netip.Addr) bool {
	if len(list) <= 16 {
		for i, a := range list {
			if slices.Contains(list[i+1:], a) {
				return true
			}
		}
		return false
	}
	var buf [255]netip.Addr // an advert holds at most 255 (its count is a byte)
	sorted := buf[:copy(buf[:], list)]
	slices.SortFunc(sorted, netip.Addr.Compare)
	for i := 1; i < len(sorted); i++ {
		if sorted[i] == sorted[i-1] {
			return true
		}
	}
	return false
}

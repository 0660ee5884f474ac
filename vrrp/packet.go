package vrrp

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"
)

// Version is the VRRP version: 2 (RFC 3768) or 3 (RFC 5798, RFC 9568).
type Version uint8

// The two VRRP versions on the wire.
const (
	V2 Version = 2
	V3 Version = 3
)

// Protocol is the IP protocol number of VRRP (RFC 3768 §5.2.4, RFC 5798 §5.1.1.4 and §5.1.2.4).
const Protocol = 112

// The VRRP multicast groups (RFC 3768 §5.2.2, RFC 5798 §5.1.1.2 and §5.1.2.2).
// They are variables only because netip.Addr cannot be a constant: treat them as read-only.
var (
	MulticastV4 = netip.MustParseAddr("224.0.0.18")
	MulticastV6 = netip.MustParseAddr("ff02::12")
)

// AuthType is the VRRPv2 Auth Type field (RFC 3768 §5.3.6). RFC 3768 defines only 0 and keeps
// 1 and 2 reserved for RFC 2338, whose meanings (§5.3.6) keepalived still uses.
type AuthType uint8

// The VRRPv2 authentication types.
const (
	AuthNone   AuthType = 0 // no authentication
	AuthSimple AuthType = 1 // RFC 2338 §5.3.6.1: an 8-byte clear-text password in Authentication Data
	AuthAH     AuthType = 2 // RFC 2338 §5.3.6.2: IPsec AH; not supported, always dropped on receive
)

// ChecksumMode says how an IPv4 VRRPv3 checksum is computed (RFC 5798 §5.2.8 vs RFC 9568 §5.2.8).
type ChecksumMode uint8

// The two IPv4 VRRPv3 checksum forms.
const (
	// ChecksumPseudoHeader covers an IPv4 pseudo-header and the message (RFC 5798 §5.2.8), as
	// keepalived and FRR send by default. It is the zero value.
	ChecksumPseudoHeader ChecksumMode = iota
	// ChecksumMessage covers the message alone (RFC 9568 §5.2.8).
	ChecksumMessage
)

// String gives the configuration's name for the mode: "pseudo-header" or "message".
func (m ChecksumMode) String() string {
	switch m {
	case ChecksumPseudoHeader:
		return "pseudo-header"
	case ChecksumMessage:
		return "message"
	}
	return fmt.Sprintf("ChecksumMode(%d)", uint8(m))
}

// Errors from MarshalBinary, AppendBinary and UnmarshalBinary. They come wrapped with context;
// test for them with errors.Is.
var (
	ErrTooShort = errors.New("shorter than the 8-byte fixed header")
	ErrVersion  = errors.New("version is not 2 or 3")
	ErrType     = errors.New("type is not 1 (ADVERTISEMENT)")
	ErrLength   = errors.New("length disagrees with the address count")
	ErrAddress  = errors.New("invalid address list")
	ErrInterval = errors.New("interval not representable")
	ErrAuth     = errors.New("authentication fields are VRRPv2 only")
)

const (
	msgFixedLen       = 8 // Version|Type, VRID, Priority, Count, two more bytes, Checksum
	msgAuthLen        = 8 // VRRPv2 Authentication Data (RFC 3768 §5.3.10)
	advertisementType = 1 // the only VRRP message type (RFC 3768 §5.3.2, RFC 5798 §5.2.2)
	maxV3Centis       = 1<<12 - 1
	centisecond       = 10 * time.Millisecond
)

// Advertisement is a VRRP ADVERTISEMENT message, the only message VRRP has.
type Advertisement struct {
	Version   Version
	VRID      uint8
	Priority  uint8         // 0: the master is stopping; 255: the address owner
	Interval  time.Duration // v2: Adver Int, whole seconds 1-255; v3: Max Adver Int, centiseconds, 12 bits
	AuthType  AuthType      // v2 only
	AuthData  [8]byte       // v2 only: simple password, NUL padded
	Addresses []netip.Addr  // all IPv4, or (v3 only) all IPv6
}

// Len is the wire length of the message: 8 bytes, 4 or 16 per address, and 8 of v2 auth data.
func (a *Advertisement) Len() int {
	n := msgFixedLen + 4*len(a.Addresses)
	if len(a.Addresses) > 0 && a.Addresses[0].Is6() {
		n = msgFixedLen + 16*len(a.Addresses)
	}
	if a.Version == V2 {
		n += msgAuthLen
	}
	return n
}

// The wire formats, most significant bit first.
//
// VRRPv2, RFC 3768 §5.1:
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|Version| Type  | Virtual Rtr ID|   Priority    | Count IP Addrs|
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|   Auth Type   |   Adver Int   |          Checksum             |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                         IP Address (1)                        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                            .........                          |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                         IP Address (n)                        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                     Authentication Data (1)                   |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                     Authentication Data (2)                   |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// Version 2, Type 1. Adver Int is in seconds. Count IP Addrs IPv4 addresses follow, then 8 bytes of
// Authentication Data, always present: a NUL-padded password with Auth Type 1, otherwise zero.
// The Checksum covers the message alone (RFC 3768 §5.3.8).
//
// VRRPv3, RFC 5798 §5.1 (unchanged in RFC 9568 §5.1):
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|Version| Type  | Virtual Rtr ID|   Priority    |Count IPvX Addr|
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|(rsvd) |     Max Adver Int     |          Checksum             |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                                                               |
//	+                                                               +
//	|                       IPvX Address(es)                        |
//	+                                                               +
//	|                                                               |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// Version 3, Type 1. rsvd is sent as zero and ignored on receipt (§5.2.6). Max Adver Int is 12
// bits of centiseconds (§5.2.7). The addresses are all IPv4 (4 bytes each) or all IPv6 (16 bytes
// each); which one follows from the length. The Checksum covers a pseudo-header too (§5.2.8; see
// Checksum).

// MarshalBinary encodes a into a new slice; see AppendBinary.
func (a *Advertisement) MarshalBinary() ([]byte, error) {
	b, err := a.AppendBinary(make([]byte, 0, a.Len()))
	if err != nil {
		return nil, err
	}
	return b, nil
}

// AppendBinary appends the encoded message to b. The checksum covers the message alone: that is
// final for v2 and for RFC 9568 IPv4 v3; otherwise follow with PutChecksum(msg, src, dst).
// It refuses, leaving b as it was, what the wire cannot carry: a version other than 2 or 3
// (ErrVersion); 0 or more than 255 addresses, a zero address, mixed families, or IPv6 (or
// IPv4-mapped IPv6) in v2 (ErrAddress); a v2 interval that is not whole seconds 1s-255s, or a v3
// interval that is not a multiple of 10ms from 10ms to 40.95s (ErrInterval); and v3 with AuthType
// or AuthData set (ErrAuth). Given capacity in b, it does not allocate.
func (a *Advertisement) AppendBinary(b []byte) ([]byte, error) {
	if err := a.encodable(); err != nil {
		return b, err
	}
	start := len(b)
	b = slices.Grow(b, a.Len())
	b = append(b, byte(a.Version)<<4|advertisementType, a.VRID, a.Priority, byte(len(a.Addresses)))
	if a.Version == V2 {
		b = append(b, byte(a.AuthType), byte(a.Interval/time.Second))
	} else {
		c := a.Interval / centisecond
		b = append(b, byte(c>>8), byte(c)) // the top 4 bits of c are 0: rsvd
	}
	b = append(b, 0, 0) // Checksum, below
	for _, addr := range a.Addresses {
		if addr.Is4() {
			a4 := addr.As4()
			b = append(b, a4[:]...)
		} else {
			a16 := addr.As16()
			b = append(b, a16[:]...)
		}
	}
	if a.Version == V2 {
		b = append(b, a.AuthData[:]...)
	}
	PutChecksum(b[start:], netip.Addr{}, netip.Addr{})
	return b, nil
}

// encodable reports why a cannot be encoded, or nil.
func (a *Advertisement) encodable() error {
	if a.Version != V2 && a.Version != V3 {
		return fmt.Errorf("vrrp: marshal version %d: %w", a.Version, ErrVersion)
	}
	n := len(a.Addresses)
	if n == 0 || n > 255 {
		return fmt.Errorf("vrrp: marshal %d addresses, want 1-255: %w", n, ErrAddress)
	}
	ipv4 := a.Addresses[0].Is4()
	if a.Version == V2 && !ipv4 {
		return fmt.Errorf("vrrp: marshal VRRPv2 with address %v, want IPv4 (RFC 3768 §5.3.9): %w", a.Addresses[0], ErrAddress)
	}
	for i, addr := range a.Addresses {
		if !addr.IsValid() || addr.Is4() != ipv4 {
			return fmt.Errorf("vrrp: marshal address %d (%v): not one family with address 0 (%v): %w", i, addr, a.Addresses[0], ErrAddress)
		}
	}
	switch a.Version {
	case V2: // RFC 3768 §5.3.7: Adver Int, 8 bits of seconds
		if a.Interval%time.Second != 0 || a.Interval < time.Second || a.Interval > 255*time.Second {
			return fmt.Errorf("vrrp: marshal VRRPv2 interval %v, want whole seconds 1s-4m15s: %w", a.Interval, ErrInterval)
		}
	case V3: // RFC 5798 §5.2.7: Max Adver Int, 12 bits of centiseconds; 0 is meaningless
		if a.Interval%centisecond != 0 || a.Interval < centisecond || a.Interval > maxV3Centis*centisecond {
			return fmt.Errorf("vrrp: marshal VRRPv3 interval %v, want a multiple of 10ms from 10ms to 40.95s: %w", a.Interval, ErrInterval)
		}
		if a.AuthType != AuthNone || a.AuthData != [8]byte{} {
			return fmt.Errorf("vrrp: marshal VRRPv3 with auth type %d: %w", a.AuthType, ErrAuth)
		}
	}
	return nil
}

// UnmarshalBinary decodes a message (the IP payload). It checks the structure only: version 2
// or 3 (ErrVersion), type 1 (ErrType), and a length that matches Count (ErrLength): 8+4n+8 for
// v2, 8+4n (IPv4) or 8+16n (IPv6) for v3, with n at least 1. It does not verify the checksum,
// which for v3 needs the IP addresses: Rules.Check does that. On error a is left untouched. On
// success a.Addresses reuses its backing array, so decoding into a reused value does not allocate.
func (a *Advertisement) UnmarshalBinary(b []byte) error {
	if len(b) < msgFixedLen {
		return fmt.Errorf("vrrp: %d-byte message: %w", len(b), ErrTooShort)
	}
	if v := Version(b[0] >> 4); v != V2 && v != V3 {
		return fmt.Errorf("vrrp: version %d: %w", v, ErrVersion)
	}
	if t := b[0] & 0x0f; t != advertisementType {
		return fmt.Errorf("vrrp: type %d: %w", t, ErrType)
	}
	addrLen := messageAddrLen(b)
	if addrLen == 0 {
		return fmt.Errorf("vrrp: VRRPv%d message of %d bytes with count %d: %w", b[0]>>4, len(b), b[3], ErrLength)
	}
	a.decode(b, addrLen)
	return nil
}

// messageAddrLen returns the length of one address in msg, 4 or 16, as its length and Count
// imply, or 0 if they disagree or Count is 0 (RFC 3768 §7.1, RFC 5798 §7.1: the packet must be
// complete). msg has the fixed header and a valid version.
func messageAddrLen(msg []byte) int {
	n := int(msg[3])
	switch {
	case n == 0:
		return 0
	case Version(msg[0]>>4) == V2:
		if len(msg) == msgFixedLen+4*n+msgAuthLen {
			return 4
		}
	case len(msg) == msgFixedLen+4*n:
		return 4
	case len(msg) == msgFixedLen+16*n:
		return 16
	}
	return 0
}

// decode fills a from a message whose structure messageAddrLen accepted.
func (a *Advertisement) decode(msg []byte, addrLen int) {
	a.Version = Version(msg[0] >> 4)
	a.VRID = msg[1]
	a.Priority = msg[2]
	if a.Version == V2 {
		a.AuthType = AuthType(msg[4])
		a.Interval = time.Duration(msg[5]) * time.Second
		a.AuthData = [8]byte(msg[len(msg)-msgAuthLen:])
	} else {
		a.AuthType = AuthNone
		a.Interval = time.Duration(uint16(msg[4]&0x0f)<<8|uint16(msg[5])) * centisecond
		a.AuthData = [8]byte{}
	}
	a.Addresses = a.Addresses[:0]
	for i := range int(msg[3]) {
		p := msg[msgFixedLen+i*addrLen:]
		if addrLen == 4 {
			a.Addresses = append(a.Addresses, netip.AddrFrom4([4]byte(p)))
		} else {
			a.Addresses = append(a.Addresses, netip.AddrFrom16([16]byte(p)))
		}
	}
}

// PeekVRID returns the VRID of a message so the caller can find its virtual router before full
// validation, or false if msg is shorter than the 8-byte fixed header.
func PeekVRID(msg []byte) (uint8, bool) {
	if len(msg) < msgFixedLen {
		return 0, false
	}
	return msg[1], true
}

package vrrp

import (
	"encoding/binary"
	"net/netip"
)

// Checksum returns the VRRP checksum of msg: the 16-bit one's complement of the one's complement
// sum (RFC 1071) of msg, with the Checksum field (bytes 6-7) taken as zero, preceded by a
// pseudo-header if and only if src and dst are both valid:
//
//   - VRRPv2 (RFC 3768 §5.3.8), and IPv4 VRRPv3 as RFC 9568 §5.2.8 computes it: no pseudo-header;
//     pass zero addresses.
//   - IPv6 VRRPv3 (RFC 5798 §5.2.8, RFC 9568 §5.2.8): the RFC 8200 §8.1 pseudo-header, that is
//     src, dst, the 32-bit message length, three zero bytes and next header 112.
//   - IPv4 VRRPv3 as RFC 5798 §5.2.8 computes it (keepalived, FRR): the IPv4 pseudo-header, that
//     is src, dst, a zero byte, protocol 112 and the 16-bit message length.
//
// The IPv4 pseudo-header is used when src and dst are both IPv4, the IPv6 one otherwise.
func Checksum(msg []byte, src, dst netip.Addr) uint16 {
	var sum uint64
	if src.IsValid() && dst.IsValid() {
		sum = pseudoHeaderSum(src, dst, len(msg))
	}
	sum = onesComplementSum(sum, msg[:min(len(msg), 6)])
	if len(msg) > 8 {
		sum = onesComplementSum(sum, msg[8:])
	}
	return ^foldOnesComplement(sum)
}

// PutChecksum writes Checksum(msg, src, dst) into the Checksum field, bytes 6-7 of msg.
// It panics if msg is shorter than 8 bytes.
func PutChecksum(msg []byte, src, dst netip.Addr) {
	binary.BigEndian.PutUint16(msg[6:8], Checksum(msg, src, dst))
}

// checksumVerifies reports whether msg, Checksum field included, sums to all ones with the
// pseudo-header Checksum would use for src and dst: the receiver's test of RFC 1071 §1.
func checksumVerifies(msg []byte, src, dst netip.Addr) bool {
	var sum uint64
	if src.IsValid() && dst.IsValid() {
		sum = pseudoHeaderSum(src, dst, len(msg))
	}
	return foldOnesComplement(onesComplementSum(sum, msg)) == 0xffff
}

// pseudoHeaderSum returns the one's complement sum of the pseudo-header for a message of length
// bytes (see Checksum).
func pseudoHeaderSum(src, dst netip.Addr, length int) uint64 {
	if src.Is4() && dst.Is4() {
		s, d := src.As4(), dst.As4()
		sum := onesComplementSum(0, s[:])
		sum = onesComplementSum(sum, d[:])
		return sum + Protocol + uint64(uint16(length)) // zero byte and protocol: one word
	}
	s, d := src.As16(), dst.As16()
	sum := onesComplementSum(0, s[:])
	sum = onesComplementSum(sum, d[:])
	l := uint32(length)
	return sum + uint64(l>>16) + uint64(l&0xffff) + Protocol // three zero bytes and next header
}

// onesComplementSum adds b to sum as big-endian 16-bit words, padding an odd last byte with a zero
// byte (RFC 1071 §4.1). Carries accumulate above bit 15; foldOnesComplement adds them back.
func onesComplementSum(sum uint64, b []byte) uint64 {
	for len(b) >= 2 {
		sum += uint64(b[0])<<8 | uint64(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint64(b[0]) << 8
	}
	return sum
}

// foldOnesComplement folds the carries of sum back into 16 bits (the end-around carry).
func foldOnesComplement(sum uint64) uint16 {
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	return uint16(sum)
}

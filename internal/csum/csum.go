// Package csum implements the Internet checksum (RFC 1071) and its
// incremental update (RFC 1624) for the govs dataplane.
//
// Every function here works on the ones' complement sum in host integers;
// byte order is big-endian (network order) throughout, so a 16-bit value
// passed in or returned is the value as it reads in the packet.
//
// Vocabulary:
//
//   - a sum is the folded 16-bit ones' complement sum of some bytes
//     (Checksum returns one);
//   - a checksum field holds the complement of a sum (^Checksum(...)) for a
//     full checksum, and the sum itself, uncomplemented, for a
//     CHECKSUM_PARTIAL frame, where the field carries only the pseudo-header
//     sum and the NIC (or CompleteChecksum in package forward) adds the rest.
//
// Nothing here allocates.
package csum

import (
	"encoding/binary"
	"math/bits"
)

// Checksum returns the folded 16-bit ones' complement sum of b, plus initial
// (an unfolded partial sum, for example from IPv4PseudoHeader). It does not
// complement the result: the value for a checksum field is ^Checksum(...).
// An odd trailing byte is padded with a zero byte, as RFC 1071 says.
func Checksum(b []byte, initial uint32) uint16 {
	return Fold(sum64(b, uint64(initial)))
}

// Sum is Checksum without the final fold: the 32-bit partial sum of b plus
// initial, ready to be fed as initial to another Checksum. Only use it on a
// segment of even length unless it is the last one.
func Sum(b []byte, initial uint32) uint32 {
	return fold64to32(sum64(b, uint64(initial)))
}

// sum64 adds b as big-endian 16-bit words into acc, 8 bytes at a time with
// 64-bit end-around-carry accumulators. Adding 64-bit big-endian words with
// end-around carry is the same ones' complement sum as adding the four
// 16-bit words each holds (RFC 1071 section 2(B), "byte order independence"
// and "parallel summation").
func sum64(b []byte, acc uint64) uint64 {
	var c uint64
	for len(b) >= 32 {
		acc, c = bits.Add64(acc, binary.BigEndian.Uint64(b[0:8]), c)
		acc, c = bits.Add64(acc, binary.BigEndian.Uint64(b[8:16]), c)
		acc, c = bits.Add64(acc, binary.BigEndian.Uint64(b[16:24]), c)
		acc, c = bits.Add64(acc, binary.BigEndian.Uint64(b[24:32]), c)
		b = b[32:]
	}
	for len(b) >= 8 {
		acc, c = bits.Add64(acc, binary.BigEndian.Uint64(b[0:8]), c)
		b = b[8:]
	}
	if len(b) >= 4 {
		acc, c = bits.Add64(acc, uint64(binary.BigEndian.Uint32(b[0:4])), c)
		b = b[4:]
	}
	if len(b) >= 2 {
		acc, c = bits.Add64(acc, uint64(binary.BigEndian.Uint16(b[0:2])), c)
		b = b[2:]
	}
	if len(b) == 1 {
		acc, c = bits.Add64(acc, uint64(b[0])<<8, c)
	}
	acc, c = bits.Add64(acc, 0, c)
	acc += c // cannot carry again: acc was at most 2^64-2 after adding the carry once
	return acc
}

func fold64to32(s uint64) uint32 {
	t, c := bits.Add32(uint32(s>>32), uint32(s), 0)
	return t + c // t+c cannot overflow: when c is 1, t is at most 2^32-2
}

// Fold folds a 64-bit ones' complement partial sum down to 16 bits.
func Fold(s uint64) uint16 {
	s32 := fold64to32(s)
	s32 = (s32 >> 16) + (s32 & 0xffff)
	s32 = (s32 >> 16) + (s32 & 0xffff)
	return uint16(s32)
}

// IPv4PseudoHeader returns the unfolded sum of the TCP/UDP pseudo-header
// (RFC 793 section 3.1, RFC 768): source, destination, zero, protocol and
// the transport length (header plus data). The result is meant as the
// initial argument of Checksum:
//
//	field := ^csum.Checksum(segment, csum.IPv4PseudoHeader(src, dst, 6, uint16(len(segment))))
func IPv4PseudoHeader(src, dst [4]byte, proto uint8, length uint16) uint32 {
	return uint32(src[0])<<8 | uint32(src[1]) +
		(uint32(src[2])<<8 | uint32(src[3])) +
		(uint32(dst[0])<<8 | uint32(dst[1])) +
		(uint32(dst[2])<<8 | uint32(dst[3])) +
		uint32(proto) + uint32(length)
}

// Update16 returns checksum field cs updated for one 16-bit word of the
// covered data changing from old to new (RFC 1624 equation 3:
// HC' = ~(~HC + ~m + m')).
func Update16(cs, old, new uint16) uint16 {
	s := uint32(^cs) + uint32(^old) + uint32(new)
	return ^fold32(s)
}

// Update32 returns checksum field cs updated for a 4-byte field (an IPv4
// address) changing from old to new: RFC 1624 equation 3 over its two
// words. It is UpdateAddress for one word, without the loop, for the IPv4
// header rewrites every masqueraded packet takes.
func Update32(cs uint16, old, new [4]byte) uint16 {
	// A 32-bit word is two 16-bit words: 2^16 = 1 in ones' complement
	// arithmetic, so summing whole 32-bit words and folding is the same.
	s := uint64(^cs) + uint64(^binary.BigEndian.Uint32(old[:])) + uint64(binary.BigEndian.Uint32(new[:]))
	return ^fold48(s)
}

// UpdateAddress returns checksum field cs updated for an address changing
// from old to new: RFC 1624 equation 3 over each of its 32-bit words. old
// and new have the same length, a multiple of 4 (4 bytes for IPv4, 16 for
// IPv6), and start at an even offset of the covered data (an IP header's
// addresses, a pseudo-header's).
//
// A CHECKSUM_PARTIAL field, which holds the uncomplemented pseudo-header
// sum, takes the same update on its complement, ^UpdateAddress(^cs, old,
// new): the opposite sense to a full checksum, as Linux's
// inet_proto_csum_replace4 and _replace16 with CHECKSUM_PARTIAL
// (~csum_fold(csum_add(csum_sub(csum_unfold(*sum), from), to))).
func UpdateAddress(cs uint16, old, new []byte) uint16 {
	s := uint64(^cs)
	for len(old) >= 4 && len(new) >= 4 {
		s += uint64(^binary.BigEndian.Uint32(old)) + uint64(binary.BigEndian.Uint32(new))
		old, new = old[4:], new[4:]
	}
	return ^fold48(s) // s < 2^37 for 16-byte addresses
}

// UpdatePartial16 is Update16 for a CHECKSUM_PARTIAL field, which holds the
// uncomplemented pseudo-header sum: HC' = HC + ~m + m'. Use it only for
// pseudo-header words (the transport length); a change outside the
// pseudo-header (a port) must leave a partial field alone, as Linux's
// inet_proto_csum_replace2(..., pseudohdr=false) does.
func UpdatePartial16(cs, old, new uint16) uint16 {
	s := uint32(cs) + uint32(^old) + uint32(new)
	return fold32(s)
}

// fold48 folds a sum below 2^40 to 16 bits.
func fold48(s uint64) uint16 {
	s = (s >> 16) + (s & 0xffff)
	s = (s >> 16) + (s & 0xffff)
	s = (s >> 16) + (s & 0xffff)
	return uint16(s)
}

func fold32(s uint32) uint16 {
	s = (s >> 16) + (s & 0xffff)
	s = (s >> 16) + (s & 0xffff)
	return uint16(s)
}

package balancer

import (
	"encoding/binary"
	"math/bits"
)

// schedHsiphash is the kernel's hsiphash() (lib/siphash.c) as built for 64-bit
// machines, where it is SipHash-1-3 with a 128-bit key, folded to 32 bits.
// ip_vs_mh.c hashes with it; reproducing it makes govs's Maglev table the
// same as the kernel's on x86-64 and arm64. It is checked against the
// kernel's own vectors (lib/test_siphash.c) in the tests.
func schedHsiphash(data []byte, k0, k1 uint64) uint32 {
	v0, v1, v2, v3 := schedSipInit(k0, k1)
	b := uint64(len(data)) << 56
	for ; len(data) >= 8; data = data[8:] {
		m := binary.LittleEndian.Uint64(data)
		v3 ^= m
		v0, v1, v2, v3 = schedSipRound(v0, v1, v2, v3)
		v0 ^= m
	}
	for i, c := range data {
		b |= uint64(c) << (8 * i)
	}
	return schedSipFinal(v0, v1, v2, v3, b)
}

// schedHsiphash32 is hsiphash of the four bytes of v in little-endian order, the
// kernel's hsiphash(&v, sizeof(v), key) for a u32 on a little-endian machine.
func schedHsiphash32(v uint32, k0, k1 uint64) uint32 {
	v0, v1, v2, v3 := schedSipInit(k0, k1)
	return schedSipFinal(v0, v1, v2, v3, 4<<56|uint64(v))
}

func schedSipInit(k0, k1 uint64) (v0, v1, v2, v3 uint64) {
	return 0x736f6d6570736575 ^ k0, 0x646f72616e646f6d ^ k1,
		0x6c7967656e657261 ^ k0, 0x7465646279746573 ^ k1
}

func schedSipFinal(v0, v1, v2, v3, b uint64) uint32 {
	v3 ^= b
	v0, v1, v2, v3 = schedSipRound(v0, v1, v2, v3)
	v0 ^= b
	v2 ^= 0xff
	v0, v1, v2, v3 = schedSipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = schedSipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = schedSipRound(v0, v1, v2, v3)
	return uint32((v0 ^ v1) ^ (v2 ^ v3))
}

func schedSipRound(v0, v1, v2, v3 uint64) (uint64, uint64, uint64, uint64) {
	v0 += v1
	v1 = bits.RotateLeft64(v1, 13)
	v1 ^= v0
	v0 = bits.RotateLeft64(v0, 32)
	v2 += v3
	v3 = bits.RotateLeft64(v3, 16)
	v3 ^= v2
	v0 += v3
	v3 = bits.RotateLeft64(v3, 21)
	v3 ^= v0
	v2 += v1
	v1 = bits.RotateLeft64(v1, 17)
	v1 ^= v2
	v2 = bits.RotateLeft64(v2, 32)
	return v0, v1, v2, v3
}

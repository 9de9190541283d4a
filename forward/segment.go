package forward

import (
	"errors"

	"github.com/govs-lb/govs/internal/csum"
)

// Errors SegmentTCP returns.
var (
	// ErrNotSegmentable: the packet is not an unfragmented TCP/IPv4
	// packet, or the MSS is not positive.
	ErrNotSegmentable = errors.New("forward: not a segmentable TCP/IPv4 packet")
	// ErrBufferTooSmall: the caller's buffer cannot hold one output frame.
	ErrBufferTooSmall = errors.New("forward: buffer too small")
)

// SegmentTCP splits an oversized TCP/IPv4 frame, as GRO or TSO leave them
// (up to 64 KiB of IP), into frames of at most mss bytes of TCP payload,
// the way Linux's tcp_gso_segment does: the Ethernet header (tag
// included), IPv4 header (options included) and TCP header (options
// included) are repeated; each segment gets its own IP total length, IP ID
// (the original plus the segment's index), sequence number (the original
// plus the payload offset) and full IPv4 and TCP checksums, whatever the
// original checksum field held (CHECKSUM_PARTIAL or stale after GRO). FIN
// and PSH stay only on the last segment, CWR only on the first; other flags
// are on every segment.
//
// Each segment is built in scratch, which must hold the headers plus
// min(mss, payload) bytes, and passed to emit, which must not keep seg
// after it returns (copy it or send it). A frame whose payload already
// fits is emitted once, with its checksums recomputed. SegmentTCP returns
// the number of segments emitted. It never allocates; frame is not
// modified. To encapsulate the segments (EncapIPIP), pass scratch[Headroom:]
// and keep the headroom in front.
func SegmentTCP(frame []byte, p *Packet, mss int, scratch []byte, emit func(seg []byte)) (int, error) {
	if p.Proto != ProtoTCP || p.IsFragment() || p.TCPHdrLen == 0 || mss <= 0 {
		return 0, ErrNotSegmentable
	}
	hdr := p.L4 + int(p.TCPHdrLen)
	payload := frame[hdr:p.End]
	first := min(mss, len(payload))
	if len(scratch) < hdr+first {
		return 0, ErrBufferTooSmall
	}
	copy(scratch[:hdr], frame[:hdr])
	ip := IPv4(scratch[p.L3:p.L4])
	tcp := TCP(scratch[p.L4:hdr])
	seq0 := TCP(frame[p.L4:hdr]).Seq()
	flags0 := p.TCPFlags
	tcpHdr := int(p.TCPHdrLen)
	ipHdr := p.L4 - p.L3

	n := 0
	for off := 0; ; off += mss {
		m := min(mss, len(payload)-off)
		last := off+m >= len(payload)
		copy(scratch[hdr:hdr+m], payload[off:off+m])

		ip.SetTotalLength(uint16(ipHdr + tcpHdr + m))
		ip.SetID(p.ID + uint16(n))
		ip.SetChecksum(ip.CalculateChecksum())

		f := flags0
		if !last {
			f &^= TCPFlagFIN | TCPFlagPSH
		}
		if n > 0 {
			f &^= TCPFlagCWR
		}
		tcp.SetFlags(f)
		tcp.SetSeq(seq0 + uint32(off))
		tcp.SetChecksum(0)
		seg := scratch[p.L4 : hdr+m]
		tcp.SetChecksum(^csum.Checksum(seg, csum.IPv4PseudoHeader(p.Src, p.Dst, ProtoTCP, uint16(len(seg)))))

		emit(scratch[:hdr+m])
		n++
		if last {
			return n, nil
		}
	}
}

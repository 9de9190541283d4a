package dataplane

import (
	"time"

	"github.com/govs-lb/govs/internal/afpacket"
)

// Frame is one received frame as a Worker sees it, whatever engine
// captured it: the bytes, the room in front of them, the interface it came
// in on and what offloading left to do. An AF_PACKET ring fills it from a
// ring block (NewAFPacketRx); an AF_XDP engine would fill it from a UMEM
// frame, whose headroom it reserves the same way.
//
// The Worker rewrites Data in place and may grow it into the headroom
// (IPIP encapsulation), so Buf and Data must stay valid and unshared until
// the engine's Release after the batch.
type Frame struct {
	// Buf is Data with Headroom free bytes in front; cap(Buf) == len(Buf).
	Buf []byte
	// Headroom is the number of free bytes in Buf before Data.
	Headroom int
	// Data is the Ethernet frame, writable.
	Data []byte
	// Len is the frame's length on the wire; larger than len(Data) when
	// the engine truncated it.
	Len int
	// Ifindex is the interface the frame arrived on.
	Ifindex int32
	// Offload is what checksum and segmentation offload left to do; zero
	// when nothing was offloaded.
	Offload Offload
}

// Truncated reports whether Data holds less than the whole frame.
func (f *Frame) Truncated() bool { return len(f.Data) < f.Len }

// Offload describes a frame's checksum and segmentation offload in the
// terms of Linux's struct virtio_net_hdr: CHECKSUM_PARTIAL (the checksum
// at CsumStart+CsumOffset holds only the pseudo-header sum) and GSO (a
// super-frame of GSOSize segments). That header is the kernel's one
// description of offloads for user space (tun/tap, AF_PACKET, vhost), so
// it is engine-neutral: the alias keeps AF_PACKET's and the tap's transmit
// calls free of conversions, and an engine without offloads (AF_XDP) uses
// the zero value, "nothing offloaded", for every frame and completes
// nothing.
type Offload = afpacket.VnetHdr

// checksumPartial reports whether the L4 checksum is left to offload.
func checksumPartial(o *Offload) bool { return o.Flags&afpacket.VnetNeedsCsum != 0 }

// Batch holds the frames of one receive. Build it once with NewBatch and
// reuse it.
type Batch struct {
	Frames []Frame
}

// NewBatch returns a batch that receives up to n frames at a time.
func NewBatch(n int) *Batch {
	return &Batch{Frames: make([]Frame, max(n, 1))}
}

// Receiver is the receive side of a capture engine, one per Worker.
type Receiver interface {
	// Recv fills b with the frames that arrived, waiting at most timeout
	// for the first, and returns how many. The frames stay valid until
	// Release.
	Recv(b *Batch, timeout time.Duration) (int, error)
	// Release hands the frames of the last Recv back to the engine.
	Release()
}

// Sender is the transmit side of a capture engine on one interface, or the
// LocalNode tap. SendBatch sends frames[i] with offload state offl[i] and
// returns how many went out; a frame may point into the receive side's
// buffers, which stay valid until the Worker's Release.
type Sender interface {
	SendBatch(frames [][]byte, offl []Offload) (int, error)
}

// Backlogger reports how many receive blocks wait, up to limit, for load
// shedding (afpacket.Socket.Backlog).
type Backlogger interface {
	Backlog(limit int) int
}

// afpacketRx is a Receiver over an AF_PACKET ring.
type afpacketRx struct {
	s     *afpacket.Socket
	batch *afpacket.Batch
}

// NewAFPacketRx returns s as a Worker's Receiver, receiving up to n frames at a
// time. It copies each frame's descriptor (not its bytes) into the
// Worker's batch.
func NewAFPacketRx(s *afpacket.Socket, n int) Receiver {
	return &afpacketRx{s: s, batch: afpacket.NewBatch(n)}
}

func (r *afpacketRx) Recv(b *Batch, timeout time.Duration) (int, error) {
	if len(r.batch.Frames) > len(b.Frames) {
		r.batch.Frames = r.batch.Frames[:len(b.Frames)]
	}
	n, err := r.s.Recv(r.batch, timeout)
	for i := range n {
		fromAFPacket(&b.Frames[i], &r.batch.Frames[i])
	}
	return n, err
}

func (r *afpacketRx) Release() { r.s.Release() }

// fromAFPacket fills f with what a Worker needs of an AF_PACKET frame.
func fromAFPacket(f *Frame, a *afpacket.Frame) {
	*f = Frame{Buf: a.Buf, Headroom: a.Headroom, Data: a.Data, Len: a.Len, Ifindex: a.Ifindex}
	if a.HasVnet {
		f.Offload = a.Vnet
	}
}

var (
	_ Receiver   = (*afpacketRx)(nil)
	_ Sender     = (*afpacket.Socket)(nil)
	_ Backlogger = (*afpacket.Socket)(nil)
)

// Headroom is the room a capture engine leaves in front of every frame:
// an IPIP outer header (forward.Headroom) and a spare VLAN tag fit.
const Headroom = 64

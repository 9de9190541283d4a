package afpacket

import (
	"errors"
	"runtime"
	"time"

	"golang.org/x/net/bpf"
)

// ErrNotImplemented is returned on systems without AF_PACKET.
var ErrNotImplemented = errors.New("afpacket: not implemented on " + runtime.GOOS)

// MaxBatch is the largest number of frames one SendBatch call hands to one
// sendmmsg(2); longer batches are sent in several calls.
const MaxBatch = 64

// Defaults used when a Config field is zero.
const (
	DefaultBlockSize     = 1 << 20
	DefaultBlockCount    = 16
	DefaultFrameSize     = 1 << 11
	DefaultRetireTimeout = 4 * time.Millisecond
	// MinBlockSize keeps one GSO/GRO frame (64 KiB plus headers) in a block.
	MinBlockSize = 128 << 10
)

// FanoutMode selects how a PACKET_FANOUT group spreads packets over its
// sockets.
type FanoutMode uint8

// Fanout modes. FanoutNone (the zero value) joins no group.
const (
	FanoutNone     FanoutMode = iota
	FanoutHash                // PACKET_FANOUT_HASH: by flow hash; one flow always on one socket
	FanoutLB                  // PACKET_FANOUT_LB: round robin
	FanoutCPU                 // PACKET_FANOUT_CPU: by receiving CPU
	FanoutRollover            // PACKET_FANOUT_ROLLOVER
	FanoutRandom              // PACKET_FANOUT_RND
	FanoutQM                  // PACKET_FANOUT_QM: by recorded rx queue
)

// Config configures a socket. The zero value is valid: a 16 MiB ring of
// 1 MiB blocks, no fanout, no headroom, no virtio-net header.
type Config struct {
	// BlockSize is the size of one ring block in bytes: a multiple of the
	// page size, at least MinBlockSize so a 64 KiB GSO frame fits.
	BlockSize int
	// BlockCount is the number of blocks in the ring.
	BlockCount int
	// FrameSize is TPACKET_V3's nominal frame size (frames are variable; the
	// kernel only checks it). Default DefaultFrameSize.
	FrameSize int
	// RetireTimeout is how long the kernel keeps a partly filled block
	// before handing it to user space (millisecond resolution, at least 1 ms).
	RetireTimeout time.Duration

	// FanoutGroup and FanoutMode join a PACKET_FANOUT group after bind.
	// Sockets of one group must share interface and protocol.
	FanoutGroup uint16
	FanoutMode  FanoutMode
	// FanoutDefrag reassembles IPv4 fragments before hashing
	// (PACKET_FANOUT_FLAG_DEFRAG), so fragments follow their flow.
	FanoutDefrag bool

	// Headroom (PACKET_RESERVE) is the minimum number of free bytes the
	// kernel leaves in front of every received frame.
	Headroom int
	// VnetHdr enables PACKET_VNET_HDR on receive and transmit.
	VnetHdr bool
	// QdiscBypass sends with PACKET_QDISC_BYPASS (straight to the driver).
	QdiscBypass bool
	// SendBuffer, when nonzero, sets SO_SNDBUF (SO_SNDBUFFORCE when permitted).
	SendBuffer int
	// TXRing, when nonzero, gives an OpenTX socket a transmit ring
	// (PACKET_TX_RING) of that many 2 KiB slots, rounded up to a multiple
	// of 64: SendBatch then copies frames into the ring and makes one
	// send(2) per call instead of sendmmsg. Frames longer than a slot
	// (2 KiB less 32 bytes and the virtio-net header: GSO frames) go out
	// through a second, plain socket, in order.
	TXRing int
	// Filter, when non-empty, is attached before the socket is bound, so no
	// unfiltered frame ever reaches the ring. SetBPF replaces it later.
	Filter []bpf.RawInstruction
}

// Status bits of a received frame (tp_status).
const (
	StatusUser         = 0x1   // TP_STATUS_USER
	StatusLosing       = 0x4   // TP_STATUS_LOSING: drops since the last frame
	StatusCsumNotReady = 0x8   // TP_STATUS_CSUMNOTREADY: checksum partial (CHECKSUM_PARTIAL)
	StatusVLANValid    = 0x10  // TP_STATUS_VLAN_VALID: VLANTCI holds a stripped tag
	StatusVLANTPID     = 0x40  // TP_STATUS_VLAN_TPID_VALID
	StatusCsumValid    = 0x80  // TP_STATUS_CSUM_VALID: checksum verified by the device
	StatusGSOTCP       = 0x100 // TP_STATUS_GSO_TCP: TCP GSO/GRO frame
)

// Packet types of a received frame (sll_pkttype).
const (
	PacketHost      = 0 // PACKET_HOST: to us
	PacketBroadcast = 1
	PacketMulticast = 2
	PacketOtherHost = 3 // to another host's MAC
	PacketOutgoing  = 4
)

// Frame is one received frame. Its slices point into the ring and are valid
// until the next Recv or Release on the socket that returned it.
type Frame struct {
	// Data is the Ethernet frame (untagged), Snaplen bytes, writable.
	Data []byte
	// Buf is Data with Headroom free bytes in front; cap(Buf) == len(Buf).
	Buf []byte
	// Headroom is the number of free bytes in Buf before Data.
	Headroom int
	// Len is the frame's original length (larger than len(Data) when the
	// frame was truncated to fit the block).
	Len int
	// Status holds the Status* bits.
	Status uint32
	// VLANTCI and VLANTPID hold the stripped 802.1Q tag when VLANValid().
	VLANTCI  uint16
	VLANTPID uint16
	// PktType is one of the Packet* constants.
	PktType uint8
	// Ifindex is the interface the frame arrived on.
	Ifindex int32
	// RxHash is the kernel's flow hash (skb->hash) when it was computed.
	RxHash uint32
	// Vnet is the virtio-net header; valid only when HasVnet.
	Vnet    VnetHdr
	HasVnet bool
}

// VLANValid reports whether the kernel stripped an 802.1Q tag into VLANTCI.
func (f *Frame) VLANValid() bool { return f.Status&StatusVLANValid != 0 }

// Truncated reports whether Data holds less than the whole frame.
func (f *Frame) Truncated() bool { return len(f.Data) < f.Len }

// Extend moves the start of Data n bytes into the headroom and reports
// whether there was room. The n new bytes hold whatever was there.
func (f *Frame) Extend(n int) bool {
	if n < 0 || n > f.Headroom {
		return false
	}
	f.Headroom -= n
	f.Data = f.Buf[f.Headroom:]
	return true
}

// Batch holds the frames of one Recv. Build it once with NewBatch and reuse it.
type Batch struct {
	Frames []Frame
}

// NewBatch returns a batch that receives up to n frames per Recv.
func NewBatch(n int) *Batch {
	if n < 1 {
		n = 1
	}
	return &Batch{Frames: make([]Frame, n)}
}

// Stats are the kernel's receive counters (PACKET_STATISTICS), summed over
// the socket's life. Packets includes Drops.
type Stats struct {
	Packets    uint64 // frames that passed the filter
	Drops      uint64 // frames dropped because the ring was full
	FreezeQCnt uint64 // times the ring was frozen (all blocks in user space)
}

// TxStats count what SendBatch did with the frames it was given.
type TxStats struct {
	Sent       uint64 // accepted by the kernel
	DropFull   uint64 // EAGAIN/ENOBUFS: queue or socket buffer full
	DropSize   uint64 // EMSGSIZE: larger than the MTU and not GSO
	DropInval  uint64 // EINVAL and other per-frame errors (e.g. bad vnet header)
	DropOther  uint64 // dropped after an error that ended the batch (e.g. ENETDOWN)
	Syscalls   uint64 // sendmmsg calls
	Incomplete uint64 // sendmmsg calls that sent fewer frames than given
}

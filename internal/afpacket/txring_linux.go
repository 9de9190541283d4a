//go:build linux

package afpacket

import (
	"encoding/binary"
	"errors"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// A transmit ring (PACKET_TX_RING, TPACKET_V2) instead of sendmmsg: frames
// are copied into ring slots and one send(2) hands every queued slot to the
// kernel, so the per-frame system-call work (msghdr and iovec copies, the
// length written back) is gone. Each slot is
//
//	+------------------------+-------------------+--------------------+
//	| struct tpacket2_hdr    | virtio_net_hdr    | Ethernet frame ... |
//	| (32 bytes)             | (with VnetHdr)    |                    |
//	+------------------------+-------------------+--------------------+
//	tp_status: AVAILABLE → SEND_REQUEST (us) → SENDING → AVAILABLE (kernel,
//	when the skb is freed); tp_len: virtio header + frame.
const (
	txHdrLen    = 32 // TPACKET_ALIGN(sizeof(struct tpacket2_hdr)): data starts here
	txStatusOff = 0
	txLenOff    = 4
)

// txRing is the mapped transmit ring of an OpenTX socket.
type txRing struct {
	ring      []byte
	frameSize int
	frames    int
	next      int
	// big sends the frames too long for a slot: a socket with a ring sends
	// only from the ring (tpacket_snd ignores the data of sendmsg).
	big *Socket
}

// setupTXRing maps a transmit ring of n slots on s (after commonOpts).
func (s *Socket) setupTXRing(n int) error {
	const frameSize = DefaultFrameSize
	const blockSize = 64 * frameSize
	n = (n + 63) / 64 * 64
	if err := setInt(s.fd, unix.SOL_PACKET, unix.PACKET_VERSION, unix.TPACKET_V2, "PACKET_VERSION"); err != nil {
		return err
	}
	// A frame the kernel rejects is skipped instead of stopping the ring.
	if err := setInt(s.fd, unix.SOL_PACKET, unix.PACKET_LOSS, 1, "PACKET_LOSS"); err != nil {
		return err
	}
	req := unix.TpacketReq{Block_size: blockSize, Block_nr: uint32(n / 64), Frame_size: frameSize, Frame_nr: uint32(n)}
	if err := opErr("setsockopt PACKET_TX_RING", unix.SetsockoptTpacketReq(s.fd, unix.SOL_PACKET, unix.PACKET_TX_RING, &req)); err != nil {
		return err
	}
	ring, err := unix.Mmap(s.fd, 0, n*frameSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return opErr("mmap", err)
	}
	s.txr = &txRing{ring: ring, frameSize: frameSize, frames: n}
	return nil
}

func (r *txRing) status(i int) *uint32 {
	return (*uint32)(unsafe.Pointer(&r.ring[i*r.frameSize+txStatusOff]))
}

// sendRing is SendBatch over the transmit ring: it copies the frames into
// free slots, then makes one send(2). Frames that find no free slot (the
// kernel still holds every slot) are dropped and counted in DropFull. A
// frame too long for a slot (a GSO frame) is sent with sendmmsg after the
// frames queued before it, so the order is kept.
func (s *Socket) sendRing(frames [][]byte, hdrs []VnetHdr) (int, error) {
	r := s.txr
	vlen := 0
	if s.vnet {
		vlen = VnetHdrLen
	}
	queued, sent := 0, 0
	for i, fr := range frames {
		if len(fr) == 0 {
			continue
		}
		if txHdrLen+vlen+len(fr) > r.frameSize {
			n, err := s.flushRing(queued)
			sent += n
			queued = 0
			if err != nil {
				s.tx.DropOther += uint64(len(frames) - i)
				return sent, err
			}
			var h []VnetHdr
			if hdrs != nil {
				h = hdrs[i : i+1]
			}
			before := r.big.tx
			n, err = r.big.sendMsgs(frames[i:i+1], h)
			sent += n
			s.tx.add(r.big.tx, before)
			if err != nil {
				s.tx.DropOther += uint64(len(frames) - i - 1)
				return sent, err
			}
			continue
		}
		st := r.status(r.next)
		if atomic.LoadUint32(st) != unix.TP_STATUS_AVAILABLE {
			s.tx.DropFull += uint64(len(frames) - i)
			break
		}
		slot := r.ring[r.next*r.frameSize : (r.next+1)*r.frameSize]
		if s.vnet {
			vh := slot[txHdrLen : txHdrLen+VnetHdrLen]
			if hdrs != nil {
				hdrs[i].Encode(vh)
			} else {
				clear(vh)
			}
			// hdr_len is what tpacket_snd copies into the skb's linear
			// area; the rest would stay in the ring as zero-copy page
			// fragments, which veth then copies into a freshly allocated
			// page (skb_copy_ubufs) for every frame. A frame that fits a
			// slot is small: have the kernel copy all of it.
			if binary.NativeEndian.Uint16(vh[vnetHdrLen:]) < uint16(len(fr)) {
				binary.NativeEndian.PutUint16(vh[vnetHdrLen:], uint16(len(fr)))
			}
		}
		copy(slot[txHdrLen+vlen:], fr)
		binary.NativeEndian.PutUint32(slot[txLenOff:], uint32(vlen+len(fr)))
		atomic.StoreUint32(st, unix.TP_STATUS_SEND_REQUEST)
		if r.next++; r.next == r.frames {
			r.next = 0
		}
		queued++
	}
	n, err := s.flushRing(queued)
	return sent + n, err
}

// flushRing makes the kernel send the queued slots.
func (s *Socket) flushRing(queued int) (int, error) {
	if queued == 0 {
		return 0, nil
	}
	for {
		_, _, e := unix.Syscall6(unix.SYS_SENDTO, uintptr(s.fd), 0, 0, unix.MSG_DONTWAIT, 0, 0)
		s.tx.Syscalls++
		switch e {
		case 0:
		case unix.EINTR:
			continue
		case unix.EAGAIN, unix.ENOBUFS:
			// The slot that failed stays queued and leaves with the next send.
			s.tx.Incomplete++
		default:
			s.tx.DropOther += uint64(queued)
			return 0, opErr("send", e)
		}
		break
	}
	s.tx.Sent += uint64(queued)
	return queued, nil
}

func (s *Socket) closeTXRing() error {
	if s.txr == nil {
		return nil
	}
	err := opErr("munmap", unix.Munmap(s.txr.ring))
	if s.txr.big != nil {
		err = errors.Join(err, s.txr.big.Close())
	}
	s.txr = nil
	return err
}

// add adds the counts b gained since before.
func (t *TxStats) add(b, before TxStats) {
	t.Sent += b.Sent - before.Sent
	t.DropFull += b.DropFull - before.DropFull
	t.DropSize += b.DropSize - before.DropSize
	t.DropInval += b.DropInval - before.DropInval
	t.DropOther += b.DropOther - before.DropOther
	t.Syscalls += b.Syscalls - before.Syscalls
	t.Incomplete += b.Incomplete - before.Incomplete
}

var errTXRingSize = errors.New("afpacket: TXRing must be 0 or 64..65536 slots")

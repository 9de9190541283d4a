package dataplane

import (
	"github.com/govs-lb/govs/forward"
	"github.com/govs-lb/govs/internal/afpacket"
)

// LocalNode, per packet: realservers whose address belongs to the
// director get their traffic through a tap device. A LocalNode
// destination gets the frame unmodified, the VIP being a /32 on the tap; a
// local masq destination gets it after DNAT, and its replies come back out
// of the tap (ReadTap), where they are un-NATed like any masq reply. A
// backup director delivers all VIP traffic that reaches it to its local
// service the same way. The tap itself, its addresses and routes are the
// director's.

// LocalSnapshot is the Workers' view of LocalNode, part of the Snapshot.
type LocalSnapshot struct {
	Up     bool    // the tap exists
	TapMAC [6]byte // destination MAC of frames written into the tap
	VIPs   map[[4]byte]struct{}
	RIPs   map[[4]byte]struct{} // local masq realservers
}

func (l *LocalSnapshot) hasVIP(a [4]byte) bool {
	_, ok := l.VIPs[a]
	return ok && l.Up
}

func (l *LocalSnapshot) isRIP(a [4]byte) bool {
	_, ok := l.RIPs[a]
	return ok
}

// toLocal hands a frame addressed to a VIP (LocalNode, backup) or, after
// DNAT, to a local masq realserver to the host stack through the tap.
func (w *Worker) toLocal(f *Frame, p *forward.Packet, cfg *Snapshot) {
	if !cfg.Local.Up || !(cfg.Local.hasVIP(p.Dst) || cfg.Local.isRIP(p.Dst)) {
		w.counters[LocalUnsupported]++
		return
	}
	forward.RewriteLocal(f.Data, p, cfg.Local.TapMAC)
	q := &w.tapq
	if len(q.frames) == cap(q.frames) {
		w.flushQ(q)
	}
	q.frames = append(q.frames, f.Data[:p.End])
	q.offl = append(q.offl, f.Offload)
}

// TapReader is the host side of the LocalNode tap (localnode.Tap):
// ReadFrame reads one frame behind its virtio-net header into buf.
type TapReader interface {
	ReadFrame(buf []byte) (int, error)
	Index() int
}

// ReadTap reads what the host stack sends out of the tap (the replies of
// local masq realservers) and sends it on as un-NATed masq replies, one
// frame at a time, until ReadFrame fails; it returns that error. The
// Worker must be given no Receiver: ReadTap is its only input.
func (w *Worker) ReadTap(t TapReader) error {
	const room = Headroom + afpacket.VnetHdrLen
	buf := make([]byte, room+65536)
	for {
		n, err := t.ReadFrame(buf[Headroom:])
		if err != nil {
			return err
		}
		if n <= afpacket.VnetHdrLen {
			continue
		}
		end := Headroom + n
		f := Frame{
			Buf:      buf[:end:end],
			Headroom: room,
			Data:     buf[room:end:end],
			Len:      n - afpacket.VnetHdrLen,
			Ifindex:  int32(t.Index()),
		}
		f.Offload.Decode(buf[Headroom:])
		w.now = Monotonic()
		w.handleTap(&f)
		w.flush()
		w.publish(false)
	}
}

// handleTap processes one frame the host stack wrote to the tap.
func (w *Worker) handleTap(f *Frame) {
	w.counters[Rx]++
	p := &w.pkt
	if err := forward.Parse(f.Data, p); err != nil {
		w.counters[parseErrorCounter(err)]++
		return
	}
	if p.EtherType != forward.EtherTypeIPv4 {
		w.counters[NotOurs]++
		return
	}
	if !w.checkIPv4(f, p) {
		return
	}
	if f.Offload.IsGSO() {
		// The tap is opened without offloads (TUNSETOFFLOAD), so the
		// kernel segments before it writes; a GSO frame is unexpected.
		w.counters[SegmentError]++
		return
	}
	w.fromRealserver(f, p)
}

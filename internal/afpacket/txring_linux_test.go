//go:build linux

package afpacket

import (
	"bytes"
	"testing"
)

// TestTXRing sends through a transmit ring (with and without virtio-net
// headers) and checks that the peer gets every frame intact, that a frame
// longer than a slot is dropped and counted, and that sending allocates
// nothing.
func TestTXRing(t *testing.T) {
	p := newVethPair(t)
	for _, l := range [][2]string{{p.nsA, "vA"}, {p.nsB, "vB"}} {
		if err := ipCmd("-n", l[0], "link", "set", "dev", l[1], "mtu", "4000"); err != nil {
			t.Fatal(err)
		}
	}
	rxA := openIn(t, p.nsA, p.ifA, Config{BlockSize: 256 << 10, BlockCount: 4})
	for _, vnet := range []bool{false, true} {
		tx := openTXIn(t, p.nsB, p.ifB, Config{VnetHdr: vnet, QdiscBypass: true, TXRing: 100})
		if tx.txr == nil || tx.txr.frames != 128 {
			t.Fatalf("vnet %v: ring %+v, want 128 slots", vnet, tx.txr)
		}
		const N = 300 // more than the ring: slots are reused
		frames := make([][]byte, N)
		for i := range frames {
			frames[i] = udpFrame(t, p.macB, otherMAC, p.addrB, [4]byte{198, 51, 100, 1}, 40000, 9999, uint32(i), i%700)
		}
		var hdrs []VnetHdr
		if vnet {
			hdrs = make([]VnetHdr, MaxBatch)
		}
		for i := 0; i < N; i += MaxBatch {
			batch := frames[i:min(N, i+MaxBatch)]
			var h []VnetHdr
			if hdrs != nil {
				h = hdrs[:len(batch)]
			}
			if n, err := tx.SendBatch(batch, h); err != nil || n != len(batch) {
				t.Fatalf("vnet %v: SendBatch = %d, %v (%+v)", vnet, n, err, tx.TxStats())
			}
			// Let the kernel hand the slots back before they are reused.
			recvUntil(t, rxA, len(batch), func(f *Frame, seq uint32) {
				if seq >= N || !bytes.Equal(f.Data, frames[seq]) {
					t.Fatalf("vnet %v: frame %d differs:\n got %x\nwant %x", vnet, seq, f.Data, frames[seq%N])
				}
			})
		}
		if ts := tx.TxStats(); ts.Sent != N || ts.Syscalls != (N+MaxBatch-1)/MaxBatch {
			t.Fatalf("vnet %v: TxStats = %+v, want %d sent in %d sends", vnet, ts, N, (N+MaxBatch-1)/MaxBatch)
		}
		// A frame longer than a slot goes out through the plain socket,
		// after the frames queued before it.
		long := udpFrame(t, p.macB, otherMAC, p.addrB, [4]byte{198, 51, 100, 1}, 40000, 9999, N, 2500)
		var h []VnetHdr
		if vnet {
			h = hdrs[:2]
		}
		if n, err := tx.SendBatch([][]byte{frames[7], long}, h); n != 2 || err != nil {
			t.Fatalf("vnet %v: short + long frame: sent %d, %v, %+v", vnet, n, err, tx.TxStats())
		}
		var order []uint32
		recvUntil(t, rxA, 2, func(f *Frame, seq uint32) { order = append(order, seq) })
		if len(order) != 2 || order[0] != 7 || order[1] != N {
			t.Fatalf("vnet %v: received %v, want [7 %d]", vnet, order, N)
		}
		huge := make([]byte, 5000) // above the MTU, no GSO: refused and counted
		if n, _ := tx.SendBatch([][]byte{huge}, nil); n != 0 || tx.TxStats().DropSize != 1 {
			t.Fatalf("vnet %v: oversized frame: sent %d, %+v", vnet, n, tx.TxStats())
		}
		out := [][]byte{frames[0], frames[1]}
		allocs := testing.AllocsPerRun(20, func() { tx.SendBatch(out, nil) })
		if allocs != 0 {
			t.Fatalf("vnet %v: SendBatch over the ring allocates %.1f times per call", vnet, allocs)
		}
		recvUntil(t, rxA, 42, nil)
	}
}

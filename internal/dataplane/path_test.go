package dataplane

import (
	"fmt"
	"testing"

	"github.com/govs-lb/govs/balancer"
	"github.com/govs-lb/govs/forward"
)

// BenchmarkParseLookupRewrite is the per-packet work for an established
// connection alone: parse the frame, look the connection up in the
// balancer, rewrite for DR — nothing of the I/O around it (the worker's
// queueing and next-hop lookup are in BenchmarkWorker). Counters are
// deferred and published every 64 packets, as the daemon does.
func BenchmarkParseLookupRewrite(b *testing.B) {
	for _, flows := range []int{1, 4096} {
		b.Run(fmt.Sprintf("flows=%d", flows), func(b *testing.B) {
			w := newTestWorker(b, balancer.MethodDR, &countSink{})
			frames := make([][]byte, flows)
			for i := range flows {
				run1(w, tcpFrame(b, uint16(10000+i), true, nil))
				frames[i] = tcpFrame(b, uint16(10000+i), false, make([]byte, 18)).Data
			}
			bw := w.bw
			var p forward.Packet
			var f balancer.Flow
			now := Monotonic()
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				fr := frames[i%flows]
				if forward.Parse(fr, &p) != nil {
					b.Fatal("parse")
				}
				f = balancer.Flow{Proto: balancer.Proto(p.Proto), Src: p.Src, Dst: p.Dst, SrcPort: p.SrcPort, DstPort: p.DstPort}
				v := bw.In(&f, p.TCPFlags, p.End-p.L3, now)
				if v.Action != balancer.Forward {
					b.Fatal("not forwarded")
				}
				forward.RewriteDR(fr, &p, rsMAC, portMAC)
				if i%64 == 63 {
					bw.Flush() // once per batch, as the worker does
				}
			}
		})
	}
}

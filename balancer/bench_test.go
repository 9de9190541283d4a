package balancer

import (
	"math/rand/v2"
	"net/netip"
	"runtime"
	"sync"
	"testing"
	"time"
)

// benchFlow is the i-th of up to 254*60000 distinct client flows to vip1:80.
func benchFlow(i int) Flow {
	return Flow{Proto: TCP, Src: client(1 + i/60000), SrcPort: uint16(1 + i%60000), Dst: vip1, DstPort: 80}
}

func benchBalancer(tb testing.TB, maxConns int, m Method) (*Balancer, *Worker) {
	b := New(Config{MaxConns: maxConns, Seed: 42})
	k := tcpKey(vip1, 80)
	if err := b.AddService(ServiceConfig{ServiceKey: k, Scheduler: "rr"}); err != nil {
		tb.Fatal(err)
	}
	for _, r := range []string{"203.0.113.1", "203.0.113.2", "203.0.113.3", "203.0.113.4"} {
		if err := b.AddDest(k, DestConfig{Addr: mustAddr(r), Port: 80, Method: m, Weight: 1}); err != nil {
			tb.Fatal(err)
		}
	}
	return b, b.NewWorker()
}

func fill(tb testing.TB, w *Worker, n int, now int64) {
	for i := range n {
		f := benchFlow(i)
		if v := w.In(&f, TCPFlagSYN, 60, now); v.Action != Forward {
			tb.Fatalf("fill %d: %+v", i, v)
		}
		w.In(&f, TCPFlagACK, 40, now) // ESTABLISHED
	}
}

// BenchmarkInEstablished: one packet of an existing connection through In,
// over 10,000 connections.
func BenchmarkInEstablished(b *testing.B) {
	_, w := benchBalancer(b, 0, MethodDR)
	const n = 10000
	fill(b, w, n, 0)
	flows := make([]Flow, n)
	for i := range flows {
		flows[i] = benchFlow(i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if v := w.In(&flows[i%n], TCPFlagACK, 1500, 0); v.Action != Forward {
			b.Fatal(v)
		}
	}
}

// BenchmarkOutMasq: one reply packet of a masq connection through Out.
func BenchmarkOutMasq(b *testing.B) {
	_, w := benchBalancer(b, 0, MethodMasq)
	const n = 10000
	flows := make([]Flow, n)
	for i := range flows {
		f := benchFlow(i)
		v := w.In(&f, TCPFlagSYN, 60, 0)
		flows[i] = Flow{Proto: TCP, Src: v.DestAddr, SrcPort: v.DestPort, Dst: f.Src, DstPort: f.SrcPort}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if v := w.Out(&flows[i%n], TCPFlagACK, 1500, 0); v.Action != Forward {
			b.Fatal(v)
		}
	}
}

// BenchmarkInNew: a SYN of a new connection: service lookup, rr, insert.
// Every 65,536 connections the table is emptied outside the timer.
func BenchmarkInNew(b *testing.B) {
	for _, persist := range []bool{false, true} {
		name := "rr"
		if persist {
			name = "rr-persistent"
		}
		b.Run(name, func(b *testing.B) {
			bl, w := benchBalancer(b, 0, MethodDR)
			if persist {
				_ = bl.EditService(ServiceConfig{ServiceKey: tcpKey(vip1, 80), Scheduler: "rr", Persistent: true})
			}
			const n = 1 << 16
			flows := make([]Flow, n)
			for i := range flows {
				flows[i] = benchFlow(i)
			}
			now := int64(0)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				if i%n == 0 && i > 0 {
					b.StopTimer()
					now += 10000 * sec
					bl.Expire(now, 1<<30)
					bl.Expire(now+1000*sec, 1<<30)
					b.StartTimer()
				}
				if v := w.In(&flows[i%n], TCPFlagSYN, 60, now); v.Action != Forward {
					b.Fatal(v)
				}
			}
		})
	}
}

const bigTable = 1_000_000

var (
	bigOnce  sync.Once
	bigB     *Balancer
	bigFlows []Flow
)

func bigBalancer(b *testing.B) *Balancer {
	bigOnce.Do(func() {
		bl, w := benchBalancer(b, 2*bigTable, MethodDR)
		fill(b, w, bigTable, 0)
		bigB = bl
		bigFlows = make([]Flow, bigTable)
		for i := range bigFlows {
			bigFlows[i] = benchFlow(i)
		}
	})
	return bigB
}

// BenchmarkConnTableMemory fills a table with 1,000,000 connections and
// reports the heap they take, per connection.
func BenchmarkConnTableMemory(b *testing.B) {
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		bl, w := benchBalancer(b, 2*bigTable, MethodDR)
		fill(b, w, bigTable, 0)
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapInuse-before.HeapInuse)/bigTable, "B/conn")
		b.ReportMetric(float64(bl.NumConns()), "conns")
		runtime.KeepAlive(bl)
	}
}

// BenchmarkLookup1M: established In over a 1,000,000-connection table at
// random, from 1 and 2 goroutines (one Worker each); reports lookups/s.
func BenchmarkLookup1M(b *testing.B) {
	bl := bigBalancer(b)
	for _, g := range []int{1, 2} {
		b.Run(map[int]string{1: "goroutines=1", 2: "goroutines=2"}[g], func(b *testing.B) {
			ws := make([]*Worker, g)
			for i := range ws {
				ws[i] = bl.NewWorker()
			}
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			per := b.N / g
			for gi := range g {
				wg.Add(1)
				go func() {
					defer wg.Done()
					r := rand.New(rand.NewPCG(uint64(gi), 1))
					w := ws[gi]
					for range per {
						if v := w.In(&bigFlows[r.IntN(bigTable)], TCPFlagACK, 1500, 0); v.Action != Forward {
							panic("lookup miss")
						}
					}
				}()
			}
			wg.Wait()
			b.ReportMetric(float64(per*g)/time.Since(start).Seconds(), "lookups/s")
		})
	}
}

// BenchmarkExpire: cost per connection of the incremental sweep removing
// expired connections (budget 256 slots per call).
func BenchmarkExpire(b *testing.B) {
	bl, w := benchBalancer(b, 0, MethodDR)
	const n = 1 << 17
	fill(b, w, n, 0)
	now := int64(0)
	b.ReportAllocs()
	b.ResetTimer()
	removed := 0
	for b.Loop() {
		if bl.NumConns() == 0 {
			b.StopTimer()
			fill(b, w, n, now)
			b.StartTimer()
			now += 10000 * sec
		}
		removed += bl.Expire(now+5000*sec, 256)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(max(removed, 1)), "ns/expired")
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

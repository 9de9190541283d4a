package balancer

import (
	"math/rand/v2"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestConcurrentConfigAndTraffic runs workers through In, Out and Expire
// while a writer adds, edits and deletes services and realservers and a
// reader lists them; run it under -race. At the end every connection is
// expired and all counts must come back to zero.
func TestConcurrentConfigAndTraffic(t *testing.T) {
	b := New(Config{Shards: 8, MaxConns: 5000, Seed: 1})
	keys := []ServiceKey{tcpKey(vip1, 80), udpKey(vip1, 53), tcpKey(vip2, 0)}
	rips := []netip.Addr{rip1, rip2, rip3}
	iters := 20000
	if testing.Short() {
		iters = 2000
	}
	for _, k := range keys {
		mustOK(t, b.AddService(ServiceConfig{ServiceKey: k, Scheduler: "rr", Persistent: k.Port == 0}))
		for _, r := range rips {
			mustOK(t, b.AddDest(k, DestConfig{Addr: r, Port: k.Port, Method: MethodMasq, Weight: 1}))
		}
	}
	var wg, workersWG sync.WaitGroup
	var forwarded, masq atomic.Int64
	var done atomic.Bool
	var clock, outMiss atomic.Int64 // a shared clock, so no worker expires another's future
	const workers = 3
	for wi := range workers {
		workersWG.Add(1)
		go func() {
			defer workersWG.Done()
			w := b.NewWorker()
			r := rand.New(rand.NewPCG(uint64(wi), 7))
			for i := range iters {
				now := clock.Add(int64(time.Millisecond))
				k := keys[r.IntN(len(keys))]
				f := Flow{Proto: k.Proto, Src: client(1 + wi*20 + r.IntN(20)), SrcPort: uint16(1 + r.IntN(50)), Dst: k.Addr.As4(), DstPort: k.Port}
				if k.Port == 0 {
					f.DstPort = uint16(1 + r.IntN(3))
				}
				fl := [...]uint8{TCPFlagSYN, TCPFlagACK, TCPFlagACK, TCPFlagFIN | TCPFlagACK, TCPFlagRST}[r.IntN(5)]
				v := w.In(&f, fl, 100, now)
				if v.Action == Forward {
					forwarded.Add(1)
				}
				if v.Action == Forward && v.Method == MethodMasq {
					masq.Add(1)
					o := Flow{Proto: f.Proto, Src: v.DestAddr, SrcPort: v.DestPort, Dst: f.Src, DstPort: f.SrcPort}
					ov := w.Out(&o, TCPFlagACK, 100, now)
					if ov.Action != Forward {
						outMiss.Add(1) // another worker's Expire may have been quicker
					} else if ov.VIP != f.Dst || ov.VPort != f.DstPort {
						t.Errorf("masq reply %+v for %+v", ov, v)
						return
					}
				}
				if i%64 == 0 {
					w.Expire(now, 128)
				}
			}
		}()
	}
	wg.Add(2)
	go func() { // writer
		defer wg.Done()
		r := rand.New(rand.NewPCG(99, 7))
		for i := 0; i < 50*iters && !done.Load(); i++ {
			runtime.Gosched()
			k := keys[r.IntN(len(keys))]
			switch r.IntN(40) {
			case 0:
				_ = b.AddService(ServiceConfig{ServiceKey: k, Scheduler: []SchedName{SchedRR, SchedWLC, SchedSH}[r.IntN(3)], Persistent: k.Port == 0 || r.IntN(2) == 0})
			case 1:
				_ = b.DelService(k)
			case 2, 3, 8, 9, 10, 11, 12, 13, 14, 15, 16:
				_ = b.AddDest(k, DestConfig{Addr: rips[r.IntN(3)], Port: k.Port, Method: Method(r.IntN(3)), Weight: r.IntN(3)})
			case 4:
				_ = b.EditDest(k, DestConfig{Addr: rips[r.IntN(3)], Port: k.Port, Method: Method(r.IntN(3)), Weight: r.IntN(3)})
			case 5:
				_ = b.DelDest(k, rips[r.IntN(3)], k.Port)
			case 6:
				_ = b.EditService(ServiceConfig{ServiceKey: k, Scheduler: "wrr", Persistent: k.Port == 0 || r.IntN(2) == 0, Timeout: time.Duration(1+r.IntN(5)) * time.Second})
			case 7:
				_ = b.SetTimeouts(time.Duration(r.IntN(3))*time.Second, 0, 0)
				if i%8 == 0 {
					b.Clear()
				}
			}
		}
	}()
	go func() { // reader
		defer wg.Done()
		for i := 0; i < 50*iters && !done.Load(); i++ {
			runtime.Gosched()
			_ = b.Services()
			n := 0
			b.Conns(func(ConnInfo) bool { n++; return n < 100 })
			_ = b.Zero(nil)
		}
	}()
	workersWG.Wait()
	done.Store(true)
	wg.Wait()
	if forwarded.Load() < int64(workers*iters/50) || masq.Load() == 0 {
		t.Errorf("only %d of %d packets forwarded (%d masq): the test exercises too little", forwarded.Load(), workers*iters, masq.Load())
	}
	if outMiss.Load() > masq.Load()/100 {
		t.Errorf("%d of %d masq replies found no connection", outMiss.Load(), masq.Load())
	}
	t.Logf("%d of %d packets forwarded, %d masq, %d replies missed", forwarded.Load(), workers*iters, masq.Load(), outMiss.Load())

	// Quiesce: delete everything, expire everything, wait out the grace.
	b.Clear()
	end := clock.Load() + 3600*sec
	// Connections first; templates re-armed by their connections (up to
	// 360 s) next; then the realservers' one-second grace.
	for _, at := range []int64{end, end + 1000*sec, end + 1002*sec, end + 1004*sec} {
		b.Expire(at, 1<<30)
	}
	if n := b.NumConns(); n != 0 {
		t.Errorf("%d entries left", n)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for id, ds := range b.destReg {
		if ds != nil {
			t.Errorf("dest %d (%s) not purged: active %d inact %d persist %d", id, ds.d.Addr,
				ds.d.ActiveConns(), ds.d.InactConns(), ds.d.PersistConns())
		}
	}
	for id, sv := range b.svcReg {
		if sv != nil {
			t.Errorf("service %d not purged", id)
		}
	}
	for i := range b.t.shards {
		s := &b.t.shards[i].shard
		if s.live != 0 {
			t.Errorf("shard %d: %d live", i, s.live)
		}
	}
}

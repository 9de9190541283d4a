package director

import (
	"net/netip"
	"testing"
	"time"

	"github.com/govs-lb/govs/balancer"
	"github.com/govs-lb/govs/internal/control"
)

// TestEstimatorLoopRates runs the 2-second estimator loop against a
// balancer with traffic and waits (bounded) for the control API's view to
// carry the rates ipvsadm --rate prints.
func TestEstimatorLoopRates(t *testing.T) {
	bal := balancer.New(balancer.Config{})
	k := balancer.ServiceKey{Proto: balancer.TCP, Addr: netip.MustParseAddr("198.51.100.1"), Port: 80}
	rip := netip.MustParseAddr("203.0.113.1")
	if err := bal.AddService(balancer.ServiceConfig{ServiceKey: k, Scheduler: "rr"}); err != nil {
		t.Fatal(err)
	}
	if err := bal.AddDest(k, balancer.DestConfig{Addr: rip, Port: 80, Method: balancer.MethodDR, Weight: 1}); err != nil {
		t.Fatal(err)
	}
	w := bal.NewWorker()
	f := &balancer.Flow{Proto: balancer.TCP, Src: [4]byte{192, 0, 2, 1}, SrcPort: 1000, Dst: k.Addr.As4(), DstPort: 80}
	if v := w.In(f, balancer.TCPFlagSYN, 100, 0); v.Action != balancer.Forward {
		t.Fatalf("SYN: %+v", v)
	}
	for range 1999 {
		w.In(f, balancer.TCPFlagACK, 100, 0)
	}
	w.Flush() // the end of the batch: the counters have the packets

	d := &Director{bal: bal}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { defer close(done); d.estimatorLoop(stop) }()
	defer func() { close(stop); <-done }()

	// One tick over 2000 packets of 100 bytes: InPPS (2000<<9>>2 + 511)>>10
	// = 250, InBPS (200000<<4>>2 + 15)>>5 = 25000. Wait for the first
	// non-zero value.
	deadline := time.Now().Add(3*balancer.EstimateInterval + 5*time.Second)
	poll := time.NewTicker(20 * time.Millisecond)
	defer poll.Stop()
	var got []control.ServiceStatus
	for {
		got = servicesOf(bal)
		if len(got) == 1 && got[0].InPPS != 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no rate after %v: %+v", 3*balancer.EstimateInterval, got)
		}
		<-poll.C
	}
	s := got[0]
	// A slow machine may have missed the first tick's value; the next
	// ticks decay it: avg += (0-avg)>>2.
	pps, bps := int64(2000<<9>>2), int64(200000<<4>>2)
	ok := false
	for range 4 {
		if s.InPPS == uint64(pps+0x1FF)>>10 && s.InBPS == uint64(bps+0xF)>>5 {
			ok = true
			break
		}
		pps += -pps >> 2
		bps += -bps >> 2
	}
	if !ok || s.CPS != 0 || s.OutPPS != 0 || s.OutBPS != 0 {
		t.Errorf("service rates %+v, want InPPS 250, InBPS 25000 (or their decay)", s.Stats)
	}
	if s.InPkts != 2000 || s.InBytes != 200000 || s.Conns != 1 {
		t.Errorf("service counters %+v", s.Stats)
	}
	if len(s.Dests) != 1 || s.Dests[0].Stats != s.Stats {
		t.Errorf("realserver stats %+v, want the service's %+v", s.Dests, s.Stats)
	}
}

package director

import (
	"net/netip"
	"testing"
	"time"

	"github.com/govs-lb/govs/balancer"
	"github.com/govs-lb/govs/internal/dataplane"
)

// TestExpireLoopKeepsUp: the sweep scales with the table, so half a million
// expired entries are gone within fifty 50 ms ticks (a fixed 4096 slots per
// tick would need more than a hundred and twenty).
func TestExpireLoopKeepsUp(t *testing.T) {
	if testing.Short() {
		t.Skip("fills a large table") // not an environment skip: -short asks for quick tests
	}
	vipA, rsA := [4]byte{198, 51, 100, 1}, [4]byte{203, 0, 113, 11}
	d := &Director{bal: balancer.New(balancer.Config{MaxConns: 1 << 20})}
	key := balancer.ServiceKey{Proto: balancer.UDP, Addr: netip.AddrFrom4(vipA), Port: 53}
	if err := d.bal.AddService(balancer.ServiceConfig{ServiceKey: key, Scheduler: "rr"}); err != nil {
		t.Fatal(err)
	}
	if err := d.bal.AddDest(key, balancer.DestConfig{Addr: netip.AddrFrom4(rsA), Port: 53, Method: balancer.MethodDR, Weight: 1}); err != nil {
		t.Fatal(err)
	}
	if err := d.bal.SetTimeouts(0, 0, time.Second); err != nil {
		t.Fatal(err)
	}
	w := d.bal.NewWorker()
	const n = 500_000
	now := dataplane.Monotonic()
	for i := range n {
		f := balancer.Flow{Proto: balancer.UDP, Src: [4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}, SrcPort: 1000, Dst: vipA, DstPort: 53}
		if v := w.In(&f, 0, 60, now); v.Action != balancer.Forward {
			t.Fatalf("flow %d: %+v", i, v)
		}
	}
	if got := d.bal.NumConns(); got != n {
		t.Fatalf("%d connections, want %d", got, n)
	}
	// Ticks of expireLoop, one second after the entries expired: within
	// ten ticks (half a second) most of the table must be swept — a fixed
	// 4096 slots per tick would have examined 8% of it — and all of it
	// within fifty.
	later := now + int64(2*time.Second)
	for tick := 1; tick <= 50; tick++ {
		d.expireTick(later)
		if tick == 10 && d.bal.NumConns() > n/2 {
			t.Fatalf("after 10 ticks %d of %d expired entries remain", d.bal.NumConns(), n)
		}
	}
	if left := d.bal.NumConns(); left != 0 {
		t.Fatalf("after 50 ticks %d of %d expired entries remain", left, n)
	}
}

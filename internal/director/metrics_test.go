package director

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/govs-lb/govs/balancer"
	"github.com/govs-lb/govs/internal/control"
	"github.com/govs-lb/govs/internal/dataplane"
	"github.com/govs-lb/govs/internal/metrics"
)

func TestMetricsSource(t *testing.T) {
	bal := balancer.New(balancer.Config{MaxConns: 5000})
	k := balancer.ServiceKey{Proto: balancer.UDP, Addr: netip.MustParseAddr("198.51.100.1"), Port: 53}
	rip := netip.MustParseAddr("203.0.113.1")
	if err := bal.AddService(balancer.ServiceConfig{ServiceKey: k, Scheduler: "rr"}); err != nil {
		t.Fatal(err)
	}
	if err := bal.AddDest(k, balancer.DestConfig{Addr: rip, Port: 53, Method: balancer.MethodDR, Weight: 3}); err != nil {
		t.Fatal(err)
	}
	d := &Director{bal: bal}
	// Workers without capture rings: counters as the dataplane publishes them.
	var workers []publishedCounters
	for i := range 2 {
		w := &fakeWorker{batchMax: int64(1500 * (i + 1))} // ns
		w.c[dataplane.Rx] = uint64(100 * (i + 1))
		w.c[dataplane.Tx] = uint64(90 * (i + 1))
		w.c[dataplane.NoService] = 4
		w.c[dataplane.ARPReply] = 2
		workers = append(workers, w)
	}
	bw := bal.NewWorker()
	for i := range 7 {
		bw.In(&balancer.Flow{Proto: balancer.UDP, Src: [4]byte{192, 0, 2, 1}, SrcPort: uint16(1000 + i), Dst: k.Addr.As4(), DstPort: 53}, 0, 50, 0)
	}
	bal.Expire(1<<62, 1<<20)
	for i := range 3 {
		bw.In(&balancer.Flow{Proto: balancer.UDP, Src: [4]byte{192, 0, 2, 2}, SrcPort: uint16(1000 + i), Dst: k.Addr.As4(), DstPort: 53}, 0, 50, 1<<62)
	}
	bw.Flush()

	src := &metricsSource{d: d, workers: workers, health: func() map[metrics.HealthKey]bool {
		return map[metrics.HealthKey]bool{{
			Service: control.ServiceKey{Protocol: balancer.UDP, Addr: k.Addr, Port: 53},
			Dest:    control.DestKey{Addr: rip, Port: 53},
		}: true}
	}}
	ws := src.Workers()
	if len(ws) != 2 || ws[1].Worker != "1" || ws[1].RxPackets != 200 || ws[1].TxPackets != 180 ||
		ws[1].Drops["no_service"] != 4 || ws[1].Replies["arp"] != 2 || ws[1].Replies["echo"] != 0 {
		t.Fatalf("workers %+v", ws)
	}
	if ws[0].BatchSecondsMax != 1.5e-6 || ws[1].BatchSecondsMax != 3e-6 {
		t.Errorf("batch max %v, %v s: want 1.5e-6, 3e-6", ws[0].BatchSecondsMax, ws[1].BatchSecondsMax)
	}
	if again := src.Workers(); again[1].BatchSecondsMax != 0 {
		t.Errorf("batch max %v s after a scrape with no batch since: want reset to 0", again[1].BatchSecondsMax)
	}
	if _, ok := ws[0].Drops["rx"]; ok || len(ws[0].Drops) != int(dataplane.NumCounters)-4 {
		t.Errorf("drop reasons %v: want every counter but rx, tx, arp_reply, echo_reply", ws[0].Drops)
	}
	if tb := src.Table(); tb != (metrics.TableStats{Entries: 3, Capacity: 5000, Expired: 7}) {
		t.Errorf("table %+v", tb)
	}

	const want = `
# HELP govs_realserver_connections_total Connections scheduled to the realserver (ipvsadm Conns).
# TYPE govs_realserver_connections_total counter
govs_realserver_connections_total{port="53",protocol="udp",rip="203.0.113.1",rport="53",vip="198.51.100.1"} 10
# HELP govs_realserver_weight The realserver's configured weight.
# TYPE govs_realserver_weight gauge
govs_realserver_weight{port="53",protocol="udp",rip="203.0.113.1",rport="53",vip="198.51.100.1"} 3
# HELP govs_realserver_up 1 if the health checker finds the realserver up, 0 if down.
# TYPE govs_realserver_up gauge
govs_realserver_up{port="53",protocol="udp",rip="203.0.113.1",rport="53",vip="198.51.100.1"} 1
# HELP govs_service_bytes_total Bytes through the service, by direction as for packets.
# TYPE govs_service_bytes_total counter
govs_service_bytes_total{direction="in",port="53",protocol="udp",vip="198.51.100.1"} 500
govs_service_bytes_total{direction="out",port="53",protocol="udp",vip="198.51.100.1"} 0
# HELP govs_worker_packets_total Frames a dataplane worker received (rx) and sent (tx).
# TYPE govs_worker_packets_total counter
govs_worker_packets_total{direction="rx",iface="",worker="0"} 100
govs_worker_packets_total{direction="rx",iface="",worker="1"} 200
govs_worker_packets_total{direction="tx",iface="",worker="0"} 90
govs_worker_packets_total{direction="tx",iface="",worker="1"} 180
# HELP govs_conntable_expired_total Connection table entries removed by expiry.
# TYPE govs_conntable_expired_total counter
govs_conntable_expired_total 7
`
	c := metrics.NewCollector(src)
	if err := testutil.CollectAndCompare(c, strings.NewReader(want),
		"govs_realserver_connections_total", "govs_realserver_weight", "govs_realserver_up",
		"govs_service_bytes_total", "govs_worker_packets_total", "govs_conntable_expired_total"); err != nil {
		t.Error(err)
	}
}

// fakeWorker is a dataplane worker's published counters, set by hand.
type fakeWorker struct {
	c        dataplane.Counters
	batchMax int64
}

func (w *fakeWorker) Counters() dataplane.Counters { return w.c }
func (w *fakeWorker) Shedding() bool               { return false }

// TakeBatchMax resets the maximum as dataplane.Worker.TakeBatchMax does.
func (w *fakeWorker) TakeBatchMax() int64 {
	v := w.batchMax
	w.batchMax = 0
	return v
}

var _ publishedCounters = (*dataplane.Worker)(nil)

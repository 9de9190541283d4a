package metrics

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/govs-lb/govs/balancer"
	"github.com/govs-lb/govs/internal/control"
)

// fakeSource is a Source of fixed values.
type fakeSource struct {
	svcs    []control.ServiceStatus
	workers []WorkerStats
	table   TableStats
	health  map[HealthKey]bool
	ifaces  []IfaceStats
}

func (f *fakeSource) Services() []control.ServiceStatus { return f.svcs }
func (f *fakeSource) Workers() []WorkerStats            { return f.workers }
func (f *fakeSource) Table() TableStats                 { return f.table }
func (f *fakeSource) Health() map[HealthKey]bool        { return f.health }
func (f *fakeSource) Ifaces() []IfaceStats              { return f.ifaces }

var (
	svcKey = control.ServiceKey{Protocol: balancer.TCP, Addr: netip.MustParseAddr("198.51.100.1"), Port: 80}
	rs1    = control.DestKey{Addr: netip.MustParseAddr("203.0.113.1"), Port: 8080}
	rs2    = control.DestKey{Addr: netip.MustParseAddr("203.0.113.2"), Port: 8080}
	rs3    = control.DestKey{Addr: netip.MustParseAddr("203.0.113.3"), Port: 8080}
)

func newFake() *fakeSource {
	return &fakeSource{
		svcs: []control.ServiceStatus{{
			ServiceSpec: control.ServiceSpec{ServiceKey: svcKey, Scheduler: "wlc"},
			Stats: control.Stats{Conns: 10, InPkts: 100, OutPkts: 50, InBytes: 6000, OutBytes: 70000,
				CPS: 1, InPPS: 2, OutPPS: 3, InBPS: 4, OutBPS: 5},
			Dests: []control.DestStatus{
				{
					DestSpec:    control.DestSpec{Addr: rs1.Addr, Port: rs1.Port, Method: balancer.MethodMasq, Weight: 5},
					ActiveConns: 3, InactConns: 2, PersistConns: 1,
					Stats: control.Stats{Conns: 6, InPkts: 60, OutPkts: 30, InBytes: 3600, OutBytes: 42000,
						CPS: 1, InPPS: 2, OutPPS: 2, InBPS: 3, OutBPS: 4},
				},
				{
					DestSpec:    control.DestSpec{Addr: rs2.Addr, Port: rs2.Port, Method: balancer.MethodMasq, Weight: 1},
					ActiveConns: 1,
					Stats:       control.Stats{Conns: 4, InPkts: 40, OutPkts: 20, InBytes: 2400, OutBytes: 28000},
				},
			},
		}},
		workers: []WorkerStats{{
			Worker: "0", Iface: "eth0", RxPackets: 1000, TxPackets: 900,
			Drops:       map[string]uint64{"no_service": 7, "table_full": 2},
			Replies:     map[string]uint64{"arp": 3},
			RingPackets: 1000, RingDrops: 5, RingFreezes: 1,
			BatchSecondsMax: 0.0025, Shedding: true,
		}},
		ifaces: []IfaceStats{{Iface: "eth0", XDPMode: "native", XDPShed: 1234}, {Iface: "eth1"}},
		table:  TableStats{Entries: 42, Capacity: 1 << 20, Expired: 99},
		health: map[HealthKey]bool{
			{svcKey, rs1}: true,
			{svcKey, rs3}: false, // down and taken out of the service
		},
	}
}

func TestCollectorValues(t *testing.T) {
	c := NewCollector(newFake())
	const want = `
# HELP govs_realserver_packets_total Packets through the realserver: in is client to realserver, out is realserver to client (masq).
# TYPE govs_realserver_packets_total counter
govs_realserver_packets_total{direction="in",port="80",protocol="tcp",rip="203.0.113.1",rport="8080",vip="198.51.100.1"} 60
govs_realserver_packets_total{direction="in",port="80",protocol="tcp",rip="203.0.113.2",rport="8080",vip="198.51.100.1"} 40
govs_realserver_packets_total{direction="out",port="80",protocol="tcp",rip="203.0.113.1",rport="8080",vip="198.51.100.1"} 30
govs_realserver_packets_total{direction="out",port="80",protocol="tcp",rip="203.0.113.2",rport="8080",vip="198.51.100.1"} 20
# HELP govs_realserver_active_connections Connections in ESTABLISHED state (ipvsadm ActiveConn).
# TYPE govs_realserver_active_connections gauge
govs_realserver_active_connections{port="80",protocol="tcp",rip="203.0.113.1",rport="8080",vip="198.51.100.1"} 3
govs_realserver_active_connections{port="80",protocol="tcp",rip="203.0.113.2",rport="8080",vip="198.51.100.1"} 1
# HELP govs_realserver_persistent_connections Persistence templates pointing at the realserver.
# TYPE govs_realserver_persistent_connections gauge
govs_realserver_persistent_connections{port="80",protocol="tcp",rip="203.0.113.1",rport="8080",vip="198.51.100.1"} 1
govs_realserver_persistent_connections{port="80",protocol="tcp",rip="203.0.113.2",rport="8080",vip="198.51.100.1"} 0
# HELP govs_realserver_up 1 if the health checker finds the realserver up, 0 if down.
# TYPE govs_realserver_up gauge
govs_realserver_up{port="80",protocol="tcp",rip="203.0.113.1",rport="8080",vip="198.51.100.1"} 1
govs_realserver_up{port="80",protocol="tcp",rip="203.0.113.3",rport="8080",vip="198.51.100.1"} 0
# HELP govs_service_connections_total Connections scheduled to the service (ipvsadm Conns).
# TYPE govs_service_connections_total counter
govs_service_connections_total{port="80",protocol="tcp",vip="198.51.100.1"} 10
# HELP govs_service_bytes_total Bytes through the service, by direction as for packets.
# TYPE govs_service_bytes_total counter
govs_service_bytes_total{direction="in",port="80",protocol="tcp",vip="198.51.100.1"} 6000
govs_service_bytes_total{direction="out",port="80",protocol="tcp",vip="198.51.100.1"} 70000
# HELP govs_service_connections_per_second New connections per second, IPVS's 2-second estimator (ipvsadm --rate CPS).
# TYPE govs_service_connections_per_second gauge
govs_service_connections_per_second{port="80",protocol="tcp",vip="198.51.100.1"} 1
# HELP govs_service_bytes_per_second Bytes per second, IPVS's 2-second estimator (ipvsadm --rate InBPS, OutBPS).
# TYPE govs_service_bytes_per_second gauge
govs_service_bytes_per_second{direction="in",port="80",protocol="tcp",vip="198.51.100.1"} 4
govs_service_bytes_per_second{direction="out",port="80",protocol="tcp",vip="198.51.100.1"} 5
# HELP govs_service_packets_per_second Packets per second, IPVS's 2-second estimator (ipvsadm --rate InPPS, OutPPS).
# TYPE govs_service_packets_per_second gauge
govs_service_packets_per_second{direction="in",port="80",protocol="tcp",vip="198.51.100.1"} 2
govs_service_packets_per_second{direction="out",port="80",protocol="tcp",vip="198.51.100.1"} 3
# HELP govs_service_active_connections Connections in ESTABLISHED state (ipvsadm ActiveConn).
# TYPE govs_service_active_connections gauge
govs_service_active_connections{port="80",protocol="tcp",vip="198.51.100.1"} 4
# HELP govs_service_inactive_connections Connections in other states (ipvsadm InActConn).
# TYPE govs_service_inactive_connections gauge
govs_service_inactive_connections{port="80",protocol="tcp",vip="198.51.100.1"} 2
# HELP govs_worker_packets_total Frames a dataplane worker received (rx) and sent (tx).
# TYPE govs_worker_packets_total counter
govs_worker_packets_total{direction="rx",iface="eth0",worker="0"} 1000
govs_worker_packets_total{direction="tx",iface="eth0",worker="0"} 900
# HELP govs_worker_drops_total Frames a dataplane worker did not forward, by reason.
# TYPE govs_worker_drops_total counter
govs_worker_drops_total{iface="eth0",reason="no_service",worker="0"} 7
govs_worker_drops_total{iface="eth0",reason="table_full",worker="0"} 2
# HELP govs_worker_replies_total Frames a dataplane worker answered itself, by kind.
# TYPE govs_worker_replies_total counter
govs_worker_replies_total{iface="eth0",kind="arp",worker="0"} 3
# HELP govs_capture_ring_drops_total Frames the kernel dropped because the capture ring was full (tp_drops).
# TYPE govs_capture_ring_drops_total counter
govs_capture_ring_drops_total{iface="eth0",worker="0"} 5
# HELP govs_capture_ring_freezes_total Times the capture ring froze with every block in user space (tp_freeze_q_cnt).
# TYPE govs_capture_ring_freezes_total counter
govs_capture_ring_freezes_total{iface="eth0",worker="0"} 1
# HELP govs_worker_batch_seconds_max Longest time a dataplane worker spent on one received batch (receive to sent and released) since the previous scrape; each scrape resets it.
# TYPE govs_worker_batch_seconds_max gauge
govs_worker_batch_seconds_max{iface="eth0",worker="0"} 0.0025
# HELP govs_worker_shedding 1 while the worker's capture ring is behind and it has the interface's XDP program shed VIP traffic.
# TYPE govs_worker_shedding gauge
govs_worker_shedding{iface="eth0",worker="0"} 1
# HELP govs_xdp_shed_frames_total Frames to a VIP that the XDP load-shedding program dropped before the kernel's receive path while workers were behind.
# TYPE govs_xdp_shed_frames_total counter
govs_xdp_shed_frames_total{iface="eth0"} 1234
# HELP govs_xdp_attached 1 for each capture interface with govs's XDP load-shedding program attached, by mode (native or generic).
# TYPE govs_xdp_attached gauge
govs_xdp_attached{iface="eth0",mode="native"} 1
# HELP govs_conntable_entries Connections and persistence templates in the connection table.
# TYPE govs_conntable_entries gauge
govs_conntable_entries 42
# HELP govs_conntable_capacity Most entries the connection table holds.
# TYPE govs_conntable_capacity gauge
govs_conntable_capacity 1.048576e+06
# HELP govs_conntable_expired_total Connection table entries removed by expiry.
# TYPE govs_conntable_expired_total counter
govs_conntable_expired_total 99
`
	names := []string{
		"govs_realserver_packets_total", "govs_realserver_active_connections",
		"govs_realserver_persistent_connections", "govs_realserver_up",
		"govs_service_connections_total", "govs_service_bytes_total",
		"govs_service_connections_per_second", "govs_service_bytes_per_second",
		"govs_service_packets_per_second", "govs_service_active_connections",
		"govs_service_inactive_connections", "govs_worker_packets_total",
		"govs_worker_drops_total", "govs_worker_replies_total",
		"govs_capture_ring_drops_total", "govs_capture_ring_freezes_total",
		"govs_worker_batch_seconds_max", "govs_worker_shedding", "govs_xdp_shed_frames_total", "govs_xdp_attached", "govs_conntable_entries", "govs_conntable_capacity", "govs_conntable_expired_total",
	}
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}
	// Every series: 14 per realserver (12 stats, persistent, weight), 12
	// for the service, 2 health, 10 for the worker (rx, tx, 2 drops, 1
	// reply, 3 ring, batch max, shedding), 2 for eth0's XDP program (eth1
	// has none), 3 for the table.
	if n := testutil.CollectAndCount(c); n != 2*14+12+2+10+2+3 {
		t.Errorf("%d series", n)
	}
	problems, err := testutil.CollectAndLint(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

func TestCollectorEmpty(t *testing.T) {
	// A daemon with no services, no workers and no checker still reports
	// its table.
	c := NewCollector(&fakeSource{table: TableStats{Capacity: 10}})
	if n := testutil.CollectAndCount(c); n != 3 {
		t.Errorf("%d series, want the 3 of the table", n)
	}
	if n := testutil.CollectAndCount(c, "govs_realserver_up"); n != 0 {
		t.Errorf("%d govs_realserver_up series without a checker", n)
	}
}

func TestBindAddr(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{":9100", "127.0.0.1:9100"},
		{"127.0.0.1:9100", "127.0.0.1:9100"},
		{"0.0.0.0:9100", "0.0.0.0:9100"},
		{"[::1]:9100", "[::1]:9100"},
		{"localhost:9100", "localhost:9100"},
		{":0", "127.0.0.1:0"},
		{"9100", ""},
		{"", ""},
		{"127.0.0.1:", ""},
	} {
		got, err := BindAddr(tc.in)
		if (err != nil) != (tc.want == "") || got != tc.want {
			t.Errorf("BindAddr(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestServeScrape(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- ServeListener(ctx, ln, newFake()) }()

	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get("http://" + ln.Addr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %s: %s", resp.Status, body)
	}
	for _, line := range []string{
		`govs_service_connections_total{port="80",protocol="tcp",vip="198.51.100.1"} 10`,
		`govs_realserver_weight{port="80",protocol="tcp",rip="203.0.113.1",rport="8080",vip="198.51.100.1"} 5`,
		`govs_capture_ring_packets_total{iface="eth0",worker="0"} 1000`,
		`govs_conntable_expired_total 99`,
		`# TYPE go_goroutines gauge`,
	} {
		if !strings.Contains(string(body), line+"\n") {
			t.Errorf("scrape lacks %q", line)
		}
	}
	if resp, err := client.Get("http://" + ln.Addr().String() + "/"); err != nil {
		t.Error(err)
	} else if resp.Body.Close(); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /: %s, want 404", resp.Status)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("ServeListener after cancel: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("ServeListener did not return after cancel")
	}
	if _, err := client.Get("http://" + ln.Addr().String() + "/metrics"); err == nil {
		t.Error("still serving after cancel")
	}
}

func TestServeListenError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	// The port is taken: Serve must fail at once, not block.
	if err := Serve(context.Background(), ln.Addr().String(), newFake()); err == nil {
		t.Error("Serve on a busy port returned nil")
	}
	if err := Serve(context.Background(), "9100", newFake()); err == nil {
		t.Error("Serve without a port separator returned nil")
	}
}

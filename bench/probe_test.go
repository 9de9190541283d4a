package bench

import (
	"math"
	"strings"
	"testing"
	"time"
)

func TestParseMetrics(t *testing.T) {
	body := `# HELP go_memstats_mallocs_total Total number of mallocs.
# TYPE go_memstats_mallocs_total counter
go_memstats_mallocs_total 12345
govs_worker_packets_total{direction="rx",worker="0"} 100
govs_worker_packets_total{direction="tx",worker="0"} 90
govs_worker_packets_total{direction="rx",worker="1"} 5
govs_worker_drops_total{reason="tx_full",worker="0"} 7
govs_capture_ring_drops_total{iface="eth0",worker="0"} 3e+06
govs_worker_batch_seconds_max{iface="eth0",worker="0"} 0.002
govs_worker_batch_seconds_max{iface="eth0",worker="1"} 0.005
govs_worker_batch_seconds_max{iface="eth1",worker="2"} 0.001
`
	m := parseMetrics(body)
	for k, want := range map[string]float64{
		"go_memstats_mallocs_total":         12345,
		"govs_worker_packets_total":         195,
		"govs_worker_packets_total/rx":      105,
		"govs_worker_packets_total/tx":      90,
		"govs_worker_drops_total/tx_full":   7,
		"govs_capture_ring_drops_total":     3e6,
		"govs_worker_batch_seconds_max/max": 0.005,
		"govs_worker_packets_total/max":     100,
	} {
		if m[k] != want {
			t.Errorf("%s = %v, want %v", k, m[k], want)
		}
	}
}

func TestDaemonNote(t *testing.T) {
	m0 := map[string]float64{"go_memstats_mallocs_total": 1000}
	m1 := map[string]float64{"go_memstats_mallocs_total": 1100} // 100/s idle
	m2 := map[string]float64{"go_memstats_mallocs_total": 1300, "govs_capture_ring_packets_total": 1e6, "govs_xdp_shed_frames_total": 5e5}
	note, allocs := daemonNote(m0, m1, m2, time.Second, 2*time.Second)
	if allocs != 0 || !strings.Contains(note, "1000000 frames") || !strings.Contains(note, "XDP shed 500000 frames") {
		t.Errorf("allocs %v, note %q: want 0 per frame over 1000000 frames", allocs, note)
	}
	if _, a := daemonNote(m0, m1, m1, time.Second, time.Second); !math.IsNaN(a) {
		t.Errorf("no frames: allocs %v, want NaN", a)
	}
}

func TestWriteJSONNonFinite(t *testing.T) {
	r := &Results{Rounds: []RoundResult{{Subject: SubjectGovs, Figures: map[string]float64{FigCost: math.NaN(), FigRate99: 1},
		Points: []Point{{Offered: 1, BusyCores: math.NaN()}}}}}
	r.Summarize([]string{SubjectGovs})
	var b strings.Builder
	if err := r.WriteJSON(&b); err != nil || !strings.Contains(b.String(), "zero_loss_pps") {
		t.Fatalf("WriteJSON: %v: %s", err, b.String())
	}
}

func TestTableNote(t *testing.T) {
	m1 := map[string]float64{"govs_conntable_entries": 1000, "process_resident_memory_bytes": 60e6}
	m2 := map[string]float64{"govs_conntable_entries": 1001000, "process_resident_memory_bytes": 130e6,
		"govs_conntable_expired_total": 5, "govs_worker_batch_seconds_max/max": 0.0031}
	note := tableNote(m1, m2)
	for _, want := range []string{"1000 → 1001000 entries", "(5 expired", "60.0 → 130.0 MB (70.0 B per entry added)", "worst batch 3.10 ms"} {
		if !strings.Contains(note, want) {
			t.Errorf("note %q lacks %q", note, want)
		}
	}
}

package bench

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// parseMetrics reads the Prometheus text format: each metric's samples
// summed over their labels, their largest value ("NAME/max"), and also by
// reason or direction label ("govs_worker_drops_total/tx_full",
// "govs_worker_packets_total/rx").
func parseMetrics(body string) map[string]float64 {
	m := map[string]float64{}
	seen := map[string]bool{}
	for _, line := range strings.Split(body, "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		sp := strings.LastIndexByte(line, ' ')
		if sp < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[sp+1:], 64)
		if err != nil {
			continue
		}
		series := line[:sp]
		name, labels, _ := strings.Cut(series, "{")
		m[name] += v
		if !seen[name] || v > m[name+"/max"] {
			m[name+"/max"] = v
		}
		seen[name] = true
		for _, l := range []string{`reason="`, `direction="`} {
			if _, r, ok := strings.Cut(labels, l); ok {
				r, _, _ = strings.Cut(r, `"`)
				m[name+"/"+r] += v
			}
		}
	}
	return m
}

// daemonNote describes what the daemon counted in a window: m0 → m1 is an
// idle stretch of idle duration (the background allocation rate: expiry,
// estimator, the scrapes themselves), m1 → m2 the measured window of
// duration busy. allocs is the allocations per received frame beyond the
// background rate.
func daemonNote(m0, m1, m2 map[string]float64, idle, busy time.Duration) (note string, allocs float64) {
	d := func(k string) float64 { return m2[k] - m1[k] }
	rx := d("govs_capture_ring_packets_total")
	bg := (m1["go_memstats_mallocs_total"] - m0["go_memstats_mallocs_total"]) / idle.Seconds()
	extra := d("go_memstats_mallocs_total") - bg*busy.Seconds()
	allocs = math.NaN()
	if rx > 0 {
		allocs = extra / rx
	}
	note = fmt.Sprintf("daemon: XDP shed %.0f frames; capture ring %.0f frames, %.0f dropped (ring full), %.0f freezes; worker rx %.0f tx %.0f tx_full %.0f; "+
		"mallocs %.0f in %.1f s (idle rate %.0f/s): %.4f per frame",
		d("govs_xdp_shed_frames_total"), rx, d("govs_capture_ring_drops_total"), d("govs_capture_ring_freezes_total"),
		d("govs_worker_packets_total/rx"), d("govs_worker_packets_total/tx"), d("govs_worker_drops_total/tx_full"),
		d("go_memstats_mallocs_total"), busy.Seconds(), bg, allocs)
	return note, allocs
}

// tableNote describes the daemon's connection table and memory across a
// fixed-rate window (m1 before, m2 after): entries added, resident memory
// grown per entry added, entries expired, and the worst batch of any
// worker during the window (the gauge is reset by every scrape, so m2's
// covers the window).
func tableNote(m1, m2 map[string]float64) string {
	d := func(k string) float64 { return m2[k] - m1[k] }
	added := d("govs_conntable_entries")
	per := math.NaN()
	if added > 0 {
		per = d("process_resident_memory_bytes") / added
	}
	return fmt.Sprintf("daemon: connection table %.0f → %.0f entries (%.0f expired in the window), RSS %.1f → %.1f MB (%.1f B per entry added); "+
		"worst batch %.2f ms; table_full drops %.0f",
		m1["govs_conntable_entries"], m2["govs_conntable_entries"], d("govs_conntable_expired_total"),
		m1["process_resident_memory_bytes"]/1e6, m2["process_resident_memory_bytes"]/1e6, per,
		1e3*m2["govs_worker_batch_seconds_max/max"], d("govs_worker_drops_total/table_full"))
}

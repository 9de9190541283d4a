package bench

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// parseMetrics reads the Prometheus text format: each metric's samples
// summed over their labels, and also by reason or direction label
// ("govs_worker_drops_total/tx_full", "govs_worker_packets_total/rx").
func parseMetrics(body string) map[string]float64 {
	m := map[string]float64{}
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
	note = fmt.Sprintf("daemon: capture ring %.0f frames, %.0f dropped (ring full), %.0f freezes; worker rx %.0f tx %.0f tx_full %.0f; "+
		"mallocs %.0f in %.1f s (idle rate %.0f/s): %.4f per frame",
		rx, d("govs_capture_ring_drops_total"), d("govs_capture_ring_freezes_total"),
		d("govs_worker_packets_total/rx"), d("govs_worker_packets_total/tx"), d("govs_worker_drops_total/tx_full"),
		d("go_memstats_mallocs_total"), busy.Seconds(), bg, allocs)
	return note, allocs
}

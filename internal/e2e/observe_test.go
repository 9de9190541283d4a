//go:build linux

package e2e

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestMetricsAndRates checks the numbers people look at: Prometheus
// metrics on --metrics (loopback only) and ipvsadm's --rate, fed by real
// traffic, with two workers sharing the rings through fanout.
func TestMetricsAndRates(t *testing.T) {
	topo, d := routedLab(t, 2, "--workers", "2", "--metrics", ":9477")
	prepareRealservers(t, topo, false)
	for _, rs := range topo.Realservers {
		if _, err := rs.ServeHTTP(vip+":80", ""); err != nil {
			t.Fatal(err)
		}
	}
	d.govs("-A", "-t", vip+":80", "-s", "rr")
	for i := range topo.Realservers {
		d.govs("-a", "-t", vip+":80", "-r", rip(topo, i), "-g")
	}
	got := getN(t, topo.Client, "http://"+vip+"/", 8)
	assertAlternates(t, got, []string{"rs1", "rs2"})

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var body string
	waitFor(t, "worker counters in /metrics", 5*time.Second, func() bool {
		var err error
		body, err = topo.Director.HTTPGet(ctx, "http://127.0.0.1:9477/metrics")
		return err == nil && strings.Contains(body, "govs_worker_packets_total")
	})
	for _, want := range []string{
		`govs_service_connections_total{port="80",protocol="tcp",vip="198.51.100.1"} 8`,
		`govs_realserver_connections_total{port="80",protocol="tcp",rip="203.0.113.11",rport="80",vip="198.51.100.1"} 4`,
		`govs_conntable_capacity`,
		`govs_capture_ring_packets_total`,
		// XDP load shedding is on by default, in the driver (veth has native XDP).
		`govs_xdp_attached{iface="eth0",mode="native"} 1`,
		`govs_xdp_shed_frames_total{iface="eth0"} 0`,
		`govs_worker_shedding{iface="eth0",worker="0"} 0`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	// Not reachable from outside the director: bound to loopback.
	if _, err := topo.Client.HTTPGet(ctx, "http://"+topo.DirectorClientAddr.Addr().String()+":9477/metrics"); err == nil {
		t.Errorf("metrics answered on the director's external address")
	}

	// The estimator samples every 2 s: wait for a non-zero CPS.
	waitFor(t, "a connection rate in govs -L -n --rate", 8*time.Second, func() bool {
		out := d.govs("-L", "-n", "--rate")
		for _, line := range strings.Split(out, "\n") {
			f := strings.Fields(line)
			if len(f) >= 3 && f[0] == "TCP" && f[2] != "0" {
				return true
			}
		}
		return false
	})
}

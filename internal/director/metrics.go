package director

import (
	"context"
	"strconv"
	"sync"

	"github.com/govs-lb/govs/internal/control"
	"github.com/govs-lb/govs/internal/dataplane"
	"github.com/govs-lb/govs/internal/metrics"
)

// metricsSource is metrics.Source over a running Director. It reads
// d.rxs, which openSockets fills before the daemon serves anything and
// which never changes afterwards.
type metricsSource struct {
	d *Director

	// workers are d.workers (*dataplane.Worker), one per capture ring in
	// the same order.
	workers []publishedCounters

	// health returns the health checker's view of its realservers; nil
	// while no checker runs (then no govs_realserver_up series exist).
	health func() map[metrics.HealthKey]bool

	// ringMu serialises afpacket.Socket.Stats, which adds the kernel's
	// counters (reset by every read) into the socket: two scrapes at once
	// must not both do it.
	ringMu sync.Mutex
}

var _ metrics.Source = (*metricsSource)(nil)

// Services returns what the control API's List returns.
func (m *metricsSource) Services() []control.ServiceStatus { return servicesOf(m.d.bal) }

// publishedCounters is what metrics read of a dataplane worker.
type publishedCounters interface {
	Counters() dataplane.Counters
	Shedding() bool
	TakeBatchMax() int64
}

// Workers returns each worker's published counters, split into packets,
// drops by reason and replies (named as dataplane.Counter names them),
// with its capture ring's PACKET_STATISTICS and its longest batch since
// the previous call (which this call resets).
func (m *metricsSource) Workers() []metrics.WorkerStats {
	d := m.d
	m.ringMu.Lock()
	defer m.ringMu.Unlock()
	out := make([]metrics.WorkerStats, len(m.workers))
	for i, w := range m.workers {
		c := w.Counters()
		ws := metrics.WorkerStats{
			Worker:    strconv.Itoa(i),
			RxPackets: c[dataplane.Rx],
			TxPackets: c[dataplane.Tx],
			Drops:     make(map[string]uint64, dataplane.NumCounters),
			Replies:   map[string]uint64{"arp": c[dataplane.ARPReply], "echo": c[dataplane.EchoReply]},

			BatchSecondsMax: float64(w.TakeBatchMax()) / 1e9, // reset by this scrape
			Shedding:        w.Shedding(),
		}
		for j := range dataplane.NumCounters {
			switch j {
			case dataplane.Rx, dataplane.Tx, dataplane.ARPReply, dataplane.EchoReply:
			default:
				ws.Drops[j.String()] = c[j]
			}
		}
		if i < len(d.rxs) { // one capture ring per worker, in the same order
			rx := d.rxs[i]
			st, _ := rx.Stats() // on error: the totals so far
			ws.RingPackets, ws.RingDrops, ws.RingFreezes = st.Packets, st.Drops, st.FreezeQCnt
			for pi, p := range d.ports {
				if p.Ifindex == rx.Ifindex() && pi < len(d.names) {
					ws.Iface = d.names[pi]
				}
			}
		}
		out[i] = ws
	}
	return out
}

// Ifaces returns each capture interface's XDP load-shedding numbers.
func (m *metricsSource) Ifaces() []metrics.IfaceStats {
	d := m.d
	out := make([]metrics.IfaceStats, len(d.ports))
	for i, p := range d.ports {
		out[i] = metrics.IfaceStats{Iface: d.names[i], XDPMode: d.shed.Mode(p.Ifindex), XDPShed: d.shed.Gate(p.Ifindex).Shed()}
	}
	return out
}

// Table returns the balancer's connection table numbers.
func (m *metricsSource) Table() metrics.TableStats {
	b := m.d.bal
	return metrics.TableStats{Entries: b.NumConns(), Capacity: b.MaxConns(), Expired: b.Expired()}
}

// Health returns the health checker's states, nil without one.
func (m *metricsSource) Health() map[metrics.HealthKey]bool {
	if m.health == nil {
		return nil
	}
	return m.health()
}

// serveMetrics serves Prometheus metrics on addr (loopback when addr names
// no host, see metrics.BindAddr) until ctx is done. It returns at once when
// it cannot listen, and nil once ctx is done. Call it after openSockets.
func (d *Director) serveMetrics(ctx context.Context, addr string) error {
	src := &metricsSource{d: d, health: d.healthStates}
	for _, w := range d.workers {
		src.workers = append(src.workers, w)
	}
	return metrics.Serve(ctx, addr, src)
}

package metrics

import (
	"slices"
	"strconv"

	"github.com/govs-lb/govs/internal/control"
	"github.com/prometheus/client_golang/prometheus"
)

// Source is what a Collector reads at every scrape. Its methods may be
// called from several scrapes at once and must be safe for that.
type Source interface {
	// Services returns the services and realservers with their counters
	// and rates, as the control API's List does.
	Services() []control.ServiceStatus
	// Workers returns each dataplane worker's counters.
	Workers() []WorkerStats
	// Table returns the connection table's numbers.
	Table() TableStats
	// Health returns the state of every realserver a health checker
	// watches, true for up. A realserver without a checker is absent (and
	// gets no govs_realserver_up series); one that is down stays present
	// even when the checker has taken it out of its service. Nil when no
	// checker runs.
	Health() map[HealthKey]bool
	// Ifaces returns the load-shedding numbers of each capture interface.
	Ifaces() []IfaceStats
}

// IfaceStats are one capture interface's XDP load-shedding numbers
// (internal/xdpshed).
type IfaceStats struct {
	Iface   string
	XDPMode string // "native", "generic", or "" when no program is attached
	XDPShed uint64 // frames to a VIP the program dropped while workers were behind
}

// HealthKey names a realserver of a service.
type HealthKey struct {
	Service control.ServiceKey
	Dest    control.DestKey
}

// WorkerStats are one dataplane worker's counters and its capture ring's.
type WorkerStats struct {
	Worker string // label value, unique per worker ("0", "1", …)
	Iface  string // the interface it captures on

	RxPackets, TxPackets uint64
	Drops                map[string]uint64 // frames not forwarded, by reason
	Replies              map[string]uint64 // frames answered by the director itself, by kind ("arp", "echo")

	// The capture ring's PACKET_STATISTICS (afpacket.Stats), summed over
	// its life.
	RingPackets, RingDrops, RingFreezes uint64

	// BatchSecondsMax is the longest time the worker spent on one received
	// batch (from the receive call's return to the batch sent and its ring
	// block released) since the previous scrape: reading it starts a new
	// maximum, so with several scrapers each sees the worst batch since
	// whichever scrape came before.
	BatchSecondsMax float64

	// Shedding is true while the worker's ring is behind and it asks the
	// interface's XDP program to shed (xdpshed.Valve).
	Shedding bool
}

// TableStats are the connection table's numbers.
type TableStats struct {
	Entries  int    // connections and persistence templates now
	Capacity int    // most entries the table holds
	Expired  uint64 // entries removed by expiry since the daemon started
}

var (
	svcLabels  = []string{"protocol", "vip", "port"}
	destLabels = []string{"protocol", "vip", "port", "rip", "rport"}
	wrkLabels  = []string{"worker", "iface"}
)

func with(l []string, more ...string) []string { return append(slices.Clip(l), more...) }

// family is one set of per-service and per-realserver descriptions.
type family struct {
	conns, pkts, bytes, cps, pps, bps, active, inact *prometheus.Desc
}

func newFamily(kind string, labels []string) family {
	name := func(n string) string { return "govs_" + kind + "_" + n }
	dir := with(labels, "direction")
	return family{
		conns:  prometheus.NewDesc(name("connections_total"), "Connections scheduled to the "+kind+" (ipvsadm Conns).", labels, nil),
		pkts:   prometheus.NewDesc(name("packets_total"), "Packets through the "+kind+": in is client to realserver, out is realserver to client (masq).", dir, nil),
		bytes:  prometheus.NewDesc(name("bytes_total"), "Bytes through the "+kind+", by direction as for packets.", dir, nil),
		cps:    prometheus.NewDesc(name("connections_per_second"), "New connections per second, IPVS's 2-second estimator (ipvsadm --rate CPS).", labels, nil),
		pps:    prometheus.NewDesc(name("packets_per_second"), "Packets per second, IPVS's 2-second estimator (ipvsadm --rate InPPS, OutPPS).", dir, nil),
		bps:    prometheus.NewDesc(name("bytes_per_second"), "Bytes per second, IPVS's 2-second estimator (ipvsadm --rate InBPS, OutBPS).", dir, nil),
		active: prometheus.NewDesc(name("active_connections"), "Connections in ESTABLISHED state (ipvsadm ActiveConn).", labels, nil),
		inact:  prometheus.NewDesc(name("inactive_connections"), "Connections in other states (ipvsadm InActConn).", labels, nil),
	}
}

func (f family) descs() []*prometheus.Desc {
	return []*prometheus.Desc{f.conns, f.pkts, f.bytes, f.cps, f.pps, f.bps, f.active, f.inact}
}

// Collector is a prometheus.Collector over a Source.
type Collector struct {
	src Source

	svc, dest                        family
	persist, weight, up              *prometheus.Desc
	wPkts, wDrops, wReplies          *prometheus.Desc
	wBatchMax, wShedding             *prometheus.Desc
	xdpShed, xdpMode                 *prometheus.Desc
	ringPkts, ringDrops, ringFreezes *prometheus.Desc
	entries, capacity, expired       *prometheus.Desc
}

var _ prometheus.Collector = (*Collector)(nil)

// NewCollector returns a Collector that reads src at every scrape.
func NewCollector(src Source) *Collector {
	return &Collector{
		src:     src,
		svc:     newFamily("service", svcLabels),
		dest:    newFamily("realserver", destLabels),
		persist: prometheus.NewDesc("govs_realserver_persistent_connections", "Persistence templates pointing at the realserver.", destLabels, nil),
		weight:  prometheus.NewDesc("govs_realserver_weight", "The realserver's configured weight.", destLabels, nil),
		up:      prometheus.NewDesc("govs_realserver_up", "1 if the health checker finds the realserver up, 0 if down.", destLabels, nil),

		wPkts:    prometheus.NewDesc("govs_worker_packets_total", "Frames a dataplane worker received (rx) and sent (tx).", with(wrkLabels, "direction"), nil),
		wDrops:   prometheus.NewDesc("govs_worker_drops_total", "Frames a dataplane worker did not forward, by reason.", with(wrkLabels, "reason"), nil),
		wReplies: prometheus.NewDesc("govs_worker_replies_total", "Frames a dataplane worker answered itself, by kind.", with(wrkLabels, "kind"), nil),
		wBatchMax: prometheus.NewDesc("govs_worker_batch_seconds_max",
			"Longest time a dataplane worker spent on one received batch (receive to sent and released) since the previous scrape; each scrape resets it.", wrkLabels, nil),
		wShedding: prometheus.NewDesc("govs_worker_shedding", "1 while the worker's capture ring is behind and it has the interface's XDP program shed VIP traffic.", wrkLabels, nil),
		xdpShed:   prometheus.NewDesc("govs_xdp_shed_frames_total", "Frames to a VIP that the XDP load-shedding program dropped before the kernel's receive path while workers were behind.", []string{"iface"}, nil),
		xdpMode:   prometheus.NewDesc("govs_xdp_attached", "1 for each capture interface with govs's XDP load-shedding program attached, by mode (native or generic).", []string{"iface", "mode"}, nil),

		ringPkts:    prometheus.NewDesc("govs_capture_ring_packets_total", "Frames the capture ring's filter passed (PACKET_STATISTICS tp_packets).", wrkLabels, nil),
		ringDrops:   prometheus.NewDesc("govs_capture_ring_drops_total", "Frames the kernel dropped because the capture ring was full (tp_drops).", wrkLabels, nil),
		ringFreezes: prometheus.NewDesc("govs_capture_ring_freezes_total", "Times the capture ring froze with every block in user space (tp_freeze_q_cnt).", wrkLabels, nil),

		entries:  prometheus.NewDesc("govs_conntable_entries", "Connections and persistence templates in the connection table.", nil, nil),
		capacity: prometheus.NewDesc("govs_conntable_capacity", "Most entries the connection table holds.", nil, nil),
		expired:  prometheus.NewDesc("govs_conntable_expired_total", "Connection table entries removed by expiry.", nil, nil),
	}
}

// Describe sends every metric's description.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range slices.Concat(c.svc.descs(), c.dest.descs(), []*prometheus.Desc{
		c.persist, c.weight, c.up, c.wPkts, c.wDrops, c.wReplies, c.wBatchMax, c.wShedding, c.xdpShed, c.xdpMode,
		c.ringPkts, c.ringDrops, c.ringFreezes, c.entries, c.capacity, c.expired,
	}) {
		ch <- d
	}
}

func svcValues(k control.ServiceKey) []string {
	return []string{k.Protocol.Name(), k.Addr.String(), strconv.Itoa(int(k.Port))}
}

func destValues(k control.ServiceKey, d control.DestKey) []string {
	return append(svcValues(k), d.Addr.String(), strconv.Itoa(int(d.Port)))
}

// emit sends one metric. A label mismatch (a bug) fails the scrape with an
// error rather than panicking in the daemon.
func emit(ch chan<- prometheus.Metric, d *prometheus.Desc, t prometheus.ValueType, v float64, labels ...string) {
	m, err := prometheus.NewConstMetric(d, t, v, labels...)
	if err != nil {
		m = prometheus.NewInvalidMetric(d, err)
	}
	ch <- m
}

// stats sends the counters and rates of one service or realserver.
func (f family) stats(ch chan<- prometheus.Metric, s control.Stats, active, inact uint64, labels []string) {
	c, g := prometheus.CounterValue, prometheus.GaugeValue
	in, out := with(labels, "in"), with(labels, "out")
	emit(ch, f.conns, c, float64(s.Conns), labels...)
	emit(ch, f.pkts, c, float64(s.InPkts), in...)
	emit(ch, f.pkts, c, float64(s.OutPkts), out...)
	emit(ch, f.bytes, c, float64(s.InBytes), in...)
	emit(ch, f.bytes, c, float64(s.OutBytes), out...)
	emit(ch, f.cps, g, float64(s.CPS), labels...)
	emit(ch, f.pps, g, float64(s.InPPS), in...)
	emit(ch, f.pps, g, float64(s.OutPPS), out...)
	emit(ch, f.bps, g, float64(s.InBPS), in...)
	emit(ch, f.bps, g, float64(s.OutBPS), out...)
	emit(ch, f.active, g, float64(active), labels...)
	emit(ch, f.inact, g, float64(inact), labels...)
}

// Collect reads the Source and sends every metric.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	g, ctr := prometheus.GaugeValue, prometheus.CounterValue
	for _, s := range c.src.Services() {
		var active, inact uint64
		for _, d := range s.Dests {
			active += uint64(d.ActiveConns)
			inact += uint64(d.InactConns)
			l := destValues(s.ServiceKey, d.Key())
			c.dest.stats(ch, d.Stats, uint64(d.ActiveConns), uint64(d.InactConns), l)
			emit(ch, c.persist, g, float64(d.PersistConns), l...)
			emit(ch, c.weight, g, float64(d.Weight), l...)
		}
		c.svc.stats(ch, s.Stats, active, inact, svcValues(s.ServiceKey))
	}
	for k, up := range c.src.Health() {
		v := 0.0
		if up {
			v = 1
		}
		emit(ch, c.up, g, v, destValues(k.Service, k.Dest)...)
	}
	for _, w := range c.src.Workers() {
		emit(ch, c.wPkts, ctr, float64(w.RxPackets), w.Worker, w.Iface, "rx")
		emit(ch, c.wPkts, ctr, float64(w.TxPackets), w.Worker, w.Iface, "tx")
		for r, n := range w.Drops {
			emit(ch, c.wDrops, ctr, float64(n), w.Worker, w.Iface, r)
		}
		for k, n := range w.Replies {
			emit(ch, c.wReplies, ctr, float64(n), w.Worker, w.Iface, k)
		}
		emit(ch, c.ringPkts, ctr, float64(w.RingPackets), w.Worker, w.Iface)
		emit(ch, c.ringDrops, ctr, float64(w.RingDrops), w.Worker, w.Iface)
		emit(ch, c.ringFreezes, ctr, float64(w.RingFreezes), w.Worker, w.Iface)
		emit(ch, c.wBatchMax, g, w.BatchSecondsMax, w.Worker, w.Iface)
		shed := 0.0
		if w.Shedding {
			shed = 1
		}
		emit(ch, c.wShedding, g, shed, w.Worker, w.Iface)
	}
	for _, i := range c.src.Ifaces() {
		if i.XDPMode == "" {
			continue
		}
		emit(ch, c.xdpMode, g, 1, i.Iface, i.XDPMode)
		emit(ch, c.xdpShed, ctr, float64(i.XDPShed), i.Iface)
	}
	t := c.src.Table()
	emit(ch, c.entries, g, float64(t.Entries))
	emit(ch, c.capacity, g, float64(t.Capacity))
	emit(ch, c.expired, ctr, float64(t.Expired))
}

package dataplane

import (
	"sync"
	"time"

	"github.com/govs-lb/govs/balancer"
	"github.com/govs-lb/govs/forward"
)

// Counter names one of a Worker's counters: frames received and sent,
// frames answered by the director itself, and frames not forwarded, by
// reason. Its String is the name internal/metrics reports it under (the
// reason label of govs_worker_drops_total and the names in the log).
type Counter uint8

// The counters. The balancer's verdicts are counted through reasonCounter,
// so that every balancer.Reason has exactly one counter.
const (
	Rx               Counter = iota // frames received
	Tx                              // frames the engine accepted for sending
	BadIPChecksum                   // IPv4 header checksum wrong
	NotOurs                         // no VIP, no connection, not for this director
	NoService                       // balancer.ReasonNoService
	NoDest                          // balancer.ReasonNoDest
	TableFull                       // balancer.ReasonTableFull
	NotSYN                          // balancer.ReasonNotSYN
	NoNeighbour                     // no next hop for the destination
	NoEgress                        // the next hop is on an interface govs does not own
	TxFull                          // the engine refused a frame (queue full)
	FragNeeded                      // ICMP "fragmentation needed" sent
	FragUnknown                     // a later fragment whose first one was not seen
	ARPReply                        // ARP requests for a VIP answered
	EchoReply                       // pings of a VIP answered
	Truncated                       // frame larger than the capture buffer
	SegmentError                    // a GSO frame that could not be segmented or encapsulated
	UnknownProtocol                 // to a VIP, neither TCP, UDP nor ICMP
	LocalUnsupported                // for the host stack, but no tap holds its address
	// parseErrors is the first of forward.NumParseErrors counters, one for
	// each reason forward.Parse rejects a frame for (ParseErrorCounter).
	parseErrors
	NumCounters = parseErrors + Counter(forward.NumParseErrors)
)

// counterNames are the counters' names; a parse error's is "parse_" and
// its forward.ParseError name ("parse_bad_ihl").
var counterNames = func() [NumCounters]string {
	n := [NumCounters]string{
		"rx", "tx", "bad_ip_checksum", "not_ours", "no_service", "no_dest",
		"table_full", "not_syn", "no_neighbour", "no_egress", "tx_full", "frag_needed_sent",
		"fragment_unknown", "arp_reply", "echo_reply", "truncated", "segment_error",
		"unknown_protocol", "local_unsupported",
	}
	for e := range forward.NumParseErrors {
		n[ParseErrorCounter(e)] = "parse_" + e.Name()
	}
	return n
}()

// ParseErrorCounter returns the counter that counts frames forward.Parse
// rejects with e.
func ParseErrorCounter(e forward.ParseError) Counter { return parseErrors + Counter(e) }

// parseErrorCounter is ParseErrorCounter of an error from forward.Parse,
// every one of which is a forward.ParseError.
func parseErrorCounter(err error) Counter {
	e, _ := err.(forward.ParseError)
	return ParseErrorCounter(e)
}

func (c Counter) String() string {
	if c < NumCounters {
		return counterNames[c]
	}
	return "unknown"
}

// reasonCounter is the counter of each reason the balancer gives for not
// forwarding. A packet that is no connection's (ReasonNoConn, from Out and
// Related) is not ours; ReasonNone never comes with a drop.
var reasonCounter = [balancer.NumReasons]Counter{
	balancer.ReasonNone:      NotOurs,
	balancer.ReasonNoService: NoService,
	balancer.ReasonNoConn:    NotOurs,
	balancer.ReasonNotSYN:    NotSYN,
	balancer.ReasonNoDest:    NoDest,
	balancer.ReasonTableFull: TableFull,
}

// ReasonCounter returns the counter that counts the balancer's reason r.
func ReasonCounter(r balancer.Reason) Counter { return reasonCounter[r] }

// Counters are a Worker's counters, indexed by Counter.
type Counters [NumCounters]uint64

// Named returns the counters that are not zero, by name.
func (c *Counters) Named() map[string]uint64 {
	m := make(map[string]uint64, NumCounters)
	for i, v := range c {
		if v != 0 {
			m[counterNames[i]] += v
		}
	}
	return m
}

// Add adds o to c.
func (c *Counters) Add(o *Counters) {
	for i := range c {
		c[i] += o[i]
	}
}

// publishEvery bounds how old a Worker's published counters get while it
// is busy or idle.
const publishEvery = int64(100 * time.Millisecond)

// published is what a Worker shows its readers: a copy of its counters,
// refreshed at most every publishEvery so that the per-packet path never
// synchronises.
type published struct {
	mu       sync.Mutex
	counters Counters
	shedding bool
	at       int64
	// batchMax is the longest batch (ns) published since the last
	// TakeBatchMax: a maximum over publishes, reset by its reader.
	batchMax int64
}

// publish copies the counters for readers when they are old enough.
func (w *Worker) publish(force bool) {
	p := &w.pub
	if !force && w.now-p.at < publishEvery {
		return
	}
	p.at = w.now
	p.mu.Lock()
	p.counters = w.counters
	p.shedding = w.shedding
	p.batchMax = max(p.batchMax, w.batchMax)
	p.mu.Unlock()
	w.batchMax = 0
}

// endBatch records the time one batch took, from Recv's return (w.now) to
// end, after its frames were sent and its receive buffers released.
func (w *Worker) endBatch(end int64) {
	if d := end - w.now; d > w.batchMax {
		w.batchMax = d
	}
}

// Counters returns the counters the worker last published, at most
// publishEvery old while it runs and final once Run has returned.
func (w *Worker) Counters() Counters {
	w.pub.mu.Lock()
	defer w.pub.mu.Unlock()
	return w.pub.counters
}

// Shedding reports whether the worker was asking for load shedding when
// it last published.
func (w *Worker) Shedding() bool {
	w.pub.mu.Lock()
	defer w.pub.mu.Unlock()
	return w.pub.shedding
}

// TakeBatchMax returns the longest batch (ns) published since the
// previous call, and starts a new maximum: each metrics scrape sees the
// worst batch since the scrape before (batches of the last publishEvery
// may not be published yet and count towards the next one).
func (w *Worker) TakeBatchMax() int64 {
	w.pub.mu.Lock()
	defer w.pub.mu.Unlock()
	v := w.pub.batchMax
	w.pub.batchMax = 0
	return v
}

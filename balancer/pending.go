package balancer

// Deferred counters: a Worker adds each packet to plain per-worker sums
// and publishes them to its atomic counters once per batch (Worker.Flush),
// instead of two atomic read-modify-writes per packet. Readers (Services,
// metrics) see the packet and byte counters up to one batch late; a new
// connection is counted at once.

// pendingCell is one id's unpublished sums.
type pendingCell struct {
	inpkts, inbytes, outpkts, outbytes uint64
	dirty                              bool
}

type pendingPage [1 << statPageBits]pendingCell

// pendingTable is a worker's unpublished sums, paged like statTable, with
// the list of ids touched since the last Flush. Only its worker uses it.
type pendingTable struct {
	pages [maxIDs >> statPageBits]*pendingPage
	dirty []uint32
}

func (pt *pendingTable) cell(id uint32) *pendingCell {
	pg := &pt.pages[(id>>statPageBits)&(maxIDs>>statPageBits-1)]
	if *pg == nil {
		*pg = new(pendingPage)
	}
	c := &(*pg)[id&(1<<statPageBits-1)]
	if !c.dirty {
		c.dirty = true
		pt.dirty = append(pt.dirty, id)
	}
	return c
}

// Flush publishes the packet and byte counters this worker has summed
// since its last Flush. Call it from the worker's goroutine, once per
// batch.
func (w *Worker) Flush() {
	pt := &w.pending
	for _, id := range pt.dirty {
		c := &pt.pages[(id>>statPageBits)&(maxIDs>>statPageBits-1)][id&(1<<statPageBits-1)]
		d := w.dest.cell(id)
		if c.inpkts != 0 {
			d.inpkts.Add(c.inpkts)
			d.inbytes.Add(c.inbytes)
		}
		if c.outpkts != 0 {
			d.outpkts.Add(c.outpkts)
			d.outbytes.Add(c.outbytes)
		}
		*c = pendingCell{}
	}
	pt.dirty = pt.dirty[:0]
}

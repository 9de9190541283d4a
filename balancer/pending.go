package balancer

// Deferred counters (Config.DeferCounters): a worker that handles packets
// in batches adds each packet to plain per-worker sums and publishes them
// to its atomic counters once per batch (Worker.Flush), instead of two
// atomic read-modify-writes per packet. Readers (Services, metrics) see the
// counters up to one batch late.

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

// Flush publishes the counters this worker has deferred since its last
// Flush (Config.DeferCounters). Call it from the worker's goroutine, once
// per batch; without DeferCounters it does nothing.
func (w *Worker) Flush() {
	pt := w.pending
	if pt == nil {
		return
	}
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

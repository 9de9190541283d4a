package balancer

// nqSched is ip_vs_nq.c, never queue: the first realserver in list order
// with a positive weight and no active connection takes the connection at
// once; when every one is busy, the choice is sed's.
type nqSched struct{ l schedDestList }

func newNQ() *nqSched { return &nqSched{} }

func (s *nqSched) Name() SchedName { return SchedNQ }

func (s *nqSched) Update(dests []*Dest) { s.l.store(dests) }

func (s *nqSched) Schedule(*Flow) *Dest {
	var least *Dest
	var loh int64
	for _, d := range s.l.load() {
		w := int64(d.weight.Load())
		if w == 0 {
			continue
		}
		if d.active.Load() == 0 {
			return d // idle
		}
		doh := schedSEDOverhead(d)
		if least == nil || loh*w > doh*int64(least.weight.Load()) {
			least, loh = d, doh
		}
	}
	return least
}

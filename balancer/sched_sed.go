package balancer

// sedSched is ip_vs_sed.c, shortest expected delay: as wlc, but the
// overhead is activeconns+1, the delay the new connection would see.
type sedSched struct{ l schedDestList }

func newSED() *sedSched { return &sedSched{} }

func (s *sedSched) Name() SchedName { return SchedSED }

func (s *sedSched) Update(dests []*Dest) { s.l.store(dests) }

func (s *sedSched) Schedule(*Flow) *Dest {
	return schedLeastWeighted(s.l.load(), schedSEDOverhead)
}

// schedSEDOverhead is ip_vs_sed_dest_overhead (and ip_vs_nq_dest_overhead): only
// active connections count, plus the one being scheduled.
func schedSEDOverhead(d *Dest) int64 { return int64(d.active.Load()) + 1 }

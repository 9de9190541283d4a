package balancer

// lcSched is ip_vs_lc.c: the realserver with the least connection overhead
// (activeconns<<8 + inactconns), skipping weight 0; the first in list order
// wins a tie.
type lcSched struct{ l schedDestList }

func newLC() *lcSched { return &lcSched{} }

func (s *lcSched) Name() SchedName { return SchedLC }

func (s *lcSched) Update(dests []*Dest) { s.l.store(dests) }

func (s *lcSched) Schedule(*Flow) *Dest {
	var least *Dest
	var loh int64
	for _, d := range s.l.load() {
		if d.weight.Load() == 0 {
			continue
		}
		if doh := schedConnOverhead(d); least == nil || doh < loh {
			least, loh = d, doh
		}
	}
	return least
}

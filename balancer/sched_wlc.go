package balancer

// wlcSched is ip_vs_wlc.c: the realserver with the least overhead per unit
// of weight, overhead/weight, compared without division as
// loh*weight > doh*least.weight. The first realserver with a positive weight
// seeds the search; a later one replaces it only when strictly better, so
// ties go to the first in list order and weight 0 never wins.
type wlcSched struct{ l schedDestList }

func newWLC() *wlcSched { return &wlcSched{} }

func (s *wlcSched) Name() SchedName { return SchedWLC }

func (s *wlcSched) Update(dests []*Dest) { s.l.store(dests) }

func (s *wlcSched) Schedule(*Flow) *Dest {
	return schedLeastWeighted(s.l.load(), schedConnOverhead)
}

// schedLeastWeighted is the two-stage loop shared by ip_vs_wlc_schedule and
// ip_vs_sed_schedule: seed with the first realserver of positive weight,
// then keep the one whose overhead/weight is strictly least. The second
// stage does not test the weight: a weight of 0 makes the left side 0,
// which is never greater than the right.
func schedLeastWeighted(dests []*Dest, overhead func(*Dest) int64) *Dest {
	var least *Dest
	var loh int64
	i := 0
	for ; i < len(dests); i++ {
		if d := dests[i]; d.weight.Load() > 0 {
			least, loh = d, overhead(d)
			break
		}
	}
	if least == nil {
		return nil
	}
	for _, d := range dests[i+1:] {
		doh := overhead(d)
		if loh*int64(d.weight.Load()) > doh*int64(least.weight.Load()) {
			least, loh = d, doh
		}
	}
	return least
}

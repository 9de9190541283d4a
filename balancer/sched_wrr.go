package balancer

import "sync"

// wrrSched is ip_vs_wrr.c. With mw the maximum weight and di the greatest
// common divisor of the positive weights, it makes passes over the list with
// a falling current weight cw (mw-(di-1), then di less each pass, down to 1)
// and picks, in list order, the realservers whose weight is at least cw. A
// realserver of weight w is thus picked w/di times in every mw/di passes.
type wrrSched struct {
	mu    sync.Mutex
	dests []*Dest
	cl    int // index of the realserver chosen last; -1 is the list head
	cw    int // current weight
	mw    int // maximum weight, less (di - 1)
	di    int // weight step: gcd of the positive weights
}

func newWRR() *wrrSched { return &wrrSched{cl: -1, di: 1} }

func (s *wrrSched) Name() SchedName { return SchedWRR }

// Update is ip_vs_wrr_dest_changed: the cursor goes back to the list head,
// di and mw are recomputed, and cw is clamped to the new mw (or rounded to
// the pass just above a multiple of the new di).
func (s *wrrSched) Update(dests []*Dest) {
	nd := append([]*Dest(nil), dests...)
	g, maxW := 0, 0
	for _, d := range nd {
		w := int(d.weight.Load())
		if w > 0 {
			if g > 0 {
				g = schedGCD(w, g)
			} else {
				g = w
			}
		}
		if w > maxW {
			maxW = w
		}
	}
	if g == 0 {
		g = 1
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dests = nd
	s.cl = -1
	s.di = g
	s.mw = maxW - (g - 1)
	if s.cw > s.mw || s.cw == 0 {
		s.cw = s.mw
	} else if s.di > 1 {
		s.cw = (s.cw/s.di)*s.di + 1
	}
}

// Schedule is ip_vs_wrr_schedule, step for step. Weights are read live, so a
// weight lowered since Update below di is still caught by the last pass
// (cw = 1), and a weight set to 0 is never picked.
func (s *wrrSched) Schedule(*Flow) *Dest {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := s.cl
	if s.mw == 0 {
		return nil // no realserver has a positive weight
	}
	n := len(s.dests)
	last, stop := i, -2 // -2: no stop realserver yet
	lastPass, restarted := false, false
	for {
		for i++; i < n; i++ {
			if int(s.dests[i].weight.Load()) >= s.cw {
				s.cl = i
				return s.dests[i]
			}
			if i == stop {
				s.cl = i
				return nil
			}
		}
		i = -1 // back at the list head
		s.cw -= s.di
		if s.cw <= 0 {
			s.cw = s.mw
			// Stop if the last pass (weight >= 1) has been tried from the
			// first realserver: either it ran before this restart, or the
			// scan began at the head.
			if lastPass || last == -1 {
				s.cl = i
				return nil
			}
			restarted = true
		}
		lastPass = s.cw <= s.di
		if lastPass && restarted && last != -1 {
			// The first pass for weight >= 1 only covered the
			// realservers after last; cover the rest up to last.
			stop = last
		}
	}
}

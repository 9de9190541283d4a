package balancer

import (
	"sync"
	"sync/atomic"
)

// schedDestList is the realserver list the stateless schedulers read: Update
// stores a private copy, Schedule loads it without locking.
type schedDestList struct {
	p atomic.Pointer[[]*Dest]
}

func (l *schedDestList) store(dests []*Dest) {
	c := append([]*Dest(nil), dests...)
	l.p.Store(&c)
}

func (l *schedDestList) load() []*Dest {
	if p := l.p.Load(); p != nil {
		return *p
	}
	return nil
}

// rrSched is ip_vs_rr.c: a cursor on the realserver chosen last; each
// connection goes to the next realserver after it, wrapping around, whose
// weight is above zero.
type rrSched struct {
	mu     sync.Mutex
	dests  []*Dest
	cursor int // index of the realserver chosen last; -1 is the list head
}

func newRR() *rrSched { return &rrSched{cursor: -1} }

func (s *rrSched) Name() SchedName { return SchedRR }

// Update installs a new list. As ip_vs_rr_del_dest does, a cursor on a
// realserver that is gone moves back to the nearest earlier realserver that
// stayed (the list head when none did); otherwise it stays on its realserver.
func (s *rrSched) Update(dests []*Dest) {
	nd := append([]*Dest(nil), dests...)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cursor = schedCarryCursor(s.dests, nd, s.cursor)
	s.dests = nd
}

// schedCarryCursor maps a cursor on old to the same realserver in nd, or to the
// closest earlier one still present, or to the head (-1).
func schedCarryCursor(old, nd []*Dest, cursor int) int {
	if cursor < 0 || cursor >= len(old) {
		return -1
	}
	idx := make(map[*Dest]int, len(nd))
	for i, d := range nd {
		idx[d] = i
	}
	for c := cursor; c >= 0; c-- {
		if i, ok := idx[old[c]]; ok {
			return i
		}
	}
	return -1
}

// Schedule is ip_vs_rr_schedule: scan from the realserver after the cursor to
// the end of the list, then from the start up to and including the cursor.
func (s *rrSched) Schedule(*Flow) *Dest {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.dests)
	for k := 1; k <= n; k++ {
		i := s.cursor + k
		if i >= n {
			i -= n // wrapped past the list head
		}
		if d := s.dests[i]; d.weight.Load() > 0 {
			s.cursor = i
			return d
		}
	}
	return nil
}

package balancer

import "testing"

// Tests for the connection-counting schedulers lc, wlc, sed and nq. Each
// case sets weights and connection counts and names the realserver the
// kernel's loop picks (-1: none).
func TestSchedLeastConns(t *testing.T) {
	type conns struct{ active, inactive int }
	tests := []struct {
		sched   string
		name    string
		weights []int
		conns   []conns
		want    int
	}{
		// lc: overhead = active<<8 + inactive, weight only gates.
		{"lc", "least overhead", []int{1, 1, 1}, []conns{{1, 0}, {0, 5}, {0, 3}}, 2},
		{"lc", "active costs 256 inactive", []int{1, 1}, []conns{{1, 0}, {0, 255}}, 1},
		{"lc", "256 inactive tie one active", []int{1, 1}, []conns{{1, 0}, {0, 256}}, 0},
		{"lc", "tie goes first", []int{1, 1, 1}, []conns{{2, 0}, {1, 1}, {1, 1}}, 1},
		{"lc", "weight magnitude ignored", []int{1, 100}, []conns{{1, 0}, {2, 0}}, 0},
		{"lc", "skips weight 0", []int{0, 1}, []conns{{0, 0}, {9, 9}}, 1},
		{"lc", "all quiesced", []int{0, 0}, []conns{{0, 0}, {0, 0}}, -1},

		// wlc: overhead/weight, loh*w > doh*lw replaces.
		{"wlc", "weight scales", []int{1, 3}, []conns{{1, 0}, {2, 0}}, 1},
		{"wlc", "exact tie goes first", []int{1, 2}, []conns{{1, 0}, {2, 0}}, 0},
		{"wlc", "inactive counts", []int{1, 1}, []conns{{0, 3}, {0, 2}}, 1},
		{"wlc", "seed is first positive weight", []int{0, 1, 1}, []conns{{0, 0}, {1, 0}, {1, 0}}, 1},
		{"wlc", "idle low weight beats busy high", []int{1, 10}, []conns{{0, 0}, {1, 0}}, 0},
		{"wlc", "weight 0 later never wins", []int{1, 0}, []conns{{50, 0}, {0, 0}}, 0},
		{"wlc", "all quiesced", []int{0, 0}, []conns{{0, 0}, {0, 0}}, -1},

		// sed: (active+1)/weight; inactive ignored.
		{"sed", "counts the new connection", []int{1, 10}, []conns{{0, 0}, {1, 0}}, 1},
		{"sed", "inactive ignored", []int{1, 1}, []conns{{1, 100}, {1, 0}}, 0},
		{"sed", "tie goes first", []int{1, 3}, []conns{{0, 0}, {2, 0}}, 0},
		{"sed", "skips weight 0", []int{0, 2, 1}, []conns{{0, 0}, {3, 0}, {0, 0}}, 2},
		{"sed", "equal delay tie", []int{0, 2, 1}, []conns{{0, 0}, {3, 0}, {1, 0}}, 1},
		{"sed", "all quiesced", []int{0}, []conns{{0, 0}}, -1},

		// nq: first idle realserver, else sed.
		{"nq", "idle beats sed choice", []int{1, 10}, []conns{{0, 0}, {1, 0}}, 0},
		{"nq", "first idle in list", []int{10, 1, 1, 1}, []conns{{5, 0}, {3, 0}, {0, 9}, {0, 0}}, 2},
		{"nq", "no idle: sed", []int{1, 10}, []conns{{1, 0}, {1, 0}}, 1},
		{"nq", "no idle: tie goes first", []int{2, 1}, []conns{{3, 0}, {1, 0}}, 0},
		{"nq", "idle weight 0 skipped", []int{0, 1}, []conns{{0, 0}, {4, 0}}, 1},
		{"nq", "all quiesced", []int{0, 0}, []conns{{0, 0}, {0, 0}}, -1},
	}
	for _, tt := range tests {
		t.Run(tt.sched+"/"+tt.name, func(t *testing.T) {
			dests := schedTestDests(tt.weights...)
			for i, c := range tt.conns {
				schedSetConns(dests[i], c.active, c.inactive)
			}
			s := schedNew(t, tt.sched, 0, dests)
			if got := schedIndex(dests, s.Schedule(nil)); got != tt.want {
				t.Errorf("picked %d, want %d", got, tt.want)
			}
		})
	}
}

// TestSchedLeastConnsSpread drives wlc, sed and nq the way the connection table would:
// each pick opens an active connection, so over many picks the connections
// end up proportional to weight.
func TestSchedLeastConnsSpread(t *testing.T) {
	for _, name := range []string{"wlc", "sed", "nq"} {
		dests := schedTestDests(1, 2, 3, 0)
		s := schedNew(t, name, 0, dests)
		for range 600 {
			d := s.Schedule(nil)
			d.active.Add(1)
		}
		for i, want := range []int32{100, 200, 300, 0} {
			if got := dests[i].active.Load(); got < want-1 || got > want+1 {
				t.Errorf("%s: dest %d has %d connections, want %d±1", name, i, got, want)
			}
		}
	}
}

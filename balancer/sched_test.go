package balancer

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
)

// schedTestDests returns realservers 203.0.113.1, .2, ... on port 80 with the
// given weights.
func schedTestDests(weights ...int) []*Dest {
	ds := make([]*Dest, len(weights))
	for i, w := range weights {
		ds[i] = NewDest(netip.AddrFrom4([4]byte{203, 0, 113, byte(i + 1)}), 80, MethodDR, w)
	}
	return ds
}

// schedSetConns sets activeconns and inactconns, as the connection table would.
func schedSetConns(d *Dest, active, inactive int) {
	d.active.Store(int32(active))
	d.inactive.Store(int32(inactive))
}

// schedNew builds a scheduler by name and installs dests.
func schedNew(t testing.TB, name string, flags SchedFlags, dests []*Dest) Scheduler {
	t.Helper()
	s, err := NewSchedulerFlags(SchedName(name), flags)
	if err != nil {
		t.Fatal(err)
	}
	if s.Name() != SchedName(name) {
		t.Fatalf("Name() = %q, want %q", s.Name(), name)
	}
	s.Update(dests)
	return s
}

// schedIndex returns the position of d in dests, or -1 for nil.
func schedIndex(dests []*Dest, d *Dest) int {
	if d == nil {
		return -1
	}
	i := slices.Index(dests, d)
	if i < 0 {
		panic("scheduler returned a realserver not in its list")
	}
	return i
}

// schedPicks schedules n connections and writes them as letters, A for dests[0],
// '-' for nil.
func schedPicks(s Scheduler, dests []*Dest, n int) string {
	var b strings.Builder
	f := &Flow{Proto: TCP}
	for range n {
		if i := schedIndex(dests, s.Schedule(f)); i < 0 {
			b.WriteByte('-')
		} else {
			b.WriteByte(byte('A' + i))
		}
	}
	return b.String()
}

func TestSchedNames(t *testing.T) {
	want := []string{"rr", "wrr", "lc", "wlc", "sed", "nq", "sh", "mh"}
	if got := SchedulerNames(); !slices.Equal(got, want) {
		t.Fatalf("SchedulerNames() = %v, want %v", got, want)
	}
	SchedulerNames()[0] = "mutated"
	if SchedulerNames()[0] != "rr" {
		t.Fatal("SchedulerNames returned its internal array")
	}
	for _, n := range want {
		s, err := NewScheduler(SchedName(n))
		if err != nil || s.Name() != SchedName(n) {
			t.Errorf("NewScheduler(%q) = %v, %v", n, s, err)
		}
		// An empty scheduler refuses every connection.
		if d := s.Schedule(&Flow{}); d != nil {
			t.Errorf("%s: Schedule with no realservers = %v, want nil", n, d)
		}
	}
	_, err := NewScheduler("foo")
	const msg = `unknown scheduler "foo" (govs has rr, wrr, lc, wlc, sed, nq, sh, mh)`
	if err == nil || err.Error() != msg {
		t.Fatalf("NewScheduler(foo) error = %v, want %s", err, msg)
	}
}

func TestSchedFlagsParse(t *testing.T) {
	tests := []struct {
		sched   SchedName
		in      string
		want    SchedFlags
		wantErr string
		format  string
	}{
		{"sh", "", 0, "", ""},
		{"sh", "sh-port", SchedPort, "", "sh-port"},
		{"sh", "sh-fallback,sh-port", SchedFallback | SchedPort, "", "sh-fallback,sh-port"},
		{"mh", "mh-fallback", SchedFallback, "", "mh-fallback"},
		{"mh", "flag-1,flag-2", SchedFlag1 | SchedFlag2, "", "mh-fallback,mh-port"},
		{"wrr", "flag-3", SchedFlag3, "", "flag-3"},
		{"rr", "flag-1,flag-2", SchedFlag1 | SchedFlag2, "", "flag-1,flag-2"},
		{"mh", "sh-port", 0, "incompatible scheduler flag `sh-port'", ""},
		{"rr", "sh-fallback", 0, "incompatible scheduler flag `sh-fallback'", ""},
		{"sh", "sh-bogus", 0, "invalid scheduler flag `sh-bogus'", ""},
		{"sh", "sh-port,", 0, "invalid scheduler flag `'", ""},
	}
	for _, tt := range tests {
		got, err := ParseSchedFlags(tt.sched, schedFlagList(tt.in))
		if errText(err) != tt.wantErr || got != tt.want {
			t.Errorf("ParseSchedFlags(%q, %q) = %v, %v; want %v, %q", tt.sched, tt.in, got, err, tt.want, tt.wantErr)
			continue
		}
		if err == nil {
			if f := strings.Join(FormatSchedFlags(tt.sched, got), ","); f != tt.format {
				t.Errorf("FormatSchedFlags(%q, %v) = %q, want %q", tt.sched, got, f, tt.format)
			}
		}
	}
}

// schedFlagList splits ipvsadm's -b argument into words; "" is none.
func schedFlagList(list string) []string {
	if list == "" {
		return nil
	}
	return strings.Split(list, ",")
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// TestSchedNoAllocs holds every scheduler to the contract of the Scheduler
// interface: Schedule does not allocate, on the path that picks a
// realserver and on the fallback path past a quiesced one.
func TestSchedNoAllocs(t *testing.T) {
	for _, name := range SchedulerNames() {
		for _, flags := range []SchedFlags{0, SchedFallback | SchedPort} {
			dests := schedTestDests(5, 4, 3, 2, 1, 1, 2, 3)
			for i, d := range dests {
				schedSetConns(d, i%3, i)
			}
			dests[0].SetWeight(0)
			s := schedNew(t, name, flags, dests)
			f := &Flow{Proto: TCP, Src: [4]byte{192, 0, 2, 1}, SrcPort: 40000}
			allocs := testing.AllocsPerRun(1000, func() {
				f.Src[3]++
				f.SrcPort++
				s.Schedule(f)
			})
			if allocs != 0 {
				t.Errorf("%s flags %d: Schedule allocates %v times, want 0", name, flags, allocs)
			}
		}
	}
}

// TestSchedConcurrentUpdate runs Schedule on several goroutines while
// another changes the list and the weights; under -race it checks that
// every scheduler guards its state. Every pick must be nil or a realserver
// of one of the lists.
func TestSchedConcurrentUpdate(t *testing.T) {
	const workers, rounds, updates = 4, 2000, 200
	for _, name := range SchedulerNames() {
		t.Run(name, func(t *testing.T) {
			all := schedTestDests(3, 1, 2, 5, 4, 1)
			lists := [][]*Dest{all, all[:3], all[2:], nil}
			s := schedNew(t, name, SchedFallback, all)
			var wg sync.WaitGroup
			errs := make(chan error, workers)
			for w := range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					f := &Flow{Proto: TCP, Src: [4]byte{192, 0, 2, byte(w)}}
					for i := range rounds {
						f.Src[3] = byte(i)
						if d := s.Schedule(f); d != nil && !slices.Contains(all, d) {
							errs <- fmt.Errorf("picked unknown realserver %v", d.Addr)
							return
						}
					}
				}()
			}
			for i := range updates {
				all[i%len(all)].SetWeight(i % 4)
				s.Update(lists[i%len(lists)])
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
		})
	}
}

func BenchmarkSched(b *testing.B) {
	for _, name := range SchedulerNames() {
		b.Run(name, func(b *testing.B) {
			dests := schedTestDests(5, 4, 3, 2, 1, 1, 2, 3, 4, 5, 6, 7, 1, 1, 2, 2)
			for i, d := range dests {
				schedSetConns(d, i*7%13, i*11%17)
			}
			s := schedNew(b, name, 0, dests)
			f := &Flow{Proto: TCP, Src: [4]byte{192, 0, 2, 1}, SrcPort: 40000}
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				f.Src[2], f.Src[3] = byte(i>>8), byte(i)
				if s.Schedule(f) == nil {
					b.Fatal("no realserver")
				}
			}
		})
	}
}

// FuzzSchedFlags: whatever ParseSchedFlags accepts, FormatSchedFlags writes
// back in a form it accepts again with the same meaning.
func FuzzSchedFlags(f *testing.F) {
	for _, s := range []string{"", "sh-port", "sh-fallback,sh-port", "flag-1,flag-3", "mh-port,mh-port", ","} {
		f.Add("sh", s)
		f.Add("mh", s)
	}
	f.Fuzz(func(t *testing.T, sched, list string) {
		flags, err := ParseSchedFlags(SchedName(sched), schedFlagList(list))
		if err != nil {
			return
		}
		out := FormatSchedFlags(SchedName(sched), flags)
		again, err := ParseSchedFlags(SchedName(sched), out)
		if err != nil || again != flags {
			t.Fatalf("%q -> %v -> %q -> %v, %v", list, flags, out, again, err)
		}
	})
}

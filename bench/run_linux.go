//go:build linux

package bench

import (
	"context"
	"fmt"
	"math"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// runner holds what one bench run uses.
type runner struct {
	o        *Options
	b        *benchLab
	gen      *generators
	soakers  []*soaker
	samp     *sampler
	progress func(format string, a ...any)

	data    *FrameSet // the measured traffic
	prelude *FrameSet // first packet of each flow (SYN for TCP)
	ack     *FrameSet // TCP prelude for nft-dnat: conntrack picks up mid-stream flows
}

func machine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), Go: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.Model = strings.TrimSpace(v)
				break
			}
		}
	}
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		m.Kernel = unix.ByteSliceToString(u.Release[:])
	}
	return m
}

func runBench(ctx context.Context, o *Options, progress func(string, ...any)) (*Results, error) {
	ncpu := runtime.NumCPU()
	for _, c := range slices.Concat(o.GenCPUs, o.DirCPUs) {
		if c >= ncpu {
			return nil, fmt.Errorf("core %d does not exist (this machine has %d; set --gen-cpus/--dir-cpus/--workers)", c, ncpu)
		}
	}
	if err := pinProcess(o.GenCPUs[0]); err != nil {
		return nil, err
	}
	// The soakers and the generator spin on locked threads, each holding a
	// P; afpacket-bare's workers and the controller need Ps of their own or
	// they wait for preemption (10 ms) after every blocking system call.
	if need := ncpu + len(o.GenCPUs) + 2*len(o.DirCPUs) + o.Workers + 4; runtime.GOMAXPROCS(0) < need {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(need))
	}
	r := &runner{o: o, progress: progress}
	var err error
	if r.b, err = newBenchLab(o.DirCPUs); err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	defer r.b.Close()
	if r.gen, err = startGenerators(r.b.gen, o.GenCPUs); err != nil {
		return nil, fmt.Errorf("generator: %w", err)
	}
	defer r.gen.Close()
	for _, c := range o.DirCPUs {
		s, err := startSoaker(c)
		if err != nil {
			return nil, fmt.Errorf("soaker: %w", err)
		}
		defer s.Stop()
		r.soakers = append(r.soakers, s)
	}
	if o.Mode == ModeLocal {
		if err := r.b.dir.Do(func() error { return localDrop(protoNum(o)) }); err != nil {
			return nil, fmt.Errorf("local drop: %w", err)
		}
	} else {
		if r.samp, err = startSampler(r.b.sink, "eth0"); err != nil {
			return nil, fmt.Errorf("sampler: %w", err)
		}
		defer r.samp.Close()
	}

	switch o.Proto {
	case ProtoUDP:
		r.data = NewFrameSet(KindUDP, 0, o.Flows, o.Size)
		r.prelude = r.data
	case ProtoTCP:
		r.data = NewFrameSet(KindTCPACK, 0, o.Flows, o.Size)
		r.prelude = NewFrameSet(KindTCPSYN, 0, o.Flows, o.Size)
		r.ack = r.data
	case ProtoSYN:
		r.data = NewFrameSet(KindTCPSYN, 0, min(o.Flows, 4096), o.Size)
	case ProtoUDPNew:
		r.data = NewFrameSet(KindUDP, 0, min(o.Flows, 4096), o.Size)
	}

	res := &Results{Date: time.Now().UTC(), Machine: machine(), Mode: o.Mode, Proto: o.Proto,
		Flows: o.Flows, Size: o.Size, Workers: o.Workers, Command: "govs bench " + strings.Join(o.args, " ")}
	costRate := o.CostRate
	if costRate == 0 {
		costRate = 150e3
	}
	if !o.RateSet {
		res.CostRate = costRate
	}
	tmp, err := os.MkdirTemp("", "govs-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	for round := range o.Runs {
		for _, name := range o.Subjects {
			if err := ctx.Err(); err != nil {
				return res, err
			}
			rr := r.measure(ctx, round, name, tmp, costRate)
			res.Rounds = append(res.Rounds, rr)
			if rr.Failed() && !o.KeepGoing {
				return res, nil
			}
		}
	}
	res.Summarize(o.Subjects)
	return res, nil
}

// point sends at rate for the configured duration and reports what the sink
// received; with busy it also measures the director cores' busy fraction.
func (r *runner) point(ctx context.Context, rate float64, busy bool) (Point, error) {
	var idle []float64
	if busy {
		idle = r.calibrate(200 * time.Millisecond)
	}
	rx0, err := r.b.settle()
	if err != nil {
		return Point{}, err
	}
	c0 := r.soakCounts()
	res := r.gen.Run(ctx, genJob{frames: r.data.Frames, fresh: r.o.Fresh(), rate: rate, duration: r.o.Duration})
	c1 := r.soakCounts()
	if res.err != nil {
		return Point{}, fmt.Errorf("generator: %w", res.err)
	}
	rx1, err := r.b.settle()
	if err != nil {
		return Point{}, err
	}
	secs := res.elapsed.Seconds()
	p := Point{Sent: res.sent, Received: rx1 - rx0}
	p.Offered = float64(p.Sent) / secs
	p.Delivered = float64(p.Received) / secs
	if busy {
		// Calibrate again after the window and use the mean: other work on
		// a shared machine changes what the soaker gets when idle.
		after := r.calibrate(200 * time.Millisecond)
		for i := range idle {
			idle[i] = (idle[i] + after[i]) / 2
		}
		var sum float64
		for i := range c0 {
			sum += BusyFraction(c1[i]-c0[i], secs, idle[i])
		}
		p.Busy = sum / float64(len(c0))
	}
	return p, nil
}

func (r *runner) soakCounts() []uint64 {
	out := make([]uint64, len(r.soakers))
	for i, s := range r.soakers {
		out[i] = s.count.Load()
	}
	return out
}

// calibrate measures each soaker's iteration rate while nothing is sent.
func (r *runner) calibrate(d time.Duration) []float64 {
	c0 := r.soakCounts()
	t0 := time.Now()
	time.Sleep(d)
	c1 := r.soakCounts()
	secs := time.Since(t0).Seconds()
	out := make([]float64, len(c0))
	for i := range c0 {
		out[i] = float64(c1[i]-c0[i]) / secs
	}
	return out
}

// warm sends the first packet of every flow once, slowly enough for every
// subject, so that flows are established before anything is measured.
func (r *runner) warm(ctx context.Context, name string) error {
	fs := r.prelude
	if name == SubjectNFT && r.ack != nil {
		fs = r.ack
	}
	if fs == nil {
		return nil
	}
	res := r.gen.Run(ctx, genJob{frames: fs.Frames, rate: 100e3, once: true})
	if res.err != nil {
		return res.err
	}
	_, err := r.b.settle()
	return err
}

func (r *runner) measure(ctx context.Context, round int, name, tmp string, costRate float64) (rr RoundResult) {
	o := r.o
	rr = RoundResult{Round: round, Subject: name, Figures: map[string]float64{}}
	tag := fmt.Sprintf("round %d/%d %-13s", round+1, o.Runs, name)
	s := newSubject(name, r.b, o, tmp)
	r.progress("%s starting", tag)
	if err := s.Start(ctx); err != nil {
		rr.Err = "start: " + err.Error()
		return rr
	}
	defer func() {
		if err := s.Stop(); err != nil && rr.Err == "" {
			rr.Err = "stop: " + err.Error()
		}
	}()
	base, _ := SplitSubject(name)
	samp, exp := r.samp, ExpectFor(base, o.Mode)
	var stack0 uint64 // local govs: what the director's stack took, to compare with the tap
	if o.Mode == ModeLocal {
		var done func()
		var err error
		if samp, exp, done, err = r.localRound(base); err != nil {
			rr.Err = "start: " + err.Error()
			return rr
		}
		defer done()
		stack0, _ = r.b.localRx()
	}
	samp.Take()
	if err := r.warm(ctx, name); err != nil {
		rr.Err = "warm-up: " + err.Error()
		return rr
	}
	add := func(p Point) { rr.Points = append(rr.Points, p) }
	fail := func(err error) RoundResult { rr.Err = err.Error(); return rr }
	if o.RateSet {
		r.progress("%s at %s", tag, rateLabel(o.Rate))
		pr, _ := s.(prober)
		var m1 map[string]float64
		if pr != nil { // the daemon's table and memory before and after the window
			m1, _ = pr.probe(ctx)
		}
		p, err := r.point(ctx, o.Rate, o.Rate > 0)
		if err != nil {
			return fail(err)
		}
		add(p)
		if m1 != nil {
			if m2, err := pr.probe(ctx); err == nil {
				rr.Notes = append(rr.Notes, tableNote(m1, m2))
			}
		}
		rr.Figures[FigRate] = p.Delivered
		if o.Rate > 0 && p.Fraction() >= 0.99 {
			rr.Figures[FigCost] = CostNS(p.Busy, float64(len(o.DirCPUs)), p.Sent2Secs(), p.Received)
		}
	} else {
		r.progress("%s overload (generator flat out)", tag)
		pr, _ := s.(prober)
		var m0, m1 map[string]float64
		var t0, t1 time.Time
		if pr != nil { // the daemon's counters: 1 s idle, then the overload window
			m0, _ = pr.probe(ctx)
			t0 = time.Now()
			time.Sleep(time.Second)
			m1, _ = pr.probe(ctx)
			t1 = time.Now()
		}
		d0 := softnetDrops(o.DirCPUs)
		over, err := r.point(ctx, 0, false)
		if err != nil {
			return fail(err)
		}
		add(over)
		if pr != nil && m0 != nil && m1 != nil {
			if m2, err := pr.probe(ctx); err == nil {
				note, allocs := daemonNote(m0, m1, m2, t1.Sub(t0), time.Since(t1))
				rr.Notes = append(rr.Notes, "overload: "+note)
				rr.Figures[FigAllocs] = allocs
			}
		}
		rr.Figures[FigOverload] = over.Delivered
		if drops := softnetDrops(o.DirCPUs) - d0; drops > 0 {
			rr.Notes = append(rr.Notes, fmt.Sprintf("overload: offered %.0f pps, %d frames dropped at the director core's backlog", over.Offered, drops))
		}
		z := ZeroLossSearch{Lo: 0, Hi: over.Offered, Threshold: 0.99}
		for step := range o.Steps {
			rate := z.Next()
			if step == 0 && over.Delivered > 0 && over.Delivered < over.Offered {
				rate = over.Delivered * 0.97 // first guess: just under what overload delivered
			}
			p, err := r.point(ctx, rate, false)
			if err != nil {
				return fail(err)
			}
			add(p)
			z.Record(rate, p.Fraction())
			r.progress("%s zero-loss search %d/%d: offered %s → %.2f%% delivered", tag, step+1, o.Steps, rateLabel(rate), 100*p.Fraction())
		}
		rr.Figures[FigZeroLoss] = z.Lo
		r.progress("%s cost at %s", tag, rateLabel(costRate))
		p, err := r.point(ctx, costRate, true)
		if err != nil {
			return fail(err)
		}
		add(p)
		if p.Fraction() < 0.99 {
			rr.Notes = append(rr.Notes, fmt.Sprintf("cost rate %s above this subject's zero-loss rate: %.1f%% delivered", rateLabel(costRate), 100*p.Fraction()))
		}
		rr.Figures[FigCost] = CostNS(p.Busy, float64(len(o.DirCPUs)), float64(p.Sent)/p.Offered, p.Received)
	}
	// Validate what the sink (local mode: the director) sampled.
	samples := samp.Take()
	for _, f := range samples {
		if _, err := Validate(f, exp); err != nil {
			rr.Err = fmt.Sprintf("wrong output: %v (frame %x)", err, f[:min(len(f), 64)])
			break
		}
		rr.Checked++
	}
	var rx uint64
	for _, p := range rr.Points {
		rx += p.Received
	}
	if rr.Err == "" && len(samples) == 0 && rx > 10*sampleEvery {
		rr.Err = "no output frame was sampled at the sink"
	}
	if rr.Err == "" && rx == 0 {
		rr.Err = "nothing reached the sink"
	}
	if o.Mode == ModeLocal && base == SubjectGovs {
		if stack1, err := r.b.localRx(); err == nil && rx > 0 && float64(stack1-stack0) < 0.99*float64(rx) {
			rr.Notes = append(rr.Notes, fmt.Sprintf("the director's stack took %d of the %d frames govs wrote into its tap (measured windows and warm-up)", stack1-stack0, rx))
		}
	}
	return rr
}

// Sent2Secs is the window length of a point.
func (p Point) Sent2Secs() float64 {
	if p.Offered == 0 {
		return math.NaN()
	}
	return float64(p.Sent) / p.Offered
}

// prober is a subject that exposes counters (the govs daemon's metrics).
type prober interface {
	probe(ctx context.Context) (map[string]float64, error)
}

func rateLabel(r float64) string {
	if r == 0 {
		return "max"
	}
	if r >= 1e6 {
		return fmt.Sprintf("%.3gM pps", r/1e6)
	}
	return fmt.Sprintf("%.0fk pps", r/1e3)
}

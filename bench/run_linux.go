//go:build linux

package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
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
	cores    []int    // the lab's cores: a cost is the busy time of all of them
	samp     *sampler // the round's sampler: the sink's, or in local mode the round's own
	exp      Expect   // what the round's subject must deliver
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
	// The generator threads are locked and hold a P each while they send;
	// afpacket-bare's workers and the controller need Ps of their own or
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
	r.cores = labCores(o)
	if o.Mode == ModeLocal {
		if err := r.b.dir.Do(func() error { return localDrop(protoNum(o)) }); err != nil {
			return nil, fmt.Errorf("local drop: %w", err)
		}
		r.b.rx = r.b.localRx // every local subject is counted at the director's input hook
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
	if !o.RateSet {
		res.OverloadFactor = o.OverloadFactor
	}
	costRate := o.CostRate
	if costRate == 0 {
		costRate = defaultCostRate
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

// labCores are the cores the lab runs on, generator cores included: a
// cost is the busy time of all of them.
func labCores(o *Options) []int {
	c := slices.Concat(o.GenCPUs, o.DirCPUs)
	slices.Sort(c)
	return slices.Compact(c)
}

// point measures one window of kind at rate (0: flat out) and validates it.
// A window where the generator fell short of rate is measured again once;
// if it falls short again, the point fails.
// trials bounds the windows one point may take. On a shared or virtual
// machine a core can stall for tens of milliseconds, a tenth of a window:
// a point where the generator fell short of its rate is measured again,
// and so is a search point that delivered less than 99%, up to trials
// windows, the same for every subject. A search point passes if any of its
// windows did; the others keep their last window.
const trials = 3

func (r *runner) point(ctx context.Context, kind string, rate float64) (Point, error) {
	var p Point
	var err error
	for try := 1; try <= trials; try++ {
		p, err = r.window(ctx, kind, rate)
		p.Trials = try
		if err != nil {
			break
		}
		if err = p.Shortfall(); err != nil {
			r.progress("%s at %s: generator short (%.0f pps offered), trial %d of %d", kind, rateLabel(rate), p.Offered, try, trials)
			continue
		}
		if kind == PointSearch && p.Fraction() < 0.99 && try < trials {
			r.progress("%s at %s: %.2f%% delivered, trial %d of %d", kind, rateLabel(rate), 100*p.Fraction(), try, trials)
			continue
		}
		break
	}
	if err != nil {
		return p, fmt.Errorf("%s point at %s: %w", kind, rateLabel(rate), err)
	}
	return p, nil
}

// window sends at rate for the configured duration. What reaches the
// counting point before the generator stops is delivered; what arrives
// while the queues drain afterwards is late. Cost and baseline windows
// (and a --rate window) also measure the lab cores' busy time.
func (r *runner) window(ctx context.Context, kind string, rate float64) (Point, error) {
	busy := rate > 0 && (kind == PointCost || kind == PointBaseline || kind == PointRate)
	// No garbage collection during a window: the bench's own work on the
	// generator's core would count as the subject's, and a collection can
	// stall the generator.
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	rx0, err := r.b.settle()
	if err != nil {
		return Point{}, err
	}
	p := Point{Kind: kind, Requested: rate, SampleEvery: sampleEveryFor(rate, r.o.Duration.Seconds())}
	if err := r.samp.Begin(p.SampleEvery); err != nil {
		return Point{}, fmt.Errorf("sampler: %w", err)
	}
	var tickers []*ticker
	if busy {
		for _, c := range r.cores {
			k, err := startTicker(c)
			if err != nil {
				return Point{}, fmt.Errorf("ticker: %w", err)
			}
			defer k.Stop()
			tickers = append(tickers, k)
		}
	}
	b0, err := r.busy(tickers)
	if err != nil {
		return Point{}, err
	}
	res := r.gen.Run(ctx, genJob{frames: r.data.Frames, fresh: r.o.Fresh(), rate: rate, duration: r.o.Duration})
	b1, err := r.busy(tickers)
	if err != nil {
		return Point{}, err
	}
	for _, k := range tickers {
		k.Stop()
	}
	rxEnd, rxErr := r.b.rx()
	rx1, err := r.b.settle()
	sample := r.samp.End()
	if res.err != nil {
		return Point{}, fmt.Errorf("generator: %w", res.err)
	}
	if err := errors.Join(rxErr, err); err != nil {
		return Point{}, err
	}
	p.Seconds = res.elapsed.Seconds()
	p.Sent, p.Refused, p.Received, p.Late = res.sent, res.refused, rxEnd-rx0, rx1-rxEnd
	p.Offered = float64(p.Sent) / p.Seconds
	p.Delivered = float64(p.Received) / p.Seconds
	if busy {
		p.BusyCores = (b1 - b0) / p.Seconds
	}
	if kind == PointBaseline {
		if got := p.Received + p.Late; got > 0 {
			return p, fmt.Errorf("%d frames got past the drop at the director's ingress", got)
		}
		return p, nil
	}
	return p, sample.Verdict(&p, r.exp)
}

// busy returns how long the lab's cores have been busy, all together:
// their busy time in /proc/stat less what the tickers had of it.
func (r *runner) busy(tickers []*ticker) (float64, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	cores, err := BusySeconds(string(b), r.cores)
	if err != nil {
		return 0, err
	}
	var sum float64
	for _, c := range cores {
		sum += c
	}
	for _, k := range tickers {
		t, err := k.cpuSeconds()
		if err != nil {
			return 0, err
		}
		sum -= t
	}
	return sum, nil
}

// baselineTable drops everything at the director's ingress while the cost
// baseline is measured.
const baselineTable = "govsbench_baseline"

// baseline measures rate's traffic dropped at the director's ingress with
// no subject running: the generator's sending, the veth and the director's
// receive up to its ingress hook, which every subject's cost window holds
// too and which is no subject's work.
func (r *runner) baseline(ctx context.Context, rate float64) (Point, error) {
	if err := r.b.dir.Do(func() error { return dropAtIngress(baselineTable, "eth0") }); err != nil {
		return Point{}, fmt.Errorf("ingress drop: %w", err)
	}
	p, err := r.point(ctx, PointBaseline, rate)
	if derr := r.b.dir.Do(func() error { return deleteNetdevTable(baselineTable) }); derr != nil && err == nil {
		err = fmt.Errorf("remove the ingress drop: %w", derr)
	}
	return p, err
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
	add := func(p Point) {
		rr.Points = append(rr.Points, p)
		rr.Checked += p.Checked
	}
	fail := func(err error) RoundResult { rr.Err = err.Error(); return rr }
	baseRate := costRate
	if o.RateSet {
		baseRate = o.Rate
	}
	var base Point
	if baseRate > 0 {
		r.progress("%s baseline at %s (dropped at the director's ingress)", tag, rateLabel(baseRate))
		var err error
		if base, err = r.baseline(ctx, baseRate); err != nil {
			return fail(fmt.Errorf("baseline: %w", err))
		}
		add(base)
	}
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
	kind, _ := SplitSubject(name)
	r.exp = ExpectFor(kind, o.Mode)
	var tap0, stack0 uint64 // local govs: what govs wrote into its tap and what the stack took
	if o.Mode == ModeLocal {
		done, err := r.localRound(kind)
		if err != nil {
			rr.Err = "start: " + err.Error()
			return rr
		}
		defer done()
		tap0, _ = r.b.tapRx()
		stack0, _ = r.b.localRx()
	}
	if err := r.warm(ctx, name); err != nil {
		rr.Err = "warm-up: " + err.Error()
		return rr
	}
	cost := func(p Point) {
		rr.Figures[FigCostRaw] = CostNS(p.BusyCores*p.Seconds, p.Received)
		rr.Figures[FigCost] = NetCostNS(p, base)
	}
	if o.RateSet {
		r.progress("%s at %s", tag, rateLabel(o.Rate))
		pr, _ := s.(prober)
		var m1 map[string]float64
		if pr != nil { // the daemon's table and memory before and after the window
			m1, _ = pr.probe(ctx)
		}
		p, err := r.point(ctx, PointRate, o.Rate)
		add(p)
		if err != nil {
			return fail(err)
		}
		if m1 != nil {
			if m2, err := pr.probe(ctx); err == nil {
				rr.Notes = append(rr.Notes, tableNote(m1, m2))
			}
		}
		rr.Figures[FigRate] = p.Delivered
		if o.Rate > 0 && p.Fraction() >= 0.99 {
			cost(p)
		}
	} else {
		r.progress("%s generator flat out", tag)
		top, err := r.point(ctx, PointMax, 0)
		add(top)
		if err != nil {
			return fail(err)
		}
		z := RateSearch{Lo: 0, Hi: top.Offered, Threshold: 0.99}
		z.Record(top.Offered, top.Fraction())
		for step := range o.Steps {
			if z.Lo >= z.Hi {
				break // delivered ≥ 99% flat out: nothing above to search
			}
			rate := z.Next()
			if step == 0 && top.Delivered > 0 && 0.97*top.Delivered < z.Hi {
				rate = 0.97 * top.Delivered // first guess: just under what flat out delivered
			}
			p, err := r.point(ctx, PointSearch, rate)
			if errors.Is(err, errShortfall) {
				// The generator cannot offer this rate now: no ≥99% rate
				// above what it did offer can be claimed.
				p.Short = true
				add(p)
				z.Hi = max(z.Lo, min(z.Hi, p.Offered))
				rr.Notes = append(rr.Notes, fmt.Sprintf("search: %v; the search's upper bound is now %.0f pps", err, z.Hi))
				continue
			}
			add(p)
			if err != nil {
				return fail(err)
			}
			z.Record(p.Offered, p.Fraction())
			r.progress("%s ≥99%%-delivered search %d/%d: offered %s → %.2f%% delivered", tag, step+1, o.Steps, rateLabel(p.Offered), 100*p.Fraction())
		}
		rr.Figures[FigRate99] = z.Lo
		if err := r.overload(ctx, tag, s, z.Lo, top.Offered, &rr); err != nil {
			return fail(err)
		}
		r.progress("%s cost at %s", tag, rateLabel(costRate))
		p, err := r.point(ctx, PointCost, costRate)
		add(p)
		if err != nil {
			return fail(err)
		}
		if p.Fraction() < 0.99 {
			rr.Notes = append(rr.Notes, fmt.Sprintf("cost rate %s above this subject's ≥99%%-delivered rate: %.1f%% delivered", rateLabel(costRate), 100*p.Fraction()))
		}
		cost(p)
	}
	var rx uint64
	for _, p := range rr.Points {
		rx += p.Received
	}
	if rx == 0 {
		rr.Err = "nothing reached the sink"
	}
	if o.Mode == ModeLocal && kind == SubjectGovs {
		tap1, err1 := r.b.tapRx()
		stack1, err2 := r.b.localRx()
		if err1 == nil && err2 == nil && tap1 > tap0 && float64(stack1-stack0) < 0.99*float64(tap1-tap0) {
			rr.Notes = append(rr.Notes, fmt.Sprintf("govs wrote %d frames into its tap, the director's stack took %d (measured windows and warm-up)", tap1-tap0, stack1-stack0))
		}
	}
	return rr
}

// flatOutMargin: a requested rate above this share of the generator's
// measured maximum is offered flat out.
const flatOutMargin = 0.9

// overload offers o.OverloadFactor × rate99, the subject's ≥99%-delivered
// rate, or the generator flat out (max, what it offered flat out) where
// that is more, and records what was delivered and what was offered.
func (r *runner) overload(ctx context.Context, tag string, s subject, rate99, max float64, rr *RoundResult) error {
	o := r.o
	want := o.OverloadFactor * rate99
	rate := want
	// The generator's flat-out rate varies from one window to the next by
	// more than the 2% a requested rate may fall short, so a request within
	// flatOutMargin of the maximum it showed is made flat out (and what was
	// offered is recorded either way).
	if want <= 0 || want >= flatOutMargin*max {
		rate = 0 // the generator's maximum
	}
	r.progress("%s overload at %s (%.3g× %s)", tag, rateLabel(rate), o.OverloadFactor, rateLabel(rate99))
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
	over, err := r.point(ctx, PointOverload, rate)
	if errors.Is(err, errShortfall) {
		// The generator cannot hold this rate now: overload is then what
		// it can send, flat out.
		rr.Notes = append(rr.Notes, fmt.Sprintf("overload: %v; offered flat out instead", err))
		rr.Points = append(rr.Points, over)
		rate = 0
		over, err = r.point(ctx, PointOverload, 0)
	}
	rr.Points = append(rr.Points, over)
	rr.Checked += over.Checked
	if err != nil {
		return err
	}
	if pr != nil && m0 != nil && m1 != nil {
		if m2, err := pr.probe(ctx); err == nil {
			note, allocs := daemonNote(m0, m1, m2, t1.Sub(t0), time.Since(t1))
			rr.Notes = append(rr.Notes, "overload: "+note)
			rr.Figures[FigAllocs] = allocs
		}
	}
	rr.Figures[FigOverload] = over.Delivered
	rr.Figures[FigOverloadOffered] = over.Offered
	if rate == 0 {
		rr.Notes = append(rr.Notes, fmt.Sprintf("overload: %.3g× the ≥99%%-delivered rate (%.0f pps) is at or beyond the generator's maximum: offered flat out, %.0f pps",
			o.OverloadFactor, rate99, over.Offered))
	}
	if drops := softnetDrops(o.DirCPUs) - d0; drops > 0 {
		rr.Notes = append(rr.Notes, fmt.Sprintf("overload: offered %.0f pps, %d frames dropped at the director core's backlog", over.Offered, drops))
	}
	return nil
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

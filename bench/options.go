package bench

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/govs-lb/govs/internal/director"
)

// Forwarding modes of the govs subject.
const (
	ModeDR    = "dr"
	ModeTun   = "tun"
	ModeMasq  = "masq"
	ModeLocal = "local"
)

// Traffic kinds.
const (
	ProtoUDP = "udp"
	ProtoTCP = "tcp" // established flows: a SYN per flow first, then ACK/data
	ProtoSYN = "syn" // new connections only: every packet a SYN of a fresh tuple
	// ProtoUDPNew is UDP with every datagram from a fresh tuple: a new
	// connection-table entry per packet, kept until the UDP timeout.
	ProtoUDPNew = "udp-new"
)

// UDP reports whether the traffic is UDP.
func (o *Options) UDP() bool { return o.Proto == ProtoUDP || o.Proto == ProtoUDPNew }

// Fresh reports whether every packet comes from a new tuple.
func (o *Options) Fresh() bool { return o.Proto == ProtoSYN || o.Proto == ProtoUDPNew }

// Subject names.
const (
	SubjectGovs   = "govs"
	SubjectNFT    = "nft-dnat"
	SubjectKernel = "kernel-fwd"
	SubjectBare   = "afpacket-bare"
	// SubjectKernelLocal is the local-mode baseline: no govs, the VIP on
	// the director's loopback, the kernel delivering to its own stack.
	SubjectKernelLocal = "kernel-local"
)

// SplitSubject splits a subject name into the subject and its I/O settings:
// "govs+prio=fifo+batch=64" is govs run with $GOVS_IO_TUNING set to
// "prio=fifo,batch=64" (director.ParseIOTuning), so that variants of govs
// or afpacket-bare are measured against each other in one bench.
func SplitSubject(name string) (base, tuning string) {
	base, t, _ := strings.Cut(name, "+")
	return base, strings.ReplaceAll(t, "+", ",")
}

// AllSubjects is the default subject list, in the order they run.
var AllSubjects = []string{SubjectGovs, SubjectNFT, SubjectKernel, SubjectBare}

// LocalSubjects is the default subject list of --mode local.
var LocalSubjects = []string{SubjectGovs, SubjectKernelLocal}

// localSkipNote says why local mode leaves the forwarding subjects out.
const localSkipNote = "local mode: nft-dnat, kernel-fwd and afpacket-bare skipped (they forward to the sink; " +
	"local mode measures delivery to the director's own stack, against kernel-local)"

// SubjectsFor is which subjects mode can measure.
func SubjectsFor(mode string) []string {
	if mode == ModeLocal {
		return LocalSubjects
	}
	return AllSubjects
}

// Options is a parsed `govs bench` command line.
type Options struct {
	Mode     string
	Proto    string
	Flows    int
	Size     int     // Ethernet frame size including the 4-byte FCS (64: 60 bytes sent)
	Rate     float64 // offered packets per second for a single-rate run; 0: max
	RateSet  bool    // --rate given: measure only at that rate
	Duration time.Duration
	// UDPTimeout, when nonzero, is the govs subject's UDP timeout
	// (`govs --set 0 0 S`): how long a UDP connection-table entry lives.
	UDPTimeout time.Duration
	Runs       int
	Workers    int
	Subjects   []string
	JSON       bool
	SVG        string

	CostRate float64 // offered rate of the cost figure; 0: defaultCostRate
	Steps    int     // bisection steps of the ≥99%-delivered search
	// OverloadFactor is the multiple of each subject's ≥99%-delivered rate
	// offered for the overload figure (at most the generator's maximum).
	OverloadFactor float64
	GenCPUs        []int // generator cores, one sending thread each
	DirCPUs        []int
	KeepGoing      bool // measure the other subjects when one fails

	Notes []string // said with the results (subjects skipped)

	args []string // the command line, for the report
}

// defaultCostRate is the offered rate of the cost figure without --cost-rate.
const defaultCostRate = 150e3

// DefaultOptions are the values without flags.
func DefaultOptions() Options {
	return Options{Mode: ModeDR, Proto: ProtoUDP, Flows: 4096, Size: 64, Duration: time.Second,
		Runs: 3, Workers: 1, Subjects: append([]string(nil), AllSubjects...), Steps: 7, GenCPUs: []int{0},
		OverloadFactor: 2}
}

// ErrUsage marks a command-line error: the message is one line, the exit status 2.
var ErrUsage = errors.New("usage")

func usageErr(format string, a ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrUsage}, a...)...)
}

// ParseRate parses --rate: "max", a number of packets per second, with an
// optional k or M suffix ("250k", "1.5M").
func ParseRate(s string) (float64, error) {
	s = strings.TrimSpace(s)
	if s == "max" {
		return 0, nil
	}
	mult := 1.0
	switch {
	case strings.HasSuffix(s, "k"), strings.HasSuffix(s, "K"):
		mult, s = 1e3, s[:len(s)-1]
	case strings.HasSuffix(s, "M"), strings.HasSuffix(s, "m"):
		mult, s = 1e6, s[:len(s)-1]
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v <= 0 || v*mult > 1e9 {
		return 0, fmt.Errorf("rate %q: want max or packets per second (e.g. 200000, 250k, 1.5M)", s)
	}
	return v * mult, nil
}

// ParseCPUList parses "1", "1,2" or "1-3".
func ParseCPUList(s string) ([]int, error) {
	var out []int
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil || a < 0 {
			return nil, fmt.Errorf("cpu list %q: bad number %q", s, lo)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a {
				return nil, fmt.Errorf("cpu list %q: bad range %q", s, part)
			}
		}
		for c := a; c <= b; c++ {
			out = append(out, c)
		}
	}
	return out, nil
}

// ParseArgs parses the arguments after "bench". Errors wrap ErrUsage and
// are one line; flag.ErrHelp is returned for -h.
func ParseArgs(args []string, out io.Writer) (Options, error) {
	o := DefaultOptions()
	fs := flag.NewFlagSet("govs bench", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	rate := fs.String("rate", "", "offered rate: packets per second (250k, 1.5M) or max; without it, ≥99%-delivered search + overload + cost")
	costRate := fs.String("cost-rate", "", "offered rate of the cost figure, the same for every subject (default 150k; keep it under every subject's ≥99%-delivered rate)")
	fs.Float64Var(&o.OverloadFactor, "overload-factor", o.OverloadFactor, "overload offers this multiple of each subject's ≥99%-delivered rate (at most the generator's maximum)")
	subjects := fs.String("subjects", strings.Join(AllSubjects, ","), "comma-separated subjects (--mode local: govs,kernel-local); govs+KEY=VALUE+… or afpacket-bare+… runs a variant with those I/O settings ($GOVS_IO_TUNING)")
	dur := fs.Float64("duration", o.Duration.Seconds(), "seconds per measurement")
	dirCPUs := fs.String("dir-cpus", "", "director cores (default: 1..workers)")
	fs.StringVar(&o.Mode, "mode", o.Mode, "govs forwarding method: dr, tun, masq or local")
	fs.StringVar(&o.Proto, "proto", o.Proto, "udp, tcp (established flows), syn (new connections only) or udp-new (a fresh UDP tuple per packet)")
	udpTimeout := fs.Int("udp-timeout", 0, "govs's UDP timeout in seconds for this bench (govs --set 0 0 S; 0: govs's default, 300)")
	fs.IntVar(&o.Flows, "flows", o.Flows, "distinct flows")
	fs.IntVar(&o.Size, "size", o.Size, "Ethernet frame size in bytes including FCS (64..1518)")
	fs.IntVar(&o.Runs, "runs", o.Runs, "rounds; subjects alternate within each round (A B A B)")
	fs.IntVar(&o.Workers, "workers", o.Workers, "govs workers (and afpacket-bare threads)")
	fs.IntVar(&o.Steps, "steps", o.Steps, "bisection steps of the ≥99%-delivered search")
	genCPU := fs.Int("gen-cpu", 0, "generator core (one sending thread)")
	genCPUs := fs.String("gen-cpus", "", "generator cores, one sending thread each, e.g. 0-3 (each sends its share of the flows at its share of the rate)")
	fs.BoolVar(&o.JSON, "json", false, "print the results as JSON on stdout")
	fs.StringVar(&o.SVG, "svg", "", "write a chart of delivered vs offered rate to FILE")
	fs.BoolVar(&o.KeepGoing, "keep-going", true, "measure the remaining subjects after one fails")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(out, "Usage: govs bench [--mode dr|tun|masq|local] [--proto udp|tcp|syn|udp-new] [--flows N] [--size BYTES]\n"+
				"       [--rate PPS|max] [--duration S] [--runs N] [--workers N] [--subjects LIST] [--overload-factor X]\n"+
				"       [--cost-rate PPS] [--json] [--svg FILE]")
			fs.SetOutput(out)
			fs.PrintDefaults()
			return o, err
		}
		return o, usageErr("%s", strings.TrimSpace(err.Error()))
	}
	if fs.NArg() > 0 {
		return o, usageErr("unexpected argument %q", fs.Arg(0))
	}
	switch o.Mode {
	case ModeDR, ModeTun, ModeMasq, ModeLocal:
	default:
		return o, usageErr("--mode %q: want dr, tun, masq or local", o.Mode)
	}
	switch o.Proto {
	case ProtoUDP, ProtoTCP, ProtoSYN, ProtoUDPNew:
	default:
		return o, usageErr("--proto %q: want udp, tcp, syn or udp-new", o.Proto)
	}
	if *udpTimeout < 0 || *udpTimeout > 86400 {
		return o, usageErr("--udp-timeout %d: want 0..86400 seconds", *udpTimeout)
	}
	o.UDPTimeout = time.Duration(*udpTimeout) * time.Second
	if o.Flows < 1 || o.Flows > MaxFlows {
		return o, usageErr("--flows %d: want 1..%d", o.Flows, MaxFlows)
	}
	if o.Size < 64 || o.Size > 1518 {
		return o, usageErr("--size %d: want 64..1518", o.Size)
	}
	if *dur <= 0 || *dur > 600 {
		return o, usageErr("--duration %v: want 0 < S ≤ 600", *dur)
	}
	o.Duration = time.Duration(*dur * float64(time.Second))
	if o.Runs < 1 || o.Runs > 100 {
		return o, usageErr("--runs %d: want 1..100", o.Runs)
	}
	if o.Workers < 1 || o.Workers > 64 {
		return o, usageErr("--workers %d: want 1..64", o.Workers)
	}
	if o.Steps < 1 || o.Steps > 20 {
		return o, usageErr("--steps %d: want 1..20", o.Steps)
	}
	if o.OverloadFactor < 1 || o.OverloadFactor > 100 {
		return o, usageErr("--overload-factor %v: want 1..100", o.OverloadFactor)
	}
	if *genCPU < 0 {
		return o, usageErr("--gen-cpu %d: want a core number", *genCPU)
	}
	o.GenCPUs = []int{*genCPU}
	if *genCPUs != "" {
		c, err := ParseCPUList(*genCPUs)
		if err != nil {
			return o, usageErr("--gen-cpus: %v", err)
		}
		o.GenCPUs = c
	}
	if *rate != "" {
		r, err := ParseRate(*rate)
		if err != nil {
			return o, usageErr("--%v", err)
		}
		o.Rate, o.RateSet = r, true
	}
	if *costRate != "" {
		r, err := ParseRate(*costRate)
		if err != nil || r == 0 {
			return o, usageErr("--cost-%v", errors.Join(err, errors.New("cost rate must be a number")))
		}
		o.CostRate = r
	}
	subjectsSet := false
	fs.Visit(func(f *flag.Flag) { subjectsSet = subjectsSet || f.Name == "subjects" })
	if !subjectsSet {
		*subjects = strings.Join(SubjectsFor(o.Mode), ",")
	}
	if o.Mode == ModeLocal {
		o.Notes = append(o.Notes, localSkipNote)
	}
	allowed := SubjectsFor(o.Mode)
	o.Subjects = nil
	seen := map[string]bool{}
	for _, s := range strings.Split(*subjects, ",") {
		s = strings.TrimSpace(s)
		base, tuning := SplitSubject(s)
		if !slices.Contains(allowed, base) {
			if slices.Contains(AllSubjects, base) || slices.Contains(LocalSubjects, base) {
				return o, usageErr("--subjects: %s does not apply to --mode %s (want %s)", base, o.Mode, strings.Join(allowed, ","))
			}
			return o, usageErr("--subjects: unknown subject %q (want %s)", s, strings.Join(allowed, ","))
		}
		switch base {
		case SubjectGovs, SubjectBare:
			if _, err := director.ParseIOTuning(tuning); err != nil {
				return o, usageErr("--subjects %s: %v", s, err)
			}
		case SubjectNFT, SubjectKernel, SubjectKernelLocal:
			if tuning != "" {
				return o, usageErr("--subjects %s: only govs and afpacket-bare take I/O settings", s)
			}
		default:
			return o, usageErr("--subjects: unknown subject %q (want %s)", s, strings.Join(allowed, ","))
		}
		if seen[s] {
			return o, usageErr("--subjects: %s given twice", s)
		}
		seen[s] = true
		o.Subjects = append(o.Subjects, s)
	}
	if *dirCPUs != "" {
		c, err := ParseCPUList(*dirCPUs)
		if err != nil {
			return o, usageErr("--dir-cpus: %v", err)
		}
		o.DirCPUs = c
	} else {
		last := slices.Max(o.GenCPUs)
		for i := 1; i <= o.Workers; i++ {
			o.DirCPUs = append(o.DirCPUs, last+i)
		}
	}
	for _, c := range o.DirCPUs {
		if slices.Contains(o.GenCPUs, c) {
			return o, usageErr("--dir-cpus %v includes the generator core %d", o.DirCPUs, c)
		}
	}
	return o, nil
}

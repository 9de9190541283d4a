package bench

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"
	"time"
)

// Point is one measurement window: what the generator sent and what
// reached the counting point (the sink; the director's input hook in local
// mode) before the generator stopped.
type Point struct {
	Kind string `json:"kind"` // what the point is for: PointMax, PointSearch, …
	// Requested is the rate asked of the generator; 0: flat out.
	Requested float64 `json:"requested_pps,omitempty"`
	Offered   float64 `json:"offered_pps"`   // Sent over the window
	Delivered float64 `json:"delivered_pps"` // Received over the window
	Seconds   float64 `json:"seconds"`       // the window: from the first send to the generator's stop
	Sent      uint64  `json:"sent"`
	// Refused counts frames the veth refused because the director's
	// receive backlog was full: not in Sent (refusing costs the generator
	// nothing, so they would make up an offered rate), reported apart.
	Refused  uint64 `json:"refused,omitempty"`
	Received uint64 `json:"received"` // counted inside the window
	// Late arrived after the window, while the rings and queues drained:
	// not delivered, but checked against Sent.
	Late uint64 `json:"late,omitempty"`
	// BusyCores is how many of the lab's cores were busy on average during
	// the window (each core's busy fraction, summed), when measured.
	BusyCores float64 `json:"busy_cores,omitempty"`
	// SampleEvery is the sampling interval of the window's IPv4 frames,
	// Sampled what the filter passed and Checked the frames validated.
	// Short marks a search point where the generator fell short of
	// Requested twice: it only lowers the search's upper bound to what
	// the generator offered.
	Short bool `json:"short,omitempty"`
	// Trials is how many windows this point took (see trials).
	Trials      int    `json:"trials,omitempty"`
	SampleEvery int    `json:"sample_every"`
	Sampled     uint64 `json:"sampled"`
	Checked     int    `json:"checked"`
}

// What a point is for.
const (
	PointMax      = "max"      // the generator flat out: the search's upper bound
	PointSearch   = "search"   // a step of the ≥99%-delivered search
	PointOverload = "overload" // --overload-factor × the ≥99%-delivered rate
	PointCost     = "cost"     // the cost window
	PointBaseline = "baseline" // the cost window's traffic, dropped at the director's ingress
	PointRate     = "rate"     // the one window of --rate
)

// Fraction is the share of sent packets received inside the window.
func (p Point) Fraction() float64 {
	if p.Sent == 0 {
		return 0
	}
	return float64(p.Received) / float64(p.Sent)
}

// maxShortfall is how far below the requested rate the generator may fall
// before a point does not count.
const maxShortfall = 0.02

// maxShortfallMetered is maxShortfall for the windows that measure CPU
// time (cost, baseline, a --rate point). The tickers that keep every core's
// accounting honest spin on all of them, and a virtual machine's CPU
// allowance then holds the whole lab back by up to about a tenth, the
// generator with it. A figure per packet hardly moves with the rate over
// that span, and the rate offered is recorded with it.
const maxShortfallMetered = 0.12

// shortfallAllowed is how far below the requested rate a point of kind may
// fall and still count.
func shortfallAllowed(kind string) float64 {
	switch kind {
	case PointCost, PointBaseline, PointRate:
		return maxShortfallMetered
	}
	return maxShortfall
}

// errShortfall marks a point where the generator fell short.
var errShortfall = errors.New("generator short of the requested rate")

// Shortfall says whether the generator offered less than requested by more
// than it may (maxShortfall, or maxShortfallMetered where CPU time is
// measured): such a point measured another rate than it claims.
// The error wraps errShortfall.
func (p Point) Shortfall() error {
	allowed := shortfallAllowed(p.Kind)
	if p.Requested <= 0 || p.Offered >= (1-allowed)*p.Requested {
		return nil
	}
	return fmt.Errorf("%w: offered %.0f pps of the %.0f requested (%.1f%% short; more than %.0f%% short does not count: add --gen-cpus or lower the rate)",
		errShortfall, p.Offered, p.Requested, 100*(1-p.Offered/p.Requested), 100*allowed)
}

// Figure names: the keys of RoundResult.Figures and of the JSON summary.
const (
	// FigRate99 is the highest offered rate at which at least 99% of the
	// frames were delivered inside the window (bisection): not a loss-free
	// rate. Its JSON key keeps the name earlier versions wrote.
	FigRate99 = "zero_loss_pps"
	// FigOverload is what was delivered when the generator offered
	// --overload-factor × FigRate99 (at most its maximum); FigOverloadOffered
	// is what it offered then.
	FigOverload        = "overload_pps"
	FigOverloadOffered = "overload_offered_pps"
	// FigCost is the net cost: the nanoseconds of busy time of all the
	// lab's cores per delivered packet, less the baseline's per sent packet
	// (NetCostNS). FigCostRaw is the same before the baseline is taken off.
	FigCost    = "cost_ns"
	FigCostRaw = "cost_raw_ns"
	FigRate    = "delivered_pps" // single-rate runs (--rate)
	// FigAllocs is the govs daemon's heap allocations per received frame
	// during the overload window, beyond its idle rate (JSON only).
	FigAllocs = "daemon_allocs_per_frame"
)

// RoundResult is one subject's figures in one round.
type RoundResult struct {
	Round   int                `json:"round"`
	Subject string             `json:"subject"`
	Figures map[string]float64 `json:"figures"`
	Points  []Point            `json:"points"`
	Checked int                `json:"checked"` // sampled frames validated
	Err     string             `json:"error,omitempty"`
	Notes   []string           `json:"notes,omitempty"`
}

// Failed reports whether the subject failed in this round.
func (r *RoundResult) Failed() bool { return r.Err != "" }

// Machine describes where the bench ran.
type Machine struct {
	CPUs   int    `json:"cpus"`
	Model  string `json:"cpu_model"`
	Kernel string `json:"kernel"`
	Go     string `json:"go"`
}

// Results are a whole bench run.
type Results struct {
	Date     time.Time `json:"date"`
	Machine  Machine   `json:"machine"`
	Command  string    `json:"command"`
	Mode     string    `json:"mode"`
	Proto    string    `json:"proto"`
	Flows    int       `json:"flows"`
	Size     int       `json:"size"`
	Workers  int       `json:"workers"`
	CostRate float64   `json:"cost_rate_pps,omitempty"`
	// OverloadFactor is the multiple of each subject's ≥99%-delivered rate
	// offered for the overload figure.
	OverloadFactor float64                       `json:"overload_factor,omitempty"`
	Rounds         []RoundResult                 `json:"rounds"`
	Summary        map[string]map[string]Summary `json:"summary"`         // subject → figure → summary
	Ratios         map[string]map[string]Summary `json:"ratios"`          // "govs/nft-dnat" → figure → summary
	Notes          []string                      `json:"notes,omitempty"` // about the whole run (subjects skipped)
}

// figureOrder is how figures are listed.
var figureOrder = []string{FigRate99, FigOverload, FigOverloadOffered, FigCost, FigCostRaw, FigRate}

// perRound returns subject's value of fig in each round (NaN where missing
// or failed), indexed by round.
func (r *Results) perRound(subject, fig string, rounds int) []float64 {
	out := make([]float64, rounds)
	for i := range out {
		out[i] = math.NaN()
	}
	for _, rr := range r.Rounds {
		if rr.Subject != subject || rr.Failed() || rr.Round < 0 || rr.Round >= rounds {
			continue
		}
		if v, ok := rr.Figures[fig]; ok {
			out[rr.Round] = v
		}
	}
	return out
}

// Summarize fills Summary and Ratios from Rounds: medians and ranges per
// subject, and govs ÷ each other subject computed within each round.
func (r *Results) Summarize(subjects []string) {
	rounds := 0
	for _, rr := range r.Rounds {
		rounds = max(rounds, rr.Round+1)
	}
	r.Summary = map[string]map[string]Summary{}
	r.Ratios = map[string]map[string]Summary{}
	for _, s := range subjects {
		m := map[string]Summary{}
		for _, f := range figureOrder {
			if v := Summarize(r.perRound(s, f, rounds)); v.N > 0 {
				m[f] = v
			}
		}
		r.Summary[s] = m
	}
	for _, s := range subjects {
		if s == SubjectGovs {
			continue
		}
		m := map[string]Summary{}
		for _, f := range figureOrder {
			if f == FigOverloadOffered {
				continue // the same multiple for every subject by design
			}
			v := Summarize(Ratios(r.perRound(SubjectGovs, f, rounds), r.perRound(s, f, rounds)))
			if v.N > 0 {
				m[f] = v
			}
		}
		if len(m) > 0 {
			r.Ratios[SubjectGovs+"/"+s] = m
		}
	}
}

// WriteJSON writes r as indented JSON. NaNs are left out by Summarize, so
// the output is always valid JSON.
func (r *Results) WriteJSON(w io.Writer) error {
	finite := func(v *float64) { // encoding/json refuses NaN and ±Inf
		if math.IsNaN(*v) || math.IsInf(*v, 0) {
			*v = 0
		}
	}
	for i := range r.Rounds {
		rr := &r.Rounds[i]
		for k, v := range rr.Figures {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				delete(rr.Figures, k)
			}
		}
		for j := range rr.Points {
			p := &rr.Points[j]
			finite(&p.Offered)
			finite(&p.Delivered)
			finite(&p.BusyCores)
		}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

func fmtRate(s Summary) string {
	return fmt.Sprintf("%.0f (%.0f–%.0f)", s.Median/1e3, s.Min/1e3, s.Max/1e3)
}

func fmtNS(s Summary) string {
	return fmt.Sprintf("%.0f (%.0f–%.0f)", s.Median, s.Min, s.Max)
}

func fmtRatio(s Summary) string {
	return fmt.Sprintf("%.2f (%.2f–%.2f)", s.Median, s.Min, s.Max)
}

var figureTitle = map[string]string{
	FigRate99:          "≥99%-delivered kpps",
	FigOverload:        "overload kpps",
	FigOverloadOffered: "offered kpps",
	FigCost:            "net cost ns/pkt",
	FigCostRaw:         "raw cost ns/pkt",
	FigRate:            "delivered kpps",
}

// WriteTable writes the human summary: medians with min–max per subject,
// failures, and govs's ratios to each baseline.
func (r *Results) WriteTable(w io.Writer, subjects []string) {
	var figs []string
	for _, f := range figureOrder {
		for _, s := range subjects {
			if _, ok := r.Summary[s][f]; ok {
				figs = append(figs, f)
				break
			}
		}
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	hdr := []string{"subject"}
	for _, f := range figs {
		hdr = append(hdr, figureTitle[f])
	}
	hdr = append(hdr, "checked", "failed rounds")
	fmt.Fprintln(tw, strings.Join(hdr, "\t"))
	for _, s := range subjects {
		row := []string{s}
		for _, f := range figs {
			v, ok := r.Summary[s][f]
			switch {
			case !ok:
				row = append(row, "-")
			case f == FigCost || f == FigCostRaw:
				row = append(row, fmtNS(v))
			default:
				row = append(row, fmtRate(v))
			}
		}
		checked, failed := 0, 0
		for _, rr := range r.Rounds {
			if rr.Subject == s {
				checked += rr.Checked
				if rr.Failed() {
					failed++
				}
			}
		}
		row = append(row, fmt.Sprint(checked), fmt.Sprint(failed))
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	for _, s := range subjects {
		key := SubjectGovs + "/" + s
		m, ok := r.Ratios[key]
		if !ok {
			continue
		}
		row := []string{"govs ÷ " + s}
		for _, f := range figs {
			if v, ok := m[f]; ok {
				row = append(row, fmtRatio(v))
			} else {
				row = append(row, "-")
			}
		}
		fmt.Fprintln(tw, strings.Join(append(row, "", ""), "\t"))
	}
	tw.Flush()
	for _, rr := range r.Rounds {
		if rr.Failed() {
			fmt.Fprintf(w, "FAILED round %d %s: %s\n", rr.Round+1, rr.Subject, rr.Err)
		}
	}
}

package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"
	"time"
)

// Point is one measurement: offered and delivered rates over one window.
type Point struct {
	Offered   float64 `json:"offered_pps"`
	Delivered float64 `json:"delivered_pps"`
	Sent      uint64  `json:"sent"`
	Received  uint64  `json:"received"`
	Busy      float64 `json:"busy,omitempty"` // director-core busy fraction, when measured
}

// Fraction is the share of sent packets the sink received.
func (p Point) Fraction() float64 {
	if p.Sent == 0 {
		return 0
	}
	return float64(p.Received) / float64(p.Sent)
}

// Figure names.
const (
	FigZeroLoss = "zero_loss_pps"
	FigOverload = "overload_pps"
	FigCost     = "cost_ns"
	FigRate     = "delivered_pps" // single-rate runs (--rate)
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
	Date     time.Time                     `json:"date"`
	Machine  Machine                       `json:"machine"`
	Command  string                        `json:"command"`
	Mode     string                        `json:"mode"`
	Proto    string                        `json:"proto"`
	Flows    int                           `json:"flows"`
	Size     int                           `json:"size"`
	Workers  int                           `json:"workers"`
	CostRate float64                       `json:"cost_rate_pps,omitempty"`
	Rounds   []RoundResult                 `json:"rounds"`
	Summary  map[string]map[string]Summary `json:"summary"`         // subject → figure → summary
	Ratios   map[string]map[string]Summary `json:"ratios"`          // "govs/nft-dnat" → figure → summary
	Notes    []string                      `json:"notes,omitempty"` // about the whole run (subjects skipped)
}

// figureOrder is how figures are listed.
var figureOrder = []string{FigZeroLoss, FigOverload, FigCost, FigRate}

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
			finite(&p.Busy)
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
	FigZeroLoss: "zero-loss kpps",
	FigOverload: "overload kpps",
	FigCost:     "cost ns/pkt",
	FigRate:     "delivered kpps",
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
			case f == FigCost:
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

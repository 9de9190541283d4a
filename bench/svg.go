package bench

import (
	"fmt"
	"html"
	"io"
	"math"
	"slices"
	"strings"
)

// XY is one point of a chart.
type XY struct{ X, Y float64 }

// Series is one line of a chart.
type Series struct {
	Name   string
	Points []XY
}

var palette = []string{"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"}

// niceStep returns a round tick step (1, 2 or 5 × 10^k) giving about n ticks up to max.
func niceStep(maxv float64, n int) float64 {
	if maxv <= 0 {
		return 1
	}
	raw := maxv / float64(n)
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= raw {
			return m * p
		}
	}
	return 10 * p
}

// WriteSVG draws series as lines with markers on linear axes, with a dashed
// y = x diagonal when diagonal is set (delivered = offered), and a legend.
// xLabel and yLabel name the axes; values are divided by scale for the tick
// labels (1e3 for kpps).
func WriteSVG(w io.Writer, title, xLabel, yLabel string, scale float64, diagonal bool, series []Series) error {
	const W, H = 760.0, 480.0
	const left, right, top, bottom = 80.0, 180.0, 50.0, 60.0
	pw, ph := W-left-right, H-top-bottom
	maxX, maxY := 0.0, 0.0
	for _, s := range series {
		for _, p := range s.Points {
			if !math.IsNaN(p.X) && !math.IsNaN(p.Y) {
				maxX, maxY = max(maxX, p.X), max(maxY, p.Y)
			}
		}
	}
	if diagonal {
		maxY = max(maxY, maxX)
		maxX = max(maxX, maxY)
	}
	sx, sy := niceStep(maxX, 6), niceStep(maxY, 6)
	maxX, maxY = math.Max(sx, math.Ceil(maxX/sx)*sx), math.Max(sy, math.Ceil(maxY/sy)*sy)
	px := func(x float64) float64 { return left + x/maxX*pw }
	py := func(y float64) float64 { return top + ph - y/maxY*ph }

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" font-family="sans-serif" font-size="12">`+"\n", W, H, W, H)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%.0f" y="24" font-size="15" font-weight="bold">%s</text>`+"\n", left, html.EscapeString(title))
	for x := 0.0; x <= maxX+sx/2; x += sx {
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/>`+"\n", px(x), top, px(x), top+ph)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", px(x), top+ph+16, trimNum(x/scale))
	}
	for y := 0.0; y <= maxY+sy/2; y += sy {
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/>`+"\n", left, py(y), left+pw, py(y))
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="end">%s</text>`+"\n", left-6, py(y)+4, trimNum(y/scale))
	}
	fmt.Fprintf(&b, `<rect x="%.0f" y="%.0f" width="%.0f" height="%.0f" fill="none" stroke="#333"/>`+"\n", left, top, pw, ph)
	fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", left+pw/2, H-16, html.EscapeString(xLabel))
	fmt.Fprintf(&b, `<text transform="translate(20 %.1f) rotate(-90)" text-anchor="middle">%s</text>`+"\n", top+ph/2, html.EscapeString(yLabel))
	if diagonal {
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#999" stroke-dasharray="5 4"/>`+"\n", px(0), py(0), px(maxX), py(maxX))
	}
	for i, s := range series {
		col := palette[i%len(palette)]
		pts := slices.Clone(s.Points)
		pts = slices.DeleteFunc(pts, func(p XY) bool { return math.IsNaN(p.X) || math.IsNaN(p.Y) })
		slices.SortFunc(pts, func(a, b XY) int {
			switch {
			case a.X < b.X:
				return -1
			case a.X > b.X:
				return 1
			}
			return 0
		})
		if len(pts) > 1 {
			var d strings.Builder
			for j, p := range pts {
				if j > 0 {
					d.WriteByte(' ')
				}
				fmt.Fprintf(&d, "%.1f,%.1f", px(p.X), py(p.Y))
			}
			fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`+"\n", col, d.String())
		}
		for _, p := range pts {
			fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>`+"\n", px(p.X), py(p.Y), col)
		}
		ly := top + 10 + float64(i)*20
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="3"/>`+"\n", left+pw+14, ly, left+pw+36, ly, col)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f">%s</text>`+"\n", left+pw+42, ly+4, html.EscapeString(s.Name))
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func trimNum(v float64) string {
	s := fmt.Sprintf("%.2f", v)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	return s
}

// SweepSeries turns results into one delivered-vs-offered series per subject.
func (r *Results) SweepSeries(subjects []string) []Series {
	var out []Series
	for _, s := range subjects {
		var pts []XY
		for _, rr := range r.Rounds {
			if rr.Subject != s {
				continue
			}
			for _, p := range rr.Points {
				if p.Kind == PointBaseline {
					continue // dropped on purpose: no subject ran
				}
				pts = append(pts, XY{p.Offered, p.Delivered})
			}
		}
		out = append(out, Series{Name: s, Points: pts})
	}
	return out
}

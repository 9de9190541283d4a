package bench

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Summary is the median and range of repeated measurements.
type Summary struct {
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
	N      int     `json:"n"`
}

// Summarize returns the median (mean of the middle two for an even count),
// minimum and maximum of the finite values in xs.
func Summarize(xs []float64) Summary {
	v := make([]float64, 0, len(xs))
	for _, x := range xs {
		if !math.IsNaN(x) && !math.IsInf(x, 0) {
			v = append(v, x)
		}
	}
	if len(v) == 0 {
		return Summary{Median: math.NaN(), Min: math.NaN(), Max: math.NaN()}
	}
	slices.Sort(v)
	s := Summary{Min: v[0], Max: v[len(v)-1], N: len(v)}
	if m := len(v) / 2; len(v)%2 == 1 {
		s.Median = v[m]
	} else {
		s.Median = (v[m-1] + v[m]) / 2
	}
	return s
}

// Ratios divides a[i] by b[i] for each repetition i (NaN where either is
// missing or b is 0): ratios are computed within one repetition, then
// summarised.
func Ratios(a, b []float64) []float64 {
	out := make([]float64, min(len(a), len(b)))
	for i := range out {
		if b[i] == 0 || math.IsNaN(a[i]) || math.IsNaN(b[i]) {
			out[i] = math.NaN()
			continue
		}
		out[i] = a[i] / b[i]
	}
	return out
}

// CostNS is CPU time per packet in nanoseconds: coreSeconds of busy
// cores over packets.
func CostNS(coreSeconds float64, packets uint64) float64 {
	if packets == 0 {
		return math.NaN()
	}
	return coreSeconds * 1e9 / float64(packets)
}

// NetCostNS is p's cost net of the baseline: the busy core-seconds of all
// the lab's cores during p, less what base (the same traffic dropped at the
// director's ingress) spent per sent packet times the packets p sent, per
// packet delivered. What is left is the subject's own work: receiving past
// the ingress hook, forwarding, sending, and the sink's receive of what it
// sent, which is the same for every subject.
func NetCostNS(p, base Point) float64 {
	if base.Sent == 0 {
		return math.NaN()
	}
	perSent := base.BusyCores * base.Seconds / float64(base.Sent)
	return CostNS(p.BusyCores*p.Seconds-perSent*float64(p.Sent), p.Received)
}

// userHZ is the unit of the times in /proc/stat (USER_HZ, 100 on Linux).
const userHZ = 100

// BusySeconds reads, from the text of /proc/stat, how long each of cpus has
// been busy: user, nice, system, irq, softirq and steal time (everything
// but idle and iowait), in seconds. A cpu that is not listed is an error.
func BusySeconds(stat string, cpus []int) ([]float64, error) {
	out := make([]float64, len(cpus))
	found := make([]bool, len(cpus))
	for _, line := range strings.Split(stat, "\n") {
		f := strings.Fields(line)
		if len(f) < 9 || !strings.HasPrefix(f[0], "cpu") || f[0] == "cpu" {
			continue
		}
		n, err := strconv.Atoi(f[0][3:])
		if err != nil {
			continue
		}
		i := slices.Index(cpus, n)
		if i < 0 {
			continue
		}
		var busy uint64
		for k, v := range f[1:9] { // user nice system idle iowait irq softirq steal
			if k == 3 || k == 4 {
				continue
			}
			x, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("/proc/stat %s: %w", f[0], err)
			}
			busy += x
		}
		out[i], found[i] = float64(busy)/userHZ, true
	}
	for i, ok := range found {
		if !ok {
			return nil, fmt.Errorf("/proc/stat: no line for cpu%d", cpus[i])
		}
	}
	return out, nil
}

// RateSearch finds by bisection the highest offered rate at which at
// least Threshold of the frames are delivered. Start with Lo = 0 (assumed
// to pass) and Hi = the generator's maximum; Record each measured point
// with the rate it offered (not the one requested). Lo ≤ Hi always holds,
// so the rate found never exceeds the generator's maximum.
type RateSearch struct {
	Lo, Hi    float64
	Threshold float64
}

// Next returns the rate to try next.
func (z *RateSearch) Next() float64 { return (z.Lo + z.Hi) / 2 }

// Record notes that offering rate delivered the fraction got.
func (z *RateSearch) Record(rate, got float64) {
	if got >= z.Threshold {
		z.Lo = max(z.Lo, min(rate, z.Hi))
	} else {
		z.Hi = min(z.Hi, max(rate, z.Lo))
	}
}

// ThreadCPUSeconds reads a thread's user and system time, in seconds, from
// the text of its /proc/PID/task/TID/stat.
func ThreadCPUSeconds(stat string) (float64, error) {
	// The command name (field 2) is in parentheses and may hold spaces:
	// the fields after it start after the last ')'.
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, errors.New("thread stat: no command name")
	}
	f := strings.Fields(stat[i+1:])
	if len(f) < 13 { // f[0] is field 3 (state); utime and stime are fields 14 and 15
		return 0, errors.New("thread stat: too few fields")
	}
	var sum uint64
	for _, v := range f[11:13] {
		x, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("thread stat: %w", err)
		}
		sum += x
	}
	return float64(sum) / userHZ, nil
}

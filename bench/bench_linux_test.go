//go:build linux

package bench

import (
	"context"
	"fmt"
	"math"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/govs-lb/govs/internal/cli"
	"github.com/govs-lb/govs/internal/lab"
	"github.com/govs-lb/govs/internal/testenv"
)

// asGovs makes this test binary act as the govs command in the processes
// the bench starts (`govs run` and the CLI), so no build is needed.
const asGovs = "GOVS_BENCH_TEST_AS_GOVS"

func TestMain(m *testing.M) {
	if os.Getenv(asGovs) == "1" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		app := cli.New("govs", "test")
		app.RegisterSubcommand("run", cli.RunCommand)
		app.Register("bench", Run) // afpacket-bare: `govs bench --internal-bare`
		code := app.Run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// tinyRun runs a short bench in a real lab with this test binary acting as
// govs, after skipping where namespaces or 2 cores are missing.
func tinyRun(t *testing.T, args string) *Results {
	t.Helper()
	lab.NewT(t) // skips without the right to make namespaces
	if runtime.NumCPU() < 2 {
		testenv.Skip(t, "needs 2 cores: one for the generator, one for the director")
	}
	t.Setenv(asGovs, "1")
	o, err := ParseArgs(strings.Fields(args), os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := runBench(ctx, &o, func(f string, a ...any) { t.Logf(f, a...) })
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// pointOf is rr's last point of kind (the one its figure comes from).
func pointOf(t *testing.T, rr RoundResult, kind string) Point {
	t.Helper()
	for i := len(rr.Points) - 1; i >= 0; i-- {
		if p := rr.Points[i]; p.Kind == kind {
			return p
		}
	}
	t.Fatalf("%s: no %s point in %+v", rr.Subject, kind, rr.Points)
	return Point{}
}

// TestTinyBench runs a short bench end to end in a real lab: govs (the
// daemon, configured through its CLI) and kernel forwarding at a low rate.
// Both must deliver nearly everything, and the sink must have sampled and
// validated their output.
func TestTinyBench(t *testing.T) {
	res := tinyRun(t, "--subjects govs,kernel-fwd,afpacket-bare --rate 5k --duration 1 --runs 1 --flows 64")
	if len(res.Rounds) != 3 {
		t.Fatalf("%d results, want 3", len(res.Rounds))
	}
	for _, rr := range res.Rounds {
		if rr.Failed() {
			t.Errorf("%s failed: %s", rr.Subject, rr.Err)
			continue
		}
		if rr.Checked == 0 {
			t.Errorf("%s: no frame validated at the sink", rr.Subject)
		}
		p := pointOf(t, rr, PointRate)
		if p.Sent < 4500 || p.Fraction() < 0.95 {
			t.Errorf("%s: sent %d, received %d", rr.Subject, p.Sent, p.Received)
		}
		t.Logf("%s: offered %.0f pps, delivered %.0f pps, %d frames validated, busy cores %.2f", rr.Subject, p.Offered, p.Delivered, rr.Checked, p.BusyCores)
	}
}

// TestTinyBenchTwoGenerators sends fresh SYNs from two generator threads
// (both on core 0 here; one per core on a bigger machine): the rate is
// split between them, and their tuples are disjoint, so every SYN the
// director forwarded made a connection of its own.
func TestTinyBenchTwoGenerators(t *testing.T) {
	res := tinyRun(t, "--subjects govs --proto syn --rate 4k --duration 1 --runs 1 --gen-cpus 0,0 --dir-cpus 1")
	if len(res.Rounds) != 1 || res.Rounds[0].Failed() {
		t.Fatalf("rounds %+v", res.Rounds)
	}
	rr := res.Rounds[0]
	p := pointOf(t, rr, PointRate)
	if p.Sent < 2000 || p.Fraction() < 0.95 {
		t.Fatalf("sent %d, received %d", p.Sent, p.Received)
	}
	var before, after float64
	found := false
	for _, n := range rr.Notes {
		if _, err := fmt.Sscanf(n, "daemon: connection table %f → %f entries", &before, &after); err == nil {
			found = true
		}
	}
	if !found {
		t.Fatalf("no table note in %q", rr.Notes)
	}
	// The warm-up sends one SYN per flow of the frame set first; the
	// window's SYNs are fresh tuples on top of those.
	if added := after - before; added < 0.99*float64(p.Received) {
		t.Errorf("%0.f connections added for %d SYNs forwarded: the two generators' tuples overlap", added, p.Received)
	}
	t.Logf("sent %d, received %d, table %0.f → %0.f", p.Sent, p.Received, before, after)
}

// TestTinyLocalBench is TestTinyBench in local mode: govs hands the VIP
// traffic to the director's own stack through its tap (LocalNode), the
// kernel-local baseline delivers it from eth0; both must deliver nearly
// everything, and the frames sampled where they enter the director's stack
// must still be the client's, addressed to the VIP.
func TestTinyLocalBench(t *testing.T) {
	res := tinyRun(t, "--mode local --rate 5k --duration 1 --runs 1 --flows 64")
	if len(res.Rounds) != 2 {
		t.Fatalf("%d results, want 2 (govs, kernel-local)", len(res.Rounds))
	}
	for _, rr := range res.Rounds {
		if rr.Failed() {
			t.Errorf("%s failed: %s", rr.Subject, rr.Err)
			continue
		}
		if rr.Checked == 0 {
			t.Errorf("%s: no frame validated at the director", rr.Subject)
		}
		for _, n := range rr.Notes {
			if strings.HasPrefix(n, "daemon:") { // the daemon's table and memory: information
				t.Logf("%s: %s", rr.Subject, n)
				continue
			}
			t.Errorf("%s: %s", rr.Subject, n)
		}
		p := pointOf(t, rr, PointRate)
		if p.Sent < 4500 || p.Fraction() < 0.95 {
			t.Errorf("%s: sent %d, delivered %d", rr.Subject, p.Sent, p.Received)
		}
		t.Logf("%s: offered %.0f pps, delivered %.0f pps, %d frames validated, busy cores %.2f", rr.Subject, p.Offered, p.Delivered, rr.Checked, p.BusyCores)
	}
}

// TestTinyDefaultPath runs the default measurement (no --rate): the
// generator flat out, the ≥99%-delivered search, overload at twice that
// and the cost window with its baseline, for govs and kernel forwarding,
// and checks that the figures are consistent with the points they come
// from.
func TestTinyDefaultPath(t *testing.T) {
	res := tinyRun(t, "--subjects govs,kernel-fwd --duration 0.5 --steps 3 --runs 1 --flows 64 --cost-rate 5k")
	if len(res.Rounds) != 2 || res.OverloadFactor != 2 {
		t.Fatalf("%d results, overload factor %v; want 2 and 2", len(res.Rounds), res.OverloadFactor)
	}
	var unmeasured []string
	defer func() {
		if len(unmeasured) > 0 {
			testenv.Skip(t, "the cost windows of %s measured no busy time: this machine is busy with other work", strings.Join(unmeasured, ", "))
		}
	}()
	for _, rr := range res.Rounds {
		if rr.Failed() {
			t.Errorf("%s failed: %s", rr.Subject, rr.Err)
			continue
		}
		top := pointOf(t, rr, PointMax)
		over := pointOf(t, rr, PointOverload)
		pointOf(t, rr, PointCost)
		pointOf(t, rr, PointBaseline)
		rate99 := rr.Figures[FigRate99]
		if rate99 <= 0 || rate99 > top.Offered {
			t.Errorf("%s: ≥99%%-delivered rate %.0f, generator's maximum %.0f", rr.Subject, rate99, top.Offered)
		}
		for _, p := range rr.Points {
			if p.Received > p.Sent || p.Delivered > p.Offered {
				t.Errorf("%s %s: received %d of %d sent (%.0f of %.0f pps)", rr.Subject, p.Kind, p.Received, p.Sent, p.Delivered, p.Offered)
			}
			if p.Short && (p.Kind != PointSearch || rate99 > p.Offered) {
				t.Errorf("%s %s: generator short (%.0f of %.0f pps), ≥99%% rate %.0f", rr.Subject, p.Kind, p.Offered, p.Requested, rate99)
			}
			if p.Requested > 0 && !p.Short && p.Offered < 0.98*p.Requested {
				t.Errorf("%s %s: offered %.0f pps of %.0f requested", rr.Subject, p.Kind, p.Offered, p.Requested)
			}
			switch {
			case p.Kind == PointBaseline && p.Received+p.Late != 0:
				t.Errorf("%s: %d frames passed the baseline's ingress drop", rr.Subject, p.Received+p.Late)
			case p.Kind != PointBaseline && p.Received > 0 && p.Checked == 0:
				t.Errorf("%s %s: %d frames received, none validated", rr.Subject, p.Kind, p.Received)
			}
		}
		// Overload offers twice the ≥99%-delivered rate, or the generator
		// flat out where that is more, and reports what it offered.
		first := over // an overload the generator fell short of is measured again flat out
		for _, p := range rr.Points {
			if p.Kind == PointOverload {
				first = p
				break
			}
		}
		if first != over && (!first.Short && first.Shortfall() == nil || over.Requested != 0) {
			t.Errorf("%s: two overload points, %+v then %+v: want a short one, then flat out", rr.Subject, first, over)
		}
		if want := 2 * rate99; first.Requested != 0 && math.Abs(first.Requested-want) > 1 || first.Requested == 0 && want < flatOutMargin*top.Offered {
			t.Errorf("%s: overload requested %.0f pps, want 2 × %.0f (generator max %.0f)", rr.Subject, first.Requested, rate99, top.Offered)
		}
		if rr.Figures[FigOverloadOffered] != over.Offered || rr.Figures[FigOverload] != over.Delivered {
			t.Errorf("%s: overload figures %v, point %+v", rr.Subject, rr.Figures, over)
		}
		cost, raw := rr.Figures[FigCost], rr.Figures[FigCostRaw]
		if c := pointOf(t, rr, PointCost); !(c.BusyCores > 0) {
			// On a machine busy with other work the soakers can get less
			// while calibrating than during the window: nothing to check.
			unmeasured = append(unmeasured, fmt.Sprintf("%s (%v busy cores)", rr.Subject, c.BusyCores))
		} else if math.IsNaN(cost) || math.IsInf(cost, 0) || math.IsInf(raw, 0) || !(raw > 0) || raw < cost {
			// The net figure is the difference of two measurements: at this
			// low a rate its sign is within their noise, so only its
			// consistency with the raw one is checked.
			t.Errorf("%s: cost %v ns net, %v raw: want both finite, raw positive, net ≤ raw", rr.Subject, cost, raw)
		}
		t.Logf("%s: max %.0f pps, ≥99%% %.0f, overload %.0f of %.0f offered, cost %.0f ns (raw %.0f)",
			rr.Subject, top.Offered, rate99, over.Delivered, over.Offered, cost, raw)
	}
}

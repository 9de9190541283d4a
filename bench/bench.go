package bench

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// Run is `govs bench`: it parses args, runs the bench and prints the table
// (or JSON), and returns the exit status: 0, 1 when the bench failed or a
// subject's output was wrong, 2 on a bad command line.
func Run(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == internalBare {
		return runBareProcess(ctx, args[1:], stdout, stderr)
	}
	o, err := ParseArgs(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "govs bench:", strings.TrimPrefix(err.Error(), ErrUsage.Error()+": "))
		return 2
	}
	o.args = args
	tty := isTerminal(stderr)
	start := time.Now()
	progress := func(format string, a ...any) {
		line := fmt.Sprintf("[%5.0fs] ", time.Since(start).Seconds()) + fmt.Sprintf(format, a...)
		if tty {
			fmt.Fprintf(stderr, "\r\x1b[K%s", line)
		} else {
			fmt.Fprintln(stderr, line)
		}
	}
	res, err := runBench(ctx, &o, progress)
	if tty {
		fmt.Fprint(stderr, "\r\x1b[K")
	}
	if res != nil {
		if res.Summary == nil {
			res.Summarize(o.Subjects)
		}
		res.Notes = o.Notes
		if o.JSON {
			res.WriteJSON(stdout)
		} else {
			res.WriteTable(stdout, o.Subjects)
			for _, n := range o.Notes {
				fmt.Fprintln(stdout, "note:", n)
			}
		}
		for _, rr := range res.Rounds {
			for _, n := range rr.Notes {
				fmt.Fprintf(stderr, "note: round %d %s: %s\n", rr.Round+1, rr.Subject, n)
			}
		}
		if o.SVG != "" {
			if werr := writeSVGFile(o.SVG, res, o.Subjects); werr != nil {
				fmt.Fprintln(stderr, "govs bench:", werr)
				return 1
			}
		}
	}
	if err != nil {
		fmt.Fprintln(stderr, "govs bench:", err)
		return 1
	}
	for _, rr := range res.Rounds {
		if rr.Failed() {
			return 1
		}
	}
	return 0
}

func writeSVGFile(path string, res *Results, subjects []string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	title := fmt.Sprintf("govs bench: %s %s, %d flows, %d-byte frames, %d worker(s)", strings.ToUpper(res.Mode), res.Proto, res.Flows, res.Size, res.Workers)
	err = WriteSVG(f, title, "offered (kpps)", "delivered (kpps)", 1e3, true, res.SweepSeries(subjects))
	return errors.Join(err, f.Close())
}

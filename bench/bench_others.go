//go:build !linux

package bench

import (
	"context"
	"fmt"
	"io"
	"runtime"
)

func isTerminal(io.Writer) bool { return false }

func runBench(context.Context, *Options, func(string, ...any)) (*Results, error) {
	return nil, fmt.Errorf("not implemented on %s: the lab needs Linux network namespaces and AF_PACKET", runtime.GOOS)
}

const internalBare = "--internal-bare"

func runBareProcess(_ context.Context, _ []string, _, stderr io.Writer) int {
	fmt.Fprintln(stderr, "govs bench: not implemented on", runtime.GOOS)
	return 1
}

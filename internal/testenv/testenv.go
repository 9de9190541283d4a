// Package testenv is how a govs test skips for want of something in its
// environment: root, network namespaces, BPF, a second CPU, a tool such as
// ip(8), bash or groff, /dev/net/tun.
//
// Where such a skip is expected (a laptop without root) the test skips with
// its reason as usual. Where the environment is supposed to have everything
// (CI sets GOVS_TEST_NOSKIP=1), the same call fails the test with the same
// reason, so a missing package or capability cannot pass CI as a skip.
//
// Every environment skip in govs goes through this package; a test in it
// fails the build's tests if a test calls t.Skip, t.Skipf, t.SkipNow or
// b.Skip directly without saying, on that line, why it is not an
// environment skip:
//
//	if testing.Short() {
//		t.Skip("fills a large table") // not an environment skip: -short asks for it
//	}
package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// NoSkipVar is the environment variable that turns environment skips into
// failures when set to "1".
const NoSkipVar = "GOVS_TEST_NOSKIP"

// NoSkip reports whether environment skips fail (GOVS_TEST_NOSKIP=1).
func NoSkip() bool { return os.Getenv(NoSkipVar) == "1" }

// Skip skips t with the reason format and args; under GOVS_TEST_NOSKIP=1 it
// fails t with that reason instead. Either way t stops here.
func Skip(t testing.TB, format string, args ...any) {
	t.Helper()
	reason := fmt.Sprintf(format, args...)
	if NoSkip() {
		t.Fatalf("%s (%s=1: this environment must provide it)", reason, NoSkipVar)
	}
	t.Skipf("%s", reason)
}

// LookPath returns the path of the command file, as exec.LookPath finds
// it, or skips t (fails it under GOVS_TEST_NOSKIP=1) when it is missing.
func LookPath(t testing.TB, file string) string {
	t.Helper()
	path, err := exec.LookPath(file)
	if err != nil {
		Skip(t, "%s is not installed: %v", file, err)
	}
	return path
}

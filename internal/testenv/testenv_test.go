package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
)

// recorder is a testing.TB that records how a helper ended the test. Like
// the real one, Fatalf and Skip end the calling goroutine.
type recorder struct {
	testing.TB
	failed, skipped bool
	msg             string
}

func (r *recorder) Helper() {}

func (r *recorder) Fatalf(format string, args ...any) {
	r.failed, r.msg = true, fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func (r *recorder) Skipf(format string, args ...any) {
	r.skipped, r.msg = true, fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// run calls f with a recorder on a goroutine of its own, as the testing
// package runs a test, and reports whether f returned normally.
func run(f func(testing.TB)) (r *recorder, returned bool) {
	r = &recorder{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(r)
		returned = true
	}()
	<-done
	return r, returned
}

func TestSkip(t *testing.T) {
	const why = "no widget: missing"
	for _, tc := range []struct {
		env                string
		wantFail, wantSkip bool
	}{
		{env: "", wantSkip: true},
		{env: "0", wantSkip: true},
		{env: "1", wantFail: true},
	} {
		t.Run("GOVS_TEST_NOSKIP="+tc.env, func(t *testing.T) {
			t.Setenv(NoSkipVar, tc.env)
			r, returned := run(func(tb testing.TB) { Skip(tb, "no %s: %s", "widget", "missing") })
			if returned {
				t.Fatal("Skip returned to its caller")
			}
			if r.failed != tc.wantFail || r.skipped != tc.wantSkip {
				t.Fatalf("failed=%v skipped=%v, want failed=%v skipped=%v", r.failed, r.skipped, tc.wantFail, tc.wantSkip)
			}
			if !strings.HasPrefix(r.msg, why) {
				t.Errorf("message %q does not start with the reason %q", r.msg, why)
			}
		})
	}
}

func TestLookPath(t *testing.T) {
	t.Setenv(NoSkipVar, "1")
	const missing = "govs-testenv-no-such-command"
	r, returned := run(func(tb testing.TB) { LookPath(tb, missing) })
	if returned || !r.failed || !strings.Contains(r.msg, missing) {
		t.Errorf("LookPath(%q) under %s=1: returned=%v failed=%v message %q, want a failure naming it", missing, NoSkipVar, returned, r.failed, r.msg)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	r, returned = run(func(tb testing.TB) {
		if got := LookPath(tb, self); got != self {
			tb.Errorf("LookPath(%q) = %q", self, got)
		}
	})
	if !returned || r.failed || r.skipped {
		t.Errorf("LookPath of an existing command: returned=%v failed=%v skipped=%v (%s)", returned, r.failed, r.skipped, r.msg)
	}
}

// helperVar makes this test binary, run again by TestSkipRealTest, call
// Skip from a real test.
const helperVar = "GOVS_TESTENV_HELPER"

func TestHelperSkips(t *testing.T) {
	if os.Getenv(helperVar) != "1" {
		return
	}
	Skip(t, "helper environment lacks %s", "everything")
}

// TestSkipRealTest runs TestHelperSkips in a child test binary, so that the
// testing package itself reports the outcome: SKIP without the variable,
// FAIL with the reason under GOVS_TEST_NOSKIP=1.
func TestSkipRealTest(t *testing.T) {
	for _, tc := range []struct {
		noskip  string
		want    string
		wantErr bool
	}{
		{noskip: "", want: "--- SKIP: TestHelperSkips"},
		{noskip: "1", want: "--- FAIL: TestHelperSkips", wantErr: true},
	} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperSkips$", "-test.v", "-test.count=1")
		cmd.Env = append(os.Environ(), helperVar+"=1", NoSkipVar+"="+tc.noskip)
		out, err := cmd.CombinedOutput()
		if (err != nil) != tc.wantErr {
			t.Errorf("%s=%q: exit error %v, want error %v\n%s", NoSkipVar, tc.noskip, err, tc.wantErr, out)
		}
		if !strings.Contains(string(out), tc.want) || !strings.Contains(string(out), "helper environment lacks everything") {
			t.Errorf("%s=%q: output lacks %q and the reason:\n%s", NoSkipVar, tc.noskip, tc.want, out)
		}
	}
}

//go:build linux

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"

	"github.com/govs-lb/govs/internal/lab"
)

// govsBin is the govs binary every test runs, built once with the race
// detector so that the daemon's and the CLI's goroutines are checked under
// real traffic: a race report makes the daemon exit non-zero, which fails
// the test at cleanup. binDir holds it, and plainGovs's binary.
var govsBin, binDir string

func TestMain(m *testing.M) {
	code := func() int {
		if os.Geteuid() != 0 {
			// Every test here skips through lab.NewT (and fails there
			// under GOVS_TEST_NOSKIP=1); nothing to build.
			return m.Run()
		}
		var err error
		binDir, err = os.MkdirTemp("", "govs-e2e-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(binDir)
		govsBin = filepath.Join(binDir, "govs")
		if err := buildGovs(govsBin, "-race"); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return m.Run()
	}()
	os.Exit(code)
}

// buildGovs builds cmd/govs into out with the extra go build flags.
func buildGovs(out string, flags ...string) error {
	args := append(append([]string{"build"}, flags...), "-o", out, "github.com/govs-lb/govs/cmd/govs")
	if b, err := exec.Command("go", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, b)
	}
	return nil
}

var plain struct {
	once sync.Once
	bin  string
	err  error
}

// plainGovs returns govs built without the race detector, built on first
// use, for the few tests whose timeouts the race detector's slowdown would
// break; each says why at its call.
func plainGovs(t *testing.T) string {
	t.Helper()
	plain.once.Do(func() {
		plain.bin = filepath.Join(binDir, "govs-norace")
		plain.err = buildGovs(plain.bin)
	})
	if plain.err != nil {
		t.Fatal(plain.err)
	}
	return plain.bin
}

// daemon is a govs director running in a lab host.
type daemon struct {
	t      *testing.T
	host   *lab.Host
	socket string
	cmd    *exec.Cmd
	log    *lockedWriter // stdout and stderr, readable while it runs
	done   chan error
}

// lockedWriter lets a test read a running daemon's log.
type lockedWriter struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

func (w *lockedWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// spawn runs `bin run --socket socket` with args in host. Cleanup stops it
// with SIGTERM and checks that it exits 0 and leaves nothing behind.
func spawn(t *testing.T, bin string, host *lab.Host, socket string, args ...string) *daemon {
	t.Helper()
	d := &daemon{t: t, host: host, socket: socket, log: &lockedWriter{}, done: make(chan error, 1)}
	all := append([]string{"netns", "exec", host.NS, bin, "run", "--socket", socket}, args...)
	d.cmd = exec.Command("ip", all...)
	d.cmd.Stderr = d.log
	d.cmd.Stdout = d.log
	if err := d.cmd.Start(); err != nil {
		t.Fatalf("start govs run %s: %v", strings.Join(args, " "), err)
	}
	go func() { d.done <- d.cmd.Wait() }()
	t.Cleanup(d.stop)
	return d
}

// startGovs runs `govs run` with args in host and waits until its control
// socket answers. Cleanup stops it with SIGTERM and checks that it exits 0
// and leaves no nftables table behind.
func startGovs(t *testing.T, host *lab.Host, args ...string) *daemon {
	t.Helper()
	return startGovsBin(t, govsBin, host, args...)
}

// startGovsBin is startGovs with the govs binary bin.
func startGovsBin(t *testing.T, bin string, host *lab.Host, args ...string) *daemon {
	t.Helper()
	d := spawn(t, bin, host, filepath.Join(t.TempDir(), "govs.sock"), args...)
	deadline := time.Now().Add(15 * time.Second)
	for {
		if _, err := d.govsErr("-L", "-n"); err == nil {
			return d
		}
		select {
		case err := <-d.done:
			d.done <- err
			t.Fatalf("govs run exited early: %v\n%s", err, d.log)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("govs control socket did not answer within 15s\n%s", d.log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitLog waits until sub occurs more than n times in the daemon's log.
func (d *daemon) waitLog(what, sub string, n int, timeout time.Duration) {
	d.t.Helper()
	waitFor(d.t, what+" in the govs log", timeout, func() bool {
		return strings.Count(d.log.String(), sub) > n
	})
}

func (d *daemon) stop() {
	t := d.t
	if d.cmd.ProcessState == nil {
		d.cmd.Process.Signal(syscall.SIGTERM)
	}
	select {
	case err := <-d.done:
		if err != nil {
			t.Errorf("govs run did not exit cleanly after SIGTERM: %v\n%s", err, d.log)
		}
	case <-time.After(10 * time.Second):
		d.cmd.Process.Kill()
		t.Errorf("govs run did not exit within 10s of SIGTERM\n%s", d.log)
		return
	}
	// Nothing govs added may be left: no nftables table in the namespace.
	err := d.host.Do(func() error {
		c, err := nftables.New()
		if err != nil {
			return err
		}
		tables, err := c.ListTables()
		if err != nil {
			return err
		}
		for _, tb := range tables {
			return fmt.Errorf("nftables table %q left behind", tb.Name)
		}
		links, err := netlink.LinkList()
		if err != nil {
			return err
		}
		for _, l := range links {
			if x := l.Attrs().Xdp; x != nil && x.Attached {
				return fmt.Errorf("%s: XDP program %d left behind", l.Attrs().Name, x.ProgId)
			}
		}
		return nil
	})
	if err != nil {
		t.Errorf("after SIGTERM: %v", err)
	}
	if _, err := os.Stat(d.socket); err == nil {
		t.Errorf("control socket %s left behind", d.socket)
	}
	if t.Failed() || os.Getenv("GOVS_E2E_LOG") != "" {
		t.Logf("govs log:\n%s", d.log)
	}
}

// govsErr runs the govs CLI against this daemon and returns its stdout.
func (d *daemon) govsErr(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, govsBin, args...)
	cmd.Env = append(os.Environ(), "GOVS_SOCKET="+d.socket)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("govs %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}

// govs runs the CLI and fails the test on error.
func (d *daemon) govs(args ...string) string {
	d.t.Helper()
	out, err := d.govsErr(args...)
	if err != nil {
		d.t.Fatal(err)
	}
	return out
}

// background runs a long-lived command in host until the test ends.
func background(t *testing.T, host *lab.Host, name string, args ...string) *bytes.Buffer {
	t.Helper()
	var buf bytes.Buffer
	all := append([]string{"netns", "exec", host.NS, name}, args...)
	cmd := exec.Command("ip", all...)
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	return &buf
}

// waitFor polls cond until it is true or the deadline passes.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

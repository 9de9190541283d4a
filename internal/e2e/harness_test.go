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
	"syscall"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"

	"github.com/govs-lb/govs/internal/lab"
)

// govsBin is the govs binary built once for all tests.
var govsBin string

func TestMain(m *testing.M) {
	code := func() int {
		if os.Geteuid() != 0 {
			// Every test here skips through lab.NewT; nothing to build.
			return m.Run()
		}
		dir, err := os.MkdirTemp("", "govs-e2e-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		govsBin = filepath.Join(dir, "govs")
		out, err := exec.Command("go", "build", "-o", govsBin, "github.com/govs-lb/govs/cmd/govs").CombinedOutput()
		if err != nil {
			fmt.Fprintf(os.Stderr, "build govs: %v\n%s", err, out)
			return 1
		}
		return m.Run()
	}()
	os.Exit(code)
}

// daemon is a govs director running in a lab host.
type daemon struct {
	t      *testing.T
	host   *lab.Host
	socket string
	cmd    *exec.Cmd
	stderr *bytes.Buffer
	done   chan error
}

// startGovs runs `govs run` with args in host and waits until its control
// socket answers. Cleanup stops it with SIGTERM and checks that it exits 0
// and leaves no nftables table behind.
func startGovs(t *testing.T, host *lab.Host, args ...string) *daemon {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "govs.sock")
	d := &daemon{t: t, host: host, socket: sock, stderr: &bytes.Buffer{}, done: make(chan error, 1)}
	all := append([]string{"netns", "exec", host.NS, govsBin, "run", "--socket", sock}, args...)
	d.cmd = exec.Command("ip", all...)
	d.cmd.Stderr = d.stderr
	d.cmd.Stdout = d.stderr
	if err := d.cmd.Start(); err != nil {
		t.Fatalf("start govs: %v", err)
	}
	go func() { d.done <- d.cmd.Wait() }()
	t.Cleanup(d.stop)

	deadline := time.Now().Add(15 * time.Second)
	for {
		if _, err := d.govsErr("-L", "-n"); err == nil {
			return d
		}
		select {
		case err := <-d.done:
			d.done <- err
			t.Fatalf("govs run exited early: %v\n%s", err, d.stderr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("govs control socket did not answer within 15s\n%s", d.stderr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (d *daemon) stop() {
	t := d.t
	if d.cmd.ProcessState == nil {
		d.cmd.Process.Signal(syscall.SIGTERM)
	}
	select {
	case err := <-d.done:
		if err != nil {
			t.Errorf("govs run did not exit cleanly after SIGTERM: %v\n%s", err, d.stderr)
		}
	case <-time.After(10 * time.Second):
		d.cmd.Process.Kill()
		t.Errorf("govs run did not exit within 10s of SIGTERM\n%s", d.stderr)
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
		t.Logf("govs log:\n%s", d.stderr)
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

//go:build linux

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// lockedWriter lets a test read a running daemon's log.
type lockedWriter struct {
	mu  sync.Mutex
	buf *bytes.Buffer
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

// startTakeover runs `govs run --takeover` with args on old's socket in
// old's host, waits until it logs that the takeover is complete, and
// returns it as a daemon whose cleanup checks that SIGTERM leaves nothing.
func startTakeover(t *testing.T, old *daemon, args ...string) *daemon {
	t.Helper()
	d := &daemon{t: t, host: old.host, socket: old.socket, stderr: &bytes.Buffer{}, done: make(chan error, 1)}
	all := append([]string{"netns", "exec", old.host.NS, govsBin, "run", "--socket", old.socket, "--takeover"}, args...)
	d.cmd = exec.Command("ip", all...)
	d.cmd.Stderr = &lockedWriter{buf: d.stderr}
	d.cmd.Stdout = d.cmd.Stderr
	if err := d.cmd.Start(); err != nil {
		t.Fatalf("start govs --takeover: %v", err)
	}
	go func() { d.done <- d.cmd.Wait() }()
	t.Cleanup(d.stop)
	return d
}

// waitOldExit waits for old to exit on its own and checks it exited 0; its
// cleanup then finds it gone (and the host state the successor's).
func waitOldExit(t *testing.T, old *daemon, within time.Duration) {
	t.Helper()
	select {
	case err := <-old.done:
		old.done <- err // for old.stop
		if err != nil {
			t.Fatalf("the old govs did not exit 0 after the takeover: %v\n%s", err, old.stderr)
		}
	case <-time.After(within):
		t.Fatalf("the old govs did not exit within %v of the takeover\n%s", within, old.stderr)
	}
}

func TestTakeover(t *testing.T) {
	topo, old := routedLab(t, 2)
	prepareRealservers(t, topo, false)
	for i, rs := range topo.Realservers {
		serveNamed(t, rs, vip+":7000")          // DR: the realserver has the VIP
		serveNamed(t, rs, rip(topo, i)+":7001") // masq: the director rewrites to the realserver's address
	}
	old.govs("-A", "-t", vip+":7000", "-s", "rr")
	old.govs("-a", "-t", vip+":7000", "-r", rip(topo, 0)+":7000", "-g")
	old.govs("-a", "-t", vip+":7000", "-r", rip(topo, 1)+":7000", "-g")
	old.govs("-A", "-t", vip+":7001", "-s", "rr")
	old.govs("-a", "-t", vip+":7001", "-r", rip(topo, 0)+":7001", "-m")
	old.govs("-a", "-t", vip+":7001", "-r", rip(topo, 1)+":7001", "-m")

	dr := dialNamed(t, topo.Client, vip+":7000")
	masq := dialNamed(t, topo.Client, vip+":7001")
	dr.echo(t, "before")
	masq.echo(t, "before")
	drClient := dr.c.LocalAddr().String()
	masqClient := masq.c.LocalAddr().String()

	// Both connections echo every 20 ms for 3 s while the takeover runs.
	type result struct {
		n       int
		slowest time.Duration
		err     error
	}
	running := make(chan struct{}, 2)
	loop := func(l *longConn, name string, out chan<- result) {
		var r result
		end := time.Now().Add(3 * time.Second)
		for i := 0; time.Now().Before(end); i++ {
			msg := fmt.Sprintf("%s-%d", name, i)
			start := time.Now()
			l.c.SetDeadline(start.Add(2 * time.Second))
			if _, err := fmt.Fprintf(l.c, "%s\n", msg); err != nil {
				r.err = fmt.Errorf("write %s: %w", msg, err)
				break
			}
			got, err := l.r.ReadString('\n')
			if err != nil || strings.TrimSpace(got) != msg {
				r.err = fmt.Errorf("echo %s: got %q, %v", msg, got, err)
				break
			}
			r.n++
			if r.n == 5 {
				running <- struct{}{}
			}
			r.slowest = max(r.slowest, time.Since(start))
			time.Sleep(20 * time.Millisecond) // the pace of the traffic, not a wait for a result
		}
		out <- r
	}
	drc, masqc := make(chan result, 1), make(chan result, 1)
	go loop(dr, "dr", drc)
	go loop(masq, "masq", masqc)

	for range 2 { // both loops echo through the old daemon first
		select {
		case <-running:
		case <-time.After(5 * time.Second):
			t.Fatal("the echo loops did not get going through the old daemon")
		}
	}
	nu := startTakeover(t, old, "-i", topo.DirectorClientIf, "-i", topo.DirectorRSIf)
	waitOldExit(t, old, 20*time.Second)

	for name, c := range map[string]chan result{"DR": drc, "masq": masqc} {
		r := <-c
		if r.err != nil {
			t.Errorf("%s connection broke across the takeover after %d echoes: %v", name, r.n, r.err)
		} else if r.slowest > time.Second {
			t.Errorf("%s connection: an echo took %v across the takeover (want < 1s)", name, r.slowest)
		} else {
			t.Logf("%s connection: %d echoes across the takeover, slowest %v", name, r.n, r.slowest)
		}
	}
	if m := regexp.MustCompile(`takeover complete.*`).FindString(nu.cmd.Stderr.(*lockedWriter).String()); m != "" {
		t.Logf("new govs: %s", m)
	}

	// The new daemon answers on the socket with the connections and the
	// same realservers.
	conns := nu.govs("-L", "-n", "-c")
	for _, want := range []struct{ client, dest string }{
		{drClient, dr.name},
		{masqClient, masq.name},
	} {
		ripOf := map[string]string{"rs1": rip(topo, 0), "rs2": rip(topo, 1)}[want.dest]
		found := false
		for _, line := range strings.Split(conns, "\n") {
			if strings.Contains(line, want.client) && strings.Contains(line, ripOf+":") && strings.Contains(line, "ESTABLISHED") {
				found = true
			}
		}
		if !found {
			t.Errorf("govs -L -n -c on the new daemon lacks %s → %s (%s) ESTABLISHED:\n%s", want.client, want.dest, ripOf, conns)
		}
	}
	list := nu.govs("-L", "-n")
	if !strings.Contains(list, vip+":7000") || !strings.Contains(list, "Masq") {
		t.Errorf("the new daemon lacks the services:\n%s", list)
	}
	// Still forwarding: the old connections and new ones.
	dr.c.SetDeadline(time.Now().Add(5 * time.Second))
	masq.c.SetDeadline(time.Now().Add(5 * time.Second))
	dr.echo(t, "after")
	masq.echo(t, "after")
	if c := dialNamed(t, topo.Client, vip+":7001"); c.name != "rs1" && c.name != "rs2" {
		t.Errorf("new connection after the takeover answered by %q", c.name)
	}
	if _, err := os.Stat(old.socket + ".old"); !os.IsNotExist(err) {
		t.Errorf("%s.old left after the takeover: %v", old.socket, err)
	}
	// nu's cleanup sends SIGTERM and checks that no table and no socket remain.
}

func TestTakeoverWithoutDaemon(t *testing.T) {
	topo, d := routedLab(t, 1)
	// Without --takeover a second daemon is refused (TestSecondInstanceRefused);
	// --takeover on a socket where nobody answers is refused too.
	sock := t.TempDir() + "/nobody.sock"
	out, err := topo.Director.Command(context.Background(), govsBin, "run", "--takeover", "-i", topo.DirectorClientIf, "-i", topo.DirectorRSIf, "--socket", sock).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "no govs answers") {
		t.Fatalf("--takeover with no daemon on the socket: %v\n%s", err, out)
	}
	// --takeover with other interfaces is refused and changes nothing.
	out, err = topo.Director.Command(context.Background(), govsBin, "run", "--takeover", "-i", topo.DirectorClientIf, "--socket", d.socket).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "interfaces must be the same") {
		t.Fatalf("--takeover with other interfaces: %v\n%s", err, out)
	}
	d.govs("-L", "-n") // the running daemon still answers
	if err := d.cmd.Process.Signal(syscall.Signal(0)); err != nil {
		t.Fatalf("the running daemon is gone after a refused takeover: %v", err)
	}
}

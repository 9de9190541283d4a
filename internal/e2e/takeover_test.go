//go:build linux

package e2e

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// startTakeover runs `govs run --takeover` with args on old's socket in
// old's host and returns it as a daemon whose cleanup checks that SIGTERM
// leaves nothing.
func startTakeover(t *testing.T, old *daemon, args ...string) *daemon {
	t.Helper()
	return spawn(t, govsBin, old.host, old.socket, append([]string{"--takeover"}, args...)...)
}

// waitOldExit waits for old to exit on its own, checks it exited 0 and
// returns when it saw the exit; old's cleanup then finds it gone (and the
// host state the successor's).
func waitOldExit(t *testing.T, old *daemon, within time.Duration) time.Time {
	t.Helper()
	select {
	case err := <-old.done:
		old.done <- err // for old.stop
		exited := time.Now()
		if err != nil {
			t.Fatalf("the old govs did not exit 0 after the takeover: %v\n%s", err, old.log)
		}
		return exited
	case <-time.After(within):
	}
	t.Fatalf("the old govs did not exit within %v of the takeover\n%s", within, old.log)
	return time.Time{}
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

	// Both connections echo every 20 ms, numbered, from before the takeover
	// starts until well after the old daemon has exited, recording when
	// each echo came back. Each echo must come back whole and in order.
	type echoes struct {
		at      []time.Time // when echo i came back
		slowest time.Duration
		err     error
	}
	stop := make(chan struct{})
	loop := func(l *longConn, name string, done *atomic.Int64, out chan<- echoes) {
		var r echoes
		defer func() { out <- r }()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			msg := fmt.Sprintf("%s-%d", name, i)
			start := time.Now()
			l.c.SetDeadline(start.Add(5 * time.Second))
			if _, err := fmt.Fprintf(l.c, "%s\n", msg); err != nil {
				r.err = fmt.Errorf("write %s: %w", msg, err)
				return
			}
			got, err := l.r.ReadString('\n')
			if err != nil || strings.TrimSpace(got) != msg {
				r.err = fmt.Errorf("echo %s: got %q, %v", msg, got, err)
				return
			}
			r.at = append(r.at, time.Now())
			r.slowest = max(r.slowest, time.Since(start))
			done.Add(1)
			time.Sleep(20 * time.Millisecond) // the pace of the traffic, not a wait for a result
		}
	}
	var drn, masqn atomic.Int64
	drc, masqc := make(chan echoes, 1), make(chan echoes, 1)
	go loop(dr, "dr", &drn, drc)
	go loop(masq, "masq", &masqn, masqc)
	// waitEchoes waits until both loops have had n more echoes back than
	// when it was called, or one of them has ended on an error.
	waitEchoes := func(what string, n int64) {
		t.Helper()
		d0, m0 := drn.Load(), masqn.Load()
		waitFor(t, fmt.Sprintf("%d echoes on each connection %s", n, what), 10*time.Second, func() bool {
			return len(drc)+len(masqc) > 0 || drn.Load() >= d0+n && masqn.Load() >= m0+n
		})
	}
	waitEchoes("through the old daemon", 5)
	var started, handedOver time.Time
	var nu *daemon
	if len(drc)+len(masqc) == 0 { // both connections still echo
		started = time.Now()
		nu = startTakeover(t, old, "-i", topo.DirectorClientIf, "-i", topo.DirectorRSIf)
		handedOver = waitOldExit(t, old, 20*time.Second)
		waitEchoes("through the new daemon, after the old one exited", 10)
	}
	close(stop)

	for name, c := range map[string]chan echoes{"DR": drc, "masq": masqc} {
		r := <-c
		var before, after int
		for _, at := range r.at {
			if at.Before(started) {
				before++
			}
			if at.After(handedOver) {
				after++
			}
		}
		switch {
		case r.err != nil:
			t.Errorf("%s connection broke across the takeover after %d echoes (%d before it started): %v", name, len(r.at), before, r.err)
		case before < 5 || after < 10:
			t.Errorf("%s connection: %d echoes before the takeover started and %d after the old daemon exited, want at least 5 and 10", name, before, after)
		case r.slowest > time.Second:
			t.Errorf("%s connection: an echo took %v across the takeover (want < 1s)", name, r.slowest)
		default:
			t.Logf("%s connection: echoes 0..%d before the takeover, %d..%d after the old daemon exited, none lost, slowest %v",
				name, before-1, len(r.at)-after, len(r.at)-1, r.slowest)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	if m := regexp.MustCompile(`takeover complete.*`).FindString(nu.log.String()); m != "" {
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

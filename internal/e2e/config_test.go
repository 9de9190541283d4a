//go:build linux

package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/govs-lb/govs/internal/lab"
)

const keepalivedConf = `! Configuration File for keepalived
global_defs {
   router_id LVS_DEVEL
}

vrrp_instance VI_1 {
    state MASTER
    interface eth0
    virtual_router_id 51
    priority 100
    virtual_ipaddress {
        198.51.100.1
    }
}

virtual_server 198.51.100.1 80 {
    delay_loop 1
    lb_algo rr
    lb_kind NAT
    protocol TCP

    real_server 203.0.113.11 8080 {
        weight %d
        TCP_CHECK {
            connect_timeout 3
            retry 1
            delay_before_retry 1
        }
    }
    real_server 203.0.113.12 8080 {
        weight 1
        HTTP_GET {
            url {
              path /
              status_code 200
            }
            connect_timeout 5
            retry 1
            delay_before_retry 1
        }
    }
}
`

func writeConf(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

// httpServer is a realserver's HTTP server that the test can stop and start.
type httpServer struct {
	h    *lab.Host
	addr string
	srv  *http.Server
}

func (s *httpServer) start(t *testing.T) {
	t.Helper()
	srv, err := s.h.ServeHTTP(s.addr, "")
	if err != nil {
		t.Fatal(err)
	}
	s.srv = srv
}

func (s *httpServer) stop() { s.srv.Close() }

func TestKeepalivedConfigHealthAndReload(t *testing.T) {
	l := lab.NewT(t)
	topo, err := lab.BasicRouted(l, 2)
	if err != nil {
		t.Fatal(err)
	}
	servers := make([]*httpServer, 2)
	for i, rs := range topo.Realservers {
		servers[i] = &httpServer{h: rs, addr: rip(topo, i) + ":8080"}
		servers[i].start(t)
	}
	conf := filepath.Join(t.TempDir(), "keepalived.conf")
	writeConf(t, conf, fmt.Sprintf(keepalivedConf, 1))

	// --check needs neither -i nor root's interfaces.
	out, err := exec.Command(govsBin, "run", "--check", "--config", conf).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "skipping vrrp_instance") {
		t.Fatalf("govs run --check: %v\n%s", err, out)
	}
	bad := filepath.Join(t.TempDir(), "bad.conf")
	writeConf(t, bad, "virtual_server 198.51.100.1 80 {\n  lb_algo rr\n  lb_kindd DR\n}\n")
	out, err = exec.Command(govsBin, "run", "--check", "--config", bad).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "bad.conf:3:") {
		t.Fatalf("govs run --check on a bad file: err=%v, want an error naming bad.conf:3:\n%s", err, out)
	}

	// A realserver must be out within 10 s of its server stopping, and an
	// up one must answer its checks within their connect_timeout: a daemon
	// slowed down by the race detector misses those now and then on a
	// loaded machine, so this test runs govs built without it.
	d := startGovsBin(t, plainGovs(t), topo.Director, "-i", topo.DirectorClientIf, "-i", topo.DirectorRSIf, "--config", conf, "--metrics", ":9478")
	upMetric := func(i int) string {
		return fmt.Sprintf(`govs_realserver_up{port="80",protocol="tcp",rip="%s",rport="8080",vip="198.51.100.1"}`, rip(topo, i))
	}
	scrape := func() string {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		body, err := topo.Director.HTTPGet(ctx, "http://127.0.0.1:9478/metrics")
		if err != nil {
			t.Fatalf("scrape: %v", err)
		}
		return body
	}
	list := d.govs("-L", "-n")
	for i := range 2 {
		if !strings.Contains(list, rip(topo, i)+":8080") {
			t.Fatalf("configured realserver %d missing:\n%s", i, list)
		}
	}
	got := getN(t, topo.Client, "http://"+vip+"/", 4)
	assertAlternates(t, got, []string{"rs1", "rs2"})

	// A long-lived connection to rs2 must survive everything below.
	serveNamed(t, topo.Realservers[1], rip(topo, 1)+":7000")
	d.govs("-A", "-t", vip+":7000", "-s", "rr")
	d.govs("-a", "-t", vip+":7000", "-r", rip(topo, 1), "-m")
	long := dialNamed(t, topo.Client, vip+":7000")

	// rs1's server stops: the checker takes it out within a bounded time,
	// after which every new connection goes to rs2.
	servers[0].stop()
	stopped := time.Now()
	waitFor(t, "rs1 to be taken out by its TCP_CHECK", 10*time.Second, func() bool {
		return !strings.Contains(d.govs("-L", "-n"), rip(topo, 0)+":8080")
	})
	t.Logf("rs1 removed %v after its server stopped", time.Since(stopped).Round(10*time.Millisecond))
	if m := scrape(); !strings.Contains(m, upMetric(0)+" 0") || !strings.Contains(m, upMetric(1)+" 1") {
		t.Errorf("govs_realserver_up does not show rs1 down and rs2 up:\n%s", grepLines(m, "govs_realserver_up"))
	}
	for _, body := range getN(t, topo.Client, "http://"+vip+"/", 4) {
		if body != "rs2" {
			t.Fatalf("a new connection went to %q after rs1 was taken out", body)
		}
	}
	// It comes back after one good check.
	servers[0].start(t)
	waitFor(t, "rs1 to come back", 10*time.Second, func() bool {
		return strings.Contains(d.govs("-L", "-n"), rip(topo, 0)+":8080")
	})
	long.echo(t, "after a health transition")
	waitFor(t, "govs_realserver_up of rs1 back to 1", 5*time.Second, func() bool {
		return strings.Contains(scrape(), upMetric(0)+" 1")
	})

	// A reload that changes a weight edits it in place; a bad file changes
	// nothing, over SIGHUP and over govs reload. A health check can still
	// take a realserver out for a moment and put it back (resetting its
	// counters), so the listings compared are taken with both up.
	destLine := func(i, weight int) string {
		return fmt.Sprintf("  -> %-28s Masq    %d ", rip(topo, i)+":8080", weight)
	}
	// bothUp runs govs with args until its output has every line in want.
	bothUp := func(what string, args []string, want ...string) string {
		t.Helper()
		var out string
		waitFor(t, what, 10*time.Second, func() bool {
			out = d.govs(args...)
			for _, w := range want {
				if !strings.Contains(out, w) {
					return false
				}
			}
			return true
		})
		return out
	}
	stats := []string{"-L", "-n", "--stats", "--exact"}
	before := bothUp("both realservers up before the reload", stats, "-> "+rip(topo, 0)+":8080 ", "-> "+rip(topo, 1)+":8080 ")
	writeConf(t, conf, fmt.Sprintf(keepalivedConf, 5))
	if _, err := d.govsErr("reload"); err != nil {
		t.Fatalf("govs reload: %v", err)
	}
	after := bothUp("weight 5 applied to rs1, both up", []string{"-L", "-n"}, destLine(0, 5), destLine(1, 1))
	if c := statsColumn(t, before, rip(topo, 1)+":8080", colConns); c == 0 || c != statsColumn(t, d.govs(stats...), rip(topo, 1)+":8080", colConns) {
		t.Errorf("reload reset rs2's counters (before %d)", c)
	}
	writeConf(t, conf, "virtual_server 198.51.100.1 80 {\n  lb_algo bogus\n}\n")
	if _, err := d.govsErr("reload"); err == nil || !strings.Contains(err.Error(), "keepalived.conf:2") {
		t.Fatalf("govs reload of a bad file: want an error naming keepalived.conf:2, got %v", err)
	}
	// The daemon logs a failed SIGHUP reload: wait for that line, so that
	// the check below runs after the reload, not before it.
	const hupFailed = "reload on SIGHUP failed"
	seen := strings.Count(d.log.String(), hupFailed)
	if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	d.waitLog("the failed SIGHUP reload", hupFailed, seen, 10*time.Second)
	// An applied bad file would stay; a health check's blip goes.
	deadline := time.Now().Add(10 * time.Second)
	for now := d.govs("-L", "-n"); now != after; now = d.govs("-L", "-n") {
		if time.Now().After(deadline) {
			t.Fatalf("a bad file changed the configuration:\nbefore:\n%s\nafter:\n%s", after, now)
		}
		time.Sleep(20 * time.Millisecond)
	}
	long.echo(t, "after reloads")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := topo.Client.HTTPGet(ctx, "http://"+vip+"/"); err != nil {
		t.Fatal(err)
	}
}

// Columns of govs -L -n --stats --exact after the address.
const (
	colConns = iota
	colInPkts
)

// statsColumn reads column col of a realserver's line in govs -L -n --stats
// --exact, or -1 when dest has no line.
func statsColumn(t *testing.T, out, dest string, col int) int {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) >= 3+col && f[0] == "->" && f[1] == dest {
			var n int
			fmt.Sscan(f[2+col], &n)
			return n
		}
	}
	return -1
}

// grepLines returns the lines of s that contain sub.
func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

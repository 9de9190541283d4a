// Command govs-demo is `make demo`: it builds a namespace lab (a client, a
// director and three realservers), runs the govs binary as the director,
// configures it with the ipvsadm-style CLI, sends real HTTP requests through
// it, and prints what happened. Everything it creates is removed on exit.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/govs-lb/govs/internal/lab"
)

const vip = "198.51.100.1"

func main() {
	govs := flag.String("govs", "bin/govs", "path of the govs binary")
	n := flag.Int("realservers", 3, "number of realservers")
	requests := flag.Int("requests", 12, "HTTP requests to send")
	method := flag.String("method", "dr", "forwarding method: dr, tun or masq")
	flag.Parse()
	if err := run(*govs, *n, *requests, *method); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func say(format string, args ...any) { fmt.Printf(format+"\n", args...) }

func run(govs string, n, requests int, method string) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("the demo builds network namespaces: run it as root (sudo make demo)")
	}
	flagOf := map[string]string{"dr": "-g", "tun": "-i", "masq": "-m"}[method]
	if flagOf == "" {
		return fmt.Errorf("-method %q: want dr, tun or masq", method)
	}
	bin, err := filepath.Abs(govs)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	l, err := lab.New("demo")
	if err != nil {
		return err
	}
	defer func() {
		l.Close()
		say("\nlab %s removed (namespaces, links and everything govs added)", l.Prefix)
	}()
	topo, err := lab.BasicRouted(l, n)
	if err != nil {
		return err
	}
	if err := topo.Director.Sysctl("net.ipv4.conf.all.rp_filter", "0"); err != nil {
		return err
	}
	say("lab %s: client %s -> director %s | %s -> %d realservers on one segment",
		l.Prefix, topo.ClientAddr, topo.DirectorClientAddr, topo.DirectorRSAddr, n)

	sock := filepath.Join(os.TempDir(), l.Prefix+"-govs.sock")
	var logs bytes.Buffer
	d := exec.Command("ip", "netns", "exec", topo.Director.NS, bin, "run",
		"-i", topo.DirectorClientIf, "-i", topo.DirectorRSIf, "--socket", sock)
	d.Stdout, d.Stderr = &logs, &logs
	say("+ govs run -i %s -i %s          (in the director)", topo.DirectorClientIf, topo.DirectorRSIf)
	if err := d.Start(); err != nil {
		return err
	}
	defer func() {
		d.Process.Signal(syscall.SIGTERM)
		d.Wait()
		say("+ kill -TERM govs: exited %v", d.ProcessState)
	}()
	cli := func(args ...string) (string, error) {
		c := exec.Command(bin, args...)
		c.Env = append(os.Environ(), "GOVS_SOCKET="+sock)
		out, err := c.CombinedOutput()
		if err != nil {
			return string(out), fmt.Errorf("govs %s: %v: %s", strings.Join(args, " "), err, out)
		}
		return string(out), nil
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := cli("-L", "-n"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("govs did not start:\n%s", logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}

	for i, rs := range topo.Realservers {
		addr := vip + ":80"
		if method == "masq" {
			addr = topo.RealserverAddrs[i].Addr().String() + ":80"
		} else {
			args := []string{"netns", "exec", rs.NS, bin, "realserver", "-i", topo.RealserverIf, "--vip", vip}
			if method == "tun" {
				args = append(args, "--tun")
			}
			c := exec.CommandContext(ctx, "ip", args...)
			if err := c.Start(); err != nil {
				return err
			}
			defer func() { c.Process.Signal(syscall.SIGTERM); c.Wait() }()
		}
		if err := waitListen(rs, addr); err != nil {
			return err
		}
	}
	if method != "masq" {
		say("+ govs realserver -i %s --vip %s%s   (in each realserver: VIP on lo, arp_ignore/arp_announce%s)",
			topo.RealserverIf, vip, map[bool]string{true: " --tun"}[method == "tun"],
			map[bool]string{true: ", IPIP decapsulation"}[method == "tun"])
	}

	cmds := [][]string{{"-A", "-t", vip + ":80", "-s", "rr"}}
	for i := range topo.Realservers {
		cmds = append(cmds, []string{"-a", "-t", vip + ":80", "-r", topo.RealserverAddrs[i].Addr().String() + ":80", flagOf})
	}
	for _, c := range cmds {
		say("+ govs %s", strings.Join(c, " "))
		if _, err := cli(c...); err != nil {
			return err
		}
	}

	say("\nclient: %d HTTP requests to http://%s/ (a new TCP connection each)", requests, vip)
	counts := map[string]int{}
	var seq []string
	for i := range requests {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		body, err := topo.Client.HTTPGet(rctx, "http://"+vip+"/")
		cancel()
		if err != nil {
			return fmt.Errorf("request %d: %w\n%s", i+1, err, logs.String())
		}
		counts[body]++
		seq = append(seq, body)
	}
	say("answers in order: %s", strings.Join(seq, " "))
	names := make([]string, 0, len(counts))
	for k := range counts {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		say("  %-4s %2d %s", k, counts[k], strings.Repeat("#", counts[k]))
	}
	for _, args := range [][]string{{"-L", "-n"}, {"-L", "-n", "--stats"}} {
		out, err := cli(args...)
		if err != nil {
			return err
		}
		say("\n+ govs %s\n%s", strings.Join(args, " "), strings.TrimRight(out, "\n"))
	}
	return nil
}

// waitListen starts an HTTP server answering with the host's name and waits
// until it accepts connections.
func waitListen(h *lab.Host, addr string) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := h.ServeHTTP(addr, "")
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: serve %s: %w", h, addr, err)
		}
		time.Sleep(50 * time.Millisecond) // the VIP appears on lo when govs realserver is up
	}
}

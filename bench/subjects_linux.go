//go:build linux

package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/govs-lb/govs/internal/director"
)

// subject is one thing under test, started and stopped in the director
// namespace once per round.
type subject interface {
	Start(ctx context.Context) error
	Stop() error
}

func protoNum(o *Options) uint8 {
	if o.UDP() {
		return unix.IPPROTO_UDP
	}
	return unix.IPPROTO_TCP
}

func newSubject(name string, b *benchLab, o *Options, tmp string) subject {
	base, tuning := SplitSubject(name)
	switch base {
	case SubjectGovs:
		return &govsSubject{b: b, o: o, socket: filepath.Join(tmp, "govs.sock"), tuning: tuning}
	case SubjectNFT:
		return &nftSubject{b: b, o: o}
	case SubjectKernel:
		return &kernelSubject{b: b}
	case SubjectBare:
		return &bareSubject{b: b, o: o, tuning: tuning}
	case SubjectKernelLocal:
		return &kernelLocalSubject{b: b}
	}
	return nil
}

// govsSubject is the real daemon, `govs run` pinned to the director cores,
// configured through its CLI.
type govsSubject struct {
	b      *benchLab
	o      *Options
	socket string
	tuning string // $GOVS_IO_TUNING for the daemon
	cmd    *exec.Cmd
	log    bytes.Buffer
	done   chan error
}

func cpuList(cpus []int) string {
	s := make([]string, len(cpus))
	for i, c := range cpus {
		s[i] = strconv.Itoa(c)
	}
	return strings.Join(s, ",")
}

// executable is the govs binary to run: this one.
func executable() (string, error) { return os.Executable() }

func (g *govsSubject) Start(ctx context.Context) error {
	exe, err := executable()
	if err != nil {
		return err
	}
	g.log.Reset()
	os.Remove(g.socket)
	g.cmd = exec.Command("taskset", "-c", cpuList(g.o.DirCPUs), "nice", "-n", "-20", "ip", "netns", "exec", g.b.dir.NS,
		exe, "run", "-i", "eth0", "-i", "eth1", "--socket", g.socket,
		"--workers", strconv.Itoa(g.o.Workers), "--garp-count", "0", "--log-level", "warn",
		"--metrics", metricsAddr)
	g.cmd.Env = append(os.Environ(), director.EnvIOTuning+"="+g.tuning)
	g.cmd.Stdout, g.cmd.Stderr = &g.log, &g.log
	if err := g.cmd.Start(); err != nil {
		return fmt.Errorf("start govs run: %w", err)
	}
	g.done = make(chan error, 1)
	go func() { g.done <- g.cmd.Wait() }()
	deadline := time.Now().Add(15 * time.Second)
	for {
		if _, err := g.cli(ctx, "-L", "-n"); err == nil {
			break
		}
		select {
		case err := <-g.done:
			g.done <- err
			return fmt.Errorf("govs run exited: %v: %s", err, strings.TrimSpace(g.log.String()))
		default:
		}
		if time.Now().After(deadline) {
			g.Stop()
			return fmt.Errorf("govs control socket did not answer within 15s: %s", g.log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	p := "-u"
	if !g.o.UDP() {
		p = "-t"
	}
	svc := fmt.Sprintf("%s:%d", VIP, VIPPort)
	cmds := [][]string{{"-A", p, svc, "-s", "rr"}}
	if g.o.Mode == ModeLocal { // LocalNode: the director itself, through govs's tap
		cmds = append(cmds, []string{"-a", p, svc, "-r", "127.0.0.1"})
	}
	for _, rs := range RSAddrs {
		if g.o.Mode == ModeLocal {
			break
		}
		switch g.o.Mode {
		case ModeMasq:
			cmds = append(cmds, []string{"-a", p, svc, "-r", fmt.Sprintf("%s:%d", rs, RSPort), "-m"})
		case ModeTun:
			cmds = append(cmds, []string{"-a", p, svc, "-r", rs.String(), "-i"})
		default:
			cmds = append(cmds, []string{"-a", p, svc, "-r", rs.String(), "-g"})
		}
	}
	if g.o.UDPTimeout > 0 {
		cmds = append(cmds, []string{"--set", "0", "0", strconv.Itoa(int(g.o.UDPTimeout / time.Second))})
	}
	for _, c := range cmds {
		if _, err := g.cli(ctx, c...); err != nil {
			g.Stop()
			return err
		}
	}
	return nil
}

func (g *govsSubject) cli(ctx context.Context, args ...string) (string, error) {
	exe, err := executable()
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe, args...)
	cmd.Env = append(os.Environ(), "GOVS_SOCKET="+g.socket)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("govs %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}

func (g *govsSubject) Stop() error {
	if g.cmd == nil || g.cmd.Process == nil {
		return nil
	}
	g.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-g.done:
		g.cmd = nil
		if err != nil {
			return fmt.Errorf("govs run: %v: %s", err, strings.TrimSpace(g.log.String()))
		}
		return nil
	case <-time.After(10 * time.Second):
		g.cmd.Process.Kill()
		<-g.done
		g.cmd = nil
		return errors.New("govs run did not exit within 10s of SIGTERM")
	}
}

// nftSubject is the kernel's nftables DNAT: numgen round robin over the
// realservers in a nat prerouting chain, conntrack doing the rest.
type nftSubject struct {
	b *benchLab
	o *Options
}

const nftTable = "govsbench"

func (n *nftSubject) Start(context.Context) error {
	return n.b.dir.Do(func() error {
		c, err := nftables.New()
		if err != nil {
			return err
		}
		t := c.AddTable(&nftables.Table{Family: nftables.TableFamilyIPv4, Name: nftTable})
		ch := c.AddChain(&nftables.Chain{Name: "prerouting", Table: t, Type: nftables.ChainTypeNAT,
			Hooknum: nftables.ChainHookPrerouting, Priority: nftables.ChainPriorityNATDest})
		vip := VIP.As4()
		match := []expr.Any{
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{protoNum(n.o)}},
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: vip[:]},
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(VIPPort)},
		}
		for i, rs := range RSAddrs {
			a := rs.As4()
			e := append([]expr.Any(nil), match...)
			if i < len(RSAddrs)-1 { // numgen inc mod N == i, the last one takes the rest
				e = append(e,
					&expr.Numgen{Register: 1, Modulus: uint32(len(RSAddrs) - i), Type: unix.NFT_NG_INCREMENTAL},
					&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(0)})
			}
			e = append(e,
				&expr.Immediate{Register: 1, Data: a[:]},
				&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1})
			c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: e})
		}
		if err := c.Flush(); err != nil {
			return fmt.Errorf("nftables DNAT table: %w", err)
		}
		// Pick up TCP flows whose SYN was not seen (the prelude sends an ACK).
		_ = os.WriteFile("/proc/sys/net/netfilter/nf_conntrack_tcp_loose", []byte("1\n"), 0)
		return nil
	})
}

func (n *nftSubject) Stop() error {
	return n.b.dir.Do(func() error {
		c, err := nftables.New()
		if err != nil {
			return err
		}
		c.DelTable(&nftables.Table{Family: nftables.TableFamilyIPv4, Name: nftTable})
		err = c.Flush()
		if ferr := netlink.ConntrackTableFlush(netlink.ConntrackTable); ferr != nil && err == nil {
			err = fmt.Errorf("flush conntrack: %w", ferr)
		}
		return err
	})
}

// kernelSubject is plain kernel routing: the VIP routed to the first
// realserver.
type kernelSubject struct{ b *benchLab }

func (k *kernelSubject) Start(context.Context) error {
	return k.b.dir.IP("route", "replace", VIP.String()+"/32", "via", RSAddrs[0].String(), "dev", "eth1")
}

func (k *kernelSubject) Stop() error {
	return k.b.dir.IP("route", "del", VIP.String()+"/32")
}

// metricsAddr is where the govs subject serves Prometheus metrics, on the
// director namespace's loopback.
const metricsAddr = "127.0.0.1:9109"

// probe reads the daemon's metrics: each series summed over its labels,
// except govs_worker_drops_total, kept by reason.
func (g *govsSubject) probe(ctx context.Context) (map[string]float64, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	body, err := g.b.dir.HTTPGet(ctx, "http://"+metricsAddr+"/metrics")
	if err != nil {
		return nil, err
	}
	return parseMetrics(body), nil
}

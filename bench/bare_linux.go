//go:build linux

package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/net/bpf"

	"github.com/govs-lb/govs/internal/afpacket"
	"github.com/govs-lb/govs/internal/director"
	"github.com/govs-lb/govs/internal/filter"
	"github.com/govs-lb/govs/internal/nftin"
	"github.com/govs-lb/govs/internal/xdpshed"
)

// bareSubject is govs's I/O engine with the balancer bypassed, in a
// process of its own started exactly like `govs run` (taskset, nice -20,
// `ip netns exec`): `govs bench --internal-bare`. It uses the director's
// ring and socket configuration (director.IOTuning, the same
// $GOVS_IO_TUNING), BPF filter and nftables ingress table, one thread per
// worker pinned to a director core, rewrites MACs and sends.
type bareSubject struct {
	b      *benchLab
	o      *Options
	tuning string // $GOVS_IO_TUNING for the process
	cmd    *exec.Cmd
	log    bytes.Buffer
	done   chan error
}

func (a *bareSubject) Start(ctx context.Context) error {
	exe, err := executable()
	if err != nil {
		return err
	}
	a.log.Reset()
	a.cmd = exec.Command("taskset", "-c", cpuList(a.o.DirCPUs), "nice", "-n", "-20", "ip", "netns", "exec", a.b.dir.NS,
		exe, "bench", internalBare, "--proto", strconv.Itoa(int(protoNum(a.o))),
		"--workers", strconv.Itoa(a.o.Workers), "--cpus", cpuList(a.o.DirCPUs))
	a.cmd.Env = append(os.Environ(), director.EnvIOTuning+"="+a.tuning)
	a.cmd.Stderr = &a.log
	out, err := a.cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := a.cmd.Start(); err != nil {
		return fmt.Errorf("start afpacket-bare: %w", err)
	}
	ready := make(chan bool, 1)
	a.done = make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(out)
		ready <- sc.Scan() && sc.Text() == "ready"
		io.Copy(io.Discard, out) // Wait only after the pipe is read to the end
		a.done <- a.cmd.Wait()
	}()
	select {
	case ok := <-ready:
		if ok {
			return nil
		}
		err := <-a.done
		a.cmd = nil
		return fmt.Errorf("afpacket-bare exited: %v: %s", err, strings.TrimSpace(a.log.String()))
	case <-time.After(15 * time.Second):
		a.Stop()
		return errors.New("afpacket-bare was not ready within 15s")
	case <-ctx.Done():
		a.Stop()
		return ctx.Err()
	}
}

func (a *bareSubject) Stop() error {
	if a.cmd == nil || a.cmd.Process == nil {
		return nil
	}
	a.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-a.done:
		a.cmd = nil
		if err != nil {
			return fmt.Errorf("afpacket-bare: %v: %s", err, strings.TrimSpace(a.log.String()))
		}
		return nil
	case <-time.After(10 * time.Second):
		a.cmd.Process.Kill()
		<-a.done
		a.cmd = nil
		return errors.New("afpacket-bare did not exit within 10s of SIGTERM")
	}
}

// internalBare is the hidden first argument of `govs bench` that runs the
// afpacket-bare forwarder in the current (director) namespace until SIGTERM.
const internalBare = "--internal-bare"

// runBareProcess is `govs bench --internal-bare --proto N --workers N
// --cpus LIST`: it prints "ready" on stdout once every worker's sockets are
// open and forwards eth0 → eth1 until ctx is done.
func runBareProcess(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("govs bench "+internalBare, flag.ContinueOnError)
	fs.SetOutput(stderr)
	proto := fs.Int("proto", 17, "IP protocol of the VIP")
	workers := fs.Int("workers", 1, "threads")
	cpus := fs.String("cpus", "1", "cores, one per worker in turn")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cl, err := ParseCPUList(*cpus)
	if err != nil || *workers < 1 {
		fmt.Fprintln(stderr, "govs bench "+internalBare+": bad --cpus or --workers")
		return 2
	}
	if err := bareMain(ctx, uint8(*proto), *workers, cl, stdout); err != nil {
		fmt.Fprintln(stderr, "afpacket-bare:", err)
		return 1
	}
	return 0
}

func bareMain(ctx context.Context, proto uint8, workers int, cpus []int, stdout io.Writer) error {
	tuning, err := director.LoadIOTuning()
	if err != nil {
		return err
	}
	svc := filter.Service{Proto: filter.Proto(proto), Addr: VIP, Port: VIPPort}
	prog, err := filter.Build(filter.Spec{VIPs: []filter.Service{svc}})
	if err != nil {
		return err
	}
	table, err := nftin.Install([]string{"eth0", "eth1"}, nftin.Rules{
		VIPs: []nftin.Service{{Proto: proto, Addr: VIP.As4(), Port: VIPPort}}})
	if err != nil {
		return fmt.Errorf("nftables ingress table: %w", err)
	}
	defer table.Remove()
	in, err1 := net.InterfaceByName("eth0")
	out, err2 := net.InterfaceByName("eth1")
	if err := errors.Join(err1, err2); err != nil {
		return err
	}
	// XDP load shedding, as the director does it (director.Serve).
	var shed *xdpshed.Shedder
	if idx := tuning.ShedIfindexes([]int{in.Index, out.Index}); len(idx) > 0 {
		if shed, err = xdpshed.OpenMode(idx, tuning.ShedMode); err != nil {
			return fmt.Errorf("XDP load shedding: %w", err)
		}
		defer shed.Close()
		if err := shed.SetVIPs([]netip.Addr{VIP}); err != nil {
			return err
		}
		shed.Gate(in.Index).SetWorkers(workers)
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	ready := make(chan error, workers)
	errc := make(chan error, workers)
	group := uint16(os.Getpid()<<4) + 9
	for w := range workers {
		cpu := cpus[w%len(cpus)]
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
			valve := xdpshed.NewValve(shed.Gate(in.Index), tuning.ShedHigh, tuning.ShedLow)
			if err := bareWorker(&stop, tuning, cpu, in.Index, out.Index, prog, group, workers > 1, &valve, ready); err != nil {
				errc <- err
			}
		}()
	}
	var startErr error
	for range workers {
		if err := <-ready; err != nil && startErr == nil {
			startErr = err
		}
	}
	if startErr == nil {
		fmt.Fprintln(stdout, "ready")
		select {
		case <-ctx.Done():
		case err = <-errc:
		}
	}
	stop.Store(true)
	wg.Wait()
	return errors.Join(startErr, err)
}

// bareWorker is one afpacket-bare thread: the loop of the director's worker
// (receive a batch, handle each frame, flush, release) with the balancer
// replaced by a MAC rewrite.
func bareWorker(stop *atomic.Bool, t director.IOTuning, cpu, inIdx, outIdx int, prog []bpf.RawInstruction, group uint16, shared bool, valve *xdpshed.Valve, ready chan<- error) error {
	defer valve.Close()
	if err := pinThread(cpu); err != nil {
		ready <- err
		return nil
	}
	_ = t.ApplyThread() // best effort, as in the director
	rx, err := afpacket.Open(inIdx, t.CaptureConfig(group, shared, prog))
	if err != nil {
		ready <- err
		return nil
	}
	defer rx.Close()
	tx, err := afpacket.OpenTX(outIdx, t.SendConfig())
	if err != nil {
		ready <- err
		return nil
	}
	defer tx.Close()
	ready <- nil
	batch := afpacket.NewBatch(t.BatchFrames())
	frames := make([][]byte, 0, t.SendBatchFrames())
	hdrs := make([]afpacket.VnetHdr, 0, t.SendBatchFrames())
	for !stop.Load() {
		n, err := rx.Recv(batch, 100*time.Millisecond)
		if err != nil {
			return err
		}
		if n == 0 {
			valve.Update(0)
			continue
		}
		for i := range n {
			f := &batch.Frames[i]
			if len(f.Data) < 14 {
				continue
			}
			copy(f.Data[0:6], RSMACs[0][:])
			copy(f.Data[6:12], DirOutMAC[:])
			frames = append(frames, f.Data)
			hdrs = append(hdrs, f.Vnet)
			if len(frames) == cap(frames) {
				tx.SendBatch(frames, hdrs)
				frames, hdrs = frames[:0], hdrs[:0]
			}
		}
		if len(frames) > 0 {
			tx.SendBatch(frames, hdrs)
			frames, hdrs = frames[:0], hdrs[:0]
		}
		rx.Release()
		valve.Update(rx.Backlog(valve.High()))
	}
	return nil
}

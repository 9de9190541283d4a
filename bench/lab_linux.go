//go:build linux

package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/govs-lb/govs/internal/afpacket"
	"github.com/govs-lb/govs/internal/lab"
)

// benchLab is the generator → director → sink lab.
type benchLab struct {
	l              *lab.Lab
	gen, dir, sink *lab.Host
	sinkNL         *netlink.Handle
	dirNL          *netlink.Handle // local mode: the tap's counters
	// rx is the delivered-frame counter: the sink's eth0, or in local mode
	// the director's input hook (localRx).
	rx func() (uint64, error)
}

func macString(m [6]byte) string { return net.HardwareAddr(m[:]).String() }

func cpuMask(cpus []int) string {
	// rps_cpus is a comma-separated list of 32-bit hex words, most significant first.
	hi := 0
	for _, c := range cpus {
		hi = max(hi, c)
	}
	words := make([]uint32, hi/32+1)
	for _, c := range cpus {
		words[c/32] |= 1 << (c % 32)
	}
	var parts []string
	for i := len(words) - 1; i >= 0; i-- {
		parts = append(parts, fmt.Sprintf("%08x", words[i]))
	}
	return strings.Join(parts, ",")
}

// newBenchLab builds the three namespaces and their veths. dirCPUs get the
// director's receive work (RPS on its ingress veth).
func newBenchLab(dirCPUs []int) (_ *benchLab, err error) {
	l, err := lab.New("govs-bench")
	if err != nil {
		return nil, err
	}
	b := &benchLab{l: l}
	defer func() {
		if err != nil {
			b.Close()
		}
	}()
	if b.gen, err = l.Host("gen"); err != nil {
		return nil, err
	}
	if b.dir, err = l.Host("dir"); err != nil {
		return nil, err
	}
	if b.sink, err = l.Host("sink"); err != nil {
		return nil, err
	}
	g, d, s := b.gen, b.dir, b.sink
	// IPv6 off everywhere: the lab's links then carry the bench's frames
	// and nothing else (no DAD, router or MLD chatter), so every frame that
	// is not the subject's output is an error of the subject.
	for _, h := range []*lab.Host{g, d, s} {
		for _, k := range []string{"net.ipv6.conf.all.disable_ipv6", "net.ipv6.conf.default.disable_ipv6"} {
			if err := h.Sysctl(k, "1"); err != nil && !errors.Is(err, os.ErrNotExist) {
				return nil, err
			}
		}
	}
	run := func(h *lab.Host, args ...string) error { return h.IP(args...) }
	for _, st := range []struct {
		h    *lab.Host
		args []string
	}{
		{g, []string{"link", "add", "eth0", "address", macString(GenMAC), "type", "veth", "peer", "name", "eth0", "address", macString(DirInMAC), "netns", d.NS}},
		{d, []string{"link", "add", "eth1", "address", macString(DirOutMAC), "type", "veth", "peer", "name", "eth0", "address", macString(SinkMAC), "netns", s.NS}},
		{g, []string{"addr", "add", GenAddr.String(), "dev", "eth0"}},
		{d, []string{"addr", "add", DirInAddr.String(), "dev", "eth0"}},
		{d, []string{"addr", "add", DirOutAddr.String(), "dev", "eth1"}},
		{d, []string{"neigh", "replace", RSAddrs[0].String(), "lladdr", macString(RSMACs[0]), "dev", "eth1", "nud", "permanent"}},
		{d, []string{"neigh", "replace", RSAddrs[1].String(), "lladdr", macString(RSMACs[1]), "dev", "eth1", "nud", "permanent"}},
		{d, []string{"neigh", "replace", GenAddr.Addr().String(), "lladdr", macString(GenMAC), "dev", "eth0", "nud", "permanent"}},
		{g, []string{"link", "set", "eth0", "up"}},
		{d, []string{"link", "set", "eth0", "up"}},
		{d, []string{"link", "set", "eth1", "up"}},
		{s, []string{"link", "set", "eth0", "up"}},
	} {
		if err := run(st.h, st.args...); err != nil {
			return nil, err
		}
	}
	for _, kv := range [][2]string{
		{"net.ipv4.ip_forward", "1"},
		{"net.ipv4.conf.all.rp_filter", "0"},
		{"net.ipv4.conf.default.rp_filter", "0"},
		{"net.ipv4.conf.all.send_redirects", "0"},
		{"net/ipv4/conf/eth0/rp_filter", "0"},
		{"net/ipv4/conf/eth1/rp_filter", "0"},
		{"net/ipv4/conf/eth0/send_redirects", "0"},
		{"net/ipv4/conf/eth1/send_redirects", "0"},
	} {
		if err := d.Sysctl(kv[0], kv[1]); err != nil {
			return nil, err
		}
	}
	// RPS: the generator's veth hands each frame to the director core's
	// backlog instead of doing the receive work on the generator's core.
	// sysfs shows the namespace of whoever mounted it, so write it through
	// `ip netns exec`, which mounts a fresh one.
	if err := nsShell(d, fmt.Sprintf("echo %s > /sys/class/net/eth0/queues/rx-0/rps_cpus", cpuMask(dirCPUs))); err != nil {
		return nil, fmt.Errorf("RPS on the director's ingress: %w", err)
	}
	// Sink: NAPI (GRO on) so forwarded frames don't share the director
	// core's backlog, and a drop at netdev ingress (after the taps).
	if err := s.Do(func() error { return setGRO("eth0", true) }); err != nil {
		return nil, fmt.Errorf("GRO on the sink: %w", err)
	}
	if err := s.Do(func() error { return dropAtIngress("sink", "eth0") }); err != nil {
		return nil, fmt.Errorf("sink ingress drop: %w", err)
	}
	err = s.Do(func() error {
		h, err := netlink.NewHandle()
		b.sinkNL = h
		return err
	})
	if err != nil {
		return nil, err
	}
	err = d.Do(func() error {
		h, err := netlink.NewHandle()
		b.dirNL = h
		return err
	})
	if err != nil {
		return nil, err
	}
	b.rx = b.sinkRx
	return b, nil
}

func nsShell(h *lab.Host, script string) error {
	out, err := exec.Command("ip", "netns", "exec", h.NS, "sh", "-c", script).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%v: sh -c %q: %w: %s", h, script, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// dropAtIngress drops every frame on ifName at the netdev ingress hook
// with a netdev table of that name: after the packet taps (the sampler
// still sees them), before the IP stack. It runs in the interface's
// namespace; the table goes with the namespace or with deleteNetdevTable.
func dropAtIngress(table, ifName string) error {
	c, err := nftables.New()
	if err != nil {
		return err
	}
	t := c.AddTable(&nftables.Table{Family: nftables.TableFamilyNetdev, Name: table})
	drop := nftables.ChainPolicyDrop
	c.AddChain(&nftables.Chain{Name: "ingress", Table: t, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookIngress, Priority: nftables.ChainPriorityFilter, Device: ifName, Policy: &drop})
	return c.Flush()
}

// deleteNetdevTable removes a table that dropAtIngress made. It runs in
// the interface's namespace.
func deleteNetdevTable(table string) error {
	c, err := nftables.New()
	if err != nil {
		return err
	}
	c.DelTable(&nftables.Table{Family: nftables.TableFamilyNetdev, Name: table})
	return c.Flush()
}

// setGRO switches GRO with the legacy ETHTOOL_SGRO ioctl (no ethtool(8)
// needed). It runs in the interface's namespace.
func setGRO(ifName string, on bool) error {
	const ethtoolSGRO = 0x0000002c
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return os.NewSyscallError("socket", err)
	}
	defer unix.Close(fd)
	val := struct{ cmd, data uint32 }{cmd: ethtoolSGRO}
	if on {
		val.data = 1
	}
	var ifr struct {
		name [unix.IFNAMSIZ]byte
		data uintptr
		_    [16]byte
	}
	copy(ifr.name[:], ifName)
	ifr.data = uintptr(unsafe.Pointer(&val))
	_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&ifr)))
	runtime.KeepAlive(&val)
	if e != 0 {
		return os.NewSyscallError("ioctl SIOCETHTOOL ETHTOOL_SGRO", e)
	}
	return nil
}

// sinkRx is the sink's received-frame counter.
func (b *benchLab) sinkRx() (uint64, error) {
	l, err := b.sinkNL.LinkByName("eth0")
	if err != nil {
		return 0, err
	}
	return l.Attrs().Statistics.RxPackets, nil
}

// settle waits until the sink's counter stops moving (the queues drained)
// and returns its value.
func (b *benchLab) settle() (uint64, error) {
	prev, err := b.rx()
	if err != nil {
		return 0, err
	}
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) {
		time.Sleep(30 * time.Millisecond)
		v, err := b.rx()
		if err != nil {
			return 0, err
		}
		if v == prev {
			return v, nil
		}
		prev = v
	}
	return prev, nil
}

func (b *benchLab) Close() error {
	if b.sinkNL != nil {
		b.sinkNL.Close()
	}
	if b.dirNL != nil {
		b.dirNL.Close()
	}
	return b.l.Close()
}

// pinProcess binds every thread of this process to cpu; threads made later
// inherit it (Go makes threads for locked goroutines from a template thread).
func pinProcess(cpu int) error {
	var set unix.CPUSet
	set.Set(cpu)
	ents, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return err
	}
	for _, e := range ents {
		tid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if err := unix.SchedSetaffinity(tid, &set); err != nil && !errors.Is(err, unix.ESRCH) {
			return fmt.Errorf("pin thread %d to cpu %d: %w", tid, cpu, err)
		}
	}
	return nil
}

// pinThread binds the calling (locked) thread to cpu.
func pinThread(cpu int) error {
	var set unix.CPUSet
	set.Set(cpu)
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		return fmt.Errorf("pin to cpu %d: %w", cpu, err)
	}
	return nil
}

// favourThread gives the calling (locked) thread nice -20, so that other
// work on a shared machine takes as little as possible of its core. The
// generator, govs and afpacket-bare all run so; the kernel baselines run in
// softirq context, which preempts every task anyway.
func favourThread() {
	_ = unix.Setpriority(unix.PRIO_PROCESS, 0, -20) // per thread on Linux; best effort
}

// ticker spins at SCHED_IDLE on one core while a cost is measured, so
// that the core never goes idle: an idle core stops its scheduler tick,
// and the kernel's tick-sampled accounting (/proc/stat) then misses the
// softirq work done in short bursts from idle, the kernel's whole receive
// path (a ticker that only wakes often instead was tried: its figures were
// as erratic as none). The ticker yields to everything else on its core;
// its own CPU time is what the lab left idle there and is taken off
// (runner.busy).
type ticker struct {
	tid  int
	stop atomic.Bool
	done chan struct{}
}

func startTicker(cpu int) (*ticker, error) {
	k := &ticker{done: make(chan struct{})}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		defer close(k.done)
		if err := pinThread(cpu); err != nil {
			errc <- err
			return
		}
		attr := unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_IDLE}
		if err := unix.SchedSetAttr(0, &attr, 0); err != nil {
			errc <- fmt.Errorf("SCHED_IDLE: %w", err)
			return
		}
		k.tid = unix.Gettid()
		errc <- nil
		x := uint64(0)
		for !k.stop.Load() {
			for i := 0; i < 1<<12; i++ {
				x = x*2862933555777941757 + 3037000493
			}
		}
		spin.Store(x)
	}()
	return k, <-errc
}

var spin atomic.Uint64 // keeps the ticker's loop from being optimised away

func (k *ticker) Stop() { k.stop.Store(true); <-k.done }

// cpuSeconds is the CPU time the ticker's thread has had so far.
func (k *ticker) cpuSeconds() (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/self/task/%d/stat", k.tid))
	if err != nil {
		return 0, err
	}
	return ThreadCPUSeconds(string(b))
}

// genJob asks the generator to send for a while.
type genJob struct {
	frames   [][]byte
	fresh    bool    // rewrite each frame's tuple before sending (new connections)
	rate     float64 // 0: flat out
	duration time.Duration
	once     bool // send every frame once, then stop (the prelude)
	result   chan genResult
}

type genResult struct {
	// sent counts the frames the kernel took; refused those the veth
	// refused because the director's receive backlog was full. Refusing
	// costs the generator almost nothing, so counting them as offered
	// would make up a rate no wire carried; they are reported apart.
	sent    uint64
	refused uint64
	elapsed time.Duration
	err     error
}

// generators are the sending threads, one per generator core. A job is
// split between them: each sends its own share of the flows (a disjoint
// slice of the frames, so fresh tuples are rewritten by one thread only)
// at its share of the rate.
type generators struct {
	g []*generator
}

func startGenerators(h *lab.Host, cpus []int) (*generators, error) {
	gs := &generators{}
	for i, c := range cpus {
		g, err := startGenerator(h, c, i, len(cpus))
		if err != nil {
			gs.Close()
			return nil, err
		}
		gs.g = append(gs.g, g)
	}
	return gs, nil
}

// Run runs j split over the threads and returns what they sent in all,
// over the longest thread's time.
func (gs *generators) Run(ctx context.Context, j genJob) genResult {
	k := len(gs.g)
	if k == 1 {
		return gs.g[0].Run(ctx, j)
	}
	results := make(chan genResult, k)
	started := 0
	for t, g := range gs.g {
		sub := j
		sub.frames = j.frames[t*len(j.frames)/k : (t+1)*len(j.frames)/k]
		if len(sub.frames) == 0 {
			continue
		}
		sub.rate = j.rate * float64(len(sub.frames)) / float64(len(j.frames))
		started++
		go func() { results <- g.Run(ctx, sub) }()
	}
	var all genResult
	for range started {
		r := <-results
		all.sent += r.sent
		all.refused += r.refused
		all.elapsed = max(all.elapsed, r.elapsed)
		all.err = errors.Join(all.err, r.err)
	}
	return all
}

func (gs *generators) Close() error {
	var errs []error
	for _, g := range gs.g {
		errs = append(errs, g.Close())
	}
	return errors.Join(errs...)
}

// generator is a thread in the generator namespace, pinned to its core,
// that runs jobs.
type generator struct {
	jobs chan genJob
	done chan error
	seq  int // next fresh tuple
	step int // fresh tuples of this thread: seq, seq+step, … (disjoint from the others')
}

func startGenerator(h *lab.Host, cpu, index, of int) (*generator, error) {
	g := &generator{jobs: make(chan genJob), done: make(chan error, 1), seq: index, step: of}
	ready := make(chan error, 1)
	go func() {
		g.done <- h.Do(func() error {
			if err := pinThread(cpu); err != nil {
				ready <- err
				return err
			}
			favourThread()
			ifi, err := net.InterfaceByName("eth0")
			if err != nil {
				ready <- err
				return err
			}
			tx, err := afpacket.OpenTX(ifi.Index, afpacket.Config{QdiscBypass: true, SendBuffer: 4 << 20})
			if err != nil {
				ready <- err
				return err
			}
			defer tx.Close()
			ready <- nil
			for j := range g.jobs {
				j.result <- g.run(tx, j)
			}
			return nil
		})
	}()
	if err := <-ready; err != nil {
		return nil, err
	}
	return g, nil
}

// batchFor is the batch size for rate: at most afpacket.MaxBatch, and small
// enough that batches leave at least every 100 µs.
func batchFor(rate float64) int {
	if rate == 0 {
		return afpacket.MaxBatch
	}
	return min(afpacket.MaxBatch, max(1, int(rate*100e-6)))
}

func (g *generator) run(tx *afpacket.Socket, j genJob) genResult {
	bs := batchFor(j.rate)
	// The bucket holds up to 10 ms of traffic (at most a few hundred
	// frames more than 1 ms, so that catching up does not overflow a
	// backlog), so a generator woken late or delayed by a slow system call
	// catches up instead of losing the rate.
	lim := NewLimiter(j.rate, max(afpacket.MaxBatch, int(j.rate/1000), min(int(j.rate/100), 512)))
	batch := make([][]byte, afpacket.MaxBatch)
	start := time.Now()
	end := start.Add(j.duration)
	var sent uint64
	refused0 := tx.TxStats().DropFull
	result := func(err error) genResult {
		refused := tx.TxStats().DropFull - refused0
		return genResult{sent: sent, refused: refused, elapsed: time.Since(start), err: err}
	}
	i := 0
	nf := len(j.frames)
	for {
		now := time.Now()
		if !j.once && !now.Before(end) {
			break
		}
		want, atLeast := afpacket.MaxBatch, bs
		if j.once {
			want = min(want, nf-i)
			if want == 0 {
				break
			}
			atLeast = min(atLeast, want)
		}
		n := lim.Take(int64(now.Sub(start)), want, atLeast)
		if n == 0 {
			// Sleep in the kernel rather than spin: the generator's core
			// is one of the lab's, and what it does besides sending (the
			// veth's receive, an XDP program) shows in its busy time only
			// if the generator leaves it idle otherwise.
			if w := lim.Wait(atLeast); w > 20*time.Microsecond {
				ts := unix.NsecToTimespec(int64(w))
				_ = unix.Nanosleep(&ts, nil)
			}
			continue
		}
		for k := range n {
			f := j.frames[i]
			if j.fresh {
				src, sport := FlowTuple(g.seq)
				g.seq += g.step
				SetTuple(f, src, sport)
			}
			batch[k] = f
			i++
			if i == nf && !j.once {
				i = 0
			}
		}
		m, err := tx.SendBatch(batch[:n], nil)
		sent += uint64(m)
		if err != nil {
			return result(err)
		}
		if m < n {
			// The socket's buffer is full: the frames ahead of these are
			// still queued on their way to the director. Send the rest a
			// little later, as a blocking sender would.
			lim.Refund(n - m)
			ts := unix.NsecToTimespec(int64(50 * time.Microsecond))
			_ = unix.Nanosleep(&ts, nil)
		}
	}
	return result(nil)
}

func (g *generator) Run(ctx context.Context, j genJob) genResult {
	j.result = make(chan genResult, 1)
	select {
	case g.jobs <- j:
	case <-ctx.Done():
		return genResult{err: ctx.Err()}
	}
	return <-j.result
}

func (g *generator) Close() error {
	close(g.jobs)
	return <-g.done
}

// softnetDrops sums the "dropped" column of /proc/net/softnet_stat (frames
// dropped because a backlog was full) over cpus.
func softnetDrops(cpus []int) uint64 {
	b, err := os.ReadFile("/proc/net/softnet_stat")
	if err != nil {
		return 0
	}
	var sum uint64
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Fields(line)
		if len(f) < 13 {
			continue
		}
		cpu, err := strconv.ParseUint(f[12], 16, 32)
		if err != nil {
			continue
		}
		for _, c := range cpus {
			if int(cpu) == c {
				v, _ := strconv.ParseUint(f[1], 16, 64)
				sum += v
			}
		}
	}
	return sum
}

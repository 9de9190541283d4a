//go:build linux

package bench

import (
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/govs-lb/govs/forward"
	"github.com/govs-lb/govs/internal/lab"
)

// sampler taps an interface with a BPF filter (sampleFilter) and keeps a
// reservoir of what it passes for the point in progress.
type sampler struct {
	fd   int
	mu   sync.Mutex
	res  *reservoir
	done chan struct{}
	stop atomic.Bool
}

// sampleFilter passes every incoming frame that is not IPv4 and 1 in every
// of the IPv4 ones; frames the namespace sends itself are never passed.
func sampleFilter(every int) ([]bpf.RawInstruction, error) {
	return bpf.Assemble([]bpf.Instruction{
		bpf.LoadExtension{Num: bpf.ExtType},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.PACKET_OUTGOING, SkipTrue: 5},
		bpf.LoadAbsolute{Off: forward.EthernetTypeOffset, Size: 2},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(forward.EtherTypeIPv4), SkipFalse: 2},
		bpf.LoadExtension{Num: bpf.ExtRand},
		bpf.JumpIf{Cond: bpf.JumpGreaterThan, Val: sampleThreshold(every), SkipTrue: 1},
		bpf.RetConstant{Val: 2048},
		bpf.RetConstant{Val: 0},
	})
}

func startSampler(h *lab.Host, ifName string) (*sampler, error) {
	s := &sampler{fd: -1, done: make(chan struct{}), res: newReservoir(uint64(time.Now().UnixNano()))}
	err := h.Do(func() error {
		ifi, err := net.InterfaceByName(ifName)
		if err != nil {
			return err
		}
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
		if err != nil {
			return os.NewSyscallError("socket", err)
		}
		s.fd = fd
		if err := s.setFilter(maxSampleEvery); err != nil {
			return err
		}
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 4<<20); err != nil {
			return os.NewSyscallError("SO_RCVBUF", err)
		}
		tv := unix.NsecToTimeval(int64(100 * time.Millisecond))
		if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
			return os.NewSyscallError("SO_RCVTIMEO", err)
		}
		return os.NewSyscallError("bind", unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index}))
	})
	if err != nil {
		if s.fd >= 0 {
			unix.Close(s.fd)
		}
		return nil, err
	}
	go s.loop()
	return s, nil
}

func (s *sampler) setFilter(every int) error {
	prog, err := sampleFilter(every)
	if err != nil {
		return err
	}
	fp := unix.SockFprog{Len: uint16(len(prog)), Filter: (*unix.SockFilter)(unsafe.Pointer(&prog[0]))}
	return os.NewSyscallError("SO_ATTACH_FILTER", unix.SetsockoptSockFprog(s.fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &fp))
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func (s *sampler) loop() {
	defer close(s.done)
	buf := make([]byte, 2048)
	for !s.stop.Load() {
		n, _, err := unix.Recvfrom(s.fd, buf, 0)
		if err != nil || n <= 0 {
			continue
		}
		s.mu.Lock()
		s.res.add(buf[:n])
		s.mu.Unlock()
	}
}

// Begin starts a point: it forgets what was sampled before and samples 1
// in every IPv4 frame from now on. A nil sampler does nothing.
func (s *sampler) Begin(every int) error {
	if s == nil {
		return nil
	}
	if err := s.setFilter(every); err != nil {
		return err
	}
	s.mu.Lock()
	s.res.take()
	s.mu.Unlock()
	return nil
}

// End returns what was sampled since Begin. A nil sampler saw nothing.
func (s *sampler) End() Sample {
	if s == nil {
		return Sample{}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.res.take()
}

func (s *sampler) Close() {
	s.stop.Store(true)
	<-s.done
	unix.Close(s.fd)
}

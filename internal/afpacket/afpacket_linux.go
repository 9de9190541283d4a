//go:build linux

package afpacket

import (
	"encoding/binary"
	"errors"
	"net"
	"os"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// Offsets into a TPACKET_V3 block (struct tpacket_block_desc) and frame
// (struct tpacket3_hdr followed by struct sockaddr_ll), linux/if_packet.h.
const (
	blkStatus      = 8  // hdr.bh1.block_status
	blkNumPkts     = 12 // hdr.bh1.num_pkts
	blkFirstPkt    = 16 // hdr.bh1.offset_to_first_pkt
	blkLen         = 20 // hdr.bh1.blk_len
	pktNextOffset  = 0
	pktSnaplen     = 12
	pktLen         = 16
	pktStatus      = 20
	pktMac         = 24
	pktRxHash      = 28
	pktVLANTCI     = 32
	pktVLANTPID    = 36
	pktSllIfindex  = 48 + 4
	pktSllPkttype  = 48 + 10
	tpacket3HdrLen = 48 + 20 // TPACKET3_HDRLEN: end of sockaddr_ll

	tpFtReqFillRxHash = 1 // TP_FT_REQ_FILL_RXHASH
)

// Socket is an AF_PACKET socket owned by one goroutine.
type Socket struct {
	fd      int
	ifindex int
	vnet    bool

	// Receive ring; nil for OpenTX sockets.
	ring      []byte
	blockSize int
	nblocks   int
	blk       int // index of the block held by user space, -1 if none
	next      int // index of the next block to look at
	off       int // offset of the next frame in the held block
	left      int // frames left in the held block
	pollfd    [1]unix.PollFd
	ts        unix.Timespec
	stats     Stats

	// Transmit arrays, wired once in newSocket.
	msgs  [MaxBatch]unix.Mmsghdr
	iovs  [2 * MaxBatch]unix.Iovec
	vhdrs [MaxBatch][VnetHdrLen]byte
	tx    TxStats
	txr   *txRing // Config.TXRing: transmit ring (txring_linux.go)
}

func opErr(op string, err error) error {
	if err == nil {
		return nil
	}
	return &net.OpError{Op: op, Net: "packet", Err: os.NewSyscallError(op, err)}
}

func setInt(fd, level, opt int, v int, name string) error {
	return opErr("setsockopt "+name, unix.SetsockoptInt(fd, level, opt, v))
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// Open opens a receive (and transmit) socket on interface ifindex: SOCK_RAW,
// ETH_P_ALL, PACKET_IGNORE_OUTGOING and a TPACKET_V3 ring, joined to the
// fanout group of cfg when cfg.FanoutMode is not FanoutNone.
func Open(ifindex int, cfg Config) (*Socket, error) {
	if cfg.BlockSize == 0 {
		cfg.BlockSize = DefaultBlockSize
	}
	if cfg.BlockCount == 0 {
		cfg.BlockCount = DefaultBlockCount
	}
	if cfg.FrameSize == 0 {
		cfg.FrameSize = DefaultFrameSize
	}
	if cfg.RetireTimeout == 0 {
		cfg.RetireTimeout = DefaultRetireTimeout
	}
	page := os.Getpagesize()
	if cfg.BlockSize < MinBlockSize || cfg.BlockSize%page != 0 {
		return nil, errors.New("afpacket: BlockSize must be a multiple of the page size and at least 128 KiB")
	}
	if cfg.BlockCount < 1 || cfg.FrameSize%unix.TPACKET_ALIGNMENT != 0 || cfg.FrameSize > cfg.BlockSize ||
		cfg.Headroom < 0 || cfg.FrameSize < tpacket3HdrLen+cfg.Headroom {
		return nil, errors.New("afpacket: invalid ring geometry (BlockCount, FrameSize, Headroom)")
	}

	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, opErr("socket", err)
	}
	s := newSocket(fd, ifindex, cfg.VnetHdr)
	if err := s.setup(cfg, page); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func (s *Socket) setup(cfg Config, page int) error {
	fd := s.fd
	if err := s.commonOpts(cfg); err != nil {
		return err
	}
	if err := setInt(fd, unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1, "PACKET_IGNORE_OUTGOING"); err != nil {
		return err
	}
	if err := setInt(fd, unix.SOL_PACKET, unix.PACKET_VERSION, unix.TPACKET_V3, "PACKET_VERSION"); err != nil {
		return err
	}
	if cfg.Headroom > 0 {
		if err := setInt(fd, unix.SOL_PACKET, unix.PACKET_RESERVE, cfg.Headroom, "PACKET_RESERVE"); err != nil {
			return err
		}
	}
	tov := cfg.RetireTimeout.Milliseconds()
	if tov < 1 {
		tov = 1
	}
	req := unix.TpacketReq3{
		Block_size:       uint32(cfg.BlockSize),
		Block_nr:         uint32(cfg.BlockCount),
		Frame_size:       uint32(cfg.FrameSize),
		Frame_nr:         uint32(cfg.BlockSize / cfg.FrameSize * cfg.BlockCount),
		Retire_blk_tov:   uint32(tov),
		Feature_req_word: tpFtReqFillRxHash,
	}
	if err := opErr("setsockopt PACKET_RX_RING", unix.SetsockoptTpacketReq3(fd, unix.SOL_PACKET, unix.PACKET_RX_RING, &req)); err != nil {
		return err
	}
	ring, err := unix.Mmap(fd, 0, cfg.BlockSize*cfg.BlockCount, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return opErr("mmap", err)
	}
	s.ring, s.blockSize, s.nblocks = ring, cfg.BlockSize, cfg.BlockCount

	if len(cfg.Filter) > 0 {
		if err := s.SetBPF(cfg.Filter); err != nil {
			return err
		}
	}
	sa := unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: s.ifindex}
	if err := opErr("bind", unix.Bind(fd, &sa)); err != nil {
		return err
	}
	if cfg.FanoutMode != FanoutNone {
		if err := s.SetFanout(cfg.FanoutGroup, cfg.FanoutMode, cfg.FanoutDefrag); err != nil {
			return err
		}
	}
	return nil
}

// OpenTX opens a transmit-only socket on interface ifindex: bound with
// protocol 0, so it receives nothing. Fanout and ring fields of cfg are
// ignored.
func OpenTX(ifindex int, cfg Config) (*Socket, error) {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, opErr("socket", err)
	}
	s := newSocket(fd, ifindex, cfg.VnetHdr)
	if err := s.commonOpts(cfg); err != nil {
		s.Close()
		return nil, err
	}
	if cfg.TXRing != 0 {
		if cfg.TXRing < 0 || cfg.TXRing > 1<<16 {
			s.Close()
			return nil, errTXRingSize
		}
		if err := s.setupTXRing(cfg.TXRing); err != nil {
			s.Close()
			return nil, err
		}
		plain := cfg
		plain.TXRing = 0
		if s.txr.big, err = OpenTX(ifindex, plain); err != nil {
			s.Close()
			return nil, err
		}
	}
	sa := unix.SockaddrLinklayer{Protocol: 0, Ifindex: ifindex}
	if err := opErr("bind", unix.Bind(fd, &sa)); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func newSocket(fd, ifindex int, vnet bool) *Socket {
	s := &Socket{fd: fd, ifindex: ifindex, vnet: vnet, blk: -1}
	s.pollfd[0] = unix.PollFd{Fd: int32(fd), Events: unix.POLLIN | unix.POLLERR}
	for i := range s.msgs {
		h := &s.msgs[i].Hdr
		if vnet {
			s.iovs[2*i].Base = &s.vhdrs[i][0]
			s.iovs[2*i].SetLen(VnetHdrLen)
			h.Iov = &s.iovs[2*i]
			h.SetIovlen(2)
		} else {
			h.Iov = &s.iovs[2*i+1]
			h.SetIovlen(1)
		}
	}
	return s
}

// commonOpts sets the options shared by receive and transmit sockets; they
// must precede PACKET_RX_RING (PACKET_VNET_HDR fails with EBUSY after it).
func (s *Socket) commonOpts(cfg Config) error {
	if cfg.VnetHdr {
		if err := setInt(s.fd, unix.SOL_PACKET, unix.PACKET_VNET_HDR, 1, "PACKET_VNET_HDR"); err != nil {
			return err
		}
	}
	if cfg.QdiscBypass {
		if err := setInt(s.fd, unix.SOL_PACKET, unix.PACKET_QDISC_BYPASS, 1, "PACKET_QDISC_BYPASS"); err != nil {
			return err
		}
	}
	if cfg.SendBuffer > 0 {
		if unix.SetsockoptInt(s.fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, cfg.SendBuffer) != nil {
			if err := setInt(s.fd, unix.SOL_SOCKET, unix.SO_SNDBUF, cfg.SendBuffer, "SO_SNDBUF"); err != nil {
				return err
			}
		}
	}
	return nil
}

// Close unmaps the ring and closes the socket. Frames from Recv become
// invalid. It must not run concurrently with other methods.
func (s *Socket) Close() error {
	err := s.closeTXRing()
	if s.ring != nil {
		err = opErr("munmap", unix.Munmap(s.ring))
		s.ring = nil
	}
	if s.fd >= 0 {
		if cerr := unix.Close(s.fd); err == nil {
			err = opErr("close", cerr)
		}
		s.fd = -1
	}
	return err
}

// Ifindex returns the interface the socket is bound to.
func (s *Socket) Ifindex() int { return s.ifindex }

// SetBPF attaches a classic BPF program (SO_ATTACH_FILTER), atomically
// replacing any previous one. An empty program detaches the filter, which
// accepts everything.
func (s *Socket) SetBPF(prog []bpf.RawInstruction) error {
	if len(prog) == 0 {
		err := unix.SetsockoptInt(s.fd, unix.SOL_SOCKET, unix.SO_DETACH_FILTER, 0)
		if err == unix.ENOENT { // no filter attached
			err = nil
		}
		return opErr("setsockopt SO_DETACH_FILTER", err)
	}
	fp := unix.SockFprog{
		Len:    uint16(len(prog)),
		Filter: (*unix.SockFilter)(unsafe.Pointer(&prog[0])),
	}
	return opErr("setsockopt SO_ATTACH_FILTER", unix.SetsockoptSockFprog(s.fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &fp))
}

// fanoutModes are the kernel's PACKET_FANOUT_* of each FanoutMode.
var fanoutModes = [...]int{
	FanoutHash:     unix.PACKET_FANOUT_HASH,
	FanoutLB:       unix.PACKET_FANOUT_LB,
	FanoutCPU:      unix.PACKET_FANOUT_CPU,
	FanoutRollover: unix.PACKET_FANOUT_ROLLOVER,
	FanoutRandom:   unix.PACKET_FANOUT_RND,
	FanoutQM:       unix.PACKET_FANOUT_QM,
}

// SetFanout joins the socket to PACKET_FANOUT group id in the given mode. A
// socket joins at most one group, once.
func (s *Socket) SetFanout(group uint16, mode FanoutMode, defrag bool) error {
	if mode == FanoutNone || int(mode) >= len(fanoutModes) {
		return errors.New("afpacket: unknown fanout mode")
	}
	m := fanoutModes[mode]
	if defrag {
		m |= unix.PACKET_FANOUT_FLAG_DEFRAG
	}
	return setInt(s.fd, unix.SOL_PACKET, unix.PACKET_FANOUT, int(group)|m<<16, "PACKET_FANOUT")
}

// Stats returns the receive counters summed over the socket's life
// (PACKET_STATISTICS resets the kernel's copy on every read).
func (s *Socket) Stats() (Stats, error) {
	st, err := unix.GetsockoptTpacketStatsV3(s.fd, unix.SOL_PACKET, unix.PACKET_STATISTICS)
	if err != nil {
		return s.stats, opErr("getsockopt PACKET_STATISTICS", err)
	}
	s.stats.Packets += uint64(st.Packets)
	s.stats.Drops += uint64(st.Drops)
	s.stats.FreezeQCnt += uint64(st.Freeze_q_cnt)
	return s.stats, nil
}

// TxStats returns the transmit counters.
func (s *Socket) TxStats() TxStats { return s.tx }

var errNoRing = errors.New("afpacket: socket has no receive ring")

func (s *Socket) blockStatus(i int) *uint32 {
	return (*uint32)(unsafe.Pointer(&s.ring[i*s.blockSize+blkStatus]))
}

// tryBlock takes the next block if the kernel has handed it over.
func (s *Socket) tryBlock() bool {
	for {
		if atomic.LoadUint32(s.blockStatus(s.next))&unix.TP_STATUS_USER == 0 {
			return false
		}
		b := s.ring[s.next*s.blockSize : (s.next+1)*s.blockSize]
		s.blk = s.next
		s.next++
		if s.next == s.nblocks {
			s.next = 0
		}
		s.left = int(binary.NativeEndian.Uint32(b[blkNumPkts:]))
		s.off = int(binary.NativeEndian.Uint32(b[blkFirstPkt:]))
		if s.left > 0 {
			return true
		}
		s.releaseBlock() // empty block: nothing to read
	}
}

func (s *Socket) releaseBlock() {
	atomic.StoreUint32(s.blockStatus(s.blk), unix.TP_STATUS_KERNEL)
	s.blk, s.left = -1, 0
}

// Backlog returns the number of ring blocks the kernel has handed over
// and that wait behind the one being read, counting at most limit. It
// reads limit status words at most, and makes no system call: a worker
// calls it once per batch to tell whether it is falling behind.
func (s *Socket) Backlog(limit int) int {
	if s.ring == nil {
		return 0
	}
	n, i := 0, s.next
	for n < limit && n < s.nblocks && i != s.blk {
		if atomic.LoadUint32(s.blockStatus(i))&unix.TP_STATUS_USER == 0 {
			break
		}
		n++
		if i++; i == s.nblocks {
			i = 0
		}
	}
	return n
}

// Release hands the block held by the socket back to the kernel once all
// its frames have been returned by Recv (Recv also does this itself on its
// next call). Frames from earlier Recv calls become invalid.
func (s *Socket) Release() {
	if s.blk >= 0 && s.left == 0 {
		s.releaseBlock()
	}
}

// Recv fills b.Frames[:n] with up to len(b.Frames) frames of one ring block
// and returns n. When no block is ready it polls for at most timeout (0: do
// not wait; negative: wait forever) and returns 0, nil on timeout. Recv does
// not allocate, and makes no system call while frames are waiting.
func (s *Socket) Recv(b *Batch, timeout time.Duration) (int, error) {
	if s.ring == nil {
		return 0, errNoRing
	}
	if s.blk >= 0 && s.left == 0 {
		s.releaseBlock()
	}
	if s.blk < 0 && !s.tryBlock() {
		if timeout == 0 {
			return 0, nil
		}
		ok, err := s.wait(timeout)
		if !ok {
			return 0, err
		}
	}
	base := s.blk * s.blockSize
	end := base + s.blockSize
	n := 0
	for n < len(b.Frames) && s.left > 0 {
		p := base + s.off
		if s.off <= 0 || p+tpacket3HdrLen > end {
			s.left = 0 // corrupt offset: drop the rest of the block
			break
		}
		h := s.ring[p : p+tpacket3HdrLen]
		next := int(binary.NativeEndian.Uint32(h[pktNextOffset:]))
		snap := int(binary.NativeEndian.Uint32(h[pktSnaplen:]))
		mac := int(binary.NativeEndian.Uint16(h[pktMac:]))
		start, stop := p+mac, p+mac+snap
		vlen := 0
		if s.vnet {
			vlen = VnetHdrLen
		}
		if mac < tpacket3HdrLen+vlen || stop > end {
			s.left = 0
			break
		}
		f := &b.Frames[n]
		f.Buf = s.ring[p+tpacket3HdrLen : stop : stop]
		f.Headroom = start - (p + tpacket3HdrLen)
		f.Data = f.Buf[f.Headroom:]
		f.Len = int(binary.NativeEndian.Uint32(h[pktLen:]))
		f.Status = binary.NativeEndian.Uint32(h[pktStatus:])
		f.RxHash = binary.NativeEndian.Uint32(h[pktRxHash:])
		f.VLANTCI = uint16(binary.NativeEndian.Uint32(h[pktVLANTCI:]))
		f.VLANTPID = binary.NativeEndian.Uint16(h[pktVLANTPID:])
		f.Ifindex = int32(binary.NativeEndian.Uint32(h[pktSllIfindex:]))
		f.PktType = h[pktSllPkttype]
		f.HasVnet = s.vnet
		if s.vnet {
			f.Vnet.Decode(s.ring[start-VnetHdrLen : start])
		} else {
			f.Vnet = VnetHdr{}
		}
		n++
		s.left--
		if next == 0 {
			s.left = 0
		}
		s.off += next
	}
	return n, nil
}

// wait polls until a block is ready or timeout passes.
func (s *Socket) wait(timeout time.Duration) (bool, error) {
	var deadline time.Time
	if timeout > 0 {
		deadline = time.Now().Add(timeout)
	}
	for {
		tsp := &s.ts
		if timeout > 0 {
			left := time.Until(deadline)
			if left <= 0 {
				return false, nil
			}
			s.ts = unix.NsecToTimespec(int64(left))
		} else {
			tsp = nil
		}
		s.pollfd[0].Revents = 0
		_, err := unix.Ppoll(s.pollfd[:], tsp, nil)
		if err != nil && err != unix.EINTR {
			return false, opErr("ppoll", err)
		}
		if s.tryBlock() {
			return true, nil
		}
		if s.pollfd[0].Revents&unix.POLLERR != 0 {
			serr, err := unix.GetsockoptInt(s.fd, unix.SOL_SOCKET, unix.SO_ERROR)
			if err == nil && serr != 0 {
				err = unix.Errno(serr)
			}
			if err != nil {
				return false, opErr("ppoll", err)
			}
		}
	}
}

// SendBatch transmits frames, MaxBatch per sendmmsg(2), without copying
// them in user space; frames may point into the receive ring. With VnetHdr,
// hdrs[i] is sent in front of frames[i] (hdrs may be nil: no offload);
// without it hdrs is ignored. It returns how many frames the kernel took.
// Frames the kernel refuses are counted in TxStats and dropped; SendBatch
// never blocks. The error is non-nil only for failures that are not about
// one frame or a full queue (e.g. ENETDOWN); the rest of the batch is then
// dropped. SendBatch does not allocate.
func (s *Socket) SendBatch(frames [][]byte, hdrs []VnetHdr) (int, error) {
	if s.txr != nil {
		return s.sendRing(frames, hdrs)
	}
	return s.sendMsgs(frames, hdrs)
}

// sendMsgs is SendBatch with sendmmsg(2).
func (s *Socket) sendMsgs(frames [][]byte, hdrs []VnetHdr) (int, error) {
	sent := 0
	for i := 0; i < len(frames); {
		n := min(len(frames)-i, MaxBatch)
		k := 0
		for j := 0; j < n; j++ {
			fr := frames[i+j]
			if len(fr) == 0 {
				continue
			}
			if s.vnet {
				if hdrs != nil {
					hdrs[i+j].Encode(s.vhdrs[k][:])
				} else {
					s.vhdrs[k] = [VnetHdrLen]byte{}
				}
			}
			iov := &s.iovs[2*k+1]
			iov.Base = &fr[0]
			iov.SetLen(len(fr))
			k++
		}
		i += n
		m, err := s.sendmmsg(k)
		sent += m
		if err != nil {
			s.tx.DropOther += uint64(len(frames) - i)
			return sent, err
		}
	}
	return sent, nil
}

// sendmmsg sends the first k prepared messages, dropping the ones the kernel
// refuses.
func (s *Socket) sendmmsg(k int) (int, error) {
	sent := 0
	for i := 0; i < k; {
		r, _, e := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(s.fd),
			uintptr(unsafe.Pointer(&s.msgs[i])), uintptr(k-i), unix.MSG_DONTWAIT, 0, 0)
		s.tx.Syscalls++
		if e == 0 {
			m := int(r)
			sent += m
			s.tx.Sent += uint64(m)
			i += m
			if i < k {
				s.tx.Incomplete++
			}
			continue
		}
		// The message at i failed.
		switch e {
		case unix.EINTR:
			continue
		case unix.EAGAIN, unix.ENOBUFS:
			s.tx.DropFull += uint64(k - i)
			s.clearIovs(k)
			return sent, nil
		case unix.EMSGSIZE:
			s.tx.DropSize++
			i++
		case unix.EINVAL, unix.EFAULT, unix.ENOMEM:
			s.tx.DropInval++
			i++
		default:
			s.tx.DropOther += uint64(k - i)
			s.clearIovs(k)
			return sent, opErr("sendmmsg", e)
		}
	}
	s.clearIovs(k)
	return sent, nil
}

// clearIovs drops the references to the caller's buffers.
func (s *Socket) clearIovs(k int) {
	for j := 0; j < k; j++ {
		s.iovs[2*j+1].Base = nil
	}
}

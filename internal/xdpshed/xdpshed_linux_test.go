//go:build linux

package xdpshed

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"os"
	"runtime"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/govs-lb/govs/internal/afpacket"
	"github.com/govs-lb/govs/internal/netnstest"
	"github.com/govs-lb/govs/internal/testenv"
)

var (
	vip   = netip.MustParseAddr("198.51.100.1")
	other = netip.MustParseAddr("198.51.100.2")
)

// frame builds an Ethernet + IPv4 + UDP frame to dst (checksums are not
// looked at by the program).
func frame(dst netip.Addr) []byte {
	f := make([]byte, 60)
	copy(f[0:6], []byte{0x02, 0, 0, 0, 0, 0xb})
	copy(f[6:12], []byte{0x02, 0, 0, 0, 0, 0xa})
	binary.BigEndian.PutUint16(f[12:], 0x0800)
	ip := f[14:]
	ip[0], ip[8], ip[9] = 0x45, 64, 17
	binary.BigEndian.PutUint16(ip[2:], 46)
	s := netip.MustParseAddr("192.0.2.2").As4()
	copy(ip[12:16], s[:])
	d := dst.As4()
	copy(ip[16:20], d[:])
	binary.BigEndian.PutUint16(ip[20:], 1024)
	binary.BigEndian.PutUint16(ip[22:], 80)
	binary.BigEndian.PutUint16(ip[24:], 26)
	return f
}

func arpFrame() []byte {
	f := frame(vip)
	binary.BigEndian.PutUint16(f[12:], 0x0806)
	return f
}

// testRun runs the program once on data with BPF_PROG_TEST_RUN.
func testRun(t testing.TB, fd int, data []byte) uint32 {
	t.Helper()
	out := make([]byte, len(data)+256)
	attr := struct {
		progFD, retval, sizeIn, sizeOut uint32
		dataIn, dataOut                 uint64
		repeat, duration                uint32
	}{progFD: uint32(fd), sizeIn: uint32(len(data)), sizeOut: uint32(len(out)),
		dataIn: uint64(uintptr(unsafe.Pointer(&data[0]))), dataOut: uint64(uintptr(unsafe.Pointer(&out[0]))), repeat: 1}
	_, err := bpfCall(unix.BPF_PROG_TEST_RUN, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
	runtime.KeepAlive(data)
	runtime.KeepAlive(out)
	if err != nil {
		t.Fatalf("BPF_PROG_TEST_RUN: %v", err)
	}
	return attr.retval
}

func skipIfNoBPF(t testing.TB, err error) {
	t.Helper()
	if errors.Is(err, unix.EPERM) || errors.Is(err, os.ErrPermission) {
		testenv.Skip(t, "BPF not permitted here: %v", err)
	}
}

// loaded builds a Shedder's maps and program without attaching it.
func loaded(t testing.TB) (*Shedder, *iface) {
	t.Helper()
	s := &Shedder{vips: map[[4]byte]bool{}}
	var err error
	s.vipsFD, err = mapCreate(unix.BPF_MAP_TYPE_HASH, 4, 4, MaxVIPs, 0, "govs_vips")
	skipIfNoBPF(t, err)
	if err != nil {
		t.Fatal(err)
	}
	ifc := &iface{stateFD: -1, progFD: -1}
	ifc.stateFD, err = mapCreate(unix.BPF_MAP_TYPE_ARRAY, 4, int(unsafe.Sizeof(state{})), 1, unix.BPF_F_MMAPABLE, "govs_shed_st")
	if err != nil {
		t.Fatal(err)
	}
	ifc.mem, err = unix.Mmap(ifc.stateFD, 0, os.Getpagesize(), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	ifc.gate.st = (*state)(unsafe.Pointer(&ifc.mem[0]))
	code, err := shedProgram(ifc.stateFD, s.vipsFD)
	if err != nil {
		t.Fatal(err)
	}
	ifc.progFD, err = progLoad(code)
	if err != nil {
		t.Fatal(err)
	}
	s.ifaces = []*iface{ifc}
	t.Cleanup(func() {
		ifc.close()
		unix.Close(s.vipsFD)
	})
	return s, ifc
}

// TestProgramVerdicts runs the verifier-accepted program on golden frames.
func TestProgramVerdicts(t *testing.T) {
	s, ifc := loaded(t)
	if id, name, err := progInfo(ifc.progFD); err != nil || name != ProgName || id == 0 {
		t.Fatalf("progInfo = %d, %q, %v; want a nonzero id and %q", id, name, err, ProgName)
	}
	if err := s.SetVIPs([]netip.Addr{vip, netip.MustParseAddr("2001:db8::1")}); err != nil {
		t.Fatal(err)
	}
	g := &ifc.gate
	g.SetWorkers(1)
	short := frame(vip)[:33]
	cases := []struct {
		name      string
		congested uint32
		data      []byte
		want      uint32
	}{
		{"idle, VIP", 0, frame(vip), xdpPass},
		{"idle, other", 0, frame(other), xdpPass},
		{"congested, VIP", 1, frame(vip), xdpDrop},
		{"congested, other address", 1, frame(other), xdpPass},
		{"congested, ARP", 1, arpFrame(), xdpPass},
		{"congested, truncated IPv4 header", 1, append(short, make([]byte, 0)...), xdpPass},
	}
	for _, c := range cases {
		g.st.Congested.Store(c.congested)
		before := g.Shed()
		data := c.data
		if len(data) < 14 {
			t.Fatalf("%s: test frame too short", c.name)
		}
		if got := testRun(t, ifc.progFD, data); got != c.want {
			t.Errorf("%s: verdict %d, want %d", c.name, got, c.want)
		}
		wantShed := before
		if c.want == xdpDrop {
			wantShed++
		}
		if got := g.Shed(); got != wantShed {
			t.Errorf("%s: shed counter %d, want %d", c.name, got, wantShed)
		}
	}

	// Removing the VIP stops its shedding.
	g.st.Congested.Store(1)
	if err := s.SetVIPs([]netip.Addr{other}); err != nil {
		t.Fatal(err)
	}
	if got := testRun(t, ifc.progFD, frame(vip)); got != xdpPass {
		t.Errorf("after the VIP was removed: verdict %d, want pass", got)
	}
	if got := testRun(t, ifc.progFD, frame(other)); got != xdpDrop {
		t.Errorf("new VIP: verdict %d, want drop", got)
	}
}

// TestProgramSheds1of4 checks the share dropped when one of four workers
// is congested: 25% (a binomial count, checked within ±6 sigma).
func TestProgramShedsShare(t *testing.T) {
	s, ifc := loaded(t)
	if err := s.SetVIPs([]netip.Addr{vip}); err != nil {
		t.Fatal(err)
	}
	g := &ifc.gate
	g.SetWorkers(4)
	g.st.Congested.Store(1)
	const n = 4000
	drops := 0
	f := frame(vip)
	for range n {
		if testRun(t, ifc.progFD, f) == xdpDrop {
			drops++
		}
	}
	if drops < 850 || drops > 1150 {
		t.Errorf("1 of 4 workers congested: dropped %d of %d, want about 1000", drops, n)
	}
	if got := g.Shed(); got != uint64(drops) {
		t.Errorf("shed counter %d, want %d", got, drops)
	}
}

func TestValveHysteresis(t *testing.T) {
	g := &Gate{st: new(state)}
	a, b := NewValve(g, 3, 1), NewValve(g, 3, 1)
	steps := []struct {
		v       *Valve
		backlog int
		on      bool
		count   uint32
	}{
		{&a, 0, false, 0}, {&a, 2, false, 0}, {&a, 3, true, 1}, {&a, 5, true, 1},
		{&b, 4, true, 2}, {&a, 2, true, 2}, {&a, 1, false, 1}, {&a, 2, false, 1},
		{&b, 0, false, 0},
	}
	for i, s := range steps {
		if got := s.v.Update(s.backlog); got != s.on || g.st.Congested.Load() != s.count {
			t.Fatalf("step %d: Update(%d) = %v, count %d; want %v, %d", i, s.backlog, got, g.st.Congested.Load(), s.on, s.count)
		}
	}
	a.Update(9)
	a.Close()
	a.Close()
	if g.st.Congested.Load() != 0 {
		t.Fatalf("after Close: count %d, want 0", g.st.Congested.Load())
	}
	var zero Valve
	if zero.Update(100) {
		t.Fatal("a valve without a gate shed")
	}
}

// TestAttachVeth attaches the shedder to a veth in a namespace, checks
// that a congested gate drops VIP frames sent over the link (and nothing
// else), that a stale program is replaced, and that Close leaves the link
// without XDP.
func TestAttachVeth(t *testing.T) {
	nsA := netnstest.NewNS(t, "govs-xdpA")
	nsB := netnstest.NewNS(t, "govs-xdpB")
	netnstest.VethPair(t, nsA, "vA", "02:00:00:00:00:0a", "", nsB, "vB", "02:00:00:00:00:0b", "")
	var ifA, ifB int
	netnstest.MustInNS(t, nsA, func() error {
		ifi, err := net.InterfaceByName("vA")
		ifA = ifi.Index
		return err
	})
	netnstest.MustInNS(t, nsB, func() error {
		ifi, err := net.InterfaceByName("vB")
		ifB = ifi.Index
		return err
	})
	send := func(f []byte, n int) {
		t.Helper()
		netnstest.MustInNS(t, nsA, func() error {
			fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, 0)
			if err != nil {
				return err
			}
			defer unix.Close(fd)
			sa := &unix.SockaddrLinklayer{Ifindex: ifA, Halen: 6}
			for range n {
				if err := unix.Sendto(fd, f, 0, sa); err != nil {
					return err
				}
			}
			return nil
		})
	}
	netnstest.MustInNS(t, nsB, func() error {
		s, err := Open([]int{ifB})
		skipIfNoBPF(t, err)
		if err != nil {
			return err
		}
		defer s.Close()
		if m := s.Mode(ifB); m != "native" && m != "generic" {
			t.Errorf("mode %q", m)
		}
		if err := s.SetVIPs([]netip.Addr{vip}); err != nil {
			return err
		}
		rx, err := afpacket.Open(ifB, afpacket.Config{BlockSize: afpacket.MinBlockSize, BlockCount: 4, RetireTimeout: time.Millisecond})
		if err != nil {
			return err
		}
		defer rx.Close()
		count := func(want int) int { // frames to 192.0.2.2 → * reaching the socket
			b := afpacket.NewBatch(64)
			got := 0
			for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline) && got < want+1; {
				n, err := rx.Recv(b, 50*time.Millisecond)
				if err != nil {
					t.Fatal(err)
				}
				for i := range n {
					if d := b.Frames[i].Data; len(d) >= 34 && d[12] == 8 && d[13] == 0 && d[26] == 192 {
						got++
					}
				}
				rx.Release()
				if n == 0 && got >= want {
					break
				}
			}
			return got
		}
		g := s.Gate(ifB)
		v := NewValve(g, 1, 0)
		v.Update(1) // congested: the one worker sheds everything to the VIP
		send(frame(vip), 20)
		send(frame(other), 10)
		if got := count(10); got != 10 {
			t.Errorf("congested: %d frames reached the socket, want the 10 to another address", got)
		}
		if got := g.Shed(); got != 20 {
			t.Errorf("congested: shed %d, want 20", got)
		}
		v.Update(0)
		send(frame(vip), 20)
		if got := count(20); got != 20 {
			t.Errorf("not congested: %d frames reached the socket, want 20", got)
		}

		// A second Open (a govs after one that died) replaces the program.
		s2, err := Open([]int{ifB})
		if err != nil {
			return err
		}
		if err := s.Close(); err != nil { // not its program any more: leaves it
			return err
		}
		if x := linkXDP(t, ifB); !x {
			t.Error("the first shedder's Close removed the second one's program")
		}
		if err := s2.Close(); err != nil {
			return err
		}
		if linkXDP(t, ifB) {
			t.Error("XDP program still attached after Close")
		}
		return nil
	})
}

// FuzzShedProgram runs the XDP program on arbitrary frames, idle and
// shedding everything (one worker, congested), and checks each verdict
// against a Go reference: drop exactly the frames of at least 34 bytes
// with EtherType IPv4 and a VIP destination, and only while congested.
func FuzzShedProgram(f *testing.F) {
	f.Add(frame(vip))
	f.Add(frame(other))
	f.Add(arpFrame())
	f.Add(frame(vip)[:34])
	f.Add(frame(vip)[:33])
	vlan := append(append(append([]byte{}, frame(vip)[:12]...), 0x81, 0, 0, 1), frame(vip)[12:]...)
	f.Add(vlan)
	s, ifc := loaded(f)
	if err := s.SetVIPs([]netip.Addr{vip}); err != nil {
		f.Fatal(err)
	}
	g := &ifc.gate
	g.SetWorkers(1)
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 14 || len(data) > 1500 {
			return // BPF_PROG_TEST_RUN takes 14..page-size bytes
		}
		d := vip.As4()
		isVIP := len(data) >= 34 && data[12] == 8 && data[13] == 0 && [4]byte(data[30:34]) == d
		for _, congested := range []uint32{0, 1} {
			g.st.Congested.Store(congested)
			want := uint32(xdpPass)
			if congested == 1 && isVIP {
				want = xdpDrop
			}
			if got := testRun(t, ifc.progFD, data); got != want {
				t.Fatalf("congested %d, frame %x: verdict %d, want %d", congested, data, got, want)
			}
		}
	})
}

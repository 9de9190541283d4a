//go:build linux

package xdpshed

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"sync"
	"unsafe"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// XDP attach flags (linux/if_link.h).
const (
	xdpFlagsUpdateIfNoExist = 1 << 0
	xdpFlagsSKBMode         = 1 << 1
	xdpFlagsDrvMode         = 1 << 2
)

// MaxVIPs bounds the VIP map; VIPs beyond it are never shed (SetVIPs says so).
const MaxVIPs = 4096

// Shedder owns the XDP programs and maps of a set of interfaces. Build it
// with Open, give it the VIPs with SetVIPs, hand each worker its
// interface's Gate, and Close it after the workers have stopped.
type Shedder struct {
	mu     sync.Mutex
	vipsFD int
	vips   map[[4]byte]bool
	ifaces []*iface
}

type iface struct {
	index   int
	name    string
	stateFD int
	progFD  int
	progID  uint32
	mode    string // "native" or "generic"
	flags   int    // the mode's attach flag
	mem     []byte
	gate    Gate
}

// Open loads one program per interface and attaches it, in the driver
// (native XDP) where the driver supports it and in the generic path
// otherwise. An interface that already carries another program's XDP is
// an error; one left behind by a govs that died is replaced.
func Open(ifindexes []int) (*Shedder, error) { return OpenMode(ifindexes, "") }

// OpenMode is Open with the attach mode forced: "native", "generic", or ""
// for native where the driver supports it and generic otherwise.
func OpenMode(ifindexes []int, mode string) (_ *Shedder, err error) {
	s := &Shedder{vipsFD: -1, vips: map[[4]byte]bool{}}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	s.vipsFD, err = mapCreate(unix.BPF_MAP_TYPE_HASH, 4, 4, MaxVIPs, 0, "govs_vips")
	if err != nil {
		return nil, err
	}
	for _, idx := range ifindexes {
		ifc, err := s.attach(idx, mode)
		if err != nil {
			return nil, err
		}
		s.ifaces = append(s.ifaces, ifc)
	}
	return s, nil
}

func (s *Shedder) attach(idx int, want string) (*iface, error) {
	link, err := netlink.LinkByIndex(idx)
	if err != nil {
		return nil, errorf("interface %d: %v", idx, err)
	}
	name := link.Attrs().Name
	if x := link.Attrs().Xdp; x != nil && x.Attached {
		if pn, _ := progName(x.ProgId); pn != ProgName {
			return nil, errorf("%s already has an XDP program (id %d, %q); not replacing it", name, x.ProgId, pn)
		}
		if err := detach(link, x.AttachMode); err != nil {
			return nil, errorf("%s: remove the XDP program a previous govs left: %v", name, err)
		}
	}
	ifc := &iface{index: idx, name: name, stateFD: -1, progFD: -1}
	ifc.stateFD, err = mapCreate(unix.BPF_MAP_TYPE_ARRAY, 4, int(unsafe.Sizeof(state{})), 1, unix.BPF_F_MMAPABLE, "govs_shed_st")
	if err != nil {
		return nil, err
	}
	ifc.mem, err = unix.Mmap(ifc.stateFD, 0, os.Getpagesize(), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		unix.Close(ifc.stateFD)
		return nil, errorf("mmap state map: %v", err)
	}
	ifc.gate.st = (*state)(unsafe.Pointer(&ifc.mem[0]))
	ifc.gate.st.Workers.Store(1)
	code, err := shedProgram(ifc.stateFD, s.vipsFD)
	if err != nil {
		ifc.close()
		return nil, err
	}
	ifc.progFD, err = progLoad(code)
	if err != nil {
		ifc.close()
		return nil, err
	}
	ifc.progID, _, _ = progInfo(ifc.progFD)
	for _, m := range []struct {
		mode string
		flag int
	}{{"native", xdpFlagsDrvMode}, {"generic", xdpFlagsSKBMode}} {
		if want != "" && want != m.mode {
			continue
		}
		err = netlink.LinkSetXdpFdWithFlags(link, ifc.progFD, m.flag|xdpFlagsUpdateIfNoExist)
		if err == nil {
			ifc.mode, ifc.flags = m.mode, m.flag
			return ifc, nil
		}
	}
	ifc.close()
	return nil, errorf("%s: attach XDP: %v", name, err)
}

// Gate returns the gate of the interface with this index (nil if the
// Shedder does not serve it; a nil Gate is valid and never sheds).
func (s *Shedder) Gate(ifindex int) *Gate {
	if s == nil {
		return nil
	}
	for _, ifc := range s.ifaces {
		if ifc.index == ifindex {
			return &ifc.gate
		}
	}
	return nil
}

// Mode says how the program is attached to the interface: "native",
// "generic", or "" when it is not.
func (s *Shedder) Mode(ifindex int) string {
	if s == nil {
		return ""
	}
	for _, ifc := range s.ifaces {
		if ifc.index == ifindex {
			return ifc.mode
		}
	}
	return ""
}

// SetVIPs makes the VIP map hold exactly addrs (IPv4; others are ignored).
func (s *Shedder) SetVIPs(addrs []netip.Addr) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	want := map[[4]byte]bool{}
	for _, a := range addrs {
		if a.Is4() {
			want[a.As4()] = true
		}
	}
	var errs []error
	for k := range s.vips {
		if !want[k] {
			if err := mapDelete(s.vipsFD, k); err != nil && !errors.Is(err, unix.ENOENT) {
				errs = append(errs, err)
				continue
			}
			delete(s.vips, k)
		}
	}
	for k := range want {
		if !s.vips[k] {
			if err := mapUpdate(s.vipsFD, k); err != nil {
				errs = append(errs, fmt.Errorf("VIP %v: %w", netip.AddrFrom4(k), err))
				continue
			}
			s.vips[k] = true
		}
	}
	return errors.Join(errs...)
}

// Close detaches the programs (each only if it is still the one attached:
// a govs that took over may have replaced it) and closes the maps. Gates
// stay readable (their numbers no longer change) and valves on them keep
// working on memory no program reads.
func (s *Shedder) Close() error {
	if s == nil {
		return nil
	}
	var errs []error
	for _, ifc := range s.ifaces {
		if link, err := netlink.LinkByIndex(ifc.index); err == nil {
			if x := link.Attrs().Xdp; x != nil && x.Attached && x.ProgId == ifc.progID {
				if err := netlink.LinkSetXdpFdWithFlags(link, -1, ifc.flags); err != nil {
					errs = append(errs, errorf("%s: detach XDP: %v", ifc.name, err))
				}
			}
		}
		ifc.close()
	}
	if s.vipsFD >= 0 {
		unix.Close(s.vipsFD)
		s.vipsFD = -1
	}
	return errors.Join(errs...)
}

// close closes the program and the state map. The state page stays mapped
// (a page per interface, until the process exits): gates may still be read
// by a metrics scrape racing with shutdown, which then sees the last
// numbers instead of faulting. The kernel frees the map with the mapping.
func (ifc *iface) close() {
	for _, fd := range []*int{&ifc.progFD, &ifc.stateFD} {
		if *fd >= 0 {
			unix.Close(*fd)
			*fd = -1
		}
	}
}

// detach removes whatever XDP program the link carries in mode (the
// IFLA_XDP_ATTACHED value: 1 native, 2 generic, 3 offloaded).
func detach(link netlink.Link, attachMode uint32) error {
	flag := xdpFlagsDrvMode
	if attachMode == 2 {
		flag = xdpFlagsSKBMode
	}
	return netlink.LinkSetXdpFdWithFlags(link, -1, flag)
}

// The bpf(2) calls. Attributes are laid out as in union bpf_attr; the
// kernel zero-extends a shorter attr.

func bpfCall(cmd uintptr, attr unsafe.Pointer, size uintptr) (int, error) {
	r, _, e := unix.Syscall(unix.SYS_BPF, cmd, uintptr(attr), size)
	if e != 0 {
		return -1, e
	}
	return int(r), nil
}

func objName(s string) (n [16]byte) {
	copy(n[:15], s)
	return n
}

func mapCreate(typ, keySize, valueSize, maxEntries, flags int, name string) (int, error) {
	attr := struct {
		mapType, keySize, valueSize, maxEntries, mapFlags, innerMapFD, numaNode uint32
		name                                                                    [16]byte
	}{uint32(typ), uint32(keySize), uint32(valueSize), uint32(maxEntries), uint32(flags), 0, 0, objName(name)}
	fd, err := bpfCall(unix.BPF_MAP_CREATE, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
	if err != nil {
		return -1, errorf("create map %s: %v", name, permHint(err))
	}
	return fd, nil
}

type elemAttr struct {
	fd         uint32
	_          uint32
	key, value uint64
	flags      uint64
}

func mapUpdate(fd int, key [4]byte) error {
	var value [4]byte
	attr := elemAttr{fd: uint32(fd), key: uint64(uintptr(unsafe.Pointer(&key))), value: uint64(uintptr(unsafe.Pointer(&value)))}
	_, err := bpfCall(unix.BPF_MAP_UPDATE_ELEM, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
	runtime.KeepAlive(&key)
	runtime.KeepAlive(&value)
	return err
}

func mapDelete(fd int, key [4]byte) error {
	attr := elemAttr{fd: uint32(fd), key: uint64(uintptr(unsafe.Pointer(&key)))}
	_, err := bpfCall(unix.BPF_MAP_DELETE_ELEM, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
	runtime.KeepAlive(&key)
	return err
}

type progLoadAttr struct {
	progType, insnCnt  uint32
	insns, license     uint64
	logLevel, logSize  uint32
	logBuf             uint64
	kernVersion, flags uint32
	name               [16]byte
	ifindex            uint32
	expectedAttachType uint32
}

func progLoad(code []byte) (int, error) {
	license := []byte("Apache-2.0\x00")
	attr := progLoadAttr{
		progType: unix.BPF_PROG_TYPE_XDP,
		insnCnt:  uint32(len(code) / 8),
		insns:    uint64(uintptr(unsafe.Pointer(&code[0]))),
		license:  uint64(uintptr(unsafe.Pointer(&license[0]))),
		flags:    unix.BPF_F_XDP_HAS_FRAGS,
		name:     objName(ProgName),
	}
	fd, err := bpfCall(unix.BPF_PROG_LOAD, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
	if err != nil && errors.Is(err, unix.EINVAL) {
		// Kernels before 5.18 do not know BPF_F_XDP_HAS_FRAGS.
		attr.flags = 0
		fd, err = bpfCall(unix.BPF_PROG_LOAD, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
	}
	if err != nil {
		// Load again with the verifier's log, for the error message.
		log := make([]byte, 64<<10)
		attr.logLevel, attr.logSize = 1, uint32(len(log))
		attr.logBuf = uint64(uintptr(unsafe.Pointer(&log[0])))
		_, _ = bpfCall(unix.BPF_PROG_LOAD, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
		runtime.KeepAlive(log)
		msg := strings.TrimSpace(strings.TrimRight(string(log), "\x00"))
		if msg != "" {
			return -1, errorf("load XDP program: %v: %s", permHint(err), msg)
		}
		return -1, errorf("load XDP program: %v", permHint(err))
	}
	runtime.KeepAlive(code)
	runtime.KeepAlive(license)
	return fd, nil
}

// progInfo reads the id and name of a loaded program (struct bpf_prog_info:
// id at offset 4, name at 64).
func progInfo(fd int) (uint32, string, error) {
	var info [128]byte
	attr := struct {
		fd, infoLen uint32
		info        uint64
	}{uint32(fd), uint32(len(info)), uint64(uintptr(unsafe.Pointer(&info[0])))}
	_, err := bpfCall(unix.BPF_OBJ_GET_INFO_BY_FD, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
	runtime.KeepAlive(&info)
	if err != nil {
		return 0, "", err
	}
	id := *(*uint32)(unsafe.Pointer(&info[4]))
	name := string(info[64:80])
	if i := strings.IndexByte(name, 0); i >= 0 {
		name = name[:i]
	}
	return id, name, nil
}

// progName returns the name of the loaded program with this id.
func progName(id uint32) (string, error) {
	attr := struct{ id, nextID, openFlags uint32 }{id: id}
	fd, err := bpfCall(unix.BPF_PROG_GET_FD_BY_ID, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
	if err != nil {
		return "", err
	}
	defer unix.Close(fd)
	_, name, err := progInfo(fd)
	return name, err
}

func permHint(err error) error {
	if errors.Is(err, unix.EPERM) {
		return fmt.Errorf("%w (needs CAP_BPF and CAP_NET_ADMIN)", err)
	}
	return err
}

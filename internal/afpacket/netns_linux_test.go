//go:build linux

package afpacket

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/govs-lb/govs/internal/testenv"
)

// vethPair is two fresh network namespaces joined by a veth pair:
// nsA/vA (192.0.2.1) <-> nsB/vB (192.0.2.2). IPv6 is off in both, so the
// link carries only what the test sends.
type vethPair struct {
	nsA, nsB     string
	ifA, ifB     int
	macA, macB   net.HardwareAddr
	addrA, addrB [4]byte
}

func ipCmd(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

func skipIfNotPermitted(t testing.TB, err error) {
	t.Helper()
	if err == nil {
		return
	}
	s := err.Error()
	if os.IsPermission(err) || strings.Contains(s, "Operation not permitted") || strings.Contains(s, "Permission denied") {
		testenv.Skip(t, "needs CAP_NET_ADMIN/CAP_SYS_ADMIN to create namespaces and AF_PACKET sockets: %v", err)
	}
}

// newVethPair creates the namespaces and the veth pair; t.Cleanup removes them.
func newVethPair(t testing.TB) *vethPair {
	t.Helper()
	if _, err := exec.LookPath("ip"); err != nil {
		testenv.Skip(t, "iproute2 ip not found")
	}
	var rnd [4]byte
	rand.Read(rnd[:])
	prefix := "govs-afp-" + hex.EncodeToString(rnd[:])
	p := &vethPair{nsA: prefix + "-a", nsB: prefix + "-b", addrA: [4]byte{192, 0, 2, 1}, addrB: [4]byte{192, 0, 2, 2}}
	for _, ns := range []string{p.nsA, p.nsB} {
		if err := ipCmd("netns", "add", ns); err != nil {
			skipIfNotPermitted(t, err)
			t.Fatal(err)
		}
		t.Cleanup(func() { ipCmd("netns", "del", ns) })
		err := inNS(ns, func() error {
			for _, f := range []string{"all", "default"} {
				if err := os.WriteFile("/proc/sys/net/ipv6/conf/"+f+"/disable_ipv6", []byte("1"), 0); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	cmds := [][]string{
		{"link", "add", "vA", "netns", p.nsA, "type", "veth", "peer", "name", "vB", "netns", p.nsB},
		{"-n", p.nsA, "addr", "add", "192.0.2.1/24", "dev", "vA"},
		{"-n", p.nsB, "addr", "add", "192.0.2.2/24", "dev", "vB"},
		{"-n", p.nsA, "link", "set", "vA", "up"},
		{"-n", p.nsB, "link", "set", "vB", "up"},
		{"-n", p.nsA, "link", "set", "lo", "up"},
		{"-n", p.nsB, "link", "set", "lo", "up"},
	}
	for _, c := range cmds {
		if err := ipCmd(c...); err != nil {
			skipIfNotPermitted(t, err)
			t.Fatal(err)
		}
	}
	for _, side := range []struct {
		ns, name string
		idx      *int
		mac      *net.HardwareAddr
	}{{p.nsA, "vA", &p.ifA, &p.macA}, {p.nsB, "vB", &p.ifB, &p.macB}} {
		err := inNS(side.ns, func() error {
			ifi, err := net.InterfaceByName(side.name)
			if err != nil {
				return err
			}
			// Until linkwatch has run, the link has no qdisc and drops what is
			// sent: wait for it to be running (a second or more under load).
			for deadline := time.Now().Add(10 * time.Second); ifi.Flags&net.FlagRunning == 0; {
				if time.Now().After(deadline) {
					return fmt.Errorf("%s: not running after 10s", side.name)
				}
				time.Sleep(10 * time.Millisecond)
				if ifi, err = net.InterfaceByName(side.name); err != nil {
					return err
				}
			}
			*side.idx, *side.mac = ifi.Index, ifi.HardwareAddr
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// inNS runs fn on a fresh OS thread that has joined namespace ns. The thread
// stays locked and dies with its goroutine, so it never returns to the
// scheduler while inside the namespace. Sockets that fn creates stay in ns.
func inNS(ns string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
		f, err := os.Open("/var/run/netns/" + ns)
		if err != nil {
			errc <- err
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns %s: %w", ns, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// openIn opens a ring socket on ifindex inside ns.
func openIn(t testing.TB, ns string, ifindex int, cfg Config) *Socket {
	t.Helper()
	var s *Socket
	err := inNS(ns, func() (err error) {
		s, err = Open(ifindex, cfg)
		return err
	})
	if err != nil {
		skipIfNotPermitted(t, err)
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func openTXIn(t testing.TB, ns string, ifindex int, cfg Config) *Socket {
	t.Helper()
	var s *Socket
	err := inNS(ns, func() (err error) {
		s, err = OpenTX(ifindex, cfg)
		return err
	})
	if err != nil {
		skipIfNotPermitted(t, err)
		t.Fatalf("OpenTX: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// sendRaw sends frames from a plain AF_PACKET socket in ns, from one thread
// pinned to one CPU so that they reach the receiver in order (one backlog).
func sendRaw(t testing.TB, ns string, ifindex int, frames [][]byte) {
	t.Helper()
	err := inNS(ns, func() error {
		var set unix.CPUSet
		set.Set(0)
		unix.SchedSetaffinity(0, &set)
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		sa := &unix.SockaddrLinklayer{Ifindex: ifindex}
		for _, f := range frames {
			if err := unix.Sendto(fd, f, 0, sa); err != nil {
				return fmt.Errorf("sendto: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// linkStats returns the rx and tx packet counters of dev in ns.
func linkStats(t testing.TB, ns, dev string) (rx, tx uint64) {
	t.Helper()
	out, err := exec.Command("ip", "-n", ns, "-s", "-j", "link", "show", "dev", dev).Output()
	if err != nil {
		t.Fatalf("ip link show: %v", err)
	}
	var v []struct {
		Stats64 struct {
			RX struct{ Packets uint64 } `json:"rx"`
			TX struct{ Packets uint64 } `json:"tx"`
		} `json:"stats64"`
	}
	if err := json.Unmarshal(out, &v); err != nil || len(v) != 1 {
		t.Fatalf("ip -j link show: %v: %s", err, out)
	}
	return v[0].Stats64.RX.Packets, v[0].Stats64.TX.Packets
}

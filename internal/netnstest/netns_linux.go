//go:build linux

package netnstest

import (
	"crypto/rand"
	"encoding/hex"
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

// NewNS creates a named network namespace unique to this run and removes it
// at cleanup. It skips the test (through testenv.Skip) when namespaces cannot
// be made here.
func NewNS(t *testing.T, prefix string) string {
	t.Helper()
	testenv.LookPath(t, "ip")
	var b [4]byte
	rand.Read(b[:])
	name := fmt.Sprintf("%s-%s", prefix, hex.EncodeToString(b[:]))
	out, err := exec.Command("ip", "netns", "add", name).CombinedOutput()
	if err != nil {
		if s := string(out); strings.Contains(s, "Operation not permitted") || strings.Contains(s, "Permission denied") {
			testenv.Skip(t, "creating a network namespace is not permitted: %s", strings.TrimSpace(s))
		}
		t.Fatalf("ip netns add %s: %v: %s", name, err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
	IP(t, "-n", name, "link", "set", "lo", "up")
	return name
}

// IP runs the ip command and fails the test on error.
func IP(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// VethPair makes ns1/dev1 <-> ns2/dev2 with the given MACs and addresses (CIDR), up.
func VethPair(t *testing.T, ns1, dev1, mac1, addr1, ns2, dev2, mac2, addr2 string) {
	t.Helper()
	IP(t, "-n", ns1, "link", "add", dev1, "address", mac1, "type", "veth", "peer", "name", dev2, "address", mac2, "netns", ns2)
	for _, x := range [][3]string{{ns1, dev1, addr1}, {ns2, dev2, addr2}} {
		if x[2] != "" {
			IP(t, "-n", x[0], "addr", "add", x[2], "dev", x[1])
		}
		IP(t, "-n", x[0], "link", "set", x[1], "up")
	}
	// Until linkwatch has run, a link has no qdisc and drops what is sent:
	// wait until both ends are running (a second or more under load).
	for _, x := range [][2]string{{ns1, dev1}, {ns2, dev2}} {
		err := InNS(x[0], func() error {
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
				ifi, err := net.InterfaceByName(x[1])
				if err != nil {
					return err
				}
				if ifi.Flags&net.FlagRunning != 0 {
					return nil
				}
				if time.Now().After(deadline) {
					return fmt.Errorf("%s: not running after 10s", x[1])
				}
			}
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// InNS runs f on a fresh OS thread switched into the named namespace and
// returns its error. The thread is never unlocked, so it exits with the
// goroutine instead of going back to the scheduler inside the namespace.
// Sockets and netlink handles made by f stay in the namespace.
func InNS(name string, f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		fd, err := unix.Open("/run/netns/"+name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- err
			return
		}
		defer unix.Close(fd)
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns %s: %w", name, err)
			return
		}
		errc <- f()
	}()
	return <-errc
}

// MustInNS is InNS that skips (through testenv.Skip) on a permission error and fails on any other.
func MustInNS(t *testing.T, name string, f func() error) {
	t.Helper()
	if err := InNS(name, f); err != nil {
		if os.IsPermission(err) {
			testenv.Skip(t, "%v", err)
		}
		t.Fatal(err)
	}
}

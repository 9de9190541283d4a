package lab

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/govs-lb/govs/internal/testenv"
)

// NetnsDir is where ip-netns(8) keeps the named namespaces.
const NetnsDir = "/run/netns"

// DefaultSweepPattern matches the namespaces made by any Lab: "gv", six hex
// digits, a dash and a name (path.Match syntax).
const DefaultSweepPattern = "gv[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]-*"

// maxNameLen is the longest namespace (and interface) name a lab makes:
// IFNAMSIZ-1, so a namespace name can also serve as an interface name.
const maxNameLen = 15

// Lab is a set of network namespaces whose names share Prefix. Its methods
// are safe for concurrent use. Close deletes everything it made.
type Lab struct {
	Name   string // label given to New, for messages only
	Prefix string // unique per run: "gv" and six hex digits

	mu      sync.Mutex
	hosts   []*Host // every namespace made, segments' included, in creation order
	byName  map[string]*Host
	closers []io.Closer // servers and listeners handed out, closed by Close
	closed  bool
	links   []linkEnd // every veth end made, for WaitLinks
}

// linkEnd is one end of a veth the lab made.
type linkEnd struct {
	h    *Host
	name string
}

// Host is one network namespace of a Lab.
type Host struct {
	Name string // short name given to Lab.Host, e.g. "rs1"
	NS   string // namespace name, Prefix-Name, e.g. "gv3fa91c-rs1"
	lab  *Lab
}

// Segment is a shared L2 network: a bridge "br0" in a namespace of its own.
type Segment struct {
	Name   string // short name given to Lab.Segment
	Bridge string // the bridge's name inside Host ("br0")
	Host   *Host  // the namespace holding the bridge and the hosts' peer ends
	mu     sync.Mutex
	ports  int
}

// New returns an empty lab with a fresh random prefix. It makes nothing yet;
// Host, Link and Segment do.
func New(name string) (*Lab, error) {
	var b [3]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, fmt.Errorf("lab: random prefix: %w", err)
	}
	return &Lab{Name: name, Prefix: "gv" + hex.EncodeToString(b[:]), byName: make(map[string]*Host)}, nil
}

// NewT returns a lab for t that is closed by t.Cleanup, failed test or not.
// It skips t with the reason (through testenv.Skip, so it fails t under
// GOVS_TEST_NOSKIP=1) when this process may not create network namespaces
// (os.ErrPermission from unshare(CLONE_NEWNET)) or ip(8) is missing.
func NewT(t testing.TB) *Lab {
	t.Helper()
	testenv.LookPath(t, "ip")
	if err := probe(); err != nil {
		if errors.Is(err, os.ErrPermission) || errors.Is(err, errUnsupported) {
			testenv.Skip(t, "lab: cannot create network namespaces (need root or CAP_SYS_ADMIN): %v", err)
		}
		t.Fatalf("lab: probing network namespaces: %v", err)
	}
	l, err := New(t.Name())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("lab %s: close: %v", l.Prefix, err)
		}
	})
	return l
}

func (l *Lab) String() string { return "lab " + l.Prefix + " (" + l.Name + ")" }

// runIP runs ip(8) with args and turns a failure into an error that carries the
// command line and ip's own message.
func runIP(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

func validName(s string) error {
	if s == "" {
		return errors.New("empty name")
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return fmt.Errorf("name %q: character %q not allowed", s, c)
		}
	}
	return nil
}

// newNS makes the namespace Prefix-name, records it for Close before
// configuring it, and brings lo up. IPv6 is disabled so that no router
// solicitations or DAD probes add traffic nobody asked for.
func (l *Lab) newNS(name string) (*Host, error) {
	if err := validName(name); err != nil {
		return nil, fmt.Errorf("%v: %w", l, err)
	}
	ns := l.Prefix + "-" + name
	if len(ns) > maxNameLen {
		return nil, fmt.Errorf("%v: namespace name %q longer than %d characters (host names are at most %d)", l, ns, maxNameLen, maxNameLen-len(l.Prefix)-1)
	}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil, fmt.Errorf("%v: closed", l)
	}
	if _, dup := l.byName[name]; dup {
		l.mu.Unlock()
		return nil, fmt.Errorf("%v: host or segment %q already exists", l, name)
	}
	h := &Host{Name: name, NS: ns, lab: l}
	l.byName[name] = h
	l.mu.Unlock()

	if err := runIP("netns", "add", ns); err != nil {
		l.mu.Lock()
		delete(l.byName, name)
		l.mu.Unlock()
		return nil, err
	}
	l.mu.Lock()
	l.hosts = append(l.hosts, h)
	l.mu.Unlock()
	if err := h.IP("link", "set", "dev", "lo", "up"); err != nil {
		return nil, err
	}
	for _, k := range []string{"net.ipv6.conf.all.disable_ipv6", "net.ipv6.conf.default.disable_ipv6"} {
		if err := h.Sysctl(k, "1"); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
	}
	return h, nil
}

// Host makes a namespace named Prefix-name with lo up. name is short:
// at most 6 characters with the default prefix ("client", "dir", "rs1").
func (l *Lab) Host(name string) (*Host, error) { return l.newNS(name) }

// Link joins a and b with a veth pair, aIf in a and bIf in b, and brings both
// ends up. The pair is created directly inside the two namespaces, never in
// the caller's.
func (l *Lab) Link(a *Host, aIf string, b *Host, bIf string) error {
	if err := checkIfName(aIf); err != nil {
		return err
	}
	if err := checkIfName(bIf); err != nil {
		return err
	}
	if err := a.IP("link", "add", aIf, "type", "veth", "peer", "name", bIf, "netns", b.NS); err != nil {
		return err
	}
	if err := a.SetUp(aIf); err != nil {
		return err
	}
	if err := b.SetUp(bIf); err != nil {
		return err
	}
	l.addLinks(linkEnd{a, aIf}, linkEnd{b, bIf})
	return nil
}

func (l *Lab) addLinks(e ...linkEnd) {
	l.mu.Lock()
	l.links = append(l.links, e...)
	l.mu.Unlock()
}

// WaitLinks waits until every veth end the lab has made is running. Until
// the kernel's linkwatch has run (a second or more on a loaded machine) a
// new link has no qdisc and silently drops what is sent through it.
func (l *Lab) WaitLinks(timeout time.Duration) error {
	l.mu.Lock()
	links := append([]linkEnd(nil), l.links...)
	l.mu.Unlock()
	deadline := time.Now().Add(timeout)
	for _, e := range links {
		err := e.h.Do(func() error {
			for {
				ifi, err := net.InterfaceByName(e.name)
				if err != nil {
					return err
				}
				if ifi.Flags&net.FlagRunning != 0 {
					return nil
				}
				if time.Now().After(deadline) {
					return fmt.Errorf("%s: not running after %v", e.name, timeout)
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
		if err != nil {
			return fmt.Errorf("%v: %w", e.h, err)
		}
	}
	return nil
}

// Segment makes a shared L2 segment: a namespace Prefix-name holding the
// bridge br0 (STP off, so ports forward at once). name is a host name too
// and must not clash with one.
func (l *Lab) Segment(name string) (*Segment, error) {
	h, err := l.newNS(name)
	if err != nil {
		return nil, err
	}
	if err := h.IP("link", "add", "br0", "type", "bridge", "stp_state", "0", "forward_delay", "0"); err != nil {
		return nil, err
	}
	if err := h.SetUp("br0"); err != nil {
		return nil, err
	}
	return &Segment{Name: name, Bridge: "br0", Host: h}, nil
}

// Attach connects h to the segment through a veth whose end in h is named
// ifName and is brought up; the other end ("pN") is enslaved to the bridge.
func (s *Segment) Attach(h *Host, ifName string) error {
	if err := checkIfName(ifName); err != nil {
		return err
	}
	s.mu.Lock()
	s.ports++
	port := fmt.Sprintf("p%d", s.ports)
	s.mu.Unlock()
	if err := h.IP("link", "add", ifName, "type", "veth", "peer", "name", port, "netns", s.Host.NS); err != nil {
		return err
	}
	if err := s.Host.IP("link", "set", "dev", port, "master", s.Bridge, "up"); err != nil {
		return err
	}
	if err := h.SetUp(ifName); err != nil {
		return err
	}
	h.lab.addLinks(linkEnd{h, ifName}, linkEnd{s.Host, port})
	return nil
}

func checkIfName(s string) error {
	if err := validName(s); err != nil {
		return fmt.Errorf("lab: interface %w", err)
	}
	if len(s) > maxNameLen {
		return fmt.Errorf("lab: interface name %q longer than %d characters", s, maxNameLen)
	}
	return nil
}

// track registers c to be closed by Close (before the namespaces go). It
// closes c at once and reports an error when the lab is already closed.
func (l *Lab) track(c io.Closer) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		c.Close()
		return fmt.Errorf("%v: closed", l)
	}
	l.closers = append(l.closers, c)
	return nil
}

// Hosts returns every namespace the lab made, segments' included, in order.
func (l *Lab) Hosts() []*Host {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]*Host(nil), l.hosts...)
}

// Close closes the servers and listeners the lab handed out, then deletes
// every namespace it made (which deletes their veths and bridges). It goes on
// past failures and reports them all. A second Close does nothing.
//
// Sockets and processes the caller still holds keep a deleted namespace (and
// its veths) alive until they are closed; its name is gone regardless.
func (l *Lab) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	closers, hosts := l.closers, l.hosts
	l.closers, l.hosts = nil, nil
	l.mu.Unlock()

	for i := len(closers) - 1; i >= 0; i-- {
		closers[i].Close()
	}
	var errs []error
	for i := len(hosts) - 1; i >= 0; i-- {
		err := runIP("netns", "del", hosts[i].NS)
		if _, serr := os.Stat(filepath.Join(NetnsDir, hosts[i].NS)); err != nil && serr == nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Sweep deletes the named namespaces matching pattern (path.Match syntax;
// "" means DefaultSweepPattern) that are older than olderThan, as left behind
// by runs killed before Close. It returns the names it deleted. Call it only
// when asked to: a young namespace may belong to a run still going.
func Sweep(pattern string, olderThan time.Duration) ([]string, error) {
	if pattern == "" {
		pattern = DefaultSweepPattern
	}
	if _, err := path.Match(pattern, ""); err != nil {
		return nil, fmt.Errorf("lab: sweep pattern %q: %w", pattern, err)
	}
	ents, err := os.ReadDir(NetnsDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("lab: sweep: %w", err)
	}
	cutoff := time.Now().Add(-olderThan)
	var gone []string
	var errs []error
	for _, e := range ents {
		if ok, _ := path.Match(pattern, e.Name()); !ok {
			continue
		}
		fi, err := os.Stat(filepath.Join(NetnsDir, e.Name()))
		if err != nil || fi.ModTime().After(cutoff) {
			continue
		}
		if err := runIP("netns", "del", e.Name()); err != nil {
			errs = append(errs, err)
			continue
		}
		gone = append(gone, e.Name())
	}
	return gone, errors.Join(errs...)
}

func (h *Host) String() string { return h.NS }

// Lab returns the lab h belongs to.
func (h *Host) Lab() *Lab { return h.lab }

// IP runs "ip -n NS args..." and returns ip's message on failure.
func (h *Host) IP(args ...string) error {
	return runIP(append([]string{"-n", h.NS}, args...)...)
}

// AddAddr adds an address in CIDR form ("192.0.2.10/24") to ifName.
func (h *Host) AddAddr(ifName, cidr string) error {
	if _, err := netip.ParsePrefix(cidr); err != nil {
		return fmt.Errorf("%v: add address: %w", h, err)
	}
	return h.IP("addr", "add", cidr, "dev", ifName)
}

// AddRoute adds a route written as for "ip route add", e.g.
// "default via 192.0.2.1" or "198.51.100.0/24 dev eth0".
func (h *Host) AddRoute(spec string) error {
	f := strings.Fields(spec)
	if len(f) == 0 {
		return fmt.Errorf("%v: add route: empty spec", h)
	}
	return h.IP(append([]string{"route", "add"}, f...)...)
}

// AddRouteVia adds a route to dst through the gateway gw.
func (h *Host) AddRouteVia(dst netip.Prefix, gw netip.Addr) error {
	return h.IP("route", "add", dst.String(), "via", gw.String())
}

// AddRouteDev adds a route to dst directly on (on-link through) ifName.
func (h *Host) AddRouteDev(dst netip.Prefix, ifName string) error {
	return h.IP("route", "add", dst.String(), "dev", ifName)
}

// SetUp brings ifName up.
func (h *Host) SetUp(ifName string) error {
	return h.IP("link", "set", "dev", ifName, "up")
}

// sysctlPath turns "net.ipv4.ip_forward" (or "net/ipv4/ip_forward") into
// its /proc/sys path. With dots, an interface name cannot contain a dot;
// use the slash form for those.
func sysctlPath(key string) string {
	if !strings.Contains(key, "/") {
		key = strings.ReplaceAll(key, ".", "/")
	}
	return filepath.Join("/proc/sys", key)
}

// Sysctl sets a sysctl inside h ("net.ipv4.ip_forward", "1"). The net.*
// keys are per namespace; /proc/sys is opened on a thread inside h.
func (h *Host) Sysctl(key, value string) error {
	p := sysctlPath(key)
	return h.Do(func() error { return os.WriteFile(p, []byte(value+"\n"), 0) })
}

// ReadSysctl reads a sysctl inside h, without the trailing newline.
func (h *Host) ReadSysctl(key string) (string, error) {
	p := sysctlPath(key)
	var v string
	err := h.Do(func() error {
		b, err := os.ReadFile(p)
		v = strings.TrimSpace(string(b))
		return err
	})
	return v, err
}

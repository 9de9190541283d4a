package localnode

import (
	"os"
	"path/filepath"
	"testing"
)

// fakeProc makes a /proc/sys lookalike with the given settings.
func fakeProc(t *testing.T, kv map[string]string) *Sysctls {
	t.Helper()
	root := t.TempDir()
	for k, v := range kv {
		p := filepath.Join(root, k)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(v+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return &Sysctls{Root: root}
}

func TestSysctlsRestore(t *testing.T) {
	s := fakeProc(t, map[string]string{
		"net/ipv4/conf/all/rp_filter":        "1",
		"net/ipv4/conf/eth0/arp_ignore":      "0",
		"net/ipv4/conf/eth0/arp_announce":    "2",
		"net/ipv4/conf/eth1.10/arp_ignore":   "8",
		"net/ipv4/conf/eth0/accept_local":    "0",
		"net/ipv4/conf/other/rp_filter":      "0",
		"net/ipv4/conf/strict2/rp_filter":    "2",
		"net/ipv6/conf/govs0/disable_ipv6":   "0",
		"net/ipv4/conf/eth0/route_localnet":  "0",
		"net/ipv4/conf/gone/arp_announce":    "0",
		"net/ipv4/conf/eth0/proxy_arp_pvlan": "0",
	})
	steps := []error{
		s.NotStrictRPFilter("net/ipv4/conf/all/rp_filter"),     // 1 -> 2
		s.NotStrictRPFilter("net/ipv4/conf/other/rp_filter"),   // 0 stays
		s.NotStrictRPFilter("net/ipv4/conf/strict2/rp_filter"), // 2 stays
		s.AtLeast(ConfKey("eth0", "arp_ignore"), 1),            // 0 -> 1
		s.AtLeast(ConfKey("eth0", "arp_announce"), 2),          // 2 stays
		s.AtLeast(ConfKey("eth1.10", "arp_ignore"), 1),         // 8 stays (stricter)
		s.Set(ConfKey("eth0", "accept_local"), "1"),
		s.Set(ConfKey("eth0", "accept_local"), "0"), // first value is what is restored
		s.Set(ConfKey("eth0", "accept_local"), "1"),
		s.AtLeast(ConfKey("gone", "arp_announce"), 2),
		s.Write("net/ipv6/conf/govs0/disable_ipv6", "1"), // not remembered
	}
	for i, err := range steps {
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	want := map[string]string{
		"net/ipv4/conf/all/rp_filter":     "1",
		"net/ipv4/conf/eth0/arp_ignore":   "0",
		"net/ipv4/conf/eth0/accept_local": "0",
		"net/ipv4/conf/gone/arp_announce": "0",
	}
	got := s.Changed()
	if len(got) != len(want) {
		t.Fatalf("Changed = %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("Changed[%s] = %q, want %q", k, got[k], v)
		}
	}
	for k, v := range map[string]string{"net/ipv4/conf/all/rp_filter": "2", "net/ipv4/conf/eth0/arp_ignore": "1", "net/ipv4/conf/eth1.10/arp_ignore": "8"} {
		if g, _ := s.Get(k); g != v {
			t.Errorf("%s = %q while changed, want %q", k, g, v)
		}
	}
	// An interface that went away meanwhile is skipped.
	if err := os.RemoveAll(filepath.Join(s.Root, "net/ipv4/conf/gone")); err != nil {
		t.Fatal(err)
	}
	if err := s.Restore(); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{
		"net/ipv4/conf/all/rp_filter": "1", "net/ipv4/conf/eth0/arp_ignore": "0", "net/ipv4/conf/eth0/accept_local": "0",
		"net/ipv4/conf/eth0/arp_announce": "2", "net/ipv6/conf/govs0/disable_ipv6": "1",
	} {
		if g, _ := s.Get(k); g != v {
			t.Errorf("%s = %q after Restore, want %q", k, g, v)
		}
	}
	if len(s.Changed()) != 0 {
		t.Errorf("Restore left %v remembered", s.Changed())
	}
}

func TestSysctlsErrors(t *testing.T) {
	s := fakeProc(t, map[string]string{"net/ipv4/conf/eth0/arp_ignore": "x"})
	if err := s.AtLeast(ConfKey("eth0", "arp_ignore"), 1); err == nil {
		t.Error("AtLeast on a non-number succeeded")
	}
	if err := s.Set(ConfKey("nope", "arp_ignore"), "1"); err == nil {
		t.Error("Set on a missing key succeeded")
	}
	// Keys cannot climb out of Root.
	if p := s.path("../../etc/passwd"); p != filepath.Join(s.Root, "etc/passwd") {
		t.Errorf("path(../../etc/passwd) = %s, want it under Root", p)
	}
}

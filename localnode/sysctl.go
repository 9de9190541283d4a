package localnode

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// DefaultSysctlRoot is where the kernel's sysctls are. The net.* ones are
// per network namespace: the namespace of the thread that opens the file.
const DefaultSysctlRoot = "/proc/sys"

// Sysctls changes kernel settings and remembers the first value it found
// for each, so that Restore puts the host back as it was. Keys are paths
// below Root in slash form ("net/ipv4/conf/eth0/arp_ignore"), because an
// interface name may contain a dot. It is safe for concurrent use.
type Sysctls struct {
	Root string // DefaultSysctlRoot when empty

	mu    sync.Mutex
	saved []savedSysctl // in the order first changed
}

type savedSysctl struct{ key, old string }

// ConfKey is the key of an IPv4 per-interface setting, "net/ipv4/conf/IF/NAME".
func ConfKey(ifName, name string) string { return "net/ipv4/conf/" + ifName + "/" + name }

func (s *Sysctls) path(key string) string {
	root := s.Root
	if root == "" {
		root = DefaultSysctlRoot
	}
	return filepath.Join(root, filepath.Clean("/"+key))
}

// Get reads a setting, without its trailing newline.
func (s *Sysctls) Get(key string) (string, error) {
	b, err := os.ReadFile(s.path(key))
	if err != nil {
		return "", fmt.Errorf("sysctl %s: %w", key, err)
	}
	return strings.TrimSpace(string(b)), nil
}

func (s *Sysctls) write(key, val string) error {
	if err := os.WriteFile(s.path(key), []byte(val+"\n"), 0); err != nil {
		return fmt.Errorf("sysctl %s=%s: %w", key, val, err)
	}
	return nil
}

// Write sets a setting without remembering it, for settings of devices
// that go away with their owner (the tap's).
func (s *Sysctls) Write(key, val string) error { return s.write(key, val) }

// Set sets key to val, remembering the value it had the first time.
func (s *Sysctls) Set(key, val string) error {
	old, err := s.Get(key)
	if err != nil {
		return err
	}
	if old == val {
		return nil
	}
	if err := s.write(key, val); err != nil {
		return err
	}
	s.remember(key, old)
	return nil
}

func (s *Sysctls) remember(key, old string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sv := range s.saved {
		if sv.key == key {
			return
		}
	}
	s.saved = append(s.saved, savedSysctl{key, old})
}

// AtLeast raises an integer setting to min when it is lower (arp_ignore,
// arp_announce: a higher value is stricter and is kept).
func (s *Sysctls) AtLeast(key string, min int) error {
	old, err := s.Get(key)
	if err != nil {
		return err
	}
	v, err := strconv.Atoi(old)
	if err != nil {
		return fmt.Errorf("sysctl %s: %q is not a number", key, old)
	}
	if v >= min {
		return nil
	}
	return s.Set(key, strconv.Itoa(min))
}

// NotStrictRPFilter turns strict reverse-path filtering (1) into loose (2)
// and leaves 0 and 2 alone: strict mode drops the packets govs writes into
// the tap, whose source is routed through another interface.
func (s *Sysctls) NotStrictRPFilter(key string) error {
	old, err := s.Get(key)
	if err != nil {
		return err
	}
	if old != "1" {
		return nil
	}
	return s.Set(key, "2")
}

// Changed returns the keys changed so far with the values they had.
func (s *Sysctls) Changed() map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := make(map[string]string, len(s.saved))
	for _, sv := range s.saved {
		m[sv.key] = sv.old
	}
	return m
}

// Restore writes back every remembered value, last changed first, and
// forgets them. A setting whose file is gone (its interface was deleted)
// is skipped.
func (s *Sysctls) Restore() error {
	s.mu.Lock()
	saved := s.saved
	s.saved = nil
	s.mu.Unlock()
	var errs []error
	for i := len(saved) - 1; i >= 0; i-- {
		err := s.write(saved[i].key, saved[i].old)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

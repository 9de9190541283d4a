//go:build !linux

package xdpshed

import "net/netip"

// MaxVIPs bounds the VIP map.
const MaxVIPs = 4096

// Shedder is not available on this system.
type Shedder struct{}

// Open returns ErrNotImplemented.
func Open(ifindexes []int) (*Shedder, error) { return nil, ErrNotImplemented }

// Gate returns nil.
func (s *Shedder) Gate(ifindex int) *Gate { return nil }

// Mode returns "".
func (s *Shedder) Mode(ifindex int) string { return "" }

// SetVIPs returns ErrNotImplemented.
func (s *Shedder) SetVIPs(addrs []netip.Addr) error { return ErrNotImplemented }

// Close does nothing.
func (s *Shedder) Close() error { return nil }

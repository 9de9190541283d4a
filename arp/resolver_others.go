//go:build !linux

package arp

import (
	"context"
	"fmt"
	"net/netip"
	"runtime"
)

// Resolver is implemented on Linux only.
type Resolver struct{}

// NewResolver returns an error on this platform.
func NewResolver(ctx context.Context, ifindexes []int) (*Resolver, error) {
	return nil, fmt.Errorf("arp: Resolver not implemented on %s", runtime.GOOS)
}

func (r *Resolver) Close() error                                                        { return nil }
func (r *Resolver) Lookup(ip [4]byte) (mac [6]byte, ifindex int, ok bool)               { return }
func (r *Resolver) NextHop(dst [4]byte) (gw [4]byte, ifindex int, src [4]byte, ok bool) { return }
func (r *Resolver) Warm(dst [4]byte) (gw [4]byte, ifindex int, src [4]byte, ok bool)    { return }
func (r *Resolver) trigger(ip [4]byte)                                                  {}
func (r *Resolver) changed() <-chan struct{}                                            { return nil }
func errNotIPv4(ip netip.Addr) error                                                    { return fmt.Errorf("arp: %v: not an IPv4 address", ip) }

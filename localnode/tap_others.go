//go:build !linux

package localnode

import (
	"context"

	"github.com/govs-lb/govs/internal/afpacket"
)

// Tap is govs's tap device; on this system it cannot be opened.
type Tap struct{}

// Open returns ErrNotImplemented.
func Open(cfg Config) (*Tap, error) { return nil, ErrNotImplemented }

func (t *Tap) Name() string  { return "" }
func (t *Tap) Index() int    { return 0 }
func (t *Tap) MAC() [6]byte  { return [6]byte{} }
func (t *Tap) Table() int    { return 0 }
func (t *Tap) Priority() int { return 0 }
func (t *Tap) State() State  { return State{} }

// Sync returns ErrNotImplemented.
func (t *Tap) Sync(s State) error { return ErrNotImplemented }

// SendBatch returns ErrNotImplemented.
func (t *Tap) SendBatch(frames [][]byte, hdrs []afpacket.VnetHdr) (int, error) {
	return 0, ErrNotImplemented
}

// ReadFrame returns ErrNotImplemented.
func (t *Tap) ReadFrame(buf []byte) (int, error) { return 0, ErrNotImplemented }

// Close returns ErrNotImplemented.
func (t *Tap) Close() error { return ErrNotImplemented }

// Watch returns ErrNotImplemented.
func (s *AddrSet) Watch(ctx context.Context) error { return ErrNotImplemented }

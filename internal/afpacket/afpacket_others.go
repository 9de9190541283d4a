//go:build !linux

package afpacket

import (
	"time"

	"golang.org/x/net/bpf"
)

// Socket is an AF_PACKET socket; on this system it cannot be opened.
type Socket struct{}

// Open returns ErrNotImplemented.
func Open(ifindex int, cfg Config) (*Socket, error) { return nil, ErrNotImplemented }

// OpenTX returns ErrNotImplemented.
func OpenTX(ifindex int, cfg Config) (*Socket, error) { return nil, ErrNotImplemented }

// Close returns ErrNotImplemented.
func (s *Socket) Close() error { return ErrNotImplemented }

// Ifindex returns 0.
func (s *Socket) Ifindex() int { return 0 }

// SetBPF returns ErrNotImplemented.
func (s *Socket) SetBPF(prog []bpf.RawInstruction) error { return ErrNotImplemented }

// SetFanout returns ErrNotImplemented.
func (s *Socket) SetFanout(group uint16, mode FanoutMode, defrag bool) error {
	return ErrNotImplemented
}

// Stats returns ErrNotImplemented.
func (s *Socket) Stats() (Stats, error) { return Stats{}, ErrNotImplemented }

// TxStats returns zero counters.
func (s *Socket) TxStats() TxStats { return TxStats{} }

// Release does nothing.
func (s *Socket) Release() {}

// Backlog returns 0.
func (s *Socket) Backlog(limit int) int { return 0 }

// Recv returns ErrNotImplemented.
func (s *Socket) Recv(b *Batch, timeout time.Duration) (int, error) { return 0, ErrNotImplemented }

// SendBatch returns ErrNotImplemented.
func (s *Socket) SendBatch(frames [][]byte, hdrs []VnetHdr) (int, error) {
	return 0, ErrNotImplemented
}

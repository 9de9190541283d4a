package xdpshed

import (
	"errors"
	"runtime"
	"sync/atomic"
)

// ErrNotImplemented is returned on systems without XDP.
var ErrNotImplemented = errors.New("xdpshed: not implemented on " + runtime.GOOS)

// ProgName is the name of the XDP program in the kernel (bpftool prog).
const ProgName = "govs_shed"

// state is the layout of the one-entry BPF array shared with the program
// (memory-mapped): the program reads Congested and Workers, and counts the
// frames it drops in Shed.
type state struct {
	Congested atomic.Uint32 // workers of the interface that are behind
	Workers   atomic.Uint32 // workers of the interface
	Shed      atomic.Uint64 // frames the program dropped
}

// Gate is one interface's shedding switch, shared by its workers.
type Gate struct {
	st *state
}

// NewGate returns a gate backed by plain memory and attached to no
// program: a Valve on it keeps the books but sheds nothing. For tests.
func NewGate() *Gate { return &Gate{st: new(state)} }

// Congested returns how many workers of the interface are behind.
func (g *Gate) Congested() int {
	if g == nil || g.st == nil {
		return 0
	}
	return int(g.st.Congested.Load())
}

// Shed returns the number of frames the program has dropped on this
// interface.
func (g *Gate) Shed() uint64 {
	if g == nil || g.st == nil {
		return 0
	}
	return g.st.Shed.Load()
}

// SetWorkers tells the program how many workers share the interface: with
// c of n congested, it drops a fraction c/n of the VIP traffic.
func (g *Gate) SetWorkers(n int) {
	if g != nil && g.st != nil {
		g.st.Workers.Store(uint32(n))
	}
}

// Valve is one worker's hysteresis over its ring backlog: Update raises the
// gate's congestion count once when the backlog reaches High blocks and
// lowers it once when it falls to Low or below. The zero Valve (no gate)
// does nothing. A Valve belongs to one worker goroutine.
type Valve struct {
	gate      *Gate
	high, low int
	on        bool
}

// Default hysteresis, in ring blocks waiting behind the one being read.
const (
	DefaultHigh = 3
	DefaultLow  = 1
)

// NewValve returns a valve on gate; high and low of 0 take the defaults.
func NewValve(gate *Gate, high, low int) Valve {
	if high <= 0 {
		high = DefaultHigh
	}
	if low < 0 || low >= high {
		low = min(DefaultLow, high-1)
	}
	return Valve{gate: gate, high: high, low: low}
}

// High is the backlog (in blocks) at which the valve sheds; callers need
// not count further than that.
func (v *Valve) High() int { return v.high }

// Update takes the number of ring blocks waiting and opens or closes the
// gate. It reports whether this worker is shedding.
func (v *Valve) Update(backlog int) bool {
	if v.gate == nil || v.gate.st == nil {
		return false
	}
	switch {
	case !v.on && backlog >= v.high:
		v.on = true
		v.gate.st.Congested.Add(1)
	case v.on && backlog <= v.low:
		v.on = false
		v.gate.st.Congested.Add(^uint32(0))
	}
	return v.on
}

// Close lowers the count if this valve holds it up (a worker that stops).
func (v *Valve) Close() { v.Update(-1 << 30) }

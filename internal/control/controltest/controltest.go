// Package controltest has an in-memory control.Backend for tests of the
// control API and of the command line: it keeps services in order, answers
// with ipvsadm's error messages, makes Restore all or nothing, and records
// every call.
package controltest

import (
	"fmt"
	"slices"
	"sync"

	"github.com/govs-lb/govs/internal/control"
)

// Backend is an in-memory control.Backend that records every call, so tests
// check both what the server passed on and what the client got back. Its
// zero value is empty and ready; set the exported fields before serving.
type Backend struct {
	mu       sync.Mutex
	svcs     []control.ServiceStatus
	conns    []control.ConnStatus
	timeouts control.Timeouts
	calls    []string
	info     control.Info
}

// New returns a Backend holding svcs (sorted by key), conns and timeouts.
func New(svcs []control.ServiceStatus, conns []control.ConnStatus, t control.Timeouts) *Backend {
	b := &Backend{conns: conns, timeouts: t}
	b.svcs = slices.Clone(svcs)
	slices.SortFunc(b.svcs, func(a, b control.ServiceStatus) int { return a.ServiceKey.Compare(b.ServiceKey) })
	b.info = control.Info{Version: "1.2.1", GovsVersion: "test", ConnTableSize: 4096}
	return b
}

var _ control.Backend = (*Backend)(nil)

func (f *Backend) record(format string, args ...any) {
	f.calls = append(f.calls, fmt.Sprintf(format, args...))
}

// call records a call and makes it under the lock.
func (f *Backend) call(op func() error, format string, args ...any) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record(format, args...)
	return op()
}

func (f *Backend) find(k control.ServiceKey) int {
	return slices.IndexFunc(f.svcs, func(s control.ServiceStatus) bool { return s.ServiceKey == k })
}

func (f *Backend) addService(s control.ServiceSpec) error {
	if f.find(s.ServiceKey) >= 0 {
		return control.Exists("Service already exists")
	}
	f.svcs = append(f.svcs, control.ServiceStatus{ServiceSpec: s})
	slices.SortFunc(f.svcs, func(a, b control.ServiceStatus) int { return a.ServiceKey.Compare(b.ServiceKey) })
	return nil
}

func (f *Backend) AddService(s control.ServiceSpec) error {
	return f.call(func() error { return f.addService(s) }, "AddService %s", specString(s))
}

func (f *Backend) editService(s control.ServiceSpec) error {
	i := f.find(s.ServiceKey)
	if i < 0 {
		return control.NotFound("No such service")
	}
	f.svcs[i].ServiceSpec = s
	return nil
}

func (f *Backend) EditService(s control.ServiceSpec) error {
	return f.call(func() error { return f.editService(s) }, "EditService %s", specString(s))
}

func (f *Backend) delService(k control.ServiceKey) error {
	i := f.find(k)
	if i < 0 {
		return control.NotFound("No such service")
	}
	f.svcs = slices.Delete(f.svcs, i, i+1)
	return nil
}

func (f *Backend) DelService(k control.ServiceKey) error {
	return f.call(func() error { return f.delService(k) }, "DelService %v", k)
}

// dest finds service k and, in it, destination dk: j is -1 when the
// service has no such destination.
func (f *Backend) dest(k control.ServiceKey, dk control.DestKey) (i, j int, err error) {
	i = f.find(k)
	if i < 0 {
		return i, -1, control.NotFound("Service not defined")
	}
	return i, slices.IndexFunc(f.svcs[i].Dests, func(x control.DestStatus) bool { return x.Key() == dk }), nil
}

func (f *Backend) addDest(k control.ServiceKey, d control.DestSpec) error {
	i, j, err := f.dest(k, d.Key())
	if err != nil {
		return err
	}
	if j >= 0 {
		return control.Exists("Destination already exists")
	}
	f.svcs[i].Dests = append(f.svcs[i].Dests, control.DestStatus{DestSpec: d})
	return nil
}

func (f *Backend) AddDest(k control.ServiceKey, d control.DestSpec) error {
	return f.call(func() error { return f.addDest(k, d) }, "AddDest %v %s", k, destString(d))
}

func (f *Backend) editDest(k control.ServiceKey, d control.DestSpec) error {
	i, j, err := f.dest(k, d.Key())
	if err == nil && j < 0 {
		err = control.NotFound("No such destination")
	}
	if err != nil {
		return err
	}
	f.svcs[i].Dests[j].DestSpec = d
	return nil
}

func (f *Backend) EditDest(k control.ServiceKey, d control.DestSpec) error {
	return f.call(func() error { return f.editDest(k, d) }, "EditDest %v %s", k, destString(d))
}

func (f *Backend) delDest(k control.ServiceKey, d control.DestKey) error {
	i, j, err := f.dest(k, d)
	if err == nil && j < 0 {
		err = control.NotFound("No such destination")
	}
	if err != nil {
		return err
	}
	f.svcs[i].Dests = slices.Delete(f.svcs[i].Dests, j, j+1)
	return nil
}

func (f *Backend) DelDest(k control.ServiceKey, d control.DestKey) error {
	return f.call(func() error { return f.delDest(k, d) }, "DelDest %v %v:%d", k, d.Addr, d.Port)
}

func (f *Backend) Clear() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("Clear")
	f.svcs = nil
	return nil
}

func (f *Backend) Services() []control.ServiceStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("Services")
	return f.snapshot()
}

func (f *Backend) Conns() []control.ConnStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("Conns")
	return slices.Clone(f.conns)
}

func (f *Backend) zero(k *control.ServiceKey) error {
	if k != nil && f.find(*k) < 0 {
		return control.NotFound("No such service")
	}
	for i := range f.svcs {
		if k == nil || f.svcs[i].ServiceKey == *k {
			f.svcs[i].Stats = control.Stats{}
			for j := range f.svcs[i].Dests {
				f.svcs[i].Dests[j].Stats = control.Stats{}
			}
		}
	}
	return nil
}

func (f *Backend) Zero(k *control.ServiceKey) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if k == nil {
		f.record("Zero all")
	} else {
		f.record("Zero %v", *k)
	}
	return f.zero(k)
}

func (f *Backend) SetTimeouts(t control.Timeouts) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("SetTimeouts %+v", t)
	f.setTimeouts(t)
	return nil
}

func (f *Backend) setTimeouts(t control.Timeouts) {
	if t.TCP != 0 {
		f.timeouts.TCP = t.TCP
	}
	if t.TCPFin != 0 {
		f.timeouts.TCPFin = t.TCPFin
	}
	if t.UDP != 0 {
		f.timeouts.UDP = t.UDP
	}
}

func (f *Backend) Timeouts() control.Timeouts {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("Timeouts")
	return f.timeouts
}

// Restore applies ops to a copy and keeps it only if every op succeeds.
func (f *Backend) Restore(ops []control.Op) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("Restore %d", len(ops))
	saved, savedT := f.snapshot(), f.timeouts
	for i, op := range ops {
		var err error
		switch op.Kind {
		case control.OpAddService:
			err = f.addService(op.Service)
		case control.OpEditService:
			err = f.editService(op.Service)
		case control.OpDelService:
			err = f.delService(op.Service.ServiceKey)
		case control.OpAddDest:
			err = f.addDest(op.Service.ServiceKey, op.Dest)
		case control.OpEditDest:
			err = f.editDest(op.Service.ServiceKey, op.Dest)
		case control.OpDelDest:
			err = f.delDest(op.Service.ServiceKey, op.Dest.Key())
		case control.OpClear:
			f.svcs = nil
		case control.OpZero:
			if op.Service.Addr.IsValid() {
				k := op.Service.ServiceKey
				err = f.zero(&k)
			} else {
				err = f.zero(nil)
			}
		case control.OpSetTimeouts:
			f.setTimeouts(op.Timeouts)
		default:
			err = control.BadRequest("unknown op %q", op.Kind)
		}
		if err != nil {
			f.svcs, f.timeouts = saved, savedT
			return control.OpFailed(i, err)
		}
	}
	return nil
}

// State is a deep copy of the services, without recording a call.
func (f *Backend) State() []control.ServiceStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.snapshot()
}

func (f *Backend) snapshot() []control.ServiceStatus {
	out := slices.Clone(f.svcs)
	for i := range out {
		out[i].Dests = slices.Clone(out[i].Dests)
	}
	return out
}

func (f *Backend) Info() control.Info {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("Info")
	if f.info.Version == "" {
		return control.Info{Version: "1.2.1", GovsVersion: "test", ConnTableSize: 4096}
	}
	return f.info
}

// Calls returns the calls recorded since the last Calls, one string each
// ("AddService tcp 198.51.100.1:80 {...}", "Zero all", ...).
func (f *Backend) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.calls
	f.calls = nil
	return c
}

// destString formats a destination for Calls, with the method's control
// API name: "{Addr:203.0.113.10 Port:80 Method:dr Weight:1 UThreshold:0 LThreshold:0}".
func destString(d control.DestSpec) string {
	return fmt.Sprintf("{Addr:%v Port:%d Method:%s Weight:%d UThreshold:%d LThreshold:%d}",
		d.Addr, d.Port, d.Method.Name(), d.Weight, d.UThreshold, d.LThreshold)
}

// specString formats a spec for Calls: the key, then every setting.
func specString(s control.ServiceSpec) string {
	return fmt.Sprintf("%v sched=%s persistent=%t timeout=%d mask=%s flags=%v ops=%t",
		s.ServiceKey, s.Scheduler, s.Persistent, s.Timeout, s.Netmask, s.SchedFlags, s.OnePacket)
}

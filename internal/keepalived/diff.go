package keepalived

import (
	"net/netip"
	"slices"

	"github.com/govs-lb/govs/internal/control"
)

// Service is a service with the destinations it should have: what a
// balancer holds, without counters.
type Service struct {
	Spec  control.ServiceSpec
	Dests []control.DestSpec
}

// Desired returns the services of c with every realserver up at its
// configured weight, and no sorry servers: the state a fresh start aims
// for before any check has run.
func (c *Config) Desired() []Service {
	out := make([]Service, 0, len(c.Services))
	for _, vs := range c.Services {
		s := Service{Spec: vs.Spec}
		for _, rs := range vs.RealServers {
			s.Dests = append(s.Dests, rs.Dest)
		}
		out = append(out, s)
	}
	return out
}

// Keys returns the keys of c's services.
func (c *Config) Keys() []control.ServiceKey {
	out := make([]control.ServiceKey, 0, len(c.Services))
	for _, vs := range c.Services {
		out = append(out, vs.Key())
	}
	return out
}

// DiffConfig returns the ops that take a balancer configured from old to
// new, all realservers up: Diff(old.Desired(), new.Desired()). A nil old is
// an empty configuration.
func DiffConfig(old, new *Config) []control.Op {
	var o, n []Service
	if old != nil {
		o = old.Desired()
	}
	if new != nil {
		n = new.Desired()
	}
	return Diff(o, n)
}

// Diff returns the fewest ops that turn the services cur into want, so that
// what did not change keeps its connections and counters:
//
//   - a service only in cur is deleted, one only in want is added with its
//     destinations;
//   - a service in both is edited only if its scheduler, persistence,
//     netmask, flags or one-packet setting differ (the key cannot differ);
//   - a destination in both is edited only if its method or weight
//     differ, so a new weight is one edit-server;
//   - within a service, new destinations are added before old ones are
//     deleted, so it never runs out of destinations in between.
//
// Ops come in a fixed order: deletions of services, then the services in
// both (in ServiceKey order), then additions; destinations in address and
// port order. Thresholds are compared too, though govs does not use them.
func Diff(cur, want []Service) []control.Op {
	curBy := map[control.ServiceKey]*Service{}
	for i := range cur {
		curBy[cur[i].Spec.ServiceKey] = &cur[i]
	}
	wantBy := map[control.ServiceKey]*Service{}
	for i := range want {
		wantBy[want[i].Spec.ServiceKey] = &want[i]
	}
	var ops []control.Op
	for _, k := range sortedKeys(curBy) {
		if wantBy[k] == nil {
			ops = append(ops, control.Op{Kind: control.OpDelService, Service: control.ServiceSpec{ServiceKey: k}})
		}
	}
	for _, k := range sortedKeys(wantBy) {
		c := curBy[k]
		if c == nil {
			continue
		}
		w := wantBy[k]
		if !sameService(c.Spec, w.Spec) {
			ops = append(ops, control.Op{Kind: control.OpEditService, Service: w.Spec.WithDefaults()})
		}
		ops = append(ops, diffDests(k, c.Dests, w.Dests)...)
	}
	for _, k := range sortedKeys(wantBy) {
		if curBy[k] != nil {
			continue
		}
		w := wantBy[k]
		ops = append(ops, control.Op{Kind: control.OpAddService, Service: w.Spec.WithDefaults()})
		ops = append(ops, diffDests(k, nil, w.Dests)...)
	}
	return ops
}

func diffDests(k control.ServiceKey, cur, want []control.DestSpec) []control.Op {
	svc := control.ServiceSpec{ServiceKey: k}
	curBy := map[control.DestKey]control.DestSpec{}
	for _, d := range cur {
		curBy[d.Key()] = d
	}
	wantBy := map[control.DestKey]control.DestSpec{}
	for _, d := range want {
		wantBy[d.Key()] = d
	}
	var adds, edits, dels []control.Op
	for _, dk := range sortedDestKeys(wantBy) {
		w := wantBy[dk]
		c, ok := curBy[dk]
		switch {
		case !ok:
			adds = append(adds, control.Op{Kind: control.OpAddDest, Service: svc, Dest: w})
		case c.Method != w.Method || c.Weight != w.Weight || c.UThreshold != w.UThreshold || c.LThreshold != w.LThreshold:
			edits = append(edits, control.Op{Kind: control.OpEditDest, Service: svc, Dest: w})
		}
	}
	for _, dk := range sortedDestKeys(curBy) {
		if _, ok := wantBy[dk]; !ok {
			dels = append(dels, control.Op{Kind: control.OpDelDest, Service: svc, Dest: control.DestSpec{Addr: dk.Addr, Port: dk.Port}})
		}
	}
	return append(append(adds, edits...), dels...)
}

func sameService(a, b control.ServiceSpec) bool {
	a, b = a.WithDefaults(), b.WithDefaults()
	fa, fb := slices.Clone(a.SchedFlags), slices.Clone(b.SchedFlags)
	slices.Sort(fa)
	slices.Sort(fb)
	return a.Scheduler == b.Scheduler && a.Persistent == b.Persistent && a.Timeout == b.Timeout &&
		sameMask(a.Netmask, b.Netmask) && a.OnePacket == b.OnePacket && slices.Equal(fa, fb)
}

func sameMask(a, b string) bool {
	ma, errA := netip.ParseAddr(a)
	mb, errB := netip.ParseAddr(b)
	if errA != nil || errB != nil {
		return a == b
	}
	return ma == mb
}

func sortedKeys[V any](m map[control.ServiceKey]V) []control.ServiceKey {
	out := make([]control.ServiceKey, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.SortFunc(out, control.ServiceKey.Compare)
	return out
}

func sortedDestKeys[V any](m map[control.DestKey]V) []control.DestKey {
	out := make([]control.DestKey, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.SortFunc(out, func(a, b control.DestKey) int {
		if c := a.Addr.Compare(b.Addr); c != 0 {
			return c
		}
		return int(a.Port) - int(b.Port)
	})
	return out
}

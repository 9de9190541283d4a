package director

import (
	"errors"
	"net"
	"net/netip"
	"time"

	"github.com/govs-lb/govs/balancer"
	"github.com/govs-lb/govs/internal/control"
	"github.com/govs-lb/govs/internal/dataplane"
)

// ipvsVersion is what ipvsadm -L prints as "IP Virtual Server version".
const ipvsVersion = "1.2.1"

// Version is govs's own version, set by cmd/govs.
var Version = "dev"

// backend serves the control API from the director's balancer. Every
// mutation holds d.mu and is followed by reconfigure, so filters and the
// ingress table never lag behind the services.
type backend struct {
	d *Director
}

var _ control.Backend = (*backend)(nil)

// keyOf names the balancer's service of a control API key.
func keyOf(k control.ServiceKey) balancer.ServiceKey {
	return balancer.ServiceKey{Proto: k.Protocol, Addr: k.Addr, Port: k.Port}
}

func serviceConfig(s control.ServiceSpec) (balancer.ServiceConfig, error) {
	c := balancer.ServiceConfig{
		ServiceKey: keyOf(s.ServiceKey),
		Scheduler:  s.Scheduler,
		Persistent: s.Persistent,
		Timeout:    time.Duration(s.Timeout) * time.Second,
		OnePacket:  s.OnePacket,
	}
	if s.Netmask != "" {
		m, err := netip.ParseAddr(s.Netmask)
		if err != nil {
			return c, control.BadRequest("invalid netmask %q", s.Netmask)
		}
		c.Netmask = m
	}
	f, err := balancer.ParseSchedFlags(s.Scheduler, s.SchedFlags)
	if err != nil {
		return c, control.BadRequest("%v", err)
	}
	c.SchedFlags = f
	return c, nil
}

// isLocal reports whether addr belongs to this host (LocalNode).
func isLocal(addr netip.Addr) bool {
	if addr.IsLoopback() {
		return true
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok && ip.Unmap() == addr {
				return true
			}
		}
	}
	return false
}

// destConfig decides a realserver's method as IPVS does for a local
// address: -g/-i become LocalNode ("Local", the packet unmodified into the
// tap); -m stays masq, delivered through the tap (see local.go).
func (b *backend) destConfig(s control.DestSpec) (balancer.DestConfig, error) {
	return localDestConfig(s, b.d.isLocalAddr(s.Addr))
}

// svcErr turns a balancer error into ipvsadm's message for the operation.
func svcErr(err error, notFound, exists string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, balancer.ErrNotExist):
		return control.NotFound("%s", notFound)
	case errors.Is(err, balancer.ErrExist):
		return control.Exists("%s", exists)
	case errors.Is(err, balancer.ErrInvalid):
		return control.BadRequest("%v", err)
	}
	return err
}

// destErr distinguishes a missing service from a missing realserver.
func (b *backend) destErr(err error, k balancer.ServiceKey, exists string) error {
	if errors.Is(err, balancer.ErrNotExist) && !b.hasService(k) {
		return control.NotFound("Service not defined")
	}
	return svcErr(err, "No such destination", exists)
}

func (b *backend) hasService(k balancer.ServiceKey) bool {
	for _, s := range b.d.bal.Services() {
		if s.ServiceKey == k {
			return true
		}
	}
	return false
}

// mutate runs f under the configuration lock and applies the result to the
// dataplane's filters and tables.
func (b *backend) mutate(f func(*balancer.Balancer) error) error {
	b.d.mu.Lock()
	defer b.d.mu.Unlock()
	if err := f(b.d.bal); err != nil {
		return err
	}
	return b.d.reconfigure()
}

func (b *backend) AddService(s control.ServiceSpec) error {
	c, err := serviceConfig(s)
	if err != nil {
		return err
	}
	return b.mutate(func(bal *balancer.Balancer) error {
		return svcErr(bal.AddService(c), "No such service", "Service already exists")
	})
}

func (b *backend) EditService(s control.ServiceSpec) error {
	c, err := serviceConfig(s)
	if err != nil {
		return err
	}
	return b.mutate(func(bal *balancer.Balancer) error {
		return svcErr(bal.EditService(c), "No such service", "Service already exists")
	})
}

func (b *backend) DelService(k control.ServiceKey) error {
	return b.mutate(func(bal *balancer.Balancer) error {
		return svcErr(bal.DelService(keyOf(k)), "No such service", "Service already exists")
	})
}

func (b *backend) AddDest(k control.ServiceKey, s control.DestSpec) error {
	c, err := b.destConfig(s)
	if err != nil {
		return err
	}
	key := keyOf(k)
	return b.mutate(func(bal *balancer.Balancer) error {
		return b.destErr(bal.AddDest(key, c), key, "Destination already exists")
	})
}

func (b *backend) EditDest(k control.ServiceKey, s control.DestSpec) error {
	c, err := b.destConfig(s)
	if err != nil {
		return err
	}
	key := keyOf(k)
	return b.mutate(func(bal *balancer.Balancer) error {
		return b.destErr(bal.EditDest(key, c), key, "Destination already exists")
	})
}

func (b *backend) DelDest(k control.ServiceKey, dk control.DestKey) error {
	key := keyOf(k)
	return b.mutate(func(bal *balancer.Balancer) error {
		return b.destErr(bal.DelDest(key, dk.Addr, dk.Port), key, "Destination already exists")
	})
}

func (b *backend) Clear() error {
	return b.mutate(func(bal *balancer.Balancer) error {
		bal.Clear()
		return nil
	})
}

func statsOf(s balancer.Stats, r balancer.Rates) control.Stats {
	return control.Stats{Conns: s.Conns, InPkts: s.InPkts, OutPkts: s.OutPkts, InBytes: s.InBytes, OutBytes: s.OutBytes,
		CPS: r.CPS, InPPS: r.InPPS, OutPPS: r.OutPPS, InBPS: r.InBPS, OutBPS: r.OutBPS}
}

func (b *backend) Services() []control.ServiceStatus {
	return servicesOf(b.d.bal)
}

func servicesOf(bal *balancer.Balancer) []control.ServiceStatus {
	var out []control.ServiceStatus
	for _, s := range bal.Services() {
		spec := control.ServiceSpec{
			ServiceKey: control.ServiceKey{Protocol: s.Proto, Addr: s.Addr, Port: s.Port},
			Scheduler:  s.Scheduler,
			SchedFlags: balancer.FormatSchedFlags(s.Scheduler, s.SchedFlags),
			Persistent: s.Persistent,
			Netmask:    control.DefaultNetmask,
			OnePacket:  s.OnePacket,
		}
		if s.Persistent {
			spec.Timeout = uint32(s.Timeout / time.Second)
		}
		if s.Netmask.IsValid() {
			spec.Netmask = s.Netmask.String()
		}
		st := control.ServiceStatus{ServiceSpec: spec, Stats: statsOf(s.Stats, s.Rates)}
		for _, d := range s.Dests {
			st.Dests = append(st.Dests, control.DestStatus{
				DestSpec:     control.DestSpec{Addr: d.Addr, Port: d.Port, Method: d.Method, Weight: d.Weight},
				ActiveConns:  uint32(d.ActiveConns),
				InactConns:   uint32(d.InactConns),
				PersistConns: uint32(d.PersistConns),
				Stats:        statsOf(d.Stats, d.Rates),
			})
		}
		out = append(out, st)
	}
	return out
}

func (b *backend) Conns() []control.ConnStatus {
	now := dataplane.Monotonic()
	var out []control.ConnStatus
	b.d.bal.Conns(func(c balancer.ConnInfo) bool {
		left := (c.Expires - now) / int64(time.Second)
		if left < 0 {
			left = 0
		}
		out = append(out, control.ConnStatus{
			Protocol: c.Proto,
			State:    c.State,
			Expires:  uint32(left),
			Client:   c.Client,
			Virtual:  c.Virtual,
			Dest:     c.Dest,
		})
		return true
	})
	return out
}

func (b *backend) Zero(k *control.ServiceKey) error {
	var key *balancer.ServiceKey
	if k != nil {
		kk := keyOf(*k)
		key = &kk
	}
	return svcErr(b.d.bal.Zero(key), "No such service", "")
}

func (b *backend) SetTimeouts(t control.Timeouts) error {
	return svcErr(b.d.bal.SetTimeouts(time.Duration(t.TCP)*time.Second,
		time.Duration(t.TCPFin)*time.Second, time.Duration(t.UDP)*time.Second), "", "")
}

func (b *backend) Timeouts() control.Timeouts {
	tcp, fin, udp := b.d.bal.Timeouts()
	return control.Timeouts{TCP: uint32(tcp / time.Second), TCPFin: uint32(fin / time.Second), UDP: uint32(udp / time.Second)}
}

func (b *backend) Info() control.Info {
	return control.Info{Version: ipvsVersion, GovsVersion: Version, ConnTableSize: 4096}
}

// Restore applies ops all or nothing: it first replays the current
// configuration and then the ops on a scratch balancer, and touches the real
// one only when every op succeeded there.
func (b *backend) Restore(ops []control.Op) error {
	b.d.mu.Lock()
	defer b.d.mu.Unlock()
	scratch := balancer.New(balancer.Config{MaxConns: 1})
	for _, s := range b.d.bal.Services() {
		if err := scratch.AddService(s.ServiceConfig); err != nil {
			return err
		}
		for _, d := range s.Dests {
			if err := scratch.AddDest(s.ServiceKey, d.DestConfig); err != nil {
				return err
			}
		}
	}
	sb := &backend{d: &Director{bal: scratch}}
	for i, op := range ops {
		if err := sb.apply(op); err != nil {
			return control.OpFailed(i, err)
		}
	}
	for i, op := range ops {
		if err := b.apply(op); err != nil {
			// Cannot happen after the dry run; report it all the same.
			return control.OpFailed(i, err)
		}
	}
	return b.d.reconfigure()
}

// apply performs one restore op on b.d.bal without locking or reconfiguring.
func (b *backend) apply(op control.Op) error {
	bal := b.d.bal
	key := keyOf(op.Service.ServiceKey)
	switch op.Kind {
	case control.OpAddService, control.OpEditService:
		c, err := serviceConfig(op.Service)
		if err != nil {
			return err
		}
		if op.Kind == control.OpAddService {
			return svcErr(bal.AddService(c), "No such service", "Service already exists")
		}
		return svcErr(bal.EditService(c), "No such service", "Service already exists")
	case control.OpDelService:
		return svcErr(bal.DelService(key), "No such service", "")
	case control.OpAddDest, control.OpEditDest:
		c, err := b.destConfig(op.Dest)
		if err != nil {
			return err
		}
		if op.Kind == control.OpAddDest {
			return b.destErr(bal.AddDest(key, c), key, "Destination already exists")
		}
		return b.destErr(bal.EditDest(key, c), key, "Destination already exists")
	case control.OpDelDest:
		return b.destErr(bal.DelDest(key, op.Dest.Addr, op.Dest.Port), key, "")
	case control.OpClear:
		bal.Clear()
		return nil
	case control.OpZero:
		var k *balancer.ServiceKey
		if op.Service.Addr.IsValid() {
			k = &key
		}
		return svcErr(bal.Zero(k), "No such service", "")
	case control.OpSetTimeouts:
		t := op.Timeouts
		return svcErr(bal.SetTimeouts(time.Duration(t.TCP)*time.Second,
			time.Duration(t.TCPFin)*time.Second, time.Duration(t.UDP)*time.Second), "", "")
	}
	return control.BadRequest("unknown restore op %q", op.Kind)
}

package director

// Configuration from keepalived.conf, and health checking.
//
// What the daemon must call, and when (all in this package):
//
//	cfg, err := keepalived.Load(path)   // print every cfg.Warnings[i].String() on stderr
//
//	govs run --check --config FILE:
//	    err = checkConfig(cfg)          // no root, no interfaces: a dry run on a
//	                                    // scratch balancer; exit non-zero on error
//
//	govs run --config FILE, in Serve, once d.bal exists and before the
//	control server starts:
//	    rc := newReconciler(d, log)
//	    if err := rc.apply(cfg); err != nil { return err }  // adds everything
//	    rc.start(ctx)                   // health checks begin
//	    cleanups = append(cleanups, rc.stop)   // must run before the balancer goes
//
//	SIGHUP, or `govs reload`:
//	    cfg, err := keepalived.Load(path)
//	    if err != nil -> report it (stderr / the reload reply); nothing changes
//	    err = rc.apply(cfg)             // all or nothing: on error nothing changed
//
// apply computes, against what the balancer holds now, the fewest control
// ops (keepalived.Diff) that bring the services of the old and the new file
// to the new file with the realservers' current health, and applies them
// with backend.Restore, which dry-runs them on a scratch balancer first.
// Services the file never named (added with govs -A) are left alone.
// Unchanged services and realservers keep their connections and counters; a
// new weight is one edit-server.
//
// Health transitions (from the health.Engine the reconciler owns) re-run
// the same computation: a realserver that goes down is deleted (connections
// already on it finish from the trash, as in IPVS) or, with
// inhibit_on_failure, set to weight 0; one that comes back is added again
// with its configured weight (or the one misc_dynamic gave it). When no
// realserver of a service is up with a positive weight (keepalived's quorum
// of 1), its sorry_server is added, and shows in govs -L -n; it is deleted
// as soon as one is up again. Manual changes (govs -e) to a service the file
// configures are undone at its next reconciliation.

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"

	"github.com/govs-lb/govs/balancer"
	"github.com/govs-lb/govs/health"
	"github.com/govs-lb/govs/internal/control"
	"github.com/govs-lb/govs/internal/keepalived"
	"github.com/govs-lb/govs/internal/metrics"
)

// reconciler keeps the balancer in line with a keepalived configuration and
// the health of its realservers.
type reconciler struct {
	log      *slog.Logger
	services func() []control.ServiceStatus // what the balancer holds
	restore  func([]control.Op) error       // all or nothing
	eng      *health.Engine

	mu  sync.Mutex
	cfg *keepalived.Config // last applied; nil before the first apply
}

// newReconciler returns a reconciler for d's balancer. Call apply, then
// start.
func newReconciler(d *Director, log *slog.Logger) *reconciler {
	b := &backend{d: d}
	return newReconcilerWith(log, b.Services, b.Restore, health.Config{})
}

// newReconcilerWith is newReconciler with its dependencies given: tests use
// it. hc's OnTransition and Log are set here.
func newReconcilerWith(log *slog.Logger, services func() []control.ServiceStatus, restore func([]control.Op) error, hc health.Config) *reconciler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &reconciler{log: log, services: services, restore: restore}
	hc.Log = log
	hc.OnTransition = r.transition
	r.eng = health.New(hc)
	return r
}

// start runs the health checks until ctx is done or stop is called.
func (r *reconciler) start(ctx context.Context) { r.eng.Start(ctx) }

// stop stops the health checks and waits for them.
func (r *reconciler) stop() { r.eng.Stop() }

// health returns the health engine, for metrics and counters.
func (r *reconciler) health() *health.Engine { return r.eng }

// healthStates reports, for every checked realserver of the applied
// configuration, whether its checks pass.
func (r *reconciler) healthStates() map[metrics.HealthKey]bool {
	r.mu.Lock()
	cfg := r.cfg
	r.mu.Unlock()
	if cfg == nil {
		return nil
	}
	m := map[metrics.HealthKey]bool{}
	for _, vs := range cfg.Services {
		for _, rs := range vs.RealServers {
			if len(rs.Checks) == 0 {
				continue
			}
			if st, ok := r.eng.State(targetID(vs.Key(), rs.Dest)); ok {
				m[metrics.HealthKey{Service: vs.Key(), Dest: rs.Dest.Key()}] = st.Up
			}
		}
	}
	return m
}

// targetID names a realserver of a service for the health engine.
func targetID(k control.ServiceKey, d control.DestSpec) string {
	return fmt.Sprintf("%s -> %s", k, netip.AddrPortFrom(d.Addr, d.Port))
}

// apply makes cfg the configuration, all or nothing.
func (r *reconciler) apply(cfg *keepalived.Config) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	targets := targetsOf(cfg)
	for i := range targets {
		if err := targets[i].Validate(); err != nil {
			return err
		}
	}
	// Realservers the engine already checks keep their state; new ones
	// start up (down with alpha), as the engine will start them.
	ops := r.opsLocked(cfg)
	if len(ops) > 0 {
		if err := r.restore(ops); err != nil {
			return fmt.Errorf("apply configuration: %w", err)
		}
	}
	r.logOps(ops)
	r.cfg = cfg
	if err := r.eng.Update(targets); err != nil {
		return err // cannot happen: validated above
	}
	// The engine may differ from the prospect (a check changed and lost its
	// dynamic weight): settle now rather than at the next transition.
	r.reconcileLocked()
	return nil
}

// transition is the health engine's callback.
func (r *reconciler) transition(id string, up bool, weight int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reconcileLocked()
}

// reconcileLocked brings the configured services in line with the current
// health. Errors are logged: the next transition or reload tries again.
func (r *reconciler) reconcileLocked() {
	if r.cfg == nil {
		return
	}
	ops := r.opsLocked(r.cfg)
	if len(ops) == 0 {
		return
	}
	if err := r.restore(ops); err != nil {
		r.log.Error("health: cannot update realservers", "err", err)
		return
	}
	r.logOps(ops)
}

func (r *reconciler) logOps(ops []control.Op) {
	for _, op := range ops {
		if op.Kind == control.OpAddService || op.Kind == control.OpEditService || op.Kind == control.OpDelService {
			r.log.Info("configuration", "op", op.Kind, "service", op.Service.ServiceKey.String())
			continue
		}
		r.log.Info("configuration", "op", op.Kind, "service", op.Service.ServiceKey.String(),
			"dest", netip.AddrPortFrom(op.Dest.Addr, op.Dest.Port).String(), "weight", op.Dest.Weight)
	}
}

// stateFunc says whether a checked realserver is up and with which weight
// (dynamic reports a misc_dynamic weight that replaces the configured one).
type stateFunc func(id string, startDown bool) (up bool, weight int, dynamic bool)

func (r *reconciler) current(id string, startDown bool) (bool, int, bool) {
	st, ok := r.eng.State(id)
	if !ok {
		return !startDown, 0, false
	}
	return st.Up, st.Weight, st.Dynamic
}

// opsLocked diffs what the balancer holds for the services of cfg and of
// the configuration applied so far against what cfg with the current
// health wants.
func (r *reconciler) opsLocked(cfg *keepalived.Config) []control.Op {
	managed := map[control.ServiceKey]bool{}
	for _, k := range cfg.Keys() {
		managed[k] = true
	}
	if r.cfg != nil {
		for _, k := range r.cfg.Keys() {
			managed[k] = true
		}
	}
	want := desired(cfg, r.current)
	wantMethod := map[control.ServiceKey]map[control.DestKey]balancer.Method{}
	for _, s := range want {
		m := map[control.DestKey]balancer.Method{}
		for _, d := range s.Dests {
			m[d.Key()] = d.Method
		}
		wantMethod[s.Spec.ServiceKey] = m
	}
	var cur []keepalived.Service
	for _, s := range r.services() {
		if !managed[s.ServiceKey] {
			continue
		}
		ks := keepalived.Service{Spec: s.ServiceSpec}
		for _, d := range s.Dests {
			ds := d.DestSpec
			// The backend turns DR and TUN to a local address into
			// LocalNode: that is the configured method, not a change.
			if m := wantMethod[s.ServiceKey][ds.Key()]; ds.Method == balancer.MethodLocal && (m == balancer.MethodDR || m == balancer.MethodTun) {
				ds.Method = m
			}
			ks.Dests = append(ks.Dests, ds)
		}
		cur = append(cur, ks)
	}
	return keepalived.Diff(cur, want)
}

// desired is cfg's services with health applied: down realservers removed
// or at weight 0 (inhibit_on_failure), and the sorry server added where no
// realserver is up with a positive weight.
func desired(cfg *keepalived.Config, state stateFunc) []keepalived.Service {
	out := make([]keepalived.Service, 0, len(cfg.Services))
	for _, vs := range cfg.Services {
		s := keepalived.Service{Spec: vs.Spec}
		alive := 0
		for _, rs := range vs.RealServers {
			d := rs.Dest
			up := true
			if len(rs.Checks) > 0 {
				var w int
				var dyn bool
				up, w, dyn = state(targetID(vs.Key(), rs.Dest), rs.Alpha || vs.Alpha)
				if dyn {
					d.Weight = w
				}
			}
			switch {
			case up:
				alive += d.Weight
			case rs.InhibitOnFailure:
				d.Weight = 0
			default:
				continue
			}
			s.Dests = append(s.Dests, d)
		}
		if alive == 0 && vs.SorryServer != nil {
			s.Dests = append(s.Dests, *vs.SorryServer)
		}
		out = append(out, s)
	}
	return out
}

// targetsOf returns a health target for every realserver with checks.
func targetsOf(cfg *keepalived.Config) []health.Target {
	var out []health.Target
	for _, vs := range cfg.Services {
		for _, rs := range vs.RealServers {
			if len(rs.Checks) == 0 {
				continue
			}
			out = append(out, health.Target{
				ID:        targetID(vs.Key(), rs.Dest),
				Weight:    rs.Dest.Weight,
				StartDown: rs.Alpha || vs.Alpha,
				Checks:    rs.Checks,
			})
		}
	}
	return out
}

// checkConfig validates cfg as the daemon would apply it, on a scratch
// balancer: no root, no interfaces (govs run --check). Errors name the
// file and line of the block at fault.
func checkConfig(cfg *keepalived.Config) error {
	for _, t := range targetsOf(cfg) {
		if err := t.Validate(); err != nil {
			return err
		}
	}
	sb := &backend{d: &Director{bal: balancer.New(balancer.Config{MaxConns: 1})}}
	for _, vs := range cfg.Services {
		k := vs.Key()
		if err := sb.apply(control.Op{Kind: control.OpAddService, Service: vs.Spec}); err != nil {
			return fmt.Errorf("%s: virtual_server %s: %w", vs.Pos, k, err)
		}
		for _, rs := range vs.RealServers {
			if err := sb.apply(control.Op{Kind: control.OpAddDest, Service: vs.Spec, Dest: rs.Dest}); err != nil {
				return fmt.Errorf("%s: real_server %s: %w", rs.Pos, netip.AddrPortFrom(rs.Dest.Addr, rs.Dest.Port), err)
			}
		}
		if s := vs.SorryServer; s != nil {
			// Only ever in use alone, but it must be acceptable as a dest.
			probe := &backend{d: &Director{bal: balancer.New(balancer.Config{MaxConns: 1})}}
			if err := probe.apply(control.Op{Kind: control.OpAddService, Service: vs.Spec}); err == nil {
				if err := probe.apply(control.Op{Kind: control.OpAddDest, Service: vs.Spec, Dest: *s}); err != nil {
					return fmt.Errorf("%s: sorry_server %s: %w", vs.Pos, netip.AddrPortFrom(s.Addr, s.Port), err)
				}
			}
		}
	}
	return nil
}

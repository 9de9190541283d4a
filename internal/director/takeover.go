package director

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/govs-lb/govs/balancer"
	"github.com/govs-lb/govs/internal/control"
	"github.com/govs-lb/govs/internal/dataplane"
	"github.com/govs-lb/govs/internal/nftin"
	"github.com/govs-lb/govs/localnode"
)

// Graceful restart: `govs run --takeover` with the interfaces and socket of
// a running govs.
//
//  1. It asks the old daemon for its state over the control socket: the
//     services, timeouts, role, connection table, the fanout ids of its
//     capture sockets and the kernel settings it changed.
//  2. It builds its balancer from that, with the connections, and adopts
//     the nftables ingress table (one transaction: the drop rules never
//     lapse).
//  3. It opens its capture sockets in fanout groups of its own and starts
//     its workers. For a moment both daemons forward (a packet may be sent
//     twice; TCP and the realservers take that).
//  4. It binds the control socket path over the old one (the old daemon
//     stays reachable at PATH.old) and tells the old daemon to let go: the
//     old one stops its workers, answers with its connection table as it
//     is then (connections it saw begin since step 1 are imported now),
//     and exits 0 without removing the ingress table, the socket path or
//     the kernel settings it handed over.
//  5. It waits for the old process to be gone, removes PATH.old, and logs
//     how long the takeover took.
//
// LocalNode realservers cannot be handed over (the tap, its addresses and
// routes are the old process's): --takeover refuses while the old daemon
// has any, and says so.

// takeover is what the new daemon carries from step 1 to step 5.
type takeover struct {
	start   time.Time
	old     control.TakeoverState
	sysctls map[string]string // the old daemon's saved kernel settings, restored at exit
}

// takeoverError explains a failed takeover in the terms of the command line.
func takeoverError(socket string, err error) error {
	var ce *control.ConnectError
	if errors.As(err, &ce) {
		return fmt.Errorf("--takeover: no govs answers on %s to take over from (%v)", socket, ce)
	}
	if control.StatusOf(err) == 404 {
		return fmt.Errorf("--takeover: the govs on %s cannot hand over (an older version?): %w", socket, err)
	}
	return fmt.Errorf("--takeover: %w", err)
}

// beginTakeover is steps 1 and 2: it fetches the old daemon's state, builds
// d.bal from it and adopts the ingress table.
func (d *Director) beginTakeover(ctx context.Context) (*takeover, error) {
	tk := &takeover{start: time.Now()}
	c := control.NewClient(d.cfg.Socket)
	defer c.Close()
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	st, err := c.TakeoverState(sctx)
	if err != nil {
		return nil, takeoverError(d.cfg.Socket, err)
	}
	tk.old = st
	if st.LocalRealservers > 0 {
		return nil, fmt.Errorf("--takeover: the running govs (pid %d) has %d LocalNode realserver(s), served through its own tap, "+
			"which cannot be handed over; remove them (or stop that govs) and try again", st.PID, st.LocalRealservers)
	}
	if !sameSet(st.Ifaces, d.cfg.Ifaces) {
		return nil, fmt.Errorf("--takeover: the running govs (pid %d) captures on %v, this one was given %v: the interfaces must be the same",
			st.PID, st.Ifaces, d.cfg.Ifaces)
	}
	if st.Role == RoleMaster || st.Role == RoleBackup {
		d.role = st.Role
	}
	tk.sysctls = st.Sysctls

	d.bal = balancer.New(balancer.Config{MaxConns: d.cfg.MaxConns, KeepQuiescentTemplates: true})
	b := &backend{d: d}
	for _, s := range st.Services {
		if err := b.apply(control.Op{Kind: control.OpAddService, Service: s.ServiceSpec}); err != nil {
			return nil, fmt.Errorf("--takeover: service %v: %w", s.ServiceKey, err)
		}
		for _, ds := range s.Dests {
			op := control.Op{Kind: control.OpAddDest, Service: s.ServiceSpec, Dest: ds.DestSpec}
			if err := b.apply(op); err != nil {
				return nil, fmt.Errorf("--takeover: realserver %v of %v: %w", ds.Addr, s.ServiceKey, err)
			}
		}
	}
	if err := b.apply(control.Op{Kind: control.OpSetTimeouts, Timeouts: st.Timeouts}); err != nil {
		return nil, fmt.Errorf("--takeover: timeouts: %w", err)
	}
	n, err := d.importConns(st.Conns)
	if err != nil {
		return nil, err
	}

	// Fanout ids are per network namespace: stay clear of the old ones.
	for slices.ContainsFunc(st.FanoutGroups, func(g uint16) bool { return g-d.fanoutBase < uint16(len(d.ports)) }) {
		d.fanoutBase += 1 << 4
	}

	d.nft, err = nftin.Adopt(d.cfg.Ifaces, d.nftRules())
	if err != nil {
		return nil, fmt.Errorf("--takeover: adopt the ingress table: %w", err)
	}
	d.handBack.Store(true) // the old daemon's still, until it lets go
	d.log.Info("takeover: state received", "from_pid", st.PID, "services", len(st.Services), "conns", n.Imported,
		"orphans", n.Orphans, "role", d.role)
	return tk, nil
}

// importConns adds an encoded connection table to d.bal.
func (d *Director) importConns(enc []byte) (balancer.ImportStats, error) {
	recs, err := balancer.DecodeConns(enc)
	if err != nil {
		return balancer.ImportStats{}, fmt.Errorf("--takeover: %w", err)
	}
	n, err := d.bal.ImportConns(recs, dataplane.Monotonic())
	if err != nil {
		return n, fmt.Errorf("--takeover: %w", err)
	}
	return n, nil
}

// finishTakeover is steps 4 and 5, once this daemon forwards: it binds
// the control socket path, releases the old daemon, imports its final
// connection table and waits for it to exit. It returns the control
// listener and what to undo at exit. After a failed release the old
// daemon goes on as it was: its socket path is put back, and this one
// leaves the ingress table to it.
func (d *Director) finishTakeover(ctx context.Context, tk *takeover) (net.Listener, func(), error) {
	path := d.cfg.Socket
	ln, err := control.ListenTakeover(path)
	if err != nil {
		d.handBack.Store(true)
		return nil, nil, fmt.Errorf("--takeover: %w", err)
	}
	sock, err := control.Own(ln, path)
	if err != nil {
		ln.Close()
		d.handBack.Store(true)
		return nil, nil, fmt.Errorf("--takeover: %w", err)
	}
	oldPath := control.TakeoverOldPath(path)
	c := control.NewClient(oldPath)
	defer c.Close()
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	rel, err := c.Release(rctx, os.Getpid())
	if err != nil {
		ln.Close()
		if rerr := os.Rename(oldPath, path); rerr != nil {
			d.log.Error("takeover: put the old daemon's socket back", "err", rerr)
		}
		d.handBack.Store(true)
		return nil, nil, takeoverError(oldPath, err)
	}
	d.handBack.Store(false) // the ingress table is this daemon's now
	n, err := d.importConns(rel.Conns)
	if err != nil {
		// The old daemon is stopping: go on with what was imported.
		d.log.Error("takeover: final connection table", "err", err)
	}
	released := time.Since(tk.start)
	gone := waitExit(ctx, tk.old.PID, 15*time.Second)
	os.Remove(oldPath)
	if !gone {
		d.log.Warn("takeover: the old govs has not exited", "pid", tk.old.PID)
	}
	d.log.Info("takeover complete", "from_pid", tk.old.PID, "final_conns", n.Imported, "already_known", n.Existing,
		"forwarding_handover", released, "duration", time.Since(tk.start))

	undo := func() {
		ln.Close()
		sock.Remove()
		// The settings the old daemon changed are this one's to restore.
		s := &localnode.Sysctls{}
		for _, k := range slices.Sorted(maps.Keys(tk.sysctls)) {
			if err := s.Write(k, tk.sysctls[k]); err != nil && !errors.Is(err, os.ErrNotExist) {
				d.log.Warn("restore sysctl of the old govs", "key", k, "err", err)
			}
		}
	}
	return ln, undo, nil
}

// waitExit waits until process pid is gone, at most timeout.
func waitExit(ctx context.Context, pid int, timeout time.Duration) bool {
	if pid <= 0 || pid == os.Getpid() {
		return true
	}
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	deadline := time.After(timeout)
	proc := "/proc/" + strconv.Itoa(pid)
	for {
		if _, err := os.Stat(proc); errors.Is(err, os.ErrNotExist) {
			return true
		}
		select {
		case <-t.C:
		case <-deadline:
			return false
		case <-ctx.Done():
			return false
		}
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// The old daemon's side.

var _ control.TakeoverBackend = (*backend)(nil)

// TakeoverState describes this daemon for its successor.
func (b *backend) TakeoverState() (control.TakeoverState, error) {
	d := b.d
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.released.Load() {
		return control.TakeoverState{}, control.BadRequest("this govs has been taken over already")
	}
	st := control.TakeoverState{
		PID:      os.Getpid(),
		Ifaces:   d.cfg.Ifaces,
		Role:     d.role,
		Services: servicesOf(d.bal),
		Timeouts: b.Timeouts(),
		Sysctls:  map[string]string{},
	}
	for i := range d.ports {
		st.FanoutGroups = append(st.FanoutGroups, d.fanoutGroup(i))
	}
	for _, s := range d.bal.Services() {
		for _, ds := range s.Dests {
			if ds.Method == balancer.MethodLocal || (ds.Method == balancer.MethodMasq && d.isLocalAddr(ds.Addr)) {
				st.LocalRealservers++
			}
		}
	}
	if d.local.sysctl != nil {
		maps.Copy(st.Sysctls, d.local.sysctl.Changed())
	}
	if d.takenFrom != nil { // the originals this daemon got from its own predecessor
		maps.Copy(st.Sysctls, d.takenFrom.sysctls)
	}
	st.Conns = balancer.EncodeConns(d.bal.ExportConns(dataplane.Monotonic()))
	return st, nil
}

// Release stops forwarding, hands over the connection table as it is now
// and makes Serve return without removing the ingress table, the socket
// path or the kernel settings.
func (b *backend) Release(successor int) (control.TakeoverRelease, error) {
	d := b.d
	d.mu.Lock()
	if d.released.Load() || d.stopWorkers == nil {
		d.mu.Unlock()
		return control.TakeoverRelease{}, control.BadRequest("this govs has been taken over already")
	}
	d.released.Store(true)
	d.mu.Unlock()
	d.stopWorkers()
	rel := control.TakeoverRelease{Conns: balancer.EncodeConns(d.bal.ExportConns(dataplane.Monotonic()))}
	d.log.Info("taken over: forwarding stopped, exiting", "successor", successor, "conns", d.bal.NumConns())
	d.stopRun()
	return rel, nil
}

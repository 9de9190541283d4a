package director

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/govs-lb/govs/balancer"
	"github.com/govs-lb/govs/health"
	"github.com/govs-lb/govs/internal/control"
	"github.com/govs-lb/govs/internal/keepalived"
)

const waitFor = 10 * time.Second

func mustParse(t *testing.T, src string) *keepalived.Config {
	t.Helper()
	c, err := keepalived.Parse("keepalived.conf", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// fixture is a Director with a balancer and no dataplane, and a reconciler
// whose restore applies ops all or nothing as backend.Restore does, minus
// the dataplane reconfiguration (which needs nftables: see the namespace
// test for the real path).
type fixture struct {
	d        *Director
	r        *reconciler
	restores chan []control.Op
	fail     atomic.Bool // restore refuses everything
}

func newFixture(t *testing.T, hc health.Config) *fixture {
	f := &fixture{d: &Director{bal: balancer.New(balancer.Config{MaxConns: 1024})}, restores: make(chan []control.Op, 100)}
	restore := func(ops []control.Op) error {
		if f.fail.Load() {
			return control.OpFailed(0, errors.New("refused"))
		}
		if err := restoreNoDataplane(f.d, ops); err != nil {
			return err
		}
		f.restores <- ops
		return nil
	}
	if hc.Jitter == nil {
		hc.Jitter = func(time.Duration) time.Duration { return 0 }
	}
	f.r = newReconcilerWith(nil, func() []control.ServiceStatus { return servicesOf(f.d.bal) }, restore, hc)
	t.Cleanup(f.r.stop)
	return f
}

// restoreNoDataplane is backend.Restore without reconfigure: a dry run on
// a scratch copy, then the real thing.
func restoreNoDataplane(d *Director, ops []control.Op) error {
	scratch := &backend{d: &Director{bal: balancer.New(balancer.Config{MaxConns: 1})}}
	for _, s := range d.bal.Services() {
		if err := scratch.d.bal.AddService(s.ServiceConfig); err != nil {
			return err
		}
		for _, ds := range s.Dests {
			if err := scratch.d.bal.AddDest(s.ServiceKey, ds.DestConfig); err != nil {
				return err
			}
		}
	}
	for i, op := range ops {
		if err := scratch.apply(op); err != nil {
			return control.OpFailed(i, err)
		}
	}
	b := &backend{d: d}
	for i, op := range ops {
		if err := b.apply(op); err != nil {
			return control.OpFailed(i, err)
		}
	}
	return nil
}

func (f *fixture) nextRestore(t *testing.T) []string {
	t.Helper()
	select {
	case ops := <-f.restores:
		return opStrings(ops)
	case <-time.After(waitFor):
		t.Fatal("no change applied in time")
		return nil
	}
}

func opStrings(ops []control.Op) []string {
	var out []string
	for _, o := range ops {
		s := string(o.Kind) + " " + o.Service.ServiceKey.String()
		if o.Dest.Addr.IsValid() {
			s += " " + netip.AddrPortFrom(o.Dest.Addr, o.Dest.Port).String()
			if o.Kind != control.OpDelDest {
				s += " w" + strconv.Itoa(o.Dest.Weight)
			}
		}
		out = append(out, s)
	}
	return out
}

// listing is a compact govs -L -n: "tcp VIP:port sched" then "  -> RS:port method weight".
func listing(d *Director) []string {
	var out []string
	for _, s := range servicesOf(d.bal) {
		out = append(out, s.ServiceKey.String()+" "+string(s.Scheduler))
		for _, ds := range s.Dests {
			out = append(out, "  -> "+netip.AddrPortFrom(ds.Addr, ds.Port).String()+" "+ds.Method.Name()+" "+strconv.Itoa(ds.Weight))
		}
	}
	return out
}

func same(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s\n got %q\nwant %q", what, got, want)
	}
}

const confV1 = `
virtual_server 198.51.100.1 80 {
    lb_algo wrr
    lb_kind DR
    real_server 203.0.113.1 80 {
        weight 1
    }
    real_server 203.0.113.2 80 {
        weight 1
    }
}
virtual_server 198.51.100.2 53 {
    protocol UDP
    lb_algo rr
    lb_kind DR
    real_server 203.0.113.1 53
}
`

func TestReconcileApplyAndReload(t *testing.T) {
	f := newFixture(t, health.Config{})
	if err := f.r.apply(mustParse(t, confV1)); err != nil {
		t.Fatal(err)
	}
	same(t, "after the first apply", listing(f.d), []string{
		"tcp 198.51.100.1:80 wrr", "  -> 203.0.113.1:80 dr 1", "  -> 203.0.113.2:80 dr 1",
		"udp 198.51.100.2:53 rr", "  -> 203.0.113.1:53 dr 1",
	})
	<-f.restores
	// A service added by hand (govs -A) is not the file's to touch.
	manual := control.ServiceSpec{ServiceKey: control.ServiceKey{Protocol: balancer.TCP, Addr: netip.MustParseAddr("198.51.100.9"), Port: 80}, Scheduler: "rr"}
	if err := (&backend{d: f.d}).apply(control.Op{Kind: control.OpAddService, Service: manual.WithDefaults()}); err != nil {
		t.Fatal(err)
	}
	// Open connections to both realservers of the web service.
	w := f.d.bal.NewWorker()
	for i := range 4 {
		fl := &balancer.Flow{Proto: balancer.TCP, Src: [4]byte{192, 0, 2, 10}, Dst: [4]byte{198, 51, 100, 1}, SrcPort: uint16(40000 + i), DstPort: 80}
		if v := w.In(fl, balancer.TCPFlagSYN, 60, 0); v.Action != balancer.Forward {
			t.Fatalf("connection %d not forwarded: %+v", i, v)
		}
	}
	before := destStats(f.d)
	if n := f.d.bal.NumConns(); n != 4 {
		t.Fatalf("%d connections, want 4", n)
	}

	v2 := strings.Replace(confV1, "weight 1\n    }\n}", "weight 3\n    }\n}", 1)
	v2 = v2[:strings.Index(v2, "virtual_server 198.51.100.2 53")] + `
virtual_server 198.51.100.1 443 {
    lb_kind TUN
    real_server 203.0.113.3 443 {
        weight 2
    }
}
`
	if err := f.r.apply(mustParse(t, v2)); err != nil {
		t.Fatal(err)
	}
	same(t, "reload ops", f.nextRestore(t), []string{
		"delete-service udp 198.51.100.2:53",
		"edit-server tcp 198.51.100.1:80 203.0.113.2:80 w3",
		"add-service tcp 198.51.100.1:443",
		"add-server tcp 198.51.100.1:443 203.0.113.3:443 w2",
	})
	same(t, "after the reload", listing(f.d), []string{
		"tcp 198.51.100.1:80 wrr", "  -> 203.0.113.1:80 dr 1", "  -> 203.0.113.2:80 dr 3",
		"tcp 198.51.100.1:443 wlc", "  -> 203.0.113.3:443 tun 2",
		"tcp 198.51.100.9:80 rr",
	})
	if n := f.d.bal.NumConns(); n != 4 {
		t.Fatalf("%d connections after the reload, want 4", n)
	}
	after := destStats(f.d)
	for k, b := range before {
		if a := after[k]; a != b {
			t.Fatalf("realserver %s: counters %+v after the reload, were %+v", k, a, b)
		}
	}
	// Reloading the same file changes nothing.
	if err := f.r.apply(mustParse(t, v2)); err != nil {
		t.Fatal(err)
	}
	select {
	case ops := <-f.restores:
		t.Fatalf("a reload of the same file applied %q", opStrings(ops))
	default:
	}
}

type destCounters struct {
	active, conns uint64
}

func destStats(d *Director) map[string]destCounters {
	m := map[string]destCounters{}
	for _, s := range servicesOf(d.bal) {
		for _, ds := range s.Dests {
			m[s.ServiceKey.String()+" "+netip.AddrPortFrom(ds.Addr, ds.Port).String()] = destCounters{uint64(ds.ActiveConns) + uint64(ds.InactConns), ds.Conns}
		}
	}
	return m
}

func TestReconcileApplyFails(t *testing.T) {
	f := newFixture(t, health.Config{})
	if err := f.r.apply(mustParse(t, healthConf)); err != nil {
		t.Fatal(err)
	}
	<-f.restores
	want := listing(f.d)
	applied := f.r.cfg
	targets := f.r.health().Status()
	// The backend refuses the change (as Restore does when its dry run
	// fails): nothing changes, neither the balancer, nor the applied
	// configuration, nor the health targets.
	f.fail.Store(true)
	err := f.r.apply(mustParse(t, confV1))
	if err == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("apply with a refusing backend: %v", err)
	}
	same(t, "after a failed apply", listing(f.d), want)
	if f.r.cfg != applied {
		t.Fatal("a failed apply replaced the applied configuration")
	}
	if got := f.r.health().Status(); !reflect.DeepEqual(got, targets) {
		t.Fatalf("health targets changed by a failed apply: %+v, were %+v", got, targets)
	}
	f.fail.Store(false)
	if err := f.r.apply(mustParse(t, confV1)); err != nil {
		t.Fatal(err)
	}
	if n := len(f.r.health().Status()); n != 0 {
		t.Fatalf("%d health targets for a configuration without checks", n)
	}
}

func TestReconcileLocalNodeIsNoChange(t *testing.T) {
	// A DR realserver on a local address is LocalNode in the balancer;
	// reconciling must not see that as a change to undo.
	f := newFixture(t, health.Config{})
	cfg := mustParse(t, "virtual_server 198.51.100.1 80 {\n lb_kind DR\n real_server 127.0.0.1 80\n}\n")
	if err := f.r.apply(cfg); err != nil {
		t.Fatal(err)
	}
	<-f.restores
	same(t, "local realserver", listing(f.d), []string{"tcp 198.51.100.1:80 wlc", "  -> 127.0.0.1:80 local 1"})
	if err := f.r.apply(mustParse(t, "virtual_server 198.51.100.1 80 {\n lb_kind DR\n real_server 127.0.0.1 80\n}\n")); err != nil {
		t.Fatal(err)
	}
	select {
	case ops := <-f.restores:
		t.Fatalf("reapplying a LocalNode realserver applied %q", opStrings(ops))
	default:
	}
}

// fakeDial answers health-check dials from a table of addresses that are up.
type fakeDial struct {
	mu sync.Mutex
	up map[string]bool
}

func (f *fakeDial) set(addr string, up bool) {
	f.mu.Lock()
	f.up[addr] = up
	f.mu.Unlock()
}

func (f *fakeDial) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	f.mu.Lock()
	up := f.up[addr]
	f.mu.Unlock()
	if !up {
		return nil, errors.New("connection refused")
	}
	a, b := net.Pipe()
	b.Close()
	return a, nil
}

// healthConf: .1 is checked and removed when down, .2 is checked and
// inhibited, .3 is unchecked (always up) at weight 0, so it never counts as
// capacity.
const healthConf = `
virtual_server 198.51.100.1 80 {
    delay_loop 0.005
    lb_algo wlc
    lb_kind DR
    sorry_server 203.0.113.100 80
    real_server 203.0.113.1 80 {
        weight 1
        TCP_CHECK {
            retry 0
            connect_timeout 1
        }
    }
    real_server 203.0.113.2 80 {
        weight 2
        inhibit_on_failure
        TCP_CHECK {
            retry 0
            connect_timeout 1
        }
    }
    real_server 203.0.113.3 80 {
        weight 0
    }
}
`

func TestReconcileHealthAndSorryServer(t *testing.T) {
	fd := &fakeDial{up: map[string]bool{"203.0.113.1:80": true, "203.0.113.2:80": true}}
	f := newFixture(t, health.Config{Dial: fd.dial})
	cfg := mustParse(t, healthConf)
	if err := f.r.apply(cfg); err != nil {
		t.Fatal(err)
	}
	<-f.restores
	f.r.start(context.Background())

	fd.set("203.0.113.1:80", false)
	same(t, "first realserver down", f.nextRestore(t), []string{"delete-server tcp 198.51.100.1:80 203.0.113.1:80"})

	fd.set("203.0.113.2:80", false)
	same(t, "second realserver down (inhibit)", f.nextRestore(t), []string{
		"add-server tcp 198.51.100.1:80 203.0.113.100:80 w1",
		"edit-server tcp 198.51.100.1:80 203.0.113.2:80 w0",
	})
	same(t, "govs -L -n with the sorry server", listing(f.d), []string{
		"tcp 198.51.100.1:80 wlc", "  -> 203.0.113.2:80 dr 0", "  -> 203.0.113.3:80 dr 0", "  -> 203.0.113.100:80 dr 1",
	})

	fd.set("203.0.113.1:80", true)
	same(t, "first realserver back", f.nextRestore(t), []string{
		"add-server tcp 198.51.100.1:80 203.0.113.1:80 w1",
		"delete-server tcp 198.51.100.1:80 203.0.113.100:80",
	})
	fd.set("203.0.113.2:80", true)
	same(t, "second realserver back", f.nextRestore(t), []string{"edit-server tcp 198.51.100.1:80 203.0.113.2:80 w2"})
	same(t, "all back", listing(f.d), []string{
		"tcp 198.51.100.1:80 wlc", "  -> 203.0.113.1:80 dr 1", "  -> 203.0.113.2:80 dr 2", "  -> 203.0.113.3:80 dr 0",
	})
	if c := f.r.health().Counters(); c.Downs != 2 || c.Ups != 2 {
		t.Fatalf("health counters %+v, want 2 downs and 2 ups", c)
	}

	// A reload while a realserver is down keeps it out; a weight change of
	// an up one is one edit.
	fd.set("203.0.113.1:80", false)
	same(t, "down again", f.nextRestore(t), []string{"delete-server tcp 198.51.100.1:80 203.0.113.1:80"})
	if err := f.r.apply(mustParse(t, strings.Replace(healthConf, "weight 2", "weight 5", 1))); err != nil {
		t.Fatal(err)
	}
	same(t, "reload while one is down", f.nextRestore(t), []string{"edit-server tcp 198.51.100.1:80 203.0.113.2:80 w5"})
	same(t, "after the reload", listing(f.d), []string{
		"tcp 198.51.100.1:80 wlc", "  -> 203.0.113.2:80 dr 5", "  -> 203.0.113.3:80 dr 0",
	})
	// Removing the service stops its checks: recovery is not applied.
	if err := f.r.apply(&keepalived.Config{}); err != nil {
		t.Fatal(err)
	}
	same(t, "service removed", f.nextRestore(t), []string{"delete-service tcp 198.51.100.1:80"})
	if st := f.r.health().Status(); len(st) != 0 {
		t.Fatalf("health targets left after removal: %+v", st)
	}
}

func TestDesired(t *testing.T) {
	cfg := mustParse(t, `
virtual_server 198.51.100.1 80 {
    lb_kind DR
    sorry_server 203.0.113.100 80
    real_server 203.0.113.1 80 {
        weight 4
        MISC_CHECK {
            misc_path /bin/check
            misc_dynamic
        }
    }
    real_server 203.0.113.2 80 {
        weight 2
        inhibit_on_failure
        TCP_CHECK {
        }
    }
}
virtual_server 198.51.100.1 81 {
    alpha
    lb_kind DR
    real_server 203.0.113.1 81 {
        TCP_CHECK {
        }
    }
}
`)
	id1 := "tcp 198.51.100.1:80 -> 203.0.113.1:80"
	id2 := "tcp 198.51.100.1:80 -> 203.0.113.2:80"
	type st struct {
		up  bool
		w   int
		dyn bool
	}
	tests := []struct {
		name  string
		state map[string]st // missing: not known to the engine
		want  []string
	}{
		{"fresh start: up unless alpha", nil, []string{
			"198.51.100.1:80 203.0.113.1:80 w4", "198.51.100.1:80 203.0.113.2:80 w2", "198.51.100.1:81 -"}},
		{"dynamic weight replaces the configured one", map[string]st{id1: {true, 10, true}, id2: {true, 2, false}}, []string{
			"198.51.100.1:80 203.0.113.1:80 w10", "198.51.100.1:80 203.0.113.2:80 w2", "198.51.100.1:81 -"}},
		{"dynamic weight 0 and inhibited: the sorry server comes in", map[string]st{id1: {true, 0, true}, id2: {false, 2, false}}, []string{
			"198.51.100.1:80 203.0.113.1:80 w0", "198.51.100.1:80 203.0.113.2:80 w0", "198.51.100.1:80 203.0.113.100:80 w1", "198.51.100.1:81 -"}},
		{"down without inhibit is removed", map[string]st{id1: {false, 4, false}, id2: {true, 2, false}}, []string{
			"198.51.100.1:80 203.0.113.2:80 w2", "198.51.100.1:81 -"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			state := func(id string, startDown bool) (bool, int, bool) {
				s, ok := tt.state[id]
				if !ok {
					return !startDown, 0, false
				}
				return s.up, s.w, s.dyn
			}
			var got []string
			for _, s := range desired(cfg, state) {
				k := netip.AddrPortFrom(s.Spec.Addr, s.Spec.Port).String()
				if len(s.Dests) == 0 {
					got = append(got, k+" -")
				}
				for _, d := range s.Dests {
					got = append(got, k+" "+netip.AddrPortFrom(d.Addr, d.Port).String()+" w"+strconv.Itoa(d.Weight))
				}
			}
			same(t, "desired", got, tt.want)
		})
	}
	if n := len(targetsOf(cfg)); n != 3 {
		t.Fatalf("%d health targets, want 3", n)
	}
}

func TestCheckConfig(t *testing.T) {
	if err := checkConfig(mustParse(t, confV1)); err != nil {
		t.Fatalf("valid configuration refused: %v", err)
	}
	if err := checkConfig(mustParse(t, healthConf)); err != nil {
		t.Fatalf("valid configuration refused: %v", err)
	}
	// What the balancer refuses is reported at the block's position.
	bad := mustParse(t, confV1)
	bad.Services[0].RealServers[1].Dest.Weight = balancer.MaxWeight + 1
	err := checkConfig(bad)
	if err == nil || !strings.HasPrefix(err.Error(), "keepalived.conf:8:5: real_server 203.0.113.2:80: ") {
		t.Fatalf("refused realserver: %v", err)
	}
	bad = mustParse(t, confV1)
	bad.Services[1].Spec.Scheduler = "lblc"
	err = checkConfig(bad)
	if err == nil || !strings.HasPrefix(err.Error(), "keepalived.conf:12:1: virtual_server udp 198.51.100.2:53: ") {
		t.Fatalf("refused service: %v", err)
	}
}

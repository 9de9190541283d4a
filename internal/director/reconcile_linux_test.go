//go:build linux

package director

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/govs-lb/govs/balancer"
	"github.com/govs-lb/govs/health"
	"github.com/govs-lb/govs/internal/control"
	"github.com/govs-lb/govs/internal/lab"
	"github.com/govs-lb/govs/internal/nftin"
)

// TestReconcileRealRestore drives the reconciler through the real
// backend.Restore, whose reconfigure updates an nftables ingress table: in
// a lab namespace, never the root one.
func TestReconcileRealRestore(t *testing.T) {
	l := lab.NewT(t)
	a, err := l.Host("dir")
	if err != nil {
		t.Fatal(err)
	}
	b, err := l.Host("peer")
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Link(a, "eth0", b, "eth0"); err != nil {
		t.Fatal(err)
	}
	var tbl *nftin.Table
	if err := a.Do(func() (err error) {
		tbl, err = nftin.Install([]string{"eth0"}, nftin.Rules{})
		return err
	}); err != nil {
		t.Fatalf("install the ingress table in %v: %v", a, err)
	}
	t.Cleanup(func() { tbl.Remove() })

	d := &Director{bal: balancer.New(balancer.Config{MaxConns: 1024}), nft: tbl}
	be := &backend{d: d}
	restores := make(chan []control.Op, 16)
	fd := &fakeDial{up: map[string]bool{"203.0.113.1:80": true, "203.0.113.2:80": true}}
	r := newReconcilerWith(nil, be.Services, func(ops []control.Op) error {
		if err := be.Restore(ops); err != nil {
			return err
		}
		restores <- ops
		return nil
	}, health.Config{Dial: fd.dial, Jitter: func(time.Duration) time.Duration { return 0 }})
	t.Cleanup(r.stop)
	f := &fixture{d: d, r: r, restores: restores}

	if err := r.apply(mustParse(t, healthConf)); err != nil {
		t.Fatal(err)
	}
	<-restores
	r.start(context.Background())
	same(t, "applied", listing(d), []string{
		"tcp 198.51.100.1:80 wlc", "  -> 203.0.113.1:80 dr 1", "  -> 203.0.113.2:80 dr 2", "  -> 203.0.113.3:80 dr 0",
	})
	if err := r.apply(mustParse(t, strings.Replace(healthConf, "weight 1\n", "weight 7\n", 1))); err != nil {
		t.Fatal(err)
	}
	same(t, "reload", f.nextRestore(t), []string{"edit-server tcp 198.51.100.1:80 203.0.113.1:80 w7"})
	fd.set("203.0.113.1:80", false)
	fd.set("203.0.113.2:80", false)
	// Both go down, in one reconciliation or two depending on timing;
	// nextRestore fails the test if none comes in time.
	for !strings.Contains(strings.Join(listing(d), "|"), "203.0.113.100:80") {
		f.nextRestore(t)
	}
	same(t, "sorry server in use", listing(d), []string{
		"tcp 198.51.100.1:80 wlc", "  -> 203.0.113.2:80 dr 0", "  -> 203.0.113.3:80 dr 0", "  -> 203.0.113.100:80 dr 1",
	})
}

package director

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/govs-lb/govs/internal/control"
	"github.com/govs-lb/govs/internal/keepalived"
	"github.com/govs-lb/govs/internal/metrics"
)

// configFile is the keepalived.conf a director runs from (--config), and
// the reconciler that applies it and runs its health checks.
type configFile struct {
	path string
	rc   *reconciler
}

// loadConfig reads path and prints its warnings (blocks govs skips) on w.
func loadConfig(path string, w io.Writer) (*keepalived.Config, error) {
	cfg, err := keepalived.Load(path)
	if err != nil {
		return nil, err
	}
	for _, warn := range cfg.Warnings {
		fmt.Fprintln(w, warn.String())
	}
	return cfg, nil
}

// Check is `govs run --check --config FILE`: parse and dry-run the file,
// without root and without interfaces. It prints the file's warnings on
// stderr and a line saying it is good on stdout.
func Check(path string, stdout, stderr io.Writer) error {
	cfg, err := loadConfig(path, stderr)
	if err == nil {
		err = checkConfig(cfg)
	}
	if err != nil {
		return fmt.Errorf("govs run --check: %w", err)
	}
	fmt.Fprintf(stdout, "%s: OK, %d virtual servers\n", path, len(cfg.Services))
	return nil
}

// startConfig applies the configuration file for the first time, starts
// its health checks and follows SIGHUP. It returns the cleanup to run
// before the balancer goes.
func (d *Director) startConfig(ctx context.Context, path string, log *slog.Logger) (func(), error) {
	cfg, err := loadConfig(path, os.Stderr)
	if err != nil {
		return nil, err
	}
	rc := newReconciler(d, log)
	if err := rc.apply(cfg); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	d.file.Store(&configFile{path: path, rc: rc})
	rc.start(ctx)

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				if err := d.reload(); err != nil {
					log.Error("reload on SIGHUP failed; configuration unchanged", "file", path, "err", err)
				}
			}
		}
	}()
	return func() {
		signal.Stop(hup)
		rc.stop()
		<-done
	}, nil
}

// reload re-reads the configuration file and applies the difference; a
// file that does not parse or apply changes nothing.
func (d *Director) reload() error {
	f := d.file.Load()
	if f == nil {
		return control.BadRequest("govs run was started without --config: nothing to reload")
	}
	cfg, err := loadConfig(f.path, os.Stderr)
	if err != nil {
		return control.BadRequest("%v", err)
	}
	if err := f.rc.apply(cfg); err != nil {
		return control.BadRequest("%s: %v", f.path, err)
	}
	d.log.Info("configuration reloaded", "file", f.path, "services", len(cfg.Services))
	return nil
}

// Reload serves POST /v1/reload (govs reload).
func (b *backend) Reload() error { return b.d.reload() }

var _ control.ReloadBackend = (*backend)(nil)

// healthStates is the metrics view of the health checks: up or down per
// realserver the configuration file checks; nil without --config.
func (d *Director) healthStates() map[metrics.HealthKey]bool {
	f := d.file.Load()
	if f == nil {
		return nil
	}
	return f.rc.healthStates()
}

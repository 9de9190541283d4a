package metrics

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// DefaultHost is where Serve binds when the address names no host.
const DefaultHost = "127.0.0.1"

// BindAddr returns the address Serve listens on for addr: addr itself when
// it names a host ("0.0.0.0:9100", "[::1]:9100"), DefaultHost with addr's
// port when it does not (":9100"). The port is required.
func BindAddr(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("metrics address %q: %w", addr, err)
	}
	if port == "" {
		return "", fmt.Errorf("metrics address %q: no port", addr)
	}
	if host == "" {
		host = DefaultHost
	}
	return net.JoinHostPort(host, port), nil
}

// Handler returns the /metrics handler: src's metrics plus the Go runtime's
// and the process's (go_*, process_*).
func Handler(src Source) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		NewCollector(src),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// Serve listens on addr (see BindAddr) and serves src's metrics on /metrics
// until ctx is done. It returns at once if it cannot listen, and nil after
// ctx is done.
func Serve(ctx context.Context, addr string, src Source) error {
	a, err := BindAddr(addr)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", a)
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	return ServeListener(ctx, ln, src)
}

// ServeListener serves src's metrics on /metrics from ln until ctx is done,
// then closes ln.
func ServeListener(ctx context.Context, ln net.Listener, src Source) error {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", Handler(src))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("metrics: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("metrics: %w", err)
	}
	return nil
}

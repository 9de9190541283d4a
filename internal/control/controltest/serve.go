package controltest

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/govs-lb/govs/internal/control"
)

// Serve serves b's control API on a fresh Unix socket and returns its path.
// The directory is short (socket paths are limited to 108 bytes) and is
// removed, with the server stopped, by t.Cleanup.
func Serve(t testing.TB, b control.Backend) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "govs-ctl")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "govs.sock")
	ln, err := control.Listen(path)
	if err != nil {
		os.RemoveAll(dir)
		t.Fatal(err)
	}
	srv := &http.Server{Handler: control.NewServer(b, nil)}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("control server: %v", err)
		}
		os.RemoveAll(dir)
	})
	return path
}

package control

import (
	"context"
	"net/http"
)

// ReloadBackend is implemented by a Backend that runs from a configuration
// file (govs run --config). NewServer serves POST /v1/reload only for such a
// Backend.
type ReloadBackend interface {
	// Reload re-reads the configuration file and applies the difference.
	// A file that does not parse changes nothing and is the error.
	Reload() error
}

func (s *server) registerReload(mux *http.ServeMux) {
	rb, ok := s.b.(ReloadBackend)
	if !ok {
		return
	}
	mux.HandleFunc("POST /v1/reload", func(w http.ResponseWriter, r *http.Request) {
		s.done(w, r, "reload", rb.Reload())
	})
}

// Reload asks the daemon to re-read its configuration file (govs reload).
func (c *Client) Reload(ctx context.Context) error {
	return c.do(ctx, http.MethodPost, "/v1/reload", nil, nil)
}

package control

import (
	"context"
	"fmt"
	"net/http"
)

// Director roles (govs run --role, govs role).
const (
	RoleMaster = "master" // answers ARP for the VIPs, announces them, schedules
	RoleBackup = "backup" // answers no ARP; VIP traffic reaching it goes to its local service
)

// RoleBackend is implemented by a Backend that has a role (the director).
// NewServer serves GET and PUT /v1/role only for such a Backend.
type RoleBackend interface {
	Role() string
	// SetRole switches to role (RoleMaster or RoleBackup); switching to
	// the role in force does nothing.
	SetRole(role string) error
}

// RoleSpec is the body of GET and PUT /v1/role.
type RoleSpec struct {
	Role string `json:"role"`
}

// Validate checks the role name.
func (r RoleSpec) Validate() error {
	if r.Role != RoleMaster && r.Role != RoleBackup {
		return fmt.Errorf("invalid role %q (want %s or %s)", r.Role, RoleMaster, RoleBackup)
	}
	return nil
}

func (s *server) registerRole(mux *http.ServeMux) {
	rb, ok := s.b.(RoleBackend)
	if !ok {
		return
	}
	mux.HandleFunc("GET /v1/role", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, RoleSpec{Role: rb.Role()})
	})
	mux.HandleFunc("PUT /v1/role", func(w http.ResponseWriter, r *http.Request) {
		var spec RoleSpec
		err := decode(w, r, maxBody, &spec)
		if err == nil {
			if err = spec.Validate(); err != nil {
				err = BadRequest("%v", err)
			}
		}
		if err == nil {
			err = rb.SetRole(spec.Role)
		}
		s.done(w, r, "role "+spec.Role, err)
	})
}

// Role returns the director's role (govs role).
func (c *Client) Role(ctx context.Context) (string, error) {
	var out RoleSpec
	err := c.do(ctx, http.MethodGet, "/v1/role", nil, &out)
	return out.Role, err
}

// SetRole switches the director to role (govs role master|backup).
func (c *Client) SetRole(ctx context.Context, role string) error {
	return c.do(ctx, http.MethodPut, "/v1/role", RoleSpec{Role: role}, nil)
}

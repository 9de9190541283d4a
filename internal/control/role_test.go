package control_test

import (
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/govs-lb/govs/internal/control"
	"github.com/govs-lb/govs/internal/control/controltest"
)

// roleBackend is a Backend with a role; only the role methods are used.
type roleBackend struct {
	control.Backend
	mu   sync.Mutex
	role string
}

func (b *roleBackend) Role() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.role
}

func (b *roleBackend) SetRole(r string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.role = r
	return nil
}

func TestRole(t *testing.T) {
	b := &roleBackend{role: control.RoleMaster}
	c := control.NewClient(controltest.Serve(t, b))
	defer c.Close()
	if r, err := c.Role(ctx(t)); err != nil || r != control.RoleMaster {
		t.Fatalf("Role = %q, %v", r, err)
	}
	if err := c.SetRole(ctx(t), control.RoleBackup); err != nil {
		t.Fatal(err)
	}
	if r, _ := c.Role(ctx(t)); r != control.RoleBackup || b.Role() != control.RoleBackup {
		t.Fatalf("after SetRole(backup): %q (backend %q)", r, b.Role())
	}
	err := c.SetRole(ctx(t), "primary")
	if control.StatusOf(err) != http.StatusBadRequest || !strings.Contains(err.Error(), "invalid role") {
		t.Errorf("SetRole(primary): %v", err)
	}
}

func TestRoleNotServedWithoutRoleBackend(t *testing.T) {
	_, c := setup(t)
	if _, err := c.Role(ctx(t)); control.StatusOf(err) != http.StatusNotFound {
		t.Errorf("Role on a backend without roles: %v, want 404", err)
	}
}

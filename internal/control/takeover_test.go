package control_test

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/govs-lb/govs/internal/control"
	"github.com/govs-lb/govs/internal/control/controltest"
)

// takeoverBackend is a Backend that can be taken over.
type takeoverBackend struct {
	control.Backend
	released int // successor PID, 0 until Release
	fail     bool
}

func (b *takeoverBackend) TakeoverState() (control.TakeoverState, error) {
	return control.TakeoverState{PID: 42, Ifaces: []string{"eth0"}, Role: control.RoleMaster,
		FanoutGroups: []uint16{7}, Conns: []byte("GVC1\x00\x01")}, nil
}

func (b *takeoverBackend) Release(successor int) (control.TakeoverRelease, error) {
	if b.fail {
		return control.TakeoverRelease{}, control.BadRequest("not now")
	}
	b.released = successor
	return control.TakeoverRelease{Conns: []byte("GVC1")}, nil
}

func TestTakeoverEndpoints(t *testing.T) {
	b := &takeoverBackend{}
	c := control.NewClient(controltest.Serve(t, b))
	defer c.Close()
	st, err := c.TakeoverState(ctx(t))
	if err != nil || st.PID != 42 || !slices.Equal(st.FanoutGroups, []uint16{7}) || string(st.Conns) != "GVC1\x00\x01" {
		t.Fatalf("TakeoverState = %+v, %v", st, err)
	}
	rel, err := c.Release(ctx(t), 1234)
	if err != nil || string(rel.Conns) != "GVC1" || b.released != 1234 {
		t.Fatalf("Release = %+v, %v (backend saw successor %d)", rel, err, b.released)
	}
	b.fail = true
	if _, err := c.Release(ctx(t), 1); control.StatusOf(err) != http.StatusBadRequest {
		t.Errorf("failing Release: %v, want 400", err)
	}
}

func TestTakeoverNotServedWithoutBackend(t *testing.T) {
	_, c := setup(t)
	if _, err := c.TakeoverState(ctx(t)); control.StatusOf(err) != http.StatusNotFound {
		t.Errorf("TakeoverState on a backend that cannot be taken over: %v, want 404", err)
	}
}

// TestListenTakeover: the new socket replaces the old at its path, the old
// daemon stays reachable at TakeoverOldPath, and the old one's SocketFile
// no longer removes the path.
func TestListenTakeover(t *testing.T) {
	dir, err := os.MkdirTemp("", "govs-ctl")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "govs.sock")
	oldLn, err := control.Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	oldFile, err := control.Own(oldLn, path)
	if err != nil {
		t.Fatal(err)
	}
	oldSrv := &http.Server{Handler: control.NewServer(&takeoverBackend{}, nil)}
	go oldSrv.Serve(oldLn)
	defer oldSrv.Close()

	// Without --takeover the path is refused while the old daemon answers.
	if _, err := control.Listen(path); !errors.Is(err, control.ErrAlreadyRunning) {
		t.Fatalf("Listen on a live socket: %v, want ErrAlreadyRunning", err)
	}
	newLn, err := control.ListenTakeover(path)
	if err != nil {
		t.Fatal(err)
	}
	newFile, err := control.Own(newLn, path)
	if err != nil {
		t.Fatal(err)
	}
	newSrv := &http.Server{Handler: control.NewServer(&takeoverBackend{}, nil)}
	go newSrv.Serve(newLn)
	defer newSrv.Close()
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("new socket: %v, %v; want mode 0600", fi, err)
	}

	// The path reaches the new server (no takeover endpoint without a
	// backend for it), the old name reaches the old one.
	cnew := control.NewClient(path)
	defer cnew.Close()
	if _, err := cnew.TakeoverState(ctx(t)); err != nil {
		t.Fatalf("new daemon at %s: %v", path, err)
	}
	cold := control.NewClient(control.TakeoverOldPath(path))
	defer cold.Close()
	if _, err := cold.Release(ctx(t), os.Getpid()); err != nil {
		t.Fatalf("old daemon at %s: %v", control.TakeoverOldPath(path), err)
	}

	// The old daemon exits: it closes its listener and leaves the path alone.
	oldSrv.Close()
	if oldFile.Remove() {
		t.Fatal("the old daemon removed the socket path its successor owns")
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("socket path gone after the old daemon closed: %v", err)
	}
	if !newFile.Remove() {
		t.Fatal("the new daemon could not remove its own socket")
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("socket path after Remove: %v", err)
	}
}

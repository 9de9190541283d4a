package control

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
)

// Graceful restart (govs run --takeover). The new daemon asks the running
// one for its state (POST /v1/takeover/state), starts forwarding with it,
// binds the control socket path over the old one (ListenTakeover: the old
// listener keeps its inode, reachable at a second name), and tells the old
// daemon to let go (POST /v1/takeover/release): it stops forwarding,
// answers with its connection table as it is then, and exits without
// removing the host state it handed over (the nftables table, the socket
// path: see SocketFile).

// TakeoverBackend is implemented by a Backend that can hand its work to a
// new daemon. NewServer serves /v1/takeover/* only for such a Backend.
type TakeoverBackend interface {
	// TakeoverState describes the running daemon for its successor.
	TakeoverState() (TakeoverState, error)
	// Release stops forwarding and returns the connection table as it is
	// then; the daemon exits (status 0) once the answer is sent, leaving
	// its ingress table and control socket path to the successor.
	Release(successor int) (TakeoverRelease, error)
}

// TakeoverState is the answer to POST /v1/takeover/state.
type TakeoverState struct {
	PID      int             `json:"pid"`
	Ifaces   []string        `json:"ifaces"`
	Role     string          `json:"role"`
	Services []ServiceStatus `json:"services"`
	Timeouts Timeouts        `json:"timeouts"`
	// FanoutGroups are the PACKET_FANOUT ids the daemon's capture sockets
	// use; the successor must pick others.
	FanoutGroups []uint16 `json:"fanout_groups"`
	// LocalRealservers counts realservers served through the LocalNode
	// tap, which cannot be handed over (the tap is the daemon's own).
	LocalRealservers int `json:"local_realservers"`
	// Sysctls are the kernel settings the daemon changed, with the values
	// they had before it: the successor restores them when it exits.
	Sysctls map[string]string `json:"sysctls,omitempty"`
	// Conns is the connection table in the balancer's export format
	// (balancer.EncodeConns).
	Conns []byte `json:"conns"`
}

// TakeoverRelease is the answer to POST /v1/takeover/release.
type TakeoverRelease struct {
	// Conns is the connection table after forwarding stopped
	// (balancer.EncodeConns).
	Conns []byte `json:"conns"`
}

// releaseRequest is POST /v1/takeover/release's body.
type releaseRequest struct {
	Successor int `json:"successor"` // PID of the new daemon, for the log
}

func (s *server) registerTakeover(mux *http.ServeMux) {
	tb, ok := s.b.(TakeoverBackend)
	if !ok {
		return
	}
	mux.HandleFunc("POST /v1/takeover/state", func(w http.ResponseWriter, r *http.Request) {
		st, err := tb.TakeoverState()
		if err != nil {
			s.log.Warn("control request failed", "method", r.Method, "path", r.URL.Path, "err", err)
			writeError(w, err)
			return
		}
		s.log.Info("control", "op", "takeover-state", "path", r.URL.Path)
		writeJSON(w, http.StatusOK, st)
	})
	mux.HandleFunc("POST /v1/takeover/release", func(w http.ResponseWriter, r *http.Request) {
		var req releaseRequest
		if err := decode(w, r, maxBody, &req); err != nil {
			writeError(w, err)
			return
		}
		rel, err := tb.Release(req.Successor)
		if err != nil {
			s.log.Warn("control request failed", "method", r.Method, "path", r.URL.Path, "err", err)
			writeError(w, err)
			return
		}
		s.log.Info("control", "op", "takeover-release", "successor", req.Successor)
		writeJSON(w, http.StatusOK, rel)
	})
}

// TakeoverState asks the daemon for what its successor needs.
func (c *Client) TakeoverState(ctx context.Context) (TakeoverState, error) {
	var out TakeoverState
	err := c.do(ctx, http.MethodPost, "/v1/takeover/state", struct{}{}, &out)
	return out, err
}

// Release tells the daemon to stop forwarding and exit; it answers with
// its final connection table. successor is the caller's PID, for its log.
func (c *Client) Release(ctx context.Context, successor int) (TakeoverRelease, error) {
	var out TakeoverRelease
	err := c.do(ctx, http.MethodPost, "/v1/takeover/release", releaseRequest{Successor: successor}, &out)
	return out, err
}

// SocketFile is a control socket file as its daemon created it. A daemon
// that handed its path to a successor finds another file there and leaves
// it alone.
type SocketFile struct {
	path string
	fi   os.FileInfo
}

// Own records the socket file ln is bound to at path, and stops ln from
// unlinking path when it closes (a successor may have bound it by then).
func Own(ln net.Listener, path string) (*SocketFile, error) {
	if ul, ok := ln.(*net.UnixListener); ok {
		ul.SetUnlinkOnClose(false)
	}
	fi, err := os.Lstat(path)
	if err != nil {
		return nil, fmt.Errorf("control: %w", err)
	}
	return &SocketFile{path: path, fi: fi}, nil
}

// Remove deletes the socket file if it is still the one Own recorded, and
// reports whether it did.
func (s *SocketFile) Remove() bool {
	fi, err := os.Lstat(s.path)
	if err != nil || !os.SameFile(fi, s.fi) {
		return false
	}
	return os.Remove(s.path) == nil
}

// TakeoverOldPath is where ListenTakeover leaves the old daemon's socket.
func TakeoverOldPath(path string) string { return path + ".old" }

// ListenTakeover binds a new control socket at path in place of a running
// daemon's, with no moment at which path is missing: it binds a temporary
// name, links the old socket file to TakeoverOldPath(path) (through which
// the old daemon stays reachable) and renames the new one over path. The
// caller removes TakeoverOldPath(path) once the old daemon is gone.
func ListenTakeover(path string) (net.Listener, error) {
	old := TakeoverOldPath(path)
	if err := os.Remove(old); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("control: removing %s left by an earlier takeover: %w", old, err)
	}
	if err := os.Link(path, old); err != nil {
		return nil, fmt.Errorf("control: keeping the old daemon's socket reachable: %w", err)
	}
	tmp := path + ".new." + strconv.Itoa(os.Getpid())
	os.Remove(tmp)
	ln, err := listenPrivate(tmp)
	if err != nil {
		os.Remove(old)
		return nil, fmt.Errorf("control: %w", err)
	}
	if ul, ok := ln.(*net.UnixListener); ok {
		ul.SetUnlinkOnClose(false)
	}
	err = os.Chmod(tmp, 0o600)
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		ln.Close()
		os.Remove(tmp)
		os.Remove(old)
		return nil, fmt.Errorf("control: %w", err)
	}
	return ln, nil
}

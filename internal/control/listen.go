package control

import (
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"time"
)

// ErrAlreadyRunning is wrapped by Listen's error when a daemon answers on the socket.
var ErrAlreadyRunning = errors.New("a govs daemon is already running")

// Listen creates the control socket at path, readable and writable by its
// owner only (mode 0600). A socket file left by a daemon that died is
// removed; one on which a daemon still answers is left alone and Listen
// fails with ErrAlreadyRunning. A file there that is not a socket is
// never removed.
func Listen(path string) (net.Listener, error) {
	fi, err := os.Lstat(path)
	switch {
	case err == nil:
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("control: %s exists and is not a socket; not removing it", path)
		}
		c, derr := net.DialTimeout("unix", path, 2*time.Second)
		if derr == nil {
			c.Close()
			return nil, fmt.Errorf("control: %w: %s answers", ErrAlreadyRunning, path)
		}
		if !errors.Is(derr, syscall.ECONNREFUSED) {
			return nil, fmt.Errorf("control: checking for a daemon on %s: %w", path, derr)
		}
		// Stale: nobody listens. Remove it so that bind can succeed.
		if rerr := os.Remove(path); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
			return nil, fmt.Errorf("control: removing stale socket: %w", rerr)
		}
	case !errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("control: %w", err)
	}
	ln, err := listenPrivate(path)
	if err != nil {
		return nil, fmt.Errorf("control: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("control: %w", err)
	}
	return ln, nil
}

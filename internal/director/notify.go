package director

import (
	"fmt"
	"net"
	"os"
	"time"
)

// The service manager's notification protocol (sd_notify(3)), enough of it
// for dist/govs.service's Type=notify: systemd puts the path of a datagram
// socket in $NOTIFY_SOCKET and waits for "READY=1" before it calls the
// unit started (and before units ordered after govs start). A path that
// starts with "@" is in the abstract namespace; the net package maps the
// "@" to the leading NUL itself. Without $NOTIFY_SOCKET (not started by
// systemd, or Type=simple) every notification does nothing.
//
// systemd accepts messages only from the unit's main process by default
// (NotifyAccess=main), so children that inherit the variable (health-check
// programs) cannot speak for govs; the variable is therefore left set.

// notifyTimeout bounds one notification: the socket is local, and a
// manager that does not read it must not hold up the daemon.
const notifyTimeout = time.Second

// notifyReady tells systemd that the daemon serves: the control socket is
// listening and the workers run. Call it once, after both.
func notifyReady() error { return sdNotify(os.Getenv("NOTIFY_SOCKET"), "READY=1") }

// notifyStopping tells systemd that the daemon has begun to shut down.
func notifyStopping() error { return sdNotify(os.Getenv("NOTIFY_SOCKET"), "STOPPING=1") }

// sdNotify sends state (newline-separated VAR=value assignments) in one
// datagram to socket. An empty socket is not an error: nobody asked.
func sdNotify(socket, state string) error {
	if socket == "" {
		return nil
	}
	if socket[0] != '/' && socket[0] != '@' {
		return fmt.Errorf("notify service manager: NOTIFY_SOCKET=%q is not a unix socket path", socket)
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: socket, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("notify service manager: %w", err)
	}
	defer c.Close()
	if err := c.SetWriteDeadline(time.Now().Add(notifyTimeout)); err != nil {
		return fmt.Errorf("notify service manager: %w", err)
	}
	if _, err := c.Write([]byte(state)); err != nil {
		return fmt.Errorf("notify service manager: %w", err)
	}
	return nil
}

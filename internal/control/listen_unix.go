//go:build unix

package control

import (
	"net"
	"sync"
	"syscall"
)

// umaskMu serialises this package's umask changes; the umask is
// per-process, so the socket never exists with wider permissions.
var umaskMu sync.Mutex

func listenPrivate(path string) (net.Listener, error) {
	umaskMu.Lock()
	defer umaskMu.Unlock()
	old := syscall.Umask(0o177)
	defer syscall.Umask(old)
	return net.Listen("unix", path)
}

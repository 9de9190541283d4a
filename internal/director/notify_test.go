package director

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/govs-lb/govs/internal/testenv"
)

// fakeManager listens where systemd would and returns what one datagram said.
func fakeManager(t *testing.T, name string) func() string {
	t.Helper()
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		testenv.Skip(t, "cannot listen on a unixgram socket here: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return func() string {
		t.Helper()
		if err := c.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 4096)
		n, _, err := c.ReadFromUnix(buf)
		if err != nil {
			t.Fatalf("fake NOTIFY_SOCKET got nothing: %v", err)
		}
		return string(buf[:n])
	}
}

func TestNotifyReadyAndStopping(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "notify")
	recv := fakeManager(t, sock)
	t.Setenv("NOTIFY_SOCKET", sock)
	if err := notifyReady(); err != nil {
		t.Fatalf("notifyReady: %v", err)
	}
	if got := recv(); got != "READY=1" {
		t.Errorf("notifyReady sent %q, want %q", got, "READY=1")
	}
	if err := notifyStopping(); err != nil {
		t.Fatalf("notifyStopping: %v", err)
	}
	if got := recv(); got != "STOPPING=1" {
		t.Errorf("notifyStopping sent %q, want %q", got, "STOPPING=1")
	}
}

func TestNotifyAbstractSocket(t *testing.T) {
	if runtime.GOOS != "linux" {
		testenv.Skip(t, "abstract unix sockets are Linux-only")
	}
	name := fmt.Sprintf("@govs-notify-test-%d-%d", os.Getpid(), time.Now().UnixNano())
	recv := fakeManager(t, name)
	t.Setenv("NOTIFY_SOCKET", name)
	if err := notifyReady(); err != nil {
		t.Fatalf("notifyReady to %s: %v", name, err)
	}
	if got := recv(); got != "READY=1" {
		t.Errorf("sent %q, want READY=1", got)
	}
}

func TestNotifyWithoutManager(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	if err := notifyReady(); err != nil {
		t.Errorf("notifyReady without NOTIFY_SOCKET: %v, want nil (nothing to do)", err)
	}
	for _, bad := range []string{"relative/path", "vsock:2:1234"} {
		if err := sdNotify(bad, "READY=1"); err == nil || !strings.Contains(err.Error(), "NOTIFY_SOCKET") {
			t.Errorf("sdNotify(%q) = %v, want an error naming NOTIFY_SOCKET", bad, err)
		}
	}
	missing := filepath.Join(t.TempDir(), "gone")
	if err := sdNotify(missing, "READY=1"); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("sdNotify to a missing socket = %v, want an error naming %s", err, missing)
	}
}

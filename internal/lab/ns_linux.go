package lab

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"golang.org/x/sys/unix"
)

var errUnsupported = fmt.Errorf("network namespaces not supported on %s", runtime.GOOS)

// Do runs f on a fresh OS thread switched into h's namespace and returns its
// error. Sockets, netlink handles and /proc/sys files that f opens belong to
// h; goroutines that f starts do not (they run on other threads), but they
// may use what f opened. f must not start work that outlives it on its own
// thread. The thread is never unlocked: it ends with the goroutine, so no
// other goroutine is ever scheduled on a thread left inside h. A panic in f
// is re-raised in the caller.
func (h *Host) Do(f func() error) error {
	type result struct {
		err   error
		panic any
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		// No UnlockOSThread: the thread dies with this goroutine.
		var r result
		defer func() {
			if p := recover(); p != nil {
				r.panic = p
			}
			done <- r
		}()
		if r.err = setns(filepath.Join(NetnsDir, h.NS)); r.err != nil {
			r.err = fmt.Errorf("%v: %w", h, r.err)
			return
		}
		r.err = f()
	}()
	r := <-done
	if r.panic != nil {
		panic(r.panic)
	}
	return r.err
}

func setns(nsPath string) error {
	fd, err := unix.Open(nsPath, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: nsPath, Err: err}
	}
	defer unix.Close(fd)
	if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
		return os.NewSyscallError("setns", err)
	}
	return nil
}

// probe reports whether this process may create network namespaces, by
// unsharing one on a throwaway locked thread.
func probe() error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// No UnlockOSThread: the thread, possibly in a new namespace, dies.
		done <- os.NewSyscallError("unshare(CLONE_NEWNET)", unix.Unshare(unix.CLONE_NEWNET))
	}()
	return <-done
}

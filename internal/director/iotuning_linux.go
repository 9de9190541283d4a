//go:build linux

package director

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// ApplyThread sets the calling thread's scheduling as t.Prio asks. Call it
// from a goroutine locked to its thread (runtime.LockOSThread). With "fifo"
// it falls back to nice -20 where SCHED_FIFO is not permitted; the error
// says what could not be done and is only worth a log line.
func (t IOTuning) ApplyThread() error {
	switch t.Prio {
	case "none":
		return nil
	case "fifo":
		attr := unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_FIFO, Priority: 1}
		if err := unix.SchedSetAttr(0, &attr, 0); err == nil {
			return nil
		} else if nerr := unix.Setpriority(unix.PRIO_PROCESS, 0, -20); nerr != nil {
			return fmt.Errorf("worker priority: SCHED_FIFO: %v; nice -20: %v", err, nerr)
		}
		return nil
	}
	// Per thread on Linux. Not permitted without CAP_SYS_NICE: keep going.
	if err := unix.Setpriority(unix.PRIO_PROCESS, 0, -20); err != nil {
		return fmt.Errorf("worker priority: nice -20: %w", err)
	}
	return nil
}

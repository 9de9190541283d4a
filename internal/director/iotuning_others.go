//go:build !linux

package director

// ApplyThread does nothing where there are no per-thread priorities.
func (t IOTuning) ApplyThread() error { return nil }

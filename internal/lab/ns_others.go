//go:build !linux

package lab

import (
	"fmt"
	"runtime"
)

var errUnsupported = fmt.Errorf("network namespaces not supported on %s", runtime.GOOS)

// Do reports that namespaces are not implemented on this GOOS.
func (h *Host) Do(f func() error) error {
	return fmt.Errorf("%v: %w", h, errUnsupported)
}

func probe() error { return errUnsupported }

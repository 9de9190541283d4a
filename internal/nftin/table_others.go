//go:build !linux

package nftin

import (
	"fmt"
	"runtime"
)

// Table is implemented on Linux only.
type Table struct{}

// Install returns an error on this platform.
func Install(ifaces []string, rules Rules) (*Table, error) {
	return nil, fmt.Errorf("nftin: not implemented on %s", runtime.GOOS)
}

func (t *Table) Update(rules Rules) error {
	return fmt.Errorf("nftin: not implemented on %s", runtime.GOOS)
}
func (t *Table) Remove() error { return nil }

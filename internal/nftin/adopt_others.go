//go:build !linux

package nftin

import (
	"fmt"
	"runtime"
)

// ErrNotExist is returned (wrapped) by Adopt when there is no govs table.
var ErrNotExist = fmt.Errorf("nftables table netdev %s does not exist: no govs to take over from", TableName)

// Adopt returns an error on this platform.
func Adopt(ifaces []string, rules Rules) (*Table, error) {
	return nil, fmt.Errorf("nftin: not implemented on %s", runtime.GOOS)
}

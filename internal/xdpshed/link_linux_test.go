//go:build linux

package xdpshed

import (
	"testing"

	"github.com/vishvananda/netlink"
)

// linkXDP reports whether the interface carries an XDP program.
func linkXDP(t *testing.T, idx int) bool {
	t.Helper()
	l, err := netlink.LinkByIndex(idx)
	if err != nil {
		t.Fatal(err)
	}
	x := l.Attrs().Xdp
	return x != nil && x.Attached
}

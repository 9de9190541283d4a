//go:build linux

package arp

import "github.com/govs-lb/govs/internal/netnstest"

// The namespace helpers live in internal/netnstest, shared with other packages.
var (
	newNS    = netnstest.NewNS
	ipc      = netnstest.IP
	vethPair = netnstest.VethPair
	mustInNS = netnstest.MustInNS
)

//go:build !linux

package arp

import (
	"fmt"
	"net"
	"runtime"
)

// Listen is implemented on Linux only.
func Listen(ifi *net.Interface, cfg AnnouncerConfig) (*Announcer, error) {
	return nil, fmt.Errorf("arp: Listen not implemented on %s", runtime.GOOS)
}

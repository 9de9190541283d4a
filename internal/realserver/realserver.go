package realserver

import (
	"errors"
	"fmt"
	"net/netip"
)

// DefaultTunName is the TUN device Run creates when Config.TunName is "".
const DefaultTunName = "govstun0"

// Config is what "govs realserver" was asked to do.
type Config struct {
	Iface   string       // interface facing the director; "" sets the ARP sysctls on "all" only
	VIPs    []netip.Addr // virtual IPs served here, IPv4
	Tun     bool         // decapsulate IPIP in user space (kernels without the ipip module)
	TunName string       // TUN device name; "" means DefaultTunName

	// Stats, if not nil, counts the decapsulated packets by verdict.
	Stats *Stats
	// Ready, if not nil, is called once everything is set up and packets
	// are being handled (for tests and service managers).
	Ready func()
}

func (c *Config) validate() error {
	if len(c.VIPs) == 0 {
		return errors.New("realserver: no VIPs")
	}
	for _, v := range c.VIPs {
		if !v.Is4() || v.IsUnspecified() || v.IsMulticast() || v.IsLoopback() {
			return fmt.Errorf("realserver: VIP %v: want a unicast IPv4 address", v)
		}
	}
	if c.TunName == "" {
		c.TunName = DefaultTunName
	}
	if len(c.TunName) > 15 {
		return fmt.Errorf("realserver: TUN name %q longer than 15 characters", c.TunName)
	}
	return nil
}

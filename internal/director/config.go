package director

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/govs-lb/govs/localnode"
)

// Config is what `govs run` is told on its command line (cli.ParseRunFlags).
type Config struct {
	Ifaces       []string      // -i, capture and forwarding interfaces
	Socket       string        // control socket path
	Workers      int           // workers per interface
	MaxConns     int           // connection-table limit
	Role         string        // "master" or "backup"
	GARPCount    int           // gratuitous ARPs per VIP on becoming master
	GARPInterval time.Duration // between rounds of gratuitous ARPs
	Tap          string        // LocalNode tap device name
	LogLevel     string
	Metrics      string   // --metrics ADDR: serve Prometheus metrics ("" off; no host = 127.0.0.1)
	ConfigFile   string   // --config: keepalived.conf (its virtual_server blocks)
	Check        bool     // --check: validate ConfigFile and exit
	Takeover     bool     // --takeover: take over from the govs running on Socket (takeover.go)
	Shed         string   // --shed: "xdp" (XDP load shedding when workers fall behind) or "off"
	IO           IOTuning // $GOVS_IO_TUNING: the capture engine's settings
}

// Role names.
const (
	RoleMaster = "master"
	RoleBackup = "backup"
)

// Validate checks a Config without touching the system.
func (c *Config) Validate() error {
	if len(c.Ifaces) == 0 {
		return errors.New("govs run: at least one -i IFACE is required")
	}
	seen := map[string]bool{}
	for _, i := range c.Ifaces {
		if i == "" || len(i) > 15 || strings.ContainsAny(i, "/ \t") {
			return fmt.Errorf("govs run: -i %q: not a valid interface name", i)
		}
		if seen[i] {
			return fmt.Errorf("govs run: -i %s given twice", i)
		}
		seen[i] = true
	}
	if c.Workers < 1 || c.Workers > 64 {
		return fmt.Errorf("govs run: --workers %d out of range (1..64)", c.Workers)
	}
	if c.Shed != "" && c.Shed != "xdp" && c.Shed != "off" {
		return fmt.Errorf("govs run: --shed %q (want xdp or off)", c.Shed)
	}
	if c.MaxConns < 1 {
		return fmt.Errorf("govs run: --max-conns %d must be positive", c.MaxConns)
	}
	if c.Role != RoleMaster && c.Role != RoleBackup {
		return fmt.Errorf("govs run: --role %q (want master or backup)", c.Role)
	}
	if c.GARPCount < 0 || c.GARPCount > 1000 {
		return fmt.Errorf("govs run: --garp-count %d out of range (0..1000)", c.GARPCount)
	}
	if c.GARPInterval < 10*time.Millisecond {
		return fmt.Errorf("govs run: --garp-interval %v too short (at least 10ms)", c.GARPInterval)
	}
	if c.Tap == "" {
		c.Tap = localnode.DefaultName
	}
	if err := localnode.ValidName(c.Tap); err != nil || seen[c.Tap] {
		return fmt.Errorf("govs run: --tap %q: not a valid interface name for the tap (nor one of -i)", c.Tap)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("govs run: --log-level %q (want debug, info, warn or error)", c.LogLevel)
	}
	return nil
}

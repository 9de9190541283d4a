package director

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/govs-lb/govs/internal/control"
	"github.com/govs-lb/govs/localnode"
)

// Config is what `govs run` is told on its command line.
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
	Metrics      string // --metrics ADDR: serve Prometheus metrics ("" off; no host = 127.0.0.1)
	ConfigFile   string // --config: keepalived.conf (its virtual_server blocks)
	Check        bool   // --check: validate ConfigFile and exit
	Takeover     bool   // --takeover: take over from the govs running on Socket (takeover.go)
	Shed         string // --shed: "xdp" (XDP load shedding when workers fall behind) or "off"
}

// Role names.
const (
	RoleMaster = "master"
	RoleBackup = "backup"
)

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// ParseFlags parses the arguments of `govs run` (after "run"). getenv may be
// nil. Errors name the offending flag; usage goes to out on -h.
func ParseFlags(args []string, getenv func(string) string, out io.Writer) (Config, error) {
	var c Config
	var ifaces listFlag
	fs := flag.NewFlagSet("govs run", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Var(&ifaces, "i", "interface to capture and forward on (repeatable)")
	fs.Var(&ifaces, "iface", "same as -i")
	fs.StringVar(&c.Socket, "socket", "", "control socket (default $GOVS_SOCKET or "+control.DefaultSocket+")")
	fs.IntVar(&c.Workers, "workers", 1, "dataplane workers per interface")
	fs.IntVar(&c.MaxConns, "max-conns", 1<<20, "connection-table limit; new connections beyond it are dropped")
	fs.StringVar(&c.Role, "role", RoleMaster, "master (answers ARP for VIPs) or backup")
	fs.IntVar(&c.GARPCount, "garp-count", 5, "gratuitous ARPs sent per VIP on becoming master (0: none)")
	fs.DurationVar(&c.GARPInterval, "garp-interval", time.Second, "time between rounds of gratuitous ARPs")
	fs.StringVar(&c.LogLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&c.ConfigFile, "config", "", "keepalived.conf to run from (its virtual_server blocks; SIGHUP or govs reload re-reads it)")
	fs.BoolVar(&c.Check, "check", false, "validate --config FILE and exit (needs neither -i nor root)")
	fs.BoolVar(&c.Takeover, "takeover", false, "take over from the govs running on the same interfaces and socket: its configuration, connections and forwarding (graceful restart)")
	fs.StringVar(&c.Metrics, "metrics", "", "serve Prometheus metrics on ADDR (e.g. :9100, bound to 127.0.0.1 unless a host is given)")
	fs.StringVar(&c.Shed, "shed", "xdp", "load shedding when the workers fall behind: xdp (an XDP program drops excess VIP traffic before the kernel's receive path) or off")
	fs.StringVar(&c.Tap, "tap", localnode.DefaultName, "tap device through which local realservers (LocalNode) get their traffic")
	fs.Usage = func() {
		fmt.Fprintln(out, "Usage: govs run -i IFACE [-i IFACE...] [--socket PATH] [--workers N] [options]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("govs run: unexpected argument %q", fs.Arg(0))
	}
	c.Ifaces = ifaces
	c.Socket = control.SocketPath(c.Socket, getenv)
	if c.Check {
		if c.ConfigFile == "" {
			return c, errors.New("govs run: --check needs --config FILE")
		}
		return c, nil
	}
	return c, c.Validate()
}

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

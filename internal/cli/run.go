package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/govs-lb/govs/internal/control"
	"github.com/govs-lb/govs/internal/director"
	"github.com/govs-lb/govs/localnode"
)

// RunCommand is `govs run`: it parses args and runs the daemon
// (director.Serve) until ctx is done, or checks a configuration file
// (--check).
func RunCommand(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	cfg, err := ParseRunFlags(args, os.Getenv, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError(err)
	}
	if cfg.Check {
		return director.Check(cfg.ConfigFile, stdout, stderr)
	}
	log := newLogger(stderr, cfg.LogLevel)
	if err := director.Serve(ctx, cfg, log); err != nil {
		log.Error("govs run failed", "err", err)
		return fmt.Errorf("govs run: %w", err)
	}
	return nil
}

func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l}))
}

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// ParseRunFlags parses the arguments of `govs run` (after "run"). getenv
// may be nil. Errors name the offending flag; usage goes to out on -h.
func ParseRunFlags(args []string, getenv func(string) string, out io.Writer) (director.Config, error) {
	var c director.Config
	var ifaces listFlag
	fs := flag.NewFlagSet("govs run", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Var(&ifaces, "i", "interface to capture and forward on (repeatable)")
	fs.Var(&ifaces, "iface", "same as -i")
	fs.StringVar(&c.Socket, "socket", "", "control socket (default $GOVS_SOCKET or "+control.DefaultSocket+")")
	fs.IntVar(&c.Workers, "workers", 1, "dataplane workers per interface")
	fs.IntVar(&c.MaxConns, "max-conns", 1<<20, "connection-table limit; new connections beyond it are dropped")
	fs.StringVar(&c.Role, "role", director.RoleMaster, "master (answers ARP for VIPs) or backup")
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
	if getenv != nil {
		var err error
		if c.IO, err = director.ParseIOTuning(getenv(director.EnvIOTuning)); err != nil {
			return c, fmt.Errorf("govs run: %w", err)
		}
	}
	if c.Check {
		if c.ConfigFile == "" {
			return c, errors.New("govs run: --check needs --config FILE")
		}
		return c, nil
	}
	return c, c.Validate()
}

package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"

	"github.com/govs-lb/govs/bench"
	"github.com/govs-lb/govs/internal/cli"
	"github.com/govs-lb/govs/internal/director"
	"github.com/govs-lb/govs/internal/realserver"
)

// registerSubcommands plugs each subcommand's package into the CLI. A
// Handler gets the arguments after its name and returns the exit status.
func registerSubcommands(app *cli.App) {
	director.Version = version
	app.RegisterSubcommand("run", cli.RunCommand)
	app.RegisterSubcommand("role", cli.RoleCommand)
	app.RegisterSubcommand("reload", cli.ReloadCommand)
	app.Register("realserver", runRealserver)
	app.Register("bench", bench.Run)
}

type vipList []netip.Addr

func (v *vipList) String() string { return fmt.Sprint(*v) }
func (v *vipList) Set(s string) error {
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		return fmt.Errorf("%q is not an IPv4 address", s)
	}
	*v = append(*v, a)
	return nil
}

// runRealserver is `govs realserver -i IFACE --vip VIP [--vip VIP...] [--tun]`.
func runRealserver(ctx context.Context, args []string, _ io.Reader, _, stderr io.Writer) int {
	var cfg realserver.Config
	var vips vipList
	fs := flag.NewFlagSet("govs realserver", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.Iface, "i", "", "interface facing the director")
	fs.StringVar(&cfg.Iface, "iface", "", "same as -i")
	fs.Var(&vips, "vip", "virtual IP served here (repeatable)")
	fs.BoolVar(&cfg.Tun, "tun", false, "decapsulate IPIP in user space (LVS-TUN)")
	fs.StringVar(&cfg.TunName, "tun-name", "", "name of the TUN device for --tun")
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "govs realserver: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if len(vips) == 0 {
		fmt.Fprintln(stderr, "govs realserver: at least one --vip VIP is required")
		return 2
	}
	cfg.VIPs = vips
	log := slog.New(slog.NewTextHandler(stderr, nil))
	if err := realserver.Run(ctx, cfg, log); err != nil {
		fmt.Fprintln(stderr, "govs realserver:", err)
		return 1
	}
	return 0
}

package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"

	"github.com/govs-lb/govs/internal/realserver"
)

// vipList is the repeatable --vip flag of govs realserver.
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

// ParseRealserverFlags parses the arguments of `govs realserver`.
func ParseRealserverFlags(args []string, stderr io.Writer) (realserver.Config, error) {
	const name = "govs realserver"
	var cfg realserver.Config
	var vips vipList
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.Iface, "i", "", "interface facing the director")
	fs.StringVar(&cfg.Iface, "iface", "", "same as -i")
	fs.Var(&vips, "vip", "virtual IP served here (repeatable)")
	fs.BoolVar(&cfg.Tun, "tun", false, "decapsulate IPIP in user space (LVS-TUN)")
	fs.StringVar(&cfg.TunName, "tun-name", "", "name of the TUN device for --tun")
	if err := parseFlags(fs, args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, usageError(fmt.Errorf("%s: unexpected argument %q", name, fs.Arg(0)))
	}
	if len(vips) == 0 {
		return cfg, usageError(fmt.Errorf("%s: at least one --vip VIP is required", name))
	}
	cfg.VIPs = vips
	return cfg, nil
}

// RealserverCommand is `govs realserver -i IFACE --vip VIP [--vip VIP...]
// [--tun]`: it prepares this host as a DR/TUN realserver until ctx is done.
func RealserverCommand(ctx context.Context, args []string, _ io.Reader, _, stderr io.Writer) error {
	cfg, err := ParseRealserverFlags(args, stderr)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	if err := realserver.Run(ctx, cfg, log); err != nil {
		return fmt.Errorf("govs realserver: %w", err)
	}
	return nil
}

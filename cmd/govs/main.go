// Command govs is a userspace L4 load balancer that replicates Linux IPVS.
// Without a subcommand it takes ipvsadm's command line (govs -A -t
// 198.51.100.1:80 -s rr, govs -Ln, ...) and talks to the daemon over its
// control socket; "govs run" is the daemon.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/govs-lb/govs/internal/cli"
)

// version is set at build time: -ldflags "-X main.version=v0.1.0".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	app := cli.New("govs", version)
	registerSubcommands(app)
	code := app.Run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

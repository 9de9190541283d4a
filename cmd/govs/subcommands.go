package main

import (
	"github.com/govs-lb/govs/bench"
	"github.com/govs-lb/govs/internal/cli"
	"github.com/govs-lb/govs/internal/director"
)

// registerSubcommands plugs each subcommand's package into the CLI. A
// Handler gets the arguments after its name and returns the exit status.
func registerSubcommands(app *cli.App) {
	director.Version = version
	app.RegisterSubcommand("run", cli.RunCommand)
	app.RegisterSubcommand("role", cli.RoleCommand)
	app.RegisterSubcommand("reload", cli.ReloadCommand)
	app.RegisterSubcommand("realserver", cli.RealserverCommand)
	app.Register("bench", bench.Run)
}

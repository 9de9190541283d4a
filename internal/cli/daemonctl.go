package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/govs-lb/govs/internal/control"
)

// Commands that ask the running daemon for one thing over its control
// socket: `govs role` and `govs reload`.

// daemonCommand parses the flags of a command that talks to the daemon:
// --socket and at most maxArgs arguments. It returns the arguments and a
// client of the daemon's control socket.
func daemonCommand(name, usage string, maxArgs int, args []string, stderr io.Writer) ([]string, *control.Client, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	socket := fs.String("socket", "", "control socket (default $GOVS_SOCKET or "+control.DefaultSocket+")")
	if usage != "" {
		fs.Usage = func() {
			fmt.Fprintln(stderr, "Usage:", usage)
			fs.PrintDefaults()
		}
	}
	if err := parseFlags(fs, args); err != nil {
		return nil, nil, err
	}
	if fs.NArg() > maxArgs {
		return nil, nil, usageError(fmt.Errorf("%s: unexpected argument %q", name, fs.Arg(maxArgs)))
	}
	return fs.Args(), control.NewClient(control.SocketPath(*socket, os.Getenv)), nil
}

// RoleCommand is `govs role [--socket PATH] [master|backup]`: without an
// argument it prints the daemon's role, with one it switches to it (what a
// VRRP daemon's notify script calls).
func RoleCommand(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	const name = "govs role"
	rest, c, err := daemonCommand(name, "govs role [--socket PATH] [master|backup]", 1, args, stderr)
	if err != nil {
		return err
	}
	defer c.Close()
	var role string
	if len(rest) == 1 {
		role = rest[0]
		if err := (control.RoleSpec{Role: role}).Validate(); err != nil {
			return usageError(fmt.Errorf("%s: %w", name, err))
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if role == "" {
		r, err := c.Role(ctx)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		fmt.Fprintln(stdout, r)
		return nil
	}
	if err := c.SetRole(ctx, role); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// ReloadCommand is `govs reload`: the daemon re-reads its configuration
// file; a parse error is printed and the exit status is non-zero.
func ReloadCommand(ctx context.Context, args []string, _ io.Reader, _, stderr io.Writer) error {
	const name = "govs reload"
	_, c, err := daemonCommand(name, "", 0, args, stderr)
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := c.Reload(ctx); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

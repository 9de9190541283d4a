// Package cli is govs's command line: ipvsadm's syntax and output, so that
// scripts written for ipvsadm work by renaming the command, plus the govs
// subcommands (run, realserver, ...) that other packages register.
//
// Parse turns an ipvsadm command line into a Command; the App runs it
// against the daemon through control.Client and prints what ipvsadm prints.
// Exit status: 0 on success, 2 for a command line that cannot be right
// (nothing is sent to the daemon), 1 when the daemon refuses or cannot be
// reached. Every failure is one line on stderr.
package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/govs-lb/govs/internal/control"
)

// Handler runs a subcommand with the arguments after its name and returns the exit status.
type Handler func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int

// Subcommands govs knows by name; each is registered by the package that
// implements it, and an unregistered one says so instead of being parsed
// as an ipvsadm argument.
var knownSubcommands = []string{"run", "realserver", "bench", "role", "reload", "help"}

// App is the govs command: its name and version and the subcommands registered on it.
type App struct {
	Name    string              // program name in messages, "govs"
	Version string              // govs's version, for -v
	Getenv  func(string) string // for GOVS_SOCKET; os.Getenv when nil
	subs    map[string]Handler
}

// New returns an App with no subcommands.
func New(name, version string) *App {
	return &App{Name: name, Version: version, subs: map[string]Handler{}}
}

// Register makes "NAME args..." call h. Registering a name twice panics.
func (a *App) Register(name string, h Handler) {
	if _, dup := a.subs[name]; dup {
		panic("cli: subcommand " + name + " registered twice")
	}
	if a.subs == nil {
		a.subs = map[string]Handler{}
	}
	a.subs[name] = h
}

// Run runs one command line (without the program name) and returns its exit status.
func (a *App) Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		if h, ok := a.subs[args[0]]; ok {
			return h(ctx, args[1:], stdin, stdout, stderr)
		}
		if args[0] == "help" {
			return a.help(args[1:], stdout, stderr)
		}
		if slices.Contains(knownSubcommands, args[0]) {
			fmt.Fprintf(stderr, "%s: subcommand %q is not available in this build\n", a.Name, args[0])
			return 2
		}
	}
	cmd, err := Parse(args)
	if err != nil {
		return a.fail(stderr, err)
	}
	switch cmd.Kind {
	case CmdHelp:
		a.usage(stdout)
		return 0
	case CmdVersion:
		fmt.Fprintf(stdout, "%s %s (ipvsadm v1.31 compatible, IPVS v1.2.1)\n", a.Name, a.Version)
		return 0
	}
	getenv := a.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	c := control.NewClient(control.SocketPath(cmd.Socket, getenv))
	defer c.Close()
	if cmd.Kind == CmdRestore {
		return a.restore(ctx, c, stdin, stderr)
	}
	var out strings.Builder // print nothing if the daemon fails halfway
	if err := a.exec(ctx, c, cmd, &out); err != nil {
		return a.fail(stderr, err)
	}
	if _, err := io.WriteString(stdout, out.String()); err != nil {
		return a.fail(stderr, err)
	}
	return 0
}

// fail prints err as one line and returns the exit status for it. Usage
// errors and the daemon's refusals are printed as ipvsadm prints them,
// bare; anything else is prefixed with the program name.
func (a *App) fail(stderr io.Writer, err error) int {
	var ue *UsageError
	var ce *control.Error
	switch {
	case errors.As(err, &ue):
		fmt.Fprintln(stderr, oneLine(ue.Msg))
		return 2
	case errors.As(err, &ce):
		fmt.Fprintln(stderr, oneLine(ce.Message))
		return 1
	}
	fmt.Fprintf(stderr, "%s: %s\n", a.Name, oneLine(err.Error()))
	return 1
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// exec runs every command but -R, -h and -v.
func (a *App) exec(ctx context.Context, c *control.Client, cmd Command, out io.Writer) error {
	key := cmd.Service.ServiceKey
	switch cmd.Kind {
	case CmdAdd:
		return c.AddService(ctx, cmd.Service)
	case CmdEdit:
		return c.EditService(ctx, cmd.Service)
	case CmdDel:
		return c.DelService(ctx, key)
	case CmdFlush:
		return c.Clear(ctx)
	case CmdAddDest:
		return c.AddDest(ctx, key, cmd.Dest)
	case CmdEditDest:
		return c.EditDest(ctx, key, cmd.Dest)
	case CmdDelDest:
		return c.DelDest(ctx, key, cmd.Dest.Key())
	case CmdSet:
		return c.SetTimeouts(ctx, cmd.Timeouts)
	case CmdZero:
		if cmd.HasService {
			return c.Zero(ctx, &key)
		}
		return c.Zero(ctx, nil)
	case CmdSave:
		svcs, err := c.Services(ctx)
		if err != nil {
			return err
		}
		printAll(out, control.Info{}, svcs, cmd.Format)
		return nil
	case CmdList:
		return a.list(ctx, c, cmd, out)
	}
	return fmt.Errorf("command %v not implemented", cmd.Kind)
}

func (a *App) list(ctx context.Context, c *control.Client, cmd Command, out io.Writer) error {
	js := cmd.Format&FmtJSON != 0
	switch {
	case cmd.Conns:
		conns, err := c.Conns(ctx)
		if err != nil {
			return err
		}
		if js {
			return writeJSON(out, conns)
		}
		printConns(out, conns, cmd.Format)
	case cmd.HasService:
		s, err := c.Service(ctx, cmd.Service.ServiceKey)
		if err != nil {
			return err
		}
		if js {
			return writeJSON(out, s)
		}
		printOne(out, s, cmd.Format)
	case cmd.Timeout:
		t, err := c.Timeouts(ctx)
		if err != nil {
			return err
		}
		if js {
			return writeJSON(out, t)
		}
		printTimeouts(out, t)
	default:
		svcs, err := c.Services(ctx)
		if err != nil {
			return err
		}
		if js {
			return writeJSON(out, svcs)
		}
		info, err := c.Info(ctx)
		if err != nil {
			return err
		}
		printAll(out, info, svcs, cmd.Format)
	}
	return nil
}

// restoreOps are the commands that -R accepts and the restore step of each.
var restoreOps = map[Kind]control.OpKind{
	CmdAdd:      control.OpAddService,
	CmdEdit:     control.OpEditService,
	CmdDel:      control.OpDelService,
	CmdAddDest:  control.OpAddDest,
	CmdEditDest: control.OpEditDest,
	CmdDelDest:  control.OpDelDest,
	CmdFlush:    control.OpClear,
	CmdZero:     control.OpZero,
	CmdSet:      control.OpSetTimeouts,
}

// ParseRestore reads ipvsadm -R input: one ipvsadm command line per line,
// with or without a leading "ipvsadm" (or "govs"), blank lines and
// "#" comments skipped. Only commands that change the table (-A -E -D -a
// -e -d -C -Z --set) are allowed. An error names the line.
func ParseRestore(r io.Reader) ([]control.Op, []int, error) {
	var ops []control.Op
	var lines []int
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		words := strings.Fields(line)
		words = slices.DeleteFunc(words, func(w string) bool { return w == "ipvsadm" || w == "govs" })
		if len(words) == 0 {
			continue
		}
		cmd, err := Parse(words)
		if err != nil {
			return nil, nil, usagef("line %d: %v", n, err)
		}
		kind, ok := restoreOps[cmd.Kind]
		if !ok {
			return nil, nil, usagef("line %d: the '%v' command cannot be restored", n, cmd.Kind)
		}
		op := control.Op{Kind: kind, Service: cmd.Service, Dest: cmd.Dest, Timeouts: cmd.Timeouts}
		if cmd.Socket != "" {
			return nil, nil, usagef("line %d: --socket is not allowed in restore input", n)
		}
		ops = append(ops, op)
		lines = append(lines, n)
	}
	if err := sc.Err(); err != nil {
		return nil, nil, fmt.Errorf("reading restore input: %w", err)
	}
	return ops, lines, nil
}

// restore is -R: parse all of stdin, then apply it in one Restore.
func (a *App) restore(ctx context.Context, c *control.Client, stdin io.Reader, stderr io.Writer) int {
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	ops, lines, err := ParseRestore(stdin)
	if err != nil {
		return a.fail(stderr, err)
	}
	if err := c.Restore(ctx, ops); err != nil {
		var ce *control.Error
		if errors.As(err, &ce) && ce.Op >= 1 && ce.Op <= len(lines) {
			fmt.Fprintf(stderr, "line %d: %s\n", lines[ce.Op-1], oneLine(ce.Message))
			return 1
		}
		return a.fail(stderr, err)
	}
	return 0
}

package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
)

// Subcommand is a subcommand that reports failure as an error: the App maps
// it to the exit status (exitStatus), so that one place decides them all.
type Subcommand func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error

// ExitError is a failure with the exit status it calls for. Err, when not
// nil, is printed on stderr as it is; nil means it has been reported
// already (package flag prints its own errors).
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit status %d", e.Code)
	}
	return e.Err.Error()
}

func (e *ExitError) Unwrap() error { return e.Err }

// usageError is a command line that cannot be right: exit status 2.
func usageError(err error) error { return &ExitError{Code: 2, Err: err} }

// RegisterSubcommand makes "NAME args..." call c, as Register does for a
// Handler.
func (a *App) RegisterSubcommand(name string, c Subcommand) {
	a.Register(name, func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
		return exitStatus(c(ctx, args, stdin, stdout, stderr), stderr)
	})
}

// exitStatus is the exit status of a Subcommand's error, which it prints:
// 0 for success and for -h (flag.ErrHelp, usage printed already), an
// ExitError's own code, 1 for anything else.
func exitStatus(err error, stderr io.Writer) int {
	var ee *ExitError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ee):
		if ee.Err != nil {
			fmt.Fprintln(stderr, ee.Err)
		}
		return ee.Code
	}
	fmt.Fprintln(stderr, err)
	return 1
}

// parseFlags parses a subcommand's flags. Package flag prints what is
// wrong (or the usage, for -h); the error says only with what exit status
// to end.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return &ExitError{Code: 2}
	}
	return nil
}

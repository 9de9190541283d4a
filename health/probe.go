package health

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"time"
)

// probe runs one check once, bounded by its timeout.
func (e *Engine) probe(ctx context.Context, c *Check) result {
	switch c.Kind {
	case TCP:
		return e.probeTCP(ctx, c)
	case HTTP:
		return e.probeHTTP(ctx, c)
	case Misc:
		return e.probeMisc(ctx, c)
	}
	return result{weight: -1, err: fmt.Errorf("unknown check kind %q", c.Kind)}
}

func (e *Engine) probeTCP(ctx context.Context, c *Check) result {
	ctx, cancel := context.WithTimeout(ctx, c.ConnectTimeout)
	defer cancel()
	conn, err := e.cfg.Dial(ctx, "tcp", c.Addr.String())
	if err != nil {
		return result{weight: -1, err: err}
	}
	conn.Close()
	return result{ok: true, weight: -1}
}

func (e *Engine) probeHTTP(ctx context.Context, c *Check) result {
	for _, u := range c.URLs {
		if err := e.getURL(ctx, c, u); err != nil {
			return result{weight: -1, err: err}
		}
	}
	return result{ok: true, weight: -1}
}

// getURL fetches one url as keepalived's HTTP_GET does (a GET without
// keep-alive) and checks its status and digest.
func (e *Engine) getURL(ctx context.Context, c *Check, u URL) error {
	ctx, cancel := context.WithTimeout(ctx, c.ConnectTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+c.Addr.String()+u.Path, nil)
	if err != nil {
		return err
	}
	if c.Host != "" {
		req.Host = c.Host
	}
	req.Header.Set("User-Agent", "KeepAliveClient")
	resp, err := e.http.RoundTrip(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if !StatusOK(u.Status, resp.StatusCode) {
		return fmt.Errorf("GET %s: status %d", u.Path, resp.StatusCode)
	}
	if u.Digest == "" {
		return nil
	}
	h := md5.New()
	if _, err := io.Copy(h, io.LimitReader(resp.Body, maxBody)); err != nil {
		return fmt.Errorf("GET %s: reading body: %w", u.Path, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); !strings.EqualFold(got, u.Digest) {
		return fmt.Errorf("GET %s: digest %s, want %s", u.Path, got, u.Digest)
	}
	return nil
}

// StatusOK reports whether code is in one of the ranges, or in 200-299 when
// there are none (keepalived's default).
func StatusOK(ranges []StatusRange, code int) bool {
	if len(ranges) == 0 {
		return code >= 200 && code <= 299
	}
	for _, r := range ranges {
		if code >= r.Lo && code <= r.Hi {
			return true
		}
	}
	return false
}

func (e *Engine) probeMisc(ctx context.Context, c *Check) result {
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	status, err := e.cfg.Exec(ctx, c.Command)
	if err != nil {
		return result{weight: -1, err: err}
	}
	return miscResult(status, c.Dynamic)
}

// miscResult interprets a MISC_CHECK exit status as keepalived's
// check_misc.c does: 0 is up; with misc_dynamic, 2..255 is up with weight
// status-2 and anything else is down; without it, anything but 0 is down.
func miscResult(status int, dynamic bool) result {
	switch {
	case status == 0:
		return result{ok: true, weight: -1}
	case dynamic && status >= 2 && status <= 255:
		return result{ok: true, weight: status - 2}
	}
	return result{weight: -1, err: fmt.Errorf("exit status %d", status)}
}

// RunCommand runs argv without a shell until it exits or ctx is done, in a
// process group of its own so that a timeout (SIGTERM, then SIGKILL two
// seconds later, as keepalived) also reaches the programs it started.
// It returns the exit status, or an error if the program could not be
// started or was killed.
func RunCommand(ctx context.Context, argv []string) (int, error) {
	if len(argv) == 0 {
		return 0, errors.New("empty command")
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	setProcessGroup(cmd)
	cmd.Cancel = func() error { return terminate(cmd) }
	cmd.WaitDelay = 2 * time.Second
	err := cmd.Run()
	if ctx.Err() != nil {
		return -1, fmt.Errorf("%s: %w", argv[0], ctx.Err())
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if st := ee.ExitCode(); st >= 0 {
			return st, nil
		}
		return -1, fmt.Errorf("%s: %w", argv[0], err)
	}
	if err != nil {
		return -1, err
	}
	return 0, nil
}

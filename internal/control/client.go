package control

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"syscall"
)

// Client calls the control API over its Unix socket. Errors the daemon
// answers with are *Error values; failing to reach the daemon is a
// *ConnectError.
type Client struct {
	path string
	hc   *http.Client
}

// NewClient returns a client for the daemon listening on socketPath.
func NewClient(socketPath string) *Client {
	d := &net.Dialer{}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return d.DialContext(ctx, "unix", socketPath)
		},
		DisableCompression: true,
	}
	return &Client{path: socketPath, hc: &http.Client{Transport: tr}}
}

// SocketPath returns the socket the client talks to.
func (c *Client) SocketPath() string { return c.path }

// Close releases idle connections.
func (c *Client) Close() { c.hc.CloseIdleConnections() }

// ConnectError means the daemon could not be reached.
type ConnectError struct {
	Path string
	Err  error
}

func (e *ConnectError) Error() string {
	switch {
	case errors.Is(e.Err, os.ErrNotExist), errors.Is(e.Err, syscall.ECONNREFUSED):
		return fmt.Sprintf("cannot connect to daemon at %s: is \"govs run\" running?", e.Path)
	case errors.Is(e.Err, os.ErrPermission):
		return fmt.Sprintf("cannot connect to daemon at %s: permission denied (the socket is root's, mode 0600)", e.Path)
	}
	return fmt.Sprintf("cannot connect to daemon at %s: %v", e.Path, e.Err)
}

func (e *ConnectError) Unwrap() error { return e.Err }

// do sends a request with body in (nil for none) and decodes the response into out (nil to ignore).
func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://govs"+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		var oe *net.OpError
		if errors.As(err, &oe) && oe.Op == "dial" {
			return &ConnectError{Path: c.path, Err: oe.Err}
		}
		if ctxErr := ctx.Err(); ctxErr != nil {
			return ctxErr
		}
		return fmt.Errorf("talking to daemon at %s: %w", c.path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return fmt.Errorf("reading daemon response: %w", err)
	}
	if resp.StatusCode >= 300 {
		var eb errorBody
		if json.Unmarshal(data, &eb) != nil || eb.Error == "" {
			eb.Error = fmt.Sprintf("daemon answered %s", resp.Status)
		}
		return &Error{Status: resp.StatusCode, Message: eb.Error, Op: eb.Op}
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("decoding daemon response to %s %s: %w", method, path, err)
		}
	}
	return nil
}

func servicePath(k ServiceKey) string {
	return "/v1/services/" + url.PathEscape(k.Protocol.Name()) + "/" + k.Addr.String() + "/" + strconv.Itoa(int(k.Port))
}

func destPath(k ServiceKey, d DestKey) string {
	return servicePath(k) + "/dests/" + d.Addr.String() + "/" + strconv.Itoa(int(d.Port))
}

// AddService adds a virtual service (ipvsadm -A).
func (c *Client) AddService(ctx context.Context, s ServiceSpec) error {
	return c.do(ctx, http.MethodPost, "/v1/services", s, nil)
}

// EditService replaces a virtual service's settings (ipvsadm -E).
func (c *Client) EditService(ctx context.Context, s ServiceSpec) error {
	return c.do(ctx, http.MethodPut, servicePath(s.ServiceKey), s, nil)
}

// DelService deletes a virtual service (ipvsadm -D).
func (c *Client) DelService(ctx context.Context, k ServiceKey) error {
	return c.do(ctx, http.MethodDelete, servicePath(k), nil, nil)
}

// AddDest adds a destination to a service (ipvsadm -a).
func (c *Client) AddDest(ctx context.Context, k ServiceKey, d DestSpec) error {
	return c.do(ctx, http.MethodPost, servicePath(k)+"/dests", d, nil)
}

// EditDest replaces a destination's settings (ipvsadm -e).
func (c *Client) EditDest(ctx context.Context, k ServiceKey, d DestSpec) error {
	return c.do(ctx, http.MethodPut, destPath(k, d.Key()), d, nil)
}

// DelDest deletes a destination (ipvsadm -d).
func (c *Client) DelDest(ctx context.Context, k ServiceKey, d DestKey) error {
	return c.do(ctx, http.MethodDelete, destPath(k, d), nil, nil)
}

// Clear deletes every service (ipvsadm -C).
func (c *Client) Clear(ctx context.Context) error {
	return c.do(ctx, http.MethodDelete, "/v1/services", nil, nil)
}

// Services lists every service (ipvsadm -L).
func (c *Client) Services(ctx context.Context) ([]ServiceStatus, error) {
	var out []ServiceStatus
	err := c.do(ctx, http.MethodGet, "/v1/services", nil, &out)
	return out, err
}

// Service returns one service (ipvsadm -L -t VIP:PORT).
func (c *Client) Service(ctx context.Context, k ServiceKey) (ServiceStatus, error) {
	var out ServiceStatus
	err := c.do(ctx, http.MethodGet, servicePath(k), nil, &out)
	return out, err
}

// Conns lists the connection entries (ipvsadm -Lc).
func (c *Client) Conns(ctx context.Context) ([]ConnStatus, error) {
	var out []ConnStatus
	err := c.do(ctx, http.MethodGet, "/v1/conns", nil, &out)
	return out, err
}

// Zero zeroes one service's counters, or all when k is nil (ipvsadm -Z).
func (c *Client) Zero(ctx context.Context, k *ServiceKey) error {
	return c.do(ctx, http.MethodPost, "/v1/zero", zeroRequest{Service: k}, nil)
}

// SetTimeouts sets the connection timeouts (ipvsadm --set).
func (c *Client) SetTimeouts(ctx context.Context, t Timeouts) error {
	return c.do(ctx, http.MethodPut, "/v1/timeouts", t, nil)
}

// Timeouts returns the connection timeouts (ipvsadm -L --timeout).
func (c *Client) Timeouts(ctx context.Context) (Timeouts, error) {
	var out Timeouts
	err := c.do(ctx, http.MethodGet, "/v1/timeouts", nil, &out)
	return out, err
}

// Restore applies ops all or nothing (ipvsadm -R).
func (c *Client) Restore(ctx context.Context, ops []Op) error {
	if ops == nil {
		ops = []Op{}
	}
	return c.do(ctx, http.MethodPost, "/v1/restore", ops, nil)
}

// Info describes the daemon.
func (c *Client) Info(ctx context.Context) (Info, error) {
	var out Info
	err := c.do(ctx, http.MethodGet, "/v1/info", nil, &out)
	return out, err
}

package lab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
)

// DefaultTimeout bounds the helpers below when their context has no
// deadline, so that no lab traffic waits forever.
const DefaultTimeout = 5 * time.Second

// retryEvery is how long a lost datagram (ARP still resolving, a server not
// yet bound) is waited for before it is sent again, until the deadline.
const retryEvery = 250 * time.Millisecond

func withDeadline(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, DefaultTimeout)
}

// Command returns a command that runs inside h (through "ip netns exec").
// The caller starts and waits for it; ctx kills it.
func (h *Host) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", h.NS, name}, args...)...)
}

// Interface returns h's interface named ifName.
func (h *Host) Interface(ifName string) (*net.Interface, error) {
	var ifi *net.Interface
	err := h.Do(func() (err error) {
		ifi, err = net.InterfaceByName(ifName)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("%v: %w", h, err)
	}
	return ifi, nil
}

// MAC returns the hardware address of h's ifName.
func (h *Host) MAC(ifName string) (net.HardwareAddr, error) {
	ifi, err := h.Interface(ifName)
	if err != nil {
		return nil, err
	}
	return ifi.HardwareAddr, nil
}

// Ifindex returns the index of h's ifName.
func (h *Host) Ifindex(ifName string) (int, error) {
	ifi, err := h.Interface(ifName)
	if err != nil {
		return 0, err
	}
	return ifi.Index, nil
}

// ListenTCP returns a TCP listener on addr ("203.0.113.10:80") inside h.
// The lab closes it on Close if the caller has not.
func (h *Host) ListenTCP(addr string) (net.Listener, error) {
	var ln net.Listener
	err := h.Do(func() (err error) {
		ln, err = net.Listen("tcp4", addr)
		return err
	})
	if err != nil {
		return nil, err
	}
	return ln, h.lab.track(ln)
}

// ListenUDP returns a UDP socket bound to addr inside h. The lab closes it
// on Close if the caller has not.
func (h *Host) ListenUDP(addr string) (*net.UDPConn, error) {
	a, err := net.ResolveUDPAddr("udp4", addr)
	if err != nil {
		return nil, err
	}
	var c *net.UDPConn
	err = h.Do(func() (err error) {
		c, err = net.ListenUDP("udp4", a)
		return err
	})
	if err != nil {
		return nil, err
	}
	return c, h.lab.track(c)
}

// DialTCP connects to addr from inside h. The caller closes the connection.
func (h *Host) DialTCP(ctx context.Context, addr string) (net.Conn, error) {
	return h.DialContext(ctx, "tcp4", addr)
}

// DialUDP returns a UDP socket inside h connected to addr.
func (h *Host) DialUDP(ctx context.Context, addr string) (*net.UDPConn, error) {
	c, err := h.DialContext(ctx, "udp4", addr)
	if err != nil {
		return nil, err
	}
	return c.(*net.UDPConn), nil
}

// DialContext dials network ("tcp4", "udp4", ...) from inside h; it has the
// signature of net.Dialer.DialContext so it can be an http.Transport's.
// addr must hold an IP address, not a name. Without a deadline in ctx the
// dial is bounded by DefaultTimeout.
func (h *Host) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	var c net.Conn
	err := h.Do(func() (err error) {
		d := net.Dialer{Timeout: DefaultTimeout}
		c, err = d.DialContext(ctx, network, addr)
		return err
	})
	return c, err
}

// ServeHTTP serves HTTP on addr inside h, answering every request with 200
// and body, or h.Name when body is "". The lab closes the server on Close;
// the caller may Close it earlier (to take a realserver down).
func (h *Host) ServeHTTP(addr, body string) (*http.Server, error) {
	if body == "" {
		body = h.Name
	}
	ln, err := h.ListenTCP(addr)
	if err != nil {
		return nil, err
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			io.WriteString(w, body)
		}),
		ReadHeaderTimeout: DefaultTimeout,
		ReadTimeout:       DefaultTimeout,
		WriteTimeout:      DefaultTimeout,
	}
	if err := h.lab.track(srv); err != nil {
		return nil, err
	}
	go srv.Serve(ln)
	return srv, nil
}

// HTTPGet fetches url (its host an IP address) from inside h over a fresh
// connection (no keep-alive, so every request is a new flow through the
// balancer) and returns the body. A status other than 200 is an error.
func (h *Host) HTTPGet(ctx context.Context, url string) (string, error) {
	ctx, cancel := withDeadline(ctx)
	defer cancel()
	tr := &http.Transport{DialContext: h.DialContext, DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return "", fmt.Errorf("%v: %w", h, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", fmt.Errorf("%v: GET %s: %w", h, url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return string(b), fmt.Errorf("%v: GET %s: %s", h, url, resp.Status)
	}
	return string(b), nil
}

// ServeUDP answers every datagram to addr inside h with body, or h.Name when
// body is "". The lab closes the socket on Close.
func (h *Host) ServeUDP(addr, body string) (*net.UDPConn, error) {
	if body == "" {
		body = h.Name
	}
	reply := []byte(body)
	return h.serveUDP(addr, func(req []byte) []byte { return reply })
}

// ServeUDPEcho sends every datagram to addr inside h back to its sender.
func (h *Host) ServeUDPEcho(addr string) (*net.UDPConn, error) {
	return h.serveUDP(addr, func(req []byte) []byte { return req })
}

func (h *Host) serveUDP(addr string, answer func([]byte) []byte) (*net.UDPConn, error) {
	c, err := h.ListenUDP(addr)
	if err != nil {
		return nil, err
	}
	go func() {
		buf := make([]byte, 65535)
		for {
			n, from, err := c.ReadFromUDPAddrPort(buf)
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if err != nil {
				continue
			}
			c.WriteToUDPAddrPort(answer(buf[:n]), from)
		}
	}()
	return c, nil
}

// UDPQuery sends payload from inside h to addr and returns the first answer,
// sending again every 250ms until ctx's deadline (or DefaultTimeout) in case
// the first datagram was lost to ARP resolution. Every try uses the same
// socket, so the same flow.
func (h *Host) UDPQuery(ctx context.Context, addr, payload string) (string, error) {
	ctx, cancel := withDeadline(ctx)
	defer cancel()
	c, err := h.DialUDP(ctx, addr)
	if err != nil {
		return "", err
	}
	defer c.Close()
	buf := make([]byte, 65535)
	for {
		if _, err := c.Write([]byte(payload)); err != nil {
			return "", fmt.Errorf("%v: udp query %s: %w", h, addr, err)
		}
		if err := c.SetReadDeadline(nextTry(ctx)); err != nil {
			return "", err
		}
		n, err := c.Read(buf)
		if err == nil {
			return string(buf[:n]), nil
		}
		if !errors.Is(err, os.ErrDeadlineExceeded) || ctx.Err() != nil {
			return "", fmt.Errorf("%v: udp query %s: %w", h, addr, err)
		}
	}
}

func nextTry(ctx context.Context) time.Time {
	t := time.Now().Add(retryEvery)
	if d, ok := ctx.Deadline(); ok && d.Before(t) {
		return d
	}
	return t
}

// Ping sends ICMP echo requests from inside h to dst, one every 250ms, until
// a matching reply arrives or ctx's deadline (or DefaultTimeout) passes.
func (h *Host) Ping(ctx context.Context, dst string) error {
	ip, err := netip.ParseAddr(dst)
	if err != nil || !ip.Is4() {
		return fmt.Errorf("%v: ping %q: not an IPv4 address", h, dst)
	}
	ctx, cancel := withDeadline(ctx)
	defer cancel()
	var c *icmp.PacketConn
	if err := h.Do(func() (err error) {
		c, err = icmp.ListenPacket("ip4:icmp", "0.0.0.0")
		return err
	}); err != nil {
		return err
	}
	defer c.Close()
	id := int(rand.Uint32() & 0xffff)
	to := &net.IPAddr{IP: ip.AsSlice()}
	buf := make([]byte, 1500)
	for seq := 1; ; seq++ {
		req, _ := (&icmp.Message{Type: ipv4.ICMPTypeEcho, Body: &icmp.Echo{ID: id, Seq: seq, Data: []byte("govs-lab")}}).Marshal(nil)
		if _, err := c.WriteTo(req, to); err != nil {
			return fmt.Errorf("%v: ping %s: %w", h, dst, err)
		}
		c.SetReadDeadline(nextTry(ctx))
		for {
			n, from, err := c.ReadFrom(buf)
			if err != nil {
				if ctx.Err() != nil {
					return fmt.Errorf("%v: ping %s: no reply: %w", h, dst, ctx.Err())
				}
				if errors.Is(err, os.ErrDeadlineExceeded) {
					break // send the next request
				}
				return fmt.Errorf("%v: ping %s: %w", h, dst, err)
			}
			m, err := icmp.ParseMessage(1, buf[:n])
			if err != nil || m.Type != ipv4.ICMPTypeEchoReply {
				continue
			}
			if e, ok := m.Body.(*icmp.Echo); ok && e.ID == id && from.String() == ip.String() {
				return nil
			}
		}
	}
}

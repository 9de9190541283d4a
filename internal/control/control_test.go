package control_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/govs-lb/govs/balancer"
	"github.com/govs-lb/govs/internal/control"
	"github.com/govs-lb/govs/internal/control/controltest"
)

var (
	vip  = netip.MustParseAddr("198.51.100.1")
	rip1 = netip.MustParseAddr("203.0.113.10")
	rip2 = netip.MustParseAddr("203.0.113.11")
	key  = control.ServiceKey{Protocol: balancer.TCP, Addr: vip, Port: 80}
)

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func setup(t *testing.T) (*controltest.Backend, *control.Client) {
	t.Helper()
	b := controltest.New(nil, nil, control.Timeouts{TCP: 900, TCPFin: 120, UDP: 300})
	c := control.NewClient(controltest.Serve(t, b))
	t.Cleanup(c.Close)
	return b, c
}

func wantCalls(t *testing.T, b *controltest.Backend, want ...string) {
	t.Helper()
	got := b.Calls()
	if !slices.Equal(got, want) {
		t.Errorf("backend calls:\n got %q\nwant %q", got, want)
	}
}

func wantError(t *testing.T, err error, status int, msg string) {
	t.Helper()
	var ce *control.Error
	if !errors.As(err, &ce) {
		t.Fatalf("error %v (%T), want *control.Error", err, err)
	}
	if ce.Status != status || ce.Message != msg {
		t.Errorf("error = %d %q, want %d %q", ce.Status, ce.Message, status, msg)
	}
}

func TestServiceLifecycle(t *testing.T) {
	b, c := setup(t)
	cx := ctx(t)
	spec := control.ServiceSpec{ServiceKey: key, Scheduler: "rr", Netmask: "255.255.255.255"}
	if err := c.AddService(cx, spec); err != nil {
		t.Fatal(err)
	}
	wantCalls(t, b, "AddService tcp 198.51.100.1:80 sched=rr persistent=false timeout=0 mask=255.255.255.255 flags=[] ops=false")
	wantError(t, c.AddService(cx, spec), http.StatusConflict, "Service already exists")
	b.Calls()

	edit := spec
	edit.Scheduler, edit.Persistent = "wlc", true // timeout left 0: the server fills in 360
	if err := c.EditService(cx, edit); err != nil {
		t.Fatal(err)
	}
	wantCalls(t, b, "EditService tcp 198.51.100.1:80 sched=wlc persistent=true timeout=360 mask=255.255.255.255 flags=[] ops=false")

	d := control.DestSpec{Addr: rip1, Port: 80, Method: balancer.MethodMasq, Weight: 3}
	if err := c.AddDest(cx, key, d); err != nil {
		t.Fatal(err)
	}
	wantError(t, c.AddDest(cx, key, d), http.StatusConflict, "Destination already exists")
	other := key
	other.Port = 81
	wantError(t, c.AddDest(cx, other, d), http.StatusNotFound, "Service not defined")
	d.Weight = 0
	if err := c.EditDest(cx, key, d); err != nil {
		t.Fatal(err)
	}
	wantError(t, c.EditDest(cx, key, control.DestSpec{Addr: rip2, Port: 80, Method: balancer.MethodDR, Weight: 1}), http.StatusNotFound, "No such destination")

	got, err := c.Service(cx, key)
	if err != nil {
		t.Fatal(err)
	}
	if got.Scheduler != "wlc" || got.Timeout != 360 || len(got.Dests) != 1 || got.Dests[0].Weight != 0 || got.Dests[0].Method != balancer.MethodMasq {
		t.Errorf("Service = %+v", got)
	}
	_, err = c.Service(cx, other)
	wantError(t, err, http.StatusNotFound, "No such service")

	if err := c.DelDest(cx, key, d.Key()); err != nil {
		t.Fatal(err)
	}
	wantError(t, c.DelDest(cx, key, d.Key()), http.StatusNotFound, "No such destination")
	if err := c.DelService(cx, key); err != nil {
		t.Fatal(err)
	}
	wantError(t, c.DelService(cx, key), http.StatusNotFound, "No such service")
	b.Calls()
	svcs, err := c.Services(cx)
	if err != nil || svcs == nil || len(svcs) != 0 {
		t.Errorf("Services = %v, %v; want empty non-nil", svcs, err)
	}
	wantCalls(t, b, "Services")
}

func TestValidationNeverReachesBackend(t *testing.T) {
	b := controltest.New(nil, nil, control.Timeouts{})
	sock := controltest.Serve(t, b)
	c := control.NewClient(sock)
	t.Cleanup(c.Close)
	cx := ctx(t)
	bad := []struct {
		name string
		call func() error
		msg  string
	}{
		{"scheduler", func() error {
			return c.AddService(cx, control.ServiceSpec{ServiceKey: key, Scheduler: "lblc"})
		}, `unknown scheduler "lblc" (govs has rr, wrr, lc, wlc, sed, nq, sh, mh)`},
		{"zero port", func() error {
			return c.AddService(cx, control.ServiceSpec{ServiceKey: control.ServiceKey{Protocol: balancer.TCP, Addr: vip}})
		}, "Zero port specified for non-persistent service"},
		{"netmask", func() error {
			return c.AddService(cx, control.ServiceSpec{ServiceKey: key, Persistent: true, Netmask: "255.255.0"})
		}, `invalid netmask "255.255.0" (dotted IPv4)`},
		{"ops on tcp", func() error {
			return c.AddService(cx, control.ServiceSpec{ServiceKey: key, OnePacket: true})
		}, "One-Packet Scheduling is only for UDP virtual services"},
		{"weight", func() error {
			return c.AddDest(cx, key, control.DestSpec{Addr: rip1, Port: 80, Method: balancer.MethodDR, Weight: 65536})
		}, "illegal weight specified"},
		{"timeouts", func() error {
			return c.SetTimeouts(cx, control.Timeouts{TCP: control.MaxTimeout + 1})
		}, "invalid timeout value 2678401 (0..2678400 seconds)"},
		{"ipv6", func() error {
			return c.DelService(cx, control.ServiceKey{Protocol: balancer.TCP, Addr: netip.MustParseAddr("2001:db8::1"), Port: 80})
		}, "invalid virtual address 2001:db8::1 (IPv4 only)"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, tc.call(), http.StatusBadRequest, tc.msg)
			wantCalls(t, b)
		})
	}
	// Words outside the vocabulary cannot be written with the Go types; a
	// client that writes its own JSON gets the same messages.
	raw := []struct{ name, method, path, body, msg string }{
		{"protocol", "POST", "/v1/services", `{"protocol":"sctp","addr":"198.51.100.1","port":1}`,
			`invalid protocol "sctp" (want tcp or udp)`},
		{"protocol in path", "DELETE", "/v1/services/sctp/198.51.100.1/1", ``,
			`invalid protocol "sctp" (want tcp or udp)`},
		{"method", "POST", "/v1/services/tcp/198.51.100.1/80/dests", `{"addr":"203.0.113.10","port":80,"method":"nat","weight":1}`,
			`invalid forwarding method "nat" (want dr, tun, masq or local)`},
		{"scheduler", "POST", "/v1/services", `{"protocol":"tcp","addr":"198.51.100.1","port":80,"scheduler":"lblc"}`,
			`unknown scheduler "lblc" (govs has rr, wrr, lc, wlc, sed, nq, sh, mh)`},
	}
	for _, tc := range raw {
		t.Run(tc.name, func(t *testing.T) {
			code, body := rawGet(t, sock, tc.method, tc.path, tc.body)
			var got struct{ Error string }
			if err := json.Unmarshal([]byte(body), &got); err != nil || code != http.StatusBadRequest || got.Error != tc.msg {
				t.Errorf("%s %s = %d %s, want 400 %q", tc.method, tc.path, code, body, tc.msg)
			}
			wantCalls(t, b)
		})
	}
}

func TestZeroTimeoutsConnsInfo(t *testing.T) {
	b, c := setup(t)
	cx := ctx(t)
	if err := c.Zero(cx, nil); err != nil {
		t.Fatal(err)
	}
	wantError(t, c.Zero(cx, &key), http.StatusNotFound, "No such service")
	if err := c.SetTimeouts(cx, control.Timeouts{TCP: 1000, UDP: 30}); err != nil {
		t.Fatal(err)
	}
	got, err := c.Timeouts(cx)
	if err != nil || got != (control.Timeouts{TCP: 1000, TCPFin: 120, UDP: 30}) {
		t.Errorf("Timeouts = %+v, %v", got, err)
	}
	conns, err := c.Conns(cx)
	if err != nil || conns == nil || len(conns) != 0 {
		t.Errorf("Conns = %v, %v; want empty non-nil", conns, err)
	}
	info, err := c.Info(cx)
	if err != nil || info.Version != "1.2.1" || info.ConnTableSize != 4096 {
		t.Errorf("Info = %+v, %v", info, err)
	}
	wantCalls(t, b, "Zero all", "Zero tcp 198.51.100.1:80", "SetTimeouts {TCP:1000 TCPFin:0 UDP:30}", "Timeouts", "Conns", "Info")
}

func TestRestoreAllOrNothing(t *testing.T) {
	b, c := setup(t)
	cx := ctx(t)
	ops := []control.Op{
		{Kind: control.OpAddService, Service: control.ServiceSpec{ServiceKey: key, Scheduler: "rr"}},
		{Kind: control.OpAddDest, Service: control.ServiceSpec{ServiceKey: key}, Dest: control.DestSpec{Addr: rip1, Port: 80, Method: balancer.MethodDR, Weight: 1}},
		{Kind: control.OpAddDest, Service: control.ServiceSpec{ServiceKey: key}, Dest: control.DestSpec{Addr: rip1, Port: 80, Method: balancer.MethodDR, Weight: 1}},
	}
	err := c.Restore(cx, ops)
	wantError(t, err, http.StatusConflict, "Destination already exists")
	var ce *control.Error
	if errors.As(err, &ce) && ce.Op != 3 {
		t.Errorf("failing op = %d, want 3", ce.Op)
	}
	if s := b.State(); len(s) != 0 {
		t.Errorf("state after failed restore = %+v, want empty", s)
	}
	if err := c.Restore(cx, ops[:2]); err != nil {
		t.Fatal(err)
	}
	s := b.State()
	if len(s) != 1 || s[0].Netmask != "255.255.255.255" || len(s[0].Dests) != 1 {
		t.Errorf("state after restore = %+v", s)
	}
	// An op that fails validation is reported with its index and never applied.
	err = c.Restore(cx, []control.Op{{Kind: control.OpClear}, {Kind: control.OpAddService, Service: control.ServiceSpec{ServiceKey: key, Scheduler: "xx"}}})
	wantError(t, err, http.StatusBadRequest, `unknown scheduler "xx" (govs has rr, wrr, lc, wlc, sed, nq, sh, mh)`)
	if errors.As(err, &ce) && ce.Op != 2 {
		t.Errorf("failing op = %d, want 2", ce.Op)
	}
	if len(b.State()) != 1 {
		t.Error("a rejected restore changed the state")
	}
}

// rawGet does what curl --unix-socket does.
func rawGet(t *testing.T, sock, method, path, body string) (int, string) {
	t.Helper()
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	defer hc.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx(t), method, "http://govs"+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestRawHTTP(t *testing.T) {
	b := controltest.New(nil, nil, control.Timeouts{})
	sock := controltest.Serve(t, b)
	code, body := rawGet(t, sock, "POST", "/v1/services", `{"protocol":"udp","addr":"198.51.100.2","port":53,"persistent":true}`)
	if code != http.StatusNoContent {
		t.Fatalf("POST = %d %s", code, body)
	}
	code, body = rawGet(t, sock, "POST", "/v1/services/udp/198.51.100.2/53/dests", `{"addr":"203.0.113.10","port":53}`)
	if code != http.StatusNoContent {
		t.Fatalf("POST dest = %d %s", code, body)
	}
	s := b.State()
	if len(s) != 1 || s[0].Scheduler != "wlc" || s[0].Timeout != 360 || s[0].Dests[0].Weight != 1 || s[0].Dests[0].Method != balancer.MethodDR {
		t.Errorf("defaults not applied: %+v", s)
	}
	code, body = rawGet(t, sock, "GET", "/v1/services", "")
	if code != 200 || !strings.Contains(body, `"scheduler": "wlc"`) || !strings.Contains(body, `"addr": "203.0.113.10"`) {
		t.Errorf("GET = %d %s", code, body)
	}
	for _, tc := range []struct{ method, path, body, want string }{
		{"POST", "/v1/services", `{"protocol":"udp","addr":"198.51.100.2","port":53,"sched":"rr"}`, `{"error":"bad request body: json: unknown field \"sched\""}`},
		{"POST", "/v1/services", ``, `{"error":"empty request body"}`},
		{"DELETE", "/v1/services/tcp/198.51.100.2/99999", ``, `{"error":"invalid virtual port \"99999\""}`},
		{"GET", "/v2/nothing", ``, `{"error":"no such endpoint: GET /v2/nothing"}`},
	} {
		_, body := rawGet(t, sock, tc.method, tc.path, tc.body)
		if got := strings.Join(strings.Fields(body), ""); got != strings.Join(strings.Fields(tc.want), "") {
			t.Errorf("%s %s = %s, want %s", tc.method, tc.path, body, tc.want)
		}
	}
}

func TestClientDaemonNotRunning(t *testing.T) {
	dir := t.TempDir()
	for _, path := range []string{filepath.Join(dir, "missing.sock"), staleSocket(t)} {
		c := control.NewClient(path)
		_, err := c.Services(ctx(t))
		var ce *control.ConnectError
		if !errors.As(err, &ce) {
			t.Fatalf("error %v (%T), want *ConnectError", err, err)
		}
		want := `cannot connect to daemon at ` + path + `: is "govs run" running?`
		if err.Error() != want {
			t.Errorf("error = %q, want %q", err, want)
		}
	}
}

// staleSocket leaves a socket file that nobody listens on.
func staleSocket(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "govs-stale")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "s.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("stale socket not left behind: %v", err)
	}
	return path
}

func TestListen(t *testing.T) {
	path := staleSocket(t)
	ln, err := control.Listen(path)
	if err != nil {
		t.Fatalf("Listen over a stale socket: %v", err)
	}
	defer ln.Close()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode = %v, want socket 0600", fi.Mode())
	}
	go func() { // answer the liveness probe of the second Listen
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	if _, err := control.Listen(path); !errors.Is(err, control.ErrAlreadyRunning) {
		t.Errorf("second Listen = %v, want ErrAlreadyRunning", err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("second Listen removed the live socket: %v", err)
	}

	plain := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(plain, []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := control.Listen(plain); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Errorf("Listen on a regular file = %v, want a 'not a socket' error", err)
	}
	if b, _ := os.ReadFile(plain); string(b) != "keep" {
		t.Error("Listen clobbered a regular file")
	}
}

func TestSocketPath(t *testing.T) {
	env := map[string]string{}
	getenv := func(k string) string { return env[k] }
	if got := control.SocketPath("", getenv); got != "/run/govs.sock" {
		t.Errorf("default = %q", got)
	}
	env["GOVS_SOCKET"] = "/tmp/x.sock"
	if got := control.SocketPath("", getenv); got != "/tmp/x.sock" {
		t.Errorf("env = %q", got)
	}
	if got := control.SocketPath("/flag.sock", getenv); got != "/flag.sock" {
		t.Errorf("flag = %q", got)
	}
}

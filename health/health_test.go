package health

import (
	"bufio"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/govs-lb/govs/internal/testenv"
)

// wait is how long a test waits for an event before failing.
const wait = 10 * time.Second

func TestObserve(t *testing.T) {
	c := &Check{Retry: 2, DelayLoop: 60 * time.Second, DelayBeforeRetry: 3 * time.Second}
	type step struct {
		ok      bool
		up      bool // state after the result
		changed bool
		next    time.Duration
	}
	tests := []struct {
		name  string
		start bool
		steps []step
	}{
		{"up stays up on success", true, []step{{true, true, false, 60 * time.Second}}},
		{"down after retry+1 failures", true, []step{
			{false, true, false, 3 * time.Second},
			{false, true, false, 3 * time.Second},
			{false, false, true, 60 * time.Second},
			{false, false, false, 60 * time.Second},
		}},
		{"a success resets the retries", true, []step{
			{false, true, false, 3 * time.Second},
			{false, true, false, 3 * time.Second},
			{true, true, false, 60 * time.Second},
			{false, true, false, 3 * time.Second},
			{false, true, false, 3 * time.Second},
			{false, false, true, 60 * time.Second},
		}},
		{"up again after one success", false, []step{
			{false, false, false, 60 * time.Second},
			{true, true, true, 60 * time.Second},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := checkState{up: tt.start}
			for i, st := range tt.steps {
				changed, next := s.observe(st.ok, c)
				if s.up != st.up || changed != st.changed || next != st.next {
					t.Fatalf("step %d (ok=%v): up=%v changed=%v next=%v, want up=%v changed=%v next=%v",
						i, st.ok, s.up, changed, next, st.up, st.changed, st.next)
				}
			}
		})
	}
	// Retry 0 (MISC_CHECK's default): down on the first failure.
	s := checkState{up: true}
	if changed, _ := s.observe(false, &Check{DelayLoop: time.Second}); !changed || s.up {
		t.Fatalf("retry 0: changed=%v up=%v, want a transition to down", changed, s.up)
	}
}

func TestMiscResult(t *testing.T) {
	tests := []struct {
		status  int
		dynamic bool
		ok      bool
		weight  int
	}{
		{0, false, true, -1},
		{1, false, false, -1},
		{2, false, false, -1},
		{255, false, false, -1},
		{0, true, true, -1},
		{1, true, false, -1},
		{2, true, true, 0},
		{12, true, true, 10},
		{255, true, true, 253},
		{256, true, false, -1},
	}
	for _, tt := range tests {
		r := miscResult(tt.status, tt.dynamic)
		if r.ok != tt.ok || r.weight != tt.weight {
			t.Errorf("miscResult(%d, dynamic=%v) = ok %v weight %d, want ok %v weight %d",
				tt.status, tt.dynamic, r.ok, r.weight, tt.ok, tt.weight)
		}
	}
}

func TestStatusOK(t *testing.T) {
	tests := []struct {
		ranges []StatusRange
		code   int
		want   bool
	}{
		{nil, 200, true},
		{nil, 299, true},
		{nil, 301, false},
		{nil, 199, false},
		{[]StatusRange{{200, 200}}, 204, false},
		{[]StatusRange{{200, 200}, {300, 399}}, 302, true},
		{[]StatusRange{{404, 404}}, 404, true},
	}
	for _, tt := range tests {
		if got := StatusOK(tt.ranges, tt.code); got != tt.want {
			t.Errorf("StatusOK(%v, %d) = %v, want %v", tt.ranges, tt.code, got, tt.want)
		}
	}
}

// recorder collects transitions.
type recorder struct {
	ch chan event
}

func newRecorder() *recorder { return &recorder{ch: make(chan event, 100)} }

func (r *recorder) cb(id string, up bool, weight int) { r.ch <- event{id: id, up: up, weight: weight} }

func (r *recorder) next(t *testing.T) event {
	t.Helper()
	select {
	case ev := <-r.ch:
		return ev
	case <-time.After(wait):
		t.Fatal("no transition reported in time")
		return event{}
	}
}

// none checks that no transition is queued now. The engine delivers in
// order, so callers first wait for a later event that must follow.
func (r *recorder) none(t *testing.T) {
	t.Helper()
	select {
	case ev := <-r.ch:
		t.Fatalf("unexpected transition %+v", ev)
	default:
	}
}

func noJitter(time.Duration) time.Duration { return 0 }

func fastTCP(addr string, retry int) Check {
	return Check{
		Kind: TCP, Addr: netip.MustParseAddrPort(addr), ConnectTimeout: time.Second,
		Retry: retry, DelayBeforeRetry: time.Millisecond, DelayLoop: 2 * time.Millisecond,
	}
}

// fakeNet answers dials from a switch: up accepts (with net.Pipe), down
// refuses. It counts dials.
type fakeNet struct {
	up    atomic.Bool
	dials atomic.Int64
}

func (f *fakeNet) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	f.dials.Add(1)
	if !f.up.Load() {
		return nil, &net.OpError{Op: "dial", Net: network, Err: errors.New("connection refused")}
	}
	a, b := net.Pipe()
	b.Close()
	return a, nil
}

func TestEngineTCPRetrySemantics(t *testing.T) {
	// Every dial fails. With delay_before_retry 1ms and delay_loop an hour,
	// the target is declared down by the (retry+1)th dial and no further
	// dial happens during the test.
	fn := &fakeNet{}
	rec := newRecorder()
	e := New(Config{Dial: fn.dial, Jitter: noJitter, OnTransition: rec.cb})
	c := fastTCP("203.0.113.1:80", 3)
	c.DelayLoop = time.Hour
	if err := e.Update([]Target{{ID: "rs", Weight: 5, Checks: []Check{c}}}); err != nil {
		t.Fatal(err)
	}
	e.Start(context.Background())
	defer e.Stop()
	if ev := rec.next(t); ev != (event{id: "rs", up: false, weight: 5}) {
		t.Fatalf("got %+v, want rs down", ev)
	}
	if n := fn.dials.Load(); n != 4 {
		t.Fatalf("declared down after %d dials, want 4 (the first and retry 3)", n)
	}
	if c := e.Counters(); c != (Counters{Probes: 4, Failures: 4, Downs: 1}) {
		t.Fatalf("counters %+v", c)
	}
	if st, ok := e.State("rs"); !ok || st.Up || st.Weight != 5 || st.Dynamic {
		t.Fatalf("State = %+v %v, want down", st, ok)
	}
}

func TestEngineMiscDynamic(t *testing.T) {
	var status atomic.Int64
	var runs atomic.Int64
	exec := func(ctx context.Context, argv []string) (int, error) {
		runs.Add(1)
		if len(argv) != 2 || argv[0] != "/bin/check" || argv[1] != "web 1" {
			return -1, fmt.Errorf("bad argv %q", argv)
		}
		return int(status.Load()), nil
	}
	rec := newRecorder()
	e := New(Config{Exec: exec, Jitter: noJitter, OnTransition: rec.cb})
	mc := Check{Kind: Misc, Command: []string{"/bin/check", "web 1"}, Timeout: time.Second,
		Dynamic: true, DelayLoop: 2 * time.Millisecond, DelayBeforeRetry: time.Millisecond}
	if err := e.Update([]Target{{ID: "rs", Weight: 1, Checks: []Check{mc}}}); err != nil {
		t.Fatal(err)
	}
	status.Store(12)
	e.Start(context.Background())
	defer e.Stop()
	if ev := rec.next(t); ev != (event{id: "rs", up: true, weight: 10}) {
		t.Fatalf("got %+v, want weight 10 while up", ev)
	}
	if st, _ := e.State("rs"); !st.Dynamic || st.Weight != 10 {
		t.Fatalf("State = %+v, want dynamic weight 10", st)
	}
	status.Store(1)
	if ev := rec.next(t); ev != (event{id: "rs", up: false, weight: 10}) {
		t.Fatalf("got %+v, want down", ev)
	}
	status.Store(0) // up, weight unchanged (keepalived keeps the last dynamic weight)
	if ev := rec.next(t); ev != (event{id: "rs", up: true, weight: 10}) {
		t.Fatalf("got %+v, want up with weight 10", ev)
	}
	if c := e.Counters(); c.Ups != 1 || c.Downs != 1 {
		t.Fatalf("a weight change counted as a transition: %+v", c)
	}
}

func TestEngineAllChecksMustPass(t *testing.T) {
	fn := &fakeNet{}
	fn.up.Store(true)
	var miscOK atomic.Bool
	miscOK.Store(true)
	exec := func(ctx context.Context, argv []string) (int, error) {
		if miscOK.Load() {
			return 0, nil
		}
		return 1, nil
	}
	rec := newRecorder()
	e := New(Config{Dial: fn.dial, Exec: exec, Jitter: noJitter, OnTransition: rec.cb})
	mc := Check{Kind: Misc, Command: []string{"x"}, Timeout: time.Second, DelayLoop: 2 * time.Millisecond}
	e.Update([]Target{{ID: "rs", Weight: 2, Checks: []Check{fastTCP("203.0.113.1:80", 0), mc}}})
	e.Start(context.Background())
	defer e.Stop()
	miscOK.Store(false)
	if ev := rec.next(t); ev.up {
		t.Fatalf("got %+v, want down when one of two checks fails", ev)
	}
	miscOK.Store(true)
	if ev := rec.next(t); !ev.up || ev.weight != 2 {
		t.Fatalf("got %+v, want up", ev)
	}
}

func TestEngineUpdateKeepsState(t *testing.T) {
	fn := &fakeNet{}
	rec := newRecorder()
	e := New(Config{Dial: fn.dial, Jitter: noJitter, OnTransition: rec.cb})
	a := Target{ID: "a", Weight: 1, Checks: []Check{fastTCP("203.0.113.1:80", 0)}}
	b := Target{ID: "b", Weight: 1, StartDown: true, Checks: []Check{fastTCP("203.0.113.2:80", 0)}}
	e.Update([]Target{a, b})
	e.Start(context.Background())
	defer e.Stop()
	if ev := rec.next(t); ev != (event{id: "a", up: false, weight: 1}) {
		t.Fatalf("got %+v, want a down (b started down and must not report)", ev)
	}
	// Same checks, new weight: state kept, no transition.
	a.Weight = 7
	if err := e.Update([]Target{a, b}); err != nil {
		t.Fatal(err)
	}
	if st, _ := e.State("a"); st.Up || st.Weight != 7 {
		t.Fatalf("after a weight-only update a is %+v, want down with 7", st)
	}
	// Changed checks: the down state is kept, the check restarts.
	a.Checks = []Check{fastTCP("203.0.113.1:8080", 0)}
	e.Update([]Target{a, b})
	if st, _ := e.State("a"); st.Up {
		t.Fatal("a came up by being updated")
	}
	// Removing b stops it; its recovery is never reported.
	e.Update([]Target{a})
	if _, ok := e.State("b"); ok {
		t.Fatal("b still known after removal")
	}
	fn.up.Store(true)
	if ev := rec.next(t); ev != (event{id: "a", up: true, weight: 7}) {
		t.Fatalf("got %+v, want a up with weight 7", ev)
	}
	rec.none(t)
	if st := e.Status(); len(st) != 1 || st[0] != (Status{ID: "a", Up: true, Weight: 7}) {
		t.Fatalf("Status = %+v", st)
	}
}

func TestEngineStopDeliversNothingAfter(t *testing.T) {
	fn := &fakeNet{}
	var calls atomic.Int64
	e := New(Config{Dial: fn.dial, Jitter: noJitter, OnTransition: func(string, bool, int) { calls.Add(1) }})
	e.Update([]Target{{ID: "a", Weight: 1, Checks: []Check{fastTCP("203.0.113.1:80", 0)}}})
	e.Start(context.Background())
	e.Stop()
	n := calls.Load()
	fn.up.Store(true)
	e.Update([]Target{{ID: "b", Weight: 1, StartDown: true, Checks: []Check{fastTCP("203.0.113.1:81", 0)}}})
	if calls.Load() != n {
		t.Fatal("transition delivered after Stop")
	}
	if _, ok := e.State("b"); !ok {
		t.Fatal("Update after Stop lost the target")
	}
}

func TestUpdateValidates(t *testing.T) {
	e := New(Config{})
	bad := []Target{
		{},
		{ID: "x", Checks: []Check{{Kind: TCP, DelayLoop: time.Second}}},
		{ID: "x", Checks: []Check{{Kind: HTTP, Addr: netip.MustParseAddrPort("203.0.113.1:80"), ConnectTimeout: time.Second, DelayLoop: time.Second}}},
		{ID: "x", Checks: []Check{{Kind: Misc, DelayLoop: time.Second}}},
		{ID: "x", Checks: []Check{{Kind: "SMTP_CHECK", DelayLoop: time.Second}}},
		{ID: "x", Checks: []Check{fastTCP("203.0.113.1:80", -1)}},
	}
	for i, tg := range bad {
		if err := e.Update([]Target{tg}); err == nil {
			t.Errorf("target %d accepted: %+v", i, tg)
		}
	}
	dup := Target{ID: "d", Checks: []Check{fastTCP("203.0.113.1:80", 0)}}
	if err := e.Update([]Target{dup, dup}); err == nil {
		t.Error("duplicate IDs accepted")
	}
}

// pipeHTTP serves one canned HTTP response per dial over net.Pipe and
// records the request line and Host header.
type pipeHTTP struct {
	mu      sync.Mutex
	status  int
	body    string
	request []string
}

func (p *pipeHTTP) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	c, s := net.Pipe()
	go func() {
		defer s.Close()
		r := bufio.NewReader(s)
		req, err := http.ReadRequest(r)
		if err != nil {
			return
		}
		p.mu.Lock()
		p.request = append(p.request, req.Method+" "+req.RequestURI+" host="+req.Host)
		status, body := p.status, p.body
		p.mu.Unlock()
		fmt.Fprintf(s, "HTTP/1.0 %d X\r\nContent-Length: %d\r\n\r\n%s", status, len(body), body)
	}()
	return c, nil
}

func md5hex(s string) string {
	h := md5.Sum([]byte(s))
	return hex.EncodeToString(h[:])
}

func TestProbeHTTPFake(t *testing.T) {
	p := &pipeHTTP{status: 200, body: "hello"}
	e := New(Config{Dial: p.dial})
	c := &Check{Kind: HTTP, Addr: netip.MustParseAddrPort("203.0.113.1:8080"), ConnectTimeout: time.Second,
		Host: "www.example.com",
		URLs: []URL{{Path: "/a", Digest: md5hex("hello")}, {Path: "/b?x=1", Status: []StatusRange{{200, 200}}}}}
	if r := e.probe(context.Background(), c); !r.ok {
		t.Fatalf("probe failed: %v", r.err)
	}
	want := []string{"GET /a host=www.example.com", "GET /b?x=1 host=www.example.com"}
	if strings.Join(p.request, "|") != strings.Join(want, "|") {
		t.Fatalf("requests %q, want %q", p.request, want)
	}
	p.body = "changed"
	if r := e.probe(context.Background(), c); r.ok || !strings.Contains(r.err.Error(), "digest") {
		t.Fatalf("digest mismatch not caught: %+v", r)
	}
	p.body, p.status = "hello", 503
	if r := e.probe(context.Background(), c); r.ok || !strings.Contains(r.err.Error(), "503") {
		t.Fatalf("status 503 not caught: %+v", r)
	}
}

func TestProbeHTTPTimeoutBounded(t *testing.T) {
	// A server that accepts and never answers: the probe must end within
	// connect_timeout.
	e := New(Config{Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		c, s := net.Pipe()
		go func() { <-ctx.Done(); s.Close() }()
		return c, nil
	}})
	c := &Check{Kind: HTTP, Addr: netip.MustParseAddrPort("203.0.113.1:80"), ConnectTimeout: 50 * time.Millisecond,
		URLs: []URL{{Path: "/"}}}
	start := time.Now()
	r := e.probe(context.Background(), c)
	if r.ok {
		t.Fatal("silent server passed")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("probe took %v, want about connect_timeout", d)
	}
}

// Against real sockets on 127.0.0.1.
func TestEngineRealServers(t *testing.T) {
	var status atomic.Int64
	status.Store(200)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(int(status.Load()))
		fmt.Fprint(w, "ok\n")
	}))
	defer srv.Close()
	haddr := netip.MustParseAddrPort(srv.Listener.Addr().String())

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	taddr := netip.MustParseAddrPort(ln.Addr().String())
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()

	rec := newRecorder()
	e := New(Config{Jitter: noJitter, OnTransition: rec.cb})
	hc := Check{Kind: HTTP, Addr: haddr, ConnectTimeout: time.Second, Retry: 1,
		DelayBeforeRetry: time.Millisecond, DelayLoop: 5 * time.Millisecond,
		URLs: []URL{{Path: "/health", Digest: md5hex("ok\n")}}}
	tc := Check{Kind: TCP, Addr: taddr, ConnectTimeout: time.Second, Retry: 1,
		DelayBeforeRetry: time.Millisecond, DelayLoop: 5 * time.Millisecond}
	e.Update([]Target{{ID: "http", Weight: 1, StartDown: true, Checks: []Check{hc}}, {ID: "tcp", Weight: 1, Checks: []Check{tc}}})
	e.Start(context.Background())
	defer e.Stop()
	if ev := rec.next(t); ev != (event{id: "http", up: true, weight: 1}) {
		t.Fatalf("got %+v, want http up (alpha start)", ev)
	}
	status.Store(500)
	if ev := rec.next(t); ev != (event{id: "http", up: false, weight: 1}) {
		t.Fatalf("got %+v, want http down", ev)
	}
	ln.Close()
	if ev := rec.next(t); ev != (event{id: "tcp", up: false, weight: 1}) {
		t.Fatalf("got %+v, want tcp down", ev)
	}
	ln2, err := net.Listen("tcp", taddr.String())
	if err != nil {
		testenv.Skip(t, "cannot listen on %v again: %v", taddr, err)
	}
	defer ln2.Close()
	go func() {
		for {
			c, err := ln2.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	if ev := rec.next(t); ev != (event{id: "tcp", up: true, weight: 1}) {
		t.Fatalf("got %+v, want tcp up", ev)
	}
}

func TestRunCommand(t *testing.T) {
	if _, err := exec.LookPath("sh"); err != nil {
		testenv.Skip(t, "no sh")
	}
	st, err := RunCommand(context.Background(), []string{"sh", "-c", "exit 7"})
	if err != nil || st != 7 {
		t.Fatalf("exit 7: got %d, %v", st, err)
	}
	st, err = RunCommand(context.Background(), []string{"sh", "-c", "exit 0"})
	if err != nil || st != 0 {
		t.Fatalf("exit 0: got %d, %v", st, err)
	}
	if _, err := RunCommand(context.Background(), []string{"/nonexistent/check"}); err == nil {
		t.Fatal("missing program ran")
	}
	// A program that outlives its timeout, with a child of its own: both
	// are ended and the call returns quickly with an error.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = RunCommand(ctx, []string{"sh", "-c", "sleep 30 & sleep 30; wait"})
	if err == nil {
		t.Fatal("timed-out program reported a status")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("RunCommand returned after %v, want about the timeout", d)
	}
}

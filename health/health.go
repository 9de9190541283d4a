package health

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"reflect"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Kind is a checker kind, named as in keepalived.conf.
type Kind string

// Checker kinds.
const (
	TCP  Kind = "TCP_CHECK"
	HTTP Kind = "HTTP_GET"
	Misc Kind = "MISC_CHECK"
)

// Defaults, as in keepalived (check_api.c, check_data.c).
const (
	DefaultConnectTimeout   = 5 * time.Second
	DefaultDelayLoop        = 60 * time.Second
	DefaultDelayBeforeRetry = time.Second     // TCP_CHECK, MISC_CHECK
	DefaultHTTPDelayRetry   = 3 * time.Second // HTTP_GET
	DefaultRetry            = 1               // TCP_CHECK, HTTP_GET; MISC_CHECK's is 0
	maxBody                 = 16 << 20        // HTTP_GET reads at most this much of a body
)

// StatusRange is an inclusive range of HTTP status codes.
type StatusRange struct{ Lo, Hi int }

// URL is one url block of HTTP_GET: all of a check's URLs must pass.
type URL struct {
	Path   string        // request path, starting with "/"
	Digest string        // lower-case hex MD5 of the body (genhash), or ""
	Status []StatusRange // accepted status codes; none means 200-299
}

// Check is one checker of a realserver. Durations and Retry must be set
// (the keepalived parser fills keepalived's defaults).
type Check struct {
	Kind             Kind
	Addr             netip.AddrPort // where TCP_CHECK and HTTP_GET connect
	ConnectTimeout   time.Duration  // bounds a TCP connect, or a whole HTTP exchange
	Retry            int            // retries before a realserver that is up is declared down
	DelayBeforeRetry time.Duration
	DelayLoop        time.Duration

	URLs []URL  // HTTP_GET
	Host string // HTTP_GET: Host header (virtualhost); Addr when empty

	Command []string      // MISC_CHECK: program and arguments
	Timeout time.Duration // MISC_CHECK: bounds one run
	Dynamic bool          // MISC_CHECK: misc_dynamic
}

// Target is one realserver to check.
type Target struct {
	ID        string // stable across Update calls; opaque to the engine
	Weight    int    // configured weight, reported with transitions unless a dynamic check set one
	StartDown bool   // keepalived's alpha: down until a check passes
	Checks    []Check
}

// Transition reports that target id went up or down, or changed weight while
// up. weight is the configured one, or the last one a misc_dynamic check set.
type Transition func(id string, up bool, weight int)

// Config configures an Engine. Every field is optional.
type Config struct {
	OnTransition Transition
	Log          *slog.Logger
	// Dial connects TCP_CHECK and HTTP_GET probes; net.Dialer's by default.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Exec runs a MISC_CHECK program until it exits or ctx is done and
	// returns its exit status; err is set when it could not be run or was
	// killed. RunCommand by default.
	Exec func(ctx context.Context, argv []string) (status int, err error)
	// Jitter returns a random duration in [0, max); math/rand by default.
	Jitter func(max time.Duration) time.Duration
}

// Counters are the engine's totals since New.
type Counters struct {
	Probes   uint64 // probes run
	Failures uint64 // probes that failed
	Ups      uint64 // transitions to up
	Downs    uint64 // transitions to down
}

// Status is a target's current state.
type Status struct {
	ID      string
	Up      bool
	Weight  int  // the configured weight, or the one misc_dynamic set
	Dynamic bool // Weight was set by a misc_dynamic check
}

// Engine runs checks and reports transitions. Build it with New.
type Engine struct {
	cfg  Config
	log  *slog.Logger
	http *http.Transport

	mu      sync.Mutex
	targets map[string]*target
	ctx     context.Context // nil until Start
	cancel  context.CancelFunc
	stopped bool
	queue   []event
	wake    chan struct{}
	wg      sync.WaitGroup

	probes, failures, ups, downs atomic.Uint64
}

type event struct {
	id       string
	up       bool
	weight   int
	reweight bool // a new weight while up, not an up/down change
}

// target is a Target's state; guarded by Engine.mu.
type target struct {
	spec    Target
	checks  []checkState
	dynamic int // weight set by misc_dynamic, -1 if none
	up      bool
	weight  int // weight last reported
	cancel  context.CancelFunc
	gen     uint64
	lastErr error
}

// checkState is keepalived's per-checker state: is_up and retry_it.
type checkState struct {
	up      bool
	retryIt int
}

// observe feeds one probe result to the state machine and returns whether
// the check's state changed and how long to wait before the next probe.
func (s *checkState) observe(ok bool, c *Check) (changed bool, next time.Duration) {
	if ok {
		s.retryIt = 0
		changed = !s.up
		s.up = true
		return changed, c.DelayLoop
	}
	if !s.up {
		return false, c.DelayLoop
	}
	if s.retryIt < c.Retry {
		s.retryIt++
		return false, c.DelayBeforeRetry
	}
	s.retryIt = 0
	s.up = false
	return true, c.DelayLoop
}

// New returns an engine with no targets; add them with Update and run them
// with Start.
func New(cfg Config) *Engine {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Dial == nil {
		var d net.Dialer
		cfg.Dial = d.DialContext
	}
	if cfg.Exec == nil {
		cfg.Exec = RunCommand
	}
	if cfg.Jitter == nil {
		cfg.Jitter = func(max time.Duration) time.Duration {
			if max <= 0 {
				return 0
			}
			return time.Duration(rand.Int64N(int64(max)))
		}
	}
	e := &Engine{
		cfg:     cfg,
		log:     cfg.Log,
		targets: map[string]*target{},
		wake:    make(chan struct{}, 1),
	}
	e.http = &http.Transport{
		Proxy:                  nil,
		DialContext:            cfg.Dial,
		DisableKeepAlives:      true,
		DisableCompression:     true,
		MaxResponseHeaderBytes: 64 << 10,
	}
	return e
}

// Validate checks what the engine needs of a target.
func (t *Target) Validate() error {
	if t.ID == "" {
		return errors.New("health: target without an ID")
	}
	for i := range t.Checks {
		c := &t.Checks[i]
		if c.DelayLoop <= 0 {
			return fmt.Errorf("health: %s: %s: delay_loop must be positive", t.ID, c.Kind)
		}
		if c.Retry < 0 || c.DelayBeforeRetry < 0 {
			return fmt.Errorf("health: %s: %s: negative retry or delay_before_retry", t.ID, c.Kind)
		}
		switch c.Kind {
		case TCP, HTTP:
			if !c.Addr.IsValid() || c.ConnectTimeout <= 0 {
				return fmt.Errorf("health: %s: %s needs an address and a positive connect_timeout", t.ID, c.Kind)
			}
			if c.Kind == HTTP && len(c.URLs) == 0 {
				return fmt.Errorf("health: %s: HTTP_GET without a url", t.ID)
			}
		case Misc:
			if len(c.Command) == 0 || c.Timeout <= 0 {
				return fmt.Errorf("health: %s: MISC_CHECK needs a command and a positive timeout", t.ID)
			}
		default:
			return fmt.Errorf("health: %s: unknown check kind %q", t.ID, c.Kind)
		}
	}
	return nil
}

// Update replaces the set of targets. A target whose ID and checks are
// unchanged keeps its state and its running checks; one whose checks changed
// keeps its up/down state and restarts its checks; a new one starts up (or
// down with StartDown) without a transition being reported; a removed one
// stops. Update never waits for a check to finish.
func (e *Engine) Update(targets []Target) error {
	seen := map[string]bool{}
	for i := range targets {
		if err := targets[i].Validate(); err != nil {
			return err
		}
		if seen[targets[i].ID] {
			return fmt.Errorf("health: target %s given twice", targets[i].ID)
		}
		seen[targets[i].ID] = true
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for id, t := range e.targets {
		if !seen[id] {
			e.stopTargetLocked(t)
			delete(e.targets, id)
		}
	}
	for _, spec := range targets {
		spec.Checks = cloneChecks(spec.Checks)
		t := e.targets[spec.ID]
		if t == nil {
			t = &target{spec: spec, up: !spec.StartDown, dynamic: -1, weight: spec.Weight}
			t.checks = make([]checkState, len(spec.Checks))
			for i := range t.checks {
				t.checks[i].up = t.up
			}
			e.targets[spec.ID] = t
			e.startTargetLocked(t)
			continue
		}
		if reflect.DeepEqual(t.spec.Checks, spec.Checks) {
			t.spec = spec
			if t.dynamic < 0 {
				t.weight = spec.Weight
			}
			continue
		}
		e.stopTargetLocked(t)
		t.spec = spec
		t.checks = make([]checkState, len(spec.Checks))
		for i := range t.checks {
			t.checks[i].up = t.up
		}
		t.dynamic = -1
		t.weight = spec.Weight
		e.startTargetLocked(t)
	}
	return nil
}

func cloneChecks(cs []Check) []Check {
	out := make([]Check, len(cs))
	for i, c := range cs {
		c.URLs = append([]URL(nil), c.URLs...)
		for j := range c.URLs {
			c.URLs[j].Status = append([]StatusRange(nil), c.URLs[j].Status...)
		}
		c.Command = append([]string(nil), c.Command...)
		out[i] = c
	}
	return out
}

func (e *Engine) stopTargetLocked(t *target) {
	if t.cancel != nil {
		t.cancel()
		t.cancel = nil
	}
	t.gen++
}

func (e *Engine) startTargetLocked(t *target) {
	if e.ctx == nil || e.stopped {
		return
	}
	ctx, cancel := context.WithCancel(e.ctx)
	t.cancel = cancel
	t.gen++
	gen := t.gen
	for i := range t.spec.Checks {
		c := t.spec.Checks[i]
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			e.run(ctx, t, gen, i, &c)
		}()
	}
}

// Start runs the checks of the current targets, and of those later Updates
// add, until ctx is done or Stop is called. Start may be called once.
func (e *Engine) Start(ctx context.Context) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.ctx != nil || e.stopped {
		return
	}
	e.ctx, e.cancel = context.WithCancel(ctx)
	for _, t := range e.targets {
		e.startTargetLocked(t)
	}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		e.dispatch()
	}()
}

// Stop stops every check and waits for them and for the transition
// callback to return. No transition is reported after Stop returns.
func (e *Engine) Stop() {
	e.mu.Lock()
	e.stopped = true
	if e.cancel != nil {
		e.cancel()
	}
	e.mu.Unlock()
	e.wg.Wait()
	e.http.CloseIdleConnections()
}

// Counters returns the engine's totals.
func (e *Engine) Counters() Counters {
	return Counters{Probes: e.probes.Load(), Failures: e.failures.Load(), Ups: e.ups.Load(), Downs: e.downs.Load()}
}

// Status returns every target's state, sorted by ID.
func (e *Engine) Status() []Status {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]Status, 0, len(e.targets))
	for _, t := range e.targets {
		out = append(out, t.status())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// State returns one target's state; ok is false if there is no such target.
func (e *Engine) State(id string) (st Status, ok bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	t := e.targets[id]
	if t == nil {
		return Status{}, false
	}
	return t.status(), true
}

func (t *target) status() Status {
	return Status{ID: t.spec.ID, Up: t.up, Weight: t.weight, Dynamic: t.dynamic >= 0}
}

// run probes check i of t until ctx is done.
func (e *Engine) run(ctx context.Context, t *target, gen uint64, i int, c *Check) {
	wait := e.cfg.Jitter(c.DelayLoop) // keepalived's warmup
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		r := e.probe(ctx, c)
		if ctx.Err() != nil {
			return
		}
		next, ok := e.report(t, gen, i, c, r)
		if !ok {
			return
		}
		timer.Reset(next + e.cfg.Jitter(next/16+1))
	}
}

// result is one probe's outcome.
type result struct {
	ok     bool
	weight int // misc_dynamic weight, -1 if none
	err    error
}

// report records a probe result and queues a transition if the target's
// state changed. It returns the delay before the next probe, and false if
// the check has been replaced or removed.
func (e *Engine) report(t *target, gen uint64, i int, c *Check, r result) (time.Duration, bool) {
	e.probes.Add(1)
	if !r.ok {
		e.failures.Add(1)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if t.gen != gen || e.targets[t.spec.ID] != t || e.stopped {
		return 0, false
	}
	_, next := t.checks[i].observe(r.ok, c)
	if r.ok && r.weight >= 0 {
		t.dynamic = r.weight
	}
	if !r.ok {
		t.lastErr = r.err
	}
	up := true
	for _, s := range t.checks {
		up = up && s.up
	}
	weight := t.spec.Weight
	if t.dynamic >= 0 {
		weight = t.dynamic
	}
	if up == t.up && (!up || weight == t.weight) {
		t.weight = weight
		return next, true
	}
	reweight := up == t.up
	t.up, t.weight = up, weight
	e.queue = append(e.queue, event{id: t.spec.ID, up: up, weight: weight, reweight: reweight})
	select {
	case e.wake <- struct{}{}:
	default:
	}
	return next, true
}

// dispatch delivers queued transitions in order, one at a time.
func (e *Engine) dispatch() {
	for {
		e.mu.Lock()
		q := e.queue
		e.queue = nil
		done := e.ctx.Done()
		e.mu.Unlock()
		for _, ev := range q {
			e.deliver(ev)
		}
		select {
		case <-done:
			return
		case <-e.wake:
		}
	}
}

func (e *Engine) deliver(ev event) {
	e.mu.Lock()
	t := e.targets[ev.id]
	var lastErr error
	if t != nil {
		lastErr = t.lastErr
	}
	stopped := e.stopped
	e.mu.Unlock()
	if t == nil || stopped {
		return // removed by an Update or stopped since
	}
	switch {
	case ev.reweight:
		e.log.Info("realserver weight changed", "target", ev.id, "weight", ev.weight)
	case ev.up:
		e.ups.Add(1)
		e.log.Info("realserver up", "target", ev.id, "weight", ev.weight)
	default:
		e.downs.Add(1)
		e.log.Warn("realserver down", "target", ev.id, "err", lastErr)
	}
	if e.cfg.OnTransition != nil {
		e.cfg.OnTransition(ev.id, ev.up, ev.weight)
	}
}

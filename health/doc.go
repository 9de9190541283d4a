// Package health checks realservers the way keepalived's checker process
// does, and reports when one goes down or comes back.
//
// A Target is one realserver with the checks configured for it (keepalived's
// TCP_CHECK, HTTP_GET and MISC_CHECK). An Engine runs every check of every
// target in its own goroutine, each probe bounded by its timeout, the first
// one after a random delay of up to delay_loop (keepalived's warmup) and the
// later ones delay_loop apart plus a little jitter, so a thousand checks do
// not fire in the same millisecond.
//
// The state machine is keepalived's (check_tcp.c tcp_epilog, check_misc.c):
//
//	probe ok                      -> up; next probe after DelayLoop
//	probe failed, retries left    -> retry after DelayBeforeRetry, state unchanged
//	probe failed, no retries left -> down; next probe after DelayLoop
//
// so a realserver that is up is declared down after Retry+1 consecutive
// failed probes (the first one and Retry retries), and a realserver that is
// down comes back after one successful probe. A target with several checks
// is up when all of them are. Targets start up, as in keepalived, unless
// Target.StartDown is set (keepalived's alpha).
//
// MISC_CHECK runs a program: exit 0 is up. With Dynamic set (misc_dynamic),
// exit 1 is down and exit 2..255 is up with weight status-2, the convention
// of keepalived's check_misc.c; without it, any status but 0 is down.
//
// Transitions of a target (up, down, or a new dynamic weight while up) go to
// Config.OnTransition, one call at a time and in order, from a goroutine of
// the engine; each is logged once and counted. The network and the program
// runner are injected (Config.Dial, Config.Exec), so the state machine is
// tested without sockets.
//
//	e := health.New(health.Config{OnTransition: func(id string, up bool, w int) { ... }})
//	e.Update([]health.Target{{ID: "rs1", Weight: 1, Checks: []health.Check{{
//		Kind: health.TCP, Addr: netip.MustParseAddrPort("203.0.113.1:80"),
//		ConnectTimeout: 3 * time.Second, Retry: 1, DelayBeforeRetry: time.Second, DelayLoop: 6 * time.Second,
//	}}}})
//	e.Start(ctx)
//	defer e.Stop()
package health

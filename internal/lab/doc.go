// Package lab builds network-namespace laboratories for tests, the demo and
// the benchmarks, and always tears them down.
//
// A Lab is a set of namespaces whose names share a unique per-run prefix
// ("gv" and six random hex digits, e.g. "gv3fa91c"). A Host is one namespace,
// Link joins two hosts with a veth pair, and a Segment is a shared L2 network:
// a bridge in a namespace of its own to which hosts Attach with veths.
//
//	l := lab.NewT(t) // skips without CAP_SYS_ADMIN, closes on t.Cleanup
//	a, _ := l.Host("a")
//	b, _ := l.Host("b")
//	_ = l.Link(a, "eth0", b, "eth0")
//	_ = a.AddAddr("eth0", "192.0.2.2/24")
//	_ = b.AddAddr("eth0", "192.0.2.1/24")
//	ln, _ := b.ListenTCP("192.0.2.1:80")
//	c, _ := a.DialTCP(ctx, "192.0.2.1:80")
//
// Topology is configured with the ip(8) command (ip -n NS ...), which is
// robust and readable in error messages; Go code runs inside a namespace with
// Host.Do, which locks a fresh goroutine to its OS thread, switches that
// thread into the namespace with setns(2) and lets the thread die afterwards
// (it is never unlocked, so no goroutine can later run on a thread left in a
// test namespace). Sockets keep the namespace they were created in, so the
// Listen and Dial helpers create them inside Do and hand them back.
//
// Close deletes every namespace the lab made, which also deletes the veths
// and bridges in them; Sweep removes namespaces left by runs that were killed
// before they could Close.
//
// Basic, BasicRouted and BasicDR build the client / director / realservers
// topologies the end-to-end tests use; their diagrams are on the functions.
package lab

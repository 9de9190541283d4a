// Package balancer is govs's IPVS core: it decides, it does no I/O.
//
// It keeps the virtual services and realservers that ipvsadm configures, the
// connection table with IPVS's TCP state machine and timeouts, persistence
// templates, the activeconns/inactconns/persistconns counts that schedulers
// read, and the per-service and per-realserver counters ipvsadm -L --stats
// prints. The dataplane hands it a packet's 5-tuple and gets back a Verdict.
//
// # Configuration
//
//	b := balancer.New(balancer.Config{MaxConns: 1 << 20})
//	k := balancer.ServiceKey{Proto: balancer.TCP, Addr: netip.MustParseAddr("198.51.100.1"), Port: 80}
//	err := b.AddService(balancer.ServiceConfig{ServiceKey: k, Scheduler: "wlc"})   // ipvsadm -A -t … -s wlc
//	err = b.AddDest(k, balancer.DestConfig{Addr: rip, Port: 80, Method: balancer.MethodDR, Weight: 1}) // ipvsadm -a … -g -w 1
//
// Config calls are serialised by a mutex and are atomic: a failed call
// changes nothing, and its error names the object ("service TCP
// 198.51.100.1:80 does not exist"; errors.Is ErrNotExist, ErrExist or
// ErrInvalid). Each successful call publishes a new immutable snapshot
// through an atomic pointer; the packet path reads it without a lock.
//
// # Packets
//
// Each dataplane goroutine takes its own Worker:
//
//	w := b.NewWorker()
//	v := w.In(&flow, tcpFlags, len(pkt), now) // client → VIP
//	switch v.Action {
//	case balancer.Forward: // send to v.DestAddr:v.DestPort by v.Method
//	case balancer.Drop:    // v.Reason says why
//	case balancer.Pass:    // not ours
//	}
//	v = w.Out(&reply, tcpFlags, len(pkt), now) // masq realserver → client: SNAT to v.VIP:v.VPort
//	w.Flush() // after each batch: publish its packet and byte counters
//
// A Worker sums packet and byte counters in plain memory and publishes
// them on Flush, so readers see them up to one batch late; it keeps no
// count of what it did not forward (the caller counts verdicts by Reason).
//
// now is nanoseconds on any monotonic clock, the same for every call. In,
// Out and Related lock one connection-table shard for a few dozen
// nanoseconds and do not allocate in steady state. Expiry is incremental:
// call b.Expire(now, budget) often (between batches, or from a ticker) with
// a small budget of table slots to examine.
//
// # Fidelity to IPVS
//
// The TCP state tables, timeouts and conn-reuse rule are those of
// net/netfilter/ipvs/ip_vs_proto_tcp.c (secure_tcp off): the INPUT/OUTPUT
// tables for masq, where the director sees both directions, and the
// INPUT-ONLY table for DR, tunnel and local. A connection starts inactive
// (IP_VS_CONN_F_INACTIVE) and is active exactly while in ESTABLISHED; UDP
// connections are always inactive. Persistence follows ip_vs_sched_persist:
// a template per (service, client network) sends the network to the same
// realserver while the realserver is in the service (and, unless
// Config.KeepQuiescentTemplates, has a weight); a template lives while it
// controls connections. Port-zero services are allowed only when
// persistent. Deleted realservers and services keep serving their
// connections until these expire (IPVS's dest trash). Unlike IPVS, a TCP
// segment without SYN that matches no connection is dropped (ReasonNotSYN)
// rather than passed to the host, and the table has a size limit.
package balancer

// Package dataplane is govs's per-packet path: a Worker takes frames from
// a capture engine, classifies them (ARP and ping for VIPs, client
// packets, masq replies, ICMP errors, fragments), asks the balancer where
// a connection goes, rewrites the frame in place (DR, masq, IPIP, LocalNode)
// and queues it on the engine's transmit side, counting every frame it
// does not forward by reason.
//
// A Worker owns one receive queue, its own balancer.Worker, fragment
// table, arena and counters: nothing in it is shared, so the per-packet
// path takes no lock and allocates nothing (TestWorkerZeroAllocs). What it
// reads of the daemon's configuration is one Snapshot, published whole
// through an atomic pointer; next hops come from a Resolver.
//
// The I/O boundary is the Receiver and Sender interfaces (capture.go): AF_PACKET
// rings implement them in production (NewAFPacketRx), a tap device for
// LocalNode, and slices in tests, so the whole path runs here without
// root. The daemon's lifecycle (sockets, filters, the tap's addresses and
// routes, the control API) stays in internal/director.
package dataplane

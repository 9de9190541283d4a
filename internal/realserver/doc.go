// Package realserver prepares a host to be an LVS realserver for direct
// routing (DR) and IPIP tunnelling (TUN), as the LVS-HOWTO describes, and is
// what "govs realserver" runs.
//
// Run adds each VIP as a /32 on lo, so that the local stack accepts packets
// addressed to it, and sets arp_ignore=1 and arp_announce=2 (on "all" and on
// the interface facing the director) so that the host neither answers ARP for
// the VIPs nor uses them as ARP source addresses: only the director may own a
// VIP on the shared segment. When ctx is done it undoes exactly what it
// changed: VIPs that were already on lo stay, sysctls get their old values.
//
// With Tun, Run also decapsulates IPIP in user space, for kernels without the
// ipip module:
//
//	director ──IPIP(outer dst = RIP)──▶ raw socket (IPPROTO_IPIP) ─┐
//	                                                               │ Decap: strip outer header,
//	                                                               │ keep only inner dst ∈ VIPs
//	client ◀──reply (src VIP, direct)── local stack ◀── TUN "govstun0"
//
// A raw socket for protocol 4 receives every IPIP packet delivered locally,
// outer header included, and its mere presence stops the kernel from
// answering them with ICMP protocol unreachable. The inner packet is written
// to a TUN device (IFF_TUN|IFF_NO_PI, rp_filter 0), so the kernel receives
// it as if it had arrived on an interface, delivers it to the socket bound
// to VIP:port, and routes the reply straight to the client.
//
// Decap is a pure function over the caller's buffer; the packet loop reuses
// one buffer and allocates nothing per packet.
package realserver

// Package localnode lets the director be a realserver too: IPVS's LocalNode
// ("-r 127.0.0.1"), the one-box LVS (realservers on several local addresses,
// with masquerading and port mapping) and the two-box LVS (two directors
// that are each other's realservers).
//
// govs takes VIP traffic away from the host's stack (the nftables ingress
// drop), so a connection scheduled to a local realserver has to be handed
// back to it. A Tap is how: a tap device (DefaultName, "govs0") that govs
// owns and that the host stack sees as one more Ethernet interface.
//
//	client ──► eth0 ──► govs (AF_PACKET) ──┬──► DR / TUN / masq realservers
//	                                       │
//	                                       └──► govs0 (tap) ──► host stack
//	                                              ▲               │ service on VIP:port
//	                                              │               ▼ (LocalNode: reply from
//	  masq replies (policy routing:               │                  the VIP, main table)
//	  from RIP lookup Table → dev govs0) ─────────┘
//
// A LocalNode connection is written into the tap unmodified: the
// destination is still the VIP, which the tap holds as a /32 while a
// service on it has a local realserver, so the local service answers from
// the VIP straight to the client, as a DR realserver would. A masqueraded
// local realserver (-m, possibly with another port) gets the packet after
// DNAT to RIP:rport; its replies are routed back into the tap by an ip rule
// per local RIP ("from RIP lookup Table") and a "default dev govs0" route in
// Table, and govs reads them from the tap, reverses the NAT and sends them
// to the client.
//
// What the host stack needs for this (found in a feasibility run and set by
// Open): rp_filter 0 or 2 on "all" and the tap (the effective value is the
// higher one; strict mode silently drops the injected packets);
// disable_ipv6 on the tap; route_localnet on the tap for 127.0.0.0/8
// realservers; IFF_NOARP on the tap (the kernel would otherwise ARP for
// clients on it, and the frames it writes carry the tap's own MAC instead);
// and IFF_VNET_HDR, so that frames with a partial checksum or GSO
// super-frames pass through with their virtio-net header instead of being
// dropped for a bad checksum.
//
// Everything is undone by Close: the rules are deleted, the tap is not
// persistent (it disappears with its file descriptor, and with it its
// addresses and routes, even if govs is killed), and the sysctls of
// interfaces that stay are written back. Sysctls records and restores such
// settings; AddrSet follows the host's addresses over netlink to decide
// which realserver addresses are local.
package localnode

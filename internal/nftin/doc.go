// Package nftin keeps the director's own kernel stack away from the traffic
// govs handles. It installs one nftables table (family netdev, name "govs")
// with an ingress chain per interface that drops, before the IP stack sees
// them:
//
//   - IPv4 packets to a VIP service: (proto, VIP, port), or the whole VIP
//     address for port-0 services; ICMP to any VIP address; and every
//     non-first fragment (offset != 0) to a VIP address, which carries no ports;
//   - masquerade replies: packets from a realserver's (proto, RIP, port);
//   - ARP requests whose target protocol address is a VIP, so that only govs
//     answers them.
//
// govs still sees all of these frames: AF_PACKET sockets bound to ETH_P_ALL
// are fed by the ptype_all taps, which run before the netdev ingress hook.
// (A socket bound to one protocol, say ETH_P_ARP, is fed after the hook and
// would miss the dropped frames.)
//
// nftables tables belong to a network namespace, so one fixed name per
// namespace suffices; Install refuses when the table exists already, which
// is how a second govs in the same namespace is stopped.
package nftin

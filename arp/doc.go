// Package arp owns ARP and next-hop resolution for the govs director.
//
// It has three parts:
//
//   - Frame functions (ParseRequest, BuildReply, BuildRequest, BuildGratuitous)
//     work on Ethernet frames held in caller-owned []byte and never allocate,
//     so the dataplane can answer ARP for VIPs inline.
//   - Announcer sends gratuitous ARPs for VIPs when the director takes them
//     over (what heartbeat's send_arp and keepalived do on a MASTER transition).
//     Its I/O is an injected net.PacketConn, so its logic is tested without root.
//   - Resolver follows the kernel's neighbour and route tables over rtnetlink
//     and answers "which MAC, on which interface" for the forwarding path
//     without locks or allocation. When a neighbour is unknown it asks the
//     kernel to resolve it (RTM_NEWNEIGH with NTF_USE) and reports a miss, so
//     the caller drops and counts the packet until the entry appears.
//
// Only IPv4 over Ethernet is supported.
package arp

// Package bench is `govs bench`: a packets-per-second harness that builds
// its own namespace lab, measures govs and the kernel's alternatives in the
// same run on the same cores, and says how far apart they are.
//
//	  generator ns                director ns                      sink ns
//	+-------------+   veth   +-----------------------+   veth   +-------------+
//	| AF_PACKET   | eth0 --- eth0  subject under test  eth1 --- eth0  counts    |
//	| sendmmsg    |192.0.2.2 192.0.2.1     203.0.113.1         | (no address)|
//	+-------------+          +-----------------------+          +-------------+
//	   gen core                   director core(s), RPS             NAPI (GRO on),
//	                              steers eth0's receive here        tc ingress drop
//
// The generator sends prebuilt frames for N flows to the VIP
// 198.51.100.1:80 in sendmmsg batches, rate-limited by a token bucket or
// flat out, for a bounded time. The director forwards them to two
// realservers, 203.0.113.11 and .12, whose MACs are permanent neighbour
// entries that no host owns: the sink takes every frame, counts it in its
// interface counters and drops it at netdev ingress, and a tap with a random
// BPF filter samples a few so that each subject's output is checked (DR:
// destination MAC; masq: addresses, ports, checksums; TUN: the outer
// header). A subject whose output is wrong is reported as failed.
//
// Subjects: govs (the real daemon, `govs run`, configured through the CLI),
// nft-dnat (nftables DNAT with numgen over the same realservers),
// kernel-fwd (plain kernel routing: the floor) and afpacket-bare (govs's
// own AF_PACKET engine with the balancer bypassed: rewrite MACs and send).
//
// --mode local (LocalNode) measures delivery to the director's own stack
// instead: govs has the one realserver 127.0.0.1 and writes the frames into
// its tap, counted there; the baseline kernel-local has the VIP on the
// director's lo. An nftables rule at the director's IP input hook drops
// them, and the sample is taken where they enter the stack (local_linux.go).
//
// Figures per subject and round: zero-loss rate (bisection of the offered
// rate, delivered ≥ 99%), overload (delivered at the generator's maximum)
// and cost (director-core nanoseconds per forwarded packet at a fixed
// offered rate, from the busy fraction that an idle-priority soaker pinned
// to the director core sees, calibrated before every measurement).
package bench

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
// 198.51.100.1:80 in sendmmsg batches, rate-limited by a token bucket
// (sleeping between batches) or flat out, for a bounded time. The director
// forwards them to two realservers, 203.0.113.11 and .12, whose MACs are
// permanent neighbour entries that no host owns: the sink takes every
// frame, counts it in its interface counters and drops it at netdev
// ingress. The lab's interfaces have IPv6 off, so they carry the bench's
// frames and nothing else.
//
// Every measurement is a window, and each is counted and checked the same
// way for every subject:
//
//   - Counting. Delivered frames are those counted at the sink before the
//     generator stops; what arrives after, while rings and queues drain, is
//     reported as late and not delivered (a subject that queues what it
//     cannot forward gains nothing from it). Delivered rate = delivered
//     frames ÷ the generator's window. Frames the veth refused because the
//     director's receive backlog was full are not offered (refusing costs
//     the generator nothing, so they would make up a rate no wire carried);
//     each point reports them apart (refused).
//   - Offered rate. Each point records the rate requested and the rate
//     offered (sent ÷ window). A point where the generator fell more than
//     2% short of the request is measured again, up to three windows, then
//     fails the round; a search point that stays short instead lowers the
//     search's upper bound to what the generator offered (marked short,
//     with a note).
//   - Trials. A core of a shared or virtual machine can stall for tens of
//     milliseconds, a tenth of a window, through no fault of the subject: a
//     search point that delivered less than 99% is measured again, up to
//     three windows, and passes if one of them did (RFC 2544's repeated
//     trials). Every subject gets the same; each point says how many
//     windows it took (trials).
//   - Sampling. A tap with a BPF filter passes every frame that is not IPv4
//     and a random share of the IPv4 ones, sized to the point (about 512 a
//     window); a reservoir keeps a uniform 256 of them, and every point's
//     sample is validated (DR: destination MAC; masq: addresses, ports,
//     checksums; TUN: the outer header). A frame that is not IPv4, a wrong
//     frame, or more frames received than sent fails the round, and so does
//     a point where enough arrived but nothing was sampled.
//
// Subjects: govs (the real daemon, `govs run`, configured through the CLI),
// nft-dnat (nftables DNAT with numgen over the same realservers),
// kernel-fwd (plain kernel routing: the floor) and afpacket-bare (govs's
// own AF_PACKET engine with the balancer bypassed: rewrite MACs and send).
//
// --mode local (LocalNode) measures delivery to the director's own stack
// instead: govs has the one realserver 127.0.0.1 and writes the frames into
// its tap; the baseline kernel-local has the VIP on the director's lo. An
// nftables rule at the director's IP input hook counts and drops them, for
// both subjects alike; the sample is taken where they enter the stack
// (local_linux.go).
//
// Figures per subject and round:
//
//   - ≥99%-delivered rate (JSON key zero_loss_pps, kept from earlier
//     versions; it is not a loss-free rate): the highest offered rate at
//     which at least 99% of the frames were delivered inside the window.
//     A first point with the generator flat out bounds it (and is the
//     generator's maximum); bisection over the offered rates finds it.
//   - Overload: what is delivered when the generator offers
//     --overload-factor (default 2) × the subject's own ≥99%-delivered
//     rate, the same multiple for every subject, at most the generator's
//     maximum; the rate actually offered is reported next to it
//     (overload_offered_pps).
//   - Cost (cost_ns): nanoseconds of CPU per delivered packet at a fixed
//     offered rate (--cost-rate), net of a baseline. The busy time of
//     every core of the lab, generator cores included, is read from
//     /proc/stat before and after the window, so work the kernel does on
//     the generator's core for the director (on veth, the director's XDP
//     program and receive) is charged too. During the window a ticker
//     spins at SCHED_IDLE on every lab core: the kernel samples its CPU
//     accounting on the scheduler tick, which an idle core stops, so
//     without it the softirq work done in short bursts from idle (the
//     whole receive path) goes uncounted; the ticker's own time, what the
//     lab left idle, is taken off. On a virtual machine the spinning uses
//     up CPU allowance and the host can hold the lab back by a tenth, so
//     these windows may fall up to 12% short of the requested rate (the
//     offered rate is recorded). In the same round, before the subject
//     starts, the same traffic at the same rate is dropped at the
//     director's ingress (an nftables netdev rule on its client-facing
//     interface); that window's busy time per sent packet (sending, the
//     veth, the director's receive up to the ingress hook) is taken off
//     for every packet the subject was sent. cost_raw_ns is the figure
//     before the baseline is taken off. The sink's receive of what a
//     subject forwards remains in every subject's figure alike; a subject
//     that forwards without an ingress hook (kernel-fwd, nft-dnat) can
//     come out a little below the baseline's nftables drop, so its net
//     cost is near zero or slightly negative. /proc/stat counts in 10 ms
//     ticks: over a one-second window that is about ±2% of a core, ±130 ns
//     per packet at 150 kpps.
package bench

// Package xdpshed sheds load before the kernel's receive path when govs's
// capture rings cannot keep up: the cure for receive livelock.
//
// Without it, a director offered more than its workers can forward spends
// its core in the receive softirq (RPS, the backlog, taps, tpacket_rcv) on
// frames that the full capture ring then drops, and the worker thread, which
// only runs when the softirq lets it, forwards less and less as the offered
// rate grows (docs/PERFORMANCE.md, "Receive livelock").
//
// A Shedder attaches a small XDP program to every capture interface. The
// program passes everything while no worker of the interface is congested,
// which costs one load and one branch per frame. Each worker watches its
// own ring (afpacket.Socket.Backlog): when blocks pile up it raises a
// congestion count in a memory-mapped BPF array, and the program then
// drops IPv4 frames to a VIP (a BPF hash map of the configured VIPs) with
// probability congested/workers, at the driver, before an skb is built or
// steered — for veth, on the sending core. ARP, frames to other addresses
// and masq replies always pass. When the worker has caught up it lowers
// the count again (a Valve with hysteresis does the bookkeeping).
//
// The program is written in eBPF instructions here (about 30 of them) and
// loaded with bpf(2): no compiler, no object files, no new dependency. It
// is named "govs_shed" so a later govs can recognise, replace or remove a
// program left behind by one that died.
package xdpshed

// Package afpacket is govs's packet I/O engine: AF_PACKET sockets with a
// TPACKET_V3 receive ring, fanout, headroom and virtio-net headers, and a
// sendmmsg transmit path that allocates nothing.
//
// # Receive
//
// Open binds a SOCK_RAW socket to ETH_P_ALL on one interface, ignores the
// host's own outgoing packets (PACKET_IGNORE_OUTGOING) and maps a TPACKET_V3
// ring of Config.BlockCount blocks of Config.BlockSize bytes. The kernel fills
// a block with variable-size frames and hands it over when it is full or when
// Config.RetireTimeout expires. Recv returns frames of the block the socket
// holds; only when no block is ready does it poll(2), so under load there is
// no system call per batch:
//
//	s, err := afpacket.Open(ifindex, afpacket.Config{Headroom: 64, VnetHdr: true})
//	b := afpacket.NewBatch(64)
//	for {
//		n, err := s.Recv(b, 10*time.Millisecond)
//		for i := range b.Frames[:n] {
//			f := &b.Frames[i]
//			// f.Data is the Ethernet frame, inside the ring and writable.
//		}
//	}
//
// Frames point into the ring: they stay valid until the next Recv or Release
// on the same socket, and each Socket belongs to one goroutine (no locks).
//
// Layout of one frame in a block (tpacket_rcv, SOCK_RAW):
//
//	| tpacket3_hdr (48) | sockaddr_ll (20) | free (>= Headroom) | [virtio_net_hdr (10)] | MAC header ... |
//	                                       ^ Frame.Buf                                  ^ Frame.Data
//
// The bytes between the sockaddr_ll and the MAC header belong to the reader,
// so a caller can prepend an outer IPv4 header (IPIP) or a VLAN tag in place
// (Frame.Extend). PACKET_RESERVE (Config.Headroom) makes
// that gap at least Headroom bytes; the kernel aligns it, so it is usually a
// few bytes more (Frame.Headroom says how much exactly).
//
// The kernel strips an 802.1Q tag before packet taps see a frame: Frame.Data
// is untagged and the tag is in Frame.VLANTCI when Frame.VLANValid().
//
// # Offloads and virtio-net headers
//
// With Config.VnetHdr (PACKET_VNET_HDR) every received frame carries a
// struct virtio_net_hdr, which the kernel writes just in front of the MAC
// header (supported by tpacket_rcv since Linux 5.8; verified on 6.18 by the
// tests). GRO/TSO frames arrive whole, up to 64 KiB plus headers, with
// GSOType/GSOSize set and NEEDS_CSUM with CsumStart/CsumOffset when the
// checksum is still partial. Without VnetHdr the same facts are reduced to
// tp_status bits: StatusCsumNotReady (checksum partial: the L4 checksum field
// holds only the pseudo-header sum) and StatusGSOTCP.
//
// # Transmit
//
// SendBatch sends up to MaxBatch frames per sendmmsg(2) with MSG_DONTWAIT;
// the mmsghdr and iovec arrays live in the Socket, so frames may point into
// the receive ring and nothing is copied or allocated in user space. With
// VnetHdr each frame is preceded by its virtio_net_hdr, so GSO frames larger
// than the MTU are segmented by the kernel and NEEDS_CSUM frames are
// checksummed. Full queues (EAGAIN, ENOBUFS) and bad frames (EMSGSIZE,
// EINVAL) are counted in TxStats and dropped; SendBatch never blocks.
//
// OpenTX opens a transmit-only socket (protocol 0: it receives nothing).
// With Config.TXRing it gets a transmit ring (PACKET_TX_RING): SendBatch
// copies each frame into a ring slot (a 60-byte copy is cheaper than the
// per-message work of sendmmsg) and makes one send(2) per call; frames too
// long for a slot (GSO) go out, in order, through a plain companion socket.
// docs/PERFORMANCE.md has the measurements.
//
// The package is Linux-only; on other systems every constructor returns
// ErrNotImplemented.
package afpacket

package forward

// Field offsets for programs that read headers without the views: the
// classic BPF socket filter, the XDP load shedder, nftables rules. Each
// counts from the start of the header it names (add EthernetHeaderLen for
// an untagged frame's IPv4 or ARP header, and the IPv4 header length for
// the transport header); the views read the same fields.
const (
	// EthernetDestinationOffset is the destination MAC address;
	// EthernetTypeOffset the EtherType (or the 802.1Q TPID).
	EthernetDestinationOffset = ethDst
	EthernetTypeOffset        = ethType

	// IPv4FlagsOffset is the 16-bit word of flags and fragment offset;
	// IPv4FragmentOffsetMask selects the fragment offset in it.
	IPv4FlagsOffset        = ipFlagsOff
	IPv4FragmentOffsetMask = ipOffsetMask
	// IPv4ProtocolOffset is the protocol byte.
	IPv4ProtocolOffset = ipProto
	// IPv4SourceOffset and IPv4DestinationOffset are the addresses.
	IPv4SourceOffset      = ipSrc
	IPv4DestinationOffset = ipDst

	// TransportSourcePortOffset and TransportDestinationPortOffset are the
	// ports of a TCP or a UDP header: both begin with them.
	TransportSourcePortOffset      = tcpSrcPort
	TransportDestinationPortOffset = tcpDstPort

	// ICMPTypeOffset is the ICMP type byte.
	ICMPTypeOffset = icmpType

	// ARPOpOffset is the ARP operation; ARPTargetProtocolAddressOffset the
	// target's IPv4 address.
	ARPOpOffset                    = arpOp
	ARPTargetProtocolAddressOffset = arpTPA
)

// The ports of TCP and UDP are at the same offsets; the constants above
// say so for both.
const (
	_ = uint(tcpSrcPort - udpSrcPort) // compile-time: equal, or this underflows
	_ = uint(udpSrcPort - tcpSrcPort)
	_ = uint(tcpDstPort - udpDstPort)
	_ = uint(udpDstPort - tcpDstPort)
)

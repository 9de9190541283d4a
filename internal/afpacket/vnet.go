package afpacket

import "encoding/binary"

// struct virtio_net_hdr (include/uapi/linux/virtio_net.h), 10 bytes, in the
// host's byte order for AF_PACKET (legacy virtio on a native-endian host):
//
//	 0               1               2               3
//	+---------------+---------------+-------------------------------+
//	|     flags     |   gso_type    |            hdr_len            |
//	+---------------+---------------+-------------------------------+
//	|           gso_size            |          csum_start           |
//	+-------------------------------+-------------------------------+
//	|          csum_offset          |
//	+-------------------------------+

// VnetHdrLen is the length of a struct virtio_net_hdr.
const VnetHdrLen = 10

const (
	vnetFlags      = 0
	vnetGSOType    = 1
	vnetHdrLen     = 2
	vnetGSOSize    = 4
	vnetCsumStart  = 6
	vnetCsumOffset = 8
)

// Virtio-net header flags and GSO types.
const (
	VnetNeedsCsum = 1 // VIRTIO_NET_HDR_F_NEEDS_CSUM: checksum at CsumStart+CsumOffset is partial
	VnetDataValid = 2 // VIRTIO_NET_HDR_F_DATA_VALID: checksum already verified

	VnetGSONone  = 0    // VIRTIO_NET_HDR_GSO_NONE
	VnetGSOTCPv4 = 1    // VIRTIO_NET_HDR_GSO_TCPV4
	VnetGSOUDP   = 3    // VIRTIO_NET_HDR_GSO_UDP (UFO)
	VnetGSOTCPv6 = 4    // VIRTIO_NET_HDR_GSO_TCPV6
	VnetGSOUDPL4 = 5    // VIRTIO_NET_HDR_GSO_UDP_L4 (USO)
	VnetGSOECN   = 0x80 // VIRTIO_NET_HDR_GSO_ECN
)

// VnetHdr is a decoded struct virtio_net_hdr. CsumStart is counted from the
// start of the Ethernet header.
type VnetHdr struct {
	Flags      uint8
	GSOType    uint8
	HdrLen     uint16
	GSOSize    uint16
	CsumStart  uint16
	CsumOffset uint16
}

// Decode reads h from b, which holds at least VnetHdrLen bytes.
func (h *VnetHdr) Decode(b []byte) {
	_ = b[VnetHdrLen-1]
	h.Flags = b[vnetFlags]
	h.GSOType = b[vnetGSOType]
	h.HdrLen = binary.NativeEndian.Uint16(b[vnetHdrLen:])
	h.GSOSize = binary.NativeEndian.Uint16(b[vnetGSOSize:])
	h.CsumStart = binary.NativeEndian.Uint16(b[vnetCsumStart:])
	h.CsumOffset = binary.NativeEndian.Uint16(b[vnetCsumOffset:])
}

// Encode writes h into b, which holds at least VnetHdrLen bytes.
func (h *VnetHdr) Encode(b []byte) {
	_ = b[VnetHdrLen-1]
	b[vnetFlags] = h.Flags
	b[vnetGSOType] = h.GSOType
	binary.NativeEndian.PutUint16(b[vnetHdrLen:], h.HdrLen)
	binary.NativeEndian.PutUint16(b[vnetGSOSize:], h.GSOSize)
	binary.NativeEndian.PutUint16(b[vnetCsumStart:], h.CsumStart)
	binary.NativeEndian.PutUint16(b[vnetCsumOffset:], h.CsumOffset)
}

// IsGSO reports whether the frame is a GSO/GRO super-frame.
func (h *VnetHdr) IsGSO() bool { return h.GSOType&^VnetGSOECN != VnetGSONone }

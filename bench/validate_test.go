package bench

import (
	"encoding/binary"
	"strings"
	"testing"

	"github.com/govs-lb/govs/internal/csum"
)

// asForwarded is a DR rewrite: MACs only.
func asForwarded(f []byte, dmac [6]byte) []byte {
	out := append([]byte(nil), f...)
	copy(out[0:6], dmac[:])
	copy(out[6:12], DirOutMAC[:])
	return out
}

// asNAT rewrites the destination to realserver i and port, fixing checksums.
func asNAT(f []byte, i int, port uint16) []byte {
	out := asForwarded(f, RSMACs[i])
	a := RSAddrs[i].As4()
	copy(out[ethLen+16:], a[:])
	binary.BigEndian.PutUint16(out[ethLen+ipLen+2:], port)
	FixChecksums(out)
	return out
}

// asTunnel wraps f in IPIP from the director to realserver i.
func asTunnel(f []byte, i int) []byte {
	inner := f[ethLen:]
	out := make([]byte, ethLen+ipLen+len(inner))
	copy(out[0:6], RSMACs[i][:])
	copy(out[6:12], DirOutMAC[:])
	binary.BigEndian.PutUint16(out[12:], 0x0800)
	ip := out[ethLen:]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(ipLen+len(inner)))
	ip[8], ip[9] = 64, 4
	src, dst := DirOutAddr.Addr().As4(), RSAddrs[i].As4()
	copy(ip[12:], src[:])
	copy(ip[16:], dst[:])
	binary.BigEndian.PutUint16(ip[10:], ^csum.Checksum(ip[:ipLen], 0))
	copy(out[ethLen+ipLen:], inner)
	return out
}

// asLocal is a LocalNode hand-over: the destination MAC becomes the tap's.
func asLocal(f []byte, mac [6]byte) []byte {
	out := append([]byte(nil), f...)
	copy(out[0:6], mac[:])
	return out
}

func TestValidate(t *testing.T) {
	tapMAC := [6]byte{0x02, 0x42, 0, 0, 0, 0x99}
	localExp := ExpectLocal(tapMAC)
	udp := BuildFrame(make([]byte, 128), KindUDP, [4]byte{192, 0, 2, 9}, 4000, 64)
	tcp := BuildFrame(make([]byte, 128), KindTCPACK, [4]byte{192, 0, 2, 9}, 4000, 64)
	badCsum := asNAT(tcp, 1, RSPort)
	badCsum[len(badCsum)-1] ^= 0xff
	mismatched := asNAT(udp, 0, RSPort)
	copy(mismatched[0:6], RSMACs[1][:])
	for _, tc := range []struct {
		name  string
		frame []byte
		exp   Expect
		want  string // "" = valid, else a substring of the error
		rs    int
	}{
		{"dr udp", asForwarded(udp, RSMACs[1]), ExpectFor(SubjectGovs, ModeDR), "", 1},
		{"dr tcp", asForwarded(tcp, RSMACs[0]), ExpectFor(SubjectGovs, ModeDR), "", 0},
		{"dr unrewritten", udp, ExpectFor(SubjectGovs, ModeDR), "no realserver's", -1},
		{"kernel wrong rs", asForwarded(udp, RSMACs[1]), ExpectFor(SubjectKernel, ModeDR), "want one of", 1},
		{"masq", asNAT(tcp, 1, RSPort), ExpectFor(SubjectGovs, ModeMasq), "", 1},
		{"masq wrong port", asNAT(udp, 0, VIPPort), ExpectFor(SubjectGovs, ModeMasq), "destination port 80", 0},
		{"masq bad checksum", badCsum, ExpectFor(SubjectGovs, ModeMasq), "bad TCP checksum", 1},
		{"masq mac/addr mismatch", mismatched, ExpectFor(SubjectGovs, ModeMasq), "want 203.0.113.12", 1},
		{"masq not rewritten", asForwarded(udp, RSMACs[0]), ExpectFor(SubjectGovs, ModeMasq), "want 203.0.113.11", 0},
		{"nft", asNAT(udp, 0, VIPPort), ExpectFor(SubjectNFT, ModeDR), "", 0},
		{"tun", asTunnel(udp, 1), ExpectFor(SubjectGovs, ModeTun), "", 1},
		{"tun plain frame", asForwarded(udp, RSMACs[1]), ExpectFor(SubjectGovs, ModeTun), "want IPIP", 1},
		{"tun wrong outer dst", func() []byte { f := asTunnel(udp, 1); copy(f[0:6], RSMACs[0][:]); return f }(), ExpectFor(SubjectGovs, ModeTun), "outer destination", 0},
		{"short", udp[:30], Expect{}, "too short", -1},
		{"local", asLocal(udp, tapMAC), localExp, "", -1},
		{"local tcp", asLocal(tcp, tapMAC), localExp, "", -1},
		{"local wrong mac", udp, localExp, "destination MAC", -1},
		{"local natted", asLocal(asNAT(udp, 0, RSPort), tapMAC), localExp, "want the VIP", -1},
		{"local wrong port", func() []byte {
			f := asLocal(udp, tapMAC)
			binary.BigEndian.PutUint16(f[ethLen+ipLen+2:], 81)
			FixChecksums(f)
			return f
		}(), localExp, "destination port 81", -1},
		{"local bad checksum", func() []byte { f := asLocal(tcp, tapMAC); f[len(f)-1] ^= 0xff; return f }(), localExp, "bad TCP checksum", -1},
		{"local tunnelled", asLocal(asTunnel(udp, 0), tapMAC), localExp, "is no client", -1},
		{"kernel-local", udp, ExpectLocal(DirInMAC), "", -1},
	} {
		rs, err := Validate(tc.frame, tc.exp)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: unexpected error %v", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.want)
		case rs != tc.rs:
			t.Errorf("%s: realserver %d, want %d", tc.name, rs, tc.rs)
		}
	}
}

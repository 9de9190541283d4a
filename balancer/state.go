package balancer

import "time"

// TCP connection states, numbered as IPVS numbers them (IP_VS_TCP_S_*,
// include/uapi/linux/ip_vs.h); the tables below are indexed by these.
const (
	tcpNone        uint8 = iota // IP_VS_TCP_S_NONE
	tcpEstablished              // IP_VS_TCP_S_ESTABLISHED
	tcpSynSent                  // IP_VS_TCP_S_SYN_SENT
	tcpSynRecv                  // IP_VS_TCP_S_SYN_RECV
	tcpFinWait                  // IP_VS_TCP_S_FIN_WAIT
	tcpTimeWait                 // IP_VS_TCP_S_TIME_WAIT
	tcpClose                    // IP_VS_TCP_S_CLOSE
	tcpCloseWait                // IP_VS_TCP_S_CLOSE_WAIT
	tcpLastAck                  // IP_VS_TCP_S_LAST_ACK
	tcpListen                   // IP_VS_TCP_S_LISTEN
	tcpSynAck                   // IP_VS_TCP_S_SYNACK
	tcpNumStates
)

// tcpStateNames are tcp_state_name_table (ip_vs_proto_tcp.c), as ipvsadm -L -c
// prints them.
var tcpStateNames = [tcpNumStates]string{
	"NONE", "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT", "TIME_WAIT",
	"CLOSE", "CLOSE_WAIT", "LAST_ACK", "LISTEN", "SYNACK",
}

// defaultTCPTimeouts is tcp_timeouts (ip_vs_proto_tcp.c).
var defaultTCPTimeouts = [tcpNumStates]time.Duration{
	tcpNone:        2 * time.Second,
	tcpEstablished: 15 * time.Minute,
	tcpSynSent:     2 * time.Minute,
	tcpSynRecv:     1 * time.Minute,
	tcpFinWait:     2 * time.Minute,
	tcpTimeWait:    2 * time.Minute,
	tcpClose:       10 * time.Second,
	tcpCloseWait:   60 * time.Second,
	tcpLastAck:     30 * time.Second,
	tcpListen:      2 * time.Minute,
	tcpSynAck:      120 * time.Second,
}

// defaultUDPTimeout is udp_timeouts[IP_VS_UDP_S_NORMAL] (ip_vs_proto_udp.c).
const defaultUDPTimeout = 5 * time.Minute

// defaultPersistTimeout is ipvsadm's -p without a value (IPVS_SVC_PERSISTENT_TIMEOUT).
const defaultPersistTimeout = 360 * time.Second

// TCP header flag bits as they appear in byte 13 of the header; the tcpFlags
// arguments of In and Out take this byte.
const (
	TCPFlagFIN uint8 = 0x01
	TCPFlagSYN uint8 = 0x02
	TCPFlagRST uint8 = 0x04
	TCPFlagACK uint8 = 0x10
)

// Directions of the state table (tcp_state_off: TCP_DIR_INPUT, _OUTPUT,
// _INPUT_ONLY, each four rows apart).
const (
	dirInput     = 0
	dirOutput    = 4
	dirInputOnly = 8
)

// tcpStateTable is tcp_states (ip_vs_proto_tcp.c), secure_tcp off: rows are
// direction+event (syn, fin, ack, rst), columns the current state.
var tcpStateTable = [12][tcpNumStates]uint8{
	// INPUT: sNO, sES, sSS, sSR, sFW, sTW, sCL, sCW, sLA, sLI, sSA
	/*syn*/ {sSR, sES, sES, sSR, sSR, sSR, sSR, sSR, sSR, sSR, sSR},
	/*fin*/ {sCL, sCW, sSS, sTW, sTW, sTW, sCL, sCW, sLA, sLI, sTW},
	/*ack*/ {sCL, sES, sSS, sES, sFW, sTW, sCL, sCW, sCL, sLI, sES},
	/*rst*/ {sCL, sCL, sCL, sSR, sCL, sCL, sCL, sCL, sLA, sLI, sSR},
	// OUTPUT
	/*syn*/ {sSS, sES, sSS, sSR, sSS, sSS, sSS, sSS, sSS, sLI, sSR},
	/*fin*/ {sTW, sFW, sSS, sTW, sFW, sTW, sCL, sTW, sLA, sLI, sTW},
	/*ack*/ {sES, sES, sSS, sES, sFW, sTW, sCL, sCW, sLA, sES, sES},
	/*rst*/ {sCL, sCL, sSS, sCL, sCL, sTW, sCL, sCL, sCL, sCL, sCL},
	// INPUT-ONLY
	/*syn*/ {sSR, sES, sES, sSR, sSR, sSR, sSR, sSR, sSR, sSR, sSR},
	/*fin*/ {sCL, sFW, sSS, sTW, sFW, sTW, sCL, sCW, sLA, sLI, sTW},
	/*ack*/ {sCL, sES, sSS, sES, sFW, sTW, sCL, sCW, sCL, sLI, sES},
	/*rst*/ {sCL, sCL, sCL, sSR, sCL, sCL, sCL, sCL, sLA, sLI, sCL},
}

// Short names so that the table reads like the kernel's.
const (
	sNO = tcpNone
	sES = tcpEstablished
	sSS = tcpSynSent
	sSR = tcpSynRecv
	sFW = tcpFinWait
	sTW = tcpTimeWait
	sCL = tcpClose
	sCW = tcpCloseWait
	sLA = tcpLastAck
	sLI = tcpListen
	sSA = tcpSynAck
)

// tcpStateIdx is tcp_state_idx: RST wins over SYN over FIN over ACK; -1 for a
// segment with none of them.
func tcpStateIdx(flags uint8) int {
	switch {
	case flags&TCPFlagRST != 0:
		return 3
	case flags&TCPFlagSYN != 0:
		return 0
	case flags&TCPFlagFIN != 0:
		return 1
	case flags&TCPFlagACK != 0:
		return 2
	}
	return -1
}

// nextTCPState is the state-table half of set_tcp_state: the state after a
// segment with flags in direction dir (dirInput, dirOutput or dirInputOnly).
// A segment with no SYN, FIN, ACK or RST moves the connection to CLOSE, as
// the kernel's does.
func nextTCPState(cur uint8, dir int, flags uint8) uint8 {
	idx := tcpStateIdx(flags)
	if idx < 0 || cur >= tcpNumStates {
		return tcpClose
	}
	return tcpStateTable[dir+idx][cur]
}

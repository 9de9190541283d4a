package balancer

import (
	"fmt"
	"strconv"
	"strings"
)

// The IPVS vocabulary, defined once: protocols, forwarding methods,
// scheduler names and flags, weights. Each value knows its spellings: the
// one ipvsadm -L prints (String), the option ipvsadm takes (Flag), and the
// lower-case name that the control API's JSON, its URL paths and the
// metrics use (Name, MarshalText, UnmarshalText). The control API, the
// command line and the keepalived.conf reader all parse and print through
// these, so that a word means the same thing everywhere.

// Proto is an IP protocol number of a virtual service (IPPROTO_TCP, IPPROTO_UDP).
type Proto uint8

// Protocols a virtual service can have.
const (
	TCP Proto = 6
	UDP Proto = 17
)

// Method is a realserver's packet-forwarding method (IPVS's IP_VS_CONN_F_FWD_MASK).
type Method uint8

// Forwarding methods, in ipvsadm's vocabulary.
const (
	MethodDR    Method = iota // -g, "Route": rewrite MACs only
	MethodTun                 // -i, "Tunnel": IPIP encapsulation
	MethodMasq                // -m, "Masq": NAT both directions
	MethodLocal               // LocalNode: address local to the director, packet unmodified into the tap
	numMethods
)

// SchedName is an IPVS scheduler's name as ipvsadm spells it (rr, wrr, lc,
// wlc, sed, nq, sh, mh). The empty name means DefaultScheduler where a
// configuration is filled in.
type SchedName string

// The schedulers govs has, in the order of ipvsadm's man page.
const (
	SchedRR  SchedName = "rr"
	SchedWRR SchedName = "wrr"
	SchedLC  SchedName = "lc"
	SchedWLC SchedName = "wlc"
	SchedSED SchedName = "sed"
	SchedNQ  SchedName = "nq"
	SchedSH  SchedName = "sh"
	SchedMH  SchedName = "mh"

	// DefaultScheduler is ipvsadm's scheduler when -s is not given.
	DefaultScheduler = SchedWLC
)

// Weight limits, as ipvsadm checks them.
const (
	// DefaultWeight is ipvsadm's weight when -w is not given.
	DefaultWeight = 1
	// MaxWeight is ipvsadm's largest weight; 0 quiesces a realserver.
	MaxWeight = 65535
)

// wordError is a word outside the vocabulary. It matches ErrInvalid, so
// that a caller that decodes JSON can tell a bad word from bad syntax.
type wordError string

func (e wordError) Error() string        { return string(e) }
func (e wordError) Is(target error) bool { return target == ErrInvalid }

func wordErrorf(format string, args ...any) error {
	return wordError(fmt.Sprintf(format, args...))
}

// spelling is one value's words: the control API's name, ipvsadm -L's, and
// ipvsadm's option.
type spelling struct {
	name, list, flag string
}

var protoWords = [...]struct {
	p Proto
	spelling
}{
	{TCP, spelling{"tcp", "TCP", "-t"}},
	{UDP, spelling{"udp", "UDP", "-u"}},
}

// words returns the protocol's spellings; ok is false for a protocol
// other than TCP and UDP.
func (p Proto) words() (w spelling, ok bool) {
	for _, pw := range protoWords {
		if pw.p == p {
			return pw.spelling, true
		}
	}
	return w, false
}

var methodWords = [numMethods]spelling{
	MethodDR:    {"dr", "Route", "-g"},
	MethodTun:   {"tun", "Tunnel", "-i"},
	MethodMasq:  {"masq", "Masq", "-m"},
	MethodLocal: {"local", "Local", "-g"}, // ipvsadm -S writes -g: the daemon picks Local itself
}

// String returns "TCP", "UDP" (as ipvsadm -L prints them) or the protocol number.
func (p Proto) String() string {
	if w, ok := p.words(); ok {
		return w.list
	}
	return "proto-" + strconv.Itoa(int(p))
}

// Name returns "tcp" or "udp", the control API's name, or "" for another
// protocol.
func (p Proto) Name() string { w, _ := p.words(); return w.name }

// Flag returns ipvsadm's option for a service of this protocol: -t or -u
// ("" for another protocol).
func (p Proto) Flag() string { w, _ := p.words(); return w.flag }

// MarshalText writes the control API's name; it fails for a protocol other
// than TCP and UDP.
func (p Proto) MarshalText() ([]byte, error) {
	if n := p.Name(); n != "" {
		return []byte(n), nil
	}
	return nil, wordErrorf("invalid protocol %d (want tcp or udp)", uint8(p))
}

// UnmarshalText reads "tcp" or "udp" (see ParseProto).
func (p *Proto) UnmarshalText(b []byte) error {
	v, err := ParseProto(string(b))
	if err == nil {
		*p = v
	}
	return err
}

// ParseProto reads the control API's name of a protocol, "tcp" or "udp".
func ParseProto(s string) (Proto, error) {
	for _, pw := range protoWords {
		if pw.name == s {
			return pw.p, nil
		}
	}
	return 0, wordErrorf("invalid protocol %q (want tcp or udp)", s)
}

// String returns the method as ipvsadm -L prints it: Route, Tunnel, Masq,
// Local.
func (m Method) String() string {
	if m < numMethods {
		return methodWords[m].list
	}
	return "method-" + strconv.Itoa(int(m))
}

// Name returns the control API's name of the method: dr, tun, masq, local
// ("" for an unknown method).
func (m Method) Name() string {
	if m < numMethods {
		return methodWords[m].name
	}
	return ""
}

// Flag returns ipvsadm's option for the method: -g, -i or -m. Local is
// written -g, as ipvsadm -S writes a LocalNode realserver.
func (m Method) Flag() string {
	if m < numMethods {
		return methodWords[m].flag
	}
	return ""
}

// MarshalText writes the control API's name; it fails for an unknown method.
func (m Method) MarshalText() ([]byte, error) {
	if n := m.Name(); n != "" {
		return []byte(n), nil
	}
	return nil, wordErrorf("invalid forwarding method %d (want dr, tun, masq or local)", uint8(m))
}

// UnmarshalText reads dr, tun, masq or local (see ParseMethod).
func (m *Method) UnmarshalText(b []byte) error {
	v, err := ParseMethod(string(b))
	if err == nil {
		*m = v
	}
	return err
}

// ParseMethod reads the control API's name of a method: dr, tun, masq or local.
func ParseMethod(s string) (Method, error) {
	for m, w := range methodWords {
		if w.name == s {
			return Method(m), nil
		}
	}
	return 0, wordErrorf("invalid forwarding method %q (want dr, tun, masq or local)", s)
}

// MethodOfFlag returns the method of ipvsadm's option -g, -i or -m.
func MethodOfFlag(flag string) (Method, bool) {
	for _, m := range []Method{MethodDR, MethodTun, MethodMasq} {
		if methodWords[m].flag == flag {
			return m, true
		}
	}
	return 0, false
}

// schedulerNames lists the schedulers in the order ipvsadm's man page does.
var schedulerNames = [...]SchedName{SchedRR, SchedWRR, SchedLC, SchedWLC, SchedSED, SchedNQ, SchedSH, SchedMH}

// SchedulerNames returns the names NewScheduler accepts, in the order of
// ipvsadm's man page.
func SchedulerNames() []string {
	out := make([]string, len(schedulerNames))
	for i, n := range schedulerNames {
		out[i] = string(n)
	}
	return out
}

// SchedulerList is SchedulerNames joined for a message: "rr, wrr, …, mh".
func SchedulerList() string { return strings.Join(SchedulerNames(), ", ") }

// Known reports whether govs has the scheduler.
func (n SchedName) Known() bool {
	for _, k := range schedulerNames {
		if k == n {
			return true
		}
	}
	return false
}

// ParseSchedName checks a scheduler name.
func ParseSchedName(s string) (SchedName, error) {
	if n := SchedName(s); n.Known() {
		return n, nil
	}
	return "", wordErrorf("unknown scheduler %q (govs has %s)", s, SchedulerList())
}

// MarshalText writes the name.
func (n SchedName) MarshalText() ([]byte, error) { return []byte(n), nil }

// UnmarshalText reads a scheduler name; an unknown one is an error (see
// ParseSchedName). The empty name is left empty, for DefaultScheduler.
func (n *SchedName) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*n = ""
		return nil
	}
	v, err := ParseSchedName(string(b))
	if err == nil {
		*n = v
	}
	return err
}

// SchedFlags are a service's scheduler flags (IPVS's IP_VS_SVC_F_SCHED1..3,
// ipvsadm's --sched-flags). Only sh and mh read them; the other schedulers
// ignore them, as the kernel's do.
type SchedFlags uint8

// Scheduler flags. sh and mh give flag-1 and flag-2 the same meaning.
const (
	SchedFlag1 SchedFlags = 1 << iota // IP_VS_SVC_F_SCHED1: sh-fallback, mh-fallback
	SchedFlag2                        // IP_VS_SVC_F_SCHED2: sh-port, mh-port
	SchedFlag3                        // IP_VS_SVC_F_SCHED3: unused by sh and mh

	// SchedFallback makes sh and mh try further buckets when the hashed
	// realserver is quiesced, instead of refusing the connection.
	SchedFallback = SchedFlag1
	// SchedPort makes sh and mh hash the source port as well as the source
	// address.
	SchedPort = SchedFlag2
)

// schedFlagWords are the names of SchedFlag1..3: flag-N for every
// scheduler, and the sh-/mh- aliases of sh and mh.
func schedFlagWords(sched SchedName) [3]string {
	names := [3]string{"flag-1", "flag-2", "flag-3"}
	if sched == SchedSH || sched == SchedMH {
		names[0], names[1] = string(sched)+"-fallback", string(sched)+"-port"
	}
	return names
}

// ParseSchedFlags reads ipvsadm's --sched-flags words for the named
// scheduler, as ipvsadm's parse_sched_flags does: flag-1, flag-2, flag-3,
// and the aliases sh-fallback, sh-port (scheduler sh only) and
// mh-fallback, mh-port (scheduler mh only). No words is no flags.
func ParseSchedFlags(sched SchedName, words []string) (SchedFlags, error) {
	var f SchedFlags
	for _, w := range words {
		bit, ok := schedFlagBit(sched, w)
		if !ok {
			_, sh := schedFlagBit(SchedSH, w)
			_, mh := schedFlagBit(SchedMH, w)
			if sh || mh {
				return 0, wordErrorf("incompatible scheduler flag `%s'", w)
			}
			return 0, wordErrorf("invalid scheduler flag `%s'", w)
		}
		f |= bit
	}
	return f, nil
}

// schedFlagBit finds w among the scheduler's flag names or the flag-N names
// that every scheduler takes.
func schedFlagBit(sched SchedName, w string) (SchedFlags, bool) {
	for i, n := range schedFlagWords(sched) {
		if w == n || w == "flag-"+strconv.Itoa(i+1) {
			return 1 << i, true
		}
	}
	return 0, false
}

// FormatSchedFlags names flags as ipvsadm lists them for the named
// scheduler: sh-/mh- aliases for sh and mh, flag-N otherwise. No flags is nil.
func FormatSchedFlags(sched SchedName, f SchedFlags) []string {
	var out []string
	for i, n := range schedFlagWords(sched) {
		if f&(1<<i) != 0 {
			out = append(out, n)
		}
	}
	return out
}

// Action is what the dataplane does with a packet.
type Action uint8

// Actions of a Verdict.
const (
	// Pass: not the balancer's packet (no service, no connection); hand it
	// to the host stack or ignore it.
	Pass Action = iota
	// Forward: send it on with Verdict.Method.
	Forward
	// Drop: the balancer's packet, but it must not go on (Verdict.Reason).
	Drop
	numActions
)

var actionNames = [numActions]string{"pass", "forward", "drop"}

func (a Action) String() string {
	if a < numActions {
		return actionNames[a]
	}
	return "action-" + strconv.Itoa(int(a))
}

// Reason says why a packet was not forwarded.
type Reason uint8

// Reasons of a Verdict.
const (
	ReasonNone      Reason = iota
	ReasonNoService        // Pass: no virtual service for the destination
	ReasonNoConn           // Pass: Out or Related found no connection
	ReasonNotSYN           // Drop: first TCP segment of a flow without SYN (or with RST)
	ReasonNoDest           // Drop: the scheduler found no realserver (none, all weight 0)
	ReasonTableFull        // Drop: MaxConns reached
	NumReasons
)

var reasonNames = [NumReasons]string{"none", "no-service", "no-conn", "not-syn", "no-dest", "table-full"}

func (r Reason) String() string {
	if r < NumReasons {
		return reasonNames[r]
	}
	return "reason-" + strconv.Itoa(int(r))
}

package balancer

import "strconv"

// String returns "TCP", "UDP" or the protocol number.
func (p Proto) String() string {
	switch p {
	case TCP:
		return "TCP"
	case UDP:
		return "UDP"
	}
	return "proto-" + strconv.Itoa(int(p))
}

// String returns the method as ipvsadm -L prints it: Route, Tunnel, Masq,
// Local.
func (m Method) String() string {
	switch m {
	case MethodDR:
		return "Route"
	case MethodTun:
		return "Tunnel"
	case MethodMasq:
		return "Masq"
	case MethodLocal:
		return "Local"
	}
	return "method-" + strconv.Itoa(int(m))
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
)

func (a Action) String() string {
	switch a {
	case Pass:
		return "pass"
	case Forward:
		return "forward"
	case Drop:
		return "drop"
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

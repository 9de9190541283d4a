package control

import (
	"cmp"
	"fmt"
	"net/netip"

	"github.com/govs-lb/govs/balancer"
)

// DefaultSocket is where the daemon listens unless told otherwise.
const DefaultSocket = "/run/govs.sock"

// EnvSocket names the environment variable that overrides DefaultSocket.
const EnvSocket = "GOVS_SOCKET"

// SocketPath picks the control socket: flag if it is not empty, then
// $GOVS_SOCKET (read through getenv, which may be nil for os.Getenv's
// absence), then DefaultSocket.
func SocketPath(flag string, getenv func(string) string) string {
	if flag != "" {
		return flag
	}
	if getenv != nil {
		if p := getenv(EnvSocket); p != "" {
			return p
		}
	}
	return DefaultSocket
}

// Defaults and limits, as in ipvsadm and the kernel. The scheduler names,
// forwarding methods, protocols and weight limits are the balancer's
// (balancer/vocab.go): the JSON of each is its text form there.
const (
	DefaultPersist = 360               // seconds, ipvsadm -p without a value (IPVS_SVC_PERSISTENT_TIMEOUT)
	DefaultNetmask = "255.255.255.255" // persistence granularity
	MaxTimeout     = 86400 * 31        // seconds, ipvsadm's MAX_TIMEOUT
)

// ServiceKey names a virtual service.
type ServiceKey struct {
	Protocol balancer.Proto `json:"protocol"`
	Addr     netip.Addr     `json:"addr"`
	Port     uint16         `json:"port"`
}

// String formats the key as ipvsadm's -t/-u argument would: "tcp 198.51.100.1:80".
func (k ServiceKey) String() string {
	return fmt.Sprintf("%s %s", k.Protocol.Name(), netip.AddrPortFrom(k.Addr, k.Port))
}

// Validate checks the protocol and that the address is IPv4.
func (k ServiceKey) Validate() error {
	if _, err := k.Protocol.MarshalText(); err != nil {
		return err
	}
	if !k.Addr.Is4() {
		return fmt.Errorf("invalid virtual address %v (IPv4 only)", k.Addr)
	}
	return nil
}

// Compare orders keys by protocol (tcp before udp), address, then port: the
// order of ipvsadm -L.
func (k ServiceKey) Compare(o ServiceKey) int {
	if c := cmp.Compare(k.Protocol, o.Protocol); c != 0 {
		return c
	}
	if c := k.Addr.Compare(o.Addr); c != 0 {
		return c
	}
	return int(k.Port) - int(o.Port)
}

// ServiceSpec is a virtual service's configuration (ipvsadm -A/-E).
type ServiceSpec struct {
	ServiceKey
	Scheduler  balancer.SchedName `json:"scheduler"`
	Persistent bool               `json:"persistent"`
	Timeout    uint32             `json:"timeout"`               // persistence timeout in seconds; 0 unless Persistent
	Netmask    string             `json:"netmask"`               // persistence granularity, dotted IPv4
	SchedFlags []string           `json:"sched_flags,omitempty"` // ipvsadm -b: flag-1..3, sh-fallback, sh-port, mh-fallback, mh-port
	OnePacket  bool               `json:"ops,omitempty"`         // ipvsadm -o, UDP only
}

// WithDefaults fills the fields left empty with ipvsadm's defaults.
func (s ServiceSpec) WithDefaults() ServiceSpec {
	if s.Scheduler == "" {
		s.Scheduler = balancer.DefaultScheduler
	}
	if s.Netmask == "" {
		s.Netmask = DefaultNetmask
	}
	if s.Persistent && s.Timeout == 0 {
		s.Timeout = DefaultPersist
	}
	if !s.Persistent {
		s.Timeout = 0
	}
	return s
}

// Validate checks everything the daemon needs no state to check.
func (s ServiceSpec) Validate() error {
	if err := s.ServiceKey.Validate(); err != nil {
		return err
	}
	if _, err := balancer.ParseSchedName(string(s.Scheduler)); err != nil {
		return err
	}
	if s.Persistent && (s.Timeout < 1 || s.Timeout > MaxTimeout) {
		return fmt.Errorf("invalid persistence timeout %d (1..%d seconds)", s.Timeout, MaxTimeout)
	}
	if !s.Persistent && s.Timeout != 0 {
		return fmt.Errorf("persistence timeout set on a non-persistent service")
	}
	if m, err := netip.ParseAddr(s.Netmask); err != nil || !m.Is4() {
		return fmt.Errorf("invalid netmask %q (dotted IPv4)", s.Netmask)
	}
	if s.Port == 0 && !s.Persistent {
		return fmt.Errorf("Zero port specified for non-persistent service")
	}
	if s.OnePacket && s.Protocol != balancer.UDP {
		return fmt.Errorf("One-Packet Scheduling is only for UDP virtual services")
	}
	_, err := balancer.ParseSchedFlags(s.Scheduler, s.SchedFlags)
	return err
}

// DestKey names a destination within a service.
type DestKey struct {
	Addr netip.Addr `json:"addr"`
	Port uint16     `json:"port"`
}

// DestSpec is a destination's configuration (ipvsadm -a/-e).
type DestSpec struct {
	Addr       netip.Addr      `json:"addr"`
	Port       uint16          `json:"port"`
	Method     balancer.Method `json:"method"`
	Weight     int             `json:"weight"`
	UThreshold int             `json:"u_threshold,omitempty"` // ipvsadm -x; 0 is no limit
	LThreshold int             `json:"l_threshold,omitempty"` // ipvsadm -y
}

// Key returns the destination's key.
func (d DestSpec) Key() DestKey { return DestKey{Addr: d.Addr, Port: d.Port} }

// Validate checks the address, method, weight and thresholds.
func (d DestSpec) Validate() error {
	if !d.Addr.Is4() {
		return fmt.Errorf("invalid real server address %v (IPv4 only)", d.Addr)
	}
	if _, err := d.Method.MarshalText(); err != nil {
		return err
	}
	if d.Weight < 0 || d.Weight > balancer.MaxWeight {
		return fmt.Errorf("illegal weight specified")
	}
	if d.UThreshold < 0 {
		return fmt.Errorf("illegal u_threshold specified")
	}
	if d.LThreshold < 0 {
		return fmt.Errorf("illegal l_threshold specified")
	}
	return nil
}

// Stats are a service's or a destination's counters and their rates (per
// second, as IPVS's estimator computes them).
type Stats struct {
	Conns    uint64 `json:"conns"`
	InPkts   uint64 `json:"in_pkts"`
	OutPkts  uint64 `json:"out_pkts"`
	InBytes  uint64 `json:"in_bytes"`
	OutBytes uint64 `json:"out_bytes"`
	CPS      uint64 `json:"cps"`
	InPPS    uint64 `json:"in_pps"`
	OutPPS   uint64 `json:"out_pps"`
	InBPS    uint64 `json:"in_bps"`
	OutBPS   uint64 `json:"out_bps"`
}

// DestStatus is a destination as ipvsadm -L shows it.
type DestStatus struct {
	DestSpec
	ActiveConns  uint32 `json:"active_conns"`
	InactConns   uint32 `json:"inact_conns"`
	PersistConns uint32 `json:"persist_conns"`
	Stats
}

// ServiceStatus is a service and its destinations as ipvsadm -L shows them.
// The Backend returns destinations in the order ipvsadm prints them (address, then port).
type ServiceStatus struct {
	ServiceSpec
	Stats
	Dests []DestStatus `json:"dests"`
}

// ConnStatus is one connection entry (ipvsadm -Lc, /proc/net/ip_vs_conn).
type ConnStatus struct {
	Protocol balancer.Proto `json:"protocol"`
	State    string         `json:"state"`   // IPVS's name: ESTABLISHED, SYN_RECV, FIN_WAIT, TIME_WAIT, CLOSE, ..., UDP
	Expires  uint32         `json:"expires"` // seconds until the entry expires
	Client   netip.AddrPort `json:"client"`
	Virtual  netip.AddrPort `json:"virtual"`
	Dest     netip.AddrPort `json:"dest"`
}

// Timeouts are the connection timeouts of ipvsadm --set, in seconds. 0 in a
// set request leaves that timeout unchanged, as in IPVS.
type Timeouts struct {
	TCP    uint32 `json:"tcp"`
	TCPFin uint32 `json:"tcp_fin"`
	UDP    uint32 `json:"udp"`
}

// Validate checks each timeout against ipvsadm's limit.
func (t Timeouts) Validate() error {
	for _, v := range []uint32{t.TCP, t.TCPFin, t.UDP} {
		if v > MaxTimeout {
			return fmt.Errorf("invalid timeout value %d (0..%d seconds)", v, MaxTimeout)
		}
	}
	return nil
}

// Info describes the daemon. Version is what ipvsadm -L prints as "IP
// Virtual Server version" (the IPVS version govs replicates, "1.2.1");
// GovsVersion is the daemon's own.
type Info struct {
	Version       string `json:"version"`
	GovsVersion   string `json:"govs_version,omitempty"`
	ConnTableSize int    `json:"conn_table_size"`
}

// OpKind is the kind of one step of a restore.
type OpKind string

// Restore steps, named after ipvsadm's commands.
const (
	OpAddService  OpKind = "add-service"    // Service
	OpEditService OpKind = "edit-service"   // Service
	OpDelService  OpKind = "delete-service" // Service.ServiceKey
	OpAddDest     OpKind = "add-server"     // Service.ServiceKey, Dest
	OpEditDest    OpKind = "edit-server"    // Service.ServiceKey, Dest
	OpDelDest     OpKind = "delete-server"  // Service.ServiceKey, Dest.Key()
	OpClear       OpKind = "clear"          // nothing
	OpZero        OpKind = "zero"           // Service.ServiceKey, or a zero Service for all
	OpSetTimeouts OpKind = "set"            // Timeouts
)

// Op is one step of Backend.Restore; which fields count depends on Kind.
type Op struct {
	Kind     OpKind      `json:"op"`
	Service  ServiceSpec `json:"service,omitzero"`
	Dest     DestSpec    `json:"dest,omitzero"`
	Timeouts Timeouts    `json:"timeouts,omitzero"`
}

// Validate checks the fields that Kind uses.
func (o Op) Validate() error {
	switch o.Kind {
	case OpAddService, OpEditService:
		return o.Service.Validate()
	case OpDelService:
		return o.Service.ServiceKey.Validate()
	case OpAddDest, OpEditDest:
		if err := o.Service.ServiceKey.Validate(); err != nil {
			return err
		}
		return o.Dest.Validate()
	case OpDelDest:
		if err := o.Service.ServiceKey.Validate(); err != nil {
			return err
		}
		if !o.Dest.Addr.Is4() {
			return fmt.Errorf("invalid real server address %v (IPv4 only)", o.Dest.Addr)
		}
		return nil
	case OpClear:
		return nil
	case OpZero:
		if o.Service.Addr.IsValid() {
			return o.Service.ServiceKey.Validate()
		}
		return nil
	case OpSetTimeouts:
		return o.Timeouts.Validate()
	}
	return fmt.Errorf("unknown op %q", o.Kind)
}

package cli

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/govs-lb/govs/balancer"
	"github.com/govs-lb/govs/internal/control"
)

// Kind is the command of one ipvsadm invocation.
type Kind int

// Commands, in ipvsadm's order (its CMD_* constants).
const (
	CmdNone     Kind = iota
	CmdAdd           // -A, --add-service
	CmdEdit          // -E, --edit-service
	CmdDel           // -D, --delete-service
	CmdFlush         // -C, --clear
	CmdList          // -L, -l, --list
	CmdAddDest       // -a, --add-server
	CmdDelDest       // -d, --delete-server
	CmdEditDest      // -e, --edit-server
	CmdSet           // --set tcp tcpfin udp
	CmdRestore       // -R, --restore
	CmdSave          // -S, --save
	CmdZero          // -Z, --zero
	CmdHelp          // -h, --help
	CmdVersion       // -v, --version
)

// cmdNames are ipvsadm's names of the commands, used in its messages.
var cmdNames = [...]string{"", "add-service", "edit-service", "delete-service", "flush", "list",
	"add-server", "delete-server", "edit-server", "set", "restore", "save", "zero", "help", "version"}

func (k Kind) String() string { return cmdNames[k] }

// Format is how -L and -S print (ipvsadm's FMT_* flags).
type Format uint

// Format flags.
const (
	FmtNumeric        Format = 1 << iota // -n (govs always prints numbers; see Run)
	FmtRule                              // -S
	FmtStats                             // --stats
	FmtRate                              // --rate
	FmtThresholds                        // --thresholds
	FmtPersistentConn                    // --persistent-conn
	FmtNoSort                            // --nosort
	FmtExact                             // --exact
	FmtTunInfo                           // --tun-info
	FmtJSON                              // --json (govs)
)

// Command is one parsed ipvsadm command line.
type Command struct {
	Kind       Kind
	HasService bool                // -t or -u given
	Service    control.ServiceSpec // with ipvsadm's defaults filled in for -A/-E
	Dest       control.DestSpec    // with the port and defaults resolved for -a/-e/-d
	Timeouts   control.Timeouts    // --set
	Format     Format
	Conns      bool   // -c
	Timeout    bool   // --timeout
	Socket     string // --socket (govs)
}

// opt is an option column of ipvsadm's commands_v_options table.
type opt int

const (
	optNumeric opt = iota
	optConnection
	optService
	optScheduler
	optPersistent
	optNetmask
	optServer
	optForward
	optWeight
	optUThreshold
	optLThreshold
	optTimeout
	optStats
	optRate
	optThresholds
	optPersistentConn
	optNoSort
	optExact
	optOps
	optSchedFlags
	optTunInfo
	optTunType
	optJSON
	numOpts
)

var optNames = [numOpts]string{"numeric", "connection", "service-address", "scheduler", "persistent",
	"netmask", "real-server", "forwarding-method", "weight", "u-threshold", "l-threshold", "timeout",
	"stats", "rate", "thresholds", "persistent-conn", "nosort", "exact", "ops", "sched-flags",
	"tun-info", "tun-type", "json"}

// legal is ipvsadm's commands_v_options, reduced to the options govs has:
// '+' compulsory, 'x' illegal, '1' at most one of the '1's, ' ' optional.
var legal = map[Kind]string{
	// n c svc s p M r fwd w x y timeout stats rate thresholds persistent-conn nosort exact ops b tun-info tun-type json
	CmdAdd:      "xx+   xxxxxxxxxxxx  xxx",
	CmdEdit:     "xx+   xxxxxxxxxxxx  xxx",
	CmdDel:      "xx+xxxxxxxxxxxxxxxxxxxx",
	CmdFlush:    "xxxxxxxxxxxxxxxxxxxxxxx",
	CmdList:     " 11xxxxxxxx1      xx x ",
	CmdAddDest:  "xx+xxx+    xxxxxxxxxx x",
	CmdDelDest:  "xx+xxx+xxxxxxxxxxxxxxxx",
	CmdEditDest: "xx+xxx+    xxxxxxxxxx x",
	CmdSet:      "xxxxxxxxxxxxxxxxxxxxxxx",
	CmdRestore:  "xxxxxxxxxxxxxxxxxxxxxxx",
	CmdSave:     " xxxxxxxxxxxxxxxxxxxxxx",
	CmdZero:     "xx xxxxxxxxxxxxxxxxxxxx",
}

type argKind int

const (
	argNone argKind = iota
	argRequired
	argOptional // popt's POPT_ARGFLAG_OPTIONAL: taken only if the next word is not an option
)

// option is a row of ipvsadm's popt table.
type option struct {
	long  string
	short byte
	arg   argKind
	cmd   Kind // a command, or
	opt   opt  // an option (when cmd is CmdNone)
	// special handling: "sort" (ignored), "socket", "tcp"/"udp" for -t/-u,
	// "g"/"i"/"m" for the forwarding method, "unsupported".
	tag string
}

var options = []option{
	{long: "add-service", short: 'A', cmd: CmdAdd},
	{long: "edit-service", short: 'E', cmd: CmdEdit},
	{long: "delete-service", short: 'D', cmd: CmdDel},
	{long: "clear", short: 'C', cmd: CmdFlush},
	{long: "list", short: 'L', cmd: CmdList},
	{long: "list", short: 'l', cmd: CmdList},
	{long: "zero", short: 'Z', cmd: CmdZero},
	{long: "add-server", short: 'a', cmd: CmdAddDest},
	{long: "edit-server", short: 'e', cmd: CmdEditDest},
	{long: "delete-server", short: 'd', cmd: CmdDelDest},
	{long: "set", cmd: CmdSet},
	{long: "help", short: 'h', cmd: CmdHelp},
	{long: "version", short: 'v', cmd: CmdVersion},
	{long: "restore", short: 'R', cmd: CmdRestore},
	{long: "save", short: 'S', cmd: CmdSave},
	{long: "tcp-service", short: 't', arg: argRequired, opt: optService, tag: "tcp"},
	{long: "udp-service", short: 'u', arg: argRequired, opt: optService, tag: "udp"},
	{long: "scheduler", short: 's', arg: argRequired, opt: optScheduler},
	{long: "persistent", short: 'p', arg: argOptional, opt: optPersistent},
	{long: "netmask", short: 'M', arg: argRequired, opt: optNetmask},
	{long: "real-server", short: 'r', arg: argRequired, opt: optServer},
	{long: "masquerading", short: 'm', opt: optForward, tag: "m"},
	{long: "ipip", short: 'i', opt: optForward, tag: "i"},
	{long: "gatewaying", short: 'g', opt: optForward, tag: "g"},
	{long: "weight", short: 'w', arg: argRequired, opt: optWeight},
	{long: "u-threshold", short: 'x', arg: argRequired, opt: optUThreshold},
	{long: "l-threshold", short: 'y', arg: argRequired, opt: optLThreshold},
	{long: "numeric", short: 'n', opt: optNumeric},
	{long: "connection", short: 'c', opt: optConnection},
	{long: "timeout", opt: optTimeout},
	{long: "stats", opt: optStats},
	{long: "rate", opt: optRate},
	{long: "thresholds", opt: optThresholds},
	{long: "persistent-conn", opt: optPersistentConn},
	{long: "nosort", opt: optNoSort},
	{long: "sort", tag: "sort"},
	{long: "exact", short: 'X', opt: optExact},
	{long: "ops", short: 'o', opt: optOps},
	{long: "sched-flags", short: 'b', arg: argRequired, opt: optSchedFlags},
	{long: "tun-info", opt: optTunInfo},
	{long: "tun-type", arg: argRequired, opt: optTunType},
	{long: "json", opt: optJSON},
	{long: "socket", arg: argRequired, tag: "socket"},
	// ipvsadm options govs does not have: named so the error says so.
	{long: "fwmark-service", short: 'f', arg: argRequired, tag: "unsupported"},
	{long: "sctp-service", arg: argRequired, tag: "unsupported"},
	{long: "ipv6", short: '6', tag: "unsupported"},
	{long: "start-daemon", arg: argRequired, tag: "unsupported"},
	{long: "stop-daemon", arg: argRequired, tag: "unsupported"},
	{long: "daemon", tag: "unsupported"},
	{long: "mcast-interface", arg: argRequired, tag: "unsupported"},
	{long: "syncid", arg: argRequired, tag: "unsupported"},
	{long: "pe", arg: argRequired, tag: "unsupported"},
	{long: "mcast-group", arg: argRequired, tag: "unsupported"},
	{long: "mcast-port", arg: argRequired, tag: "unsupported"},
	{long: "mcast-ttl", arg: argRequired, tag: "unsupported"},
	{long: "sync-maxlen", arg: argRequired, tag: "unsupported"},
	{long: "tun-port", arg: argRequired, tag: "unsupported"},
	{long: "tun-nocsum", tag: "unsupported"},
	{long: "tun-csum", tag: "unsupported"},
	{long: "tun-remcsum", tag: "unsupported"},
}

// UsageError is a command line that cannot be right (exit status 2).
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

func usagef(format string, args ...any) error {
	return &UsageError{Msg: fmt.Sprintf(format, args...)}
}

// token is one option occurrence after popt-style splitting.
type token struct {
	o      *option
	name   string // as written, for messages: "-s" or "--scheduler"
	val    string
	hasVal bool
}

// tokenize splits args as popt does: "-Ln" is -L -n, "-srr" and "-s rr" are
// -s with rr, "--scheduler=rr" and "--scheduler rr" likewise, an optional
// argument (-p) is taken only if the next word does not start with '-',
// words that are not options are collected in order, and "--" ends options.
func tokenize(args []string) ([]token, []string, error) {
	var toks []token
	var rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			rest = append(rest, args[i+1:]...)
			return toks, rest, nil
		case strings.HasPrefix(a, "--"):
			name, val, hasVal := strings.Cut(a[2:], "=")
			o := findLong(name)
			if o == nil {
				return nil, nil, usagef("unknown option '--%s'", name)
			}
			t := token{o: o, name: "--" + name, val: val, hasVal: hasVal}
			switch {
			case o.arg == argNone && hasVal:
				return nil, nil, usagef("option '--%s' takes no argument", name)
			case o.arg == argRequired && !hasVal:
				if i+1 >= len(args) {
					return nil, nil, usagef("option '--%s' needs an argument", name)
				}
				i++
				t.val, t.hasVal = args[i], true
			case o.arg == argOptional && !hasVal && i+1 < len(args) && !strings.HasPrefix(args[i+1], "-"):
				i++
				t.val, t.hasVal = args[i], true
			}
			toks = append(toks, t)
		case len(a) > 1 && a[0] == '-':
			for j := 1; j < len(a); j++ {
				o := findShort(a[j])
				if o == nil {
					return nil, nil, usagef("unknown option '-%c'", a[j])
				}
				t := token{o: o, name: "-" + string(a[j])}
				if o.arg != argNone {
					if j+1 < len(a) {
						t.val, t.hasVal = a[j+1:], true
					} else if i+1 < len(args) && (o.arg == argRequired || !strings.HasPrefix(args[i+1], "-")) {
						i++
						t.val, t.hasVal = args[i], true
					} else if o.arg == argRequired {
						return nil, nil, usagef("option '-%c' needs an argument", a[j])
					}
					toks = append(toks, t)
					break
				}
				toks = append(toks, t)
			}
		default:
			rest = append(rest, a)
		}
	}
	return toks, rest, nil
}

func findLong(name string) *option {
	for i := range options {
		if options[i].long == name {
			return &options[i]
		}
	}
	return nil
}

func findShort(c byte) *option {
	for i := range options {
		if options[i].short == c {
			return &options[i]
		}
	}
	return nil
}

// Parse parses one ipvsadm command line (without the program name) as
// ipvsadm's parse_options and process_options do, and checks it against
// ipvsadm's table of legal option combinations. The command may appear
// anywhere among the options (ipvsadm wants it first). An empty args is
// -L, as in ipvsadm.
func Parse(args []string) (Command, error) {
	var c Command
	if len(args) == 0 {
		c.Kind = CmdList
		return c, nil
	}
	toks, rest, err := tokenize(args)
	if err != nil {
		return c, err
	}
	var (
		seen     [numOpts]bool
		svcArg   string
		svcProto balancer.Proto
		destArg  string
		method   = balancer.MethodDR
		persist  string
		hasPers  bool
		flagsArg string
	)
	c.Dest.Weight = balancer.DefaultWeight
	c.Service.Netmask = control.DefaultNetmask
	for _, t := range toks {
		o := t.o
		if o.cmd != CmdNone {
			if o.cmd == CmdHelp || o.cmd == CmdVersion {
				return Command{Kind: o.cmd}, nil
			}
			if c.Kind != CmdNone {
				return c, usagef("multiple commands specified")
			}
			c.Kind = o.cmd
			continue
		}
		switch o.tag {
		case "sort":
			continue
		case "socket":
			if c.Socket != "" {
				return c, usagef("multiple 'socket' options specified")
			}
			if t.val == "" {
				return c, usagef("option '--socket' needs a path")
			}
			c.Socket = t.val
			continue
		case "unsupported":
			return c, usagef("option '%s' is not supported by govs", t.name)
		}
		if seen[o.opt] {
			return c, usagef("multiple '%s' options specified", optNames[o.opt])
		}
		seen[o.opt] = true
		switch o.opt {
		case optService:
			svcArg = t.val
			svcProto, _ = balancer.ParseProto(o.tag)
		case optScheduler:
			c.Service.Scheduler = balancer.SchedName(t.val)
		case optPersistent:
			persist, hasPers = t.val, t.hasVal
		case optNetmask:
			m, err := netip.ParseAddr(t.val)
			if err != nil || !m.Is4() {
				return c, usagef("illegal virtual server persistent mask specified")
			}
			c.Service.Netmask = m.String()
		case optServer:
			destArg = t.val
		case optForward:
			method, _ = balancer.MethodOfFlag("-" + o.tag)
		case optWeight, optUThreshold, optLThreshold:
			n := numberOpts[o.opt]
			v, ok := number(t.val, 0, n.max)
			if !ok {
				return c, usagef("illegal %s specified", n.name)
			}
			*n.dst(&c.Dest) = v
		case optNumeric, optStats, optRate, optThresholds, optPersistentConn, optNoSort, optExact, optTunInfo, optJSON:
			c.Format |= formatOpts[o.opt]
		case optConnection:
			c.Conns = true
		case optTimeout:
			c.Timeout = true
		case optOps:
			c.Service.OnePacket = true
		case optSchedFlags:
			flagsArg = t.val
		case optTunType:
			switch t.val {
			case "ipip":
			case "gue", "gre":
				return c, usagef("tunnel type '%s' is not supported by govs (only ipip)", t.val)
			default:
				return c, usagef("illegal tunnel type specified")
			}
		}
	}
	if c.Kind == CmdNone {
		return c, usagef("no command specified (one of -A -E -D -C -R -S -a -e -d -L -Z --set -h)")
	}

	// --set takes three words; any other word is an error.
	if c.Kind == CmdSet {
		if len(rest) < 3 {
			return c, usagef("--set option requires 3 timeout values")
		}
		var v [3]uint32
		for i := range v {
			n, ok := number(rest[i], 0, control.MaxTimeout)
			if !ok {
				return c, usagef("invalid timeout value `%s' specified", rest[i])
			}
			v[i] = uint32(n)
		}
		c.Timeouts = control.Timeouts{TCP: v[0], TCPFin: v[1], UDP: v[2]}
		rest = rest[3:]
	}
	if len(rest) > 0 {
		return c, usagef("unexpected argument %s", rest[0])
	}

	// generic_opt_check
	row := legal[c.Kind]
	last := -1
	for j := range numOpts {
		switch row[j] {
		case '+':
			if !seen[j] {
				return c, usagef("You need to supply the '%s' option for the '%s' command", optNames[j], c.Kind)
			}
		case 'x':
			if seen[j] {
				return c, usagef("Illegal '%s' option with the '%s' command", optNames[j], c.Kind)
			}
		case '1':
			if seen[j] {
				if last >= 0 {
					return c, usagef("The option '%s' conflicts with the '%s' option in the '%s' command", optNames[j], optNames[last], c.Kind)
				}
				last = int(j)
			}
		}
	}

	if svcArg != "" {
		c.HasService = true
		c.Service.Protocol = svcProto
		a, port, _, err := parseAddrPort(svcArg, svcProto)
		if err != nil {
			return c, usagef("illegal virtual server address[:port] specified")
		}
		c.Service.Addr, c.Service.Port = a, port
	}
	if destArg != "" {
		a, port, hasPort, err := parseAddrPort(destArg, svcProto)
		if err != nil {
			return c, usagef("illegal real server address[:port] specified")
		}
		if !hasPort {
			port = c.Service.Port
		}
		c.Dest.Addr, c.Dest.Port = a, port
	}

	switch c.Kind {
	case CmdAdd, CmdEdit:
		if seen[optPersistent] {
			c.Service.Persistent = true
			c.Service.Timeout = control.DefaultPersist
			if hasPers {
				n, ok := number(persist, 1, control.MaxTimeout)
				if !ok {
					return c, usagef("invalid timeout value `%s' specified", persist)
				}
				c.Service.Timeout = uint32(n)
			}
		}
		if c.Service.Port == 0 && !c.Service.Persistent {
			return c, usagef("Zero port specified for non-persistent service")
		}
		if c.Service.OnePacket && c.Service.Protocol != balancer.UDP {
			return c, usagef("One-Packet Scheduling is only for UDP virtual services")
		}
		if c.Service.Scheduler == "" {
			c.Service.Scheduler = balancer.DefaultScheduler
		}
		if !c.Service.Scheduler.Known() {
			return c, usagef("unknown scheduler '%s' (govs has %s)", c.Service.Scheduler, balancer.SchedulerList())
		}
		if flagsArg != "" {
			c.Service.SchedFlags = strings.Split(flagsArg, ",")
			if _, err := balancer.ParseSchedFlags(c.Service.Scheduler, c.Service.SchedFlags); err != nil {
				return c, usagef("%v", err)
			}
		}
	case CmdAddDest, CmdEditDest:
		c.Dest.Method = method
		// DR and tunnelling cannot change the port: IPVS forces it to the service's.
		if method == balancer.MethodDR || method == balancer.MethodTun {
			c.Dest.Port = c.Service.Port
		}
		if seen[optTunType] && method != balancer.MethodTun {
			return c, usagef("Tunnel options conflict with forward method")
		}
	case CmdDelDest:
		c.Dest = control.DestSpec{Addr: c.Dest.Addr, Port: c.Dest.Port}
	case CmdList:
		if (c.Conns || c.Timeout) && c.Format&(FmtStats|FmtRate|FmtThresholds) != 0 ||
			c.Timeout && c.Format&FmtPersistentConn != 0 {
			return c, usagef("options conflicts in the list command")
		}
	case CmdSave:
		c.Format |= FmtRule
	}
	if c.Kind != CmdAdd && c.Kind != CmdEdit {
		c.Service = control.ServiceSpec{ServiceKey: c.Service.ServiceKey}
	}
	if c.Kind != CmdAddDest && c.Kind != CmdEditDest && c.Kind != CmdDelDest {
		c.Dest = control.DestSpec{}
	}
	return c, nil
}

// formatOpts are the options that only set a Format flag.
var formatOpts = map[opt]Format{
	optNumeric: FmtNumeric, optStats: FmtStats, optRate: FmtRate, optThresholds: FmtThresholds,
	optPersistentConn: FmtPersistentConn, optNoSort: FmtNoSort, optExact: FmtExact,
	optTunInfo: FmtTunInfo, optJSON: FmtJSON,
}

// numberOpts are the options that take a whole number: ipvsadm's name of
// it in the error, its largest value, and where it goes.
var numberOpts = map[opt]struct {
	name string
	max  int
	dst  func(*control.DestSpec) *int
}{
	optWeight:     {"weight", balancer.MaxWeight, func(d *control.DestSpec) *int { return &d.Weight }},
	optUThreshold: {"u_threshold", 1<<31 - 1, func(d *control.DestSpec) *int { return &d.UThreshold }},
	optLThreshold: {"l_threshold", 1<<31 - 1, func(d *control.DestSpec) *int { return &d.LThreshold }},
}

// number is ipvsadm's string_to_number: a whole decimal word in [min, max].
func number(s string, min, max int) (int, bool) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < int64(min) || n > int64(max) {
		return 0, false
	}
	return int(n), true
}

var errAddr = errors.New("bad address")

// parseAddrPort is ipvsadm's parse_service for IPv4: "addr" or
// "addr:port", the port a number (0..65535) or a service name of proto.
// govs takes IPv4 literals only, not host names.
func parseAddrPort(s string, proto balancer.Proto) (netip.Addr, uint16, bool, error) {
	host, port, hasPort := strings.Cut(s, ":")
	if hasPort && strings.Contains(port, ":") {
		return netip.Addr{}, 0, false, errAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil || !a.Is4() {
		return netip.Addr{}, 0, false, errAddr
	}
	if !hasPort {
		return a, 0, false, nil
	}
	if n, ok := number(port, 0, 65535); ok {
		return a, uint16(n), true, nil
	}
	if port == "" || proto.Name() == "" || strings.IndexFunc(port, func(r rune) bool { return r < '0' || r > '9' }) < 0 {
		return netip.Addr{}, 0, false, errAddr
	}
	n, err := net.LookupPort(proto.Name(), port)
	if err != nil {
		return netip.Addr{}, 0, false, errAddr
	}
	return a, uint16(n), true, nil
}

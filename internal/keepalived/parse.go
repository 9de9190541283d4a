package keepalived

import (
	"fmt"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/govs-lb/govs/balancer"
	"github.com/govs-lb/govs/health"
	"github.com/govs-lb/govs/internal/control"
)

// Config is the LVS part of a keepalived.conf.
type Config struct {
	Services []VirtualServer
	// Warnings name what was skipped or ignored, one line each, in file
	// order: print them on stderr.
	Warnings []Warning
}

// VirtualServer is a virtual_server block.
type VirtualServer struct {
	Pos         Pos
	Spec        control.ServiceSpec // key, lb_algo, persistence; defaults filled
	DelayLoop   time.Duration
	Alpha       bool              // realservers start down until a check passes
	VirtualHost string            // default Host header of its HTTP_GET checks
	SorryServer *control.DestSpec // takes new connections when no realserver is up
	RealServers []RealServer
}

// Key is the service's key.
func (v *VirtualServer) Key() control.ServiceKey { return v.Spec.ServiceKey }

// RealServer is a real_server block.
type RealServer struct {
	Pos              Pos
	Dest             control.DestSpec // address, port, method (lb_kind), weight
	InhibitOnFailure bool             // down: weight 0 instead of removal
	Alpha            bool             // starts down until a check passes
	Checks           []health.Check   // all must pass; none: always up
}

// Loader reads configuration files. The zero Loader reads the file system.
type Loader struct {
	// ReadFile reads a file; os.ReadFile when nil.
	ReadFile func(name string) ([]byte, error)
	// Glob expands an include pattern; filepath.Glob when nil. The result
	// is used in the order returned.
	Glob func(pattern string) ([]string, error)
}

func (l *Loader) readFile(name string) ([]byte, error) {
	if l.ReadFile != nil {
		return l.ReadFile(name)
	}
	return os.ReadFile(name)
}

func (l *Loader) glob(pat string) ([]string, error) {
	if l.Glob != nil {
		return l.Glob(pat)
	}
	return filepath.Glob(pat)
}

// Load reads and parses the keepalived.conf at path.
func Load(path string) (*Config, error) { return (&Loader{}).Load(path) }

// Load reads and parses the keepalived.conf at path.
func (l *Loader) Load(path string) (*Config, error) {
	src, err := l.readFile(path)
	if err != nil {
		return nil, err
	}
	return l.Parse(path, src)
}

// Parse parses src, read from the file called name (used in positions and
// to resolve relative includes).
func (l *Loader) Parse(name string, src []byte) (*Config, error) {
	tree, err := l.parseTree(name, src, 0)
	if err != nil {
		return nil, err
	}
	p := &parser{cfg: &Config{}}
	if err := p.top(tree); err != nil {
		return nil, err
	}
	return p.cfg, nil
}

// Parse parses src as a keepalived.conf called name; includes are read from
// the file system.
func Parse(name string, src []byte) (*Config, error) { return (&Loader{}).Parse(name, src) }

type parser struct {
	cfg *Config
}

func (p *parser) warn(pos Pos, format string, args ...any) {
	pos.Col = 0
	p.cfg.Warnings = append(p.cfg.Warnings, Warning{Pos: pos, Msg: fmt.Sprintf(format, args...)})
}

// skippedTop are top-level keepalived keywords that govs leaves to
// keepalived (VRRP, global settings, routes...).
var skippedTop = map[string]bool{
	"global_defs": true, "vrrp_instance": true, "vrrp_script": true, "vrrp_sync_group": true,
	"vrrp_track_process": true, "vrrp_track_file": true, "track_file": true, "track_process": true,
	"static_routes": true, "static_ipaddress": true, "static_rules": true, "linkbeat_interfaces": true,
	"bfd_instance": true, "garp_group": true, "net_namespace": true, "net_namespace_ipvs": true,
	"instance": true, "use_pid_dir": true, "child_wait_time": true, "virtual_server_group": true,
	"vrrp_garp_interval": true, "vrrp_gna_interval": true, "notification_email": true,
	"vrrp_track_bfd": true, "namespace_with_ipsets": true, "local_name": true,
}

func (p *parser) top(tree []*stmt) error {
	seen := map[control.ServiceKey]Pos{}
	for _, s := range tree {
		switch name := s.name(); {
		case name == "virtual_server":
			vs, err := p.virtualServer(s)
			if err != nil {
				return err
			}
			if prev, dup := seen[vs.Key()]; dup {
				return errorf(s.key.pos, "virtual_server %s defined twice (first at %s)", keyText(vs.Key()), prev)
			}
			seen[vs.Key()] = s.key.pos
			p.cfg.Services = append(p.cfg.Services, vs)
		case skippedTop[name]:
			if s.hasBlock {
				p.warn(s.key.pos, "skipping %s block (not handled by govs)", name)
			} else {
				p.warn(s.key.pos, "skipping %s (not handled by govs)", name)
			}
		case strings.HasPrefix(name, "$") || strings.HasPrefix(name, "@") || strings.HasPrefix(name, "~"):
			return errorf(s.key.pos, "keepalived parameter substitution and conditional lines (%s) are not supported by govs", name)
		default:
			return errorf(s.key.pos, "unknown keyword %q", name)
		}
	}
	return nil
}

func keyText(k control.ServiceKey) string {
	return fmt.Sprintf("%s %d (%s)", k.Addr, k.Port, k.Protocol)
}

// Keywords keepalived knows that govs accepts and ignores with a warning.
var ignoredVS = map[string]string{
	"omega":                   "omega",
	"quorum":                  "quorum (a sorry_server is used when no realserver is up)",
	"quorum_up":               "quorum scripts",
	"quorum_down":             "quorum scripts",
	"hysteresis":              "hysteresis",
	"ha_suspend":              "ha_suspend",
	"smtp_alert":              "SMTP alerts",
	"sorry_server_inhibit":    "sorry_server_inhibit",
	"sorry_server_lvs_method": "sorry_server_lvs_method (the sorry server uses the service's lb_kind)",
	"warmup":                  "warmup (the first check runs after a random delay up to delay_loop)",
	"ip_family":               "ip_family",
	"lvs_flags":               "lvs_flags",
	"nb_sock_pool":            "nb_sock_pool",
}

var ignoredRS = map[string]string{
	"notify_up":   "notify scripts",
	"notify_down": "notify scripts",
	"smtp_alert":  "SMTP alerts",
	"uthreshold":  "connection thresholds",
	"lthreshold":  "connection thresholds",
	"warmup":      "warmup",
	"virtualhost": "a real_server virtualhost (set it in HTTP_GET)",
}

var ignoredCheck = map[string]string{
	"bindto":            "bindto",
	"bind_port":         "bind_port",
	"bind_if":           "bind_if",
	"fwmark":            "checker fwmark",
	"warmup":            "warmup",
	"log_all_failures":  "log_all_failures",
	"user":              "user (programs run as govs's user)",
	"http_protocol":     "http_protocol (HTTP/1.1 without keep-alive is used)",
	"enable_sni":        "enable_sni",
	"fast_recovery":     "fast_recovery",
	"tos":               "tos",
	"connect_ip_family": "connect_ip_family",
}

// Schedulers IPVS and keepalived have that govs does not implement.
var otherSchedulers = []string{"lblc", "lblcr", "dh", "fo", "ovf", "twos"}

// Checkers keepalived has that govs does not implement.
var otherCheckers = []string{"SSL_GET", "SMTP_CHECK", "DNS_CHECK", "BFD_CHECK", "UDP_CHECK", "PING_CHECK", "FILE_CHECK"}

// defaults a virtual_server or real_server passes down to its checkers.
type checkDefaults struct {
	delayLoop, connectTimeout, delayBeforeRetry time.Duration
	retry                                       int
	hasDelayBeforeRetry, hasRetry               bool
	alpha                                       bool
	virtualHost                                 string
}

func (p *parser) virtualServer(s *stmt) (VirtualServer, error) {
	vs := VirtualServer{Pos: s.key.pos}
	if len(s.args) >= 1 {
		switch s.args[0].text {
		case "fwmark":
			return vs, errorf(s.args[0].pos, "virtual_server fwmark is not supported: govs captures packets before netfilter could mark them; define address:port services (virtual_server IP PORT) instead")
		case "group":
			return vs, errorf(s.args[0].pos, "virtual_server group is not supported by govs (nor fwmark services): define each address:port service as its own virtual_server IP PORT")
		}
	}
	if len(s.args) != 2 {
		return vs, errorf(s.key.pos, "virtual_server wants an address and a port: virtual_server IP PORT { ... }")
	}
	if !s.hasBlock {
		return vs, errorf(s.key.pos, "virtual_server %s %s has no { } block", s.args[0].text, s.args[1].text)
	}
	addr, err := ipv4(s.args[0], "virtual_server")
	if err != nil {
		return vs, err
	}
	port, err := portOf(s.args[1])
	if err != nil {
		return vs, err
	}
	spec := control.ServiceSpec{ServiceKey: control.ServiceKey{Protocol: balancer.TCP, Addr: addr, Port: port}}
	method := balancer.MethodMasq // keepalived's default lb_kind is NAT
	def := checkDefaults{delayLoop: health.DefaultDelayLoop, connectTimeout: health.DefaultConnectTimeout}
	var sorry *stmt
	var inhibit bool
	var rsStmts []*stmt
	for _, c := range s.block {
		var err error
		switch c.name() {
		case "delay_loop", "alpha", "connect_timeout", "retry", "delay_before_retry":
			err = def.read(c)
		case "lb_algo", "lvs_sched":
			spec.Scheduler, err = scheduler(c)
		case "lb_kind", "lvs_method":
			method, err = lbKind(c)
		case "persistence_timeout":
			spec.Persistent = true
			if len(c.args) == 0 {
				spec.Timeout = control.DefaultPersist
				break
			}
			var v int
			v, err = intArg(c, 1, control.MaxTimeout)
			spec.Timeout = uint32(v)
		case "persistence_granularity":
			spec.Netmask, err = netmask(c)
		case "protocol":
			spec.Protocol, err = protocol(c)
		case "sorry_server":
			sorry = c
		case "virtualhost":
			def.virtualHost, err = oneArg(c)
		case "inhibit_on_failure":
			err = noArgs(c)
			inhibit = true
		case "ops":
			err = noArgs(c)
			spec.OnePacket = true
		case "sh-port", "sh-fallback", "mh-port", "mh-fallback", "flag-1", "flag-2", "flag-3":
			err = noArgs(c)
			spec.SchedFlags = append(spec.SchedFlags, c.name())
		case "real_server":
			rsStmts = append(rsStmts, c)
		default:
			err = p.unknown(c, "virtual_server", ignoredVS)
		}
		if err != nil {
			return vs, err
		}
	}
	spec = spec.WithDefaults() // keepalived's default lb_algo is ipvsadm's, wlc
	if spec.Netmask != control.DefaultNetmask && !spec.Persistent {
		p.warn(s.key.pos, "persistence_granularity without persistence_timeout has no effect")
		spec.Netmask = control.DefaultNetmask
	}
	if err := spec.Validate(); err != nil {
		return vs, errorf(s.key.pos, "virtual_server %s: %v", keyText(spec.ServiceKey), err)
	}
	vs.Spec, vs.DelayLoop, vs.Alpha, vs.VirtualHost = spec, def.delayLoop, def.alpha, def.virtualHost
	seen := map[control.DestKey]Pos{}
	for _, c := range rsStmts {
		rs, err := p.realServer(c, method, inhibit, def)
		if err != nil {
			return vs, err
		}
		if prev, dup := seen[rs.Dest.Key()]; dup {
			return vs, errorf(c.key.pos, "real_server %s %d defined twice in this virtual_server (first at %s)", rs.Dest.Addr, rs.Dest.Port, prev)
		}
		seen[rs.Dest.Key()] = c.key.pos
		vs.RealServers = append(vs.RealServers, rs)
	}
	if sorry != nil {
		if len(sorry.args) != 2 || sorry.hasBlock {
			return vs, errorf(sorry.key.pos, "sorry_server wants an address and a port")
		}
		d, err := destOf(sorry, "sorry_server", method)
		if err != nil {
			return vs, err
		}
		if _, dup := seen[d.Key()]; dup {
			return vs, errorf(sorry.key.pos, "sorry_server %s %d is also a real_server of this virtual_server", d.Addr, d.Port)
		}
		vs.SorryServer = &d
	}
	return vs, nil
}

// destOf reads the address and port of a real_server or sorry_server
// statement (what): a destination with method and the default weight.
func destOf(s *stmt, what string, method balancer.Method) (control.DestSpec, error) {
	addr, err := ipv4(s.args[0], what)
	if err != nil {
		return control.DestSpec{}, err
	}
	port, err := portOf(s.args[1])
	if err != nil {
		return control.DestSpec{}, err
	}
	return control.DestSpec{Addr: addr, Port: port, Method: method, Weight: balancer.DefaultWeight}, nil
}

// read sets the checker default that c names: delay_loop, alpha,
// connect_timeout, retry or delay_before_retry, which a virtual_server
// gives its real_servers and a real_server its checkers.
func (d *checkDefaults) read(c *stmt) (err error) {
	switch c.name() {
	case "delay_loop":
		d.delayLoop, err = seconds(c, false)
	case "alpha":
		err = noArgs(c)
		d.alpha = true
	case "connect_timeout":
		d.connectTimeout, err = seconds(c, false)
	case "retry":
		d.retry, err = intArg(c, 0, math.MaxInt32)
		d.hasRetry = true
	case "delay_before_retry":
		d.delayBeforeRetry, err = seconds(c, true)
		d.hasDelayBeforeRetry = true
	}
	return err
}

func (p *parser) unknown(c *stmt, where string, ignored map[string]string) error {
	if what, ok := ignored[c.name()]; ok {
		p.warn(c.key.pos, "ignoring %s in %s (%s is not supported by govs)", c.name(), where, what)
		return nil
	}
	return errorf(c.key.pos, "unknown keyword %q in %s", c.name(), where)
}

func (p *parser) realServer(s *stmt, method balancer.Method, inhibit bool, def checkDefaults) (RealServer, error) {
	rs := RealServer{Pos: s.key.pos, InhibitOnFailure: inhibit}
	if len(s.args) != 2 {
		return rs, errorf(s.key.pos, "real_server wants an address and a port: real_server IP PORT { ... }")
	}
	var err error
	if rs.Dest, err = destOf(s, "real_server", method); err != nil {
		return rs, err
	}
	var checks []*stmt
	for _, c := range s.block {
		var err error
		switch c.name() {
		case "weight":
			rs.Dest.Weight, err = intArg(c, 0, balancer.MaxWeight)
		case "inhibit_on_failure":
			err = noArgs(c)
			rs.InhibitOnFailure = true
		case "lb_kind", "lvs_method":
			rs.Dest.Method, err = lbKind(c)
		case "delay_loop", "alpha", "connect_timeout", "retry", "delay_before_retry":
			err = def.read(c)
		case "TCP_CHECK", "HTTP_GET", "MISC_CHECK":
			checks = append(checks, c)
		default:
			if slices.Contains(otherCheckers, c.name()) {
				return rs, errorf(c.key.pos, "%s is not implemented by govs (it has TCP_CHECK, HTTP_GET and MISC_CHECK)", c.name())
			}
			err = p.unknown(c, "real_server", ignoredRS)
		}
		if err != nil {
			return rs, err
		}
	}
	rs.Alpha = def.alpha
	for _, c := range checks {
		ch, alpha, err := p.check(c, rs.Dest, def)
		if err != nil {
			return rs, err
		}
		rs.Alpha = rs.Alpha || alpha
		rs.Checks = append(rs.Checks, ch)
	}
	return rs, nil
}

// check parses a checker block; alpha reports a per-checker alpha.
func (p *parser) check(s *stmt, rs control.DestSpec, def checkDefaults) (ch health.Check, alpha bool, err error) {
	ch, err = p.checkBody(s, rs, &alpha, def)
	return ch, alpha, err
}

func (p *parser) checkBody(s *stmt, rs control.DestSpec, alpha *bool, def checkDefaults) (health.Check, error) {
	ch := health.Check{
		Kind:             health.Kind(s.name()),
		ConnectTimeout:   def.connectTimeout,
		DelayLoop:        def.delayLoop,
		Retry:            health.DefaultRetry,
		DelayBeforeRetry: health.DefaultDelayBeforeRetry,
		Host:             def.virtualHost,
	}
	if ch.Kind == health.Misc {
		ch.Retry = 0
	}
	if ch.Kind == health.HTTP {
		ch.DelayBeforeRetry = health.DefaultHTTPDelayRetry
	}
	if def.hasRetry {
		ch.Retry = def.retry
	}
	if def.hasDelayBeforeRetry {
		ch.DelayBeforeRetry = def.delayBeforeRetry
	}
	if len(s.args) != 0 {
		return ch, errorf(s.args[0].pos, "%s takes no arguments, only a { } block", s.name())
	}
	ip, port := rs.Addr, rs.Port
	var miscPath *stmt
	for _, c := range s.block {
		var err error
		name := c.name()
		connKW := ch.Kind != health.Misc
		switch {
		case name == "connect_timeout" && connKW:
			ch.ConnectTimeout, err = seconds(c, false)
		case name == "connect_port" && connKW:
			var v int
			v, err = intArg(c, 1, 65535)
			port = uint16(v)
		case name == "connect_ip" && connKW:
			ip, err = ipv4arg(c)
		case name == "retry" || name == "nb_get_retry":
			ch.Retry, err = intArg(c, 0, math.MaxInt32)
		case name == "delay_before_retry":
			ch.DelayBeforeRetry, err = seconds(c, true)
		case name == "delay_loop":
			ch.DelayLoop, err = seconds(c, false)
		case name == "alpha":
			err = noArgs(c) // per-checker alpha: the realserver starts down
			*alpha = true
		case name == "url" && ch.Kind == health.HTTP:
			var u health.URL
			u, err = url(c)
			ch.URLs = append(ch.URLs, u)
		case name == "virtualhost" && ch.Kind == health.HTTP:
			ch.Host, err = oneArg(c)
		case name == "misc_path" && ch.Kind == health.Misc:
			miscPath = c
			if len(c.args) == 0 {
				err = errorf(c.key.pos, "misc_path wants a program (quote it if it has arguments)")
				break
			}
			var words []token = c.args
			var argv []string
			for _, w := range words {
				argv = append(argv, splitCommand(w.text)...)
			}
			if len(argv) == 0 {
				err = errorf(c.args[0].pos, "misc_path is empty")
			}
			ch.Command = argv
		case name == "misc_timeout" && ch.Kind == health.Misc:
			ch.Timeout, err = seconds(c, false)
		case name == "misc_dynamic" && ch.Kind == health.Misc:
			err = noArgs(c)
			ch.Dynamic = true
		default:
			err = p.unknown(c, s.name(), ignoredCheck)
		}
		if err != nil {
			return ch, err
		}
	}
	ch.Addr = netip.AddrPortFrom(ip, port)
	switch ch.Kind {
	case health.HTTP:
		if len(ch.URLs) == 0 {
			return ch, errorf(s.key.pos, "HTTP_GET without a url { path ... } block")
		}
	case health.Misc:
		if miscPath == nil {
			return ch, errorf(s.key.pos, "MISC_CHECK without misc_path")
		}
		if ch.Timeout == 0 {
			ch.Timeout = ch.DelayLoop // keepalived: misc_timeout defaults to delay_loop
		}
		ch.ConnectTimeout = 0
	}
	return ch, nil
}

func url(s *stmt) (health.URL, error) {
	var u health.URL
	if !s.hasBlock || len(s.args) != 0 {
		return u, errorf(s.key.pos, "url wants a { path ...; status_code ...; digest ... } block")
	}
	for _, c := range s.block {
		var err error
		switch c.name() {
		case "path":
			u.Path, err = oneArg(c)
			if err == nil && !strings.HasPrefix(u.Path, "/") {
				err = errorf(c.args[0].pos, "url path %q must start with /", u.Path)
			}
		case "digest":
			u.Digest, err = oneArg(c)
			if err == nil {
				if len(u.Digest) != 32 || strings.Trim(strings.ToLower(u.Digest), "0123456789abcdef") != "" {
					err = errorf(c.args[0].pos, "digest %q is not an MD5 in hex (32 hex digits, as genhash prints)", u.Digest)
				}
				u.Digest = strings.ToLower(u.Digest)
			}
		case "status_code":
			if len(c.args) == 0 {
				err = errorf(c.key.pos, "status_code wants one or more codes or ranges (200 or 200-299)")
			}
			for _, a := range c.args {
				if err != nil {
					break
				}
				var r health.StatusRange
				r, err = statusRange(a)
				u.Status = append(u.Status, r)
			}
		case "regex", "regex_no_match", "regex_options", "regex_stack", "regex_min_offset", "regex_max_offset":
			err = errorf(c.key.pos, "%s is not implemented by govs (use status_code or digest)", c.name())
		default:
			err = errorf(c.key.pos, "unknown keyword %q in url", c.name())
		}
		if err != nil {
			return u, err
		}
	}
	if u.Path == "" {
		return u, errorf(s.key.pos, "url without a path")
	}
	return u, nil
}

func statusRange(t token) (health.StatusRange, error) {
	lo, hi, isRange := strings.Cut(t.text, "-")
	a, err1 := strconv.Atoi(lo)
	b := a
	var err2 error
	if isRange {
		b, err2 = strconv.Atoi(hi)
	}
	if err1 != nil || err2 != nil || a < 100 || b > 599 || a > b {
		return health.StatusRange{}, errorf(t.pos, "invalid status_code %q (100-599, or a range like 200-299)", t.text)
	}
	return health.StatusRange{Lo: a, Hi: b}, nil
}

// splitCommand splits a misc_path into words on blanks; single or double
// quotes inside group words (keepalived's script parameter rules, without
// escapes).
func splitCommand(s string) []string {
	var out []string
	var cur strings.Builder
	in := false
	var q byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case q != 0 && c == q:
			q = 0
		case q == 0 && (c == '\'' || c == '"'):
			q, in = c, true
		case q == 0 && (c == ' ' || c == '\t'):
			if in {
				out = append(out, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteByte(c)
			in = true
		}
	}
	if in {
		out = append(out, cur.String())
	}
	return out
}

func oneArg(c *stmt) (string, error) {
	if len(c.args) != 1 || c.hasBlock {
		return "", errorf(c.key.pos, "%s wants one value", c.name())
	}
	return c.args[0].text, nil
}

func noArgs(c *stmt) error {
	if len(c.args) != 0 {
		return errorf(c.args[0].pos, "%s takes no value", c.name())
	}
	if c.hasBlock {
		return errorf(c.open, "%s takes no block", c.name())
	}
	return nil
}

func intArg(c *stmt, lo, hi int) (int, error) {
	s, err := oneArg(c)
	if err != nil {
		return 0, err
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < lo || v > hi {
		return 0, errorf(c.args[0].pos, "invalid %s %q (an integer from %d to %d)", c.name(), s, lo, hi)
	}
	return v, nil
}

// seconds reads a duration in seconds, with decimals as keepalived allows
// (delay_loop 0.5). zero says whether 0 is allowed.
func seconds(c *stmt, zero bool) (time.Duration, error) {
	s, err := oneArg(c)
	if err != nil {
		return 0, err
	}
	v, err := strconv.ParseFloat(s, 64)
	const max = 86400 * 31
	if err != nil || math.IsNaN(v) || v < 0 || v > max || (!zero && v == 0) || strings.ContainsAny(s, "eExXpP_") {
		return 0, errorf(c.args[0].pos, "invalid %s %q (seconds, up to %d)", c.name(), s, max)
	}
	d := time.Duration(v * float64(time.Second))
	if !zero && d <= 0 {
		return 0, errorf(c.args[0].pos, "invalid %s %q (too small)", c.name(), s)
	}
	return d, nil
}

func ipv4(t token, what string) (netip.Addr, error) {
	a, err := netip.ParseAddr(t.text)
	if err != nil {
		return a, errorf(t.pos, "%s: invalid address %q", what, t.text)
	}
	if !a.Is4() {
		return a, errorf(t.pos, "%s: %s is not IPv4 (govs handles IPv4 only)", what, t.text)
	}
	return a, nil
}

func ipv4arg(c *stmt) (netip.Addr, error) {
	if _, err := oneArg(c); err != nil {
		return netip.Addr{}, err
	}
	return ipv4(c.args[0], c.name())
}

func portOf(t token) (uint16, error) {
	v, err := strconv.Atoi(t.text)
	if err != nil || v < 0 || v > 65535 {
		return 0, errorf(t.pos, "invalid port %q", t.text)
	}
	return uint16(v), nil
}

func scheduler(c *stmt) (balancer.SchedName, error) {
	s, err := oneArg(c)
	if err != nil {
		return "", err
	}
	if n := balancer.SchedName(s); n.Known() {
		return n, nil
	}
	if slices.Contains(otherSchedulers, s) {
		return "", errorf(c.args[0].pos, "%s %s is not implemented by govs (it has %s)", c.name(), s, balancer.SchedulerList())
	}
	return "", errorf(c.args[0].pos, "unknown %s %q (govs has %s)", c.name(), s, balancer.SchedulerList())
}

// lbKinds are keepalived's names of the forwarding methods.
var lbKinds = map[string]balancer.Method{"DR": balancer.MethodDR, "TUN": balancer.MethodTun, "NAT": balancer.MethodMasq}

func lbKind(c *stmt) (balancer.Method, error) {
	if len(c.args) > 1 {
		return 0, errorf(c.args[1].pos, "%s %s: tunnel options are not supported by govs (IPIP only)", c.name(), c.args[0].text)
	}
	return keyword(c, lbKinds, nil, "DR, TUN or NAT")
}

// protocols are keepalived's names of the protocols: ipvsadm -L's.
var protocols = map[string]balancer.Proto{balancer.TCP.String(): balancer.TCP, balancer.UDP.String(): balancer.UDP}

func protocol(c *stmt) (balancer.Proto, error) {
	return keyword(c, protocols, map[string]string{"SCTP": "protocol SCTP is not supported by govs (TCP or UDP)"}, "TCP or UDP")
}

// keyword reads a statement's one argument as one of words. A word in
// unsupported is one govs knows but does not have: its error is the
// message there. Any other word is invalid; want lists the valid ones.
func keyword[T any](c *stmt, words map[string]T, unsupported map[string]string, want string) (T, error) {
	var v T
	s, err := oneArg(c)
	if err != nil {
		return v, err
	}
	if v, ok := words[s]; ok {
		return v, nil
	}
	if msg, ok := unsupported[s]; ok {
		return v, errorf(c.args[0].pos, "%s", msg)
	}
	return v, errorf(c.args[0].pos, "invalid %s %q (%s)", c.name(), s, want)
}

func netmask(c *stmt) (string, error) {
	s, err := oneArg(c)
	if err != nil {
		return "", err
	}
	m, err := netip.ParseAddr(s)
	if err == nil && m.Is4() {
		b := m.As4()
		v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
		if v == 0 || v|(v-1) == math.MaxUint32 { // contiguous ones
			return s, nil
		}
	}
	return "", errorf(c.args[0].pos, "invalid persistence_granularity %q (a dotted IPv4 netmask such as 255.255.255.0)", s)
}

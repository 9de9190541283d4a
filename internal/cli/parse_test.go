package cli

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/govs-lb/govs/balancer"
	"github.com/govs-lb/govs/internal/control"
)

var (
	vip  = netip.MustParseAddr("198.51.100.1")
	rip  = netip.MustParseAddr("203.0.113.10")
	tcp  = control.ServiceKey{Protocol: balancer.TCP, Addr: vip, Port: 80}
	udp  = control.ServiceKey{Protocol: balancer.UDP, Addr: vip, Port: 53}
	base = control.ServiceSpec{ServiceKey: tcp, Scheduler: "wlc", Netmask: "255.255.255.255"}
)

func spec(f func(*control.ServiceSpec)) control.ServiceSpec {
	s := base
	f(&s)
	return s
}

func TestParse(t *testing.T) {
	tests := []struct {
		args string
		want Command
	}{
		{"", Command{Kind: CmdList}},
		{"-A -t 198.51.100.1:80 -s rr", Command{Kind: CmdAdd, HasService: true,
			Service: spec(func(s *control.ServiceSpec) { s.Scheduler = "rr" })}},
		{"-A -t 198.51.100.1:80", Command{Kind: CmdAdd, HasService: true, Service: base}},
		{"--add-service --tcp-service=198.51.100.1:80 --scheduler=sh -b sh-port,sh-fallback", Command{Kind: CmdAdd, HasService: true,
			Service: spec(func(s *control.ServiceSpec) { s.Scheduler = "sh"; s.SchedFlags = []string{"sh-port", "sh-fallback"} })}},
		{"-At 198.51.100.1:80 -srr", Command{Kind: CmdAdd, HasService: true,
			Service: spec(func(s *control.ServiceSpec) { s.Scheduler = "rr" })}},
		{"-A -t 198.51.100.1:http -p", Command{Kind: CmdAdd, HasService: true,
			Service: spec(func(s *control.ServiceSpec) { s.Persistent = true; s.Timeout = 360 })}},
		{"-A -t 198.51.100.1:80 -p 600 -M 255.255.255.0", Command{Kind: CmdAdd, HasService: true,
			Service: spec(func(s *control.ServiceSpec) { s.Persistent = true; s.Timeout = 600; s.Netmask = "255.255.255.0" })}},
		{"-A -t 198.51.100.1:80 -p -M 255.255.0.0", Command{Kind: CmdAdd, HasService: true,
			Service: spec(func(s *control.ServiceSpec) { s.Persistent = true; s.Timeout = 360; s.Netmask = "255.255.0.0" })}},
		{"-A -t 198.51.100.1 -p 60", Command{Kind: CmdAdd, HasService: true,
			Service: spec(func(s *control.ServiceSpec) { s.Port = 0; s.Persistent = true; s.Timeout = 60 })}},
		{"-E -u 198.51.100.1:53 -s wrr -o", Command{Kind: CmdEdit, HasService: true,
			Service: control.ServiceSpec{ServiceKey: udp, Scheduler: "wrr", Netmask: "255.255.255.255", OnePacket: true}}},
		{"-D -t 198.51.100.1:80", Command{Kind: CmdDel, HasService: true, Service: control.ServiceSpec{ServiceKey: tcp}}},
		{"-C", Command{Kind: CmdFlush}},
		{"--clear", Command{Kind: CmdFlush}},
		{"-a -t 198.51.100.1:80 -r 203.0.113.10", Command{Kind: CmdAddDest, HasService: true, Service: control.ServiceSpec{ServiceKey: tcp},
			Dest: control.DestSpec{Addr: rip, Port: 80, Method: balancer.MethodDR, Weight: 1}}},
		// DR forces the service's port, as IPVS does.
		{"-a -t 198.51.100.1:80 -r 203.0.113.10:8080 -g -w 5", Command{Kind: CmdAddDest, HasService: true, Service: control.ServiceSpec{ServiceKey: tcp},
			Dest: control.DestSpec{Addr: rip, Port: 80, Method: balancer.MethodDR, Weight: 5}}},
		{"-a -t 198.51.100.1:80 -r 203.0.113.10:8080 -m -w 0 -x 100 -y 50", Command{Kind: CmdAddDest, HasService: true, Service: control.ServiceSpec{ServiceKey: tcp},
			Dest: control.DestSpec{Addr: rip, Port: 8080, Method: balancer.MethodMasq, Weight: 0, UThreshold: 100, LThreshold: 50}}},
		{"-a -r 203.0.113.10 -m -t 198.51.100.1:80", Command{Kind: CmdAddDest, HasService: true, Service: control.ServiceSpec{ServiceKey: tcp},
			Dest: control.DestSpec{Addr: rip, Port: 80, Method: balancer.MethodMasq, Weight: 1}}},
		{"--add-server --tcp-service 198.51.100.1:80 --real-server 203.0.113.10 --ipip --weight 2 --tun-type ipip", Command{Kind: CmdAddDest, HasService: true, Service: control.ServiceSpec{ServiceKey: tcp},
			Dest: control.DestSpec{Addr: rip, Port: 80, Method: balancer.MethodTun, Weight: 2}}},
		{"-e -t 198.51.100.1:80 -r 203.0.113.10 -w 3", Command{Kind: CmdEditDest, HasService: true, Service: control.ServiceSpec{ServiceKey: tcp},
			Dest: control.DestSpec{Addr: rip, Port: 80, Method: balancer.MethodDR, Weight: 3}}},
		{"-d -t 198.51.100.1:80 -r 203.0.113.10:8080", Command{Kind: CmdDelDest, HasService: true, Service: control.ServiceSpec{ServiceKey: tcp},
			Dest: control.DestSpec{Addr: rip, Port: 8080}}},
		{"-Ln", Command{Kind: CmdList, Format: FmtNumeric}},
		{"-lnc", Command{Kind: CmdList, Format: FmtNumeric, Conns: true}},
		{"-L -n --stats --exact", Command{Kind: CmdList, Format: FmtNumeric | FmtStats | FmtExact}},
		{"--list --numeric --rate --sort", Command{Kind: CmdList, Format: FmtNumeric | FmtRate}},
		{"-L --timeout", Command{Kind: CmdList, Timeout: true}},
		{"-Ln -t 198.51.100.1:80 --json", Command{Kind: CmdList, HasService: true, Service: control.ServiceSpec{ServiceKey: tcp}, Format: FmtNumeric | FmtJSON}},
		{"-n -L", Command{Kind: CmdList, Format: FmtNumeric}},
		{"-Z", Command{Kind: CmdZero}},
		{"-Z -t 198.51.100.1:80", Command{Kind: CmdZero, HasService: true, Service: control.ServiceSpec{ServiceKey: tcp}}},
		{"-S -n", Command{Kind: CmdSave, Format: FmtNumeric | FmtRule}},
		{"--save", Command{Kind: CmdSave, Format: FmtRule}},
		{"-R", Command{Kind: CmdRestore}},
		{"--set 900 120 300", Command{Kind: CmdSet, Timeouts: control.Timeouts{TCP: 900, TCPFin: 120, UDP: 300}}},
		{"--socket /tmp/g.sock -Ln", Command{Kind: CmdList, Format: FmtNumeric, Socket: "/tmp/g.sock"}},
		{"-h", Command{Kind: CmdHelp}},
		{"-L --help", Command{Kind: CmdHelp}},
		{"--version", Command{Kind: CmdVersion}},
	}
	for _, tc := range tests {
		t.Run(tc.args, func(t *testing.T) {
			got, err := Parse(strings.Fields(tc.args))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Parse(%q)\n got %+v\nwant %+v", tc.args, got, tc.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ args, want string }{
		{"-n", "no command specified (one of -A -E -D -C -R -S -a -e -d -L -Z --set -h)"},
		{"-A -L", "multiple commands specified"},
		{"-A -t 198.51.100.1:80 -s foo", "unknown scheduler 'foo' (govs has rr, wrr, lc, wlc, sed, nq, sh, mh)"},
		{"-A -t 198.51.100.1:80 -s lblc", "unknown scheduler 'lblc' (govs has rr, wrr, lc, wlc, sed, nq, sh, mh)"},
		{"-A -t 198.51.100.300:80", "illegal virtual server address[:port] specified"},
		{"-A -t 198.51.100.1:65536", "illegal virtual server address[:port] specified"},
		{"-A -t 198.51.100.1:-1", "illegal virtual server address[:port] specified"},
		{"-A -t 80", "illegal virtual server address[:port] specified"},
		{"-A -t [2001:db8::1]:80", "illegal virtual server address[:port] specified"},
		{"-A -t 198.51.100.1", "Zero port specified for non-persistent service"},
		{"-A -t 198.51.100.1:80 -o", "One-Packet Scheduling is only for UDP virtual services"},
		{"-A -t 198.51.100.1:80 -s rr -b sh-port", "incompatible scheduler flag `sh-port'"},
		{"-A -t 198.51.100.1:80 -p 0", "invalid timeout value `0' specified"},
		{"-A -t 198.51.100.1:80 -p 2678401", "invalid timeout value `2678401' specified"},
		{"-A -t 198.51.100.1:80 -M 255.255.0", "illegal virtual server persistent mask specified"},
		{"-A -s rr", "You need to supply the 'service-address' option for the 'add-service' command"},
		{"-A -t 198.51.100.1:80 -r 203.0.113.10", "Illegal 'real-server' option with the 'add-service' command"},
		{"-A -t 198.51.100.1:80 -s rr -s wrr", "multiple 'scheduler' options specified"},
		{"-A -t 198.51.100.1:80 -u 198.51.100.1:80", "multiple 'service-address' options specified"},
		{"-a -t 198.51.100.1:80", "You need to supply the 'real-server' option for the 'add-server' command"},
		{"-a -t 198.51.100.1:80 -r 203.0.113.10 -w 65536", "illegal weight specified"},
		{"-a -t 198.51.100.1:80 -r 203.0.113.10 -w -1", "illegal weight specified"},
		{"-a -t 198.51.100.1:80 -r 203.0.113.10 -w x", "illegal weight specified"},
		{"-a -t 198.51.100.1:80 -r 203.0.113.x", "illegal real server address[:port] specified"},
		{"-a -t 198.51.100.1:80 -r 203.0.113.10 -g -m", "multiple 'forwarding-method' options specified"},
		{"-a -t 198.51.100.1:80 -r 203.0.113.10 --tun-type ipip", "Tunnel options conflict with forward method"},
		{"-a -t 198.51.100.1:80 -r 203.0.113.10 -i --tun-type gue", "tunnel type 'gue' is not supported by govs (only ipip)"},
		{"-d -t 198.51.100.1:80 -r 203.0.113.10 -w 1", "Illegal 'weight' option with the 'delete-server' command"},
		{"-L -c -t 198.51.100.1:80", "The option 'service-address' conflicts with the 'connection' option in the 'list' command"},
		{"-L -c --stats", "options conflicts in the list command"},
		{"-L --timeout --persistent-conn", "options conflicts in the list command"},
		{"-S --json", "Illegal 'json' option with the 'save' command"},
		{"-C -n", "Illegal 'numeric' option with the 'flush' command"},
		{"--set 900 120", "--set option requires 3 timeout values"},
		{"--set 900 120 x", "invalid timeout value `x' specified"},
		{"-L foo", "unexpected argument foo"},
		{"-L --bogus", "unknown option '--bogus'"},
		{"-Lq", "unknown option '-q'"},
		{"-A -t", "option '-t' needs an argument"},
		{"-L --stats=1", "option '--stats' takes no argument"},
		{"-A -f 1", "option '-f' is not supported by govs"},
		{"--start-daemon master", "option '--start-daemon' is not supported by govs"},
	}
	for _, tc := range tests {
		t.Run(tc.args, func(t *testing.T) {
			_, err := Parse(strings.Fields(tc.args))
			ue, ok := err.(*UsageError)
			if !ok {
				t.Fatalf("Parse(%q) error = %v (%T), want *UsageError", tc.args, err, err)
			}
			if ue.Msg != tc.want {
				t.Errorf("Parse(%q) = %q, want %q", tc.args, ue.Msg, tc.want)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"-A -t 198.51.100.1:80 -s rr", "-lnc", "-a -t 198.51.100.1:80 -r 203.0.113.10:8080 -m -w 0", "--set 1 2 3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := Parse(strings.Fields(s))
		if err != nil {
			if _, ok := err.(*UsageError); !ok {
				t.Fatalf("Parse(%q) error %T, want *UsageError", s, err)
			}
			return
		}
		switch c.Kind {
		case CmdAdd, CmdEdit:
			if err := c.Service.Validate(); err != nil {
				t.Fatalf("Parse(%q) accepted a service the daemon rejects: %v", s, err)
			}
		case CmdAddDest, CmdEditDest:
			if err := c.Dest.Validate(); err != nil {
				t.Fatalf("Parse(%q) accepted a dest the daemon rejects: %v", s, err)
			}
		}
	})
}

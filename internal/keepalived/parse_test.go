package keepalived

import (
	"io/fs"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/govs-lb/govs/balancer"
	"github.com/govs-lb/govs/health"
	"github.com/govs-lb/govs/internal/control"
)

func parse(t *testing.T, src string) *Config {
	t.Helper()
	c, err := Parse("keepalived.conf", []byte(src))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return c
}

func warnings(c *Config) []string {
	var out []string
	for _, w := range c.Warnings {
		out = append(out, w.String())
	}
	return out
}

var (
	ap   = netip.MustParseAddrPort
	addr = netip.MustParseAddr
)

// keepalived's doc/samples/keepalived.conf.sample, as shipped.
const sampleConf = `! Configuration File for keepalived

global_defs {
   notification_email {
     acassen
   }
   notification_email_from Alexandre.Cassen@firewall.loc
   smtp_server 192.168.200.1
   smtp_connect_timeout 30
   router_id LVS_DEVEL
}

vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 50
    nopreempt
    priority 100
    advert_int 1
    virtual_ipaddress {
        192.168.200.11
        192.168.200.12
        192.168.200.13
    }
}

virtual_server 10.10.10.2 1358 {
    delay_loop 6
    lb_algo rr
    lb_kind NAT
    persistence_timeout 50
    protocol TCP

    sorry_server 192.168.200.200 1358

    real_server 192.168.200.2 1358 {
        weight 1
        HTTP_GET {
            url {
              path /testurl3/test.jsp
              digest 640205b7b0fc66c1ea91c463fac6334d
            }
            connect_timeout 3
            retry 3
            delay_before_retry 3
        }
    }
}
`

func TestParseSample(t *testing.T) {
	c := parse(t, sampleConf)
	wantWarn := []string{
		"keepalived.conf:3: skipping global_defs block (not handled by govs)",
		"keepalived.conf:13: skipping vrrp_instance block (not handled by govs)",
	}
	if got := warnings(c); !reflect.DeepEqual(got, wantWarn) {
		t.Fatalf("warnings\n got %q\nwant %q", got, wantWarn)
	}
	want := []VirtualServer{{
		Pos: Pos{"keepalived.conf", 26, 1},
		Spec: control.ServiceSpec{
			ServiceKey: control.ServiceKey{Protocol: balancer.TCP, Addr: addr("10.10.10.2"), Port: 1358},
			Scheduler:  "rr", Persistent: true, Timeout: 50, Netmask: "255.255.255.255",
		},
		DelayLoop:   6 * time.Second,
		SorryServer: &control.DestSpec{Addr: addr("192.168.200.200"), Port: 1358, Method: balancer.MethodMasq, Weight: 1},
		RealServers: []RealServer{{
			Pos:  Pos{"keepalived.conf", 35, 5},
			Dest: control.DestSpec{Addr: addr("192.168.200.2"), Port: 1358, Method: balancer.MethodMasq, Weight: 1},
			Checks: []health.Check{{
				Kind: health.HTTP, Addr: ap("192.168.200.2:1358"), ConnectTimeout: 3 * time.Second,
				Retry: 3, DelayBeforeRetry: 3 * time.Second, DelayLoop: 6 * time.Second,
				URLs: []health.URL{{Path: "/testurl3/test.jsp", Digest: "640205b7b0fc66c1ea91c463fac6334d"}},
			}},
		}},
	}}
	if !reflect.DeepEqual(c.Services, want) {
		t.Fatalf("services\n got %+v\nwant %+v", c.Services, want)
	}
}

func TestParseSnippets(t *testing.T) {
	tests := []struct {
		name  string
		src   string
		check func(t *testing.T, c *Config)
	}{
		{"inhibit with trailing comment (keepalived.conf.inhibit)", `
virtual_server 10.10.10.2 1358 {
    delay_loop 6
    lb_algo rr
    lb_kind NAT
    persistence_timeout 50
    protocol TCP
    real_server 192.168.200.2 1358 {
        weight 1
        inhibit_on_failure        ! set weight to 0 instead of removing service
        TCP_CHECK {
            connect_timeout 3
        }
    }
}`, func(t *testing.T, c *Config) {
			rs := c.Services[0].RealServers[0]
			if !rs.InhibitOnFailure {
				t.Error("inhibit_on_failure lost")
			}
			want := health.Check{Kind: health.TCP, Addr: ap("192.168.200.2:1358"), ConnectTimeout: 3 * time.Second,
				Retry: 1, DelayBeforeRetry: time.Second, DelayLoop: 6 * time.Second}
			if !reflect.DeepEqual(rs.Checks, []health.Check{want}) {
				t.Errorf("checks %+v, want %+v", rs.Checks, want)
			}
		}},
		{"misc check with arguments and misc_dynamic", `
virtual_server 198.51.100.1 5432 {
    delay_loop 10
    lb_algo wlc
    lb_kind DR
    real_server 203.0.113.1 5432 {
        weight 100
        MISC_CHECK {
            misc_path "/usr/local/bin/pgcheck.sh 203.0.113.1 'two words'"
            misc_dynamic
        }
    }
    real_server 203.0.113.2 5432 {
        MISC_CHECK {
            misc_path /usr/local/bin/pgcheck.sh
            misc_timeout 3
            retry 2
        }
    }
}`, func(t *testing.T, c *Config) {
			vs := c.Services[0]
			a, b := vs.RealServers[0], vs.RealServers[1]
			wantA := health.Check{Kind: health.Misc, Addr: ap("203.0.113.1:5432"), Retry: 0,
				DelayBeforeRetry: time.Second, DelayLoop: 10 * time.Second,
				Command: []string{"/usr/local/bin/pgcheck.sh", "203.0.113.1", "two words"},
				Timeout: 10 * time.Second, Dynamic: true}
			if !reflect.DeepEqual(a.Checks, []health.Check{wantA}) {
				t.Errorf("a checks\n got %+v\nwant %+v", a.Checks, wantA)
			}
			if a.Dest.Weight != 100 || a.Dest.Method != balancer.MethodDR || b.Dest.Weight != 1 {
				t.Errorf("dests %+v %+v", a.Dest, b.Dest)
			}
			if ch := b.Checks[0]; ch.Timeout != 3*time.Second || ch.Retry != 2 || ch.Dynamic {
				t.Errorf("b check %+v", ch)
			}
		}},
		{"tcp check options, nb_get_retry, defaults from the virtual_server", `
virtual_server 198.51.100.2 443 {
    lb_algo sh
    sh-port
    lb_kind TUN
    protocol TCP
    persistence_timeout
    persistence_granularity 255.255.255.0
    connect_timeout 2
    retry 4
    real_server 203.0.113.5 443 {
        weight 0
        TCP_CHECK {
            connect_ip 203.0.113.50
            connect_port 8443
            nb_get_retry 2
            delay_before_retry 0.5
            delay_loop 1.5
        }
        TCP_CHECK {
        }
    }
}`, func(t *testing.T, c *Config) {
			vs := c.Services[0]
			want := control.ServiceSpec{
				ServiceKey: control.ServiceKey{Protocol: balancer.TCP, Addr: addr("198.51.100.2"), Port: 443},
				Scheduler:  "sh", SchedFlags: []string{"sh-port"}, Persistent: true, Timeout: 360, Netmask: "255.255.255.0",
			}
			if !reflect.DeepEqual(vs.Spec, want) {
				t.Errorf("spec %+v, want %+v", vs.Spec, want)
			}
			rs := vs.RealServers[0]
			if rs.Dest.Method != balancer.MethodTun || rs.Dest.Weight != 0 {
				t.Errorf("dest %+v", rs.Dest)
			}
			c1 := health.Check{Kind: health.TCP, Addr: ap("203.0.113.50:8443"), ConnectTimeout: 2 * time.Second,
				Retry: 2, DelayBeforeRetry: 500 * time.Millisecond, DelayLoop: 1500 * time.Millisecond}
			c2 := health.Check{Kind: health.TCP, Addr: ap("203.0.113.5:443"), ConnectTimeout: 2 * time.Second,
				Retry: 4, DelayBeforeRetry: time.Second, DelayLoop: 60 * time.Second}
			if !reflect.DeepEqual(rs.Checks, []health.Check{c1, c2}) {
				t.Errorf("checks\n got %+v\nwant %+v", rs.Checks, []health.Check{c1, c2})
			}
		}},
		{"udp, ops, http status ranges, virtualhost, alpha, brace on next line", `
virtual_server 198.51.100.3 53
{
    protocol UDP
    ops
    alpha
    virtualhost www.example.com
    real_server 203.0.113.7 53 {
        HTTP_GET {
            url { path /a }
            url {
                path /b?x=1
                status_code 200 204 300-399
            }
        }
    }
    real_server 203.0.113.8 53
}
virtual_server 198.51.100.3 54 {
    real_server 203.0.113.7 54 {
        TCP_CHECK {
            alpha
        }
    }
    real_server 203.0.113.8 54 {
        TCP_CHECK {
        }
    }
}`, func(t *testing.T, c *Config) {
			if v := c.Services[1]; !v.RealServers[0].Alpha || v.RealServers[1].Alpha {
				t.Errorf("checker alpha: %+v", v.RealServers)
			}
			vs := c.Services[0]
			if vs.Spec.Protocol != balancer.UDP || !vs.Spec.OnePacket || !vs.Alpha || vs.Spec.Scheduler != "wlc" {
				t.Errorf("spec %+v alpha %v", vs.Spec, vs.Alpha)
			}
			if len(vs.RealServers) != 2 || !vs.RealServers[0].Alpha || len(vs.RealServers[1].Checks) != 0 {
				t.Fatalf("realservers %+v", vs.RealServers)
			}
			ch := vs.RealServers[0].Checks[0]
			wantURLs := []health.URL{{Path: "/a"}, {Path: "/b?x=1", Status: []health.StatusRange{{Lo: 200, Hi: 200}, {Lo: 204, Hi: 204}, {Lo: 300, Hi: 399}}}}
			if ch.Host != "www.example.com" || !reflect.DeepEqual(ch.URLs, wantURLs) || ch.DelayBeforeRetry != 3*time.Second {
				t.Errorf("check %+v", ch)
			}
		}},
		{"ignored keywords warn, one line each", `
vrrp_script chk { script "/bin/true" interval 2 }
virtual_server 198.51.100.4 80 {
    quorum 2
    real_server 203.0.113.9 80 {
        notify_up /bin/up.sh
        TCP_CHECK {
            bindto 198.51.100.4
        }
    }
}
static_routes {
    192.0.2.0/24 via 203.0.113.1 dev eth0
}`, func(t *testing.T, c *Config) {
			want := []string{
				"keepalived.conf:2: skipping vrrp_script block (not handled by govs)",
				"keepalived.conf:4: ignoring quorum in virtual_server (quorum (a sorry_server is used when no realserver is up) is not supported by govs)",
				"keepalived.conf:6: ignoring notify_up in real_server (notify scripts is not supported by govs)",
				"keepalived.conf:8: ignoring bindto in TCP_CHECK (bindto is not supported by govs)",
				"keepalived.conf:12: skipping static_routes block (not handled by govs)",
			}
			if got := warnings(c); !reflect.DeepEqual(got, want) {
				t.Errorf("warnings\n got %q\nwant %q", got, want)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := parse(t, tt.src)
			if len(c.Services) == 0 {
				t.Fatal("no services")
			}
			for _, vs := range c.Services {
				if err := vs.Spec.Validate(); err != nil {
					t.Errorf("spec does not validate: %v", err)
				}
			}
			tt.check(t, c)
		})
	}
}

func TestParseErrors(t *testing.T) {
	const vs = "virtual_server 198.51.100.1 80 {\n"
	tests := []struct {
		name, src, want string
	}{
		{"typo in virtual_server", vs + "  lb_alog rr\n}", `keepalived.conf:2:3: unknown keyword "lb_alog" in virtual_server`},
		{"typo in real_server", vs + "  real_server 203.0.113.1 80 {\n    wieght 2\n  }\n}", `keepalived.conf:3:5: unknown keyword "wieght" in real_server`},
		{"typo in checker", vs + "  real_server 203.0.113.1 80 {\n    TCP_CHECK {\n      conect_timeout 3\n    }\n  }\n}", `keepalived.conf:4:7: unknown keyword "conect_timeout" in TCP_CHECK`},
		{"connect_port in MISC_CHECK", vs + "  real_server 203.0.113.1 80 {\n    MISC_CHECK {\n      misc_path /bin/true\n      connect_port 80\n    }\n  }\n}", `keepalived.conf:5:7: unknown keyword "connect_port" in MISC_CHECK`},
		{"unknown top-level keyword", "virtual_sever 198.51.100.1 80 {\n}\n", `keepalived.conf:1:1: unknown keyword "virtual_sever"`},
		{"lblc refused", vs + "  lb_algo lblc\n}", "keepalived.conf:2:11: lb_algo lblc is not implemented by govs (it has rr, wrr, lc, wlc, sed, nq, sh, mh)"},
		{"unknown scheduler", vs + "  lb_algo fastest\n}", `keepalived.conf:2:11: unknown lb_algo "fastest"`},
		{"fwmark", "virtual_server fwmark 1 {\n}\n", "keepalived.conf:1:16: virtual_server fwmark is not supported: govs captures packets before netfilter could mark them; define address:port services"},
		{"group", "virtual_server group web {\n}\n", "keepalived.conf:1:16: virtual_server group is not supported by govs (nor fwmark services)"},
		{"IPv6", "virtual_server 2001:db8::1 80 {\n}\n", "keepalived.conf:1:16: virtual_server: 2001:db8::1 is not IPv4"},
		{"bad port", "virtual_server 198.51.100.1 http {\n}\n", `keepalived.conf:1:29: invalid port "http"`},
		{"weight out of range", vs + "  real_server 203.0.113.1 80 {\n    weight 70000\n  }\n}", `keepalived.conf:3:12: invalid weight "70000" (an integer from 0 to 65535)`},
		{"unterminated quote", vs + "  real_server 203.0.113.1 80 {\n    MISC_CHECK {\n      misc_path \"/bin/check\n", "keepalived.conf:4:17: unterminated quoted string"},
		{"unclosed block", vs + "  real_server 203.0.113.1 80 {\n", `keepalived.conf:2:30: "{" is never closed`},
		{"stray close", "}\n", `keepalived.conf:1:1: unexpected "}"`},
		{"duplicate service", vs + "}\n" + vs + "}\n", "keepalived.conf:3:1: virtual_server 198.51.100.1 80 (TCP) defined twice (first at keepalived.conf:1:1)"},
		{"same address udp is another service", vs + "}\nvirtual_server 198.51.100.1 80 {\n protocol UDP\n}\nvirtual_server 198.51.100.1 80 {\n protocol UDP\n}\n", "keepalived.conf:6:1: virtual_server 198.51.100.1 80 (UDP) defined twice (first at keepalived.conf:3:1)"},
		{"duplicate realserver", vs + "  real_server 203.0.113.1 80\n  real_server 203.0.113.1 80\n}", "keepalived.conf:3:3: real_server 203.0.113.1 80 defined twice"},
		{"SSL_GET", vs + "  real_server 203.0.113.1 80 {\n    SSL_GET {\n    }\n  }\n}", "keepalived.conf:3:5: SSL_GET is not implemented by govs"},
		{"bad digest", vs + "  real_server 203.0.113.1 80 {\n    HTTP_GET {\n      url {\n        path /\n        digest xyz\n      }\n    }\n  }\n}", `keepalived.conf:6:16: digest "xyz" is not an MD5`},
		{"bad status range", vs + "  real_server 203.0.113.1 80 {\n    HTTP_GET {\n      url {\n        path /\n        status_code 200 300-200\n      }\n    }\n  }\n}", `keepalived.conf:6:25: invalid status_code "300-200"`},
		{"path without slash", vs + "  real_server 203.0.113.1 80 {\n    HTTP_GET {\n      url {\n        path index.html\n      }\n    }\n  }\n}", `keepalived.conf:5:14: url path "index.html" must start with /`},
		{"http without url", vs + "  real_server 203.0.113.1 80 {\n    HTTP_GET {\n      connect_timeout 3\n    }\n  }\n}", "keepalived.conf:3:5: HTTP_GET without a url"},
		{"misc without path", vs + "  real_server 203.0.113.1 80 {\n    MISC_CHECK {\n    }\n  }\n}", "keepalived.conf:3:5: MISC_CHECK without misc_path"},
		{"bad granularity", vs + "  persistence_timeout 60\n  persistence_granularity 255.0.255.0\n}", `keepalived.conf:3:27: invalid persistence_granularity "255.0.255.0"`},
		{"bad lb_kind", vs + "  lb_kind FULLNAT\n}", `keepalived.conf:2:11: invalid lb_kind "FULLNAT" (DR, TUN or NAT)`},
		{"SCTP", vs + "  protocol SCTP\n}", "keepalived.conf:2:12: protocol SCTP is not supported by govs"},
		{"sorry server is a realserver", vs + "  sorry_server 203.0.113.1 80\n  real_server 203.0.113.1 80\n}", "keepalived.conf:2:3: sorry_server 203.0.113.1 80 is also a real_server"},
		{"zero delay_loop", vs + "  delay_loop 0\n}", `keepalived.conf:2:14: invalid delay_loop "0"`},
		{"port 0 without persistence", "virtual_server 198.51.100.1 0 {\n}\n", "keepalived.conf:1:1: virtual_server 198.51.100.1 0 (TCP): Zero port specified for non-persistent service"},
		{"no block", "virtual_server 198.51.100.1 80\n", "keepalived.conf:1:1: virtual_server 198.51.100.1 80 has no { } block"},
		{"parameter substitution", "$VIP=198.51.100.1\n", "keepalived.conf:1:1: keepalived parameter substitution"},
		{"flag without value", vs + "  inhibit_on_failure yes\n}", "keepalived.conf:2:22: inhibit_on_failure takes no value"},
		{"include missing", "include missing.conf\n", "keepalived.conf:1:9: include missing.conf: no such file"},
		{"regex refused", vs + "  real_server 203.0.113.1 80 {\n    HTTP_GET {\n      url {\n        path /\n        regex \"ok\"\n      }\n    }\n  }\n}", "keepalived.conf:6:9: regex is not implemented by govs"},
	}
	fsys := fstest.MapFS{}
	l := &Loader{ReadFile: fsys.ReadFile, Glob: func(p string) ([]string, error) { return fs.Glob(fsys, p) }}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := l.Parse("keepalived.conf", []byte(tt.src))
			if err == nil {
				t.Fatalf("no error, want %q", tt.want)
			}
			if !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("error\n got %q\nwant %q...", err, tt.want)
			}
			if _, ok := err.(*Error); !ok {
				t.Fatalf("error is %T, want *Error", err)
			}
		})
	}
}

func TestInclude(t *testing.T) {
	fsys := fstest.MapFS{
		"etc/keepalived/keepalived.conf": {Data: []byte(`
global_defs {
   router_id LVS1
}
include conf.d/*.conf
virtual_server 198.51.100.1 80 {
    include rs/web.inc
}
`)},
		"etc/keepalived/conf.d/a.conf": {Data: []byte("virtual_server 198.51.100.2 80 {\n    lb_algo rr\n}\n")},
		"etc/keepalived/conf.d/b.conf": {Data: []byte("vrrp_instance VI_1 {\n  state MASTER\n}\n")},
		"etc/keepalived/rs/web.inc":    {Data: []byte("real_server 203.0.113.1 80 {\n    weight 2\n}\nreal_server 203.0.113.2 80 {\n    wieght 3\n}\n")},
	}
	l := &Loader{ReadFile: fsys.ReadFile, Glob: func(p string) ([]string, error) { return fs.Glob(fsys, p) }}
	_, err := l.Load("etc/keepalived/keepalived.conf")
	if err == nil || err.Error() != `etc/keepalived/rs/web.inc:5:5: unknown keyword "wieght" in real_server` {
		t.Fatalf("error in an included file: %v", err)
	}
	fsys["etc/keepalived/rs/web.inc"] = &fstest.MapFile{Data: []byte("real_server 203.0.113.1 80 {\n    weight 2\n}\n")}
	c, err := l.Load("etc/keepalived/keepalived.conf")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Services) != 2 || c.Services[0].Spec.Addr != addr("198.51.100.2") || c.Services[1].RealServers[0].Dest.Weight != 2 {
		t.Fatalf("services %+v", c.Services)
	}
	want := []string{
		"etc/keepalived/keepalived.conf:2: skipping global_defs block (not handled by govs)",
		"etc/keepalived/conf.d/b.conf:1: skipping vrrp_instance block (not handled by govs)",
	}
	if got := warnings(c); !reflect.DeepEqual(got, want) {
		t.Fatalf("warnings\n got %q\nwant %q", got, want)
	}
	// An include that includes itself stops at the depth limit.
	fsys["etc/keepalived/loop.conf"] = &fstest.MapFile{Data: []byte("include loop.conf\n")}
	if _, err := l.Load("etc/keepalived/loop.conf"); err == nil || !strings.Contains(err.Error(), "nested more than") {
		t.Fatalf("include loop: %v", err)
	}
}

func TestSplitCommand(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"/bin/check", []string{"/bin/check"}},
		{"  /bin/check  a\tb ", []string{"/bin/check", "a", "b"}},
		{"/bin/check 'two words' \"x y\" z''", []string{"/bin/check", "two words", "x y", "z"}},
		{"", nil},
	}
	for _, tt := range tests {
		if got := splitCommand(tt.in); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("splitCommand(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// FuzzParse checks that any input either fails with a positioned *Error or
// yields services that validate, targets the health engine accepts, and a
// diff against itself that is empty.
func FuzzParse(f *testing.F) {
	f.Add([]byte(sampleConf))
	f.Add([]byte("virtual_server 198.51.100.1 80 {\n real_server 203.0.113.1 80 { weight 2\n MISC_CHECK { misc_path \"/bin/x 'a b'\" misc_dynamic } } }"))
	f.Add([]byte("virtual_server 198.51.100.1 80\n{\n protocol UDP\n persistence_timeout\n}\n! c\n# d\n"))
	f.Add([]byte("vrrp_instance X { a { b } }\nvirtual_server fwmark 1 {}"))
	f.Fuzz(func(t *testing.T, src []byte) {
		l := &Loader{
			ReadFile: func(string) ([]byte, error) { return nil, fs.ErrNotExist },
			Glob:     func(string) ([]string, error) { return nil, nil },
		}
		c, err := l.Parse("f.conf", src)
		if err != nil {
			e, ok := err.(*Error)
			if !ok || e.Pos.Line < 1 || e.Pos.Col < 1 || e.Pos.File != "f.conf" {
				t.Fatalf("error without a position: %#v", err)
			}
			return
		}
		for _, vs := range c.Services {
			if err := vs.Spec.Validate(); err != nil {
				t.Fatalf("service %v does not validate: %v", vs.Key(), err)
			}
			for _, rs := range vs.RealServers {
				if err := rs.Dest.Validate(); err != nil {
					t.Fatalf("realserver does not validate: %v", err)
				}
				tg := health.Target{ID: "x", Checks: rs.Checks}
				if err := tg.Validate(); err != nil {
					t.Fatalf("checks rejected by the engine: %v", err)
				}
			}
		}
		if ops := DiffConfig(c, c); len(ops) != 0 {
			t.Fatalf("diff with itself: %+v", ops)
		}
		for _, op := range DiffConfig(nil, c) {
			if err := op.Validate(); err != nil {
				t.Fatalf("op %+v does not validate: %v", op, err)
			}
		}
	})
}

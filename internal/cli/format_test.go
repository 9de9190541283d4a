package cli

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/govs-lb/govs/balancer"
	"github.com/govs-lb/govs/internal/control"
)

// Golden outputs, built from ipvsadm.c's printf formats (trailing padding included).

var golden = []control.ServiceStatus{
	{
		ServiceSpec: control.ServiceSpec{ServiceKey: tcp, Scheduler: "rr", Netmask: "255.255.255.255"},
		Stats:       control.Stats{Conns: 12, InPkts: 123456789, OutPkts: 99999999, InBytes: 1234567890123, OutBytes: 5, CPS: 1, InPPS: 2, OutPPS: 3, InBPS: 4000, OutBPS: 123456789},
		Dests: []control.DestStatus{
			{DestSpec: control.DestSpec{Addr: rip, Port: 80, Method: balancer.MethodDR, Weight: 1}, ActiveConns: 3, InactConns: 7, PersistConns: 2,
				Stats: control.Stats{Conns: 12, InPkts: 100, OutPkts: 0, InBytes: 6000, OutBytes: 0, CPS: 1, InPPS: 2, OutPPS: 3, InBPS: 4000, OutBPS: 0}},
			{DestSpec: control.DestSpec{Addr: netip.MustParseAddr("203.0.113.11"), Port: 8080, Method: balancer.MethodMasq, Weight: 65535, UThreshold: 100, LThreshold: 10}},
		},
	},
	{
		ServiceSpec: control.ServiceSpec{ServiceKey: udp, Scheduler: "sh", Persistent: true, Timeout: 360, Netmask: "255.255.255.0", SchedFlags: []string{"sh-port"}, OnePacket: true},
		Dests: []control.DestStatus{
			{DestSpec: control.DestSpec{Addr: netip.MustParseAddr("203.0.113.12"), Port: 53, Method: balancer.MethodTun, Weight: 0}},
			{DestSpec: control.DestSpec{Addr: netip.MustParseAddr("127.0.0.1"), Port: 53, Method: balancer.MethodLocal, Weight: 1}},
		},
	},
}

var info = control.Info{Version: "1.2.1", ConnTableSize: 4096}

func TestPrintGolden(t *testing.T) {
	tests := []struct {
		name string
		f    Format
		want string
	}{
		{"list", FmtNumeric, `IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn
TCP  198.51.100.1:80 rr
  -> 203.0.113.10:80              Route   1      3          7         
  -> 203.0.113.11:8080            Masq    65535  0          0         
UDP  198.51.100.1:53 sh (sh-port) persistent 360 mask 255.255.255.0 ops
  -> 203.0.113.12:53              Tunnel  0      0          0         
  -> 127.0.0.1:53                 Local   1      0          0         
`},
		{"stats", FmtStats, `IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes
  -> RemoteAddress:Port
TCP  198.51.100.1:80                    12  123456K 99999999    1234G        5
  -> 203.0.113.10:80                    12      100        0     6000        0
  -> 203.0.113.11:8080                   0        0        0        0        0
UDP  198.51.100.1:53                     0        0        0        0        0
  -> 203.0.113.12:53                     0        0        0        0        0
  -> 127.0.0.1:53                        0        0        0        0        0
`},
		{"stats exact", FmtStats | FmtExact, `IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes
  -> RemoteAddress:Port
TCP  198.51.100.1:80                    12 123456789 99999999 1234567890123        5
  -> 203.0.113.10:80                    12      100        0     6000        0
  -> 203.0.113.11:8080                   0        0        0        0        0
UDP  198.51.100.1:53                     0        0        0        0        0
  -> 203.0.113.12:53                     0        0        0        0        0
  -> 127.0.0.1:53                        0        0        0        0        0
`},
		{"rate", FmtRate, `IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port                 CPS    InPPS   OutPPS    InBPS   OutBPS
  -> RemoteAddress:Port
TCP  198.51.100.1:80                     1        2        3     4000  123456K
  -> 203.0.113.10:80                     1        2        3     4000        0
  -> 203.0.113.11:8080                   0        0        0        0        0
UDP  198.51.100.1:53                     0        0        0        0        0
  -> 203.0.113.12:53                     0        0        0        0        0
  -> 127.0.0.1:53                        0        0        0        0        0
`},
		{"thresholds", FmtThresholds, `IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port            Uthreshold Lthreshold ActiveConn InActConn 
  -> RemoteAddress:Port
TCP  198.51.100.1:80 rr
  -> 203.0.113.10:80              0          0          3          7         
  -> 203.0.113.11:8080            100        10         0          0         
UDP  198.51.100.1:53 sh (sh-port) persistent 360 mask 255.255.255.0 ops
  -> 203.0.113.12:53              0          0          0          0         
  -> 127.0.0.1:53                 0          0          0          0         
`},
		{"persistent-conn", FmtPersistentConn, `IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port            Weight    PersistConn ActiveConn InActConn 
  -> RemoteAddress:Port
TCP  198.51.100.1:80 rr
  -> 203.0.113.10:80              1         2           3          7         
  -> 203.0.113.11:8080            65535     0           0          0         
UDP  198.51.100.1:53 sh (sh-port) persistent 360 mask 255.255.255.0 ops
  -> 203.0.113.12:53              0         0           0          0         
  -> 127.0.0.1:53                 1         0           0          0         
`},
		{"tun-info", FmtTunInfo, `IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port           Forward TunnelInfo    Weight ActiveConn InActConn
TCP  198.51.100.1:80 rr
  -> 203.0.113.10:80              Route   n/a           1      3          7         
  -> 203.0.113.11:8080            Masq    n/a           65535  0          0         
UDP  198.51.100.1:53 sh (sh-port) persistent 360 mask 255.255.255.0 ops
  -> 203.0.113.12:53              Tunnel  ipip          0      0          0         
  -> 127.0.0.1:53                 Local   n/a           1      0          0         
`},
		{"save", FmtRule | FmtNumeric, `-A -t 198.51.100.1:80 -s rr
-a -t 198.51.100.1:80 -r 203.0.113.10:80 -g -w 1
-a -t 198.51.100.1:80 -r 203.0.113.11:8080 -m -w 65535
-A -u 198.51.100.1:53 -s sh -p 360 -M 255.255.255.0 -o -b sh-port
-a -u 198.51.100.1:53 -r 203.0.113.12:53 -i -w 0 --tun-type ipip
-a -u 198.51.100.1:53 -r 127.0.0.1:53 -g -w 1
`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var b strings.Builder
			printAll(&b, info, golden, tc.f)
			if b.String() != tc.want {
				t.Errorf("got:\n%s\nwant:\n%s", visible(b.String()), visible(tc.want))
			}
		})
	}
}

// visible marks line ends so that trailing spaces show in a failure.
func visible(s string) string { return strings.ReplaceAll(s, "\n", "$\n") }

func TestPrintOneConnsTimeouts(t *testing.T) {
	var b strings.Builder
	printOne(&b, golden[0], FmtNumeric)
	want := `Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn
TCP  198.51.100.1:80 rr
  -> 203.0.113.10:80              Route   1      3          7         
  -> 203.0.113.11:8080            Masq    65535  0          0         
`
	if b.String() != want {
		t.Errorf("printOne:\n%s\nwant:\n%s", visible(b.String()), visible(want))
	}

	conns := []control.ConnStatus{
		{Protocol: balancer.TCP, State: "ESTABLISHED", Expires: 899,
			Client: netip.MustParseAddrPort("192.0.2.7:51234"), Virtual: netip.MustParseAddrPort("198.51.100.1:80"), Dest: netip.MustParseAddrPort("203.0.113.10:80")},
		{Protocol: balancer.UDP, State: "UDP", Expires: 5,
			Client: netip.MustParseAddrPort("192.0.2.8:53000"), Virtual: netip.MustParseAddrPort("198.51.100.1:53"), Dest: netip.MustParseAddrPort("203.0.113.12:53")},
	}
	b.Reset()
	printConns(&b, conns, FmtNumeric)
	want = `IPVS connection entries
pro expire state       source             virtual            destination
TCP 14:59  ESTABLISHED 192.0.2.7:51234    198.51.100.1:80    203.0.113.10:80
UDP 00:05  UDP         192.0.2.8:53000    198.51.100.1:53    203.0.113.12:53
`
	if b.String() != want {
		t.Errorf("printConns:\n%s\nwant:\n%s", visible(b.String()), visible(want))
	}

	b.Reset()
	printTimeouts(&b, control.Timeouts{TCP: 900, TCPFin: 120, UDP: 300})
	if want := "Timeout (tcp tcpfin udp): 900 120 300\n"; b.String() != want {
		t.Errorf("printTimeouts = %q, want %q", b.String(), want)
	}
}

func TestLargenum(t *testing.T) {
	for _, tc := range []struct {
		v     uint64
		exact bool
		want  string
	}{
		{0, false, "        0"},
		{99999999, false, " 99999999"},
		{100000000, false, "  100000K"},
		{999999999, false, "  999999K"},
		{1000000000, false, "    1000M"},
		{99999999999, false, "   99999M"},
		{100000000000, false, "     100G"},
		{100000000000000, false, "     100T"},
		{123456789, true, " 123456789"},
		{12, true, "       12"},
	} {
		var b strings.Builder
		f := Format(0)
		if tc.exact {
			f = FmtExact
		}
		printLargenum(&b, tc.v, f)
		if b.String() != tc.want {
			t.Errorf("printLargenum(%d, exact=%t) = %q, want %q", tc.v, tc.exact, b.String(), tc.want)
		}
	}
}

package keepalived

import (
	"net/netip"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/govs-lb/govs/balancer"
	"github.com/govs-lb/govs/internal/control"
)

func svc(addr string, port uint16, sched balancer.SchedName) control.ServiceSpec {
	return control.ServiceSpec{
		ServiceKey: control.ServiceKey{Protocol: balancer.TCP, Addr: netip.MustParseAddr(addr), Port: port},
		Scheduler:  sched, Netmask: control.DefaultNetmask,
	}
}

func dest(a string, port uint16, w int) control.DestSpec {
	return control.DestSpec{Addr: addr(a), Port: port, Method: balancer.MethodDR, Weight: w}
}

// opString is a compact form of an op for table comparisons.
func opString(o control.Op) string {
	k := o.Service.ServiceKey
	switch o.Kind {
	case control.OpAddService, control.OpEditService:
		return string(o.Kind) + " " + k.String() + " " + string(o.Service.Scheduler)
	case control.OpDelService:
		return string(o.Kind) + " " + k.String()
	case control.OpDelDest:
		return string(o.Kind) + " " + k.String() + " " + o.Dest.Addr.String()
	}
	return string(o.Kind) + " " + k.String() + " " + o.Dest.Addr.String() + " " + o.Dest.Method.Name() + " w" + strconv.Itoa(o.Dest.Weight)
}

func TestDiff(t *testing.T) {
	web := svc("198.51.100.1", 80, "wlc")
	dns := svc("198.51.100.2", 53, "rr")
	tests := []struct {
		name      string
		cur, want []Service
		ops       []string
	}{
		{"nothing to do", []Service{{web, []control.DestSpec{dest("203.0.113.1", 80, 1)}}},
			[]Service{{web, []control.DestSpec{dest("203.0.113.1", 80, 1)}}}, nil},
		{"a weight is one edit", []Service{{web, []control.DestSpec{dest("203.0.113.1", 80, 1), dest("203.0.113.2", 80, 1)}}},
			[]Service{{web, []control.DestSpec{dest("203.0.113.1", 80, 1), dest("203.0.113.2", 80, 5)}}},
			[]string{"edit-server tcp 198.51.100.1:80 203.0.113.2 dr w5"}},
		{"adds before deletes", []Service{{web, []control.DestSpec{dest("203.0.113.1", 80, 1)}}},
			[]Service{{web, []control.DestSpec{dest("203.0.113.3", 80, 2)}}},
			[]string{"add-server tcp 198.51.100.1:80 203.0.113.3 dr w2", "delete-server tcp 198.51.100.1:80 203.0.113.1"}},
		{"method change is an edit", []Service{{web, []control.DestSpec{dest("203.0.113.1", 80, 1)}}},
			[]Service{{web, []control.DestSpec{{Addr: addr("203.0.113.1"), Port: 80, Method: balancer.MethodTun, Weight: 1}}}},
			[]string{"edit-server tcp 198.51.100.1:80 203.0.113.1 tun w1"}},
		{"scheduler change edits the service only", []Service{{web, []control.DestSpec{dest("203.0.113.1", 80, 1)}}},
			[]Service{{svc("198.51.100.1", 80, "rr"), []control.DestSpec{dest("203.0.113.1", 80, 1)}}},
			[]string{"edit-service tcp 198.51.100.1:80 rr"}},
		{"service removed: one delete", []Service{{web, []control.DestSpec{dest("203.0.113.1", 80, 1)}}, {dns, []control.DestSpec{dest("203.0.113.1", 53, 1)}}},
			[]Service{{dns, []control.DestSpec{dest("203.0.113.1", 53, 1)}}},
			[]string{"delete-service tcp 198.51.100.1:80"}},
		{"service added with its dests, sorted", nil,
			[]Service{{dns, []control.DestSpec{dest("203.0.113.9", 53, 1), dest("203.0.113.1", 53, 2)}}, {web, nil}},
			[]string{"add-service tcp 198.51.100.1:80 wlc", "add-service tcp 198.51.100.2:53 rr",
				"add-server tcp 198.51.100.2:53 203.0.113.1 dr w2", "add-server tcp 198.51.100.2:53 203.0.113.9 dr w1"}},
		{"defaults and flag order do not count as changes",
			[]Service{{control.ServiceSpec{ServiceKey: web.ServiceKey, Scheduler: "sh", Netmask: "255.255.255.255", SchedFlags: []string{"sh-port", "sh-fallback"}}, nil}},
			[]Service{{control.ServiceSpec{ServiceKey: web.ServiceKey, Scheduler: "sh", SchedFlags: []string{"sh-fallback", "sh-port"}}, nil}},
			nil},
		{"persistence change", []Service{{web, nil}},
			[]Service{{control.ServiceSpec{ServiceKey: web.ServiceKey, Scheduler: "wlc", Persistent: true, Timeout: 300}, nil}},
			[]string{"edit-service tcp 198.51.100.1:80 wlc"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ops := Diff(tt.cur, tt.want)
			var got []string
			for _, o := range ops {
				got = append(got, opString(o))
				if err := o.Validate(); err != nil {
					t.Errorf("op %s does not validate: %v", opString(o), err)
				}
			}
			if !reflect.DeepEqual(got, tt.ops) {
				t.Fatalf("ops\n got %q\nwant %q", got, tt.ops)
			}
		})
	}
}

func TestDiffConfigReload(t *testing.T) {
	const before = `
virtual_server 198.51.100.1 80 {
    lb_algo wlc
    lb_kind DR
    real_server 203.0.113.1 80 {
        weight 1
        TCP_CHECK {
            connect_timeout 3
        }
    }
    real_server 203.0.113.2 80 {
        weight 1
    }
}
virtual_server 198.51.100.1 443 {
    lb_kind DR
    real_server 203.0.113.1 443
}
`
	old := parse(t, before)
	// Only a weight and a checker timeout change: one edit-server.
	nw := parse(t, strings.Replace(strings.Replace(before, "weight 1\n    }", "weight 4\n    }", 1), "connect_timeout 3", "connect_timeout 5", 1))
	ops := DiffConfig(old, nw)
	if len(ops) != 1 || opString(ops[0]) != "edit-server tcp 198.51.100.1:80 203.0.113.2 dr w4" {
		t.Fatalf("ops %+v", ops)
	}
	// From nothing: every service and realserver is added.
	if n := len(DiffConfig(nil, old)); n != 5 {
		t.Fatalf("%d ops from an empty config, want 5", n)
	}
	// To nothing: two service deletions.
	if n := len(DiffConfig(old, &Config{})); n != 2 {
		t.Fatalf("%d ops to an empty config, want 2", n)
	}
}

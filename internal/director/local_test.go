package director

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/govs-lb/govs/balancer"
	"github.com/govs-lb/govs/internal/control"
)

func TestLocalDestConfig(t *testing.T) {
	a := netip.MustParseAddr("127.0.0.1")
	for _, c := range []struct {
		method control.Method
		local  bool
		want   balancer.Method
		err    string
	}{
		{control.MethodDR, true, balancer.MethodLocal, ""},
		{control.MethodTun, true, balancer.MethodLocal, ""},
		{control.MethodLocal, true, balancer.MethodLocal, ""},
		{control.MethodMasq, true, balancer.MethodMasq, ""},
		{control.MethodDR, false, balancer.MethodDR, ""},
		{control.MethodMasq, false, balancer.MethodMasq, ""},
		{control.MethodLocal, false, 0, "not local"},
	} {
		got, err := localDestConfig(control.DestSpec{Addr: a, Port: 80, Method: c.method, Weight: 2}, c.local)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s local=%v: error %v, want %q", c.method, c.local, err, c.err)
			}
			continue
		}
		if err != nil || got.Method != c.want || got.Addr != a || got.Port != 80 || got.Weight != 2 {
			t.Errorf("%s local=%v: %+v, %v; want method %v", c.method, c.local, got, err, c.want)
		}
	}
}

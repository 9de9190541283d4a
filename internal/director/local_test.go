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
		method balancer.Method
		local  bool
		want   balancer.Method
		err    string
	}{
		{balancer.MethodDR, true, balancer.MethodLocal, ""},
		{balancer.MethodTun, true, balancer.MethodLocal, ""},
		{balancer.MethodLocal, true, balancer.MethodLocal, ""},
		{balancer.MethodMasq, true, balancer.MethodMasq, ""},
		{balancer.MethodDR, false, balancer.MethodDR, ""},
		{balancer.MethodMasq, false, balancer.MethodMasq, ""},
		{balancer.MethodLocal, false, 0, "not local"},
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

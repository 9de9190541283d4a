//go:build linux

package nftin

import "testing"

func TestRuleCount(t *testing.T) {
	v := [4]byte{198, 51, 100, 1}
	w := [4]byte{198, 51, 100, 2}
	tests := []struct {
		name string
		r    Rules
		want int
	}{
		{"empty", Rules{}, 0},
		{"one port service", Rules{VIPs: []Service{{6, v, 80}}}, 3}, // icmp, frags, port
		{"two ports one addr", Rules{VIPs: []Service{{6, v, 80}, {17, v, 53}}}, 4},
		{"port 0 swallows the address", Rules{VIPs: []Service{{6, v, 80}, {6, v, 0}}}, 1},
		{"two addrs", Rules{VIPs: []Service{{6, v, 80}, {6, w, 80}}}, 6},
		{"masq and arp", Rules{MasqReplies: []Service{{6, v, 8080}}, ARPVIPs: [][4]byte{v, w}}, 3},
	}
	for _, tt := range tests {
		if got := len(ruleExprs(tt.r)); got != tt.want {
			t.Errorf("%s: %d rules, want %d", tt.name, got, tt.want)
		}
	}
}

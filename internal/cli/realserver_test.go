package cli

import (
	"bytes"
	"context"
	"io"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func TestParseRealserverFlags(t *testing.T) {
	c, err := ParseRealserverFlags(strings.Fields("-i eth0 --vip 198.51.100.1 --vip 198.51.100.2 --tun"), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Addr{netip.MustParseAddr("198.51.100.1"), netip.MustParseAddr("198.51.100.2")}
	if c.Iface != "eth0" || !c.Tun || !slices.Equal(c.VIPs, want) {
		t.Fatalf("got %+v", c)
	}
	for _, bad := range []struct{ args, want string }{
		{"-i eth0", "at least one --vip"},
		{"-i eth0 --vip 198.51.100.1 extra", `unexpected argument "extra"`},
		{"-i eth0 --vip 2001:db8::1", "exit status 2"}, // package flag printed why
		{"-i eth0 --vip nonsense", "exit status 2"},
	} {
		_, err := ParseRealserverFlags(strings.Fields(bad.args), io.Discard)
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%q: error %v, want one saying %q", bad.args, err, bad.want)
		}
	}
}

// The exit statuses of govs realserver: 2 and one line for a bad command
// line, 0 for -h.
func TestRealserverCommandExitStatus(t *testing.T) {
	app := New("govs", "test")
	app.RegisterSubcommand("realserver", RealserverCommand)
	for _, tc := range []struct {
		args string
		code int
		want string
	}{
		{"realserver -i eth0", 2, "govs realserver: at least one --vip VIP is required\n"},
		{"realserver -i eth0 --vip 198.51.100.1 x", 2, "govs realserver: unexpected argument \"x\"\n"},
		{"realserver -h", 0, ""},
	} {
		var stderr bytes.Buffer
		code := app.Run(context.Background(), strings.Fields(tc.args), nil, io.Discard, &stderr)
		if code != tc.code || (tc.want != "" && stderr.String() != tc.want) {
			t.Errorf("govs %s: exit %d, stderr %q; want %d, %q", tc.args, code, stderr.String(), tc.code, tc.want)
		}
	}
}

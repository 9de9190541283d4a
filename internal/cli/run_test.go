package cli

import (
	"io"
	"strings"
	"testing"

	"github.com/govs-lb/govs/internal/director"
)

func TestParseRunFlags(t *testing.T) {
	env := func(string) string { return "" }
	c, err := ParseRunFlags(strings.Fields("-i eth0 -i eth1 --workers 2"), env, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Ifaces) != 2 || c.Workers != 2 || c.Shed != "xdp" || c.Role != director.RoleMaster || c.MaxConns != 1<<20 {
		t.Fatalf("got %+v", c)
	}
	if c, err := ParseRunFlags(strings.Fields("-i eth0 --shed off"), env, io.Discard); err != nil || c.Shed != "off" {
		t.Fatalf("--shed off: %+v, %v", c, err)
	}
	tuned := func(k string) string {
		if k == director.EnvIOTuning {
			return "batch=64,shed-mode=generic"
		}
		return ""
	}
	if c, err := ParseRunFlags(strings.Fields("-i eth0"), tuned, io.Discard); err != nil || c.IO.Batch != 64 || c.IO.ShedMode != "generic" {
		t.Fatalf("%s: %+v, %v", director.EnvIOTuning, c.IO, err)
	}
	badTuning := func(k string) string {
		if k == director.EnvIOTuning {
			return "batch=0"
		}
		return ""
	}
	if _, err := ParseRunFlags(strings.Fields("-i eth0"), badTuning, io.Discard); err == nil || !strings.Contains(err.Error(), "GOVS_IO_TUNING batch=\"0\"") {
		t.Errorf("bad %s: error %v", director.EnvIOTuning, err)
	}
	for _, bad := range []struct{ args, want string }{
		{"", "at least one -i"},
		{"-i eth0 --shed tc", `--shed "tc"`},
		{"-i eth0 --workers 0", "--workers 0"},
		{"-i eth0 -i eth0", "given twice"},
		{"-i eth0 --role primary", `--role "primary"`},
		{"-i eth0 extra", `unexpected argument "extra"`},
	} {
		_, err := ParseRunFlags(strings.Fields(bad.args), env, io.Discard)
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%q: error %v, want one saying %q", bad.args, err, bad.want)
		}
	}
}

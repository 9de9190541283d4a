package cli

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/govs-lb/govs/balancer"
	"github.com/govs-lb/govs/internal/testenv"
)

// dist/govs.bash, run by bash as completion would run it: COMP_WORDS and
// COMP_CWORD set, _govs called, COMPREPLY printed one word a line.

var completionScript = filepath.Join("..", "..", "dist", "govs.bash")

// fakeDaemon stands in for "govs -S -n": a shell function named govs,
// which _govs calls as ${COMP_WORDS[0]}.
const fakeDaemon = `govs() {
	[[ " $* " == *" -S -n "* ]] || { echo "fake govs: unexpected $*" >&2; return 2; }
	printf '%s\n' \
		'-A -t 198.51.100.1:80 -s rr' \
		'-a -t 198.51.100.1:80 -r 203.0.113.10:80 -g -w 1' \
		'-a -t 198.51.100.1:80 -r 203.0.113.11:8080 -m -w 2' \
		'-A -u 198.51.100.2:53 -s wrr' \
		'-a -u 198.51.100.2:53 -r 203.0.113.12:53 -g -w 1' \
		'-A -t 198.51.100.3:443 -s sh -b sh-port'
}
`

// noDaemon is govs with no daemon to answer: an error on stderr, exit 1.
const noDaemon = `govs() { echo "govs: dial unix /run/govs.sock: connect: no such file or directory" >&2; return 1; }
`

// complete returns _govs's replies for words, the last being the word
// under the cursor; prelude runs before (to define a fake govs).
func complete(t *testing.T, prelude string, words ...string) []string {
	t.Helper()
	bash, err := exec.LookPath("bash")
	if err != nil {
		testenv.Skip(t, "bash is not installed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	script := `source "$1" || exit 9
` + prelude + `shift
COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 ))
_govs || exit 8
printf '%s\n' "${COMPREPLY[@]}"`
	cmd := exec.CommandContext(ctx, bash, append([]string{"--norc", "--noprofile", "-c", script, "bash", completionScript}, words...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("completing %q: %v\n%s", words, err, stderr.String())
	}
	if stderr.Len() != 0 {
		t.Errorf("completing %q wrote to stderr: %q", words, stderr.String())
	}
	var out []string
	for _, w := range strings.Split(stdout.String(), "\n") {
		if w != "" {
			out = append(out, w)
		}
	}
	return out
}

func TestCompletionSchedulers(t *testing.T) {
	// The check the brief names: COMP_WORDS=(govs -s ""); COMP_CWORD=2.
	if got := complete(t, "", "govs", "-s", ""); !slices.Equal(got, balancer.SchedulerNames()) {
		t.Errorf("govs -s <TAB> = %q, want %q", got, balancer.SchedulerNames())
	}
	if got := complete(t, "", "govs", "-A", "-t", "198.51.100.1:80", "--scheduler", "w"); !slices.Equal(got, []string{"wrr", "wlc"}) {
		t.Errorf("--scheduler w<TAB> = %q, want [wrr wlc]", got)
	}
	// --scheduler=<TAB>: bash splits at "=".
	if got := complete(t, "", "govs", "--scheduler", "=", ""); !slices.Equal(got, balancer.SchedulerNames()) {
		t.Errorf("--scheduler=<TAB> = %q, want %q", got, balancer.SchedulerNames())
	}
}

func TestCompletionWords(t *testing.T) {
	cases := []struct {
		words []string
		want  []string
	}{
		{[]string{"govs", ""}, knownSubcommands},
		{[]string{"govs", "re"}, []string{"realserver", "reload"}},
		{[]string{"govs", "help", ""}, topicNames()},
		{[]string{"govs", "role", ""}, []string{"master", "backup"}},
		{[]string{"govs", "-L", "--sta"}, []string{"--stats"}},
		{[]string{"govs", "-a", "-t", "198.51.100.1:80", "-r", "203.0.113.10", "--mas"}, []string{"--masquerading"}},
		{[]string{"govs", "-A", "-t", "198.51.100.1:80", "-b", "sh-"}, []string{"sh-fallback", "sh-port"}},
		{[]string{"govs", "run", "--ro"}, []string{"--role"}},
		{[]string{"govs", "run", "--role", ""}, []string{"master", "backup"}},
		{[]string{"govs", "run", "-i", "lo"}, []string{"lo"}}, // every Linux host has lo
		{[]string{"govs", "realserver", "--iface", "lo"}, []string{"lo"}},
		{[]string{"govs", "realserver", "--t"}, []string{"--tun", "--tun-name"}},
		{[]string{"govs", "bench", "--mode", ""}, []string{"dr", "tun", "masq", "local"}},
		{[]string{"govs", "-a", "-t", "198.51.100.1:80", "-w", ""}, nil}, // a number: nothing to offer
	}
	for _, c := range cases {
		if got := complete(t, "", c.words...); !slices.Equal(got, c.want) {
			t.Errorf("%q <TAB> = %q, want %q", c.words, got, c.want)
		}
	}
	// Every ipvsadm option the parser knows, and no other, is offered.
	var want []string
	for _, o := range options {
		if o.tag == "unsupported" {
			continue
		}
		want = append(want, "--"+o.long)
		if o.short != 0 {
			want = append(want, "-"+string(o.short))
		}
	}
	slices.Sort(want)
	want = slices.Compact(want)
	got := complete(t, "", "govs", "-")
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("govs -<TAB> =\n%q\nwant the parser's options\n%q", got, want)
	}
}

func TestCompletionServices(t *testing.T) {
	cases := []struct {
		words []string
		want  []string
	}{
		{[]string{"govs", "-A", "-t", ""}, []string{"198.51.100.1:80", "198.51.100.3:443"}},
		{[]string{"govs", "-D", "--udp-service", ""}, []string{"198.51.100.2:53"}},
		{[]string{"govs", "-L", "-t", "198.51.100.3"}, []string{"198.51.100.3:443"}},
		{[]string{"govs", "-d", "-t", "198.51.100.1:80", "-r", ""}, []string{"203.0.113.10:80", "203.0.113.11:8080"}},
		{[]string{"govs", "-e", "-u", "198.51.100.2:53", "-r", ""}, []string{"203.0.113.12:53"}},
	}
	for _, c := range cases {
		if got := complete(t, fakeDaemon, c.words...); !slices.Equal(got, c.want) {
			t.Errorf("%q <TAB> = %q, want %q", c.words, got, c.want)
		}
	}
	// --socket on the line reaches "govs -S -n", also as --socket=PATH
	// (which bash splits at "=").
	onlyAt := strings.Replace(fakeDaemon, `[[ " $* " == *" -S -n "* ]]`, `[[ " $* " == *" --socket /tmp/x.sock -S -n "* ]]`, 1)
	for _, words := range [][]string{
		{"govs", "--socket", "/tmp/x.sock", "-D", "-u", ""},
		{"govs", "--socket", "=", "/tmp/x.sock", "-D", "-u", ""},
	} {
		if got := complete(t, onlyAt, words...); !slices.Equal(got, []string{"198.51.100.2:53"}) {
			t.Errorf("%q <TAB> = %q, want [198.51.100.2:53]", words, got)
		}
	}
	// No daemon: nothing offered and nothing printed (complete checks stderr).
	for _, words := range [][]string{{"govs", "-D", "-t", ""}, {"govs", "-d", "-t", "198.51.100.1:80", "-r", ""}} {
		if got := complete(t, noDaemon, words...); len(got) != 0 {
			t.Errorf("no daemon: %q <TAB> = %q, want nothing", words, got)
		}
	}
}

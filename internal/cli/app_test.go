package cli

import (
	"context"
	"encoding/json"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/govs-lb/govs/internal/control"
	"github.com/govs-lb/govs/internal/control/controltest"
)

type result struct {
	code           int
	stdout, stderr string
}

func run(t *testing.T, app *App, sock, line, stdin string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out, errb strings.Builder
	args := append([]string{"--socket", sock}, strings.Fields(line)...)
	code := app.Run(ctx, args, strings.NewReader(stdin), &out, &errb)
	return result{code, out.String(), errb.String()}
}

func TestAppAgainstDaemon(t *testing.T) {
	b := controltest.New(nil, nil, control.Timeouts{TCP: 900, TCPFin: 120, UDP: 300})
	sock := controltest.Serve(t, b)
	app := New("govs", "test")
	steps := []struct {
		line   string
		code   int
		stdout string
		stderr string
		calls  []string
	}{
		{"-A -t 198.51.100.1:80 -s rr", 0, "", "", []string{"AddService tcp 198.51.100.1:80 sched=rr persistent=false timeout=0 mask=255.255.255.255 flags=[] ops=false"}},
		{"-A -t 198.51.100.1:80 -s rr", 1, "", "Service already exists\n", []string{"AddService tcp 198.51.100.1:80 sched=rr persistent=false timeout=0 mask=255.255.255.255 flags=[] ops=false"}},
		{"-A -t 198.51.100.1:80 -s bogus", 2, "", "unknown scheduler 'bogus' (govs has rr, wrr, lc, wlc, sed, nq, sh, mh)\n", nil},
		{"-a -t 198.51.100.1:80 -r 203.0.113.10 -g -w 1", 0, "", "", []string{"AddDest tcp 198.51.100.1:80 {Addr:203.0.113.10 Port:80 Method:dr Weight:1 UThreshold:0 LThreshold:0}"}},
		{"-a -t 198.51.100.1:80 -r 127.0.0.1", 0, "", "", []string{"AddDest tcp 198.51.100.1:80 {Addr:127.0.0.1 Port:80 Method:dr Weight:1 UThreshold:0 LThreshold:0}"}},
		{"-a -t 198.51.100.1:81 -r 203.0.113.10", 1, "", "Service not defined\n", []string{"AddDest tcp 198.51.100.1:81 {Addr:203.0.113.10 Port:81 Method:dr Weight:1 UThreshold:0 LThreshold:0}"}},
		{"-e -t 198.51.100.1:80 -r 203.0.113.99 -w 2", 1, "", "No such destination\n", []string{"EditDest tcp 198.51.100.1:80 {Addr:203.0.113.99 Port:80 Method:dr Weight:2 UThreshold:0 LThreshold:0}"}},
		{"-a -t 198.51.100.1:80 -r 203.0.113.11 -w 70000", 2, "", "illegal weight specified\n", nil},
		{"-d -t 198.51.100.1:80 -r 127.0.0.1", 0, "", "", []string{"DelDest tcp 198.51.100.1:80 127.0.0.1:80"}},
		{"-Ln", 0, `IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn
TCP  198.51.100.1:80 rr
  -> 203.0.113.10:80              Route   1      0          0         
`, "", []string{"Services", "Info"}},
		{"-S", 0, "-A -t 198.51.100.1:80 -s rr\n-a -t 198.51.100.1:80 -r 203.0.113.10:80 -g -w 1\n", "", []string{"Services"}},
		{"-L -t 198.51.100.1:81", 1, "", "No such service\n", []string{"Services"}},
		{"-L --timeout", 0, "Timeout (tcp tcpfin udp): 900 120 300\n", "", []string{"Timeouts"}},
		{"--set 1000 0 0", 0, "", "", []string{"SetTimeouts {TCP:1000 TCPFin:0 UDP:0}"}},
		{"-Z -t 198.51.100.1:80", 0, "", "", []string{"Zero tcp 198.51.100.1:80"}},
		{"-Lnc", 0, "IPVS connection entries\npro expire state       source             virtual            destination\n", "", []string{"Conns"}},
		{"-D -t 198.51.100.1:80", 0, "", "", []string{"DelService tcp 198.51.100.1:80"}},
		{"-C", 0, "", "", []string{"Clear"}},
	}
	for _, s := range steps {
		r := run(t, app, sock, s.line, "")
		if r.code != s.code || r.stdout != s.stdout || r.stderr != s.stderr {
			t.Errorf("govs %s = %d\nstdout %q\nstderr %q\nwant %d\nstdout %q\nstderr %q", s.line, r.code, r.stdout, r.stderr, s.code, s.stdout, s.stderr)
		}
		if got := b.Calls(); strings.Join(got, "\n") != strings.Join(s.calls, "\n") {
			t.Errorf("govs %s: backend calls %q, want %q", s.line, got, s.calls)
		}
	}
}

func TestAppJSON(t *testing.T) {
	b := controltest.New([]control.ServiceStatus{{ServiceSpec: control.ServiceSpec{ServiceKey: tcp, Scheduler: "rr", Netmask: "255.255.255.255"}}}, nil, control.Timeouts{})
	sock := controltest.Serve(t, b)
	r := run(t, New("govs", "test"), sock, "-Ln --json", "")
	var got []control.ServiceStatus
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &got) != nil || len(got) != 1 || got[0].ServiceKey != tcp {
		t.Errorf("-Ln --json = %d %q %q", r.code, r.stdout, r.stderr)
	}
}

func TestAppRestore(t *testing.T) {
	b := controltest.New(nil, nil, control.Timeouts{})
	sock := controltest.Serve(t, b)
	app := New("govs", "test")
	saved := `# saved by ipvsadm-save
-A -t 198.51.100.1:80 -s rr
-a -t 198.51.100.1:80 -r 203.0.113.10:80 -g -w 1

ipvsadm -A -u 198.51.100.1:53 -s wlc -p 360 -M 255.255.255.0
-a -u 198.51.100.1:53 -r 203.0.113.12:53 -i -w 0 --tun-type ipip
`
	if r := run(t, app, sock, "-R", saved); r.code != 0 || r.stderr != "" {
		t.Fatalf("-R = %d %q", r.code, r.stderr)
	}
	if r := run(t, app, sock, "-Sn", ""); r.stdout != `-A -t 198.51.100.1:80 -s rr
-a -t 198.51.100.1:80 -r 203.0.113.10:80 -g -w 1
-A -u 198.51.100.1:53 -s wlc -p 360 -M 255.255.255.0
-a -u 198.51.100.1:53 -r 203.0.113.12:53 -i -w 0 --tun-type ipip
` {
		t.Errorf("-S after -R:\n%s", r.stdout)
	}
	b.Calls()
	before := b.State()

	// A semantic failure names the line and changes nothing.
	r := run(t, app, sock, "-R", "-C\n-A -t 198.51.100.2:80\n\n-a -t 198.51.100.3:80 -r 203.0.113.10\n")
	if r.code != 1 || r.stderr != "line 4: Service not defined\n" {
		t.Errorf("failing -R = %d %q", r.code, r.stderr)
	}
	// A syntax error is caught before anything is sent.
	r = run(t, app, sock, "-R", "-C\n-A -t 198.51.100.2:80 -s nope\n")
	if r.code != 2 || r.stderr != "line 2: unknown scheduler 'nope' (govs has rr, wrr, lc, wlc, sed, nq, sh, mh)\n" {
		t.Errorf("bad -R = %d %q", r.code, r.stderr)
	}
	r = run(t, app, sock, "-R", "-L -n\n")
	if r.code != 2 || r.stderr != "line 1: the 'list' command cannot be restored\n" {
		t.Errorf("-R with -L = %d %q", r.code, r.stderr)
	}
	if got := b.Calls(); len(got) != 1 || got[0] != "Restore 3" {
		t.Errorf("backend calls %q, want only the failing Restore 3", got)
	}
	if after := b.State(); len(after) != len(before) {
		t.Errorf("state changed by failed restores: %v", after)
	}
}

func TestAppDaemonNotRunning(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "none.sock")
	app := New("govs", "test")
	for _, line := range []string{"-Ln", "-A -t 198.51.100.1:80", "-C"} {
		r := run(t, app, sock, line, "")
		want := `govs: cannot connect to daemon at ` + sock + `: is "govs run" running?` + "\n"
		if r.code != 1 || r.stderr != want || r.stdout != "" {
			t.Errorf("govs %s = %d %q %q", line, r.code, r.stdout, r.stderr)
		}
	}
	// GOVS_SOCKET is used without --socket.
	app.Getenv = func(k string) string {
		if k == control.EnvSocket {
			return sock
		}
		return ""
	}
	var errb strings.Builder
	if code := app.Run(context.Background(), []string{"-C"}, nil, io.Discard, &errb); code != 1 || !strings.Contains(errb.String(), sock) {
		t.Errorf("GOVS_SOCKET ignored: %d %q", code, errb.String())
	}
}

func TestAppSubcommands(t *testing.T) {
	app := New("govs", "test")
	var gotArgs []string
	app.Register("run", func(_ context.Context, args []string, _ io.Reader, stdout, _ io.Writer) int {
		gotArgs = args
		io.WriteString(stdout, "running\n")
		return 7
	})
	var out, errb strings.Builder
	if code := app.Run(context.Background(), []string{"run", "-x", "y"}, nil, &out, &errb); code != 7 || out.String() != "running\n" || strings.Join(gotArgs, " ") != "-x y" {
		t.Errorf("run: %d %q %q", code, out.String(), gotArgs)
	}
	out.Reset()
	if code := app.Run(context.Background(), []string{"bench"}, nil, &out, &errb); code != 2 || errb.String() != "govs: subcommand \"bench\" is not available in this build\n" {
		t.Errorf("bench: %d %q", code, errb.String())
	}
	out.Reset()
	if code := app.Run(context.Background(), []string{"help"}, nil, &out, io.Discard); code != 0 || !strings.Contains(out.String(), "govs {run} [args]") {
		t.Errorf("help: %d %q", code, out.String())
	}
	out.Reset()
	if code := app.Run(context.Background(), []string{"-h"}, nil, &out, io.Discard); code != 0 || !strings.Contains(out.String(), "--add-service     -A") {
		t.Errorf("-h: %d", code)
	}
	defer func() {
		if recover() == nil {
			t.Error("registering run twice did not panic")
		}
	}()
	app.Register("run", nil)
}

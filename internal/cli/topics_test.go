package cli

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/govs-lb/govs/balancer"
	"github.com/govs-lb/govs/internal/testenv"
)

func TestHelpTopics(t *testing.T) {
	app := New("govs", "test")
	seen := map[string]bool{}
	for _, tp := range topics {
		if seen[tp.name] {
			t.Errorf("topic %q listed twice", tp.name)
		}
		seen[tp.name] = true
		var out, errb strings.Builder
		code := app.Run(context.Background(), []string{"help", tp.name}, nil, &out, &errb)
		if code != 0 || errb.Len() != 0 {
			t.Errorf("govs help %s = %d, stderr %q; want 0 and nothing", tp.name, code, errb.String())
		}
		if out.String() != tp.text || !strings.HasSuffix(tp.text, "\n") || len(tp.text) < 200 {
			t.Errorf("govs help %s printed %d bytes, want the topic's %d, ending in a newline", tp.name, out.Len(), len(tp.text))
		}
		for i, line := range strings.Split(strings.TrimSuffix(tp.text, "\n"), "\n") {
			if len([]rune(line)) > 80 {
				t.Errorf("govs help %s: line %d is %d characters wide (at most 80): %q", tp.name, i+1, len([]rune(line)), line)
			}
			if strings.Contains(line, "\t") || strings.TrimRight(line, " ") != line {
				t.Errorf("govs help %s: line %d has a tab or trailing space: %q", tp.name, i+1, line)
			}
		}
	}
	for _, want := range []string{"ipvsadm", "run", "realserver", "config", "bench"} {
		if !seen[want] {
			t.Errorf("no help topic %q", want)
		}
	}
}

func TestHelpTopicsContent(t *testing.T) {
	// The ipvsadm page names every option the parser has.
	ip := topicText(t, "ipvsadm")
	for _, o := range options {
		if !strings.Contains(ip, "--"+o.long) {
			t.Errorf("govs help ipvsadm does not mention --%s", o.long)
		}
	}
	if !strings.Contains(ip, strings.Join(balancer.SchedulerNames(), "|")) {
		t.Error("govs help ipvsadm does not list the schedulers")
	}
	for name, wants := range map[string][]string{
		"run":        {"--iface", "--socket", "--workers", "--max-conns", "--role", "--garp-count", "--garp-interval", "--log-level", "--shed", "GOVS_SOCKET", "/run/govs.sock"},
		"realserver": {"--vip", "--tun", "--tun-name", "arp_ignore"},
		"files":      {"GOVS_SOCKET", "/run/govs.sock", "/etc/default/govs", "govs.service"},
	} {
		text := topicText(t, name)
		for _, w := range wants {
			if !strings.Contains(text, w) {
				t.Errorf("govs help %s does not mention %s", name, w)
			}
		}
	}
}

func topicText(t *testing.T, name string) string {
	t.Helper()
	var out strings.Builder
	if code := New("govs", "test").Run(context.Background(), []string{"help", name}, nil, &out, &out); code != 0 {
		t.Fatalf("govs help %s = %d: %s", name, code, out.String())
	}
	return out.String()
}

func TestHelpErrors(t *testing.T) {
	app := New("govs", "test")
	for _, args := range [][]string{{"help", "nosuch"}, {"help", "run", "config"}, {"help", ""}} {
		var out, errb strings.Builder
		code := app.Run(context.Background(), args, nil, &out, &errb)
		if code != 2 || out.Len() != 0 {
			t.Errorf("govs %q = %d, stdout %q; want 2 and nothing", args, code, out.String())
		}
		msg := errb.String()
		if strings.Count(msg, "\n") != 1 || !strings.HasPrefix(msg, "govs help: ") || !strings.Contains(msg, "topics: ipvsadm, run,") {
			t.Errorf("govs %q: stderr %q, want one line naming the topics", args, msg)
		}
	}
	var errb strings.Builder
	app.Run(context.Background(), []string{"help", "nosuch"}, nil, &strings.Builder{}, &errb)
	if want := "govs help: no help topic \"nosuch\" (topics: " + strings.Join(topicNames(), ", ") + ")\n"; errb.String() != want {
		t.Errorf("unknown topic: stderr %q, want %q", errb.String(), want)
	}
}

func TestHelpListsTopics(t *testing.T) {
	var out strings.Builder
	if code := New("govs", "test").Run(context.Background(), []string{"help"}, nil, &out, &out); code != 0 {
		t.Fatalf("govs help = %d", code)
	}
	s := out.String()
	if !strings.Contains(s, "--add-service     -A") || !strings.Contains(s, "Help topics (govs help TOPIC):") {
		t.Errorf("govs help lacks the usage or the topic list:\n%s", s)
	}
	for _, tp := range topics {
		if !strings.Contains(s, "\n  "+tp.name+" ") {
			t.Errorf("govs help does not list topic %s", tp.name)
		}
	}
}

// The man page renders without a warning (groff -ww reports every one).
func TestManPage(t *testing.T) {
	page := filepath.Join("..", "..", "docs", "govs.8")
	if _, err := os.Stat(page); err != nil {
		t.Fatal(err)
	}
	groff, err := exec.LookPath("groff")
	if err != nil {
		testenv.Skip(t, "groff is not installed: the man page is not rendered")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, groff, "-man", "-Tutf8", "-ww", page)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("groff -man %s: %v\n%s", page, err, stderr.String())
	}
	if stderr.Len() != 0 {
		t.Errorf("groff -man -ww %s warns:\n%s", page, stderr.String())
	}
	text := stdout.String()
	for _, w := range []string{"NAME", "SYNOPSIS", "govs run", "govs realserver", "GOVS_SOCKET", "/run/govs.sock", "--scheduler", "EXIT STATUS"} {
		// groff -Tutf8 prints "-" as U+2010 in places; compare without hyphens.
		norm := strings.NewReplacer("\u2010", "-", "\u2212", "-").Replace(text)
		if !strings.Contains(norm, w) && !strings.Contains(stripOverstrike(norm), w) {
			t.Errorf("rendered man page lacks %q", w)
		}
	}
}

// stripOverstrike removes nroff's bold and underline (c\bc, _\bc).
func stripOverstrike(s string) string {
	r := []rune(s)
	out := make([]rune, 0, len(r))
	for i := 0; i < len(r); i++ {
		if i+2 < len(r) && r[i+1] == '\b' {
			continue
		}
		if r[i] == '\b' {
			continue
		}
		out = append(out, r[i])
	}
	return string(out)
}

package bench

import (
	"errors"
	"flag"
	"io"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseArgsDefaults(t *testing.T) {
	o, err := ParseArgs(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.Mode != ModeDR || o.Proto != ProtoUDP || o.Flows != 4096 || o.Size != 64 || o.Runs != 3 ||
		o.Workers != 1 || o.Duration != time.Second || o.RateSet || !slices.Equal(o.Subjects, AllSubjects) ||
		!slices.Equal(o.DirCPUs, []int{1}) || !slices.Equal(o.GenCPUs, []int{0}) || o.OverloadFactor != 2 {
		t.Fatalf("defaults: %+v", o)
	}
	if o, err := ParseArgs(strings.Fields("--overload-factor 1.5"), io.Discard); err != nil || o.OverloadFactor != 1.5 {
		t.Fatalf("--overload-factor 1.5: %v, %v", o.OverloadFactor, err)
	}
}

func TestParseArgs(t *testing.T) {
	o, err := ParseArgs(strings.Fields("--mode masq --proto tcp --flows 100 --size 128 --rate 1.5M --duration 0.5 --runs 2 --workers 2 --subjects govs,kernel-fwd --json --svg x.svg"), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.Mode != ModeMasq || o.Proto != ProtoTCP || o.Flows != 100 || o.Size != 128 || o.Rate != 1.5e6 || !o.RateSet ||
		o.Duration != 500*time.Millisecond || o.Runs != 2 || o.Workers != 2 || !o.JSON || o.SVG != "x.svg" ||
		!slices.Equal(o.Subjects, []string{SubjectGovs, SubjectKernel}) || !slices.Equal(o.DirCPUs, []int{1, 2}) {
		t.Fatalf("got %+v", o)
	}
	o, err = ParseArgs(strings.Fields("--gen-cpus 0-3 --workers 4"), io.Discard)
	if err != nil || !slices.Equal(o.GenCPUs, []int{0, 1, 2, 3}) || !slices.Equal(o.DirCPUs, []int{4, 5, 6, 7}) {
		t.Fatalf("--gen-cpus 0-3 --workers 4: gen %v dir %v, %v; want gen 0-3, dir 4-7", o.GenCPUs, o.DirCPUs, err)
	}
	if _, err := ParseArgs(strings.Fields("--gen-cpus 0,1 --dir-cpus 1"), io.Discard); err == nil {
		t.Fatal("--dir-cpus overlapping --gen-cpus accepted")
	}
	o, err = ParseArgs(strings.Fields("--proto udp-new --udp-timeout 2"), io.Discard)
	if err != nil || !o.UDP() || !o.Fresh() || o.UDPTimeout != 2*time.Second {
		t.Fatalf("--proto udp-new --udp-timeout 2: %+v, %v", o, err)
	}
	if _, err := ParseArgs(strings.Fields("--udp-timeout -1"), io.Discard); err == nil {
		t.Fatal("--udp-timeout -1 accepted")
	}
	o, err = ParseArgs([]string{"--rate", "max"}, io.Discard)
	if err != nil || !o.RateSet || o.Rate != 0 {
		t.Fatalf("--rate max: %+v, %v", o, err)
	}
}

func TestParseArgsErrors(t *testing.T) {
	for _, args := range []string{
		"--mode nat", "--proto sctp", "--flows 0", "--size 63", "--size 9000", "--rate fast", "--rate -5",
		"--duration 0", "--runs 0", "--workers 0", "--subjects govs,ipvs", "--subjects govs,govs",
		"--nosuchflag", "extra", "--dir-cpus 0", "--dir-cpus 3-1", "--cost-rate max", "--overload-factor 0.5",
	} {
		_, err := ParseArgs(strings.Fields(args), io.Discard)
		if !errors.Is(err, ErrUsage) {
			t.Errorf("%q: err = %v, want a usage error", args, err)
			continue
		}
		if strings.Contains(err.Error(), "\n") {
			t.Errorf("%q: message is not one line: %q", args, err)
		}
	}
	if _, err := ParseArgs([]string{"-h"}, io.Discard); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v", err)
	}
}

func TestParseRate(t *testing.T) {
	for in, want := range map[string]float64{"max": 0, "200000": 2e5, "250k": 2.5e5, "1.5M": 1.5e6, "7K": 7e3} {
		if got, err := ParseRate(in); err != nil || got != want {
			t.Errorf("ParseRate(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
}

func TestParseCPUList(t *testing.T) {
	got, err := ParseCPUList("1,3-5")
	if err != nil || !slices.Equal(got, []int{1, 3, 4, 5}) {
		t.Fatalf("got %v, %v", got, err)
	}
}

func TestParseArgsLocal(t *testing.T) {
	o, err := ParseArgs([]string{"--mode", "local"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(o.Subjects, LocalSubjects) || len(o.Notes) != 1 || !strings.Contains(o.Notes[0], "afpacket-bare skipped") {
		t.Fatalf("local defaults: subjects %v, notes %q", o.Subjects, o.Notes)
	}
	o, err = ParseArgs(strings.Fields("--mode local --subjects govs+batch=32,kernel-local"), io.Discard)
	if err != nil || !slices.Equal(o.Subjects, []string{"govs+batch=32", SubjectKernelLocal}) {
		t.Fatalf("local subjects: %v, %v", o.Subjects, err)
	}
	if o, err := ParseArgs(nil, io.Discard); err != nil || len(o.Notes) != 0 {
		t.Fatalf("dr: notes %q, %v", o.Notes, err)
	}
	for _, args := range []string{
		"--mode local --subjects govs,afpacket-bare",
		"--mode local --subjects kernel-fwd",
		"--mode dr --subjects govs,kernel-local",
		"--mode local --subjects kernel-local+batch=8",
	} {
		if _, err := ParseArgs(strings.Fields(args), io.Discard); !errors.Is(err, ErrUsage) {
			t.Errorf("%s: %v, want a usage error", args, err)
		}
	}
}

package balancer

import (
	"encoding/json"
	"errors"
	"testing"
)

// TestVocabSpellings pins every spelling of every protocol and method: the
// control API's name, ipvsadm -L's, and ipvsadm's option.
func TestVocabSpellings(t *testing.T) {
	protos := []struct {
		p                Proto
		name, list, flag string
	}{
		{TCP, "tcp", "TCP", "-t"},
		{UDP, "udp", "UDP", "-u"},
		{Proto(132), "", "proto-132", ""},
	}
	for _, tt := range protos {
		if tt.p.Name() != tt.name || tt.p.String() != tt.list || tt.p.Flag() != tt.flag {
			t.Errorf("Proto %d: Name, String, Flag = %q, %q, %q; want %q, %q, %q",
				uint8(tt.p), tt.p.Name(), tt.p.String(), tt.p.Flag(), tt.name, tt.list, tt.flag)
		}
	}
	methods := []struct {
		m                Method
		name, list, flag string
	}{
		{MethodDR, "dr", "Route", "-g"},
		{MethodTun, "tun", "Tunnel", "-i"},
		{MethodMasq, "masq", "Masq", "-m"},
		{MethodLocal, "local", "Local", "-g"},
		{Method(9), "", "method-9", ""},
	}
	for _, tt := range methods {
		if tt.m.Name() != tt.name || tt.m.String() != tt.list || tt.m.Flag() != tt.flag {
			t.Errorf("Method %d: Name, String, Flag = %q, %q, %q; want %q, %q, %q",
				uint8(tt.m), tt.m.Name(), tt.m.String(), tt.m.Flag(), tt.name, tt.list, tt.flag)
		}
	}
	for flag, want := range map[string]Method{"-g": MethodDR, "-i": MethodTun, "-m": MethodMasq} {
		if m, ok := MethodOfFlag(flag); !ok || m != want {
			t.Errorf("MethodOfFlag(%s) = %v, %t; want %v", flag, m, ok, want)
		}
	}
	if _, ok := MethodOfFlag("-x"); ok {
		t.Error("MethodOfFlag(-x) succeeded")
	}
}

// TestVocabJSON: the JSON of each value is its control API name, and
// decoding reads it back; a word outside the vocabulary is an error that
// names it and lists the words govs has.
func TestVocabJSON(t *testing.T) {
	type doc struct {
		P Proto     `json:"p"`
		M Method    `json:"m"`
		S SchedName `json:"s"`
	}
	in := doc{UDP, MethodMasq, SchedMH}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"p":"udp","m":"masq","s":"mh"}` {
		t.Fatalf("Marshal = %s", b)
	}
	var out doc
	if err := json.Unmarshal(b, &out); err != nil || out != in {
		t.Fatalf("Unmarshal(%s) = %+v, %v", b, out, err)
	}
	bad := map[string]string{
		`{"p":"sctp"}`: `invalid protocol "sctp" (want tcp or udp)`,
		`{"p":"TCP"}`:  `invalid protocol "TCP" (want tcp or udp)`,
		`{"m":"nat"}`:  `invalid forwarding method "nat" (want dr, tun, masq or local)`,
		`{"s":"lblc"}`: `unknown scheduler "lblc" (govs has rr, wrr, lc, wlc, sed, nq, sh, mh)`,
	}
	for js, want := range bad {
		if err := json.Unmarshal([]byte(js), &out); err == nil || err.Error() != want {
			t.Errorf("Unmarshal(%s) error = %v, want %s", js, err, want)
		}
	}
	for js := range bad {
		if err := json.Unmarshal([]byte(js), &out); !errors.Is(err, ErrInvalid) {
			t.Errorf("Unmarshal(%s) error %v is not ErrInvalid", js, err)
		}
	}
	out = doc{S: SchedRR}
	if err := json.Unmarshal([]byte(`{"s":""}`), &out); err != nil || out.S != "" {
		t.Errorf(`Unmarshal({"s":""}) = %q, %v; want the empty name (the default)`, out.S, err)
	}
	if _, err := ParseSchedName(""); err == nil {
		t.Error(`ParseSchedName("") succeeded`)
	}
	if _, err := json.Marshal(doc{P: Proto(1)}); err == nil {
		t.Error("Marshal of protocol 1 succeeded")
	}
	if _, err := json.Marshal(doc{P: TCP, M: Method(7)}); err == nil {
		t.Error("Marshal of method 7 succeeded")
	}
}

// FuzzVocab: every word a parser accepts is written back the same, and
// every value written is read back the same.
func FuzzVocab(f *testing.F) {
	for _, s := range []string{"tcp", "udp", "dr", "tun", "masq", "local", "wlc", "mh", "", "TCP"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if p, err := ParseProto(s); err == nil {
			if b, err := p.MarshalText(); err != nil || string(b) != s {
				t.Fatalf("proto %q -> %v -> %q, %v", s, p, b, err)
			}
		}
		if m, err := ParseMethod(s); err == nil {
			if b, err := m.MarshalText(); err != nil || string(b) != s {
				t.Fatalf("method %q -> %v -> %q, %v", s, m, b, err)
			}
		}
		if n, err := ParseSchedName(s); err == nil {
			if string(n) != s || !n.Known() {
				t.Fatalf("scheduler %q -> %q", s, n)
			}
			if _, err := NewScheduler(n); err != nil {
				t.Fatalf("NewScheduler(%q): %v", n, err)
			}
		}
	})
}

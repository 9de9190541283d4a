package bench

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"io"
	"math"
	"strings"
	"testing"
)

func TestWriteSVGWellFormed(t *testing.T) {
	var b bytes.Buffer
	series := []Series{
		{Name: "govs <dr>", Points: []XY{{200e3, 200e3}, {100e3, 100e3}, {900e3, 450e3}, {math.NaN(), 1}}},
		{Name: "kernel-fwd", Points: []XY{{900e3, 880e3}}},
		{Name: "empty"},
	}
	if err := WriteSVG(&b, "a & b", "offered (kpps)", "delivered (kpps)", 1e3, true, series); err != nil {
		t.Fatal(err)
	}
	dec := xml.NewDecoder(&b)
	elems := map[string]int{}
	texts := ""
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v", err)
		}
		switch v := tok.(type) {
		case xml.StartElement:
			elems[v.Name.Local]++
			if v.Name.Local == "svg" && v.Name.Space != "http://www.w3.org/2000/svg" {
				t.Errorf("svg namespace %q", v.Name.Space)
			}
		case xml.CharData:
			texts += string(v) + "|"
		}
	}
	if elems["svg"] != 1 || elems["polyline"] != 1 || elems["circle"] != 4 {
		t.Errorf("elements %v: want one svg, one polyline (govs), 4 markers", elems)
	}
	for _, want := range []string{"a & b", "govs <dr>", "kernel-fwd", "offered (kpps)", "|1000|"} {
		if !strings.Contains(texts, want) {
			t.Errorf("text %q missing from %q", want, texts)
		}
	}
}

func TestNiceStep(t *testing.T) {
	for in, want := range map[float64]float64{900e3: 200e3, 1: 0.2, 55: 10, 0: 1} {
		if got := niceStep(in, 6); got != want {
			t.Errorf("niceStep(%v) = %v, want %v", in, got, want)
		}
	}
}

func TestReportTableAndJSON(t *testing.T) {
	r := &Results{Mode: ModeDR, Rounds: []RoundResult{
		{Round: 0, Subject: SubjectGovs, Figures: map[string]float64{FigRate99: 400e3, FigOverload: 390e3, FigOverloadOffered: 800e3, FigCost: 2000}, Checked: 5},
		{Round: 0, Subject: SubjectNFT, Figures: map[string]float64{FigRate99: 500e3, FigOverload: 300e3, FigOverloadOffered: 1000e3, FigCost: 1800}, Checked: 4},
		{Round: 0, Subject: SubjectBare, Err: "wrong output: destination MAC"},
	}}
	subj := []string{SubjectGovs, SubjectNFT, SubjectBare}
	r.Summarize(subj)
	var b bytes.Buffer
	r.WriteTable(&b, subj)
	out := b.String()
	for _, want := range []string{"≥99%-delivered kpps", "400 (400–400)", "overload kpps", "offered kpps", "800 (800–800)",
		"govs ÷ nft-dnat", "0.80 (0.80–0.80)", "1.30 (1.30–1.30)", "1.11", "FAILED round 1 afpacket-bare: wrong output"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "zero-loss") {
		t.Errorf("table calls the ≥99%%-delivered rate zero-loss:\n%s", out)
	}
	if _, ok := r.Ratios["govs/nft-dnat"][FigOverloadOffered]; ok {
		t.Error("a ratio of offered rates: every subject is offered the same multiple by design")
	}
	b.Reset()
	if err := r.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := json.Unmarshal(b.Bytes(), &back); err != nil {
		t.Fatalf("JSON does not parse: %v\n%s", err, b.String())
	}
}

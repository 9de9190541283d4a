package balancer

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"testing"
)

// cloneConfig configures b2 as b is configured (what govs run --takeover
// does from the old daemon's service list).
func cloneConfig(t *testing.T, b, b2 *Balancer) {
	t.Helper()
	for _, s := range b.Services() {
		mustOK(t, b2.AddService(s.ServiceConfig))
		for _, d := range s.Dests {
			mustOK(t, b2.AddDest(s.ServiceKey, d.DestConfig))
		}
	}
}

// listing is the table as ipvsadm -L -c shows it, times relative to now.
func listing(b *Balancer, now int64) []string {
	var out []string
	b.Conns(func(c ConnInfo) bool {
		out = append(out, fmt.Sprintf("%s %s left %dns template=%v", c, c.Method, c.Expires-now, c.Template))
		return true
	})
	slices.Sort(out)
	return out
}

func allCounts(t *testing.T, b *Balancer) map[string][3]int {
	t.Helper()
	m := map[string][3]int{}
	for _, s := range b.Services() {
		for _, d := range s.Dests {
			m[s.ServiceKey.String()+" "+d.Addr.String()] = [3]int{d.ActiveConns, d.InactConns, d.PersistConns}
		}
	}
	return m
}

func TestExportImportRoundTrip(t *testing.T) {
	const now = 10 * sec
	b := New(Config{KeepQuiescentTemplates: true})
	w := b.NewWorker()
	masq := ServiceConfig{ServiceKey: tcpKey(vip1, 80), Scheduler: "rr"}
	pers := ServiceConfig{ServiceKey: tcpKey(vip2, 443), Scheduler: "rr", Persistent: true}
	udp := ServiceConfig{ServiceKey: udpKey(vip1, 53), Scheduler: "rr"}
	mustOK(t, b.AddService(masq))
	mustOK(t, b.AddService(pers))
	mustOK(t, b.AddService(udp))
	for _, r := range []netip.Addr{rip1, rip2} {
		mustOK(t, b.AddDest(masq.ServiceKey, DestConfig{Addr: r, Port: 8080, Method: MethodMasq, Weight: 1}))
		mustOK(t, b.AddDest(udp.ServiceKey, DestConfig{Addr: r, Port: 53, Method: MethodDR, Weight: 1}))
	}
	for _, r := range []netip.Addr{rip1, rip3} {
		mustOK(t, b.AddDest(pers.ServiceKey, DestConfig{Addr: r, Port: 443, Method: MethodDR, Weight: 1}))
	}

	// Masq: four connections, two established by the reply, one of them
	// through its FIN.
	var masqV []Verdict
	for i := range 4 {
		f := tcpFlow(client(i+1), 1000, vip1, 80)
		v := w.In(f, TCPFlagSYN, 60, now)
		masqV = append(masqV, v)
		if i < 2 {
			out := &Flow{Proto: TCP, Src: v.DestAddr, SrcPort: v.DestPort, Dst: f.Src, DstPort: f.SrcPort}
			w.Out(out, TCPFlagSYN|TCPFlagACK, 60, now)
			w.In(f, TCPFlagACK, 60, now)
		}
	}
	w.In(tcpFlow(client(2), 1000, vip1, 80), TCPFlagFIN|TCPFlagACK, 60, now)
	// Persistent DR: two clients, two connections each (one template each).
	persV := map[[4]byte]netip.AddrPort{}
	for i := 5; i <= 6; i++ {
		for port := uint16(2000); port < 2002; port++ {
			f := tcpFlow(client(i), port, vip2, 443)
			v := w.In(f, TCPFlagSYN, 60, now)
			w.In(f, TCPFlagACK, 60, now) // DR: the director sees ACKs only
			persV[client(i)] = destOf(v)
		}
	}
	// UDP.
	for i := 7; i <= 8; i++ {
		w.In(&Flow{Proto: UDP, Src: client(i), SrcPort: 53000, Dst: vip1, DstPort: 53}, 0, 60, now)
	}
	// A realserver deleted with live connections (the dest trash).
	mustOK(t, b.DelDest(masq.ServiceKey, rip2, 8080))

	exp := b.ExportConns(now)
	// Through the wire format and back.
	dec, err := DecodeConns(EncodeConns(exp))
	mustOK(t, err)
	if !slices.Equal(dec, exp) {
		t.Fatalf("DecodeConns(EncodeConns(x)) != x:\n got %+v\nwant %+v", dec, exp)
	}
	if _, err := DecodeConns(EncodeConns(exp)[:10]); !errors.Is(err, ErrInvalid) {
		t.Errorf("DecodeConns of a cut export: %v, want ErrInvalid", err)
	}
	if _, err := DecodeConns([]byte("GVC9")); !errors.Is(err, ErrInvalid) {
		t.Errorf("DecodeConns of another version: %v, want ErrInvalid", err)
	}
	if len(exp) != b.NumConns() {
		t.Fatalf("exported %d entries, table has %d", len(exp), b.NumConns())
	}
	for i, r := range exp {
		if r.Template && i > 0 && !exp[i-1].Template {
			t.Fatalf("template at %d after a connection: templates must come first", i)
		}
	}

	// Another balancer, another clock, another hash seed.
	const now2 = 5000 * sec
	b2 := New(Config{KeepQuiescentTemplates: true})
	w2 := b2.NewWorker()
	cloneConfig(t, b, b2)
	st, err := b2.ImportConns(exp, now2)
	mustOK(t, err)
	if st.Imported != len(exp) || st.Existing != 0 {
		t.Fatalf("import: %+v, want %d imported", st, len(exp))
	}
	// rip2's two masq connections: rip2 is no longer in the service.
	masqOnRip2 := 0
	for _, v := range masqV {
		if destOf(v).Addr() == rip2 {
			masqOnRip2++
		}
	}
	if st.Orphans != masqOnRip2 {
		t.Errorf("import: %d orphans, want %d (connections to the deleted rip2)", st.Orphans, masqOnRip2)
	}
	if got, want := listing(b2, now2), listing(b, now); !slices.Equal(got, want) {
		t.Fatalf("imported table differs:\n got %q\nwant %q", got, want)
	}
	if got, want := allCounts(t, b2), allCounts(t, b); !equalMaps(got, want) {
		t.Fatalf("realserver counts differ after import:\n got %v\nwant %v", got, want)
	}

	// Every connection goes on to the same realserver, in both directions.
	for i, v := range masqV {
		f := tcpFlow(client(i+1), 1000, vip1, 80)
		if got := w2.In(f, TCPFlagACK, 60, now2); got.Action != Forward || destOf(got) != destOf(v) {
			t.Errorf("masq connection %d after import: %v to %v, want Forward to %v", i, got.Action, destOf(got), destOf(v))
		}
		out := &Flow{Proto: TCP, Src: v.DestAddr, SrcPort: v.DestPort, Dst: f.Src, DstPort: f.SrcPort}
		if got := w2.Out(out, TCPFlagACK, 60, now2); got.Action != Forward || got.VIP != vip1 || got.VPort != 80 {
			t.Errorf("masq reply %d after import: %+v", i, got)
		}
	}
	// Persistence: a new connection from a known client follows its template.
	for c, want := range persV {
		v := w2.In(tcpFlow(c, 3000, vip2, 443), TCPFlagSYN, 60, now2)
		if destOf(v) != want {
			t.Errorf("new connection of %v after import went to %v, want its template's %v", c, destOf(v), want)
		}
	}
	if n := b2.NumConns(); n != len(exp)+2 {
		t.Errorf("after two persistent connections: %d entries, want %d (no new template)", n, len(exp)+2)
	}

	// A second import of the same export adds nothing and counts nothing twice.
	before := allCounts(t, b2)
	st, err = b2.ImportConns(exp, now2)
	mustOK(t, err)
	if st.Imported != 0 || st.Existing != len(exp)-0 {
		t.Errorf("second import: %+v, want everything existing", st)
	}
	if got := allCounts(t, b2); !equalMaps(got, before) {
		t.Errorf("second import changed counts:\n got %v\nwant %v", got, before)
	}

	// Templates hold while their connections live, then everything expires
	// and every count returns to zero.
	for _, at := range []int64{now2 + 3600*sec, now2 + 7200*sec} { // templates expire later
		for b2.Expire(at, 1<<20) > 0 {
		}
	}
	if n := b2.NumConns(); n != 0 {
		t.Errorf("%d entries left after everything expired", n)
	}
	for k, c := range allCounts(t, b2) {
		if c != [3]int{} {
			t.Errorf("%s: counts %v after everything expired, want zeros", k, c)
		}
	}
}

func equalMaps(a, b map[string][3]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestImportConnsErrors(t *testing.T) {
	b := New(Config{MaxConns: 1})
	mustOK(t, b.AddService(ServiceConfig{ServiceKey: tcpKey(vip1, 80)}))
	mustOK(t, b.AddDest(tcpKey(vip1, 80), DestConfig{Addr: rip1, Port: 80, Weight: 1}))
	good := ConnExport{Proto: TCP, Client: client(1), CPort: 1, VAddr: vip1, VPort: 80, DAddr: rip1.As4(), DPort: 80,
		SvcAddr: vip1, SvcPort: 80, DestPort: 80, State: tcpEstablished, Left: sec}
	for name, r := range map[string]ConnExport{
		"protocol":  func() ConnExport { r := good; r.Proto = 1; return r }(),
		"state":     func() ConnExport { r := good; r.State = 200; return r }(),
		"method":    func() ConnExport { r := good; r.Method = 9; return r }(),
		"forward":   func() ConnExport { r := good; r.Ctl = 1; return r }(),
		"negative":  func() ConnExport { r := good; r.Ctl = -1; return r }(),
		"nontempl.": func() ConnExport { r := good; r.Ctl = 0; r.CPort = 2; return r }(),
	} {
		recs := []ConnExport{r}
		if name == "nontempl." {
			recs = []ConnExport{good, {Proto: TCP, Client: client(2), CPort: 2, VAddr: vip1, VPort: 80, DAddr: rip1.As4(),
				DPort: 80, SvcAddr: vip1, SvcPort: 80, DestPort: 80, Ctl: 1}}
		}
		if _, err := b.ImportConns(recs, 0); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err %v, want ErrInvalid", name, err)
		}
	}
	if b.NumConns() != 0 {
		t.Fatalf("a failed validation imported %d entries", b.NumConns())
	}
	second := good
	second.CPort = 2
	st, err := b.ImportConns([]ConnExport{good, second}, 0)
	if !errors.Is(err, ErrInvalid) || st.Imported != 1 {
		t.Errorf("import over MaxConns: %+v, %v; want 1 imported and ErrInvalid", st, err)
	}
	if c := counts(t, b, tcpKey(vip1, 80), rip1); c != [3]int{1, 0, 0} {
		t.Errorf("counts %v after a partial import, want one active", c)
	}
}

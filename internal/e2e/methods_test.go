//go:build linux

package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/govs-lb/govs/internal/lab"
)

// bigSize is the transfer size of the upload and download tests: large
// enough for GRO/TSO frames far over the MTU.
const bigSize = 300 << 10

func bigPayload() []byte {
	b := make([]byte, bigSize)
	for i := range b {
		b[i] = byte(i*7 + i>>8)
	}
	return b
}

// serveBig serves, on addr inside h: GET /big (bigSize bytes), POST /up
// (answers "<host> <len> <sha256>") and GET / (the host name).
func serveBig(t *testing.T, h *lab.Host, addr string) {
	t.Helper()
	ln, err := h.ListenTCP(addr)
	if err != nil {
		t.Fatal(err)
	}
	payload := bigPayload()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /big", func(w http.ResponseWriter, r *http.Request) { w.Write(payload) })
	mux.HandleFunc("POST /up", func(w http.ResponseWriter, r *http.Request) {
		hs := sha256.New()
		n, _ := io.Copy(hs, r.Body)
		fmt.Fprintf(w, "%s %d %s", h.Name, n, hex.EncodeToString(hs.Sum(nil)))
	})
	mux.HandleFunc("GET /", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, h.Name) })
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
}

// checkBigTransfers downloads and uploads bigSize bytes through the VIP and
// checks every byte.
func checkBigTransfers(t *testing.T, client *lab.Host, base string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	tr := &http.Transport{DialContext: client.DialContext, DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}
	want := bigPayload()

	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/big", nil)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("download: %v", err)
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("download: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("download: got %d bytes, want %d identical bytes", len(got), len(want))
	}

	req, _ = http.NewRequestWithContext(ctx, http.MethodPost, base+"/up", bytes.NewReader(want))
	resp, err = hc.Do(req)
	if err != nil {
		t.Fatalf("upload: %v", err)
	}
	ans, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	sum := sha256.Sum256(want)
	if f := strings.Fields(string(ans)); len(f) != 3 || f[1] != fmt.Sprint(bigSize) || f[2] != hex.EncodeToString(sum[:]) {
		t.Fatalf("upload: server saw %q, want %d bytes with sha256 %x", ans, bigSize, sum)
	}
}

func TestMasqPortMapTCPAndUDP(t *testing.T) {
	topo, d := routedLab(t, 2)
	for i, rs := range topo.Realservers {
		serveBig(t, rs, rip(topo, i)+":8080")
		if _, err := rs.ServeUDP(rip(topo, i)+":5353", ""); err != nil {
			t.Fatal(err)
		}
	}
	d.govs("-A", "-t", vip+":80", "-s", "rr")
	d.govs("-A", "-u", vip+":53", "-s", "rr")
	for i := range topo.Realservers {
		d.govs("-a", "-t", vip+":80", "-r", rip(topo, i)+":8080", "-m")
		d.govs("-a", "-u", vip+":53", "-r", rip(topo, i)+":5353", "-m")
	}
	got := getN(t, topo.Client, "http://"+vip+"/", 6)
	assertAlternates(t, got, []string{"rs1", "rs2"})
	var udp []string
	for i := range 4 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		ans, err := topo.Client.UDPQuery(ctx, vip+":53", fmt.Sprintf("q%d", i))
		cancel()
		if err != nil {
			t.Fatalf("UDP query %d: %v", i, err)
		}
		udp = append(udp, ans)
	}
	assertAlternates(t, udp, []string{"rs1", "rs2"})
	checkBigTransfers(t, topo.Client, "http://"+vip)

	list := d.govs("-L", "-n")
	if !strings.Contains(list, "  -> "+rip(topo, 0)+":8080") || !strings.Contains(list, "Masq") {
		t.Errorf("govs -L -n does not show the masq realservers:\n%s", list)
	}
	checkStatsMoved(t, d, "TCP", vip+":80", 8)
}

func TestTunnel(t *testing.T) {
	topo, d := routedLab(t, 2)
	prepareRealservers(t, topo, true)
	for _, rs := range topo.Realservers {
		serveBig(t, rs, vip+":80")
	}
	d.govs("-A", "-t", vip+":80", "-s", "rr")
	for i := range topo.Realservers {
		d.govs("-a", "-t", vip+":80", "-r", rip(topo, i), "-i")
	}
	got := getN(t, topo.Client, "http://"+vip+"/", 6)
	assertAlternates(t, got, []string{"rs1", "rs2"})
	checkBigTransfers(t, topo.Client, "http://"+vip)
	if list := d.govs("-L", "-n"); !strings.Contains(list, "Tunnel") {
		t.Errorf("govs -L -n does not show Tunnel:\n%s", list)
	}
}

func TestDRBigTransfers(t *testing.T) {
	topo, d := routedLab(t, 2)
	prepareRealservers(t, topo, false)
	for _, rs := range topo.Realservers {
		serveBig(t, rs, vip+":80")
	}
	d.govs("-A", "-t", vip+":80", "-s", "rr")
	for i := range topo.Realservers {
		d.govs("-a", "-t", vip+":80", "-r", rip(topo, i), "-g")
	}
	checkBigTransfers(t, topo.Client, "http://"+vip)
	checkBigTransfers(t, topo.Client, "http://"+vip)
}

package arp

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// recConn is an in-memory net.PacketConn that records writes.
type recConn struct {
	mu      sync.Mutex
	frames  [][]byte
	addrs   []net.Addr
	onWrite func(n int) error
}

var _ net.PacketConn = (*recConn)(nil)

func (c *recConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	c.mu.Lock()
	c.frames = append(c.frames, bytes.Clone(b))
	c.addrs = append(c.addrs, addr)
	n := len(c.frames)
	c.mu.Unlock()
	if c.onWrite != nil {
		if err := c.onWrite(n); err != nil {
			return 0, err
		}
	}
	return len(b), nil
}
func (c *recConn) ReadFrom([]byte) (int, net.Addr, error) { return 0, nil, errors.New("unused") }
func (c *recConn) Close() error                           { return nil }
func (c *recConn) LocalAddr() net.Addr                    { return nil }
func (c *recConn) SetDeadline(time.Time) error            { return nil }
func (c *recConn) SetReadDeadline(time.Time) error        { return nil }
func (c *recConn) SetWriteDeadline(time.Time) error       { return nil }
func addrOf(s string) netip.Addr                          { return netip.MustParseAddr(s) }
func dummyAddr() net.Addr                                 { return &net.UDPAddr{} }
func vips2() []netip.Addr                                 { return []netip.Addr{addrOf("198.51.100.1"), addrOf("198.51.100.2")} }

func TestAnnouncerDefaults(t *testing.T) {
	a := NewAnnouncer(&recConn{}, dummyAddr(), macA, AnnouncerConfig{})
	if a.Count() != DefaultCount || a.Interval() != DefaultInterval {
		t.Errorf("defaults = %d × %v", a.Count(), a.Interval())
	}
	if a := NewAnnouncer(&recConn{}, dummyAddr(), macA, AnnouncerConfig{Count: 1 << 20}); a.Count() != maxCount {
		t.Errorf("count not capped: %d", a.Count())
	}
}

func TestAnnouncerSendsCountRounds(t *testing.T) {
	c := &recConn{}
	addr := dummyAddr()
	a := NewAnnouncer(c, addr, macA, AnnouncerConfig{Count: 3, Interval: time.Millisecond})
	if err := a.Announce(context.Background(), vips2()); err != nil {
		t.Fatal(err)
	}
	if len(c.frames) != 6 {
		t.Fatalf("sent %d frames, want 6", len(c.frames))
	}
	for i, f := range c.frames {
		v := vips2()[i%2].As4()
		if want := BuildGratuitous(make([]byte, FrameLen), macA, v); !bytes.Equal(f, want) {
			t.Errorf("frame %d = %x, want %x", i, f, want)
		}
		if c.addrs[i] != addr {
			t.Errorf("frame %d sent to %v", i, c.addrs[i])
		}
	}
}

func TestAnnouncerCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	c := &recConn{onWrite: func(n int) error {
		if n == 2 { // first round done
			cancel()
		}
		return nil
	}}
	a := NewAnnouncer(c, dummyAddr(), macA, AnnouncerConfig{Count: 5, Interval: time.Hour})
	if err := a.Announce(ctx, vips2()); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if len(c.frames) != 2 {
		t.Fatalf("sent %d frames after cancel, want 2", len(c.frames))
	}
}

func TestAnnouncerErrors(t *testing.T) {
	boom := errors.New("boom")
	c := &recConn{onWrite: func(int) error { return boom }}
	a := NewAnnouncer(c, dummyAddr(), macA, AnnouncerConfig{Count: 5, Interval: time.Millisecond})
	err := a.Announce(context.Background(), vips2())
	var op *net.OpError
	if !errors.As(err, &op) || op.Op != "garp" || !errors.Is(err, boom) {
		t.Fatalf("err = %v, want OpError garp wrapping boom", err)
	}
	if err := a.Announce(context.Background(), []netip.Addr{addrOf("2001:db8::1")}); err == nil {
		t.Fatal("IPv6 VIP accepted")
	}
	if err := a.Announce(context.Background(), nil); err != nil {
		t.Fatalf("empty VIP list: %v", err)
	}
}

package arp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"
)

// Default gratuitous ARP schedule. keepalived sends garp_master_repeat (5)
// GARPs per address back to back (garp_interval 0) on becoming MASTER and
// another 5 after garp_master_delay (5 s); heartbeat's IPaddr2 sends 5 spaced
// 200 ms apart. govs spaces its 5 a second apart so that one dropped frame or
// a switch port still coming up does not lose the takeover.
const (
	DefaultCount    = 5
	DefaultInterval = time.Second
)

// AnnouncerConfig sets how many gratuitous ARPs are sent per VIP and how far
// apart the rounds are. Zero values take the defaults above; Count is capped
// at 1000 so that a mistyped value cannot flood a segment.
type AnnouncerConfig struct {
	Count    int
	Interval time.Duration
}

const maxCount = 1000

// Announcer sends gratuitous ARPs for VIPs from one interface. It writes
// whole Ethernet frames to conn (an AF_PACKET SOCK_RAW socket in production,
// any net.PacketConn in tests) addressed to addr.
type Announcer struct {
	conn     net.PacketConn
	addr     net.Addr
	mac      [6]byte
	count    int
	interval time.Duration
}

// NewAnnouncer returns an Announcer that writes frames from mac through conn
// to addr. The Announcer does not own conn unless it was made by Listen;
// Close closes it either way.
func NewAnnouncer(conn net.PacketConn, addr net.Addr, mac [6]byte, cfg AnnouncerConfig) *Announcer {
	a := &Announcer{conn: conn, addr: addr, mac: mac, count: cfg.Count, interval: cfg.Interval}
	if a.count <= 0 {
		a.count = DefaultCount
	}
	if a.count > maxCount {
		a.count = maxCount
	}
	if a.interval <= 0 {
		a.interval = DefaultInterval
	}
	return a
}

// Count and Interval report the schedule in force.
func (a *Announcer) Count() int              { return a.count }
func (a *Announcer) Interval() time.Duration { return a.interval }

// Announce sends Count rounds of gratuitous ARPs, one per VIP per round,
// waiting Interval between rounds (not after the last). It returns when
// done, on the first write error, or with ctx.Err() when ctx is cancelled
// between frames. Only IPv4 VIPs are accepted.
func (a *Announcer) Announce(ctx context.Context, vips []netip.Addr) error {
	for _, v := range vips {
		if !v.Is4() {
			return fmt.Errorf("arp: announce %v: not an IPv4 address", v)
		}
	}
	if len(vips) == 0 {
		return nil
	}
	var buf [FrameLen]byte
	var timer *time.Timer
	for round := 0; round < a.count; round++ {
		if round > 0 {
			if timer == nil {
				timer = time.NewTimer(a.interval)
				defer timer.Stop()
			} else {
				timer.Reset(a.interval)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-timer.C:
			}
		}
		for _, v := range vips {
			if err := ctx.Err(); err != nil {
				return err
			}
			f := BuildGratuitous(buf[:], a.mac, v.As4())
			if _, err := a.conn.WriteTo(f, a.addr); err != nil {
				return &net.OpError{Op: "garp", Net: "packet", Addr: a.addr, Err: err}
			}
		}
	}
	return nil
}

// Close closes the underlying connection.
func (a *Announcer) Close() error {
	if a.conn == nil {
		return errors.New("arp: announcer has no connection")
	}
	return a.conn.Close()
}

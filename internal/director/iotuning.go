package director

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/govs-lb/govs/internal/afpacket"
	"golang.org/x/net/bpf"
)

// EnvIOTuning names the environment variable that overrides the I/O
// engine's settings, for benchmarks (`govs bench --subjects
// govs,govs+prio=fifo` runs both in one bench): a comma-separated list of
// key=value pairs, see ParseIOTuning. Production runs leave it unset.
const EnvIOTuning = "GOVS_IO_TUNING"

// IOTuning holds the knobs of the AF_PACKET I/O path that the director and
// `govs bench`'s afpacket-bare share. The zero value is the default.
type IOTuning struct {
	// Fanout joins each capture socket to a PACKET_FANOUT group: "on"
	// (the default), "auto" (only when several workers share an
	// interface) or "off". A group of one costs a flow dissection per frame.
	Fanout string
	// Prio is the worker thread's scheduling: "nice" (the default: nice
	// -20 when permitted), "fifo" (SCHED_FIFO 1, falling back to nice)
	// or "none".
	Prio string
	// BlockKiB, Blocks and RetireMS are the capture ring's geometry and
	// block retire timeout; 0 keeps afpacket's defaults.
	BlockKiB, Blocks, RetireMS int
	// Batch is the number of frames a worker takes from the ring per
	// receive (the default 256).
	Batch int
	// QdiscBypass sends with PACKET_QDISC_BYPASS ("on" default, "off").
	QdiscBypass string
	// SendBuf sets SO_SNDBUF of the transmit sockets in KiB (0: kernel default).
	SendBufKiB int
}

// LoadIOTuning reads EnvIOTuning.
func LoadIOTuning() (IOTuning, error) { return ParseIOTuning(os.Getenv(EnvIOTuning)) }

// ParseIOTuning parses "key=value,…" with keys fanout, prio, block (KiB),
// blocks, retire (ms), batch, qdisc-bypass and sndbuf (KiB).
func ParseIOTuning(s string) (IOTuning, error) {
	var t IOTuning
	for _, kv := range strings.Split(s, ",") {
		kv = strings.TrimSpace(kv)
		if kv == "" {
			continue
		}
		k, v, _ := strings.Cut(kv, "=")
		num := func(dst *int, lo, hi int) error {
			n, err := strconv.Atoi(v)
			if err != nil || n < lo || n > hi {
				return fmt.Errorf("%s %s=%q: want %d..%d", EnvIOTuning, k, v, lo, hi)
			}
			*dst = n
			return nil
		}
		word := func(dst *string, allowed ...string) error {
			for _, a := range allowed {
				if v == a {
					*dst = v
					return nil
				}
			}
			return fmt.Errorf("%s %s=%q: want one of %s", EnvIOTuning, k, v, strings.Join(allowed, ", "))
		}
		var err error
		switch k {
		case "fanout":
			err = word(&t.Fanout, "auto", "on", "off")
		case "prio":
			err = word(&t.Prio, "nice", "fifo", "none")
		case "block":
			err = num(&t.BlockKiB, afpacket.MinBlockSize>>10, 64<<10)
		case "blocks":
			err = num(&t.Blocks, 2, 1024)
		case "retire":
			err = num(&t.RetireMS, 1, 1000)
		case "batch":
			err = num(&t.Batch, 1, 1<<16)
		case "qdisc-bypass":
			err = word(&t.QdiscBypass, "on", "off")
		case "sndbuf":
			err = num(&t.SendBufKiB, 16, 1<<20)
		default:
			err = fmt.Errorf("%s: unknown key %q", EnvIOTuning, k)
		}
		if err != nil {
			return IOTuning{}, err
		}
	}
	return t, nil
}

// CaptureConfig is the capture ring configuration of one worker's socket;
// shared says whether other workers' sockets share its interface.
func (t IOTuning) CaptureConfig(group uint16, shared bool, prog []bpf.RawInstruction) afpacket.Config {
	c := afpacket.Config{
		Headroom:      ringHeadroom,
		VnetHdr:       true,
		Filter:        prog,
		BlockSize:     t.BlockKiB << 10,
		BlockCount:    t.Blocks,
		RetireTimeout: time.Duration(t.RetireMS) * time.Millisecond,
	}
	if t.Fanout == "" || t.Fanout == "on" || (t.Fanout == "auto" && shared) {
		c.FanoutGroup, c.FanoutMode = group, afpacket.FanoutHash
	}
	return c
}

// SendConfig is the configuration of a transmit socket.
func (t IOTuning) SendConfig() afpacket.Config {
	return afpacket.Config{VnetHdr: true, QdiscBypass: t.QdiscBypass != "off", SendBuffer: t.SendBufKiB << 10}
}

// BatchFrames is the number of frames a worker takes per receive.
func (t IOTuning) BatchFrames() int {
	if t.Batch > 0 {
		return t.Batch
	}
	return 256
}

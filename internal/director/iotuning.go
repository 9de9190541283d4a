package director

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/govs-lb/govs/internal/afpacket"
	"github.com/govs-lb/govs/internal/dataplane"
	"golang.org/x/net/bpf"
)

// EnvIOTuning names the environment variable that tunes the I/O engine of
// govs run (documented in `govs help run`): a comma-separated list of
// key=value pairs, see ParseIOTuning. Unset, the defaults apply. govs bench
// runs variants with it (`--subjects govs,govs+prio=fifo`).
const EnvIOTuning = "GOVS_IO_TUNING"

// IOTuning holds the knobs of the AF_PACKET I/O path that the director and
// `govs bench`'s afpacket-bare share. The zero value is the default.
type IOTuning struct {
	// Fanout joins each capture socket to a PACKET_FANOUT group: "auto"
	// (the default: only when several workers share an interface), "on"
	// or "off". A group of one costs a flow dissection per frame for
	// nothing (docs/PERFORMANCE.md: 1.5× the overload rate without it).
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
	// TX is how frames are sent: "ring" (the default: a PACKET_TX_RING,
	// one send(2) per batch) or "sendmmsg".
	TX string
	// TXRing is the number of slots of the transmit ring (0: DefaultTXRing).
	TXRing int
	// SendBatch is the number of frames a worker queues per interface
	// before it sends them (0: afpacket.MaxBatch).
	SendBatch int
	// Shed is XDP load shedding (internal/xdpshed): "on" (the default)
	// or "off". ShedHigh and ShedLow are the valve's hysteresis in ring
	// blocks waiting (0: xdpshed's defaults).
	Shed              string
	ShedHigh, ShedLow int
	// ShedMode forces the XDP attach mode: "native" or "generic" (""
	// native where the driver has it, else generic).
	ShedMode string
}

// DefaultTXRing is the transmit ring's default size in 2 KiB slots: more
// than a worker queues between two flushes.
const DefaultTXRing = 1024

// LoadIOTuning reads EnvIOTuning.
func LoadIOTuning() (IOTuning, error) { return ParseIOTuning(os.Getenv(EnvIOTuning)) }

// ParseIOTuning parses "key=value,…" with keys fanout, prio, block (KiB),
// blocks, retire (ms), batch, qdisc-bypass, sndbuf (KiB), tx (ring or
// sendmmsg), txring (slots), txbatch (frames per send), shed (on or off),
// shed-high and shed-low (ring blocks) and shed-mode (native or generic).
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
		case "tx":
			err = word(&t.TX, "ring", "sendmmsg")
		case "txring":
			err = num(&t.TXRing, 64, 1<<16)
		case "txbatch":
			err = num(&t.SendBatch, 1, 1024)
		case "shed":
			err = word(&t.Shed, "on", "off")
		case "shed-high":
			err = num(&t.ShedHigh, 1, 1024)
		case "shed-low":
			err = num(&t.ShedLow, 0, 1023)
		case "shed-mode":
			err = word(&t.ShedMode, "native", "generic")
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
		Headroom:      dataplane.Headroom,
		VnetHdr:       true,
		Filter:        prog,
		BlockSize:     t.BlockKiB << 10,
		BlockCount:    t.Blocks,
		RetireTimeout: time.Duration(t.RetireMS) * time.Millisecond,
	}
	if t.Fanout == "on" || (t.Fanout != "off" && shared) {
		c.FanoutGroup, c.FanoutMode = group, afpacket.FanoutHash
	}
	return c
}

// SendConfig is the configuration of a transmit socket.
func (t IOTuning) SendConfig() afpacket.Config {
	c := afpacket.Config{VnetHdr: true, QdiscBypass: t.QdiscBypass != "off", SendBuffer: t.SendBufKiB << 10}
	if t.TX != "sendmmsg" {
		c.TXRing = DefaultTXRing
		if t.TXRing > 0 {
			c.TXRing = t.TXRing
		}
	}
	return c
}

// ShedIfindexes returns the interfaces of all to attach the XDP
// load-shedding program to: none with shed=off, else all.
func (t IOTuning) ShedIfindexes(all []int) []int {
	if t.Shed == "off" {
		return nil
	}
	return all
}

// SendBatchFrames is the number of frames a worker queues per interface
// before sending.
func (t IOTuning) SendBatchFrames() int {
	if t.SendBatch > 0 {
		return t.SendBatch
	}
	return afpacket.MaxBatch
}

// BatchFrames is the number of frames a worker takes per receive.
func (t IOTuning) BatchFrames() int {
	if t.Batch > 0 {
		return t.Batch
	}
	return 256
}

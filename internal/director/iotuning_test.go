package director

import (
	"slices"
	"testing"

	"github.com/govs-lb/govs/internal/afpacket"
	"github.com/govs-lb/govs/internal/dataplane"
)

func TestParseIOTuning(t *testing.T) {
	got, err := ParseIOTuning("prio=fifo, fanout=on,block=256,blocks=32,retire=1,batch=64,qdisc-bypass=off,sndbuf=1024,tx=sendmmsg,txring=128,txbatch=256")
	if err != nil {
		t.Fatal(err)
	}
	want := IOTuning{Prio: "fifo", Fanout: "on", BlockKiB: 256, Blocks: 32, RetireMS: 1, Batch: 64, QdiscBypass: "off", SendBufKiB: 1024, TX: "sendmmsg", TXRing: 128, SendBatch: 256}
	if got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	if z, err := ParseIOTuning(""); err != nil || z != (IOTuning{}) {
		t.Fatalf(`ParseIOTuning("") = %+v, %v; want the zero value`, z, err)
	}
	for _, bad := range []string{"prio=rt", "block=64", "batch=0", "retire=x", "nosuch=1", "fanout", "tx=mmap", "txring=8"} {
		if _, err := ParseIOTuning(bad); err == nil {
			t.Errorf("ParseIOTuning(%q): no error", bad)
		}
	}
}

func TestIOTuningConfigs(t *testing.T) {
	var zero IOTuning
	c := zero.CaptureConfig(7, false, nil)
	if c.FanoutMode != afpacket.FanoutNone || c.Headroom != dataplane.Headroom || !c.VnetHdr {
		t.Errorf("default capture config, one socket: %+v: want no fanout, headroom, vnet", c)
	}
	if c := zero.CaptureConfig(7, true, nil); c.FanoutMode != afpacket.FanoutHash || c.FanoutGroup != 7 {
		t.Errorf("default capture config, shared: %+v: want fanout hash group 7", c)
	}
	if c := (IOTuning{Fanout: "on"}).CaptureConfig(7, false, nil); c.FanoutMode != afpacket.FanoutHash {
		t.Errorf("fanout=on, one socket: mode %v, want hash", c.FanoutMode)
	}
	if c.BlockSize != 0 || c.BlockCount != 0 || c.RetireTimeout != 0 {
		t.Errorf("default capture config %+v: want afpacket's default geometry", c)
	}
	auto := IOTuning{Fanout: "auto"}
	if c := auto.CaptureConfig(7, false, nil); c.FanoutMode != afpacket.FanoutNone {
		t.Errorf("fanout=auto, one socket: mode %v, want none", c.FanoutMode)
	}
	if c := auto.CaptureConfig(7, true, nil); c.FanoutMode != afpacket.FanoutHash {
		t.Errorf("fanout=auto, shared: mode %v, want hash", c.FanoutMode)
	}
	if s := zero.SendConfig(); !s.QdiscBypass || !s.VnetHdr || s.SendBuffer != 0 || s.TXRing != DefaultTXRing {
		t.Errorf("default send config %+v", s)
	}
	if s := (IOTuning{TX: "sendmmsg", TXRing: 128, SendBatch: 256}).SendConfig(); s.TXRing != 0 {
		t.Errorf("tx=sendmmsg: send config %+v, want no ring", s)
	}
	if s := (IOTuning{TXRing: 128}).SendConfig(); s.TXRing != 128 {
		t.Errorf("txring=128: send config %+v", s)
	}
	if s := (IOTuning{QdiscBypass: "off", SendBufKiB: 512}).SendConfig(); s.QdiscBypass || s.SendBuffer != 512<<10 {
		t.Errorf("send config %+v: want no bypass, 512 KiB", s)
	}
	if zero.BatchFrames() != 256 || (IOTuning{Batch: 64}).BatchFrames() != 64 {
		t.Error("BatchFrames")
	}
	if zero.SendBatchFrames() != afpacket.MaxBatch || (IOTuning{SendBatch: 256}).SendBatchFrames() != 256 {
		t.Error("SendBatchFrames")
	}
}

func TestShedIfindexes(t *testing.T) {
	all := []int{2, 3, 4}
	for _, c := range []struct {
		tuning string
		want   []int
	}{
		{"", []int{2, 3, 4}},
		{"shed=on", []int{2, 3, 4}},
		{"shed=off", nil},
	} {
		tu, err := ParseIOTuning(c.tuning)
		if err != nil {
			t.Fatal(err)
		}
		if got := tu.ShedIfindexes(all); !slices.Equal(got, c.want) {
			t.Errorf("%q: %v, want %v", c.tuning, got, c.want)
		}
	}
}

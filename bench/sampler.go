package bench

import (
	"fmt"
	"math/rand/v2"

	"github.com/govs-lb/govs/forward"
)

// Sampling. Every measured point is validated on its own: the sampler's
// filter passes every frame that is not IPv4 and a random 1/every of the
// IPv4 frames, with every chosen per point so that about sampleTarget
// frames pass (sampleEveryFor); a reservoir keeps a uniform sample of
// maxSamples of them, so frames late in a window are as likely to be
// checked as early ones. A frame that is not IPv4 is never the subject's
// output (the lab's interfaces have IPv6 off and permanent neighbours), so
// each one is counted and fails the point.

const (
	// sampleTarget is about how many frames of a point pass the filter.
	// The filter runs on every frame and each frame it passes is copied to
	// the bench process, work that is charged to the subject's cost; a few
	// hundred per point keep it small.
	sampleTarget = 512
	// maxSamples is the reservoir's size: frames validated per point.
	maxSamples = 256
	// maxSampleEvery is the sampling interval of a point sent flat out,
	// whose frame count is not known in advance.
	maxSampleEvery = 4096
)

// sampleEveryFor is the sampling interval of a point at rate packets per
// second (0: flat out) for seconds: 1 (every frame) up to maxSampleEvery.
func sampleEveryFor(rate, seconds float64) int {
	if rate <= 0 {
		return maxSampleEvery
	}
	return min(maxSampleEvery, max(1, int(rate*seconds/sampleTarget)))
}

// sampleThreshold is the filter's bound on a random 32-bit number below
// which an IPv4 frame passes: 1 in every.
func sampleThreshold(every int) uint32 {
	return uint32(0xffffffff / uint64(max(every, 1)))
}

// reservoir keeps a uniform random sample of at most maxSamples of the
// frames added (Vitter's algorithm R), and counts the frames that are not
// IPv4 apart, keeping the first.
type reservoir struct {
	frames [][]byte
	seen   uint64 // frames added
	other  uint64 // of them, not IPv4
	first  []byte // the first frame that is not IPv4
	rng    *rand.Rand
}

func newReservoir(seed uint64) *reservoir {
	return &reservoir{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

// add offers a copy of f to the sample.
func (r *reservoir) add(f []byte) {
	r.seen++
	if len(f) < ethLen || forward.Ethernet(f).Type() != forward.EtherTypeIPv4 {
		r.other++
		if r.first == nil {
			r.first = append([]byte(nil), f...)
		}
		return
	}
	switch {
	case len(r.frames) < maxSamples:
		r.frames = append(r.frames, append([]byte(nil), f...))
	default:
		if j := r.rng.Uint64N(r.seen); j < maxSamples {
			r.frames[j] = append(r.frames[j][:0], f...)
		}
	}
}

// take returns what was sampled since the last take and starts afresh.
func (r *reservoir) take() Sample {
	s := Sample{Frames: r.frames, Seen: r.seen, Other: r.other, FirstOther: r.first}
	r.frames, r.seen, r.other, r.first = nil, 0, 0, nil
	return s
}

// Sample is what the sampler saw of one point.
type Sample struct {
	Frames     [][]byte // a uniform sample of the IPv4 frames that passed the filter
	Seen       uint64   // frames that passed the filter
	Other      uint64   // of them, frames that are not IPv4: never a subject's output
	FirstOther []byte   // the first of those
}

// Verdict validates p's sample against e and checks p's counts: no frame
// that is not IPv4, no more frames received than were sent, and frames
// sampled where enough arrived for the filter to pass some. It sets
// p.Sampled and p.Checked, and returns why the point is wrong, if it is.
func (s Sample) Verdict(p *Point, e Expect) error {
	p.Sampled = s.Seen
	p.Checked = 0
	if got := p.Received + p.Late; got > p.Sent {
		return fmt.Errorf("%d frames arrived, more than the %d sent (%d inside the window, %d after)", got, p.Sent, p.Received, p.Late)
	}
	if s.Other > 0 {
		f := s.FirstOther
		return fmt.Errorf("%d frames that are not IPv4 arrived (first: %x)", s.Other, f[:min(len(f), 64)])
	}
	for _, f := range s.Frames {
		if _, err := Validate(f, e); err != nil {
			return fmt.Errorf("wrong output: %v (frame %x)", err, f[:min(len(f), 64)])
		}
		p.Checked++
	}
	if p.Checked == 0 && p.Received+p.Late >= 10*uint64(max(p.SampleEvery, 1)) {
		return fmt.Errorf("%d frames arrived and none was sampled", p.Received+p.Late)
	}
	return nil
}

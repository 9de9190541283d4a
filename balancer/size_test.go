package balancer

import (
	"testing"
	"unsafe"
)

func TestLayout(t *testing.T) {
	if s := unsafe.Sizeof(conn{}); s != 56 {
		t.Errorf("sizeof(conn) = %d, want 56", s)
	}
	if s := unsafe.Sizeof(paddedShard{}); s%64 != 0 {
		t.Errorf("sizeof(paddedShard) = %d, not a multiple of 64", s)
	}
	if s := unsafe.Sizeof(Verdict{}); s > 32 {
		t.Errorf("sizeof(Verdict) = %d, want <= 32", s)
	}
}

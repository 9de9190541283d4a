//go:build linux

package bench

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"

	"github.com/govs-lb/govs/localnode"
)

// Local mode (LocalNode): govs hands VIP traffic to the director's own
// stack through its tap (localnode.DefaultName), unmodified but for the
// destination MAC. The director's stack takes it at the IP input hook,
// where a rule of localTable counts it and drops it, so nothing answers
// (no ICMP port unreachable, no RST) and no socket's queue is in the way.
// Both subjects are counted by that rule's counter, at the same place; the
// tap's rx_packets (what govs wrote into it) is only compared with it in a
// note. A per-round AF_PACKET sampler on the tap (on eth0 for
// kernel-local) checks that the frames are still the client's, to VIP:port.

const localTable = "govsbench_local"

func localTableRef() (*nftables.Table, *nftables.Chain) {
	t := &nftables.Table{Family: nftables.TableFamilyIPv4, Name: localTable}
	return t, &nftables.Chain{Name: "input", Table: t}
}

// localDrop adds localTable: at the input hook, count and drop proto
// packets to VIP:VIPPort. It runs in the director's namespace.
func localDrop(proto uint8) error {
	c, err := nftables.New()
	if err != nil {
		return err
	}
	t, _ := localTableRef()
	c.AddTable(t)
	accept := nftables.ChainPolicyAccept
	ch := c.AddChain(&nftables.Chain{Name: "input", Table: t, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookInput, Priority: nftables.ChainPriorityFilter, Policy: &accept})
	vip := VIP.As4()
	c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{proto}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: vip[:]},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(VIPPort)},
		&expr.Counter{},
		&expr.Verdict{Kind: expr.VerdictDrop},
	}})
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftables %s table: %w", localTable, err)
	}
	return nil
}

// localRx is the packet count of localTable's rule: what the director's
// stack took for VIP:VIPPort.
func (b *benchLab) localRx() (n uint64, err error) {
	err = b.dir.Do(func() error {
		c, err := nftables.New()
		if err != nil {
			return err
		}
		rules, err := c.GetRules(localTableRef())
		if err != nil {
			return fmt.Errorf("nftables %s rules: %w", localTable, err)
		}
		for _, r := range rules {
			for _, e := range r.Exprs {
				if ctr, ok := e.(*expr.Counter); ok {
					n += ctr.Packets
					return nil
				}
			}
		}
		return fmt.Errorf("nftables %s: no counter", localTable)
	})
	return n, err
}

// tapRx is the rx_packets of govs's tap in the director's namespace.
func (b *benchLab) tapRx() (uint64, error) {
	l, err := b.dirNL.LinkByName(localnode.DefaultName)
	if err != nil {
		return 0, fmt.Errorf("govs's tap: %w", err)
	}
	return l.Attrs().Statistics.RxPackets, nil
}

func (b *benchLab) tapMAC() ([6]byte, error) {
	l, err := b.dirNL.LinkByName(localnode.DefaultName)
	if err != nil {
		return [6]byte{}, fmt.Errorf("govs's tap: %w", err)
	}
	if len(l.Attrs().HardwareAddr) != 6 {
		return [6]byte{}, errors.New("govs's tap has no MAC")
	}
	return [6]byte(l.Attrs().HardwareAddr), nil
}

// localRound starts subject base's sampler for one round, where its frames
// enter the director's stack (govs's tap, or eth0 for kernel-local), and
// what the samples must be. done closes the sampler.
func (r *runner) localRound(base string) (done func(), err error) {
	ifName, mac := "eth0", DirInMAC
	if base == SubjectGovs {
		ifName = localnode.DefaultName
		if mac, err = r.b.tapMAC(); err != nil {
			return nil, err
		}
	}
	samp, err := startSampler(r.b.dir, ifName)
	if err != nil {
		return nil, fmt.Errorf("sampler on %s: %w", ifName, err)
	}
	r.samp, r.exp = samp, ExpectLocal(mac)
	return func() { samp.Close(); r.samp = nil }, nil
}

// kernelLocalSubject is the local-mode baseline: no govs, the VIP on the
// director's loopback, the kernel delivering eth0's frames to its own stack
// (where localTable drops them).
type kernelLocalSubject struct{ b *benchLab }

func (k *kernelLocalSubject) Start(context.Context) error {
	return k.b.dir.IP("addr", "add", VIP.String()+"/32", "dev", "lo")
}

func (k *kernelLocalSubject) Stop() error {
	return k.b.dir.IP("addr", "del", VIP.String()+"/32", "dev", "lo")
}

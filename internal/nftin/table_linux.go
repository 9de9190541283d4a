//go:build linux

package nftin

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/govs-lb/govs/forward"
	"golang.org/x/sys/unix"
)

// Table is an installed govs ingress table.
type Table struct {
	mu     sync.Mutex
	conn   *nftables.Conn // lasting: its socket stays in the namespace of Install
	table  *nftables.Table
	chains []*nftables.Chain
}

// lastingConn opens the netlink connection a Table keeps for its life,
// for op (install or adopt) on ifaces.
func lastingConn(op string, ifaces []string) (*nftables.Conn, error) {
	if len(ifaces) == 0 {
		return nil, fmt.Errorf("nftin: %s: no interfaces", op)
	}
	conn, err := nftables.New(nftables.AsLasting())
	if err != nil {
		return nil, fmt.Errorf("nftin: netlink: %w", err)
	}
	return conn, nil
}

// Install creates the netdev table "govs" in the current thread's network
// namespace, with an ingress chain (priority -500, policy accept) on each
// interface holding rules, all in one netlink transaction. It fails with an
// error wrapping ErrExists when the table is already there.
func Install(ifaces []string, rules Rules) (*Table, error) {
	conn, err := lastingConn("install", ifaces)
	if err != nil {
		return nil, err
	}
	t := &Table{conn: conn, table: &nftables.Table{Name: TableName, Family: nftables.TableFamilyNetdev}}
	if _, err := conn.ListTableOfFamily(TableName, nftables.TableFamilyNetdev); err == nil {
		conn.CloseLasting()
		return nil, fmt.Errorf("nftin: install: %w", ErrExists)
	}
	conn.CreateTable(t.table) // NLM_F_EXCL: loses a race with another govs
	accept := nftables.ChainPolicyAccept
	for _, ifname := range ifaces {
		t.chains = append(t.chains, conn.AddChain(&nftables.Chain{
			Name:     "ingress-" + ifname,
			Table:    t.table,
			Type:     nftables.ChainTypeFilter,
			Hooknum:  nftables.ChainHookIngress,
			Priority: nftables.ChainPriorityRef(Priority),
			Device:   ifname,
			Policy:   &accept,
		}))
	}
	t.addRules(rules)
	if err := conn.Flush(); err != nil {
		conn.CloseLasting()
		if errors.Is(err, unix.EEXIST) {
			return nil, fmt.Errorf("nftin: install: %w", ErrExists)
		}
		return nil, fmt.Errorf("nftin: install table netdev %s on %v: %w", TableName, ifaces, err)
	}
	return t, nil
}

// Update replaces the rules of every chain in one netlink transaction: a
// packet sees either the old rules or the new ones.
func (t *Table) Update(rules Rules) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.conn == nil {
		return errors.New("nftin: update: table removed")
	}
	for _, c := range t.chains {
		t.conn.FlushChain(c)
	}
	t.addRules(rules)
	if err := t.conn.Flush(); err != nil {
		return fmt.Errorf("nftin: update table netdev %s: %w", TableName, err)
	}
	return nil
}

// Remove deletes the table with its chains and rules and closes the
// netlink socket.
func (t *Table) Remove() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.conn == nil {
		return nil
	}
	t.conn.DelTable(t.table)
	err := t.conn.Flush()
	t.conn.CloseLasting()
	t.conn = nil
	if err != nil {
		return fmt.Errorf("nftin: remove table netdev %s: %w", TableName, err)
	}
	return nil
}

func (t *Table) addRules(rules Rules) {
	for _, c := range t.chains {
		for _, exprs := range ruleExprs(rules) {
			t.conn.AddRule(&nftables.Rule{Table: t.table, Chain: c, Exprs: exprs})
		}
	}
}

// Offsets in the IPv4 header and ARP packet (nftables' network header) and
// in the TCP/UDP header (its transport header), from package forward,
// which owns the header layouts.
const (
	ipv4FragOff = forward.IPv4FlagsOffset // flags(3) + fragment offset(13)
	ipv4Src     = forward.IPv4SourceOffset
	ipv4Dst     = forward.IPv4DestinationOffset
	arpOp       = forward.ARPOpOffset
	arpTPA      = forward.ARPTargetProtocolAddressOffset
	l4SrcPort   = forward.TransportSourcePortOffset
	l4DstPort   = forward.TransportDestinationPortOffset

	ethPIPv4 = forward.EtherTypeIPv4
	ethPARP  = forward.EtherTypeARP
)

func be16(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }

func metaProto(ethertype uint16) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyPROTOCOL, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: be16(ethertype)},
	}
}

func nh(off, n uint32, data []byte) []expr.Any {
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: n},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: data},
	}
}

func l4proto(p uint8) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{p}},
	}
}

func th16(off uint32, v uint16) []expr.Any {
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: off, Len: 2},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: be16(v)},
	}
}

var drop = &expr.Verdict{Kind: expr.VerdictDrop}

func rule(parts ...[]expr.Any) []expr.Any {
	var r []expr.Any
	for _, p := range parts {
		r = append(r, p...)
	}
	return append(r, drop)
}

func portful(s Service) bool {
	return s.Port != 0 && (s.Proto == unix.IPPROTO_TCP || s.Proto == unix.IPPROTO_UDP || s.Proto == unix.IPPROTO_SCTP)
}

// ruleExprs turns Rules into rule expression lists, in a stable order:
// per VIP address (whole-address drop, or ICMP + fragments), the port
// services, the masquerade replies, then ARP.
func ruleExprs(r Rules) [][]expr.Any {
	var out [][]expr.Any
	ip4 := metaProto(ethPIPv4)
	whole := map[[4]byte]bool{}
	var addrs [][4]byte
	seen := map[[4]byte]bool{}
	for _, s := range r.VIPs {
		if !portful(s) {
			whole[s.Addr] = true
		}
		if !seen[s.Addr] {
			seen[s.Addr] = true
			addrs = append(addrs, s.Addr)
		}
	}
	for _, a := range addrs {
		if whole[a] {
			out = append(out, rule(ip4, nh(ipv4Dst, 4, a[:])))
			continue
		}
		out = append(out, rule(ip4, nh(ipv4Dst, 4, a[:]), l4proto(unix.IPPROTO_ICMP)))
		out = append(out, rule(ip4, nh(ipv4Dst, 4, a[:]), []expr.Any{
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: ipv4FragOff, Len: 2},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 2, Mask: be16(forward.IPv4FragmentOffsetMask), Xor: be16(0)},
			&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: be16(0)},
		}))
	}
	for _, s := range r.VIPs {
		if portful(s) && !whole[s.Addr] {
			out = append(out, rule(ip4, nh(ipv4Dst, 4, s.Addr[:]), l4proto(s.Proto), th16(l4DstPort, s.Port)))
		}
	}
	for _, s := range r.MasqReplies {
		if s.Port == 0 {
			out = append(out, rule(ip4, nh(ipv4Src, 4, s.Addr[:]), l4proto(s.Proto)))
			continue
		}
		out = append(out, rule(ip4, nh(ipv4Src, 4, s.Addr[:]), l4proto(s.Proto), th16(l4SrcPort, s.Port)))
	}
	arp := metaProto(ethPARP)
	for _, a := range r.ARPVIPs {
		out = append(out, rule(arp, nh(arpOp, 2, be16(forward.ARPRequest)), nh(arpTPA, 4, a[:])))
	}
	return out
}

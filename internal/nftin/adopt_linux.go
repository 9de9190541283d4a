//go:build linux

package nftin

import (
	"fmt"

	"github.com/google/nftables"
)

// ErrNotExist is returned (wrapped) by Adopt when there is no govs table.
var ErrNotExist = fmt.Errorf("nftables table netdev %s does not exist: no govs to take over from", TableName)

// Adopt takes over the govs table that another govs installed (govs run
// --takeover): in one netlink transaction it replaces the rules of the
// ingress chain of every interface in ifaces with rules, creates the
// chains that are missing and deletes those of other interfaces, so that a
// packet sees either the old table or the new one and never a moment
// without the drop rules. The returned Table is then this process's, to
// Update and Remove; the process it was taken from must not remove it.
func Adopt(ifaces []string, rules Rules) (*Table, error) {
	conn, err := lastingConn("adopt", ifaces)
	if err != nil {
		return nil, err
	}
	tbl, err := conn.ListTableOfFamily(TableName, nftables.TableFamilyNetdev)
	if err != nil {
		conn.CloseLasting()
		return nil, fmt.Errorf("nftin: adopt: %w", ErrNotExist)
	}
	existing, err := conn.ListChainsOfTableFamily(nftables.TableFamilyNetdev)
	if err != nil {
		conn.CloseLasting()
		return nil, fmt.Errorf("nftin: adopt: list chains: %w", err)
	}
	have := map[string]*nftables.Chain{}
	for _, c := range existing {
		if c.Table != nil && c.Table.Name == tbl.Name {
			have[c.Name] = c
		}
	}
	t := &Table{conn: conn, table: &nftables.Table{Name: TableName, Family: nftables.TableFamilyNetdev}}
	want := map[string]bool{}
	accept := nftables.ChainPolicyAccept
	for _, ifname := range ifaces {
		name := "ingress-" + ifname
		want[name] = true
		c := &nftables.Chain{
			Name:     name,
			Table:    t.table,
			Type:     nftables.ChainTypeFilter,
			Hooknum:  nftables.ChainHookIngress,
			Priority: nftables.ChainPriorityRef(Priority),
			Device:   ifname,
			Policy:   &accept,
		}
		if _, ok := have[name]; ok {
			conn.FlushChain(c)
		} else {
			conn.AddChain(c)
		}
		t.chains = append(t.chains, c)
	}
	for name, c := range have {
		if !want[name] {
			c.Table = t.table
			conn.DelChain(c)
		}
	}
	t.addRules(rules)
	if err := conn.Flush(); err != nil {
		conn.CloseLasting()
		return nil, fmt.Errorf("nftin: adopt table netdev %s on %v: %w", TableName, ifaces, err)
	}
	return t, nil
}

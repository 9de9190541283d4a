package director

import (
	"context"

	"github.com/govs-lb/govs/internal/control"
)

// Roles of the two-box LVS. A master answers ARP for the VIPs, announces
// them with gratuitous ARPs when it becomes master (and when a VIP is
// added), and schedules over local and remote realservers. A backup
// answers no ARP and sends none, and hands the VIP traffic that reaches it
// (DR-forwarded by the master) to its local service through the tap: the
// standby box is a realserver. On both, the kernel is kept from answering
// ARP for a VIP or using one as the source of its ARP requests on the
// capture interfaces (nftables ARP drop, arp_ignore=1, arp_announce=2).

// roleState is the current mastership: its gratuitous ARPs stop when it ends.
type roleState struct {
	ctx    context.Context
	cancel context.CancelFunc
}

// announceCtx is the context of this mastership's gratuitous ARPs. Called
// with d.mu held.
func (d *Director) announceCtx() context.Context {
	if d.roleCtl.ctx == nil {
		parent := d.runCtx
		if parent == nil {
			parent = context.Background()
		}
		d.roleCtl.ctx, d.roleCtl.cancel = context.WithCancel(parent)
	}
	return d.roleCtl.ctx
}

// setRole switches the director to role. Becoming master announces every
// VIP at once; becoming backup stops the announcements in flight and the
// ARP replies with the next packet.
func (d *Director) setRole(role string) error {
	if role != RoleMaster && role != RoleBackup {
		return control.BadRequest("invalid role %q (want %s or %s)", role, RoleMaster, RoleBackup)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if role == d.role {
		return nil
	}
	old := d.role
	d.role = role
	if d.roleCtl.cancel != nil {
		d.roleCtl.cancel()
	}
	d.roleCtl = roleState{}
	d.vipList = nil // a new master announces every VIP
	d.publish()
	d.announceNew()
	d.log.Info("role changed", "from", old, "to", role, "garp_count", d.cfg.GARPCount, "garp_interval", d.cfg.GARPInterval)
	return nil
}

func (d *Director) currentRole() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.role
}

var _ control.RoleBackend = (*backend)(nil)

func (b *backend) Role() string              { return b.d.currentRole() }
func (b *backend) SetRole(role string) error { return b.d.setRole(role) }

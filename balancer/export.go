package balancer

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// Handing the connection table from one Balancer to another (govs run
// --takeover): ExportConns copies every connection and persistence template
// into pointer-free records, ImportConns rebuilds them in another Balancer
// whose services were configured the same way. An imported entry goes to
// the same realserver, is in the same TCP state with the same time left,
// counts in the realserver's activeconns, inactconns or persistconns as the
// original did, and a connection still holds its persistence template.

// ConnExport is one connection or persistence template as ExportConns
// copies it. Addresses are arrays so that a million of them hold no pointer.
type ConnExport struct {
	Proto Proto
	// Client is the client address (a template's: the client network) and
	// CPort its port (templates: 0).
	Client [4]byte
	CPort  uint16
	VAddr  [4]byte // the packet's virtual address and port
	VPort  uint16
	DAddr  [4]byte // the realserver
	DPort  uint16
	Method Method

	// Service is the virtual service of the realserver (its port may
	// differ from VPort: port-zero services), and DestPort the realserver's
	// configured port, which name the realserver in the importer.
	SvcAddr  [4]byte
	SvcPort  uint16
	DestPort uint16

	State    uint8  // IPVS TCP state (IP_VS_TCP_S_*); 0 for UDP and templates
	Left     int64  // nanoseconds until the entry expires
	Timeout  uint32 // templates: persistence timeout in seconds
	Template bool   // IP_VS_CONN_F_TEMPLATE
	Inactive bool   // IP_VS_CONN_F_INACTIVE: counted in inactconns
	NoOutput bool   // IP_VS_CONN_F_NOOUTPUT: no packet seen from the realserver side
	Unhashed bool   // an invalidated template waiting to expire
	// Ctl is, for a connection, 1 + the index in the export of the
	// persistence template that controls it; 0 for none.
	Ctl int32
}

// exported is an entry copied out of the table with its handle.
type exported struct {
	c      conn
	handle uint32 // shard<<24 | ref
}

// ExportConns returns every connection and persistence template, with the
// time each has left as of now (the clock of In's now). Each shard is locked
// only while a batch of its entries is copied: for a picture that does not
// move, call it while no worker runs. An entry whose realserver is gone
// meanwhile is left out.
func (b *Balancer) ExportConns(now int64) []ConnExport {
	var all []exported
	var buf [256]exported
	for si := range b.t.shards {
		s := &b.t.shards[si].shard
		for pos := uint32(0); ; {
			s.mu.Lock()
			n := 0
			for ; pos < s.used && n < len(buf); pos++ {
				if c := s.at(pos + 1); c.flags&fLive != 0 {
					buf[n] = exported{c: *c, handle: uint32(si)<<24 | (pos + 1)}
					n++
				}
			}
			done := pos >= s.used
			s.mu.Unlock()
			all = append(all, buf[:n]...)
			if done {
				break
			}
		}
	}

	// Templates first, so that a connection's Ctl points backwards.
	out := make([]ConnExport, 0, len(all))
	index := make(map[uint32]int32) // template handle → 1 + index in out
	b.mu.Lock()
	defer b.mu.Unlock()
	add := func(e *exported) bool {
		c := &e.c
		if int(c.dest) >= len(b.destReg) || b.destReg[c.dest] == nil {
			return false
		}
		ds := b.destReg[c.dest]
		x := ConnExport{
			Proto: Proto(c.proto), Client: c.caddr, CPort: c.cport, VAddr: c.vaddr, VPort: c.vport,
			DAddr: c.daddr, DPort: c.dport, Method: c.method,
			SvcAddr: ds.svc.cfg.Addr.As4(), SvcPort: ds.svc.cfg.Port, DestPort: ds.d.Port,
			State: c.state, Left: max(c.expires-now, 0), Timeout: c.timeout,
			Template: c.flags&fTemplate != 0, Inactive: c.flags&fInactive != 0,
			NoOutput: c.flags&fNoOutput != 0, Unhashed: c.flags&fUnhashed != 0,
		}
		if !x.Template && c.ctl != 0 {
			x.Ctl = index[c.ctl] // 0 when its template was not seen
		}
		out = append(out, x)
		return true
	}
	for i := range all {
		if all[i].c.flags&fTemplate != 0 && add(&all[i]) {
			index[all[i].handle] = int32(len(out))
		}
	}
	for i := range all {
		if all[i].c.flags&fTemplate == 0 {
			add(&all[i])
		}
	}
	return out
}

// ImportStats says what ImportConns did.
type ImportStats struct {
	Imported int // entries added
	Existing int // entries whose key was in the table already (kept as they were)
	// Orphans are entries whose realserver is not in the importer's
	// services: it was added as a deleted realserver (and its service as a
	// deleted service when that is missing too), which serves its
	// connections until they expire, as IPVS's dest trash does.
	Orphans int
}

// ImportConns adds the entries of an export to the table, expiring each
// Left nanoseconds after now (the clock of In's now). The services must be
// configured already; a realserver is found by its service, address, port
// and method. An entry whose key is in the table already is kept as it is,
// so an import can be repeated to pick up what changed since the last one.
// It fails, after importing what fits, when the table is full, and on a
// record that cannot be valid.
func (b *Balancer) ImportConns(recs []ConnExport, now int64) (ImportStats, error) {
	var st ImportStats
	b.mu.Lock()
	dests := make([]uint32, len(recs))
	deleted := map[uint64]*svcState{}
	for i := range recs {
		r := &recs[i]
		if r.Proto != TCP && r.Proto != UDP {
			b.mu.Unlock()
			return st, fmt.Errorf("import conns: entry %d: protocol %d: %w", i, r.Proto, ErrInvalid)
		}
		if r.Method > MethodLocal || (!r.Template && r.Proto == TCP && r.State >= tcpNumStates) {
			b.mu.Unlock()
			return st, fmt.Errorf("import conns: entry %d: method %d state %d: %w", i, r.Method, r.State, ErrInvalid)
		}
		if r.Ctl < 0 || int(r.Ctl) > i || (r.Ctl > 0 && !recs[r.Ctl-1].Template) {
			b.mu.Unlock()
			return st, fmt.Errorf("import conns: entry %d: template reference %d: %w", i, r.Ctl, ErrInvalid)
		}
		id, orphan, err := b.importDestLocked(r, deleted)
		if err != nil {
			b.publishLocked()
			b.mu.Unlock()
			return st, fmt.Errorf("import conns: entry %d: %w", i, err)
		}
		dests[i] = id
		if orphan {
			st.Orphans++
		}
	}
	b.publishLocked()
	snap := b.snap.Load()
	svcOf := make([]uint32, len(b.destReg))
	for id, ds := range b.destReg {
		if ds != nil {
			svcOf[id] = ds.svc.id
		}
	}
	b.mu.Unlock()

	t := &b.t
	handles := make([]uint32, len(recs)) // templates: their handle here
	for i := range recs {
		r := &recs[i]
		d := snap.dests[dests[i]]
		c := conn{
			expires: now + r.Left,
			caddr:   r.Client, vaddr: r.VAddr, daddr: r.DAddr,
			cport: r.CPort, vport: r.VPort, dport: r.DPort,
			proto: uint8(r.Proto), state: r.State, flags: fLive, method: r.Method,
			dest: dests[i], svc: svcOf[dests[i]], timeout: r.Timeout,
		}
		kp := uint16(r.Proto)
		switch {
		case r.Template:
			c.flags |= fTemplate
			kp |= kindTemplate
			if r.Unhashed {
				c.flags |= fUnhashed
			}
		case r.Inactive:
			c.flags |= fInactive
		}
		if r.NoOutput && !r.Template {
			c.flags |= fNoOutput
		}
		if r.Ctl > 0 {
			// Take the template first (its shard may be this one).
			if h := handles[r.Ctl-1]; h != 0 {
				c.ctl = h
				ts := &t.shards[h>>24].shard
				ts.mu.Lock()
				ts.at(h&(1<<24-1)).ctl++
				ts.mu.Unlock()
			}
		}
		ch := t.client(kp, c.caddr, c.cport)
		fh := t.fwd(ch, c.vaddr, c.vport)
		si := t.shardIndex(ch)
		s := &t.shards[si].shard
		s.mu.Lock()
		if c.flags&fUnhashed == 0 {
			if ref := s.findFwd(fh, c.proto, c.flags&fTemplate, c.caddr, c.cport, c.vaddr, c.vport); ref != 0 {
				if r.Template {
					handles[i] = si<<24 | ref
				}
				s.mu.Unlock()
				b.releaseTemplate(c.ctl)
				st.Existing++
				continue
			}
		}
		if t.count.Add(1) > t.max {
			t.count.Add(-1)
			s.mu.Unlock()
			b.releaseTemplate(c.ctl)
			return st, fmt.Errorf("import conns: table full after %d entries: %w", st.Imported, ErrInvalid)
		}
		ref, ok := s.alloc()
		if !ok {
			t.count.Add(-1)
			s.mu.Unlock()
			b.releaseTemplate(c.ctl)
			return st, fmt.Errorf("import conns: shard full after %d entries: %w", st.Imported, ErrInvalid)
		}
		e := s.at(ref)
		*e = c
		if c.flags&fUnhashed == 0 {
			s.linkFwd(fh, ref, e)
		}
		if !r.Template && r.Method == MethodMasq {
			s.linkRev(t.rev(ch, c.daddr, c.dport), ref, e)
		}
		t.inserted(s)
		switch {
		case r.Template:
			d.persist.Add(1)
			handles[i] = si<<24 | ref
		case r.Inactive:
			d.inactive.Add(1)
		default:
			d.active.Add(1)
		}
		s.mu.Unlock()
		st.Imported++
	}
	return st, nil
}

// importDestLocked finds the realserver of an exported entry: in its
// service, in the dest trash, or as a new deleted realserver. It reports
// whether the realserver is not a live one of the service.
func (b *Balancer) importDestLocked(r *ConnExport, deleted map[uint64]*svcState) (uint32, bool, error) {
	key := svcKeyOf(r.Proto, r.SvcAddr, r.SvcPort)
	addr := netip.AddrFrom4(r.DAddr)
	sv := b.svcs[key]
	if sv != nil {
		for _, ds := range sv.dests {
			if ds.d.Addr == addr && ds.d.Port == r.DestPort && ds.d.Method == r.Method {
				return ds.id, false, nil
			}
		}
	} else if sv = deleted[key]; sv == nil {
		id, ok := freeID(b.svcReg)
		if !ok {
			return 0, false, fmt.Errorf("too many services: %w", ErrInvalid)
		}
		sched, _ := NewScheduler("rr")
		sv = &svcState{
			id: id, key: key, deleted: true, sched: sched,
			cfg: ServiceConfig{ServiceKey: ServiceKey{Proto: r.Proto, Addr: netip.AddrFrom4(r.SvcAddr), Port: r.SvcPort}, Scheduler: "rr"},
		}
		b.svcReg = setID(b.svcReg, id, sv)
		deleted[key] = sv
	}
	for _, ds := range b.trash {
		if ds.svc == sv && ds.d.Addr == addr && ds.d.Port == r.DestPort && ds.d.Method == r.Method {
			return ds.id, true, nil
		}
	}
	id, ok := freeID(b.destReg)
	if !ok {
		return 0, false, fmt.Errorf("too many realservers: %w", ErrInvalid)
	}
	raw := b.rawLocked(id)
	ds := &destState{d: NewDest(addr, r.DestPort, r.Method, 0), id: id, svc: sv, alloc: raw, zero: raw}
	b.destReg = setID(b.destReg, id, ds)
	b.trashLocked(ds)
	return id, true, nil
}

// connRecordLen is the size of one encoded ConnExport.
const connRecordLen = 46

// connMagic starts an encoded export: the format and its version.
var connMagic = [4]byte{'G', 'V', 'C', '1'}

// Encoded flag bits.
const (
	xTemplate = 1 << iota
	xInactive
	xNoOutput
	xUnhashed
)

// EncodeConns packs an export into a compact binary form (46 bytes an
// entry after a 4-byte version tag), for handing it to another process.
func EncodeConns(recs []ConnExport) []byte {
	out := make([]byte, 0, len(connMagic)+len(recs)*connRecordLen)
	out = append(out, connMagic[:]...)
	be := binary.BigEndian
	for i := range recs {
		r := &recs[i]
		var fl byte
		if r.Template {
			fl |= xTemplate
		}
		if r.Inactive {
			fl |= xInactive
		}
		if r.NoOutput {
			fl |= xNoOutput
		}
		if r.Unhashed {
			fl |= xUnhashed
		}
		out = append(out, byte(r.Proto))
		out = append(out, r.Client[:]...)
		out = be.AppendUint16(out, r.CPort)
		out = append(out, r.VAddr[:]...)
		out = be.AppendUint16(out, r.VPort)
		out = append(out, r.DAddr[:]...)
		out = be.AppendUint16(out, r.DPort)
		out = append(out, byte(r.Method))
		out = append(out, r.SvcAddr[:]...)
		out = be.AppendUint16(out, r.SvcPort)
		out = be.AppendUint16(out, r.DestPort)
		out = append(out, r.State)
		out = be.AppendUint64(out, uint64(r.Left))
		out = be.AppendUint32(out, r.Timeout)
		out = append(out, fl)
		out = be.AppendUint32(out, uint32(r.Ctl))
	}
	return out
}

// DecodeConns unpacks what EncodeConns packed. ImportConns validates the
// records themselves.
func DecodeConns(b []byte) ([]ConnExport, error) {
	if len(b) < len(connMagic) || [4]byte(b[:4]) != connMagic {
		return nil, fmt.Errorf("decode conns: not a govs connection export (version tag %q): %w", b[:min(len(b), 4)], ErrInvalid)
	}
	b = b[len(connMagic):]
	if len(b)%connRecordLen != 0 {
		return nil, fmt.Errorf("decode conns: %d bytes is not a whole number of entries: %w", len(b), ErrInvalid)
	}
	be := binary.BigEndian
	out := make([]ConnExport, len(b)/connRecordLen)
	for i := range out {
		p := b[i*connRecordLen:]
		fl := p[41]
		out[i] = ConnExport{
			Proto: Proto(p[0]), Client: [4]byte(p[1:5]), CPort: be.Uint16(p[5:]),
			VAddr: [4]byte(p[7:11]), VPort: be.Uint16(p[11:]),
			DAddr: [4]byte(p[13:17]), DPort: be.Uint16(p[17:]), Method: Method(p[19]),
			SvcAddr: [4]byte(p[20:24]), SvcPort: be.Uint16(p[24:]), DestPort: be.Uint16(p[26:]),
			State: p[28], Left: int64(be.Uint64(p[29:])), Timeout: be.Uint32(p[37:]),
			Template: fl&xTemplate != 0, Inactive: fl&xInactive != 0, NoOutput: fl&xNoOutput != 0, Unhashed: fl&xUnhashed != 0,
			Ctl: int32(be.Uint32(p[42:])),
		}
	}
	return out, nil
}

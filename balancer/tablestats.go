package balancer

// Expired returns the number of connections and templates that Expire has
// removed from the connection table since New. Entries leave the table only
// this way: like IPVS, govs never evicts a live entry to make room; when
// the table is full a new connection is refused (ReasonTableFull).
func (b *Balancer) Expired() uint64 { return b.expired.Load() }

// MaxConns returns the connection table's capacity (Config.MaxConns).
func (b *Balancer) MaxConns() int { return int(b.t.max) }

package director

import "github.com/govs-lb/govs/balancer"

// estimatorLoop samples the balancer's counters every 2 seconds for the
// rates of ipvsadm --rate (IPVS's estimation_timer). Start it with the
// workers; it returns when stop is closed.
func (d *Director) estimatorLoop(stop <-chan struct{}) {
	every(stop, balancer.EstimateInterval, d.bal.EstimateTick)
}

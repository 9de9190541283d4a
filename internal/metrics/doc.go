// Package metrics serves govs's numbers to Prometheus (govs run --metrics
// ADDR).
//
// A Collector reads everything at scrape time from a Source, a small
// interface the daemon implements over its balancer, workers and capture
// rings; tests implement it with plain values. Nothing is copied between
// scrapes, so the numbers are those ipvsadm -L --stats / --rate would print
// at the same moment.
//
// Every metric is prefixed govs_. Services are labelled protocol ("tcp",
// "udp"), vip and port; realservers add rip and rport. A realserver's
// series therefore name both ends, as ipvsadm -L does:
//
//	govs_realserver_packets_total{direction="in",protocol="tcp",vip="198.51.100.1",port="80",rip="203.0.113.1",rport="8080"} 1234
//
// The metrics, by family:
//
//	govs_service_connections_total              counter  connections scheduled (ipvsadm Conns)
//	govs_service_packets_total{direction}       counter  packets in (client→realserver) and out (masq replies)
//	govs_service_bytes_total{direction}         counter  bytes, as above
//	govs_service_connections_per_second         gauge    IPVS estimator CPS (ipvsadm --rate)
//	govs_service_packets_per_second{direction}  gauge    IPVS estimator InPPS, OutPPS
//	govs_service_bytes_per_second{direction}    gauge    IPVS estimator InBPS, OutBPS
//	govs_service_active_connections             gauge    sum over the service's realservers
//	govs_service_inactive_connections           gauge    sum over the service's realservers
//	govs_realserver_*                           the same families per realserver, plus
//	govs_realserver_persistent_connections      gauge    persistence templates (ipvsadm -L --persistent-conn)
//	govs_realserver_weight                      gauge    configured weight
//	govs_realserver_up                          gauge    1 up, 0 down, for realservers a health checker watches
//	govs_worker_packets_total{worker,iface,direction}  counter  frames received (rx) and sent (tx)
//	govs_worker_drops_total{worker,iface,reason}       counter  frames not forwarded, by reason
//	govs_worker_replies_total{worker,iface,kind}       counter  ARP and echo replies the director answered itself
//	govs_capture_ring_packets_total{worker,iface}      counter  frames the capture ring's filter passed (PACKET_STATISTICS)
//	govs_capture_ring_drops_total{worker,iface}        counter  frames the kernel dropped because the ring was full
//	govs_capture_ring_freezes_total{worker,iface}      counter  times the ring was full (all blocks in user space)
//	govs_worker_shedding{worker,iface}                 gauge    1 while the worker is behind and has XDP shed VIP traffic
//	govs_xdp_shed_frames_total{iface}                  counter  frames to a VIP the XDP program dropped before the receive path
//	govs_xdp_attached{iface,mode}                      gauge    1 per interface carrying the XDP program (native or generic)
//	govs_conntable_entries                      gauge    connections and persistence templates in the table
//	govs_conntable_capacity                     gauge    the table's size limit (--max-conns)
//	govs_conntable_expired_total                counter  entries removed by expiry
//
// As in IPVS, nothing evicts a live entry from the connection table: entries
// leave it by expiry (govs_conntable_expired_total), and a new connection
// that finds the table full is dropped
// (govs_worker_drops_total{reason="table_full"}).
//
// ipvsadm -Z sets the service counters back to zero; Prometheus sees that as
// a counter reset, which rate() and increase() handle.
//
// Serve binds to the loopback address unless the address names a host:
// ":9100" listens on 127.0.0.1:9100, "0.0.0.0:9100" on every address.
package metrics

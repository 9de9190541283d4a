// Package keepalived reads the LVS part of a keepalived.conf: the
// virtual_server blocks, their real_servers and the health checkers of
// those, into a model built on the control API's types, and computes the
// control operations that turn one configuration into another.
//
// The syntax is keepalived's: whitespace-separated words, { } blocks,
// comments from "!" or "#" to the end of the line, double-quoted strings
// (misc_path "/bin/check 203.0.113.1"), and include FILE where FILE is a
// glob relative to the including file. Everything keepalived configures
// besides LVS (global_defs, vrrp_instance, vrrp_script, static_routes, ...)
// is skipped whole with one Warning per block; a keyword govs does not know
// inside a virtual_server, real_server or checker is an error, so a typo
// never passes silently, except keepalived keywords govs deliberately
// ignores, which warn. Errors are *Error values naming file:line:column.
//
//	virtual_server 198.51.100.1 80 {         # VirtualServer, Spec.ServiceKey
//	    delay_loop 6                          # default delay_loop of its checks
//	    lb_algo wlc                           # rr wrr lc wlc sed nq sh mh
//	    lb_kind DR                            # DR | TUN | NAT (the default)
//	    persistence_timeout 300               # Spec.Persistent, Spec.Timeout
//	    persistence_granularity 255.255.255.0 # Spec.Netmask
//	    protocol TCP                          # TCP | UDP
//	    sorry_server 203.0.113.100 80         # used while no realserver is up
//	    real_server 203.0.113.1 80 {          # RealServer.Dest
//	        weight 3
//	        inhibit_on_failure                # down: weight 0 instead of removal
//	        HTTP_GET {
//	            url {
//	                path /health
//	                status_code 200 300-399
//	            }
//	            connect_timeout 3
//	            retry 3
//	            delay_before_retry 3
//	        }
//	    }
//	}
//
// virtual_server fwmark and virtual_server group are refused: govs sees
// packets before netfilter could mark them, so services are address:port.
//
// Defaults are keepalived's: lb_kind NAT, lb_algo wlc, weight 1,
// delay_loop 60s, connect_timeout 5s, retry 1 (0 for MISC_CHECK),
// delay_before_retry 1s (3s for HTTP_GET), misc_timeout delay_loop, HTTP
// status 200-299. delay_loop, connect_timeout, retry and delay_before_retry
// may also be set on the virtual_server or real_server as defaults for the
// checkers below them.
package keepalived

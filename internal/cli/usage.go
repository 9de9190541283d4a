package cli

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
)

// usage is ipvsadm's usage text, less what govs does not have, plus the
// govs additions (--json, --socket, subcommands).
func (a *App) usage(w io.Writer) {
	p := a.Name
	fmt.Fprintf(w, "%s %s (ipvsadm v1.31 compatible, IPVS v1.2.1)\n", p, a.Version)
	fmt.Fprintf(w, `Usage:
  %[1]s -A|E virtual-service [-s scheduler] [-p [timeout]] [-M netmask] [-b sched-flags]
  %[1]s -D virtual-service
  %[1]s -C
  %[1]s -R
  %[1]s -S [-n]
  %[1]s -a|e virtual-service -r server-address [options]
  %[1]s -d virtual-service -r server-address
  %[1]s -L|l [virtual-service] [options]
  %[1]s -Z [virtual-service]
  %[1]s --set tcp tcpfin udp
  %[1]s -h
`, p)
	if subs := a.subcommandNames(); subs != "" {
		fmt.Fprintf(w, "  %s {%s} [args]\n", p, subs)
	}
	fmt.Fprint(w, `
Commands:
Either long or short options are allowed.
  --add-service     -A        add virtual service with options
  --edit-service    -E        edit virtual service with options
  --delete-service  -D        delete virtual service
  --clear           -C        clear the whole table
  --restore         -R        restore rules from stdin
  --save            -S        save rules to stdout
  --add-server      -a        add real server with options
  --edit-server     -e        edit real server with options
  --delete-server   -d        delete real server
  --list            -L|-l     list the table
  --zero            -Z        zero counters in a service or all services
  --set tcp tcpfin udp        set connection timeout values
  --help            -h        display this help message

virtual-service:
  --tcp-service|-t  service-address   service-address is IPv4-address[:port]
  --udp-service|-u  service-address   service-address is IPv4-address[:port]

Options:
  --scheduler    -s scheduler         one of rr|wrr|lc|wlc|sed|nq|sh|mh,
                                      the default scheduler is wlc.
  --persistent   -p [timeout]         persistent service
  --netmask      -M netmask           persistent granularity mask
  --real-server  -r server-address    server-address is host (and port)
  --gatewaying   -g                   gatewaying (direct routing) (default)
  --ipip         -i                   ipip encapsulation (tunneling)
  --masquerading -m                   masquerading (NAT)
  --tun-type      type                ipip (the only one govs has)
  --weight       -w weight            capacity of real server
  --u-threshold  -x uthreshold        upper threshold of connections
  --l-threshold  -y lthreshold        lower threshold of connections
  --connection   -c                   output of current IPVS connections
  --timeout                           output of timeout (tcp tcpfin udp)
  --stats                             output of statistics information
  --rate                              output of rate information
  --exact                             expand numbers (display exact values)
  --thresholds                        output of thresholds information
  --persistent-conn                   output of persistent connection info
  --tun-info                          output of tunnel information
  --nosort                            accepted; the daemon's order is kept
  --sort                              does nothing, for backwards compatibility
  --ops          -o                   one-packet scheduling
  --numeric      -n                   numeric output of addresses and ports
                                      (govs always prints numbers)
  --sched-flags  -b flags             scheduler flags (comma-separated)
  --json                              -L output as JSON (the control API's objects)
  --socket path                       daemon's control socket
                                      (default $GOVS_SOCKET, else /run/govs.sock)
`)
}

func (a *App) subcommandNames() string {
	names := slices.Sorted(maps.Keys(a.subs))
	return strings.Join(names, "|")
}

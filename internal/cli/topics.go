package cli

import (
	"fmt"
	"io"
	"strings"
)

// A topic is a page of `govs help TOPIC`. The pages say what the man page
// (docs/govs.8) says, shorter; dist/govs.bash completes their names.
type topic struct {
	name    string
	summary string // one line for the list that `govs help` prints
	text    string
}

// topics in the order `govs help` lists them.
var topics = []topic{
	{"ipvsadm", "the ipvsadm command line: which options govs has and how they map", topicIpvsadm},
	{"run", "the daemon: govs run -i IFACE", topicRun},
	{"config", "govs run --config: the LVS part of keepalived.conf, health checks", topicConfig},
	{"reload", "govs reload and SIGHUP: apply a changed configuration file", topicReload},
	{"role", "govs role master|backup: active and backup directors", topicRole},
	{"realserver", "govs realserver: prepare a host to be a DR or TUN realserver", topicRealserver},
	{"bench", "govs bench: the packet-rate harness", topicBench},
	{"files", "the control socket, GOVS_SOCKET, the systemd unit, completion", topicFiles},
}

// topicNames returns the topic names in listing order.
func topicNames() []string {
	names := make([]string, len(topics))
	for i, t := range topics {
		names[i] = t.name
	}
	return names
}

// help is `govs help [TOPIC]`: the usage and the list of topics, or one
// topic. An unknown topic is a usage error (exit status 2).
func (a *App) help(args []string, stdout, stderr io.Writer) int {
	switch len(args) {
	case 0:
		a.usage(stdout)
		fmt.Fprintf(stdout, "\nHelp topics (%s help TOPIC):\n", a.Name)
		for _, t := range topics {
			fmt.Fprintf(stdout, "  %-11s %s\n", t.name, t.summary)
		}
		return 0
	case 1:
		for _, t := range topics {
			if t.name == args[0] {
				io.WriteString(stdout, t.text)
				return 0
			}
		}
		fmt.Fprintf(stderr, "%s help: no help topic %q (topics: %s)\n", a.Name, args[0], strings.Join(topicNames(), ", "))
		return 2
	}
	fmt.Fprintf(stderr, "%s help: one topic at a time (topics: %s)\n", a.Name, strings.Join(topicNames(), ", "))
	return 2
}

const topicIpvsadm = `govs speaks ipvsadm: a script written for ipvsadm runs with the command
renamed. Commands and options are ipvsadm's (short and long forms, bundled
short options such as -Ln, "--opt=value"), checked with ipvsadm's table of
which option goes with which command, and answered with ipvsadm's messages
and output formats. -S output and -R input are interchangeable with
ipvsadm's. Everything below works as in ipvsadm unless it says otherwise.

Commands
  -A --add-service     -E --edit-service    -D --delete-service
  -a --add-server      -e --edit-server     -d --delete-server
  -C --clear           -Z --zero            -S --save      -R --restore
  -L -l --list         --set TCP TCPFIN UDP -h --help      -v --version

Options
  -t --tcp-service VIP[:PORT]    -u --udp-service VIP[:PORT]    (IPv4)
  -s --scheduler rr|wrr|lc|wlc|sed|nq|sh|mh     (default wlc)
  -b --sched-flags flag-1,flag-2,flag-3, or for sh and mh:
                   sh-fallback,sh-port,mh-fallback,mh-port
  -p --persistent [TIMEOUT]      (default 360 s)
  -M --netmask MASK              persistence granularity
  -r --real-server RIP[:PORT]    (port defaults to the service's)
  -g --gatewaying                direct routing, DR (default)
  -i --ipip                      IPIP tunnelling, TUN
  -m --masquerading              NAT
  --tun-type ipip                (the only tunnel type govs has)
  -w --weight N                  -x --u-threshold N    -y --l-threshold N
  -o --ops                       one-packet scheduling
Listing (-L)
  -c --connection   --timeout   --stats   --rate   -X --exact
  --thresholds   --persistent-conn   --tun-info
  -n --numeric      accepted: govs always prints numbers
  --nosort --sort   accepted: the daemon's order is kept
govs adds
  --json            -L output as JSON (the control API's objects)
  --socket PATH     the daemon's control socket
                    (default $GOVS_SOCKET, else /run/govs.sock)

Not in govs (refused with "option '...' is not supported by govs")
  -f --fwmark-service  packets are captured before netfilter could mark
                       them; use address:port services
  --sctp-service  -6 --ipv6              IPv4 TCP and UDP only
  --start-daemon --stop-daemon --daemon --syncid --mcast-interface
  --mcast-group --mcast-port --mcast-ttl --sync-maxlen
                       no connection-sync daemon (see govs help role)
  --pe --tun-port --tun-csum --tun-nocsum --tun-remcsum

Exit status: 0 on success; 2 for a command line that cannot be right
(nothing is sent to the daemon); 1 when the daemon refuses or cannot be
reached. Every failure is one line on stderr.

Examples
  govs -A -t 198.51.100.1:80 -s rr
  govs -a -t 198.51.100.1:80 -r 203.0.113.10 -g -w 1
  govs -L -n --stats
  govs -S -n > rules; govs -C; govs -R < rules
`

const topicRun = `Usage: govs run -i IFACE [-i IFACE...] [options]

govs run is the daemon. It owns the virtual services' traffic on the
interfaces given with -i: it captures frames with AF_PACKET, keeps the
kernel from taking VIP packets (an nftables table "govs", family netdev,
ingress hook), schedules connections as IPVS does and sends them on to the
realservers by direct routing (-g), IPIP tunnelling (-i) or masquerading
(-m). As master it answers ARP and ping for its VIPs. It takes commands on
its control socket from the govs CLI (see govs help ipvsadm).

It starts with an empty table unless --config names a file: load rules
with "govs -R < rules", or keep them in keepalived.conf (govs help config).

Options (govs run -h lists those of this build)
  -i, --iface IFACE       capture and forward on IFACE (repeatable, required)
  --socket PATH           control socket (default $GOVS_SOCKET, else
                          /run/govs.sock); created with mode 0600
  --workers N             dataplane workers per interface (1..64, default 1)
  --max-conns N           connection-table limit (default 1048576); new
                          connections beyond it are dropped
  --role master|backup    start as master (default) or backup
                          (govs help role)
  --garp-count N          gratuitous ARPs per VIP on becoming master
                          (default 5, 0 for none)
  --garp-interval D       time between rounds of them (default 1s)
  --tap NAME              tap device through which local realservers
                          (LocalNode) get their traffic (default govs0)
  --log-level L           debug, info (default), warn or error
  --config FILE           keepalived.conf; SIGHUP re-reads it
  --check                 with --config: validate the file and exit;
                          needs neither -i nor root
  --metrics ADDR          serve Prometheus metrics on ADDR (off by default;
                          a bare :PORT binds to loopback)
  --takeover              start in place of the daemon running on the same
                          interfaces and socket, taking its configuration and
                          connections (a graceful restart)
  --shed xdp|off          load shedding (default xdp): when a worker falls
                          behind, an XDP program on its interface drops the
                          excess VIP traffic before the kernel's receive
                          path, so overload cannot starve the workers

One govs per network namespace: a second one on the same host refuses to
start (the nftables table is the lock), unless it is started with
--takeover.

Signals: SIGTERM and SIGINT stop the daemon, which then removes everything
it added to the host. SIGHUP re-reads --config (govs help reload).

Environment: GOVS_IO_TUNING tunes the capture engine, for a NIC or a
machine whose best settings differ from the defaults (measure with govs
bench, which runs variants as --subjects govs,govs+KEY=VALUE): a
comma-separated list of KEY=VALUE, unset by default.
  fanout=auto|on|off      PACKET_FANOUT group per interface (auto: only
                          with several workers)
  prio=nice|fifo|none     worker threads at nice -20 (default), SCHED_FIFO
                          1, or left alone
  block=KIB, blocks=N     capture ring geometry (default 1024 KiB x 16)
  retire=MS               ring block retire timeout (default 4)
  batch=N                 frames a worker takes per receive (default 256)
  txbatch=N               frames queued per interface before a send
  tx=ring|sendmmsg        transmit through a TX ring (default) or sendmmsg
  txring=N                TX ring slots (default 1024)
  qdisc-bypass=on|off     PACKET_QDISC_BYPASS on send (default on)
  sndbuf=KIB              SO_SNDBUF of the send sockets
  shed=on|off             as --shed xdp|off
  shed-high=N, shed-low=N ring blocks waiting that start and stop shedding
                          (default 3 and 1)
  shed-mode=native|generic  XDP attach mode (default native where the
                          driver has it)
A bad value stops govs run with exit status 2.

Privileges: CAP_NET_ADMIN (nftables, neighbour and route tables,
/proc/sys/net, XDP), CAP_NET_RAW (AF_PACKET) and CAP_BPF (the XDP
load-shedding program; without it govs runs as with --shed off and says so).
dist/govs.service runs it with only those three.

Exit status: 0 after a clean stop, 1 when it cannot start or fails while
running, 2 for a bad command line.

Example
  govs run -i eth0 --workers 2 --config /etc/keepalived/keepalived.conf
`

const topicConfig = `Usage: govs run -i IFACE --config FILE
       govs run --check --config FILE

govs reads the LVS part of keepalived.conf, so an existing keepalived
configuration works unchanged for its virtual servers:

  virtual_server 198.51.100.1 80 {
      delay_loop 6
      lb_algo rr                  # any govs scheduler (govs help ipvsadm)
      lb_kind DR                  # DR, TUN or NAT
      persistence_timeout 300
      persistence_granularity 255.255.255.0
      protocol TCP                # TCP or UDP
      sorry_server 203.0.113.99 80
      real_server 203.0.113.10 80 {
          weight 1
          inhibit_on_failure      # weight 0 instead of removal when down
          TCP_CHECK {
              connect_timeout 3
              retry 3             # or nb_get_retry
              delay_before_retry 2
          }
      }
  }

Checkers: TCP_CHECK (connect), HTTP_GET (url { path, status_code,
digest }), MISC_CHECK (misc_path, misc_timeout, misc_dynamic: exit 0 is up,
and keepalived's weight convention with misc_dynamic). Checks run from the
director, concurrently, with jitter, each bounded by its timeout. A
realserver is down after "retry" failures in a row and up after one
success; when none is up, sorry_server takes new connections. Transitions
are logged once each.

Blocks govs does not handle (global_defs, vrrp_*, static_routes, ...) are
skipped with one line on stderr each. "virtual_server fwmark N" is refused:
govs captures packets before netfilter marks them; use address:port.

Errors name the file and line (and column). --check validates without
running and exits non-zero on any error. Rules added with the CLI are not
written back to the file.
`

const topicReload = `Usage: govs reload [--socket PATH]
       kill -HUP $(pidof govs)

Both make a daemon started with --config re-read its file and apply only
the difference: services and realservers that did not change keep their
connections and counters; a changed weight takes effect for new
connections without touching established ones. A file that does not parse
changes nothing: the daemon logs the error, and govs reload prints it and
exits non-zero. systemctl reload govs runs govs reload.

The socket is found as for every govs command: --socket, else
$GOVS_SOCKET, else /run/govs.sock.
`

const topicRole = `Usage: govs role [--socket PATH] [master|backup]
       govs run --role master|backup ...

Without an argument, govs role prints the daemon's current role.

Two directors can share VIPs, one active (master) and one standby
(backup), both also serving as realservers. The master answers ARP for the
VIPs, sends gratuitous ARPs when it becomes master (--garp-count,
--garp-interval) and schedules connections. A backup answers no ARP for
the VIPs and sends no gratuitous ARP; VIP traffic that reaches it is
delivered to its local services. On both, govs keeps the kernel from
answering ARP for a VIP on its interfaces.

govs role switches a running daemon; it is what a VRRP daemon's notify
script calls, for example from keepalived:

  vrrp_instance VI_1 {
      notify_master "/usr/local/bin/govs role master"
      notify_backup "/usr/local/bin/govs role backup"
      ...
  }
`

const topicRealserver = `Usage: govs realserver [-i IFACE] --vip VIP [--vip VIP...]
                       [--tun [--tun-name NAME]]

Prepares this host to be an LVS realserver for direct routing (-g) and
IPIP tunnelling (-i), as the LVS-HOWTO describes, and keeps it so until it
is stopped (SIGTERM or SIGINT), when it undoes exactly what it changed.

  - each VIP is added as a /32 on lo, so that the local stack accepts
    packets addressed to it (VIPs already there are left alone);
  - arp_ignore=1 and arp_announce=2 on "all" and on IFACE, so that this
    host neither answers ARP for the VIPs nor uses them as ARP sources:
    only the director may own a VIP on the shared segment;
  - with --tun, IPIP packets from the director are decapsulated in user
    space (no ipip kernel module needed) and delivered through a TUN device
    (default govstun0); replies go straight to the client.

Options
  -i, --iface IFACE   interface facing the director
  --vip VIP           a virtual IP served here (repeatable, at least one)
  --tun               decapsulate IPIP (LVS-TUN)
  --tun-name NAME     name of the TUN device for --tun

Masquerading (-m) realservers need no helper: route their replies through
the director. Needs CAP_NET_ADMIN (and CAP_NET_RAW with --tun).

Exit status: 0 after a clean stop, 1 on failure, 2 for a bad command line.
`

const topicBench = `Usage: govs bench [--mode dr|tun|masq|local] [--proto udp|tcp|syn|udp-new]
                  [--flows N] [--size BYTES] [--rate PPS|max] [--duration S]
                  [--runs N] [--workers N] [--subjects LIST] [--json]
                  [--svg FILE] [options]

Measures packet rates in a lab of its own (generator -> director -> sink, in
network namespaces, removed when it ends): govs and the alternatives in
the same run, on the same cores, with the same traffic. Needs root.
govs bench -h lists every option (--cost-rate, --overload-factor,
--dir-cpus, --gen-cpus, --steps, --keep-going, --udp-timeout).

Subjects (--subjects, comma-separated; default all)
  govs           the real daemon, configured through its CLI
  nft-dnat       the kernel's nftables DNAT load balancer
  kernel-fwd     plain kernel forwarding: the kernel's floor
  afpacket-bare  govs's AF_PACKET engine with the balancer bypassed: the
                 ceiling of govs's I/O

Traffic (--proto): udp, tcp (established flows), syn (every packet a new
connection) or udp-new (every datagram from a new tuple; with --udp-timeout S
the entries expire after S seconds). Without --rate, each subject gets its
≥99%-delivered rate (the highest offered rate of which at least 99% arrives
within the window), what it delivers when offered --overload-factor (2) times
that rate (the offered rate is printed beside it), and its net cost: the CPU
time of every core of the lab per forwarded packet, less that of the same
traffic dropped at the director's ingress; medians of --runs rounds with
min-max, and govs's ratio to each baseline. Only frames that arrive while the
generator sends are counted. A sample of every measured point is checked, so a
subject that forwards wrongly is reported failed, not fast.

--json prints the results for machines; --svg FILE draws a chart.
`

const topicFiles = `Files and environment

/run/govs.sock
    the daemon's control socket (mode 0600): the govs CLI talks to the
    daemon over it. govs run --socket PATH and every govs command's
    --socket PATH choose another.
GOVS_SOCKET
    the socket path when --socket is not given, for the daemon and the CLI
    alike (set it in /etc/default/govs so that systemctl reload finds it).
/etc/default/govs
    GOVS_ARGS, the arguments of govs run under systemd (default "-i eth0"),
    and GOVS_SOCKET.
/etc/systemd/system/govs.service   (dist/govs.service)
    runs govs run with only CAP_NET_ADMIN, CAP_NET_RAW and CAP_BPF, Type=notify,
    restarts it on failure; systemctl reload runs govs reload.
/usr/share/bash-completion/completions/govs   (dist/govs.bash)
    bash completion: subcommands, ipvsadm options, schedulers, interfaces,
    and the daemon's services (read with govs -S -n).
/usr/share/man/man8/govs.8   (docs/govs.8)
    the manual page.

The nftables table "netdev govs" is the daemon's: it exists while govs
runs and is removed when it stops.
`

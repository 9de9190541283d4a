package cli

import (
	"fmt"
	"io"
	"net/netip"
	"strings"

	"github.com/govs-lb/govs/balancer"
	"github.com/govs-lb/govs/internal/control"
)

// The functions here print exactly what ipvsadm prints (ipvsadm.c's
// list_all, print_title, print_service_entry, print_largenum, list_conn,
// list_timeout), column for column and with its trailing padding. One
// difference: ipvsadm without -n prints host and service names
// (gethostbyaddr, getservbyport); govs always prints numbers, in the same
// columns, so that -L and -Ln print the same.

func addrPort(a netip.Addr, port uint16) string {
	return fmt.Sprintf("%s:%d", a, port)
}

// printLargenum is ipvsadm's print_largenum.
func printLargenum(w io.Writer, i uint64, f Format) {
	if f&FmtExact != 0 {
		s := fmt.Sprint(i)
		width := len(s) + 1
		if len(s) <= 8 {
			width = 9
		}
		fmt.Fprintf(w, "%*d", width, i)
		return
	}
	switch {
	case i < 100000000:
		fmt.Fprintf(w, "%9d", i)
	case i < 1000000000:
		fmt.Fprintf(w, "%8dK", i/1000)
	case i < 100000000000:
		fmt.Fprintf(w, "%8dM", i/1000000)
	case i < 100000000000000:
		fmt.Fprintf(w, "%8dG", i/1000000000)
	default:
		fmt.Fprintf(w, "%8dT", i/1000000000000)
	}
}

// printTitle is ipvsadm's print_title.
func printTitle(w io.Writer, f Format) {
	switch {
	case f&FmtStats != 0:
		fmt.Fprintf(w, "%-33s %8s %8s %8s %8s %8s\n  -> RemoteAddress:Port\n",
			"Prot LocalAddress:Port", "Conns", "InPkts", "OutPkts", "InBytes", "OutBytes")
	case f&FmtRate != 0:
		fmt.Fprintf(w, "%-33s %8s %8s %8s %8s %8s\n  -> RemoteAddress:Port\n",
			"Prot LocalAddress:Port", "CPS", "InPPS", "OutPPS", "InBPS", "OutBPS")
	case f&FmtThresholds != 0:
		fmt.Fprintf(w, "%-33s %-10s %-10s %-10s %-10s\n  -> RemoteAddress:Port\n",
			"Prot LocalAddress:Port", "Uthreshold", "Lthreshold", "ActiveConn", "InActConn")
	case f&FmtPersistentConn != 0:
		fmt.Fprintf(w, "%-33s %-9s %-11s %-10s %-10s\n  -> RemoteAddress:Port\n",
			"Prot LocalAddress:Port", "Weight", "PersistConn", "ActiveConn", "InActConn")
	case f&FmtTunInfo != 0:
		fmt.Fprint(w, "Prot LocalAddress:Port Scheduler Flags\n"+
			"  -> RemoteAddress:Port           Forward TunnelInfo    Weight ActiveConn InActConn\n")
	case f&FmtRule == 0:
		fmt.Fprint(w, "Prot LocalAddress:Port Scheduler Flags\n"+
			"  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n")
	}
}

// schedFlags is ipvsadm's print_sched_flags: the flags joined by commas.
func schedFlags(s control.ServiceSpec) string { return strings.Join(s.SchedFlags, ",") }

// printPersistence writes a persistent service's timeout and, unless it is
// the default, its netmask, after the words for them: "-p", "-M" in a rule,
// "persistent", "mask" in a listing.
func printPersistence(w io.Writer, s control.ServiceSpec, timeout, mask string) {
	if s.Persistent {
		fmt.Fprintf(w, " %s %d", timeout, s.Timeout)
		if s.Netmask != "" && s.Netmask != control.DefaultNetmask {
			fmt.Fprintf(w, " %s %s", mask, s.Netmask)
		}
	}
}

// printService is ipvsadm's print_service_entry.
func printService(w io.Writer, s control.ServiceStatus, f Format) {
	vname := addrPort(s.Addr, s.Port)
	var svcName string
	if f&FmtRule != 0 {
		svcName = s.Protocol.Flag() + " " + vname
	} else {
		svcName = fmt.Sprintf("%-4s %s", s.Protocol.String(), vname)
		if len(svcName) > 33 {
			svcName = svcName[:33]
		}
	}
	switch {
	case f&FmtRule != 0:
		fmt.Fprintf(w, "-A %s -s %s", svcName, s.Scheduler)
		printPersistence(w, s.ServiceSpec, "-p", "-M")
		if s.OnePacket {
			fmt.Fprint(w, " -o")
		}
		if len(s.SchedFlags) > 0 {
			fmt.Fprintf(w, " -b %s", schedFlags(s.ServiceSpec))
		}
	case f&FmtStats != 0:
		fmt.Fprintf(w, "%-33s", svcName)
		for _, v := range []uint64{s.Conns, s.InPkts, s.OutPkts, s.InBytes, s.OutBytes} {
			printLargenum(w, v, f)
		}
	case f&FmtRate != 0:
		fmt.Fprintf(w, "%-33s", svcName)
		for _, v := range []uint64{s.CPS, s.InPPS, s.OutPPS, s.InBPS, s.OutBPS} {
			printLargenum(w, v, f)
		}
	default:
		fmt.Fprintf(w, "%s %s", svcName, s.Scheduler)
		if len(s.SchedFlags) > 0 {
			fmt.Fprintf(w, " (%s)", schedFlags(s.ServiceSpec))
		}
		printPersistence(w, s.ServiceSpec, "persistent", "mask")
		if s.OnePacket {
			fmt.Fprint(w, " ops")
		}
	}
	fmt.Fprint(w, "\n")

	for _, d := range s.Dests {
		dname := addrPort(d.Addr, d.Port)
		if f&FmtRule == 0 && len(dname) > 28 {
			dname = dname[:28]
		}
		switch {
		case f&FmtRule != 0:
			if d.Method == balancer.MethodTun {
				fmt.Fprintf(w, "-a %s -r %s %s -w %d --tun-type ipip\n", svcName, dname, d.Method.Flag(), d.Weight)
			} else {
				fmt.Fprintf(w, "-a %s -r %s %s -w %d\n", svcName, dname, d.Method.Flag(), d.Weight)
			}
		case f&FmtStats != 0:
			fmt.Fprintf(w, "  -> %-28s", dname)
			for _, v := range []uint64{d.Conns, d.InPkts, d.OutPkts, d.InBytes, d.OutBytes} {
				printLargenum(w, v, f)
			}
			fmt.Fprint(w, "\n")
		case f&FmtRate != 0:
			fmt.Fprintf(w, "  -> %-28s %8d %8d %8d", dname, d.CPS, d.InPPS, d.OutPPS)
			printLargenum(w, d.InBPS, f)
			printLargenum(w, d.OutBPS, f)
			fmt.Fprint(w, "\n")
		case f&FmtThresholds != 0:
			fmt.Fprintf(w, "  -> %-28s %-10d %-10d %-10d %-10d\n", dname,
				d.UThreshold, d.LThreshold, d.ActiveConns, d.InactConns)
		case f&FmtPersistentConn != 0:
			fmt.Fprintf(w, "  -> %-28s %-9d %-11d %-10d %-10d\n", dname,
				d.Weight, d.PersistConns, d.ActiveConns, d.InactConns)
		case f&FmtTunInfo != 0:
			ti := "n/a"
			if d.Method == balancer.MethodTun {
				ti = "ipip"
			}
			fmt.Fprintf(w, "  -> %-28s %-7s %-13s %-6d %-10d %-10d\n", dname, d.Method.String(), ti,
				d.Weight, d.ActiveConns, d.InactConns)
		default:
			fmt.Fprintf(w, "  -> %-28s %-7s %-6d %-10d %-10d\n", dname, d.Method.String(),
				d.Weight, d.ActiveConns, d.InactConns)
		}
	}
}

// printAll is ipvsadm's list_all: -L (with the version line) and -S (without).
func printAll(w io.Writer, info control.Info, svcs []control.ServiceStatus, f Format) {
	if f&FmtRule == 0 {
		fmt.Fprintf(w, "IP Virtual Server version %s (size=%d)\n", info.Version, info.ConnTableSize)
	}
	printTitle(w, f)
	for _, s := range svcs {
		printService(w, s, f)
	}
}

// printOne is ipvsadm's list_service: -L -t VIP:PORT.
func printOne(w io.Writer, s control.ServiceStatus, f Format) {
	printTitle(w, f)
	printService(w, s, f)
}

// printConns is ipvsadm's list_conn: -Lc.
func printConns(w io.Writer, conns []control.ConnStatus, f Format) {
	fmt.Fprint(w, "IPVS connection entries\n")
	if f&FmtPersistentConn != 0 {
		fmt.Fprintf(w, "pro expire %-11s %-18s %-18s %-18s %-16s %s\n",
			"state", "source", "virtual", "destination", "pe name", "pe_data")
	} else {
		fmt.Fprintf(w, "pro expire %-11s %-18s %-18s %s\n", "state", "source", "virtual", "destination")
	}
	for _, c := range conns {
		expire := fmt.Sprintf("%02d:%02d", c.Expires/60, c.Expires%60)
		fmt.Fprintf(w, "%-3s %-6s %-11s %-18s %-18s %s\n", c.Protocol.String(), expire, c.State,
			c.Client, c.Virtual, c.Dest)
	}
}

// printTimeouts is ipvsadm's list_timeout: -L --timeout.
func printTimeouts(w io.Writer, t control.Timeouts) {
	fmt.Fprintf(w, "Timeout (tcp tcpfin udp): %d %d %d\n", t.TCP, t.TCPFin, t.UDP)
}

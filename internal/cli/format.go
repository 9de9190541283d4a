package cli

import (
	"fmt"
	"io"
	"net/netip"
	"strings"

	"github.com/govs-lb/govs/internal/control"
)

// The functions here print exactly what ipvsadm prints (ipvsadm.c's
// list_all, print_title, print_service_entry, print_largenum, list_conn,
// list_timeout), column for column and with its trailing padding. One
// difference: ipvsadm without -n prints host and service names
// (gethostbyaddr, getservbyport); govs always prints numbers, in the same
// columns, so that -L and -Ln print the same.

func protoName(p control.Protocol) string {
	switch p {
	case control.TCP:
		return "TCP"
	case control.UDP:
		return "UDP"
	}
	return "?"
}

func protoSwitch(p control.Protocol) string {
	switch p {
	case control.TCP:
		return "-t"
	case control.UDP:
		return "-u"
	}
	return "--xxx-service"
}

func fwdName(m control.Method) string {
	switch m {
	case control.MethodMasq:
		return "Masq"
	case control.MethodLocal:
		return "Local"
	case control.MethodTun:
		return "Tunnel"
	case control.MethodDR:
		return "Route"
	}
	return ""
}

func fwdSwitch(m control.Method) string {
	switch m {
	case control.MethodMasq:
		return "-m"
	case control.MethodTun:
		return "-i"
	}
	return "-g" // DR and Local
}

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

// printService is ipvsadm's print_service_entry.
func printService(w io.Writer, s control.ServiceStatus, f Format) {
	vname := addrPort(s.Addr, s.Port)
	var svcName string
	if f&FmtRule != 0 {
		svcName = protoSwitch(s.Protocol) + " " + vname
	} else {
		svcName = fmt.Sprintf("%-4s %s", protoName(s.Protocol), vname)
		if len(svcName) > 33 {
			svcName = svcName[:33]
		}
	}
	switch {
	case f&FmtRule != 0:
		fmt.Fprintf(w, "-A %s -s %s", svcName, s.Scheduler)
		if s.Persistent {
			fmt.Fprintf(w, " -p %d", s.Timeout)
			if s.Netmask != "" && s.Netmask != control.DefaultNetmask {
				fmt.Fprintf(w, " -M %s", s.Netmask)
			}
		}
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
		if s.Persistent {
			fmt.Fprintf(w, " persistent %d", s.Timeout)
			if s.Netmask != "" && s.Netmask != control.DefaultNetmask {
				fmt.Fprintf(w, " mask %s", s.Netmask)
			}
		}
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
			if d.Method == control.MethodTun {
				fmt.Fprintf(w, "-a %s -r %s %s -w %d --tun-type ipip\n", svcName, dname, fwdSwitch(d.Method), d.Weight)
			} else {
				fmt.Fprintf(w, "-a %s -r %s %s -w %d\n", svcName, dname, fwdSwitch(d.Method), d.Weight)
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
			if d.Method == control.MethodTun {
				ti = "ipip"
			}
			fmt.Fprintf(w, "  -> %-28s %-7s %-13s %-6d %-10d %-10d\n", dname, fwdName(d.Method), ti,
				d.Weight, d.ActiveConns, d.InactConns)
		default:
			fmt.Fprintf(w, "  -> %-28s %-7s %-6d %-10d %-10d\n", dname, fwdName(d.Method),
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
		fmt.Fprintf(w, "%-3s %-6s %-11s %-18s %-18s %s\n", protoName(c.Protocol), expire, c.State,
			c.Client, c.Virtual, c.Dest)
	}
}

// printTimeouts is ipvsadm's list_timeout: -L --timeout.
func printTimeouts(w io.Writer, t control.Timeouts) {
	fmt.Fprintf(w, "Timeout (tcp tcpfin udp): %d %d %d\n", t.TCP, t.TCPFin, t.UDP)
}

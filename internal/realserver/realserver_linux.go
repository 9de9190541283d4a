package realserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Run prepares this host as a DR/TUN realserver for cfg, runs until ctx is
// done, then undoes everything it changed and returns (nil after a clean
// shutdown). A failure while setting up undoes what was done and returns it.
//
// Run does every namespace-sensitive operation (netlink, /proc/sys, the
// sockets, the TUN device) on the calling goroutine and starts no goroutine
// that makes one, so a caller locked to a thread inside a network namespace
// (lab.Host.Do) gets everything inside that namespace.
func Run(ctx context.Context, cfg Config, log *slog.Logger) (err error) {
	if err := cfg.validate(); err != nil {
		return err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.Stats == nil {
		cfg.Stats = new(Stats)
	}
	nl, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("realserver: netlink: %w", err)
	}
	defer nl.Close()

	var undo []func() error // run last to first on the way out
	defer func() {
		for i := len(undo) - 1; i >= 0; i-- {
			if e := undo[i](); e != nil {
				log.Error("realserver: undo", "err", e)
				err = errors.Join(err, e)
			}
		}
	}()

	if err := addVIPs(nl, cfg.VIPs, log, &undo); err != nil {
		return err
	}
	sysctls := [][2]string{
		{"net/ipv4/conf/all/arp_ignore", "1"},
		{"net/ipv4/conf/all/arp_announce", "2"},
	}
	if cfg.Iface != "" {
		if _, err := nl.LinkByName(cfg.Iface); err != nil {
			return fmt.Errorf("realserver: interface %q: %w", cfg.Iface, err)
		}
		sysctls = append(sysctls,
			[2]string{"net/ipv4/conf/" + cfg.Iface + "/arp_ignore", "1"},
			[2]string{"net/ipv4/conf/" + cfg.Iface + "/arp_announce", "2"})
	}
	if cfg.Tun {
		sysctls = append(sysctls, [2]string{"net/ipv4/conf/all/rp_filter", "0"})
	}
	for _, s := range sysctls {
		if err := setSysctl(s[0], s[1], log, &undo); err != nil {
			return err
		}
	}

	if !cfg.Tun {
		log.Info("realserver ready", "vips", cfg.VIPs, "iface", cfg.Iface)
		if cfg.Ready != nil {
			cfg.Ready()
		}
		<-ctx.Done()
		log.Info("realserver stopping")
		return nil
	}

	tun, err := openTun(nl, cfg.TunName, &undo)
	if err != nil {
		return err
	}
	// The device goes with its fd, and its sysctls with it: nothing to restore.
	if err := writeSysctl("net/ipv4/conf/"+cfg.TunName+"/rp_filter", "0"); err != nil {
		return err
	}
	raw, err := openIPIP(&undo)
	if err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { raw.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()

	d := Decapsulator{VIPs: NewVIPSet(cfg.VIPs), Stats: cfg.Stats, Out: tun}
	log.Info("realserver ready", "vips", cfg.VIPs, "iface", cfg.Iface, "tun", cfg.TunName)
	if cfg.Ready != nil {
		cfg.Ready()
	}
	buf := make([]byte, 1<<16) // one buffer for every packet
	for {
		n, err := raw.Read(buf)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			return &net.OpError{Op: "read", Net: "ip4:ipip", Err: err}
		}
		d.Handle(buf[:n])
	}
	attrs := make([]any, 0, 2*int(numVerdicts))
	for v := Verdict(0); v < numVerdicts; v++ {
		attrs = append(attrs, v.String(), cfg.Stats.Count(v))
	}
	log.Info("realserver stopping", attrs...)
	return nil
}

func addVIPs(nl *netlink.Handle, vips []netip.Addr, log *slog.Logger, undo *[]func() error) error {
	lo, err := nl.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("realserver: lo: %w", err)
	}
	have, err := nl.AddrList(lo, netlink.FAMILY_V4)
	if err != nil {
		return fmt.Errorf("realserver: list addresses of lo: %w", err)
	}
	for _, vip := range vips {
		present := false
		for _, a := range have {
			if ip, ok := netipFromIP(a.IP); ok && ip == vip {
				present = true
			}
		}
		if present {
			log.Info("VIP already on lo, leaving it", "vip", vip)
			continue
		}
		addr := &netlink.Addr{IPNet: &net.IPNet{IP: vip.AsSlice(), Mask: net.CIDRMask(32, 32)}}
		if err := nl.AddrAdd(lo, addr); err != nil {
			return fmt.Errorf("realserver: add %v/32 to lo: %w", vip, err)
		}
		*undo = append(*undo, func() error {
			if err := nl.AddrDel(lo, addr); err != nil {
				return fmt.Errorf("realserver: remove %v/32 from lo: %w", vip, err)
			}
			return nil
		})
	}
	return nil
}

func sysctlFile(key string) string { return filepath.Join("/proc/sys", key) }

func writeSysctl(key, val string) error {
	if err := os.WriteFile(sysctlFile(key), []byte(val+"\n"), 0); err != nil {
		return fmt.Errorf("realserver: sysctl: %w", err)
	}
	return nil
}

// setSysctl sets key to val and, when that changed something, records how
// to put the old value back.
func setSysctl(key, val string, log *slog.Logger, undo *[]func() error) error {
	b, err := os.ReadFile(sysctlFile(key))
	if err != nil {
		return fmt.Errorf("realserver: sysctl: %w", err)
	}
	old := strings.TrimSpace(string(b))
	if old == val {
		return nil
	}
	if err := writeSysctl(key, val); err != nil {
		return err
	}
	log.Debug("sysctl set", "key", key, "old", old, "new", val)
	*undo = append(*undo, func() error { return writeSysctl(key, old) })
	return nil
}

// openTun creates the non-persistent TUN device name (IFF_TUN|IFF_NO_PI:
// every write is one bare IP packet) and brings it up. Closing the returned
// file removes the device; undo does that.
func openTun(nl *netlink.Handle, name string, undo *[]func() error) (*os.File, error) {
	if _, err := nl.LinkByName(name); err == nil {
		return nil, fmt.Errorf("realserver: TUN device %q already exists", name)
	}
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: "/dev/net/tun", Err: err}
	}
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("realserver: TUN name %q: %w", name, err)
	}
	ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		unix.Close(fd)
		return nil, os.NewSyscallError("ioctl(TUNSETIFF)", err)
	}
	tun := os.NewFile(uintptr(fd), "/dev/net/tun:"+name)
	*undo = append(*undo, tun.Close)
	link, err := nl.LinkByName(name)
	if err != nil {
		return nil, fmt.Errorf("realserver: TUN device %q: %w", name, err)
	}
	if err := nl.LinkSetUp(link); err != nil {
		return nil, fmt.Errorf("realserver: set %q up: %w", name, err)
	}
	return tun, nil
}

// openIPIP opens the raw socket that receives every IPIP packet delivered
// to this host, outer header included. While it is open the kernel does not
// answer IPIP with ICMP protocol unreachable.
func openIPIP(undo *[]func() error) (*os.File, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_IPIP)
	if err != nil {
		return nil, &net.OpError{Op: "socket", Net: "ip4:ipip", Err: os.NewSyscallError("socket", err)}
	}
	f := os.NewFile(uintptr(fd), "ip4:ipip")
	*undo = append(*undo, f.Close)
	return f, nil
}

func netipFromIP(ip net.IP) (netip.Addr, bool) {
	a, ok := netip.AddrFromSlice(ip)
	return a.Unmap(), ok
}

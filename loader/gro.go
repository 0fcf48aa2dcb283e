package loader

import (
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// enableGRO turns generic receive offload on for a device of the calling
// thread's network namespace (what `ethtool -K DEV gro on` does). On a VIF's
// veth it also gives the device NAPI: the segments a VM sends arrive merged,
// so the datapath, the Geneve encapsulation, the underlay and the receiving
// chassis handle one packet for up to 64 KB of segments.
func enableGRO(ifname string) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("enabling GRO on %s: socket: %w", ifname, err)
	}
	defer unix.Close(fd)
	// struct ethtool_value, and struct ifreq with its data pointer
	val := struct{ cmd, data uint32 }{unix.ETHTOOL_SGRO, 1}
	var ifr struct {
		name [unix.IFNAMSIZ]byte
		data unsafe.Pointer
		_    [16]byte
	}
	if len(ifname) >= unix.IFNAMSIZ {
		return fmt.Errorf("enabling GRO on %s: name too long", ifname)
	}
	copy(ifr.name[:], ifname)
	ifr.data = unsafe.Pointer(&val)
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&ifr)))
	runtime.KeepAlive(&val)
	if errno != 0 {
		return fmt.Errorf("enabling GRO on %s: %w", ifname, errno)
	}
	return nil
}

package loader

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
)

// Hook says which entry program a device gets.
type Hook int

// Hooks.
const (
	HookVIF      Hook = iota // a VIF's host-side device: packets from the VM
	HookUnderlay             // the Geneve underlay device
)

func (h Hook) String() string {
	if h == HookUnderlay {
		return "underlay"
	}
	return "vif"
}

func (d *Datapath) program(h Hook) *ebpf.Program {
	if h == HookUnderlay {
		return d.Objs.OvnbpfUnderlayIngress
	}
	return d.Objs.OvnbpfVifIngress
}

func (d *Datapath) linkPin(ifname string, h Hook) string {
	return filepath.Join(d.PinDir, "links", fmt.Sprintf("%s_%s", ifname, h))
}

// Attach puts the hook's program on the device's TCX ingress. A link pinned
// by an earlier run for the same device is updated in place (no gap, no
// second attachment); otherwise a new link is made and pinned. A kernel
// without TCX (before 6.6) gets the tc clsact filter instead (AttachTC).
// A VIF's device also gets GRO (see enableGRO).
func (d *Datapath) Attach(ifname string, ifindex int, h Hook) error {
	if h == HookVIF {
		if err := enableGRO(ifname); err != nil {
			return err
		}
	}
	pin := d.linkPin(ifname, h)
	prog := d.program(h)
	if l, err := link.LoadPinnedLink(pin, nil); err == nil {
		defer l.Close()
		info, ierr := l.Info()
		if ierr == nil && info.TCX() != nil && int(info.TCX().Ifindex) == ifindex {
			if err := l.Update(prog); err != nil {
				return fmt.Errorf("replacing program on %s: %w", ifname, err)
			}
			return nil
		}
		// the device was recreated: the old link is defunct
		if err := l.Unpin(); err != nil {
			return fmt.Errorf("removing stale link pin of %s: %w", ifname, err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("loading pinned link of %s: %w", ifname, err)
	}
	l, err := link.AttachTCX(link.TCXOptions{Program: prog, Attach: ebpf.AttachTCXIngress, Interface: ifindex})
	if errors.Is(err, ebpf.ErrNotSupported) {
		return d.AttachTC(ifindex, h)
	}
	if err != nil {
		return fmt.Errorf("attaching tcx to %s: %w", ifname, err)
	}
	defer l.Close()
	if err := os.MkdirAll(filepath.Dir(pin), 0o700); err != nil {
		return fmt.Errorf("creating link pin directory: %w", err)
	}
	if err := l.Pin(pin); err != nil {
		return fmt.Errorf("pinning link of %s: %w", ifname, err)
	}
	return nil
}

// Detach removes the hook from the device (its pin and attachment, or the
// tc filter Attach fell back to).
func (d *Datapath) Detach(ifname string, h Hook) error {
	pin := d.linkPin(ifname, h)
	l, err := link.LoadPinnedLink(pin, nil)
	if errors.Is(err, os.ErrNotExist) {
		dev, lerr := netlink.LinkByName(ifname)
		if lerr != nil {
			return nil // the device is gone, and its filters with it
		}
		return d.DetachTC(dev.Attrs().Index)
	}
	if err != nil {
		return fmt.Errorf("loading pinned link of %s: %w", ifname, err)
	}
	defer l.Close()
	if err := l.Unpin(); err != nil {
		return fmt.Errorf("unpinning link of %s: %w", ifname, err)
	}
	return nil
}

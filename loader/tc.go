package loader

import (
	"errors"
	"fmt"
	"os"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// The tc clsact fallback, for kernels without TCX (< 6.6): a direct-action
// BPF filter on the device's clsact ingress. The filter is identified by a
// fixed priority and handle, so attaching again replaces the program in one
// netlink request (no gap). Unlike a TCX link it is not pinned: it stays
// until the device goes or DetachTC removes it.
const (
	tcFilterPrio   = 1
	tcFilterHandle = 0x0b9f
)

func tcFilter(ifindex int, fd int, name string) *netlink.BpfFilter {
	return &netlink.BpfFilter{
		FilterAttrs: netlink.FilterAttrs{
			LinkIndex: ifindex,
			Parent:    netlink.HANDLE_MIN_INGRESS,
			Handle:    tcFilterHandle,
			Priority:  tcFilterPrio,
			Protocol:  unix.ETH_P_ALL,
		},
		Fd:           fd,
		Name:         name,
		DirectAction: true,
	}
}

// AttachTC puts the hook's program on the device with a tc clsact filter.
func (d *Datapath) AttachTC(ifindex int, h Hook) error {
	qdisc := &netlink.GenericQdisc{
		QdiscAttrs: netlink.QdiscAttrs{LinkIndex: ifindex, Handle: netlink.MakeHandle(0xffff, 0), Parent: netlink.HANDLE_CLSACT},
		QdiscType:  "clsact",
	}
	if err := netlink.QdiscAdd(qdisc); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("adding clsact qdisc to device %d: %w", ifindex, err)
	}
	name := "ovnbpf_" + h.String()
	if err := netlink.FilterReplace(tcFilter(ifindex, d.program(h).FD(), name)); err != nil {
		return fmt.Errorf("attaching tc filter to device %d: %w", ifindex, err)
	}
	return nil
}

// DetachTC removes the filter AttachTC made (the clsact qdisc stays: other
// filters may use it).
func (d *Datapath) DetachTC(ifindex int) error {
	if err := netlink.FilterDel(tcFilter(ifindex, 0, "")); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("removing tc filter from device %d: %w", ifindex, err)
	}
	return nil
}

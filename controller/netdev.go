package controller

import (
	"fmt"
	"sync"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// netdevs tracks the host's network devices by name (ifindex, operational
// state) from netlink link messages, so a VIF is matched to its netdev as it
// appears, goes down or up, is renamed or is deleted.
type netdevs struct {
	mu     sync.Mutex
	byName map[string]netdev
	done   chan struct{}
}

type netdev struct {
	index int
	up    bool
}

// watchNetdevs lists the links and then follows changes; changed is called
// after each change. Stop it with close().
func watchNetdevs(changed func()) (*netdevs, error) {
	return watchNetdevsIn(nil, changed)
}

// watchNetdevsIn watches the links of network namespace ns (nil: ours).
func watchNetdevsIn(ns *netns.NsHandle, changed func()) (*netdevs, error) {
	n := &netdevs{byName: map[string]netdev{}, done: make(chan struct{})}
	ch := make(chan netlink.LinkUpdate, 256)
	// Subscribing before listing loses no change made in between.
	if err := netlink.LinkSubscribeWithOptions(ch, n.done, netlink.LinkSubscribeOptions{
		Namespace:     ns,
		ErrorCallback: func(error) { changed() },
	}); err != nil {
		return nil, fmt.Errorf("subscribing to link changes: %w", err)
	}
	h := &netlink.Handle{}
	if ns != nil {
		var err error
		if h, err = netlink.NewHandleAt(*ns); err != nil {
			close(n.done)
			return nil, fmt.Errorf("netlink handle: %w", err)
		}
		defer h.Close()
	}
	links, err := h.LinkList()
	if err != nil {
		close(n.done)
		return nil, fmt.Errorf("listing links: %w", err)
	}
	for _, l := range links {
		n.set(l, false)
	}
	go func() {
		for u := range ch {
			n.set(u.Link, u.Header.Type == unix.RTM_DELLINK)
			changed()
		}
	}()
	return n, nil
}

func (n *netdevs) set(l netlink.Link, deleted bool) {
	a := l.Attrs()
	n.mu.Lock()
	defer n.mu.Unlock()
	// A rename arrives as a new name on a known index: forget the old name.
	for name, d := range n.byName {
		if d.index == a.Index && name != a.Name {
			delete(n.byName, name)
		}
	}
	if deleted {
		delete(n.byName, a.Name)
		return
	}
	n.byName[a.Name] = netdev{index: a.Index, up: a.Flags&unix.IFF_UP != 0 && a.OperState != netlink.OperDown}
}

// lookup returns a device's ifindex (0 if absent) and whether it is up.
func (n *netdevs) lookup(name string) (int, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	d, ok := n.byName[name]
	if !ok {
		return 0, false
	}
	return d.index, d.up
}

func (n *netdevs) close() { close(n.done) }

package controller

import (
	"fmt"
	"sync"
	"time"

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
	// wanted are the names passes read (VIFs, the devices the datapath
	// uses): a change to another link calls no one (a pass costs tens of
	// milliseconds at scale, and a VIF's veth is made, and set up, before
	// its Interface row names it). nil: every change calls changed.
	wanted map[string]bool
	// gen counts the changes of wanted links (and relists): a pass that
	// sees the same count may reuse what it derived from them.
	gen  uint64
	done chan struct{}
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
	ch, err := n.subscribe(ns, changed)
	if err != nil {
		return nil, err
	}
	go n.follow(ns, ch, changed)
	return n, nil
}

// subscribe subscribes to link changes, then lists the links (replacing
// what was known): subscribing first loses no change made in between.
func (n *netdevs) subscribe(ns *netns.NsHandle, changed func()) (chan netlink.LinkUpdate, error) {
	ch := make(chan netlink.LinkUpdate, 1024)
	opts := netlink.LinkSubscribeOptions{
		Namespace:     ns,
		ErrorCallback: func(error) { changed() },
		// A burst (a hundred VIFs made at once) must not overflow the
		// socket: an overflow ends the subscription (then follow resyncs).
		ReceiveBufferSize:      4 << 20,
		ReceiveBufferForceSize: true,
	}
	if err := netlink.LinkSubscribeWithOptions(ch, n.done, opts); err != nil {
		// forcing the size needs CAP_NET_ADMIN: take what rmem_max allows
		opts.ReceiveBufferForceSize = false
		ch = make(chan netlink.LinkUpdate, 1024)
		if err := netlink.LinkSubscribeWithOptions(ch, n.done, opts); err != nil {
			return nil, fmt.Errorf("subscribing to link changes: %w", err)
		}
	}
	h := &netlink.Handle{}
	if ns != nil {
		var err error
		if h, err = netlink.NewHandleAt(*ns); err != nil {
			return nil, fmt.Errorf("netlink handle: %w", err)
		}
		defer h.Close()
	}
	links, err := h.LinkList()
	if err != nil {
		return nil, fmt.Errorf("listing links: %w", err)
	}
	n.mu.Lock()
	n.byName = map[string]netdev{}
	n.gen++
	n.mu.Unlock()
	for _, l := range links {
		n.set(l, false)
	}
	return ch, nil
}

// follow applies link changes until close. netlink ends a subscription on
// a receive error (ENOBUFS when a burst overflowed the socket) by closing
// its channel: then it subscribes and lists again, or VIFs made from then
// on would never be seen.
func (n *netdevs) follow(ns *netns.NsHandle, ch chan netlink.LinkUpdate, changed func()) {
	for {
		for u := range ch {
			if n.set(u.Link, u.Header.Type == unix.RTM_DELLINK) {
				changed()
			}
		}
		backoff := 50 * time.Millisecond
		for {
			select {
			case <-n.done:
				return
			case <-time.After(backoff):
			}
			c, err := n.subscribe(ns, changed)
			if err == nil {
				ch = c
				changed()
				break
			}
			backoff = min(2*backoff, 5*time.Second)
		}
	}
}

// set records a link message; it reports whether a wanted name changed.
func (n *netdevs) set(l netlink.Link, deleted bool) bool {
	a := l.Attrs()
	n.mu.Lock()
	defer n.mu.Unlock()
	wanted := n.wanted == nil || n.wanted[a.Name]
	// A rename arrives as a new name on a known index: forget the old name.
	for name, d := range n.byName {
		if d.index == a.Index && name != a.Name {
			delete(n.byName, name)
			wanted = wanted || n.wanted[name]
		}
	}
	if wanted {
		n.gen++
	}
	if deleted {
		delete(n.byName, a.Name)
		return wanted
	}
	n.byName[a.Name] = netdev{index: a.Index, up: a.Flags&unix.IFF_UP != 0 && a.OperState != netlink.OperDown}
	return wanted
}

// generation is the count of wanted link changes so far.
func (n *netdevs) generation() uint64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.gen
}

// want sets the names whose changes call changed. A pass sets it before
// its lookups: a change recorded before want is seen by those lookups, one
// after it calls changed, so no change of a wanted name is missed.
func (n *netdevs) want(names map[string]bool) {
	n.mu.Lock()
	n.wanted = names
	n.mu.Unlock()
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

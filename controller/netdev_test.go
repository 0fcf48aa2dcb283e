package controller

import (
	"testing"
	"time"

	"github.com/vishvananda/netns"

	"github.com/ovnbpf/ovnbpf/internal/testutil"
)

// The netdev watcher follows a link appearing, going up and down, being
// renamed and deleted, in a throwaway namespace.
func TestPrivilegedNetdevWatcher(t *testing.T) {
	name := testutil.NetNS(t)
	ns, err := netns.GetFromName(name)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	kicks := make(chan struct{}, 1024)
	w, err := watchNetdevsIn(&ns, func() {
		select {
		case kicks <- struct{}{}:
		default:
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer w.close()
	if idx, _ := w.lookup("lo"); idx == 0 {
		t.Fatal("initial list: no lo in the namespace")
	}
	wait := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not seen", what)
			}
			select {
			case <-kicks:
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	testutil.MustRun(t, "ip", "-n", name, "link", "add", "vif1", "type", "veth", "peer", "name", "vif1p")
	var index int
	wait("vif1 appears down", func() bool { i, up := w.lookup("vif1"); index = i; return i > 0 && !up })
	testutil.MustRun(t, "ip", "-n", name, "link", "set", "vif1p", "up")
	testutil.MustRun(t, "ip", "-n", name, "link", "set", "vif1", "up")
	wait("vif1 up", func() bool { _, up := w.lookup("vif1"); return up })
	testutil.MustRun(t, "ip", "-n", name, "link", "set", "vif1", "down")
	wait("vif1 down", func() bool { i, up := w.lookup("vif1"); return i > 0 && !up })
	testutil.MustRun(t, "ip", "-n", name, "link", "set", "vif1", "name", "vif2")
	wait("renamed to vif2", func() bool {
		old, _ := w.lookup("vif1")
		i, _ := w.lookup("vif2")
		return old == 0 && i == index
	})
	testutil.MustRun(t, "ip", "-n", name, "link", "del", "vif2")
	wait("vif2 deleted", func() bool { i, _ := w.lookup("vif2"); return i == 0 })
}

// With wanted names set, a change to another link wakes no pass (its
// state is still recorded), and a wanted name's appearance, rename and
// removal do.
func TestPrivilegedNetdevWatcherWakesForWantedOnly(t *testing.T) {
	name := testutil.NetNS(t)
	ns, err := netns.GetFromName(name)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	kicks := make(chan struct{}, 1024)
	w, err := watchNetdevsIn(&ns, func() { kicks <- struct{}{} })
	if err != nil {
		t.Fatal(err)
	}
	defer w.close()
	w.want(map[string]bool{"vifw": true})
	kicked := func(within time.Duration) bool {
		select {
		case <-kicks:
			for len(kicks) > 0 {
				<-kicks
			}
			return true
		case <-time.After(within):
			return false
		}
	}
	testutil.MustRun(t, "ip", "-n", name, "link", "add", "other", "type", "veth", "peer", "name", "otherp")
	testutil.MustRun(t, "ip", "-n", name, "link", "set", "other", "up")
	if kicked(500 * time.Millisecond) {
		t.Error("links nobody wants woke a pass")
	}
	if i, _ := w.lookup("other"); i == 0 {
		t.Error("an unwanted link is not recorded")
	}
	testutil.MustRun(t, "ip", "-n", name, "link", "add", "vifw", "type", "veth", "peer", "name", "vifwp")
	if !kicked(5 * time.Second) {
		t.Fatal("the wanted link appeared without waking a pass")
	}
	testutil.MustRun(t, "ip", "-n", name, "link", "set", "vifw", "name", "vifx")
	if !kicked(5 * time.Second) {
		t.Fatal("the wanted link was renamed away without waking a pass")
	}
	testutil.MustRun(t, "ip", "-n", name, "link", "set", "other", "name", "vifw")
	if !kicked(5 * time.Second) {
		t.Fatal("a link renamed to the wanted name woke no pass")
	}
}

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

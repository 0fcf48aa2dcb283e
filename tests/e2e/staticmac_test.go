package e2e

import (
	"strings"
	"testing"
)

// A static MAC binding stands in for ARP: vmu (sw1, addresses "unknown", no
// port security) holds a second address it answers no ARP for, so lr0
// cannot resolve it and vm3's ping across the router is lost; with
// `ovn-nbctl static-mac-binding-add lr0-sw1 ADDR vmu's MAC` lr0 sends to
// that MAC at once and the ping gets through.
func TestPrivilegedStaticMACBinding(t *testing.T) { scenario(t, staticMACBinding) }

func staticMACBinding(e *env) {
	t := e.t
	c := e.lab.Central()
	vmu := e.vm["vmu"]
	const silent = "198.51.100.51"
	run := func(node string, argv ...string) {
		t.Helper()
		if out, err := e.sh(node, argv...); err != nil {
			t.Fatalf("%s: %s: %v\n%s", node, strings.Join(argv, " "), err, out)
		}
	}
	run("vmu", "ip", "addr", "add", silent+"/26", "dev", "eth0")
	// arp_ignore 8: answer no ARP request at all; arp_announce 2: ask for
	// the gateway from the primary address, so no router learns the
	// silent one from vmu's own requests
	run("vmu", "sysctl", "-qw", "net.ipv4.conf.eth0.arp_ignore=8", "net.ipv4.conf.all.arp_ignore=8",
		"net.ipv4.conf.eth0.arp_announce=2")
	defer func() {
		_, _ = e.sh("vmu", "sysctl", "-qw", "net.ipv4.conf.eth0.arp_ignore=0", "net.ipv4.conf.all.arp_ignore=0",
			"net.ipv4.conf.eth0.arp_announce=0")
		_, _ = e.sh("vmu", "ip", "addr", "del", silent+"/26", "dev", "eth0")
		_, _ = c.NBCtl("--if-exists", "static-mac-binding-del", "lr0-sw1", silent)
	}()
	e.unreachable("vm3", silent)

	if _, err := c.NBCtl("static-mac-binding-add", "lr0-sw1", silent, vmu.MAC); err != nil {
		t.Fatal(err)
	}
	if _, err := c.NBCtl("--wait=hv", "--timeout=30", "sync"); err != nil {
		t.Fatal(err)
	}
	e.reach("vm3", silent)

	if _, err := c.NBCtl("static-mac-binding-del", "lr0-sw1", silent); err != nil {
		t.Fatal(err)
	}
	if _, err := c.NBCtl("--wait=hv", "--timeout=30", "sync"); err != nil {
		t.Fatal(err)
	}
	e.unreachable("vm3", silent)
}

// Package smoke is the VM runner's forwarding smoke test: real packets (ping)
// between two network namespaces through the datapath the loader attached,
// with tables compiled from a real ovn-northd's logical flows. The runner
// runs it inside every VM of the kernel matrix; `make test` runs it on the
// machine's own kernel.
package smoke

import (
	"fmt"
	"os/exec"
	"testing"

	"github.com/ovnbpf/ovnbpf/internal/testutil"
	"github.com/ovnbpf/ovnbpf/loader"
	"github.com/ovnbpf/ovnbpf/loader/looptest"
)

// Two VMs on one logical switch, in 10.x addresses that live only inside the
// test's namespaces.
var vms = []struct{ lport, mac, ip string }{
	{"a", "02:00:00:00:00:0a", "10.11.0.1"},
	{"b", "02:00:00:00:00:0b", "10.11.0.2"},
}

func TestPrivilegedForwardSmoke(t *testing.T) {
	// the datapath's devices live in the harness' namespace: the host ends
	// of the VMs' veths, and the underlay device of the config
	h := looptest.New(t)
	testutil.Need(t, "ping", "ethtool", "ovn-northd", "ovsdb-server")
	cmds := [][]string{{"ls-add", "sw0"}}
	var lports []string
	for _, v := range vms {
		cmds = append(cmds, []string{"lsp-add", "sw0", v.lport}, []string{"lsp-set-addresses", v.lport, v.mac + " " + v.ip})
		lports = append(lports, v.lport)
	}
	h.InstallTopology(looptest.Northd(t, cmds...))
	h.Underlay()
	vmNS := map[string]string{}
	for _, v := range vms {
		ns := testutil.NetNS(t)
		dev := "vif-" + v.lport
		idx := h.Vif(v.lport, dev, 0)
		// the VM's end of the pair moves into the VM's namespace
		peer := dev + "p"
		h.IP("link", "set", peer, "netns", ns)
		// a datapath that redirects never fills in what tx offload left out
		testutil.MustRun(t, "ip", "netns", "exec", ns, "ethtool", "-K", peer, "tx", "off")
		testutil.MustRun(t, "ip", "-n", ns, "link", "set", peer, "address", v.mac, "up")
		testutil.MustRun(t, "ip", "-n", ns, "addr", "add", v.ip+"/24", "dev", peer)
		if err := h.D.Attach(dev, int(idx), loader.HookVIF); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = h.D.Detach(dev, loader.HookVIF) })
		vmNS[v.lport] = ns
	}
	for _, g := range []string{"_MC_flood", "_MC_flood_l2"} {
		if _, ok := h.Topo.Snap.MulticastGroup(h.Topo.DP["sw0"], g); ok {
			h.Mcast("sw0", g, lports, nil)
		}
	}
	for i, from := range vms {
		to := vms[1-i]
		if out, err := pingFrom(vmNS[from.lport], to.ip); err != nil {
			t.Errorf("ping %s -> %s through the datapath: %v\n%s\ndrops: %v", from.lport, to.lport, err, out, h.Drops())
		}
	}
}

// pingFrom waits for a first echo (ARP first), then wants three of three.
func pingFrom(ns, ip string) (string, error) {
	var out []byte
	var err error
	for try := 0; try < 5; try++ {
		if out, err = runIn(ns, "ping", "-n", "-q", "-c", "1", "-W", "1", ip); err == nil {
			break
		}
	}
	if err != nil {
		return string(out), fmt.Errorf("no reply: %w", err)
	}
	out, err = runIn(ns, "ping", "-n", "-q", "-c", "3", "-i", "0.2", "-W", "1", ip)
	return string(out), err
}

func runIn(ns string, argv ...string) ([]byte, error) {
	return exec.Command("ip", append([]string{"netns", "exec", ns}, argv...)...).CombinedOutput()
}

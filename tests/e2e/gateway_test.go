package e2e

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/ovnbpf/ovnbpf/internal/lab"
	"github.com/ovnbpf/ovnbpf/internal/testutil"
)

// A distributed gateway port: router lrg joins swg (vmg1@hv1, vmg2@hv2) to
// the switch pub, whose localnet port reaches a physical network present
// on hv1 only, hv1 being the port's gateway chassis. An "external" host on
// that network (a namespace cabled to hv1) and both VMs reach each other:
// vmg2's traffic is routed on hv2 and tunnelled to hv1 with outport =
// cr-lrg-pub, which hv1 turns into lrg's egress for lrg-pub; vmg1's is
// routed on hv1 through the same redirect; replies enter from the physical
// network on hv1.
func TestPrivilegedDistributedGateway(t *testing.T) {
	e := get(t)
	c := e.lab.Central()
	hv1, err := e.lab.ChassisByName("hv1")
	if err != nil {
		t.Fatal(err)
	}
	const (
		extMAC  = "02:00:00:00:0e:0a"
		extAddr = "10.78.0.10/24"
		physDev = "phys0"
	)
	// The external host, cabled to hv1's phys0. Registered first, so it
	// goes last: after the mapping and the logical network that use it.
	ext := testutil.NetNS(t)
	hv1ns := lab.Namespace(e.lab.Name, "hv1")
	for _, argv := range [][]string{
		{"ip", "-n", ext, "link", "add", "eth0", "type", "veth", "peer", "name", physDev, "netns", hv1ns},
		{"ip", "-n", ext, "link", "set", "eth0", "address", extMAC, "up"},
		{"ip", "-n", ext, "addr", "add", extAddr, "dev", "eth0"},
		{"ip", "-n", ext, "route", "add", "10.77.0.0/24", "via", "10.78.0.1"},
		// a userspace OVS datapath forwards checksums as the veth left them
		{"ip", "netns", "exec", ext, "ethtool", "-K", "eth0", "tx", "off"},
		{"ip", "-n", hv1ns, "link", "set", physDev, "up"},
	} {
		testutil.MustRun(t, argv...)
	}
	vsctl := func(args ...string) {
		t.Helper()
		if out, err := e.sh("hv1", append([]string{"ovs-vsctl", "--timeout=30"}, args...)...); err != nil {
			t.Fatalf("ovs-vsctl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	// ovn-bridge-mappings names a netdev for ovnbpf, a bridge for OVS
	if hv1.Flavour == lab.FlavourOVS {
		vsctl("--may-exist", "add-br", "br-ext", "--", "set", "Bridge", "br-ext", "datapath_type=netdev",
			"--", "--may-exist", "add-port", "br-ext", physDev,
			"--", "set", "Open_vSwitch", ".", "external_ids:ovn-bridge-mappings=physnet1:br-ext")
		t.Cleanup(func() {
			_, _ = e.sh("hv1", "ovs-vsctl", "--timeout=30", "remove", "Open_vSwitch", ".", "external_ids", "ovn-bridge-mappings",
				"--", "--if-exists", "del-br", "br-ext")
		})
	} else {
		vsctl("--no-wait", "set", "Open_vSwitch", ".", "external_ids:ovn-bridge-mappings=physnet1:"+physDev)
		t.Cleanup(func() {
			_, _ = e.sh("hv1", "ovs-vsctl", "--no-wait", "remove", "Open_vSwitch", ".", "external_ids", "ovn-bridge-mappings")
		})
	}

	nb := [][]string{
		{"ls-add", "swg"},
		{"ls-add", "pub"},
		{"lr-add", "lrg"},
		{"lrp-add", "lrg", "lrg-swg", "02:00:5e:00:07:01", "10.77.0.1/24"},
		{"lsp-add", "swg", "swg-lrg"},
		{"lsp-set-type", "swg-lrg", "router"},
		{"lsp-set-addresses", "swg-lrg", "router"},
		{"lsp-set-options", "swg-lrg", "router-port=lrg-swg"},
		{"lrp-add", "lrg", "lrg-pub", "02:00:5e:00:08:01", "10.78.0.1/24"},
		{"lrp-set-gateway-chassis", "lrg-pub", lab.SystemID(e.lab.Name, "hv1"), "10"},
		{"lsp-add", "pub", "pub-lrg"},
		{"lsp-set-type", "pub-lrg", "router"},
		{"lsp-set-addresses", "pub-lrg", "router"},
		{"lsp-set-options", "pub-lrg", "router-port=lrg-pub"},
		{"lsp-add", "pub", "pub-ln"},
		{"lsp-set-type", "pub-ln", "localnet"},
		{"lsp-set-addresses", "pub-ln", "unknown"},
		{"lsp-set-options", "pub-ln", "network_name=physnet1"},
	}
	vmg := []*lab.VM{
		{Name: "vmg1", Chassis: "hv1", LPort: "swg-vmg1", MAC: "02:00:00:00:07:01", Addr: "10.77.0.11/24", GW: "10.77.0.1"},
		{Name: "vmg2", Chassis: "hv2", LPort: "swg-vmg2", MAC: "02:00:00:00:07:02", Addr: "10.77.0.12/24", GW: "10.77.0.1"},
	}
	for _, v := range vmg {
		addrs := v.MAC + " " + ip(v.Addr)
		nb = append(nb, []string{"lsp-add", "swg", v.LPort}, []string{"lsp-set-addresses", v.LPort, addrs})
	}
	var flat []string
	for _, cmd := range nb {
		flat = append(append(flat, "--"), cmd...)
	}
	t.Cleanup(func() {
		_, _ = c.NBCtl("--if-exists", "lr-del", "lrg", "--", "--if-exists", "ls-del", "swg", "--", "--if-exists", "ls-del", "pub")
	})
	if _, err := c.NBCtl(flat...); err != nil {
		t.Fatal(err)
	}
	for _, v := range vmg {
		vm := *v
		if err := e.lab.AddVM(&vm); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = e.lab.DelVM(vm.Name) })
	}
	if err := e.lab.WaitPortsUp(60 * time.Second); err != nil {
		t.Fatal(err)
	}
	// The router learns the external host's MAC only through ARP, which
	// needs the controller's arp{} action (not in ovnbpf yet): give it the
	// MAC_Binding row a chassis would have written after resolving it.
	lrg, err := c.SBCtl("--bare", "--columns=_uuid", "find", "Datapath_Binding", "external_ids:name=lrg")
	if err != nil || strings.TrimSpace(lrg) == "" {
		t.Fatalf("lrg's Datapath_Binding: %q %v", lrg, err)
	}
	if _, err := c.SBCtl("create", "MAC_Binding", "logical_port=lrg-pub", fmt.Sprintf("ip=%q", ip(extAddr)),
		fmt.Sprintf("mac=%q", extMAC), "datapath="+strings.TrimSpace(lrg)); err != nil {
		t.Fatal(err)
	}
	if out, err := c.NBCtl("--wait=hv", "--timeout=60", "sync"); err != nil {
		t.Fatalf("waiting for the chassis: %v %s", err, out)
	}
	cr, err := c.SBCtl("--bare", "--columns=chassis", "find", "Port_Binding", "logical_port=cr-lrg-pub")
	if err != nil {
		t.Fatal(err)
	}
	if name, err := c.SBCtl("--bare", "--columns=name", "list", "Chassis", strings.TrimSpace(cr)); err != nil ||
		strings.TrimSpace(name) != lab.SystemID(e.lab.Name, "hv1") {
		t.Fatalf("cr-lrg-pub is bound to %q (%v), want hv1", strings.TrimSpace(name), err)
	}

	extPing := func(to string) error {
		var out []byte
		var err error
		for try := 0; try < 6; try++ {
			if out, err = exec.Command("ip", "netns", "exec", ext, "ping", "-n", "-c", "1", "-W", "1", to).CombinedOutput(); err == nil {
				break
			}
		}
		if err == nil {
			out, err = exec.Command("ip", "netns", "exec", ext, "ping", "-n", "-c", "3", "-i", "0.2", "-W", "1", to).CombinedOutput()
		}
		if err != nil {
			return fmt.Errorf("external host cannot reach %s: %v\n%s", to, err, out)
		}
		return nil
	}
	t.Run("from the other chassis", func(t *testing.T) {
		e.t = t
		e.reach("vmg2", ip(extAddr))
		out, err := e.sh("vmg2", "ping", "-n", "-c", "1", "-W", "2", ip(extAddr))
		if err != nil || !strings.Contains(out, "ttl=63") {
			t.Fatalf("the external host's reply should arrive with TTL 63 (one router hop): %v\n%s", err, out)
		}
	})
	t.Run("from the gateway chassis", func(t *testing.T) {
		e.t = t
		e.reach("vmg1", ip(extAddr))
	})
	t.Run("from the physical network", func(t *testing.T) {
		for _, v := range vmg {
			if err := extPing(ip(v.Addr)); err != nil {
				t.Error(err)
			}
		}
	})
	e.t = t
}

// Package smoke is the VM runner's forwarding smoke test: real packets (ping)
// between two network namespaces through the datapath the loader attached,
// with tables compiled from a real ovn-northd's logical flows. The runner
// runs it inside every VM of the kernel matrix; `make test` runs it on the
// machine's own kernel.
package smoke

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ovnbpf/ovnbpf/internal/central"
	"github.com/ovnbpf/ovnbpf/internal/testutil"
	"github.com/ovnbpf/ovnbpf/loader"
	"github.com/ovnbpf/ovnbpf/maps"
	"github.com/ovnbpf/ovnbpf/pipeline"
	"github.com/ovnbpf/ovnbpf/pipeline/sbjson"
)

// Two VMs on one logical switch, in 10.x addresses that live only inside the
// test's namespaces.
var vms = []struct{ lport, mac, ip string }{
	{"a", "02:00:00:00:00:0a", "10.11.0.1"},
	{"b", "02:00:00:00:00:0b", "10.11.0.2"},
}

func TestPrivilegedForwardSmoke(t *testing.T) {
	testutil.Privileged(t)
	testutil.Need(t, "ip", "ping", "ovn-northd", "ovsdb-server")
	comp, snap := compileTopology(t)

	// The datapath's devices live in a namespace of their own: the host
	// ends of the VMs' veths, and an underlay device for the config.
	dpns := testutil.NetNS(t)
	enterNetNS(t, dpns)
	pins := t.TempDir()
	if err := unix.Mount("bpf", pins, "bpf", 0, ""); err != nil {
		t.Fatalf("mounting a bpffs for the test's pins: %v", err)
	}
	t.Cleanup(func() { _ = unix.Unmount(pins, 0) })
	d, err := loader.Load(pins, &loader.Options{MaxEntries: map[string]uint32{
		"ovnbpf_rules": 16384, "ovnbpf_ops": 16384, "ovnbpf_masks": 4096, "ovnbpf_lflows": 8192, "ovnbpf_tables": 4096}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	inst, err := maps.NewInstaller(&d.Objs.DatapathMaps)
	if err != nil {
		t.Fatal(err)
	}
	changes := map[maps.TableID][]pipeline.Rule{}
	for _, k := range comp.Tables() {
		changes[maps.TableID{Datapath: k.Datapath, Pipeline: k.Pipeline, Table: k.Table}] = comp.Table(k)
	}
	rep, err := inst.Apply(changes)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range rep.Errors {
		t.Errorf("rule not installed: %v", e)
	}
	st := maps.NewState(&d.Objs.DatapathMaps)
	ul := mkVeth(t, dpns, "ul0", "ul0p", "")
	if err := st.SetConfig(netip.MustParseAddr("192.0.2.1"), ul, true); err != nil {
		t.Fatal(err)
	}
	var keys []uint32
	var swDP uint32
	vmNS := map[string]string{}
	for _, v := range vms {
		ns := testutil.NetNS(t)
		idx := mkVeth(t, dpns, "vif-"+v.lport, "eth0", ns)
		testutil.MustRun(t, "ip", "-n", ns, "link", "set", "eth0", "address", v.mac, "up")
		testutil.MustRun(t, "ip", "-n", ns, "addr", "add", v.ip+"/24", "dev", "eth0")
		dp, key, ok := snap.Port(v.lport)
		if !ok {
			t.Fatalf("northd made no Port_Binding for %s", v.lport)
		}
		swDP = dp
		keys = append(keys, key)
		if err := st.SetPort(maps.Port{Datapath: dp, Key: key, Type: maps.PortVIF, Ifindex: idx}); err != nil {
			t.Fatal(err)
		}
		if err := st.BindVIF(idx, 0, dp, key, 0); err != nil {
			t.Fatal(err)
		}
		if err := d.Attach("vif-"+v.lport, int(idx), loader.HookVIF); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = d.Detach("vif-"+v.lport, loader.HookVIF) })
		vmNS[v.lport] = ns
	}
	for _, g := range []string{"_MC_flood", "_MC_flood_l2"} {
		if key, ok := snap.MulticastGroup(swDP, g); ok {
			if err := st.SetMulticastGroup(swDP, key, keys, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i, from := range vms {
		to := vms[1-i]
		out, err := pingFrom(vmNS[from.lport], to.ip)
		if err != nil {
			drops, _ := st.Drops()
			t.Errorf("ping %s -> %s through the datapath: %v\n%s\ndrops: %v", from.lport, to.lport, err, out, drops)
		}
	}
}

// compileTopology builds the switch in a real OVN central and compiles the
// Southbound database northd wrote.
func compileTopology(t *testing.T) (*pipeline.Compiler, *sbjson.Snapshot) {
	c, err := central.Start(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Stop(); err != nil {
			t.Error(err)
		}
	})
	args := []string{"--", "ls-add", "sw0"}
	for _, v := range vms {
		args = append(args, "--", "lsp-add", "sw0", v.lport,
			"--", "lsp-set-addresses", v.lport, v.mac+" "+v.ip)
	}
	if _, err := c.NBCtl(args...); err != nil {
		t.Fatal(err)
	}
	if _, err := c.NBCtl("--wait=sb", "sync"); err != nil {
		t.Fatal(err)
	}
	raw := map[string]json.RawMessage{}
	for _, tbl := range sbjson.Tables {
		out, err := c.SBCtl("--format=json", "list", tbl)
		if err != nil {
			t.Fatal(err)
		}
		raw[tbl] = json.RawMessage(out)
	}
	b, err := json.Marshal(raw)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := sbjson.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	comp, rep := sbjson.Compile(snap)
	if len(rep.Errors) > 0 {
		t.Logf("compiler: %d lflows not compiled:\n%s", len(rep.Errors), rep)
	}
	return comp, snap
}

// mkVeth makes a veth pair in ns dpns: name stays, peer moves to peerNS (or
// stays when ""). Both ends come up; it returns name's ifindex.
func mkVeth(t *testing.T, dpns, name, peer, peerNS string) uint32 {
	t.Helper()
	testutil.MustRun(t, "ip", "-n", dpns, "link", "add", name, "type", "veth", "peer", "name", peer)
	if peerNS != "" {
		testutil.MustRun(t, "ip", "-n", dpns, "link", "set", peer, "netns", peerNS)
		// A datapath that redirects never fills in what tx offload left out.
		testutil.MustRun(t, "ip", "netns", "exec", peerNS, "ethtool", "-K", peer, "tx", "off")
	} else {
		testutil.MustRun(t, "ip", "-n", dpns, "link", "set", peer, "up")
	}
	testutil.MustRun(t, "ip", "-n", dpns, "link", "set", name, "up")
	out := testutil.MustRun(t, "ip", "-n", dpns, "-o", "link", "show", "dev", name)
	idx, err := strconv.Atoi(strings.SplitN(out, ":", 2)[0])
	if err != nil {
		t.Fatalf("ifindex of %s from %q: %v", name, out, err)
	}
	return uint32(idx)
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

// enterNetNS moves the test goroutine's thread into ns until the test ends:
// the loader attaches by ifindex, which is per namespace.
func enterNetNS(t *testing.T, ns string) {
	t.Helper()
	runtime.LockOSThread()
	orig, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
	if err != nil {
		t.Fatal(err)
	}
	target, err := os.Open("/run/netns/" + ns)
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			t.Errorf("returning to the test's network namespace: %v", err)
		}
		orig.Close()
		runtime.UnlockOSThread()
	})
}

func runIn(ns string, argv ...string) ([]byte, error) {
	return exec.Command("ip", append([]string{"netns", "exec", ns}, argv...)...).CombinedOutput()
}

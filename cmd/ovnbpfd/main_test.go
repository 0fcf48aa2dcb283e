package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"

	"github.com/ovnbpf/ovnbpf/controller"
	"github.com/ovnbpf/ovnbpf/controller/ovstest"
	"github.com/ovnbpf/ovnbpf/internal/central"
	"github.com/ovnbpf/ovnbpf/internal/daemon"
	"github.com/ovnbpf/ovnbpf/internal/testutil"
	"github.com/ovnbpf/ovnbpf/maps"
)

var binDir string

// TestMain builds ovnbpfd and ovnbpfctl once for every test here.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "ovnbpfd-test-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	for _, p := range []string{"ovnbpfd", "ovnbpfctl"} {
		out, err := exec.Command("go", "build", "-o", filepath.Join(dir, p), "github.com/ovnbpf/ovnbpf/cmd/"+p).CombinedOutput()
		if err != nil {
			fmt.Fprintf(os.Stderr, "building %s: %v: %s\n", p, err, out)
			os.RemoveAll(dir)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func buildBinaries(t *testing.T) (ovnbpfd, ovnbpfctl string) {
	return filepath.Join(binDir, "ovnbpfd"), filepath.Join(binDir, "ovnbpfctl")
}

func mustRun(t *testing.T, argv ...string) string {
	t.Helper()
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v: %s", strings.Join(argv, " "), err, out)
	}
	return string(out)
}

func waitFor(t *testing.T, what string, f func() string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		if last = f(); last == "" {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s: %s", what, last)
}

// The daemon as the lab runs it: detached, with the chassis' own OVSDB
// socket; ovnbpfctl talks to it; SIGTERM keeps the chassis, and
// --cleanup-on-exit removes it.
func TestDaemonWithLocalOVSDB(t *testing.T) {
	ovnbpfd, ovnbpfctl := buildBinaries(t)
	c, err := central.Start(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	ovs, err := ovstest.Start(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer ovs.Stop()
	if _, err := ovs.VSCtl("set", "Open_vSwitch", ".", "external_ids:system-id=hv1",
		"external_ids:ovn-remote="+c.SBRemote(), "external_ids:ovn-encap-ip=192.0.2.10",
		"--", "add-br", "br-int", "--", "add-port", "br-int", "lo", "--", "set", "Interface", "lo", "external_ids:iface-id=lp1"); err != nil {
		t.Fatal(err)
	}
	c.NBCtl("ls-add", "sw0")
	c.NBCtl("lsp-add", "sw0", "lp1")

	dir := t.TempDir()
	pidfile := filepath.Join(dir, "ovnbpfd.pid")
	sock := filepath.Join(dir, "ovnbpfd.ctl")
	start := func(extra ...string) {
		argv := append([]string{ovnbpfd, "--detach", "--pidfile=" + pidfile, "--log-file=" + filepath.Join(dir, "ovnbpfd.log"),
			"--ovsdb=" + ovs.Remote(), "--config=" + filepath.Join(dir, "none.json"), "--state-dir=" + filepath.Join(dir, "state"),
			"--ctl-socket=" + sock, "--log-level=debug", "--datapath=none"}, extra...)
		mustRun(t, argv...)
	}
	start()
	defer daemon.Stop(pidfile, 5*time.Second)
	defer func() {
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(dir, "ovnbpfd.log"))
			t.Logf("ovnbpfd.log:\n%s", b)
		}
	}()

	waitFor(t, "ovn-sbctl show lists hv1 with its port", func() string {
		out, _ := c.SBCtl("show")
		if !strings.Contains(out, `Chassis hv1`) || !strings.Contains(out, "geneve") ||
			!strings.Contains(out, "192.0.2.10") || !strings.Contains(out, `Port_Binding lp1`) {
			return "show: " + out
		}
		return ""
	})
	st := mustRun(t, ovnbpfctl, "status", "--ctl-socket="+sock)
	for _, want := range []string{"chassis:         hv1", "southbound:      connected", "system-id", "(ovsdb)", "datapath:        none"} {
		if !strings.Contains(st, want) {
			t.Errorf("ovnbpfctl status lacks %q:\n%s", want, st)
		}
	}
	waitFor(t, "ovnbpfctl ports lists lp1", func() string {
		if ports := mustRun(t, ovnbpfctl, "ports", "--ctl-socket="+sock); !strings.Contains(ports, "lp1") || !strings.Contains(ports, "main") {
			return ports
		}
		return ""
	})
	if cs := mustRun(t, ovnbpfctl, "connection-status", "--ctl-socket="+sock); !strings.HasPrefix(cs, "connected") {
		t.Errorf("connection-status: %s", cs)
	}
	if out := mustRun(t, ovnbpfctl, "recompute", "--ctl-socket="+sock); !strings.Contains(out, "recompute") {
		t.Errorf("recompute: %s", out)
	}

	// SIGTERM: the chassis stays registered (the datapath keeps forwarding).
	t0 := time.Now()
	if err := daemon.Stop(pidfile, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	t.Logf("stopped in %v", time.Since(t0))
	if out, _ := c.SBCtl("show"); !strings.Contains(out, "Chassis hv1") {
		t.Errorf("chassis removed by a plain SIGTERM")
	}
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Errorf("control socket left behind: %v", err)
	}

	// --cleanup-on-exit removes it.
	start("--cleanup-on-exit")
	waitFor(t, "restarted and registered", func() string {
		out, err := exec.Command(ovnbpfctl, "status", "--ctl-socket="+sock).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "southbound:      connected") {
			return fmt.Sprintf("%v: %s", err, out)
		}
		return ""
	})
	t0 = time.Now()
	if err := daemon.Stop(pidfile, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	t.Logf("stopped with cleanup in %v", time.Since(t0))
	if out, _ := c.SBCtl("show"); strings.Contains(out, "Chassis hv1") {
		t.Errorf("--cleanup-on-exit left the chassis:\n%s", out)
	}
}

// Without a local OVSDB: flags and a config file configure the chassis, a bad
// value is refused with its fix, and `ovnbpfctl port bind` survives a restart.
func TestDaemonWithoutOVSDB(t *testing.T) {
	ovnbpfd, ovnbpfctl := buildBinaries(t)
	c, err := central.Start(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	c.NBCtl("ls-add", "sw0")
	c.NBCtl("lsp-add", "sw0", "lp2")

	dir := t.TempDir()
	cfg := filepath.Join(dir, "ovnbpfd.json")
	os.WriteFile(cfg, []byte(`{"system-id": "hv9", "ovn-remote": "`+c.SBRemote()+`", "ovn-encap-ip": "192.0.2.99"}`), 0o644)
	pidfile := filepath.Join(dir, "ovnbpfd.pid")
	sock := filepath.Join(dir, "ovnbpfd.ctl")
	args := []string{"--detach", "--pidfile=" + pidfile, "--log-file=" + filepath.Join(dir, "ovnbpfd.log"),
		"--ovsdb=", "--config=" + cfg, "--state-dir=" + filepath.Join(dir, "state"), "--ctl-socket=" + sock, "--datapath=none"}

	// A bad flag value: the daemon says which key and how to fix it.
	bad := exec.Command(ovnbpfd, append(args[1:], "--ovn-encap-type=vxlan")...)
	out, err := bad.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "set external_ids:ovn-encap-type=geneve") {
		t.Errorf("vxlan accepted or unexplained: %v: %s", err, out)
	}

	mustRun(t, append([]string{ovnbpfd}, append(args, "--hostname=flag-host")...)...)
	defer daemon.Stop(pidfile, 5*time.Second)
	waitFor(t, "chassis hv9", func() string {
		out, _ := c.SBCtl("--bare", "--columns=hostname", "find", "Chassis", "name=hv9")
		if strings.TrimSpace(out) != "flag-host" {
			return "hostname=" + out
		}
		return ""
	})
	st := mustRun(t, ovnbpfctl, "status", "--ctl-socket="+sock)
	if !strings.Contains(st, "(config-file)") || !strings.Contains(st, "(flag)") {
		t.Errorf("status does not say where settings came from:\n%s", st)
	}
	mustRun(t, ovnbpfctl, "port", "bind", "--ctl-socket="+sock, "lo", "lp2")
	claimed := func() string {
		ch, _ := c.SBCtl("--bare", "--columns=_uuid", "find", "Chassis", "name=hv9")
		pb, _ := c.SBCtl("--bare", "--columns=chassis", "find", "Port_Binding", "logical_port=lp2")
		if strings.TrimSpace(ch) == "" || strings.TrimSpace(pb) != strings.TrimSpace(ch) {
			return "lp2 chassis=" + pb
		}
		return ""
	}
	waitFor(t, "lp2 claimed", claimed)

	// Restart: the manual binding is still there.
	if err := daemon.Stop(pidfile, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	mustRun(t, append([]string{ovnbpfd}, args...)...)
	if ports := mustRun(t, ovnbpfctl, "ports", "--ctl-socket="+sock); !strings.Contains(ports, "lp2") {
		waitFor(t, "lp2 listed after restart", func() string {
			p := mustRun(t, ovnbpfctl, "ports", "--ctl-socket="+sock)
			if !strings.Contains(p, "lp2") || !strings.Contains(p, "lo") {
				return p
			}
			return ""
		})
	}
	waitFor(t, "lp2 still claimed", claimed)
	mustRun(t, ovnbpfctl, "port", "unbind", "--ctl-socket="+sock, "lo")
	waitFor(t, "lp2 released", func() string {
		pb, _ := c.SBCtl("--bare", "--columns=chassis", "find", "Port_Binding", "logical_port=lp2")
		if strings.TrimSpace(pb) != "" {
			return "chassis=" + pb
		}
		return ""
	})
}

// The lab runs ovnbpfd inside a chassis network namespace with the chassis'
// own OVSDB socket: it registers, and matches a VIF to the netdev that
// appears in that namespace (not in the host's).
func TestPrivilegedDaemonInNetns(t *testing.T) {
	ns := testutil.NetNS(t)
	ovnbpfd, ovnbpfctl := buildBinaries(t)
	c, err := central.Start(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	ovs, err := ovstest.Start(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer ovs.Stop()
	if _, err := ovs.VSCtl("set", "Open_vSwitch", ".", "external_ids:system-id=hv-ns",
		"external_ids:ovn-remote="+c.SBRemote(), "external_ids:ovn-encap-ip=192.0.2.40",
		"--", "add-br", "br-int", "--", "add-port", "br-int", "vifns", "--", "set", "Interface", "vifns", "external_ids:iface-id=lpns"); err != nil {
		t.Fatal(err)
	}
	c.NBCtl("ls-add", "sw0")
	c.NBCtl("lsp-add", "sw0", "lpns")
	dir := t.TempDir()
	pidfile := filepath.Join(dir, "ovnbpfd.pid")
	sock := filepath.Join(dir, "ovnbpfd.ctl")
	if _, err := daemon.Start(ns, pidfile, nil, ovnbpfd, "--detach", "--pidfile="+pidfile,
		"--log-file="+filepath.Join(dir, "ovnbpfd.log"), "--ovsdb="+ovs.Remote(), "--config=",
		"--state-dir="+filepath.Join(dir, "state"), "--ctl-socket="+sock, "--datapath=none"); err != nil {
		t.Fatal(err)
	}
	defer daemon.Stop(pidfile, 5*time.Second)
	ifindex := func() string {
		var ps []controller.PortStatus
		if err := controller.CtlCall(sock, controller.CtlRequest{Cmd: "ports"}, &ps); err != nil {
			return err.Error()
		}
		for _, p := range ps {
			if p.LogicalPort == "lpns" {
				return fmt.Sprintf("%s role=%s ifindex=%d", p.Ifname, p.Role, p.Ifindex)
			}
		}
		return "no lpns"
	}
	waitFor(t, "lpns claimed without a netdev", func() string {
		if got := ifindex(); got != "vifns role=main ifindex=0" {
			return got
		}
		return ""
	})
	testutil.MustRun(t, "ip", "-n", ns, "link", "add", "vifns", "type", "veth", "peer", "name", "vifns-peer")
	waitFor(t, "netdev found in the namespace", func() string {
		if got := ifindex(); !strings.HasPrefix(got, "vifns role=main ifindex=") || strings.HasSuffix(got, "=0") {
			return got
		}
		return ""
	})
	if out := mustRun(t, ovnbpfctl, "connection-status", "--ctl-socket="+sock); !strings.HasPrefix(out, "connected") {
		t.Errorf("connection-status: %s", out)
	}
}

// The whole chain on one chassis: ovnbpfd in a network namespace with the
// real eBPF datapath, two VMs (namespaces on veth pairs) on one logical
// switch; the ports go up, --wait=hv returns, and the VMs ping each other.
func TestPrivilegedDaemonForwardsBetweenVMs(t *testing.T) {
	testutil.Need(t, "ping")
	ns := testutil.NetNS(t)
	vm1, vm2 := testutil.NetNS(t), testutil.NetNS(t)
	ovnbpfd, ovnbpfctl := buildBinaries(t)
	c, err := central.Start(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	ovs, err := ovstest.Start(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer ovs.Stop()
	system := fmt.Sprintf("obt-%d", os.Getpid())
	pins := filepath.Join("/sys/fs/bpf/ovnbpf", system)
	defer os.RemoveAll(pins)

	ip := func(args ...string) { testutil.MustRun(t, append([]string{"ip"}, args...)...) }
	// Underlay: the encap IP on a device of the chassis namespace.
	ip("-n", ns, "link", "add", "ul0", "type", "veth", "peer", "name", "ul0p")
	ip("-n", ns, "addr", "add", "192.0.2.50/24", "dev", "ul0")
	ip("-n", ns, "link", "set", "ul0", "up")
	ip("-n", ns, "link", "set", "ul0p", "up")
	for i, vm := range []string{vm1, vm2} {
		n := i + 1
		tap := fmt.Sprintf("tap%d", n)
		ip("-n", ns, "link", "add", tap, "type", "veth", "peer", "name", "eth0", "netns", vm)
		ip("-n", vm, "link", "set", "eth0", "address", fmt.Sprintf("0a:00:00:00:00:0%d", n))
		ip("-n", vm, "addr", "add", fmt.Sprintf("10.0.0.%d/24", n), "dev", "eth0")
		ip("-n", vm, "link", "set", "eth0", "up")
		ip("-n", ns, "link", "set", tap, "up")
		// The datapath does not complete checksums the VM left to offload.
		testutil.MustRun(t, "ip", "netns", "exec", vm, "ethtool", "-K", "eth0", "tx", "off")
	}
	if _, err := ovs.VSCtl("set", "Open_vSwitch", ".", "external_ids:system-id="+system,
		"external_ids:ovn-remote="+c.SBRemote(), "external_ids:ovn-encap-ip=192.0.2.50",
		"--", "add-br", "br-int",
		"--", "add-port", "br-int", "tap1", "--", "set", "Interface", "tap1", "external_ids:iface-id=vm1",
		"--", "add-port", "br-int", "tap2", "--", "set", "Interface", "tap2", "external_ids:iface-id=vm2"); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range [][]string{
		{"ls-add", "sw0"},
		{"lsp-add", "sw0", "vm1"}, {"lsp-set-addresses", "vm1", "0a:00:00:00:00:01 10.0.0.1"},
		{"lsp-add", "sw0", "vm2"}, {"lsp-set-addresses", "vm2", "0a:00:00:00:00:02 10.0.0.2"},
	} {
		if _, err := c.NBCtl(cmd...); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	pidfile := filepath.Join(dir, "ovnbpfd.pid")
	sock := filepath.Join(dir, "ovnbpfd.ctl")
	// nsenter, not ip netns exec: the daemon must see the host's bpffs.
	start := func(extra ...string) {
		argv := append([]string{"nsenter", "--net=/run/netns/" + ns, ovnbpfd, "--detach", "--pidfile=" + pidfile,
			"--log-file=" + filepath.Join(dir, "ovnbpfd.log"), "--ovsdb=" + ovs.Remote(), "--config=",
			"--state-dir=" + filepath.Join(dir, "state"), "--ctl-socket=" + sock}, extra...)
		if _, err := daemon.Start("", pidfile, nil, argv...); err != nil {
			t.Fatal(err)
		}
	}
	start()
	defer daemon.Stop(pidfile, 10*time.Second)
	defer func() {
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(dir, "ovnbpfd.log"))
			t.Logf("ovnbpfd.log:\n%s", b)
			out, _ := exec.Command(ovnbpfctl, "status", "--ctl-socket="+sock).CombinedOutput()
			t.Logf("status:\n%s", out)
		}
	}()
	waitFor(t, "ports up", func() string {
		for _, p := range []string{"vm1", "vm2"} {
			out, _ := c.NBCtl("get", "Logical_Switch_Port", p, "up")
			if strings.TrimSpace(out) != "true" {
				return p + " up=" + out
			}
		}
		return ""
	})
	for _, tap := range []string{"tap1", "tap2"} {
		if out, _ := ovs.VSCtl("get", "Interface", tap, "external_ids:ovn-installed"); strings.TrimSpace(out) != `"true"` {
			t.Errorf("%s ovn-installed = %s", tap, out)
		}
	}
	t0 := time.Now()
	if _, err := c.NBCtl("--wait=hv", "--timeout=10", "sync"); err != nil {
		t.Fatal(err)
	}
	t.Logf("--wait=hv sync: %v", time.Since(t0))
	ping := func(when string) {
		t.Helper()
		out, err := exec.Command("ip", "netns", "exec", vm1, "ping", "-c", "3", "-i", "0.2", "-W", "1", "10.0.0.2").CombinedOutput()
		if err != nil {
			t.Fatalf("vm1 -> vm2 ping %s: %v\n%s", when, err, out)
		}
	}
	ping("with the daemon running")
	// A full recompute rewrites every table; forwarding goes on.
	mustRun(t, ovnbpfctl, "recompute", "--ctl-socket="+sock)
	if _, err := c.NBCtl("--wait=hv", "--timeout=10", "sync"); err != nil {
		t.Fatal(err)
	}
	ping("after a full recompute")

	// Classifier entries lost behind the daemon's back: a recompute trusts
	// what it wrote, `recompute --resync` compares with the maps and
	// writes them again.
	before := mustRun(t, ovnbpfctl, "dump-maps", "--ctl-socket="+sock)
	rules, err := ebpf.LoadPinnedMap(filepath.Join(pins, "ovnbpf_rules"), nil)
	if err != nil {
		t.Fatal(err)
	}
	var keys []maps.DatapathOvnbpfRuleKey
	var k maps.DatapathOvnbpfRuleKey
	var v maps.DatapathOvnbpfRule
	for it := rules.Iterate(); it.Next(&k, &v); {
		keys = append(keys, k)
	}
	for i := range keys {
		if err := rules.Delete(&keys[i]); err != nil {
			t.Fatal(err)
		}
	}
	rules.Close()
	if len(keys) == 0 || mustRun(t, ovnbpfctl, "dump-maps", "--ctl-socket="+sock) == before {
		t.Fatalf("deleting %d classifier entries left the dump as it was", len(keys))
	}
	mustRun(t, ovnbpfctl, "recompute", "--resync", "--ctl-socket="+sock)
	if after := mustRun(t, ovnbpfctl, "dump-maps", "--ctl-socket="+sock); after != before {
		t.Fatalf("after recompute --resync the maps differ:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	ping("after recompute --resync")

	// SIGTERM: the pinned datapath keeps forwarding without the daemon.
	if err := daemon.Stop(pidfile, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	ping("with the daemon stopped")
	// A restart reconciles what is pinned and keeps forwarding.
	start("--cleanup-on-exit")
	if _, err := c.NBCtl("--wait=hv", "--timeout=10", "sync"); err != nil {
		t.Fatal(err)
	}
	ping("after a restart")

	// --cleanup-on-exit: the chassis and the pins go.
	if err := daemon.Stop(pidfile, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(pins); !os.IsNotExist(err) {
		t.Errorf("pins left in %s: %v", pins, err)
	}
}

// chassisNS is one ovnbpf chassis in its own network namespace.
type chassisNS struct{ *ovstest.Chassis }

// startChassisNS runs ovnbpfd (real datapath) in namespace ns, whose
// underlay device ul0 has ip.
func startChassisNS(t *testing.T, c *central.Central, ovnbpfd, name, ns, ip string) *chassisNS {
	t.Helper()
	return &chassisNS{ovstest.StartChassis(t, ovnbpfd, c.SBRemote(), name, ns, ip)}
}

// vm plugs a VM namespace into the chassis on tap, as logical port lport.
func (ch *chassisNS) vm(t *testing.T, vm, tap, lport, mac, cidr string) {
	t.Helper()
	ip := func(args ...string) { testutil.MustRun(t, append([]string{"ip"}, args...)...) }
	ip("-n", ch.NS, "link", "add", tap, "type", "veth", "peer", "name", "eth0", "netns", vm)
	ip("-n", vm, "link", "set", "eth0", "address", mac)
	ip("-n", vm, "link", "set", "eth0", "mtu", "1400")
	ip("-n", vm, "addr", "add", cidr, "dev", "eth0")
	ip("-n", vm, "link", "set", "eth0", "up")
	ip("-n", ch.NS, "link", "set", tap, "up")
	testutil.MustRun(t, "ip", "netns", "exec", vm, "ethtool", "-K", "eth0", "tx", "off")
	if _, err := ch.OVS.VSCtl("add-port", "br-int", tap, "--", "set", "Interface", tap, "external_ids:iface-id="+lport); err != nil {
		t.Fatal(err)
	}
}

// Two ovnbpf chassis joined by an underlay: `ovn-sbctl show` lists both with
// Geneve encaps and their bindings, --wait=hv returns, the ports go up, and
// VMs on different chassis ping each other through Geneve.
func TestPrivilegedTwoChassisGeneve(t *testing.T) {
	testutil.Need(t, "ping", "nsenter", "ethtool")
	ovnbpfd, _ := buildBinaries(t)
	c, err := central.Start(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	ns1, ns2, vm1, vm2 := testutil.NetNS(t), testutil.NetNS(t), testutil.NetNS(t), testutil.NetNS(t)
	ip := func(args ...string) { testutil.MustRun(t, append([]string{"ip"}, args...)...) }
	ip("-n", ns1, "link", "add", "ul0", "type", "veth", "peer", "name", "ul0", "netns", ns2)
	ip("-n", ns1, "addr", "add", "192.0.2.51/24", "dev", "ul0")
	ip("-n", ns2, "addr", "add", "192.0.2.52/24", "dev", "ul0")
	ip("-n", ns1, "link", "set", "ul0", "up")
	ip("-n", ns2, "link", "set", "ul0", "up")
	base := fmt.Sprintf("obt-%d-", os.Getpid())
	hv1 := startChassisNS(t, c, ovnbpfd, base+"hv1", ns1, "192.0.2.51")
	hv2 := startChassisNS(t, c, ovnbpfd, base+"hv2", ns2, "192.0.2.52")
	for _, cmd := range [][]string{
		{"ls-add", "sw0"},
		{"lsp-add", "sw0", "vm1"}, {"lsp-set-addresses", "vm1", "0a:00:00:00:00:01 10.0.0.1"},
		{"lsp-add", "sw0", "vm2"}, {"lsp-set-addresses", "vm2", "0a:00:00:00:00:02 10.0.0.2"},
	} {
		if _, err := c.NBCtl(cmd...); err != nil {
			t.Fatal(err)
		}
	}
	hv1.vm(t, vm1, "tap1", "vm1", "0a:00:00:00:00:01", "10.0.0.1/24")
	hv2.vm(t, vm2, "tap2", "vm2", "0a:00:00:00:00:02", "10.0.0.2/24")
	waitFor(t, "ports up", func() string {
		for _, p := range []string{"vm1", "vm2"} {
			out, _ := c.NBCtl("get", "Logical_Switch_Port", p, "up")
			if strings.TrimSpace(out) != "true" {
				return p + " up=" + out
			}
		}
		return ""
	})
	show, _ := c.SBCtl("show")
	for _, want := range []string{"Chassis " + base + "hv1", "Chassis " + base + "hv2", `ip: "192.0.2.51"`, `ip: "192.0.2.52"`,
		"Port_Binding vm1", "Port_Binding vm2"} {
		if !strings.Contains(show, want) {
			t.Errorf("ovn-sbctl show lacks %q:\n%s", want, show)
		}
	}
	if _, err := c.NBCtl("--wait=hv", "--timeout=10", "sync"); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("ip", "netns", "exec", vm1, "ping", "-c", "3", "-i", "0.2", "-W", "1", "10.0.0.2").CombinedOutput()
	if err != nil {
		t.Fatalf("vm1 (hv1) -> vm2 (hv2) ping: %v\n%s", err, out)
	}
}

// Two switches joined by a router, on two chassis: the switch -> router ->
// switch path runs on the sending chassis (patch ports) and the packet
// crosses Geneve to the receiving one.
func TestPrivilegedTwoChassisRouted(t *testing.T) {
	testutil.Need(t, "ping", "nsenter", "ethtool")
	ovnbpfd, _ := buildBinaries(t)
	c, err := central.Start(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	ns1, ns2, vm1, vm2 := testutil.NetNS(t), testutil.NetNS(t), testutil.NetNS(t), testutil.NetNS(t)
	ip := func(args ...string) { testutil.MustRun(t, append([]string{"ip"}, args...)...) }
	ip("-n", ns1, "link", "add", "ul0", "type", "veth", "peer", "name", "ul0", "netns", ns2)
	ip("-n", ns1, "addr", "add", "192.0.2.61/24", "dev", "ul0")
	ip("-n", ns2, "addr", "add", "192.0.2.62/24", "dev", "ul0")
	ip("-n", ns1, "link", "set", "ul0", "up")
	ip("-n", ns2, "link", "set", "ul0", "up")
	base := fmt.Sprintf("obr-%d-", os.Getpid())
	hv1 := startChassisNS(t, c, ovnbpfd, base+"hv1", ns1, "192.0.2.61")
	hv2 := startChassisNS(t, c, ovnbpfd, base+"hv2", ns2, "192.0.2.62")
	for _, cmd := range [][]string{
		{"ls-add", "sw1"}, {"ls-add", "sw2"}, {"lr-add", "lr0"},
		{"lrp-add", "lr0", "lr0-sw1", "00:00:00:00:ff:01", "10.1.0.1/24"},
		{"lrp-add", "lr0", "lr0-sw2", "00:00:00:00:ff:02", "10.2.0.1/24"},
		{"lsp-add", "sw1", "sw1-lr0"}, {"lsp-set-type", "sw1-lr0", "router"},
		{"lsp-set-addresses", "sw1-lr0", "router"}, {"lsp-set-options", "sw1-lr0", "router-port=lr0-sw1"},
		{"lsp-add", "sw2", "sw2-lr0"}, {"lsp-set-type", "sw2-lr0", "router"},
		{"lsp-set-addresses", "sw2-lr0", "router"}, {"lsp-set-options", "sw2-lr0", "router-port=lr0-sw2"},
		{"lsp-add", "sw1", "vm1"}, {"lsp-set-addresses", "vm1", "0a:00:00:00:01:01 10.1.0.10"},
		{"lsp-add", "sw2", "vm2"}, {"lsp-set-addresses", "vm2", "0a:00:00:00:02:01 10.2.0.10"},
	} {
		if _, err := c.NBCtl(cmd...); err != nil {
			t.Fatal(err)
		}
	}
	hv1.vm(t, vm1, "tap1", "vm1", "0a:00:00:00:01:01", "10.1.0.10/24")
	hv2.vm(t, vm2, "tap2", "vm2", "0a:00:00:00:02:01", "10.2.0.10/24")
	testutil.MustRun(t, "ip", "-n", vm1, "route", "add", "default", "via", "10.1.0.1")
	testutil.MustRun(t, "ip", "-n", vm2, "route", "add", "default", "via", "10.2.0.1")
	waitFor(t, "ports up", func() string {
		for _, p := range []string{"vm1", "vm2"} {
			out, _ := c.NBCtl("get", "Logical_Switch_Port", p, "up")
			if strings.TrimSpace(out) != "true" {
				return p + " up=" + out
			}
		}
		return ""
	})
	if _, err := c.NBCtl("--wait=hv", "--timeout=10", "sync"); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("ip", "netns", "exec", vm1, "ping", "-c", "3", "-i", "0.2", "-W", "1", "10.2.0.10").CombinedOutput()
	if err != nil {
		t.Fatalf("vm1 (sw1, hv1) -> vm2 (sw2, hv2) through lr0: %v\n%s", err, out)
	}
	for _, ch := range []*chassisNS{hv1, hv2} {
		var st controller.Status
		if err := controller.CtlCall(ch.Sock, controller.CtlRequest{Cmd: "status"}, &st); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: datapath %s, %d lflows skipped, nb_cfg acked %d", ch.Name, st.Datapath, st.Skipped, st.AckedNbCfg)
	}
}

// A switch with a localnet port: ovn-bridge-mappings names the netdev of
// the physical network (no bridge), and a VM on the chassis pings a host
// that is on that network only. (Untagged: the kernels here have no 8021q
// module to make the tagged host; the VLAN is checked in the maps.)
func TestPrivilegedLocalnet(t *testing.T) {
	testutil.Need(t, "ping", "nsenter", "ethtool")
	ovnbpfd, ovnbpfctl := buildBinaries(t)
	c, err := central.Start(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	ns, vm, phys := testutil.NetNS(t), testutil.NetNS(t), testutil.NetNS(t)
	ip := func(args ...string) { testutil.MustRun(t, append([]string{"ip"}, args...)...) }
	ip("-n", ns, "link", "add", "ul0", "type", "veth", "peer", "name", "ul0p")
	ip("-n", ns, "addr", "add", "192.0.2.81/24", "dev", "ul0")
	ip("-n", ns, "link", "set", "ul0", "up")
	ip("-n", ns, "link", "set", "ul0p", "up")
	// the physical network: eth1 on the chassis, a host behind it; eth2
	// carries a second network, on VLAN 42
	ip("-n", ns, "link", "add", "eth1", "type", "veth", "peer", "name", "eth0", "netns", phys)
	ip("-n", ns, "link", "add", "eth2", "type", "veth", "peer", "name", "eth2p")
	for _, l := range []string{"eth1", "eth2", "eth2p"} {
		ip("-n", ns, "link", "set", l, "up")
	}
	ip("-n", phys, "link", "set", "eth0", "address", "0a:00:00:00:00:64")
	ip("-n", phys, "addr", "add", "10.0.0.100/24", "dev", "eth0")
	ip("-n", phys, "link", "set", "eth0", "up")
	testutil.MustRun(t, "ip", "netns", "exec", phys, "ethtool", "-K", "eth0", "tx", "off")

	name := fmt.Sprintf("obl-%d", os.Getpid())
	ch := startChassisNS(t, c, ovnbpfd, name, ns, "192.0.2.81")
	if _, err := ch.OVS.VSCtl("set", "Open_vSwitch", ".", "external_ids:ovn-bridge-mappings=physnet:eth1,vlannet:eth2"); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range [][]string{
		{"ls-add", "sw0"},
		{"lsp-add", "sw0", "vm1"}, {"lsp-set-addresses", "vm1", "0a:00:00:00:00:01 10.0.0.1"},
		{"lsp-add", "sw0", "ln0"}, {"lsp-set-type", "ln0", "localnet"},
		{"lsp-set-addresses", "ln0", "unknown"}, {"lsp-set-options", "ln0", "network_name=physnet"},
		{"ls-add", "sw1"}, {"lsp-add", "sw1", "vm2"}, {"lsp-set-addresses", "vm2", "0a:00:00:00:01:02 10.1.0.2"},
		{"lsp-add", "sw1", "ln1", "", "42"}, {"lsp-set-type", "ln1", "localnet"},
		{"lsp-set-addresses", "ln1", "unknown"}, {"lsp-set-options", "ln1", "network_name=vlannet"},
	} {
		if _, err := c.NBCtl(cmd...); err != nil {
			t.Fatal(err)
		}
	}
	ch.vm(t, vm, "tap1", "vm1", "0a:00:00:00:00:01", "10.0.0.1/24")
	ch.vm(t, testutil.NetNS(t), "tap2", "vm2", "0a:00:00:00:01:02", "10.1.0.2/24")
	waitFor(t, "vm1 up", func() string {
		out, _ := c.NBCtl("get", "Logical_Switch_Port", "vm1", "up")
		if strings.TrimSpace(out) != "true" {
			return "up=" + out
		}
		return ""
	})
	if _, err := c.NBCtl("--wait=hv", "--timeout=10", "sync"); err != nil {
		t.Fatal(err)
	}
	dump := mustRun(t, ovnbpfctl, "dump-maps", "--ctl-socket="+ch.Sock)
	var localnets []string
	for _, l := range strings.Split(dump, "\n") {
		if strings.Contains(l, "type=localnet") || strings.HasPrefix(l, "dp=") && strings.Contains(l, "localnet_port=") && !strings.HasSuffix(l, "localnet_port=0") {
			localnets = append(localnets, l)
		}
	}
	// two localnet ports (one on VLAN 42) and their two datapaths
	if len(localnets) != 4 || !strings.Contains(dump, "vlan=42") {
		t.Errorf("localnet ports in the maps: %q\n%s", localnets, dump)
	}
	out, err := exec.Command("ip", "netns", "exec", vm, "ping", "-c", "3", "-i", "0.2", "-W", "1", "10.0.0.100").CombinedOutput()
	if err != nil {
		t.Fatalf("vm1 -> host on the physical network (VLAN 42): %v\n%s", err, out)
	}
}

package lab

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/ovnbpf/ovnbpf/internal/testutil"
)

// The Vagrant lab builds DemoScenario; `ovnbpf-lab up --demo` builds the
// demo: they must be one topology.
// The demo places two VMs per switch, alternating over the first two
// chassis, each with a port on its switch and the router as gateway.
func TestDemoScenario(t *testing.T) {
	s, err := DemoScenario([]string{"hv1", "hv2", "hv3"})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.VMs) != 4 || len(s.OnChassis("hv1")) != 2 || len(s.OnChassis("hv2")) != 2 || len(s.OnChassis("hv3")) != 0 {
		t.Errorf("demo placement: %+v", deref(s.VMs))
	}
	for _, v := range s.VMs {
		sw := s.switchOf(v)
		var gw string
		for _, x := range s.Switches {
			if x.Name == sw {
				gw = x.RouterIP
			}
		}
		if gw == "" || v.GW != gw || v.MTU != DefaultMTU {
			t.Errorf("VM %s: switch %q gateway %q MTU %d", v.Name, sw, v.GW, v.MTU)
		}
	}
	if _, err := DemoScenario(nil); err == nil {
		t.Error("DemoScenario with no chassis: no error")
	}
	one, _ := DemoScenario([]string{"hv1"})
	if got := len(one.OnChassis("hv1")); got != len(one.VMs) {
		t.Errorf("one chassis holds %d of %d VMs", got, len(one.VMs))
	}
}

func deref(vms []*VM) []VM {
	var out []VM
	for _, v := range vms {
		out = append(out, *v)
	}
	return out
}

// The shared pieces (NBArgs, PlugCommands, PingAll) drive a real lab chassis
// exactly as the Vagrant lab drives its chassis VMs.
func TestPrivilegedScenarioOnLabChassis(t *testing.T) {
	testutil.Privileged(t)
	testutil.Need(t, "ovs-vswitchd", "ovn-controller", "ovn-northd", "ping", "ethtool")
	t.Setenv("OVNBPF_LAB_DIR", t.TempDir())
	name := fmt.Sprintf("s%d", os.Getpid()%100000)
	t.Cleanup(func() { _ = Down(name) })
	chassis, err := ParseChassis("hv1=ovs")
	if err != nil {
		t.Fatal(err)
	}
	l, err := Up(Options{Name: name, Chassis: chassis})
	if err != nil {
		t.Fatal(err)
	}
	s, err := DemoScenario([]string{"hv1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Central().NBCtl(s.NBArgs()...); err != nil {
		t.Fatal(err)
	}
	c := l.Chassis[0]
	vsctl := []string{"env"}
	vsctl = append(vsctl, l.chassisEnv(c)...)
	vsctl = append(vsctl, "ovs-vsctl", "--db=unix:"+l.DBSocket(c.Name), "--timeout=30")
	for _, v := range s.OnChassis("hv1") {
		for _, cmd := range PlugCommands(v, Namespace(name, v.Name), Namespace(name, c.Name), vsctl) {
			testutil.MustRun(t, cmd...)
		}
	}
	for _, v := range s.VMs {
		if _, err := l.Central().NBCtl("--timeout=60", "wait-until", "Logical_Switch_Port", v.LPort, "up=true"); err != nil {
			t.Fatalf("port %s: %v", v.LPort, err)
		}
	}
	res := PingAll(s.VMs, s.VMs, func(v *VM, argv []string) ([]byte, error) {
		return exec.Command("ip", append([]string{"netns", "exec", Namespace(name, v.Name)}, argv...)...).CombinedOutput()
	})
	if len(res) != len(s.VMs)*(len(s.VMs)-1) {
		t.Fatalf("%d results for %d VMs", len(res), len(s.VMs))
	}
	var fails []string
	for _, r := range res {
		if !r.OK {
			fails = append(fails, fmt.Sprintf("%s->%s: %s", r.From, r.To, r.Err))
		}
	}
	if len(fails) > 0 {
		t.Fatalf("pings failed: %s", strings.Join(fails, "; "))
	}
	// A VM whose port is gone must stop answering: the check can fail.
	testutil.MustRun(t, append(vsctl, "del-port", "br-int", "vm2")...)
	if r := PingAll(s.VMs[:1], s.VMs[1:2], func(v *VM, argv []string) ([]byte, error) {
		return exec.Command("ip", append([]string{"netns", "exec", Namespace(name, v.Name)}, argv...)...).CombinedOutput()
	}); r[0].OK {
		t.Fatal("ping to an unplugged VM succeeded")
	}
}

package controller

import (
	"maps"
	"testing"

	"github.com/ovnbpf/ovnbpf/controller/sbdb"
	"github.com/ovnbpf/ovnbpf/internal/testutil"
	ovnmaps "github.com/ovnbpf/ovnbpf/maps"
	"github.com/vishvananda/netlink"
)

// A State that changes a few ports is applied by looking at those and at
// the ports whose entries read theirs; a walk of every port afterwards
// must find nothing to change.
func TestPrivilegedPortPatchMatchesWalk(t *testing.T) {
	testutil.Privileged(t)
	testutil.Need(t, "ip")
	b := newTestDatapath(t, "portpatch")
	ns := testutil.NetNS(t)
	for _, dev := range []string{"va", "vb"} {
		testutil.MustRun(t, "ip", "-n", ns, "link", "add", dev, "type", "veth", "peer", "name", dev+"p")
		testutil.MustRun(t, "ip", "-n", ns, "link", "set", dev, "up")
	}
	enterNetNS(t, ns)
	s1 := &State{
		Chassis: "hv1",
		Datapaths: map[int]*sbdb.DatapathBinding{1: {UUID: "dp-sw", TunnelKey: 1},
			2: {UUID: "dp-r", TunnelKey: 2, ExternalIDs: map[string]string{"logical-router": "r"}}},
		Ports: map[string]*sbdb.PortBinding{
			"vif1":  {UUID: "pb1", Datapath: "dp-sw", TunnelKey: 1},
			"vif2":  {UUID: "pb2", Datapath: "dp-sw", TunnelKey: 2},
			"vif3":  {UUID: "pb3", Datapath: "dp-sw", TunnelKey: 3},
			"sw-rp": {UUID: "pb4", Datapath: "dp-sw", TunnelKey: 4, Type: "patch", Options: map[string]string{"peer": "rp-sw"}},
			"rp-sw": {UUID: "pb5", Datapath: "dp-r", TunnelKey: 1, Type: "patch", Options: map[string]string{"peer": "sw-rp"}},
			"cr-rp": {UUID: "pb6", Datapath: "dp-r", TunnelKey: 2, Type: "chassisredirect", Options: map[string]string{"distributed-port": "rp-sw"}},
		},
		LocalPorts:  map[string]LocalPort{},
		PortChassis: map[string]string{"vif1": "hv1", "vif2": "hv1", "cr-rp": "hv1"},
	}
	s1.LocalPorts["vif1"] = LocalPort{LogicalPort: "vif1", Ifname: "va", Ifindex: linkIndex(t, "va"), Up: true}
	s1.LocalPorts["vif2"] = LocalPort{LogicalPort: "vif2", Ifname: "vb", Ifindex: linkIndex(t, "vb"), Up: true}
	b.moved = map[[2]uint32]bool{}
	f1 := newResolverFacts(s1, nil)
	if err := b.applyPorts(s1, f1); err != nil {
		t.Fatal(err)
	}
	b.portsIn = portInputsOf(s1, b.underlay)
	if len(b.ports) != 5 || len(b.binds) != 2 || len(b.attached) != 2 {
		t.Fatalf("first walk: %d ports, %d bindings, %d devices; want 5, 2, 2", len(b.ports), len(b.binds), len(b.attached))
	}

	// rp-sw goes (sw-rp and cr-rp read it), vif2 leaves its netdev, vif4
	// comes on it
	s2 := &State{Chassis: s1.Chassis, Datapaths: s1.Datapaths, Ports: maps.Clone(s1.Ports),
		LocalPorts: maps.Clone(s1.LocalPorts), PortChassis: maps.Clone(s1.PortChassis),
		PortDelta: &PortDelta{Base: mapPointer(s1.Ports), Changed: []string{"rp-sw", "vif2", "vif4"}}}
	delete(s2.Ports, "rp-sw")
	delete(s2.LocalPorts, "vif2")
	delete(s2.PortChassis, "vif2")
	s2.Ports["vif4"] = &sbdb.PortBinding{UUID: "pb7", Datapath: "dp-sw", TunnelKey: 5}
	s2.LocalPorts["vif4"] = LocalPort{LogicalPort: "vif4", Ifname: "vb", Ifindex: linkIndex(t, "vb"), Up: true}
	s2.PortChassis["vif4"] = "hv1"
	b.moved = map[[2]uint32]bool{}
	f2 := newResolverFacts(s2, f1)
	patched, err := b.patchPorts(s2, f2)
	if err != nil || !patched {
		t.Fatalf("patch: %v %v, want it taken", patched, err)
	}
	if _, ok := b.ports[[2]uint32{1, 4}]; ok {
		t.Errorf("sw-rp kept its entry after its peer went")
	}
	if _, ok := b.ports[[2]uint32{2, 2}]; ok {
		t.Errorf("cr-rp kept its entry after its distributed port went")
	}
	if p, ok := b.ports[[2]uint32{1, 5}]; !ok || p.Type != ovnmaps.PortVIF {
		t.Errorf("vif4: %+v %v, want a VIF entry", p, ok)
	}
	patchedDump, err := ovnmaps.DumpMaps(&b.dp.Objs.DatapathMaps)
	if err != nil {
		t.Fatal(err)
	}
	ports, binds, attached := maps.Clone(b.ports), maps.Clone(b.binds), maps.Clone(b.attached)
	b.moved = map[[2]uint32]bool{}
	if err := b.applyPorts(s2, f2); err != nil {
		t.Fatal(err)
	}
	walkDump, err := ovnmaps.DumpMaps(&b.dp.Objs.DatapathMaps)
	if err != nil {
		t.Fatal(err)
	}
	if d := patchedDump.Diff(walkDump); len(d) > 0 {
		t.Errorf("the walk after the patch changed the maps: %q", d)
	}
	if !maps.Equal(ports, b.ports) || !maps.Equal(binds, b.binds) || !maps.Equal(attached, b.attached) {
		t.Errorf("patch and walk differ: ports %v / %v, bindings %v / %v, devices %v / %v", ports, b.ports, binds, b.binds, attached, b.attached)
	}

	// a localnet port: its ports are walked
	s3 := &State{Chassis: s2.Chassis, Datapaths: s2.Datapaths, Ports: maps.Clone(s2.Ports), LocalPorts: s2.LocalPorts,
		PortChassis: s2.PortChassis, PortDelta: &PortDelta{Base: mapPointer(s2.Ports), Changed: []string{"ln"}}}
	s3.Ports["ln"] = &sbdb.PortBinding{UUID: "pb8", Datapath: "dp-sw", TunnelKey: 6, Type: "localnet"}
	b.portsIn = portInputsOf(s2, b.underlay)
	if patched, err := b.patchPorts(s3, newResolverFacts(s3, f2)); patched || err != nil {
		t.Errorf("a localnet port's change was patched (%v %v), want a walk", patched, err)
	}
}

func linkIndex(t *testing.T, dev string) int {
	t.Helper()
	link, err := netlink.LinkByName(dev)
	if err != nil {
		t.Fatal(err)
	}
	return link.Attrs().Index
}

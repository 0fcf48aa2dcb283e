package controller

import (
	"net/netip"
	"testing"

	"github.com/ovnbpf/ovnbpf/controller/sbdb"
	"github.com/ovnbpf/ovnbpf/internal/testutil"
	"github.com/ovnbpf/ovnbpf/maps"
)

// A chassisredirect port claimed by this chassis (the active gateway) is
// programmed as a redirect to its distributed port; claimed elsewhere, as a
// remote port on that chassis; one whose distributed port is missing or on
// another datapath forwards nothing (OVN drops it too).
func TestPrivilegedApplyPortsChassisRedirect(t *testing.T) {
	testutil.Privileged(t)
	enterNetNS(t, testutil.NetNS(t))
	b := newTestDatapath(t, "adapter-cr")
	s := &State{
		Chassis: "gw1",
		Datapaths: map[int]*sbdb.DatapathBinding{
			5: {UUID: "dp-r0", TunnelKey: 5, ExternalIDs: map[string]string{"logical-router": "r0"}},
			6: {UUID: "dp-pub", TunnelKey: 6},
		},
		Ports: map[string]*sbdb.PortBinding{
			"r0-pub":    {UUID: "pb1", Datapath: "dp-r0", TunnelKey: 2, Type: "patch", Options: map[string]string{"peer": "pub-r0"}},
			"pub-r0":    {UUID: "pb2", Datapath: "dp-pub", TunnelKey: 1, Type: "patch", Options: map[string]string{"peer": "r0-pub"}},
			"cr-r0-pub": {UUID: "pb3", Datapath: "dp-r0", TunnelKey: 3, Type: "chassisredirect", Options: map[string]string{"distributed-port": "r0-pub"}},
		},
		LocalPorts:    map[string]LocalPort{},
		PortChassis:   map[string]string{"cr-r0-pub": "gw1"},
		RemoteChassis: map[string]string{"gw2": "192.0.2.9"},
	}
	port := func() (maps.DatapathOvnbpfPort, bool) {
		t.Helper()
		return lookupEntry[maps.DatapathOvnbpfPort](t, b.dp.Objs.OvnbpfPorts, &maps.DatapathOvnbpfPortKey{Dp: 5, Port: 3})
	}
	apply := func() {
		t.Helper()
		if err := b.applyPorts(s, newResolverFacts(s, nil)); err != nil {
			t.Fatal(err)
		}
	}

	apply()
	if v, ok := port(); !ok || v.Type != maps.PortRedirect || v.PeerDp != 5 || v.PeerPort != 2 {
		t.Errorf("resident cr port: %v %+v, want a redirect to r0-pub (5/2)", ok, v)
	}

	s.PortChassis["cr-r0-pub"] = "gw2"
	apply()
	if v, ok := port(); !ok || v.Type != maps.PortRemote || v.ChassisIp != maps.BE32(netip.MustParseAddr("192.0.2.9")) {
		t.Errorf("cr port on gw2: %v %+v, want remote at 192.0.2.9", ok, v)
	}

	s.PortChassis["cr-r0-pub"] = "gw1"
	s.Ports["cr-r0-pub"].Options = map[string]string{"distributed-port": "pub-r0"}
	apply()
	if v, ok := port(); ok {
		t.Errorf("cr port whose distributed port is on another datapath: %+v, want no port", v)
	}
}

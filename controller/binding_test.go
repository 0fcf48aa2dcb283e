package controller

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/ovnbpf/ovnbpf/controller/sbdb"
)

func ptr[T any](v T) *T { return &v }

func TestDecide(t *testing.T) {
	self := Self{UUID: "u-hv1", Name: "hv1", Hostname: "host1"}
	base := func() *BindInput {
		return &BindInput{
			Self: self,
			Chassis: map[string]*sbdb.Chassis{
				"u-hv1": {UUID: "u-hv1", Name: "hv1", Hostname: "host1"},
				"u-hv2": {UUID: "u-hv2", Name: "hv2", Hostname: "host2"},
			},
			VIFs:           map[string]VIF{"vm1": {IfaceID: "vm1", Ifname: "tap1"}},
			BridgeMappings: map[string]string{"physnet1": "br-eth1"},
			GatewayChassis: map[string]*sbdb.GatewayChassis{
				"g1": {UUID: "g1", Chassis: ptr("u-hv1"), Priority: 10},
				"g2": {UUID: "g2", Chassis: ptr("u-hv2"), Priority: 20},
				"g3": {UUID: "g3", Chassis: ptr("u-gone"), Priority: 30},
			},
			HAGroups: map[string]*sbdb.HAChassisGroup{"hg": {UUID: "hg", HaChassis: []string{"h1", "h2"}}},
			HAChassis: map[string]*sbdb.HAChassis{
				"h1": {UUID: "h1", Chassis: ptr("u-hv1"), Priority: 50},
				"h2": {UUID: "h2", Chassis: ptr("u-hv2"), Priority: 40},
			},
			Ports: map[string]*sbdb.PortBinding{},
		}
	}
	vm1 := func(mod func(*sbdb.PortBinding)) *sbdb.PortBinding {
		pb := &sbdb.PortBinding{LogicalPort: "vm1", Options: map[string]string{}}
		if mod != nil {
			mod(pb)
		}
		return pb
	}
	tests := []struct {
		name string
		pb   *sbdb.PortBinding
		in   func(*BindInput)
		want Role
	}{
		{"vif with local interface", vm1(nil), nil, RoleMain},
		{"vif without local interface", &sbdb.PortBinding{LogicalPort: "vm9"}, nil, RoleNone},
		{"requested-chassis column is us", vm1(func(p *sbdb.PortBinding) { p.RequestedChassis = ptr("u-hv1") }), nil, RoleMain},
		{"requested-chassis column is another", vm1(func(p *sbdb.PortBinding) { p.RequestedChassis = ptr("u-hv2") }), nil, RoleNone},
		{"requested additional chassis column", vm1(func(p *sbdb.PortBinding) {
			p.RequestedChassis = ptr("u-hv2")
			p.RequestedAdditionalChassis = []string{"u-hv1"}
		}), nil, RoleAdditional},
		{"requested-chassis option by name", vm1(func(p *sbdb.PortBinding) { p.Options["requested-chassis"] = "hv1" }), nil, RoleMain},
		{"requested-chassis option by hostname", vm1(func(p *sbdb.PortBinding) { p.Options["requested-chassis"] = "host1" }), nil, RoleMain},
		{"requested-chassis option elsewhere", vm1(func(p *sbdb.PortBinding) { p.Options["requested-chassis"] = "hv2" }), nil, RoleNone},
		{"requested-chassis option second = additional", vm1(func(p *sbdb.PortBinding) { p.Options["requested-chassis"] = "hv2,host1" }), nil, RoleAdditional},
		{"column wins over option", vm1(func(p *sbdb.PortBinding) {
			p.RequestedChassis = ptr("u-hv2")
			p.Options["requested-chassis"] = "hv1"
		}), nil, RoleNone},
		{"container of local parent", &sbdb.PortBinding{LogicalPort: "c1", ParentPort: ptr("vm1"), Tag: ptr(42)},
			func(in *BindInput) { in.Ports["vm1"] = vm1(nil) }, RoleMain},
		{"container of remote parent", &sbdb.PortBinding{LogicalPort: "c1", ParentPort: ptr("vm1"), Tag: ptr(42)},
			func(in *BindInput) {
				in.Ports["vm1"] = vm1(func(p *sbdb.PortBinding) { p.Options["requested-chassis"] = "hv2" })
			}, RoleNone},
		{"container of unknown parent", &sbdb.PortBinding{LogicalPort: "c1", ParentPort: ptr("vm7")}, nil, RoleNone},
		{"localport is local, never claimed", &sbdb.PortBinding{LogicalPort: "lp", Type: "localport"}, nil, RoleLocal},
		{"localport with a local interface still not claimed", &sbdb.PortBinding{LogicalPort: "vm1", Type: "localport"}, nil, RoleLocal},
		{"localnet mapped", &sbdb.PortBinding{Type: "localnet", Options: map[string]string{"network_name": "physnet1"}}, nil, RoleLocal},
		{"localnet unmapped", &sbdb.PortBinding{Type: "localnet", Options: map[string]string{"network_name": "physnet2"}}, nil, RoleNone},
		{"l2gateway here", &sbdb.PortBinding{Type: "l2gateway", Options: map[string]string{"l2gateway-chassis": "hv1"}}, nil, RoleMain},
		{"l2gateway elsewhere", &sbdb.PortBinding{Type: "l2gateway", Options: map[string]string{"l2gateway-chassis": "hv2"}}, nil, RoleNone},
		{"l3gateway here", &sbdb.PortBinding{Type: "l3gateway", Options: map[string]string{"l3gateway-chassis": "hv1"}}, nil, RoleMain},
		{"l3gateway elsewhere", &sbdb.PortBinding{Type: "l3gateway", Options: map[string]string{"l3gateway-chassis": "hv2"}}, nil, RoleNone},
		{"chassisredirect: ha group, we are highest", &sbdb.PortBinding{Type: "chassisredirect", HaChassisGroup: ptr("hg")}, nil, RoleMain},
		{"chassisredirect: gateway_chassis, hv2 higher (dead hv3 ignored)", &sbdb.PortBinding{Type: "chassisredirect",
			GatewayChassis: []string{"g1", "g2", "g3"}}, nil, RoleNone},
		{"chassisredirect: gateway_chassis, hv2 gone", &sbdb.PortBinding{Type: "chassisredirect",
			GatewayChassis: []string{"g1", "g2"}}, func(in *BindInput) { delete(in.Chassis, "u-hv2") }, RoleMain},
		{"external: ha group", &sbdb.PortBinding{Type: "external", HaChassisGroup: ptr("hg")}, nil, RoleMain},
		{"patch never", &sbdb.PortBinding{LogicalPort: "vm1", Type: "patch"}, nil, RoleNone},
		{"vtep never", &sbdb.PortBinding{LogicalPort: "vm1", Type: "vtep"}, nil, RoleNone},
		{"virtual not bound here", &sbdb.PortBinding{LogicalPort: "vm1", Type: "virtual"}, nil, RoleNone},
		{"unknown type", &sbdb.PortBinding{LogicalPort: "vm1", Type: "weird"}, nil, RoleNone},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := base()
			if tt.in != nil {
				tt.in(in)
			}
			got, why := Decide(tt.pb, in)
			if got != tt.want {
				t.Errorf("Decide = %v (%s), want %v", got, why, tt.want)
			}
			if why == "" {
				t.Errorf("no reason given")
			}
		})
	}
}

func TestDedupVIFs(t *testing.T) {
	a := VIF{IfaceID: "p", Ifname: "tapA", InterfaceUUID: "1"}
	b := VIF{IfaceID: "p", Ifname: "tapB", InterfaceUUID: "2"}
	c := VIF{IfaceID: "q", Ifname: "tapC"}
	got, dups := DedupVIFs([]VIF{b, c, a}, nil)
	if got["p"] != a || got["q"] != c || len(dups) != 1 || dups[0] != b {
		t.Errorf("first by name should win: got %v dups %v", got, dups)
	}
	// An interface already bound keeps the port even if a lower name appears.
	got, dups = DedupVIFs([]VIF{a, b}, map[string]VIF{"p": b})
	if got["p"] != b || len(dups) != 1 || dups[0] != a {
		t.Errorf("bound interface should keep the port: got %v dups %v", got, dups)
	}
	got, _ = DedupVIFs([]VIF{{Ifname: "x"}}, nil)
	if len(got) != 0 {
		t.Errorf("interface without iface-id kept: %v", got)
	}
}

func TestClaimThrottle(t *testing.T) {
	th := &ClaimThrottle{Base: time.Second, Max: 4 * time.Second}
	t0 := time.Unix(1000, 0)
	if ok, _ := th.Allow("p", false, t0); !ok {
		t.Fatal("first claim refused")
	}
	th.Claimed("p", false, t0)
	// Taken by another chassis right away: the next claim waits.
	steps := []struct {
		at   time.Duration
		want bool
	}{{0, false}, {999 * time.Millisecond, false}, {time.Second, true}}
	for _, s := range steps {
		if ok, _ := th.Allow("p", true, t0.Add(s.at)); ok != s.want {
			t.Errorf("Allow at +%v = %v, want %v", s.at, ok, s.want)
		}
	}
	// Each lost round doubles the wait, up to Max.
	now := t0.Add(time.Second)
	wants := []time.Duration{2 * time.Second, 4 * time.Second, 4 * time.Second}
	for _, w := range wants {
		th.Claimed("p", true, now)
		ok, next := th.Allow("p", true, now)
		if ok || next.Sub(now) != w {
			t.Errorf("after a lost round: ok=%v wait=%v, want wait %v", ok, next.Sub(now), w)
		}
		now = next
	}
	// Not held by anyone: no wait.
	if ok, _ := th.Allow("p", false, now); !ok {
		t.Errorf("unheld port throttled")
	}
	th.Forget("p")
	if th.Contested("p") {
		t.Errorf("Forget kept history")
	}
}

func TestLocalDatapaths(t *testing.T) {
	ports := map[string]*sbdb.PortBinding{
		"vm1":     {LogicalPort: "vm1", Datapath: "sw1"},
		"sw1-lr":  {LogicalPort: "sw1-lr", Datapath: "sw1", Type: "patch", Options: map[string]string{"peer": "lr-sw1"}},
		"lr-sw1":  {LogicalPort: "lr-sw1", Datapath: "lr", Type: "patch", Options: map[string]string{"peer": "sw1-lr"}},
		"lr-sw2":  {LogicalPort: "lr-sw2", Datapath: "lr", Type: "patch", Options: map[string]string{"peer": "sw2-lr"}},
		"sw2-lr":  {LogicalPort: "sw2-lr", Datapath: "sw2", Type: "patch", Options: map[string]string{"peer": "lr-sw2"}},
		"lr-sw3":  {LogicalPort: "lr-sw3", Datapath: "lr", Type: "patch", Options: map[string]string{"peer": "sw3-lr"}},
		"vm9":     {LogicalPort: "vm9", Datapath: "sw9"},
		"gw-port": {LogicalPort: "gw-port", Datapath: "sw9", Type: "l3gateway", Options: map[string]string{"peer": "gr-port"}},
	}
	roles := map[string]Role{"vm1": RoleMain, "vm9": RoleNone, "gw-port": RoleNone}
	local, missing := LocalDatapaths(ports, roles)
	want := map[string]bool{"sw1": true, "lr": true, "sw2": true}
	if !reflect.DeepEqual(local, want) {
		t.Errorf("local = %v, want %v", local, want)
	}
	if !reflect.DeepEqual(missing, []string{"sw3-lr"}) {
		t.Errorf("missing = %v, want the unmonitored peer sw3-lr", missing)
	}
	none, _ := LocalDatapaths(ports, map[string]Role{"vm1": RoleLocal})
	if len(none) != 0 {
		t.Errorf("a localport-like role made datapaths local: %v", none)
	}
}

func TestCheckOwnership(t *testing.T) {
	now := time.Unix(10000, 0)
	fresh := int(now.Add(-time.Minute).UnixMilli())
	stale := int(now.Add(-time.Hour).UnixMilli())
	hb := func(ms int) map[string]string { return map[string]string{keyHeartbeat: itoa(ms)} }
	tests := []struct {
		name string
		ch   *sbdb.Chassis
		priv *sbdb.ChassisPrivate
		ok   bool
	}{
		{"no row", nil, nil, true},
		{"our host-id", &sbdb.Chassis{Name: "hv1", Hostname: "other", ExternalIDs: map[string]string{keyHostID: "me"}},
			&sbdb.ChassisPrivate{ExternalIDs: hb(fresh)}, true},
		{"other host-id, alive", &sbdb.Chassis{Name: "hv1", Hostname: "h2", ExternalIDs: map[string]string{keyHostID: "them"}},
			&sbdb.ChassisPrivate{ExternalIDs: hb(fresh)}, false},
		{"other host-id, dead", &sbdb.Chassis{Name: "hv1", Hostname: "h2", ExternalIDs: map[string]string{keyHostID: "them"}},
			&sbdb.ChassisPrivate{ExternalIDs: hb(stale), NbCfgTimestamp: stale}, true},
		{"other host-id, no private row", &sbdb.Chassis{Name: "hv1", ExternalIDs: map[string]string{keyHostID: "them"}}, nil, true},
		{"ovn-controller on another host, acked recently", &sbdb.Chassis{Name: "hv1", Hostname: "h2"},
			&sbdb.ChassisPrivate{NbCfgTimestamp: fresh}, false},
		{"ovn-controller row on this host", &sbdb.Chassis{Name: "hv1", Hostname: "h1"},
			&sbdb.ChassisPrivate{NbCfgTimestamp: fresh}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckOwnership(tt.ch, tt.priv, "me", "h1", now)
			if (err == nil) != tt.ok {
				t.Errorf("CheckOwnership = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func itoa(i int) string { return fmt.Sprint(i) }

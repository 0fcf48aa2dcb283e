package controller

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/ovn-org/libovsdb/client"
	"github.com/ovn-org/libovsdb/model"
	"github.com/ovn-org/libovsdb/ovsdb"

	"github.com/ovnbpf/ovnbpf/controller/sbdb"
	"github.com/ovnbpf/ovnbpf/controller/vswitchd"
)

// --ovs-compat: keep the integration bridge in the local OVSDB the way
// ovn-controller does, so tools that look at it (ovs-vsctl show, os-vif,
// ovn-kubernetes) find what they expect: br-int with fail-mode=secure and
// in-band control off, and one Geneve tunnel port per remote chassis.

// keyChassisID on a tunnel Port names the remote chassis and endpoints
// ("<chassis>@<remote ip>%<local ip>"), as ovn-controller writes it.
const keyChassisID = "ovn-chassis-id"

// Tunnel is one wanted tunnel port.
type Tunnel struct {
	Chassis  string
	RemoteIP string
	LocalIP  string
	Csum     bool
}

func (t Tunnel) id() string {
	if t.LocalIP == "" {
		return t.Chassis + "@" + t.RemoteIP
	}
	return t.Chassis + "@" + t.RemoteIP + "%" + t.LocalIP
}

// WantedTunnels lists a tunnel to every other chassis' Geneve encap.
func WantedTunnels(self string, localIP string, chassis map[string]*sbdb.Chassis, encaps map[string]*sbdb.Encap) []Tunnel {
	var out []Tunnel
	for _, ch := range chassis {
		if ch.Name == self {
			continue
		}
		for _, e := range ch.Encaps {
			enc, ok := encaps[e]
			if !ok || enc.Type != sbdb.EncapTypeGeneve {
				continue
			}
			out = append(out, Tunnel{Chassis: ch.Name, RemoteIP: enc.IP, LocalIP: localIP, Csum: enc.Options["csum"] == "true"})
			break
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Chassis < out[j].Chassis })
	return out
}

// TunnelPortName is ovn-controller's name for a tunnel port: "ovn-", the
// first six characters of the chassis name, "-" and the first free index in
// hex.
func TunnelPortName(chassis string, taken map[string]bool) string {
	prefix := chassis
	if len(prefix) > 6 {
		prefix = prefix[:6]
	}
	for i := 0; ; i++ {
		n := fmt.Sprintf("ovn-%s-%x", prefix, i)
		if !taken[n] {
			return n
		}
	}
}

// syncOVSCompat makes the integration bridge and its tunnel ports match.
func syncOVSCompat(ctx context.Context, ovs client.Client, bridge string, tunnels []Tunnel) error {
	var brs []vswitchd.Bridge
	if err := ovs.WhereCache(func(b *vswitchd.Bridge) bool { return b.Name == bridge }).List(ctx, &brs); err != nil {
		return fmt.Errorf("listing bridges: %w", err)
	}
	var roots []vswitchd.OpenvSwitch
	if err := ovs.List(ctx, &roots); err != nil || len(roots) == 0 {
		return fmt.Errorf("no Open_vSwitch row in the local OVSDB (run ovs-vsctl init)")
	}
	secure := vswitchd.BridgeFailModeSecure
	if len(brs) == 0 {
		// A bridge as `ovs-vsctl add-br` makes it: an internal port of its name.
		ifc := &vswitchd.Interface{UUID: "brif", Name: bridge, Type: "internal"}
		port := &vswitchd.Port{UUID: "brport", Name: bridge, Interfaces: []string{"brif"}}
		br := &vswitchd.Bridge{UUID: "br", Name: bridge, Ports: []string{"brport"}, FailMode: &secure,
			OtherConfig: map[string]string{"disable-in-band": "true"}}
		var ops []ovsdb.Operation
		for _, m := range []model.Model{ifc, port, br} {
			o, err := ovs.Create(m)
			if err != nil {
				return fmt.Errorf("creating %s: %w", bridge, err)
			}
			ops = append(ops, o...)
		}
		root := &roots[0]
		o, err := ovs.Where(root).Mutate(root, model.Mutation{Field: &root.Bridges, Mutator: ovsdb.MutateOperationInsert, Value: []string{"br"}})
		if err != nil {
			return fmt.Errorf("creating %s: %w", bridge, err)
		}
		ops = append(ops, o...)
		_, err = transact(ctx, ovs, "creating "+bridge, ops...)
		return err // the cache update brings us back here for the tunnels
	}
	br := brs[0]
	var ops []ovsdb.Operation
	if br.FailMode == nil || *br.FailMode != secure || br.OtherConfig["disable-in-band"] != "true" {
		row := &vswitchd.Bridge{UUID: br.UUID, FailMode: &secure}
		o, err := ovs.Where(row).Update(row, &row.FailMode)
		if err != nil {
			return fmt.Errorf("securing %s: %w", bridge, err)
		}
		ops = append(ops, o...)
		m, err := ovs.Where(row).Mutate(row,
			model.Mutation{Field: &row.OtherConfig, Mutator: ovsdb.MutateOperationDelete, Value: []string{"disable-in-band"}},
			model.Mutation{Field: &row.OtherConfig, Mutator: ovsdb.MutateOperationInsert, Value: map[string]string{"disable-in-band": "true"}})
		if err != nil {
			return fmt.Errorf("securing %s: %w", bridge, err)
		}
		ops = append(ops, m...)
	}

	// Existing ports on the bridge: names taken, and tunnels by id.
	onBridge := map[string]bool{}
	for _, p := range br.Ports {
		onBridge[p] = true
	}
	var ports []vswitchd.Port
	if err := ovs.WhereCache(func(p *vswitchd.Port) bool { return onBridge[p.UUID] }).List(ctx, &ports); err != nil {
		return fmt.Errorf("listing ports: %w", err)
	}
	taken := map[string]bool{}
	have := map[string]vswitchd.Port{}
	for _, p := range ports {
		taken[p.Name] = true
		if id := p.ExternalIDs[keyChassisID]; id != "" {
			have[id] = p
		}
	}
	want := map[string]bool{}
	var added []string
	for i, t := range tunnels {
		want[t.id()] = true
		if _, ok := have[t.id()]; ok {
			continue
		}
		name := TunnelPortName(t.Chassis, taken)
		taken[name] = true
		opts := map[string]string{"remote_ip": t.RemoteIP, "key": "flow"}
		if t.LocalIP != "" {
			opts["local_ip"] = t.LocalIP
		}
		if t.Csum {
			opts["csum"] = "true"
		}
		ifName, portName := fmt.Sprintf("tif%d", i), fmt.Sprintf("tport%d", i)
		ifc := &vswitchd.Interface{UUID: ifName, Name: name, Type: "geneve", Options: opts}
		port := &vswitchd.Port{UUID: portName, Name: name, Interfaces: []string{ifName},
			ExternalIDs: map[string]string{keyChassisID: t.id()}}
		for _, m := range []model.Model{ifc, port} {
			o, err := ovs.Create(m)
			if err != nil {
				return fmt.Errorf("creating tunnel %s: %w", name, err)
			}
			ops = append(ops, o...)
		}
		added = append(added, portName)
	}
	var removed []string
	for id, p := range have {
		if !want[id] {
			removed = append(removed, p.UUID)
		}
	}
	row := &vswitchd.Bridge{UUID: br.UUID}
	if len(added) > 0 {
		o, err := ovs.Where(row).Mutate(row, model.Mutation{Field: &row.Ports, Mutator: ovsdb.MutateOperationInsert, Value: added})
		if err != nil {
			return fmt.Errorf("adding tunnels: %w", err)
		}
		ops = append(ops, o...)
	}
	if len(removed) > 0 {
		o, err := ovs.Where(row).Mutate(row, model.Mutation{Field: &row.Ports, Mutator: ovsdb.MutateOperationDelete, Value: removed})
		if err != nil {
			return fmt.Errorf("removing tunnels: %w", err)
		}
		ops = append(ops, o...)
	}
	_, err := transact(ctx, ovs, "syncing "+bridge+" tunnels ("+strings.Join(added, ",")+")", ops...)
	return err
}

package controller

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/ovn-org/libovsdb/client"
	"github.com/ovn-org/libovsdb/model"
	"github.com/ovn-org/libovsdb/ovsdb"

	"github.com/ovnbpf/ovnbpf/controller/vswitchd"
)

// The local Open_vSwitch database: the chassis configuration
// (Open_vSwitch.external_ids) and the VIFs (Interface rows with
// external_ids:iface-id). ovs-vswitchd need not run: ovnbpf reads the rows
// the ecosystem (os-vif, ovn-kubernetes, libvirt) writes.

const (
	keyIfaceID        = "iface-id"
	keyOVNInstalled   = "ovn-installed"
	keyOVNInstalledTS = "ovn-installed-ts"
)

func ovsClientModel() (model.ClientDBModel, error) {
	m, err := vswitchd.FullDatabaseModel()
	if err != nil {
		return model.ClientDBModel{}, fmt.Errorf("open_vswitch model: %w", err)
	}
	return m, nil
}

func ovsMonitor(cl client.Client) *client.Monitor {
	var (
		ovs  vswitchd.OpenvSwitch
		br   vswitchd.Bridge
		port vswitchd.Port
		ifc  vswitchd.Interface
	)
	return cl.NewMonitor(
		// The chassis configuration (system-id, ovn-remote, ...) and the
		// bridges, to find the integration bridge.
		client.WithTable(&ovs, &ovs.ExternalIDs, &ovs.Bridges, &ovs.DatapathTypes),
		// The integration bridge's ports are where VIFs are attached.
		client.WithTable(&br, &br.Name, &br.Ports, &br.DatapathType, &br.FailMode, &br.OtherConfig, &br.ExternalIDs),
		client.WithTable(&port, &port.Name, &port.Interfaces, &port.ExternalIDs),
		// iface-id names the logical port; ovn-installed is written back.
		client.WithTable(&ifc, &ifc.Name, &ifc.Type, &ifc.ExternalIDs, &ifc.Options),
	)
}

// ovsExternalIDs returns the Open_vSwitch row's external_ids (nil if the
// table is still empty, e.g. before `ovs-vsctl init`).
func ovsExternalIDs(ctx context.Context, cl client.Client) (map[string]string, error) {
	var rows []vswitchd.OpenvSwitch
	if err := cl.List(ctx, &rows); err != nil {
		return nil, fmt.Errorf("listing Open_vSwitch: %w", err)
	}
	if len(rows) == 0 {
		return nil, nil
	}
	return rows[0].ExternalIDs, nil
}

// ovsVIFs returns the Interfaces with an iface-id on bridge (the
// integration bridge), and whether that bridge exists.
func ovsVIFs(ctx context.Context, cl client.Client, bridge string) ([]VIF, bool, error) {
	var brs []vswitchd.Bridge
	if err := cl.WhereCache(func(b *vswitchd.Bridge) bool { return b.Name == bridge }).List(ctx, &brs); err != nil {
		return nil, false, fmt.Errorf("listing bridges: %w", err)
	}
	if len(brs) == 0 {
		return nil, false, nil
	}
	onBridge := map[string]bool{}
	for _, p := range brs[0].Ports {
		onBridge[p] = true
	}
	var ports []vswitchd.Port
	if err := cl.WhereCache(func(p *vswitchd.Port) bool { return onBridge[p.UUID] }).List(ctx, &ports); err != nil {
		return nil, true, fmt.Errorf("listing ports: %w", err)
	}
	ifaces := map[string]bool{}
	for _, p := range ports {
		for _, i := range p.Interfaces {
			ifaces[i] = true
		}
	}
	var rows []vswitchd.Interface
	if err := cl.WhereCache(func(i *vswitchd.Interface) bool {
		return ifaces[i.UUID] && i.ExternalIDs[keyIfaceID] != ""
	}).List(ctx, &rows); err != nil {
		return nil, true, fmt.Errorf("listing interfaces: %w", err)
	}
	var out []VIF
	for _, r := range rows {
		out = append(out, VIF{IfaceID: r.ExternalIDs[keyIfaceID], Ifname: r.Name, InterfaceUUID: r.UUID})
	}
	return out, true, nil
}

// ovsInstalledInterfaces returns the Interface rows carrying ovn-installed.
func ovsInstalledInterfaces(ctx context.Context, cl client.Client) (map[string]bool, error) {
	var rows []vswitchd.Interface
	if err := cl.WhereCache(func(i *vswitchd.Interface) bool {
		_, ok := i.ExternalIDs[keyOVNInstalled]
		return ok
	}).List(ctx, &rows); err != nil {
		return nil, fmt.Errorf("listing interfaces: %w", err)
	}
	m := make(map[string]bool, len(rows))
	for _, r := range rows {
		m[r.UUID] = true
	}
	return m, nil
}

// ovsSetInstalledOps marks (or unmarks) an Interface as installed, the signal
// CNIs and Nova wait for.
func ovsSetInstalledOps(cl client.Client, uuid string, installed bool, now time.Time) ([]ovsdb.Operation, error) {
	ifc := &vswitchd.Interface{UUID: uuid}
	if installed {
		ops, err := cl.Where(ifc).Mutate(ifc, model.Mutation{
			Field: &ifc.ExternalIDs, Mutator: ovsdb.MutateOperationDelete,
			Value: []string{keyOVNInstalled, keyOVNInstalledTS},
		}, model.Mutation{
			Field: &ifc.ExternalIDs, Mutator: ovsdb.MutateOperationInsert,
			Value: map[string]string{keyOVNInstalled: "true",
				keyOVNInstalledTS: strconv.FormatInt(now.UnixMilli(), 10)},
		})
		if err != nil {
			return nil, fmt.Errorf("marking interface %s installed: %w", uuid, err)
		}
		return ops, nil
	}
	ops, err := cl.Where(ifc).Mutate(ifc, model.Mutation{
		Field: &ifc.ExternalIDs, Mutator: ovsdb.MutateOperationDelete,
		Value: []string{keyOVNInstalled, keyOVNInstalledTS},
	})
	if err != nil {
		return nil, fmt.Errorf("unmarking interface %s: %w", uuid, err)
	}
	return ops, nil
}

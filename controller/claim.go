package controller

import (
	"fmt"
	"time"

	"github.com/ovn-org/libovsdb/client"
	"github.com/ovn-org/libovsdb/model"
	"github.com/ovn-org/libovsdb/ovsdb"

	"github.com/ovnbpf/ovnbpf/controller/sbdb"
)

// Southbound writes of the binding: claims, releases, readiness and the
// nb_cfg acknowledgement. Each builds operations; the controller batches them.

var (
	vTrue  = true
	vFalse = false
)

// claimOps makes us pb's main chassis. up goes false until the datapath
// forwards for the port (readiness is reported after Datapath.Apply).
func claimOps(cl client.Client, pb *sbdb.PortBinding, self string) ([]ovsdb.Operation, error) {
	row := &sbdb.PortBinding{UUID: pb.UUID, Chassis: &self, Up: &vFalse}
	ops, err := cl.Where(row).Update(row, &row.Chassis, &row.Up)
	if err != nil {
		return nil, fmt.Errorf("claiming %s: %w", pb.LogicalPort, err)
	}
	if contains(pb.AdditionalChassis, self) {
		m, err := cl.Where(row).Mutate(row, model.Mutation{Field: &row.AdditionalChassis,
			Mutator: ovsdb.MutateOperationDelete, Value: []string{self}})
		if err != nil {
			return nil, fmt.Errorf("claiming %s: %w", pb.LogicalPort, err)
		}
		ops = append(ops, m...)
	}
	return ops, nil
}

// claimAdditionalOps adds us to pb's additional_chassis (live migration's
// destination, or a port requested on several chassis).
func claimAdditionalOps(cl client.Client, pb *sbdb.PortBinding, self string) ([]ovsdb.Operation, error) {
	row := &sbdb.PortBinding{UUID: pb.UUID}
	ops, err := cl.Where(row).Mutate(row, model.Mutation{Field: &row.AdditionalChassis,
		Mutator: ovsdb.MutateOperationInsert, Value: []string{self}})
	if err != nil {
		return nil, fmt.Errorf("claiming %s as additional chassis: %w", pb.LogicalPort, err)
	}
	return ops, nil
}

// releaseOps gives pb up: clears chassis (only while it is still us: a wait
// makes the transaction fail if another chassis claimed it meanwhile, so a
// migration's new owner is never overwritten), up=false, and drops us from
// additional_chassis.
func releaseOps(cl client.Client, pb *sbdb.PortBinding, self string) ([]ovsdb.Operation, error) {
	row := &sbdb.PortBinding{UUID: pb.UUID}
	var ops []ovsdb.Operation
	if pb.Chassis != nil && *pb.Chassis == self {
		timeout := 0
		want := &sbdb.PortBinding{UUID: pb.UUID, Chassis: &self}
		w, err := cl.Where(row).Wait(ovsdb.WaitConditionEqual, &timeout, want, &want.Chassis)
		if err != nil {
			return nil, fmt.Errorf("releasing %s: %w", pb.LogicalPort, err)
		}
		ops = append(ops, w...)
		upd := &sbdb.PortBinding{UUID: pb.UUID, Chassis: nil, Up: &vFalse}
		u, err := cl.Where(upd).Update(upd, &upd.Chassis, &upd.Up)
		if err != nil {
			return nil, fmt.Errorf("releasing %s: %w", pb.LogicalPort, err)
		}
		ops = append(ops, u...)
	}
	if contains(pb.AdditionalChassis, self) {
		m, err := cl.Where(row).Mutate(row, model.Mutation{Field: &row.AdditionalChassis,
			Mutator: ovsdb.MutateOperationDelete, Value: []string{self}})
		if err != nil {
			return nil, fmt.Errorf("releasing %s: %w", pb.LogicalPort, err)
		}
		ops = append(ops, m...)
	}
	return ops, nil
}

// upOps sets Port_Binding.up.
func upOps(cl client.Client, pb *sbdb.PortBinding, up bool) ([]ovsdb.Operation, error) {
	v := &vFalse
	if up {
		v = &vTrue
	}
	row := &sbdb.PortBinding{UUID: pb.UUID, Up: v}
	ops, err := cl.Where(row).Update(row, &row.Up)
	if err != nil {
		return nil, fmt.Errorf("setting %s up=%v: %w", pb.LogicalPort, up, err)
	}
	return ops, nil
}

// nbCfgOps acknowledges nbCfg in Chassis_Private (what `ovn-nbctl --wait=hv`
// waits for).
func nbCfgOps(cl client.Client, privUUID string, nbCfg int, now time.Time) ([]ovsdb.Operation, error) {
	row := &sbdb.ChassisPrivate{UUID: privUUID, NbCfg: nbCfg, NbCfgTimestamp: int(now.UnixMilli())}
	ops, err := cl.Where(row).Update(row, &row.NbCfg, &row.NbCfgTimestamp)
	if err != nil {
		return nil, fmt.Errorf("acknowledging nb_cfg %d: %w", nbCfg, err)
	}
	return ops, nil
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// isUp reads the optional up column.
func isUp(pb *sbdb.PortBinding) bool { return pb.Up != nil && *pb.Up }

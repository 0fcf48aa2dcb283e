package controller

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ovn-org/libovsdb/client"
	"github.com/ovn-org/libovsdb/model"
	"github.com/ovn-org/libovsdb/ovsdb"

	"github.com/ovnbpf/ovnbpf/controller/sbdb"
)

const (
	// keyHostID marks a Chassis row as registered by this ovnbpf host.
	keyHostID = "ovnbpf-host-id"
	// keyHeartbeat (Chassis_Private.external_ids, unix ms) shows the owner
	// is alive even when nb_cfg does not move; written every HeartbeatInterval.
	keyHeartbeat = "ovnbpf-heartbeat"
)

// HeartbeatInterval is how often the daemon refreshes keyHeartbeat; an owner
// silent for 3 intervals is presumed dead and its chassis may be taken over.
const HeartbeatInterval = 60 * time.Second

// ErrDuplicateChassis: another live host runs a chassis with our system-id.
var ErrDuplicateChassis = errors.New("duplicate chassis")

// Features are the Chassis other_config feature flags ovnbpf implements.
// northd adapts its logical flows to what every chassis advertises, so only
// features the datapath really has are listed.
var Features = map[string]string{
	// Port_Binding.up is written once the datapath forwards for the port.
	"port-up-notif": "true",
}

// CheckOwnership decides whether this host may use an existing Chassis row
// named like us. It refuses (ErrDuplicateChassis) when the row belongs to
// another host that looks alive: another ovnbpf host-id with a fresh
// heartbeat, or (a row without host-id, e.g. ovn-controller's) another
// hostname with a fresh nb_cfg_timestamp. A dead owner's row is taken over.
func CheckOwnership(ch *sbdb.Chassis, priv *sbdb.ChassisPrivate, hostID, hostname string, now time.Time) error {
	if ch == nil {
		return nil
	}
	owner := ch.ExternalIDs[keyHostID]
	if owner == hostID {
		return nil
	}
	if owner == "" && ch.Hostname == hostname {
		return nil // same host, first ovnbpf start (or state folder lost)
	}
	fresh := func(ms int) bool {
		return ms > 0 && now.Sub(time.UnixMilli(int64(ms))) < 3*HeartbeatInterval
	}
	alive := false
	if priv != nil {
		if hb, err := strconv.Atoi(priv.ExternalIDs[keyHeartbeat]); err == nil && fresh(hb) {
			alive = true
		}
		if fresh(priv.NbCfgTimestamp) {
			alive = true
		}
	}
	if !alive {
		return nil
	}
	who := "host-id " + owner
	if owner == "" {
		who = "a chassis that is not ovnbpf"
	}
	return fmt.Errorf("%w: chassis %q is registered by %s on host %q, which is alive: "+
		"give this host another external_ids:system-id, or stop the other one "+
		"(a dead one is taken over after %s, or remove it with `ovn-sbctl chassis-del %s`)",
		ErrDuplicateChassis, ch.Name, who, ch.Hostname, 3*HeartbeatInterval, ch.Name)
}

// chassisOtherConfig is what ovnbpf writes to Chassis.other_config.
func chassisOtherConfig(cfg *Config, datapathType string) map[string]string {
	oc := map[string]string{
		"ovn-bridge-mappings": FormatBridgeMappings(cfg.BridgeMappings),
		"datapath-type":       datapathType,
		"iface-types":         "geneve,system",
		"is-interconn":        "false",
		"ovn-cms-options":     cfg.CMSOptions,
	}
	for k, v := range Features {
		oc[k] = v
	}
	return oc
}

// registration is what ensureChassis found and did.
type registration struct {
	chassisUUID string
	privateUUID string
	changed     bool
}

// ensureChassis creates or updates this chassis' Chassis, Encap and
// Chassis_Private rows in one transaction, after CheckOwnership.
func ensureChassis(ctx context.Context, cl client.Client, cfg *Config, hostID, datapathType string, now time.Time, heartbeat bool) (registration, error) {
	var reg registration
	ch := &sbdb.Chassis{Name: cfg.SystemID}
	if err := cl.Get(ctx, ch); err != nil {
		if !errors.Is(err, client.ErrNotFound) {
			return reg, fmt.Errorf("looking up chassis %s: %w", cfg.SystemID, err)
		}
		ch = nil
	}
	priv := &sbdb.ChassisPrivate{Name: cfg.SystemID}
	if err := cl.Get(ctx, priv); err != nil {
		if !errors.Is(err, client.ErrNotFound) {
			return reg, fmt.Errorf("looking up chassis_private %s: %w", cfg.SystemID, err)
		}
		priv = nil
	}
	if err := CheckOwnership(ch, priv, hostID, cfg.Hostname, now); err != nil {
		return reg, err
	}

	// Encaps: reuse our rows that match; refuse an IP another chassis holds.
	var encs []sbdb.Encap
	if err := cl.List(ctx, &encs); err != nil {
		return reg, fmt.Errorf("listing encaps: %w", err)
	}
	var ops []ovsdb.Operation
	var encapRefs []string
	for i, ip := range cfg.EncapIPs {
		var found *sbdb.Encap
		for j := range encs {
			e := &encs[j]
			if e.Type == sbdb.EncapTypeGeneve && e.IP == ip {
				found = e
			}
		}
		if found != nil && found.ChassisName != cfg.SystemID {
			return reg, fmt.Errorf("registering chassis %s: encap geneve %s is registered by chassis %q: "+
				"set this host's own external_ids:ovn-encap-ip, or remove the stale chassis with `ovn-sbctl chassis-del %s`",
				cfg.SystemID, ip, found.ChassisName, found.ChassisName)
		}
		want := map[string]string{"csum": "true"}
		if found != nil && mapsEqual(found.Options, want) {
			encapRefs = append(encapRefs, found.UUID)
			continue
		}
		if found != nil {
			o, err := cl.Where(found).Update(&sbdb.Encap{UUID: found.UUID, Options: want}, &found.Options)
			if err != nil {
				return reg, fmt.Errorf("updating encap: %w", err)
			}
			ops = append(ops, o...)
			encapRefs = append(encapRefs, found.UUID)
			continue
		}
		named := fmt.Sprintf("encap%d", i)
		o, err := cl.Create(&sbdb.Encap{UUID: named, Type: sbdb.EncapTypeGeneve, IP: ip, Options: want, ChassisName: cfg.SystemID})
		if err != nil {
			return reg, fmt.Errorf("creating encap: %w", err)
		}
		ops = append(ops, o...)
		encapRefs = append(encapRefs, named)
	}

	oc := chassisOtherConfig(cfg, datapathType)
	chassisRef := ""
	if ch == nil {
		row := &sbdb.Chassis{UUID: "chassis", Name: cfg.SystemID, Hostname: cfg.Hostname, Encaps: encapRefs,
			OtherConfig: oc, ExternalIDs: map[string]string{keyHostID: hostID}}
		o, err := cl.Create(row)
		if err != nil {
			return reg, fmt.Errorf("creating chassis: %w", err)
		}
		ops = append(ops, o...)
		chassisRef = "chassis"
	} else {
		chassisRef = ch.UUID
		reg.chassisUUID = ch.UUID
		sortedEq := func(a, b []string) bool {
			a, b = append([]string(nil), a...), append([]string(nil), b...)
			sort.Strings(a)
			sort.Strings(b)
			return strings.Join(a, ",") == strings.Join(b, ",")
		}
		ext := map[string]string{}
		for k, v := range ch.ExternalIDs {
			ext[k] = v
		}
		ext[keyHostID] = hostID
		if ch.Hostname != cfg.Hostname || !sortedEq(ch.Encaps, encapRefs) || !mapsEqual(ch.OtherConfig, oc) || !mapsEqual(ch.ExternalIDs, ext) {
			row := &sbdb.Chassis{UUID: ch.UUID, Hostname: cfg.Hostname, Encaps: encapRefs, OtherConfig: oc, ExternalIDs: ext}
			o, err := cl.Where(row).Update(row, &row.Hostname, &row.Encaps, &row.OtherConfig, &row.ExternalIDs)
			if err != nil {
				return reg, fmt.Errorf("updating chassis: %w", err)
			}
			ops = append(ops, o...)
		}
	}

	hb := map[string]string{keyHeartbeat: strconv.FormatInt(now.UnixMilli(), 10)}
	if priv == nil {
		row := &sbdb.ChassisPrivate{UUID: "private", Name: cfg.SystemID, Chassis: &chassisRef, ExternalIDs: hb}
		o, err := cl.Create(row)
		if err != nil {
			return reg, fmt.Errorf("creating chassis_private: %w", err)
		}
		ops = append(ops, o...)
	} else {
		reg.privateUUID = priv.UUID
		if priv.Chassis == nil || *priv.Chassis != chassisRef || heartbeat {
			row := &sbdb.ChassisPrivate{UUID: priv.UUID, Chassis: &chassisRef}
			o, err := cl.Where(row).Update(row, &row.Chassis)
			if err != nil {
				return reg, fmt.Errorf("updating chassis_private: %w", err)
			}
			ops = append(ops, o...)
			m, err := cl.Where(row).Mutate(row,
				model.Mutation{Field: &row.ExternalIDs, Mutator: ovsdb.MutateOperationDelete, Value: []string{keyHeartbeat}},
				model.Mutation{Field: &row.ExternalIDs, Mutator: ovsdb.MutateOperationInsert, Value: hb})
			if err != nil {
				return reg, fmt.Errorf("updating chassis_private heartbeat: %w", err)
			}
			ops = append(ops, m...)
		}
	}
	if len(ops) == 0 {
		return reg, nil
	}
	res, err := transact(ctx, cl, "registering chassis "+cfg.SystemID, ops...)
	if err != nil {
		return reg, err
	}
	reg.changed = true
	// Named uuids resolve to the real ones in the results of the inserts.
	for i, op := range ops {
		if op.Op != ovsdb.OperationInsert {
			continue
		}
		switch {
		case op.Table == sbdb.ChassisTable:
			reg.chassisUUID = res[i].UUID.GoUUID
		case op.Table == sbdb.ChassisPrivateTable:
			reg.privateUUID = res[i].UUID.GoUUID
		}
	}
	return reg, nil
}

// removeChassis deletes this chassis' Chassis and Chassis_Private rows (its
// Encaps go with the Chassis: they are not root rows). Used by
// --cleanup-on-exit; a restart without it keeps the rows and reconciles.
func removeChassis(ctx context.Context, cl client.Client, name string) error {
	var ops []ovsdb.Operation
	priv := &sbdb.ChassisPrivate{Name: name}
	if err := cl.Get(ctx, priv); err == nil {
		o, err := cl.Where(priv).Delete()
		if err != nil {
			return fmt.Errorf("deleting chassis_private: %w", err)
		}
		ops = append(ops, o...)
	}
	ch := &sbdb.Chassis{Name: name}
	if err := cl.Get(ctx, ch); err == nil {
		// Ports still pointing at us would block the delete (strong refs).
		var pbs []sbdb.PortBinding
		if err := cl.WhereCache(func(p *sbdb.PortBinding) bool {
			return p.Chassis != nil && *p.Chassis == ch.UUID
		}).List(ctx, &pbs); err == nil {
			for i := range pbs {
				o, err := releaseOps(cl, &pbs[i], ch.UUID)
				if err != nil {
					return err
				}
				ops = append(ops, o...)
			}
		}
		o, err := cl.Where(ch).Delete()
		if err != nil {
			return fmt.Errorf("deleting chassis: %w", err)
		}
		ops = append(ops, o...)
	}
	_, err := transact(ctx, cl, "removing chassis "+name, ops...)
	return err
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

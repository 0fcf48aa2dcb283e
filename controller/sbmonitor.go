package controller

import (
	"fmt"
	"sort"
	"strings"

	"github.com/ovn-org/libovsdb/client"
	"github.com/ovn-org/libovsdb/model"
	"github.com/ovn-org/libovsdb/ovsdb"

	"github.com/ovnbpf/ovnbpf/controller/sbdb"
)

// noUUID matches no row: an empty condition list means "every row" to
// OVSDB, so a conditional table with nothing local gets this instead.
const noUUID = "00000000-0000-0000-0000-000000000000"

// MonitorScope is what the conditional Southbound monitor follows: the local
// datapaths, the logical ports named by local interfaces (a port on a
// datapath not yet local is how that datapath becomes local) and this
// chassis. With All set (ovn-monitor-all=true) nothing is conditional.
type MonitorScope struct {
	All         bool
	Chassis     string   // our Chassis name
	ChassisUUID string   // our Chassis row, once registered
	Datapath    []string // local Datapath_Binding uuids, sorted
	DPGroups    []string // Logical_DP_Groups holding a local datapath, sorted
	// Ports are logical ports of interest not already seen through a local
	// datapath (VIF iface-ids, patch peers), sorted: a VIF plugged for a
	// port of a local datapath leaves the scope as it is.
	Ports []string
}

// Key identifies a scope; the controller re-monitors when it changes.
func (s *MonitorScope) Key() string {
	if s.All {
		return "all"
	}
	return strings.Join([]string{s.Chassis, s.ChassisUUID, strings.Join(s.Datapath, ","),
		strings.Join(s.DPGroups, ","), strings.Join(s.Ports, ",")}, "|")
}

func (s *MonitorScope) normalise() {
	for _, l := range [][]string{s.Datapath, s.DPGroups, s.Ports} {
		sort.Strings(l)
	}
}

// sbClientModel is the part of the Southbound schema the controller uses.
func sbClientModel() (model.ClientDBModel, error) {
	m, err := sbdb.FullDatabaseModel()
	if err != nil {
		return model.ClientDBModel{}, fmt.Errorf("southbound model: %w", err)
	}
	return m, nil
}

// sbMonitor builds the Southbound monitor for scope. Each table says why it
// is monitored and which columns are read; columns not listed are never sent.
func sbMonitor(cl client.Client, scope *MonitorScope) *client.Monitor {
	var (
		glob  sbdb.SBGlobal
		ch    sbdb.Chassis
		priv  sbdb.ChassisPrivate
		enc   sbdb.Encap
		dp    sbdb.DatapathBinding
		pb    sbdb.PortBinding
		lf    sbdb.LogicalFlow
		dpg   sbdb.LogicalDPGroup
		mg    sbdb.MulticastGroup
		mb    sbdb.MACBinding
		gw    sbdb.GatewayChassis
		ha    sbdb.HAChassis
		hag   sbdb.HAChassisGroup
		as    sbdb.AddressSet
		pg    sbdb.PortGroup
		lb    sbdb.LoadBalancer
		fdb   sbdb.FDB
		smb   sbdb.StaticMACBinding
		ctv   sbdb.ChassisTemplateVar
		opts  []client.MonitorOption
		conds = func(c []model.Condition) []model.Condition {
			if scope.All {
				return nil
			}
			return c
		}
	)
	opts = append(opts,
		// nb_cfg is acknowledged in Chassis_Private once the datapath holds it.
		client.WithTable(&glob, &glob.NbCfg, &glob.Options),
		// Every chassis: requested-chassis names/hostnames, gateway members,
		// remote tunnel endpoints, and our own row (registration, duplicates).
		client.WithTable(&ch, &ch.Name, &ch.Hostname, &ch.Encaps, &ch.ExternalIDs, &ch.OtherConfig),
		// Our own row (nb_cfg) and the liveness of a duplicate's.
		client.WithTable(&priv, &priv.Name, &priv.Chassis, &priv.NbCfg, &priv.NbCfgTimestamp, &priv.ExternalIDs),
		// Tunnel endpoints of remote chassis; (type, ip) is unique, so a
		// clash with another chassis is detected before inserting.
		client.WithTable(&enc, &enc.Type, &enc.IP, &enc.Options, &enc.ChassisName),
		// Small and needed whole: tunnel keys, and patch peers' datapaths.
		client.WithTable(&dp, &dp.TunnelKey, &dp.ExternalIDs, &dp.LoadBalancers),
		// Flows name groups by uuid; the group decides whether a flow is local.
		client.WithTable(&dpg, &dpg.Datapaths),
		// Gateway placement for chassisredirect and external ports.
		client.WithTable(&gw, &gw.Chassis, &gw.Priority, &gw.Name),
		client.WithTable(&ha, &ha.Chassis, &ha.Priority),
		client.WithTable(&hag, &hag.Name, &hag.HaChassis),
		// $name and @name in matches; small, not per datapath.
		client.WithTable(&as, &as.Name, &as.Addresses),
		client.WithTable(&pg, &pg.Name, &pg.Ports),
		client.WithTable(&lb, &lb.Name, &lb.Vips, &lb.Protocol, &lb.Datapaths, &lb.DatapathGroup, &lb.Options),
		client.WithTable(&fdb, &fdb.MAC, &fdb.DpKey, &fdb.PortKey),
	)

	// Port_Binding: ports of local datapaths, ports named by local
	// interfaces that are not on one, container ports, ports this chassis
	// holds, and the ports whose placement names a chassis (gateways).
	var pbc []model.Condition
	for _, d := range scope.Datapath {
		pbc = append(pbc, model.Condition{Field: &pb.Datapath, Function: ovsdb.ConditionEqual, Value: d})
	}
	for _, p := range scope.Ports {
		pbc = append(pbc, model.Condition{Field: &pb.LogicalPort, Function: ovsdb.ConditionEqual, Value: p})
	}
	// Every container port (parent_port set): a condition per local parent
	// would change the scope, and cost a new monitor, at each VIF plugged.
	// Container ports are few; those of non-local parents are ignored.
	var noParent *string
	pbc = append(pbc, model.Condition{Field: &pb.ParentPort, Function: ovsdb.ConditionNotEqual, Value: noParent})
	// Patch ports everywhere too: the closure of the local datapaths over
	// them is then known in one pass, not one new monitor (and dump) per
	// router hop.
	for _, t := range []string{"chassisredirect", "external", "l2gateway", "l3gateway", "patch"} {
		pbc = append(pbc, model.Condition{Field: &pb.Type, Function: ovsdb.ConditionEqual, Value: t})
	}
	if scope.Chassis != "" {
		// Found again after a restart even when its interface is gone, so
		// the port is released rather than left claimed.
		pbc = append(pbc, model.Condition{Field: &pb.Options, Function: ovsdb.ConditionIncludes,
			Value: map[string]string{"requested-chassis": scope.Chassis}})
	}
	if u := scope.ChassisUUID; u != "" {
		pbc = append(pbc,
			model.Condition{Field: &pb.Chassis, Function: ovsdb.ConditionEqual, Value: &u},
			model.Condition{Field: &pb.AdditionalChassis, Function: ovsdb.ConditionIncludes, Value: []string{u}})
	}
	opts = append(opts, client.WithConditionalTable(&pb, conds(pbc),
		&pb.LogicalPort, &pb.Datapath, &pb.TunnelKey, &pb.Type, &pb.Options, &pb.MAC, &pb.Chassis,
		&pb.AdditionalChassis, &pb.RequestedChassis, &pb.RequestedAdditionalChassis, &pb.ParentPort,
		&pb.Tag, &pb.Up, &pb.Encap, &pb.GatewayChassis, &pb.HaChassisGroup, &pb.PortSecurity,
		&pb.NatAddresses, &pb.VirtualParent, &pb.ExternalIDs))

	// Logical flows, multicast groups and MAC bindings of local datapaths only.
	var lfc, mgc, mbc, smbc []model.Condition
	for _, d := range scope.Datapath {
		d := d
		lfc = append(lfc, model.Condition{Field: &lf.LogicalDatapath, Function: ovsdb.ConditionEqual, Value: &d})
		mgc = append(mgc, model.Condition{Field: &mg.Datapath, Function: ovsdb.ConditionEqual, Value: d})
		mbc = append(mbc, model.Condition{Field: &mb.Datapath, Function: ovsdb.ConditionEqual, Value: d})
		smbc = append(smbc, model.Condition{Field: &smb.Datapath, Function: ovsdb.ConditionEqual, Value: d})
	}
	for _, g := range scope.DPGroups {
		g := g
		lfc = append(lfc, model.Condition{Field: &lf.LogicalDpGroup, Function: ovsdb.ConditionEqual, Value: &g})
	}
	none := noUUID
	if len(lfc) == 0 {
		lfc = []model.Condition{{Field: &lf.LogicalDatapath, Function: ovsdb.ConditionEqual, Value: &none}}
		mgc = []model.Condition{{Field: &mg.Datapath, Function: ovsdb.ConditionEqual, Value: none}}
		mbc = []model.Condition{{Field: &mb.Datapath, Function: ovsdb.ConditionEqual, Value: none}}
		smbc = []model.Condition{{Field: &smb.Datapath, Function: ovsdb.ConditionEqual, Value: none}}
	}
	opts = append(opts,
		// Not controller_meter, tags nor external_ids: nothing needs them
		// (external_ids' stage-name only names the stage in an error: it
		// is read for the failing flows alone, lflowstage.go), and at 43k
		// flows each map costs ~13 MB twice (cache, mirror).
		client.WithConditionalTable(&lf, conds(lfc), &lf.LogicalDatapath, &lf.LogicalDpGroup, &lf.Pipeline,
			&lf.TableID, &lf.Priority, &lf.Match, &lf.Actions),
		client.WithConditionalTable(&mg, conds(mgc), &mg.Datapath, &mg.Name, &mg.TunnelKey, &mg.Ports),
		client.WithConditionalTable(&mb, conds(mbc), &mb.Datapath, &mb.LogicalPort, &mb.IP, &mb.MAC),
		// Static MAC bindings feed the same lookups as MAC_Binding, and
		// only a local datapath's can be looked up here: monitored as
		// MAC_Binding is.
		client.WithConditionalTable(&smb, conds(smbc), &smb.Datapath, &smb.LogicalPort, &smb.IP, &smb.MAC,
			&smb.OverrideDynamicMAC),
	)
	// Template variables (^NAME in flows) take this chassis' values only:
	// one row, chosen by chassis name.
	ctvc := []model.Condition{{Field: &ctv.Chassis, Function: ovsdb.ConditionEqual, Value: scope.Chassis}}
	opts = append(opts, client.WithConditionalTable(&ctv, conds(ctvc), &ctv.Chassis, &ctv.Variables))
	return cl.NewMonitor(opts...)
}

package controller

import (
	"context"
	"unsafe"

	"github.com/ovnbpf/ovnbpf/controller/sbdb"
)

// Datapath is what the controller programs: the real implementation compiles
// State's logical flows (pipeline/) and applies them to the pinned maps
// (maps/, loader/). Readiness (Port_Binding.up, ovn-installed) and the nb_cfg
// acknowledgement are written only after Apply returns nil for a state that
// contains them: Apply must not return before the datapath forwards that state.
type Datapath interface {
	// Apply makes the datapath forward exactly state. It is called with the
	// whole local view each time (implementations diff against what they
	// installed), never concurrently.
	Apply(ctx context.Context, state *State) error
	// Cleanup removes the pinned datapath (--cleanup-on-exit).
	Cleanup(ctx context.Context) error
}

// State is the chassis' local view of the Southbound DB: what the datapath
// needs to forward for the ports bound here. A State and its rows are read
// only. The controller hands the next State the same maps (Flows, DPGroups,
// MulticastGroups, ...) while their rows and the local datapaths do not
// change, so a map identical to one of the previous State's has the same
// contents: an implementation may skip diffing it.
type State struct {
	// NbCfg is the SB_Global.nb_cfg this state was computed from.
	NbCfg int
	// Full is set when an operator asked for a full recompute (`ovnbpfctl
	// recompute`): rebuild everything from State rather than diff against
	// the previous one; the result must be the same.
	Full bool
	// Resync (with Full) asks the datapath to compare with what its maps
	// really hold, not with what it remembers having written (`ovnbpfctl
	// recompute --resync`): slower, for state changed behind its back.
	Resync bool
	// Chassis is this chassis' name (system-id).
	Chassis string
	// EncapIPs are this chassis' tunnel endpoints.
	EncapIPs []string
	// Datapaths are the local datapaths by tunnel key.
	Datapaths map[int]*sbdb.DatapathBinding
	// Ports are every Port_Binding on a local datapath, by logical port name.
	Ports map[string]*sbdb.PortBinding
	// PortDelta, if set, says how Ports, PortChassis and LocalPorts differ
	// from those of an earlier State (Ports by identity; Datapaths the
	// same): only in the ports it names. nil: compare the whole maps.
	PortDelta *PortDelta
	// LocalPorts are the ports with a netdev on this chassis, by logical port.
	LocalPorts map[string]LocalPort
	// BridgeMappings maps a physical network name to the netdev that
	// carries it (ovn-bridge-mappings), for localnet ports.
	BridgeMappings map[string]string
	// RemoteChassis maps a chassis name to its Geneve encap IP, for every
	// other chassis that has ports on a local datapath.
	RemoteChassis map[string]string
	// PortChassis maps a logical port to the chassis name it is bound to
	// (remote ones included), so output can pick a tunnel.
	PortChassis map[string]string
	// Flows are the Logical_Flows of the local datapaths, by uuid; a flow on
	// a datapath group appears once.
	Flows map[string]*sbdb.LogicalFlow
	// FlowDelta, if set, says how Flows differs from the map of an earlier
	// State (with the same DPGroups): only in the flows it names. nil:
	// compare the whole map.
	FlowDelta *FlowDelta
	// DPGroups are the Logical_DP_Groups that hold a local datapath, by
	// uuid.
	DPGroups map[string]*sbdb.LogicalDPGroup
	// MulticastGroups, MACBindings, AddressSets, PortGroups, LoadBalancers
	// and FDBs of the local datapaths.
	MulticastGroups map[string]*sbdb.MulticastGroup
	MACBindings     map[string]*sbdb.MACBinding
	AddressSets     map[string]*sbdb.AddressSet
	PortGroups      map[string]*sbdb.PortGroup
	LoadBalancers   map[string]*sbdb.LoadBalancer
	FDBs            map[string]*sbdb.FDB
	// StaticMACBindings are the Static_MAC_Binding rows of the local
	// datapaths, by uuid (staticmac.go).
	StaticMACBindings map[string]*sbdb.StaticMACBinding
	// TemplateVars are this chassis' Chassis_Template_Var variables
	// (templatevar.go).
	TemplateVars map[string]string
}

// FlowDelta names the flows by which a State's Flows differs from another
// map of flows (Base, by identity): added, changed or removed ones. The
// rest are the same rows.
type FlowDelta struct {
	Base    unsafe.Pointer
	Changed []string // Logical_Flow uuids, sorted
}

// PortDelta names the logical ports by which a State's port maps differ
// from another's (Base: that State's Ports, by identity): added, changed or
// removed ones.
type PortDelta struct {
	Base    unsafe.Pointer
	Changed []string // logical port names, sorted
}

// LocalPort is a logical port attached to a netdev on this chassis.
type LocalPort struct {
	LogicalPort string
	// Type is the Port_Binding type ("" for a VIF, "localport", ...).
	Type string
	// Ifname and Ifindex name the host-side netdev; Ifindex is 0 while the
	// netdev does not exist (then the port forwards nothing).
	Ifname  string
	Ifindex int
	// Parent and Tag are set for a container port: its traffic is Tag on
	// Parent's netdev.
	Parent string
	Tag    int
	// Up is the netdev's operational state.
	Up bool
}

package controller

import (
	"sort"
	"strings"
	"time"

	"github.com/ovnbpf/ovnbpf/controller/sbdb"
)

// Binding decisions: which Port_Bindings this chassis claims, as pure
// functions of the Southbound rows and the local interfaces (REFERENCE.md,
// "Binding rules"). The transactions that carry them out are in claim.go.

// VIF is a local interface that names a logical port (external_ids:iface-id
// on an OVSDB Interface row, or an `ovnbpfctl port bind`).
type VIF struct {
	IfaceID string
	Ifname  string
	// InterfaceUUID is the OVSDB Interface row, "" for a port bound with
	// ovnbpfctl (then there is no ovn-installed to write).
	InterfaceUUID string
	// Ifindex is 0 while no netdev of that name exists.
	Ifindex int
	Up      bool
}

// Self identifies this chassis.
type Self struct {
	UUID     string // Chassis row, "" before registration
	Name     string
	Hostname string
}

// BindInput is everything a binding decision reads.
type BindInput struct {
	Self Self
	// Chassis rows by uuid (requested-chassis, gateway and HA members).
	Chassis map[string]*sbdb.Chassis
	// VIFs by iface-id, already deduplicated (DedupVIFs).
	VIFs           map[string]VIF
	BridgeMappings map[string]string
	GatewayChassis map[string]*sbdb.GatewayChassis
	HAGroups       map[string]*sbdb.HAChassisGroup
	HAChassis      map[string]*sbdb.HAChassis
	// Ports by logical port name, to find a container port's parent.
	Ports map[string]*sbdb.PortBinding
}

// Role is what this chassis is for one Port_Binding.
type Role int

const (
	// RoleNone: not bound here; release it if we hold it.
	RoleNone Role = iota
	// RoleMain: claim it (Port_Binding.chassis = us).
	RoleMain
	// RoleAdditional: claim it as an additional chassis (live migration).
	RoleAdditional
	// RoleLocal: present on this chassis without a claim (localport,
	// localnet with a bridge mapping).
	RoleLocal
)

func (r Role) String() string {
	switch r {
	case RoleMain:
		return "main"
	case RoleAdditional:
		return "additional"
	case RoleLocal:
		return "local"
	}
	return "none"
}

// Decide returns this chassis' role for pb, and a short reason for logs and
// `ovnbpfctl ports`.
func Decide(pb *sbdb.PortBinding, in *BindInput) (Role, string) {
	switch pb.Type {
	case "":
		if pb.ParentPort != nil && *pb.ParentPort != "" {
			parent, ok := in.Ports[*pb.ParentPort]
			if !ok {
				return RoleNone, "parent port " + *pb.ParentPort + " does not exist"
			}
			if r, _ := Decide(parent, in); r != RoleMain && r != RoleAdditional {
				return RoleNone, "parent port " + *pb.ParentPort + " is not bound here"
			} else {
				return r, "container port of local parent " + *pb.ParentPort
			}
		}
		if _, ok := in.VIFs[pb.LogicalPort]; !ok {
			return RoleNone, "no local interface with iface-id=" + pb.LogicalPort
		}
		switch requested(pb, in) {
		case reqMain, reqAny:
			return RoleMain, "local VIF"
		case reqAdditional:
			return RoleAdditional, "local VIF, requested as additional chassis"
		default:
			return RoleNone, "local VIF, but requested-chassis names another chassis"
		}
	case "localport":
		return RoleLocal, "localport: present on every chassis, never claimed"
	case "localnet":
		net := pb.Options["network_name"]
		if _, ok := in.BridgeMappings[net]; ok && net != "" {
			return RoleLocal, "localnet: ovn-bridge-mappings maps " + net
		}
		return RoleNone, "localnet: no bridge mapping for network_name=" + net
	case "l2gateway":
		if in.Self.is(pb.Options["l2gateway-chassis"]) {
			return RoleMain, "l2gateway-chassis is this chassis"
		}
		return RoleNone, "l2gateway-chassis is another chassis"
	case "l3gateway":
		if in.Self.is(pb.Options["l3gateway-chassis"]) {
			return RoleMain, "l3gateway-chassis is this chassis"
		}
		return RoleNone, "l3gateway-chassis is another chassis"
	case "chassisredirect", "external":
		active := ActiveGateway(pb, in)
		if active != "" && active == in.Self.UUID {
			return RoleMain, "highest-priority gateway chassis"
		}
		return RoleNone, "another chassis is the active gateway"
	case "patch", "vtep", "remote":
		return RoleNone, pb.Type + " ports are never claimed by a chassis"
	case "virtual":
		return RoleNone, "virtual ports are bound by bind_vport (not implemented)"
	}
	return RoleNone, "unknown port type " + pb.Type
}

func (s Self) is(nameOrHost string) bool {
	return nameOrHost != "" && (nameOrHost == s.Name || nameOrHost == s.Hostname)
}

type reqResult int

const (
	reqAny reqResult = iota
	reqMain
	reqAdditional
	reqOther
)

// requested applies requested-chassis: the requested_chassis and
// requested_additional_chassis columns when northd filled them, else
// options:requested-chassis (comma-separated names or hostnames, first = main).
func requested(pb *sbdb.PortBinding, in *BindInput) reqResult {
	if pb.RequestedChassis != nil && *pb.RequestedChassis != "" {
		if in.Self.UUID != "" && *pb.RequestedChassis == in.Self.UUID {
			return reqMain
		}
		for _, u := range pb.RequestedAdditionalChassis {
			if u == in.Self.UUID && u != "" {
				return reqAdditional
			}
		}
		return reqOther
	}
	opt := strings.TrimSpace(pb.Options["requested-chassis"])
	if opt == "" {
		return reqAny
	}
	for i, n := range strings.Split(opt, ",") {
		if in.Self.is(strings.TrimSpace(n)) {
			if i == 0 {
				return reqMain
			}
			return reqAdditional
		}
	}
	return reqOther
}

// ActiveGateway returns the uuid of the Chassis that should hold a
// chassisredirect or external port: the highest-priority member of its
// ha_chassis_group, else of its gateway_chassis, that is a registered
// chassis. (BFD liveness is not implemented: every registered member counts.)
func ActiveGateway(pb *sbdb.PortBinding, in *BindInput) string {
	type member struct {
		chassis  string
		priority int
	}
	var ms []member
	if pb.HaChassisGroup != nil {
		if g, ok := in.HAGroups[*pb.HaChassisGroup]; ok {
			for _, u := range g.HaChassis {
				if h, ok := in.HAChassis[u]; ok && h.Chassis != nil {
					ms = append(ms, member{*h.Chassis, h.Priority})
				}
			}
		}
	}
	if len(ms) == 0 {
		for _, u := range pb.GatewayChassis {
			if g, ok := in.GatewayChassis[u]; ok && g.Chassis != nil {
				ms = append(ms, member{*g.Chassis, g.Priority})
			}
		}
	}
	best := member{priority: -1}
	for _, m := range ms {
		if _, ok := in.Chassis[m.chassis]; !ok {
			continue
		}
		// Ties go to the lower uuid so every chassis agrees.
		if m.priority > best.priority || (m.priority == best.priority && m.chassis < best.chassis) {
			best = m
		}
	}
	return best.chassis
}

// DedupVIFs keeps one interface per iface-id. An iface-id already bound to
// an interface keeps it (prev); otherwise the first by interface name wins.
// The ignored duplicates are returned so the caller can warn about them.
func DedupVIFs(vifs []VIF, prev map[string]VIF) (map[string]VIF, []VIF) {
	sorted := append([]VIF(nil), vifs...)
	kept := func(v VIF) bool { p, ok := prev[v.IfaceID]; return ok && samePort(p, v) }
	sort.SliceStable(sorted, func(i, j int) bool {
		if ki, kj := kept(sorted[i]), kept(sorted[j]); ki != kj {
			return ki
		}
		if sorted[i].Ifname != sorted[j].Ifname {
			return sorted[i].Ifname < sorted[j].Ifname
		}
		return sorted[i].InterfaceUUID < sorted[j].InterfaceUUID
	})
	out := map[string]VIF{}
	var dups []VIF
	for _, v := range sorted {
		if v.IfaceID == "" {
			continue
		}
		if _, taken := out[v.IfaceID]; taken {
			dups = append(dups, v)
			continue
		}
		out[v.IfaceID] = v
	}
	return out, dups
}

func samePort(a, b VIF) bool {
	return a.Ifname == b.Ifname && a.InterfaceUUID == b.InterfaceUUID
}

// ClaimThrottle damps a tug-of-war: two chassis that both think they own a
// port would otherwise rewrite Port_Binding.chassis in a loop. After a claim
// is lost to another chassis, the next claim waits, doubling up to Max.
type ClaimThrottle struct {
	Base, Max time.Duration
	ports     map[string]*claimRecord
}

type claimRecord struct {
	last time.Time
	lost int
}

// NewClaimThrottle returns a throttle with ovn-controller-like timing.
func NewClaimThrottle() *ClaimThrottle {
	return &ClaimThrottle{Base: 500 * time.Millisecond, Max: 30 * time.Second}
}

// Allow reports whether port may be claimed now; if not, it returns when.
// heldByOther says another chassis holds the port at this moment.
func (t *ClaimThrottle) Allow(port string, heldByOther bool, now time.Time) (bool, time.Time) {
	if t.ports == nil {
		t.ports = map[string]*claimRecord{}
	}
	r, ok := t.ports[port]
	if !ok || !heldByOther {
		return true, time.Time{}
	}
	wait := t.Base << min(r.lost, 16)
	if wait > t.Max || wait <= 0 {
		wait = t.Max
	}
	next := r.last.Add(wait)
	if now.Before(next) {
		return false, next
	}
	return true, time.Time{}
}

// Claimed records a claim of port at now; lostTo says the port had been taken
// away from us since our previous claim (a round of tug-of-war).
func (t *ClaimThrottle) Claimed(port string, lostTo bool, now time.Time) {
	if t.ports == nil {
		t.ports = map[string]*claimRecord{}
	}
	r, ok := t.ports[port]
	if !ok {
		r = &claimRecord{}
		t.ports[port] = r
	}
	if lostTo {
		r.lost++
	}
	r.last = now
}

// Forget drops the history of a port (released, or stably ours).
func (t *ClaimThrottle) Forget(port string) { delete(t.ports, port) }

// Contested reports whether port has a recorded claim (so a later loss is a
// tug-of-war round, not a migration).
func (t *ClaimThrottle) Contested(port string) bool {
	_, ok := t.ports[port]
	return ok
}

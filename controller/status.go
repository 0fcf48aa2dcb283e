package controller

import (
	"slices"
	"sort"
	"strings"
	"time"
	"unsafe"

	"github.com/ovnbpf/ovnbpf/controller/sbdb"
)

// Status is what `ovnbpfctl status`, `ports` and `connection-status` show.
type Status struct {
	Chassis        string                 `json:"chassis"`
	ChassisUUID    string                 `json:"chassis_uuid"`
	Hostname       string                 `json:"hostname"`
	Remotes        []string               `json:"remotes"`
	SBConnected    bool                   `json:"sb_connected"`
	SBEndpoint     string                 `json:"sb_endpoint"`
	OVSDB          string                 `json:"ovsdb"`
	OVSDBConnected bool                   `json:"ovsdb_connected"`
	Config         map[string]ConfigValue `json:"config"`
	ConfigError    string                 `json:"config_error,omitempty"`
	Datapath       string                 `json:"datapath"`
	Skipped        int                    `json:"skipped_lflows"` // lflows (and port security) the datapath could not install
	NbCfg          int                    `json:"nb_cfg"`
	AppliedNbCfg   int                    `json:"applied_nb_cfg"`
	AckedNbCfg     int                    `json:"acked_nb_cfg"`
	LocalDatapaths int                    `json:"local_datapaths"`
	Ports          []PortStatus           `json:"ports"`
	Warnings       []string               `json:"warnings,omitempty"`
	Claims         int                    `json:"claims"`
	Releases       int                    `json:"releases"`
	LastReconcile  time.Time              `json:"last_reconcile"`
	LastError      string                 `json:"last_error,omitempty"`

	// Problems are the first maxStatusProblems of what Skipped counts
	// (lflows named with their stage).
	Problems []string `json:"problems,omitempty"`
}

// maxStatusProblems bounds Status.Problems (the count is Skipped).
const maxStatusProblems = 50

// ConfigValue is one setting and where it came from.
type ConfigValue struct {
	Value  string `json:"value"`
	Source string `json:"source"`
}

// PortStatus is one logical port relevant to this chassis.
type PortStatus struct {
	LogicalPort string `json:"logical_port"`
	Type        string `json:"type"`
	Role        string `json:"role"`
	Reason      string `json:"reason"`
	Chassis     string `json:"chassis"`
	Ifname      string `json:"ifname,omitempty"`
	Ifindex     int    `json:"ifindex,omitempty"`
	Up          bool   `json:"up"`
}

// Status returns a snapshot.
func (c *Controller) Status() Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.status
	s.Ports = append([]PortStatus(nil), s.Ports...)
	return s
}

func (c *Controller) setStatus(f func(*Status)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f(&c.status)
}

// publishPorts records the ports that matter here: those with a role, and
// those named by a local interface (to show why they are not bound).
//
// from and changed, if changed is not nil, say that the rows and decisions
// differ from those from names only in the ports changed names: a list made
// from those is patched (not a walk of every port).
func (c *Controller) publishPorts(v *sbView, roles map[string]Role, reasons map[string]string, vifs map[string]VIF, nLocal int, from publishedKey, changed []string) {
	// The same decisions (so the same VIFs) over the same rows: the same
	// list (a walk of every port at scale).
	key := publishedKey{roles: mapPointer(roles), ports: mapPointer(v.ports), chassis: mapPointer(v.chassis), self: c.reg.chassisUUID}
	if key == c.published {
		c.setStatus(func(s *Status) {
			s.NbCfg = v.global.NbCfg
			s.LocalDatapaths = nLocal
		})
		return
	}
	status := func(name string, pb *sbdb.PortBinding) (PortStatus, bool) {
		vif, named := vifs[name]
		r := roles[name]
		held := pb.Chassis != nil && *pb.Chassis == c.reg.chassisUUID
		if r == RoleNone && !named && !held {
			return PortStatus{}, false
		}
		p := PortStatus{LogicalPort: name, Type: pb.Type, Role: r.String(), Reason: reasons[name], Up: isUp(pb)}
		if pb.Chassis != nil {
			p.Chassis = c.chassisName(v, *pb.Chassis)
		}
		if named {
			p.Ifname, p.Ifindex = vif.Ifname, vif.Ifindex
		}
		return p, true
	}
	var ps []PortStatus
	if changed != nil && from == c.published && from.chassis == key.chassis && from.self == key.self && from != (publishedKey{}) {
		c.mu.Lock()
		ps = slices.Clone(c.status.Ports)
		c.mu.Unlock()
		for _, name := range changed {
			i, found := sort.Find(len(ps), func(i int) int { return strings.Compare(name, ps[i].LogicalPort) })
			if found {
				ps = slices.Delete(ps, i, i+1)
			}
			if pb, ok := v.ports[name]; ok {
				if p, ok := status(name, pb); ok {
					ps = slices.Insert(ps, i, p)
				}
			}
		}
	} else {
		for name, pb := range v.ports {
			if p, ok := status(name, pb); ok {
				ps = append(ps, p)
			}
		}
		sort.Slice(ps, func(i, j int) bool { return ps[i].LogicalPort < ps[j].LogicalPort })
	}
	c.published = key
	c.setStatus(func(s *Status) {
		s.Ports = ps
		s.NbCfg = v.global.NbCfg
		s.LocalDatapaths = nLocal
	})
}

// publishedKey identifies what the published port list was made from.
type publishedKey struct {
	roles, ports, chassis unsafe.Pointer
	self                  string
}

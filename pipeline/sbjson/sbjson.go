// Package sbjson reads Southbound tables as `ovn-sbctl --format=json list
// <Table>` prints them, and compiles their logical flows: the logic of
// `ovnbpfctl lflow compile`, and the source of the corpus tests.
//
// The input is one JSON object, a "snapshot", mapping table names to the
// sbctl output for that table:
//
//	{"Logical_Flow": {"headings": [...], "data": [[...], ...]},
//	 "Datapath_Binding": {...}, "Port_Binding": {...}, "Multicast_Group": {...},
//	 "Logical_DP_Group": {...}, "Address_Set": {...}, "Port_Group": {...},
//	 "Chassis": {...}, "Chassis_Template_Var": {...}}
//
// Only Logical_Flow and Datapath_Binding are required. Parsing is pure; the
// caller reads files.
package sbjson

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/ovnbpf/ovnbpf/pipeline"
)

// Tables the snapshot may hold.
var Tables = []string{"Logical_Flow", "Datapath_Binding", "Port_Binding", "Multicast_Group",
	"Logical_DP_Group", "Address_Set", "Port_Group", "Chassis", "Chassis_Template_Var"}

// row is one OVSDB row: its values in the order of its table's headings.
type row struct {
	cols map[string]int // heading -> index, shared by the table's rows
	vals []any
}

func (r row) get(col string) any {
	if i, ok := r.cols[col]; ok {
		return r.vals[i]
	}
	return nil
}

// Snapshot is a parsed set of Southbound tables. It implements
// pipeline.Resolver for one chassis (Chassis, by name; empty = none).
type Snapshot struct {
	Flows []pipeline.LogicalFlow
	// PortSecurity lists the ports bound to Chassis that have port
	// security, for pipeline.PortSecurityFlows.
	PortSecurity []pipeline.PortSecurity
	Datapaths    map[string]uint32 // Datapath_Binding uuid -> tunnel key
	DPNames      map[uint32]string // tunnel key -> logical-switch / logical-router name
	routers      map[uint32]bool
	ports        map[string]portInfo  // logical_port -> binding
	portKeys     map[string][2]uint32 // logical_port -> (datapath, key): the compiler's hot lookup, kept small
	portNames    map[[2]uint32]string
	mcast        map[uint32]map[string]uint32
	mcastNames   map[[2]uint32]string
	addrSets     map[string][]string
	portGroups   map[string][]string
	templates    map[string]map[string]string // chassis name -> its Chassis_Template_Var variables
	chassisBy    map[string]string            // Chassis uuid -> name
	hostnames    map[string]string            // Chassis hostname -> name
	portSec      []portSecRow

	// Chassis is the chassis whose view is compiled: is_chassis_resident
	// is true for ports bound to it (and for ports whose chassisredirect
	// or l3gateway binding names it).
	Chassis string
}

type portSecRow struct {
	chassis string
	ps      pipeline.PortSecurity
}

type portInfo struct {
	dp      uint32
	key     uint32
	chassis string // bound chassis name
	typ     string
	options map[string]string
}

// Parse reads a snapshot.
func Parse(data []byte) (*Snapshot, error) {
	doc, err := readJSON(data)
	if err != nil {
		return nil, fmt.Errorf("decoding snapshot: %w", err)
	}
	top, ok := doc.(*jsonObject)
	if !ok {
		return nil, fmt.Errorf("decoding snapshot: not a JSON object of tables")
	}
	for _, name := range top.keys {
		if !slices.Contains(Tables, name) {
			return nil, fmt.Errorf("snapshot: unknown table %q", name)
		}
	}
	tables := map[string][]row{}
	for i, name := range top.keys {
		rows, err := decodeTable(top.vals[i])
		if err != nil {
			return nil, fmt.Errorf("table %s: %w", name, err)
		}
		tables[name] = rows
	}
	if _, ok := tables["Logical_Flow"]; !ok {
		return nil, fmt.Errorf("snapshot has no Logical_Flow table")
	}
	if _, ok := tables["Datapath_Binding"]; !ok {
		return nil, fmt.Errorf("snapshot has no Datapath_Binding table")
	}
	s := &Snapshot{
		Datapaths: map[string]uint32{}, DPNames: map[uint32]string{}, routers: map[uint32]bool{},
		ports: map[string]portInfo{}, portKeys: map[string][2]uint32{}, portNames: map[[2]uint32]string{},
		mcast: map[uint32]map[string]uint32{}, mcastNames: map[[2]uint32]string{},
		addrSets: map[string][]string{}, portGroups: map[string][]string{}, templates: map[string]map[string]string{},
		chassisBy: map[string]string{}, hostnames: map[string]string{},
	}
	for _, r := range tables["Chassis"] {
		s.chassisBy[r.uuid()] = r.str("name")
		s.hostnames[r.str("hostname")] = r.str("name")
	}
	for _, r := range tables["Datapath_Binding"] {
		key := uint32(r.int("tunnel_key"))
		s.Datapaths[r.uuid()] = key
		ids := r.smap("external_ids")
		if n, ok := ids["logical-router"]; ok {
			s.routers[key] = true
			s.DPNames[key] = ids["name"]
			if s.DPNames[key] == "" {
				s.DPNames[key] = n
			}
		} else {
			s.DPNames[key] = ids["name"]
			if s.DPNames[key] == "" {
				s.DPNames[key] = ids["logical-switch"]
			}
		}
	}
	// The compiler looks every port name up (thousands of times per
	// compile): the map's keys are copied into one block, so that the
	// comparisons read a few cache lines rather than a line per name.
	var keyNames []string
	var keyVals [][2]uint32
	for _, r := range tables["Port_Binding"] {
		dp, ok := s.Datapaths[r.ref("datapath")]
		if !ok {
			continue
		}
		pi := portInfo{dp: dp, key: uint32(r.int("tunnel_key")), typ: r.str("type"), options: r.smap("options")}
		if ch := r.ref("chassis"); ch != "" {
			pi.chassis = s.chassisBy[ch]
		}
		name := r.str("logical_port")
		s.ports[name] = pi
		keyNames, keyVals = append(keyNames, name), append(keyVals, [2]uint32{dp, pi.key})
		s.portNames[[2]uint32{dp, pi.key}] = name
		if ps := r.strs("port_security"); len(ps) > 0 && pi.chassis != "" {
			s.portSec = append(s.portSec, portSecRow{chassis: pi.chassis,
				ps: pipeline.PortSecurity{Port: name, Datapath: dp, Entries: ps}})
		}
	}
	n := 0
	for _, k := range keyNames {
		n += len(k)
	}
	var block strings.Builder
	block.Grow(n)
	for _, k := range keyNames {
		block.WriteString(k)
	}
	all := block.String()
	s.portKeys = make(map[string][2]uint32, len(keyNames))
	for i, k := range keyNames {
		s.portKeys[all[:len(k)]] = keyVals[i]
		all = all[len(k):]
	}
	for _, r := range tables["Multicast_Group"] {
		dp, ok := s.Datapaths[r.ref("datapath")]
		if !ok {
			continue
		}
		if s.mcast[dp] == nil {
			s.mcast[dp] = map[string]uint32{}
		}
		key := uint32(r.int("tunnel_key"))
		s.mcast[dp][r.str("name")] = key
		s.mcastNames[[2]uint32{dp, key}] = r.str("name")
	}
	for _, r := range tables["Address_Set"] {
		s.addrSets[r.str("name")] = r.strs("addresses")
	}
	for _, r := range tables["Port_Group"] {
		s.portGroups[r.str("name")] = r.strs("ports")
	}
	for _, r := range tables["Chassis_Template_Var"] {
		// Every chassis' row is kept: Chassis may be set after Parse.
		s.templates[r.str("chassis")] = r.smap("variables")
	}
	groups := map[string][]uint32{}
	for _, r := range tables["Logical_DP_Group"] {
		var dps []uint32
		for _, u := range r.refs("datapaths") {
			if k, ok := s.Datapaths[u]; ok {
				dps = append(dps, k)
			}
		}
		groups[r.uuid()] = dps
	}
	for _, r := range tables["Logical_Flow"] {
		f := pipeline.LogicalFlow{UUID: r.uuid(), Table: uint8(r.int("table_id")), Priority: uint16(r.int("priority")),
			Match: r.str("match"), Actions: r.str("actions"), Stage: r.smap("external_ids")["stage-name"]}
		switch r.str("pipeline") {
		case "ingress":
			f.Pipeline = pipeline.Ingress
		case "egress":
			f.Pipeline = pipeline.Egress
		default:
			return nil, fmt.Errorf("lflow %s: unknown pipeline %q", f.UUID, r.str("pipeline"))
		}
		if dp := r.ref("logical_datapath"); dp != "" {
			if k, ok := s.Datapaths[dp]; ok {
				f.Datapaths = []uint32{k}
			}
		}
		if g := r.ref("logical_dp_group"); g != "" {
			f.Datapaths = append(f.Datapaths, groups[g]...)
		}
		s.Flows = append(s.Flows, f)
	}
	// A stable order, whatever order sbctl printed.
	sort.Slice(s.Flows, func(i, j int) bool { return s.Flows[i].UUID < s.Flows[j].UUID })
	return s, nil
}

// decodeTable decodes `ovn-sbctl --format=json list` output:
// {"headings": [names], "data": [[datum, ...], ...]}.
func decodeTable(v any) ([]row, error) {
	t, ok := v.(*jsonObject)
	if !ok {
		return nil, fmt.Errorf("not an object with headings and data")
	}
	hv, _ := t.get("headings")
	dv, _ := t.get("data")
	headings, ok1 := hv.([]any)
	data, ok2 := dv.([]any)
	if (hv != nil && !ok1) || (dv != nil && !ok2) {
		return nil, fmt.Errorf("headings and data must be arrays")
	}
	cols := make(map[string]int, len(headings))
	names := make([]string, len(headings))
	for i, h := range headings {
		name, ok := h.(string)
		if !ok {
			return nil, fmt.Errorf("heading %d is not a string", i)
		}
		cols[name], names[i] = i, name
	}
	rows := make([]row, 0, len(data))
	for _, dv := range data {
		d, ok := dv.([]any)
		if !ok {
			return nil, fmt.Errorf("row is not an array")
		}
		if len(d) != len(headings) {
			return nil, fmt.Errorf("row has %d columns, headings %d", len(d), len(headings))
		}
		for i := range d {
			c, err := convert(d[i])
			if err != nil {
				return nil, fmt.Errorf("column %s: %w", names[i], err)
			}
			d[i] = c
		}
		rows = append(rows, row{cols: cols, vals: d})
	}
	return rows, nil
}

// OVSDB JSON: atoms are strings, numbers, booleans, ["uuid", u]; sets are
// ["set", [atoms]]; maps are ["map", [[k, v], ...]].
type uuidRef string

func convert(v any) (any, error) {
	arr, ok := v.([]any)
	if !ok {
		return v, nil
	}
	if len(arr) != 2 {
		return nil, fmt.Errorf("malformed datum %v", v)
	}
	tag, _ := arr[0].(string)
	switch tag {
	case "uuid", "named-uuid":
		s, _ := arr[1].(string)
		return uuidRef(s), nil
	case "set":
		items, _ := arr[1].([]any)
		out := make([]any, 0, len(items))
		for _, it := range items {
			c, err := convert(it)
			if err != nil {
				return nil, err
			}
			out = append(out, c)
		}
		return out, nil
	case "map":
		pairs, _ := arr[1].([]any)
		out := map[string]any{}
		for _, p := range pairs {
			kv, ok := p.([]any)
			if !ok || len(kv) != 2 {
				return nil, fmt.Errorf("malformed map pair %v", p)
			}
			k, err := convert(kv[0])
			if err != nil {
				return nil, err
			}
			val, err := convert(kv[1])
			if err != nil {
				return nil, err
			}
			ks, ok := k.(string)
			if !ok {
				ks = fmt.Sprint(k)
			}
			out[ks] = val
		}
		return out, nil
	}
	return nil, fmt.Errorf("unknown datum tag %q", tag)
}

func (r row) uuid() string { return r.ref("_uuid") }

func (r row) ref(col string) string {
	switch v := r.get(col).(type) {
	case uuidRef:
		return string(v)
	case []any:
		if len(v) == 1 {
			if u, ok := v[0].(uuidRef); ok {
				return string(u)
			}
		}
	}
	return ""
}

func (r row) refs(col string) []string {
	switch v := r.get(col).(type) {
	case uuidRef:
		return []string{string(v)}
	case []any:
		var out []string
		for _, x := range v {
			if u, ok := x.(uuidRef); ok {
				out = append(out, string(u))
			}
		}
		return out
	}
	return nil
}

func (r row) str(col string) string {
	switch v := r.get(col).(type) {
	case string:
		return v
	case []any:
		if len(v) == 1 {
			s, _ := v[0].(string)
			return s
		}
	}
	return ""
}

func (r row) strs(col string) []string {
	switch v := r.get(col).(type) {
	case string:
		return []string{v}
	case []any:
		out := make([]string, 0, len(v))
		for _, x := range v {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

func (r row) int(col string) int64 {
	switch v := r.get(col).(type) {
	case float64:
		return int64(v)
	case []any:
		if len(v) == 1 {
			if f, ok := v[0].(float64); ok {
				return int64(f)
			}
		}
	}
	return 0
}

func (r row) smap(col string) map[string]string {
	m, _ := r.get(col).(map[string]any)
	out := make(map[string]string, len(m))
	for k, v := range m {
		if s, ok := v.(string); ok {
			out[k] = s
		} else {
			out[k] = fmt.Sprint(v)
		}
	}
	return out
}

// Resolver implementation.

// Port implements pipeline.Resolver.
func (s *Snapshot) Port(name string) (uint32, uint32, bool) {
	k, ok := s.portKeys[name]
	return k[0], k[1], ok
}

// MulticastGroup implements pipeline.Resolver.
func (s *Snapshot) MulticastGroup(dp uint32, name string) (uint32, bool) {
	k, ok := s.mcast[dp][name]
	return k, ok
}

// AddressSet implements pipeline.Resolver.
func (s *Snapshot) AddressSet(name string) ([]string, bool) {
	a, ok := s.addrSets[name]
	return a, ok
}

// PortGroup implements pipeline.Resolver.
func (s *Snapshot) PortGroup(name string) ([]string, bool) {
	p, ok := s.portGroups[name]
	return p, ok
}

// CheckChassis says whether name is a Chassis of the snapshot, and if not
// what to give instead (a hostname's chassis name, or the names there are).
func (s *Snapshot) CheckChassis(name string) error {
	var names []string
	for _, n := range s.chassisBy {
		if n == name {
			return nil
		}
		names = append(names, n)
	}
	if n, ok := s.hostnames[name]; ok && name != "" {
		return fmt.Errorf("%q is the hostname of chassis %q: give the chassis name (its system-id): %s", name, n, n)
	}
	sort.Strings(names)
	return fmt.Errorf("%q: no chassis of that name in the Southbound (registered: %s)", name, strings.Join(names, ", "))
}

// ChassisNames are the snapshot's Chassis names, sorted.
func (s *Snapshot) ChassisNames() []string {
	var names []string
	for _, n := range s.chassisBy {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// TemplateVar implements pipeline.Resolver: the variables of s.Chassis'
// Chassis_Template_Var row, as ovn-controller reads its own row alone (none
// without a chassis).
func (s *Snapshot) TemplateVar(name string) (string, bool) {
	v, ok := s.templates[s.Chassis][name]
	return v, ok
}

// ChassisResident implements pipeline.Resolver: the port is bound to
// s.Chassis (a chassisredirect port counts once its gateway chassis claimed
// it; an l3gateway port when options:l3gateway-chassis names s.Chassis).
func (s *Snapshot) ChassisResident(port string) bool {
	p, ok := s.ports[port]
	if !ok || s.Chassis == "" {
		return false
	}
	if p.chassis == s.Chassis {
		return true
	}
	return p.typ == "l3gateway" && p.options["l3gateway-chassis"] == s.Chassis
}

// DatapathIsRouter implements pipeline.Resolver.
func (s *Snapshot) DatapathIsRouter(dp uint32) bool { return s.routers[dp] }

// PortName returns the name of port key on datapath dp (a logical port or a
// multicast group), for readable renderings.
func (s *Snapshot) PortName(dp, key uint32) (string, bool) {
	if n, ok := s.portNames[[2]uint32{dp, key}]; ok {
		return n, true
	}
	n, ok := s.mcastNames[[2]uint32{dp, key}]
	return n, ok
}

// Report is the outcome of compiling a snapshot.
type Report struct {
	Lflows             int                 `json:"lflows"` // Logical_Flow rows, plus port-security flows
	PortSecurityErrors int                 `json:"port_security_errors"`
	Compiled           int                 `json:"compiled"`
	Unsupported        map[string][]string `json:"unsupported"` // reason -> lflow uuids
	Errors             []string            `json:"errors"`
	Rules              int                 `json:"rules"`
	Tables             int                 `json:"tables"`
	Pruned             int                 `json:"pruned_tables"`
	Seconds            float64             `json:"seconds"`      // compile (filled by the caller)
	ReadSeconds        float64             `json:"read_seconds"` // decoding the snapshot (filled by the caller)
}

// LocalPortSecurity returns the port security of the ports bound to
// s.Chassis, sorted by port name.
func (s *Snapshot) LocalPortSecurity() []pipeline.PortSecurity {
	var out []pipeline.PortSecurity
	for _, r := range s.portSec {
		if r.chassis == s.Chassis && s.Chassis != "" {
			out = append(out, r.ps)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Port < out[j].Port })
	return out
}

// Compile compiles every lflow of the snapshot for every datapath it names,
// and the port-security flows of the ports bound to s.Chassis.
func Compile(s *Snapshot) (*pipeline.Compiler, *Report) {
	c := pipeline.NewCompiler(s)
	rep := &Report{Unsupported: map[string][]string{}}
	c.UpsertBatch(s.Flows)
	for _, ps := range s.LocalPortSecurity() {
		flows, err := pipeline.PortSecurityFlows(ps)
		if err != nil {
			rep.Errors = append(rep.Errors, err.Error())
			rep.PortSecurityErrors++
			continue
		}
		c.UpsertBatch(flows)
	}
	st := c.Stats()
	rep.Lflows, rep.Compiled = st.Lflows, st.Compiled
	for _, e := range c.Errors() {
		rep.Unsupported[e.Reason] = append(rep.Unsupported[e.Reason], e.UUID)
		rep.Errors = append(rep.Errors, e.Error())
	}
	// Counted through views, as the map installer reads them: Table would
	// decode every rule into memory only to count it.
	keys := c.Flush()
	for _, k := range keys {
		v, ok := c.View(k)
		if !ok {
			rep.Pruned++
			continue
		}
		rep.Tables++
		rep.Rules += v.Len()
	}
	return c, rep
}

// String renders the report for people.
func (r *Report) String() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "lflows read:     %d\n", r.Lflows)
	fmt.Fprintf(&sb, "compiled:        %d\n", r.Compiled)
	fmt.Fprintf(&sb, "unsupported:     %d\n", r.Lflows-r.Compiled)
	reasons := make([]string, 0, len(r.Unsupported))
	for k := range r.Unsupported {
		reasons = append(reasons, k)
	}
	sort.Strings(reasons)
	for _, k := range reasons {
		fmt.Fprintf(&sb, "  %s (%d): %s\n", k, len(r.Unsupported[k]), strings.Join(r.Unsupported[k], " "))
	}
	if r.PortSecurityErrors > 0 {
		fmt.Fprintf(&sb, "port security:   %d ports with invalid entries (see errors)\n", r.PortSecurityErrors)
	}
	fmt.Fprintf(&sb, "rules emitted:   %d\n", r.Rules)
	fmt.Fprintf(&sb, "tables:          %d (%d pruned as pass-through)\n", r.Tables, r.Pruned)
	fmt.Fprintf(&sb, "time:            %s s compile, %s s reading the snapshot\n",
		strconv.FormatFloat(r.Seconds, 'f', 3, 64), strconv.FormatFloat(r.ReadSeconds, 'f', 3, 64))
	return sb.String()
}

// Switchable is a Resolver whose snapshot can be replaced, so a compiler
// built on one snapshot can be moved to the next with Diff and Apply.
type Switchable struct{ S *Snapshot }

func (w *Switchable) Port(name string) (uint32, uint32, bool) { return w.S.Port(name) }
func (w *Switchable) MulticastGroup(dp uint32, name string) (uint32, bool) {
	return w.S.MulticastGroup(dp, name)
}
func (w *Switchable) AddressSet(name string) ([]string, bool) { return w.S.AddressSet(name) }
func (w *Switchable) PortGroup(name string) ([]string, bool)  { return w.S.PortGroup(name) }
func (w *Switchable) TemplateVar(name string) (string, bool)  { return w.S.TemplateVar(name) }
func (w *Switchable) ChassisResident(port string) bool        { return w.S.ChassisResident(port) }
func (w *Switchable) DatapathIsRouter(dp uint32) bool         { return w.S.DatapathIsRouter(dp) }

// Delta is what changed between two snapshots, as the compiler needs it.
type Delta struct {
	Upsert      []pipeline.LogicalFlow
	Delete      []string
	AddressSets []string
	PortGroups  []string
	Ports       []string
	Residents   []string
	Templates   []string // template variables whose value for the compiled chassis changed
}

// Inputs summarises the changed inputs.
func (d *Delta) Inputs() map[string]int {
	return map[string]int{"address_sets": len(d.AddressSets), "port_groups": len(d.PortGroups),
		"ports": len(d.Ports), "residents": len(d.Residents), "templates": len(d.Templates)}
}

// Diff computes the changes from old to new.
func Diff(old, new *Snapshot) *Delta {
	d := &Delta{}
	oldFlows := make(map[string]*pipeline.LogicalFlow, len(old.Flows))
	for i := range old.Flows {
		oldFlows[old.Flows[i].UUID] = &old.Flows[i]
	}
	seen := make(map[string]bool, len(new.Flows))
	for _, f := range new.Flows {
		seen[f.UUID] = true
		o := oldFlows[f.UUID]
		if o == nil || !sameFlow(o, &f) {
			d.Upsert = append(d.Upsert, f)
		}
	}
	for _, f := range old.Flows {
		if !seen[f.UUID] {
			d.Delete = append(d.Delete, f.UUID)
		}
	}
	d.AddressSets = diffKeys(old.addrSets, new.addrSets, func(a, b []string) bool { return slicesEqual(a, b) })
	d.PortGroups = diffKeys(old.portGroups, new.portGroups, func(a, b []string) bool { return slicesEqual(a, b) })
	d.Ports = diffKeys(old.ports, new.ports, func(a, b portInfo) bool { return a.dp == b.dp && a.key == b.key })
	// Multicast groups resolve like ports (by name on a datapath).
	mc := func(s *Snapshot) map[string]string {
		lists := map[string][]string{}
		for dp, groups := range s.mcast {
			for name, key := range groups {
				lists[name] = append(lists[name], fmt.Sprintf("%d/%d", dp, key))
			}
		}
		out := map[string]string{}
		for name, l := range lists {
			sort.Strings(l)
			out[name] = strings.Join(l, ",")
		}
		return out
	}
	for _, n := range diffKeys(mc(old), mc(new), func(a, b string) bool { return a == b }) {
		if !slices.Contains(d.Ports, n) {
			d.Ports = append(d.Ports, n)
		}
	}
	for name := range union(old.ports, new.ports) {
		if old.ChassisResident(name) != new.ChassisResident(name) {
			d.Residents = append(d.Residents, name)
		}
	}
	sort.Strings(d.Residents)
	d.Templates = diffKeys(old.templates[old.Chassis], new.templates[new.Chassis], func(a, b string) bool { return a == b })
	return d
}

// Apply feeds the delta to a compiler whose resolver already answers for
// the new snapshot.
func (d *Delta) Apply(c *pipeline.Compiler) {
	for _, u := range d.Delete {
		c.Delete(u)
	}
	for _, n := range d.AddressSets {
		c.InvalidateAddressSet(n)
	}
	for _, n := range d.PortGroups {
		c.InvalidatePortGroup(n)
	}
	for _, n := range d.Ports {
		c.InvalidatePort(n)
	}
	for _, n := range d.Residents {
		c.InvalidateChassisResident(n)
	}
	for _, n := range d.Templates {
		c.InvalidateTemplateVar(n)
	}
	for _, f := range d.Upsert {
		c.Upsert(f)
	}
}

func sameFlow(a, b *pipeline.LogicalFlow) bool {
	return a.Pipeline == b.Pipeline && a.Table == b.Table && a.Priority == b.Priority && a.Match == b.Match &&
		a.Actions == b.Actions && a.Stage == b.Stage && slicesEqual32(a.Datapaths, b.Datapaths)
}

func slicesEqual(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func slicesEqual32(a, b []uint32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func union[V any](a, b map[string]V) map[string]struct{} {
	out := make(map[string]struct{}, len(a)+len(b))
	for k := range a {
		out[k] = struct{}{}
	}
	for k := range b {
		out[k] = struct{}{}
	}
	return out
}

func diffKeys[V any](a, b map[string]V, eq func(V, V) bool) []string {
	var out []string
	for k := range union(a, b) {
		va, oka := a[k]
		vb, okb := b[k]
		if oka != okb || !eq(va, vb) {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

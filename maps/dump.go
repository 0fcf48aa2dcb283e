package maps

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"

	"github.com/ovnbpf/ovnbpf/pipeline"
)

// Dump is a canonical text rendering of everything the controller programs
// into the datapath's maps: the classifier tables as packets see them at
// the current generation, ports, device bindings, datapaths, multicast
// groups, port security, MAC bindings and the chassis settings.
// Internal allocations (subtable, list and op slots, lflow counter indices,
// conjunction ids, the generation and its parity) are translated into
// stable identities, so two installs of the same state dump equal whatever
// the history of writes that led to them. Counters, the flow and next-hop
// caches and the FDB are left out: the datapath, not the controller, writes
// them. (MAC bindings the datapath learns, put_arp/put_nd, share the
// macbind map with the Southbound's and do appear.)
type Dump struct {
	Sections []DumpSection `json:"sections"`
}

// DumpSection is one kind of state, one sorted line per entry.
type DumpSection struct {
	Name  string   `json:"name"`
	Lines []string `json:"lines"`
}

// Text renders the dump, one "## section" header before each section's lines.
func (d *Dump) Text() string {
	var b strings.Builder
	for _, s := range d.Sections {
		fmt.Fprintf(&b, "## %s (%d)\n", s.Name, len(s.Lines))
		for _, l := range s.Lines {
			b.WriteString(l)
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// Diff lists the lines only in d ("- ") or only in o ("+ "), per section;
// empty when both dumps are equal.
func (d *Dump) Diff(o *Dump) []string {
	sections := map[string][2][]string{}
	var names []string
	add := func(dd *Dump, side int) {
		for _, s := range dd.Sections {
			v, ok := sections[s.Name]
			if !ok {
				names = append(names, s.Name)
			}
			v[side] = s.Lines
			sections[s.Name] = v
		}
	}
	add(d, 0)
	add(o, 1)
	var out []string
	for _, n := range names {
		v := sections[n]
		count := map[string]int{}
		for _, l := range v[0] {
			count[l]++
		}
		for _, l := range v[1] {
			count[l]--
		}
		for _, l := range v[0] {
			if count[l] > 0 {
				out = append(out, n+": - "+l)
				count[l]--
			}
		}
		for _, l := range v[1] {
			if count[l] < 0 {
				out = append(out, n+": + "+l)
				count[l]++
			}
		}
	}
	return out
}

// DumpMaps reads the maps and renders them canonically. The maps should not
// be written meanwhile (the daemon dumps between two applies).
func DumpMaps(m *DatapathMaps) (*Dump, error) {
	d := &Dump{}
	rules, subs, err := dumpTables(m)
	if err != nil {
		return nil, err
	}
	d.Sections = append(d.Sections, DumpSection{"rules", rules}, DumpSection{"subtables", subs})
	for _, sec := range []struct {
		name string
		f    func(*DatapathMaps) ([]string, error)
	}{
		{"datapaths", dumpDatapaths}, {"ports", dumpPorts}, {"vifs", dumpVIFs}, {"mcast", dumpMcast},
		{"portsec", dumpPortsec}, {"macbind", dumpMACBindings}, {"config", dumpConfig},
	} {
		lines, err := sec.f(m)
		if err != nil {
			return nil, fmt.Errorf("dumping %s: %w", sec.name, err)
		}
		sort.Strings(lines)
		d.Sections = append(d.Sections, DumpSection{sec.name, lines})
	}
	return d, nil
}

// dumpEntry is one classifier entry in the version packets see now.
type dumpEntry struct {
	table   TableID
	prio    uint16
	fields  []string // rendered match, conj_id left out
	conjID  uint32   // the conj_id the entry matches (hasConj)
	hasConj bool
	action  bool
	ops     string
	lflow   string
	conj    []DatapathOvnbpfConjRef
}

func (e *dumpEntry) match() string {
	if len(e.fields) == 0 {
		return "*"
	}
	return strings.Join(e.fields, ",")
}

// dumpTables walks the current generation's directories down to the
// entries and their op programs.
func dumpTables(m *DatapathMaps) (rules, subtables []string, err error) {
	var gen uint32
	if err := m.OvnbpfGen.Lookup(uint32(0), &gen); err != nil {
		return nil, nil, fmt.Errorf("reading generation: %w", err)
	}
	parity := uint8(gen & 1)
	lfnames := map[uint32]string{}
	var idx uint32
	var name DatapathOvnbpfLflowName
	it := m.OvnbpfLfnames.Iterate()
	for it.Next(&idx, &name) {
		lfnames[idx] = cString(name.Uuid[:])
	}
	if err := it.Err(); err != nil {
		return nil, nil, fmt.Errorf("reading lflow names: %w", err)
	}

	// subtable id -> the table using it, and its mask
	type subRef struct {
		table TableID
		mask  DatapathOvnbpfMask
	}
	owner := map[uint32]subRef{}
	err = readTables(m, parity, nil, func(t installedTable) error {
		for i, mask := range t.masks {
			ref := t.desc.Sub[i]
			if o, ok := owner[ref.Id]; ok {
				return fmt.Errorf("subtable %d is in %s and %s", ref.Id, o.table, t.id)
			}
			owner[ref.Id] = subRef{t.id, mask}
			// the precheck may test conj_id bits: a value the compiler chose
			pm, pv := ref.PreMask&^conjBits(ref.PreWord), ref.PreValue&^conjBits(ref.PreWord)
			subtables = append(subtables, fmt.Sprintf("%s mask=%s max_prio=%d precheck=%d/%x/%x",
				t.id, maskText(mask), ref.MaxPrio, ref.PreWord, pm, pv))
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}

	var entries []*dumpEntry
	opCache := map[uint32]DatapathOvnbpfOp{}
	read := func(sub uint32, w []uint64, rv *DatapathOvnbpfRule) error {
		ref, ok := owner[sub]
		if !ok {
			return nil // released, or not yet visible
		}
		slot := rv.Prev
		if int32(gen-rv.Since) >= 0 {
			slot = rv.Cur
		}
		if slot.Kind == 0 {
			return nil
		}
		e := &dumpEntry{table: ref.table, prio: slot.Prio, lflow: lfnames[slot.Lflow]}
		e.fields, e.conjID, e.hasConj = renderMatch(ref.mask, w)
		// every rule of a datapath's table matches its datapath: say it once
		e.fields = slices.DeleteFunc(e.fields, func(f string) bool { return f == fmt.Sprintf("dp=%08x", ref.table.Datapath) })
		if slot.Kind&1 != 0 {
			e.action = true
			ops := make([]DatapathOvnbpfOp, slot.N_ops)
			for i := range ops {
				at := slot.OpStart + uint32(i)
				op, ok := opCache[at]
				if !ok {
					if err := m.OvnbpfOps.Lookup(at, &op); err != nil {
						return fmt.Errorf("reading op %d: %w", at, err)
					}
					opCache[at] = op
				}
				ops[i] = op
			}
			e.ops = RenderOps(ops)
		}
		if slot.Kind&2 != 0 {
			e.conj = append(e.conj, slot.Conj[:min(int(slot.N_conj), len(slot.Conj))]...)
		}
		entries = append(entries, e)
		return nil
	}
	var nk DatapathOvnbpfRuleKey
	var rv DatapathOvnbpfRule
	nit := m.OvnbpfRules.Iterate()
	for nit.Next(&nk, &rv) {
		if err := read(nk.Subtable, nk.W[:], &rv); err != nil {
			return nil, nil, err
		}
	}
	if err := nit.Err(); err != nil {
		return nil, nil, fmt.Errorf("reading classifier entries: %w", err)
	}
	var wk DatapathOvnbpfRuleKeyW
	wit := m.OvnbpfRulesW.Iterate()
	for wit.Next(&wk, &rv) {
		if err := read(wk.Subtable, wk.W[:], &rv); err != nil {
			return nil, nil, err
		}
	}
	if err := wit.Err(); err != nil {
		return nil, nil, fmt.Errorf("reading classifier entries: %w", err)
	}

	names := conjNames(entries)
	for _, e := range entries {
		var b strings.Builder
		fmt.Fprintf(&b, "%s prio=%d match=%s", e.table, e.prio, e.match())
		if e.hasConj {
			fmt.Fprintf(&b, ",conj_id=%s", names[e.conjID])
		}
		if len(e.conj) > 0 {
			refs := make([]string, len(e.conj))
			for i, c := range e.conj {
				refs[i] = fmt.Sprintf("%s:%d/%d@%d", names[c.Id], c.Clause+1, c.N_clauses, c.Prio)
			}
			sort.Strings(refs)
			fmt.Fprintf(&b, " conjunction=%s", strings.Join(refs, ","))
		}
		if e.action {
			fmt.Fprintf(&b, " actions=%s", e.ops)
		}
		fmt.Fprintf(&b, " lflow=%s", e.lflow)
		rules = append(rules, b.String())
	}
	sort.Strings(rules)
	sort.Strings(subtables)
	return rules, subtables, nil
}

// conjBits are the bits of key word w that hold conj_id.
func conjBits(w uint8) uint64 {
	loc := fieldLocs[pipeline.FieldConjID]
	var m uint64
	for b := loc.Offset; b < loc.Offset+loc.Size; b++ {
		if b/8 == int(w) {
			m |= 0xff << (8 * (b % 8))
		}
	}
	return m
}

// conjNames names each conjunction id by what it is, not by the number the
// compiler happened to give it: a hash of the rules matching its conj_id and
// of its member clauses. Two ids with the same name are interchangeable.
func conjNames(entries []*dumpEntry) map[uint32]string {
	parts := map[uint32][]string{}
	for _, e := range entries {
		if e.hasConj {
			parts[e.conjID] = append(parts[e.conjID], fmt.Sprintf("rule %s %d %s %s %s", e.table, e.prio, e.match(), e.ops, e.lflow))
		}
		for _, c := range e.conj {
			parts[c.Id] = append(parts[c.Id], fmt.Sprintf("clause %s %d %s %d/%d", e.table, c.Prio, e.match(), c.Clause, c.N_clauses))
		}
	}
	names := make(map[uint32]string, len(parts))
	for id, p := range parts {
		sort.Strings(p)
		sum := sha256.Sum256([]byte(strings.Join(p, "\n")))
		names[id] = "c" + hex.EncodeToString(sum[:6])
	}
	return names
}

// renderMatch turns a subtable mask and an entry's words back into field
// matches (name=value[/mask], hex), conj_id apart.
func renderMatch(mask DatapathOvnbpfMask, w []uint64) (fields []string, conjID uint32, hasConj bool) {
	var val, msk [keyWords * 8]byte
	for i := 0; i < int(mask.N) && i < len(mask.Idx); i++ {
		at := int(mask.Idx[i]) * 8
		if at+8 > len(val) {
			fields = append(fields, fmt.Sprintf("word%d=%x/%x", mask.Idx[i], w[i], mask.Mask[i]))
			continue
		}
		binary.LittleEndian.PutUint64(msk[at:], mask.Mask[i])
		if i < len(w) {
			binary.LittleEndian.PutUint64(val[at:], w[i]&mask.Mask[i])
		}
	}
	covered := make([]bool, len(msk))
	for f := pipeline.Field(0); f < pipeline.NumFields; f++ {
		loc := fieldLocs[f]
		mb, vb := msk[loc.Offset:loc.Offset+loc.Size], val[loc.Offset:loc.Offset+loc.Size]
		for i := loc.Offset; i < loc.Offset+loc.Size; i++ {
			covered[i] = true
		}
		if allZero(mb) {
			continue
		}
		if f == pipeline.FieldConjID && allOnes(mb) {
			conjID, hasConj = binary.NativeEndian.Uint32(vb), true
			continue
		}
		fields = append(fields, renderBytes(loc.Name, vb, mb))
	}
	for i, c := range covered {
		if !c && msk[i] != 0 {
			fields = append(fields, renderBytes(fmt.Sprintf("key[%d]", i), val[i:i+1], msk[i:i+1]))
		}
	}
	return fields, conjID, hasConj
}

func renderBytes(name string, v, m []byte) string {
	if allOnes(m) {
		return fmt.Sprintf("%s=%x", name, v)
	}
	return fmt.Sprintf("%s=%x/%x", name, v, m)
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

func allOnes(b []byte) bool {
	for _, c := range b {
		if c != 0xff {
			return false
		}
	}
	return true
}

// RenderOps renders an op program: opcode names from the object's BTF,
// operands by field name.
func RenderOps(ops []DatapathOvnbpfOp) string {
	parts := make([]string, len(ops))
	for i, op := range ops {
		var args []string
		if op.Flags != 0 {
			args = append(args, fmt.Sprintf("flags=%#x", op.Flags))
		}
		if op.Arg != 0 {
			args = append(args, fmt.Sprintf("arg=%d", op.Arg))
		}
		width := 0
		for _, o := range op.O {
			if o == (DatapathOvnbpfOperand{}) {
				args = append(args, "-")
				continue
			}
			args = append(args, renderOperand(o))
			if width == 0 {
				width = int(o.Size)
			}
		}
		for len(args) > 0 && args[len(args)-1] == "-" {
			args = args[:len(args)-1]
		}
		if width == 0 || width > len(op.Value) {
			width = len(op.Value)
		}
		if !allZero(op.Value[:]) || !allZero(op.Mask[:]) {
			args = append(args, fmt.Sprintf("value=%x/%x", op.Value[:width], op.Mask[:width]))
			if !allZero(op.Value[width:]) || !allZero(op.Mask[width:]) {
				args = append(args, fmt.Sprintf("rest=%x/%x", op.Value[width:], op.Mask[width:]))
			}
		}
		parts[i] = enumName(opcodeNames(), uint32(op.Code), "op") + "(" + strings.Join(args, ",") + ")"
	}
	return strings.Join(parts, ";")
}

func renderOperand(o DatapathOvnbpfOperand) string {
	name := fmt.Sprintf("key[%d:%d]", o.Off, o.Size)
	for _, loc := range fieldLocs {
		if loc.Offset == int(o.Off) && (loc.Size == int(o.Size) || strings.HasPrefix(loc.Name, "reg")) {
			name = loc.Name
			if loc.Size != int(o.Size) {
				name = fmt.Sprintf("%s/%d", loc.Name, int(o.Size)*8) // an xreg/xxreg span
			}
			break
		}
	}
	return fmt.Sprintf("%s[%d+%d]", name, o.Bit, o.Nbits)
}

// enumNames reads a C enum's names (lower case, prefix dropped) from the
// object's BTF.
func enumNames(typ, prefix string) map[uint32]string {
	names := map[uint32]string{}
	spec, err := LoadDatapath()
	if err != nil {
		return names
	}
	var e *btf.Enum
	if err := spec.Types.TypeByName(typ, &e); err != nil {
		return names
	}
	for _, v := range e.Values {
		if strings.HasPrefix(v.Name, prefix) {
			names[uint32(v.Value)] = strings.ToLower(v.Name[len(prefix):])
		}
	}
	return names
}

var (
	opcodeNames   = sync.OnceValue(func() map[uint32]string { return enumNames("ovnbpf_opcode", "OVNBPF_OP_") })
	portTypeNames = sync.OnceValue(func() map[uint32]string { return enumNames("ovnbpf_port_type", "OVNBPF_PORT_") })
)

func enumName(names map[uint32]string, v uint32, what string) string {
	if n, ok := names[v]; ok {
		return n
	}
	return fmt.Sprintf("%s%d", what, v)
}

func ip4(v uint32) string {
	var b [4]byte
	binary.NativeEndian.PutUint32(b[:], v)
	return netip.AddrFrom4(b).String()
}

// iterate calls f for every entry of m.
func iterate[K, V any](m *ebpf.Map, f func(k *K, v *V)) error {
	var k K
	var v V
	it := m.Iterate()
	for it.Next(&k, &v) {
		f(&k, &v)
	}
	return it.Err()
}

func dumpDatapaths(m *DatapathMaps) (out []string, err error) {
	err = iterate(m.OvnbpfDps, func(k *uint32, v *DatapathOvnbpfDatapath) {
		out = append(out, fmt.Sprintf("dp=%d localnet_port=%d", *k, v.LocalnetPort))
	})
	return out, err
}

func dumpPorts(m *DatapathMaps) (out []string, err error) {
	err = iterate(m.OvnbpfPorts, func(k *DatapathOvnbpfPortKey, v *DatapathOvnbpfPort) {
		s := fmt.Sprintf("dp=%d port=%d type=%s", k.Dp, k.Port, enumName(portTypeNames(), uint32(v.Type), "type"))
		if v.Ifindex != 0 {
			s += fmt.Sprintf(" ifindex=%d", v.Ifindex)
		}
		if v.Vlan != 0 {
			s += fmt.Sprintf(" vlan=%d", v.Vlan)
		}
		if v.PeerDp != 0 || v.PeerPort != 0 {
			s += fmt.Sprintf(" peer=%d/%d", v.PeerDp, v.PeerPort)
		}
		if v.ChassisIp != 0 {
			s += " chassis=" + ip4(v.ChassisIp)
		}
		out = append(out, s)
	})
	return out, err
}

func dumpVIFs(m *DatapathMaps) (out []string, err error) {
	err = iterate(m.OvnbpfVifs, func(k *DatapathOvnbpfVifKey, v *DatapathOvnbpfVif) {
		out = append(out, fmt.Sprintf("ifindex=%d vlan=%d -> dp=%d port=%d ct_zone=%d flags=%#x", k.Ifindex, k.Vlan, v.Dp, v.Port, v.CtZone, v.Flags))
	})
	return out, err
}

func dumpMcast(m *DatapathMaps) (out []string, err error) {
	err = iterate(m.OvnbpfMcast, func(k *DatapathOvnbpfPortKey, v *DatapathOvnbpfMcastGroup) {
		ports := v.Ports[:min(int(v.N_ports), len(v.Ports))]
		chassis := make([]string, 0, v.N_chassis)
		for _, c := range v.Chassis[:min(int(v.N_chassis), len(v.Chassis))] {
			chassis = append(chassis, ip4(c))
		}
		out = append(out, fmt.Sprintf("dp=%d group=%d ports=%v chassis=%v", k.Dp, k.Port, ports, chassis))
	})
	return out, err
}

func dumpPortsec(m *DatapathMaps) (out []string, err error) {
	err = iterate(m.OvnbpfPortsec, func(k *DatapathOvnbpfPortKey, v *DatapathOvnbpfPortsecVal) {
		var es []string
		for _, e := range v.E[:min(int(v.N), len(v.E))] {
			s := net.HardwareAddr(e.Mac[:]).String()
			for _, a := range e.Ip4[:min(int(e.N_ip4), len(e.Ip4))] {
				s += " " + ip4(a.Addr) + "/" + ip4(a.Mask)
			}
			for _, a := range e.Ip6[:min(int(e.N_ip6), len(e.Ip6))] {
				s += fmt.Sprintf(" %s/%d", netip.AddrFrom16(a.Addr), a.Plen)
			}
			es = append(es, "{"+s+"}")
		}
		out = append(out, fmt.Sprintf("dp=%d port=%d %s", k.Dp, k.Port, strings.Join(es, " ")))
	})
	return out, err
}

func dumpMACBindings(m *DatapathMaps) (out []string, err error) {
	err = iterate(m.OvnbpfMacbind, func(k *DatapathOvnbpfMacbindKey, v *DatapathOvnbpfMacbindVal) {
		ip := netip.AddrFrom16(k.Ip)
		if k.Kind == 0 {
			ip = netip.AddrFrom4([4]byte(k.Ip[:4]))
		}
		line := fmt.Sprintf("dp=%d port=%d ip=%s mac=%s", k.Dp, k.Port, ip, net.HardwareAddr(v.Mac[:]))
		if v.Flags&uint8(DatapathOvnbpfMacbindFlagOVNBPF_MACBIND_PINNED) != 0 {
			line += " pinned"
		}
		out = append(out, line)
	})
	return out, err
}

func dumpConfig(m *DatapathMaps) ([]string, error) {
	var c DatapathOvnbpfConfig
	if err := m.OvnbpfCfg.Lookup(uint32(0), &c); err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	return []string{fmt.Sprintf("encap_ip=%s underlay_ifindex=%d udp_csum=%d", ip4(c.EncapIp), c.UnderlayIfindex, c.UdpCsum)}, nil
}

// InstalledTables lists the tables the installer holds (those read back
// from the pins included): a full recompute removes those the compiler no
// longer produces.
func (in *Installer) InstalledTables() []TableID {
	ids := make([]TableID, 0, len(in.tables))
	for id := range in.tables {
		ids = append(ids, id)
	}
	sortTableIDs(ids)
	return ids
}

// Programmed are the keys of the maps the controller writes through State,
// as found in the maps: a full recompute deletes those it does not want.
type Programmed struct {
	Datapaths   []uint32
	Ports       [][2]uint32 // (dp, port)
	VIFs        []VIFKey
	Mcast       [][2]uint32 // (dp, group key)
	Portsec     [][2]uint32 // (dp, port)
	MACBindings []MACBindingKey
}

// VIFKey names a device binding.
type VIFKey struct {
	Ifindex uint32
	VLAN    uint16
}

// MACBindingKey names a MAC binding.
type MACBindingKey struct {
	Datapath, Port uint32
	IP             netip.Addr
}

// Programmed reads the keys present in the state maps.
func (s *State) Programmed() (*Programmed, error) {
	p := &Programmed{}
	errs := []error{
		iterate(s.m.OvnbpfDps, func(k *uint32, _ *DatapathOvnbpfDatapath) { p.Datapaths = append(p.Datapaths, *k) }),
		iterate(s.m.OvnbpfPorts, func(k *DatapathOvnbpfPortKey, _ *DatapathOvnbpfPort) {
			p.Ports = append(p.Ports, [2]uint32{k.Dp, k.Port})
		}),
		iterate(s.m.OvnbpfVifs, func(k *DatapathOvnbpfVifKey, _ *DatapathOvnbpfVif) {
			p.VIFs = append(p.VIFs, VIFKey{k.Ifindex, k.Vlan})
		}),
		iterate(s.m.OvnbpfMcast, func(k *DatapathOvnbpfPortKey, _ *DatapathOvnbpfMcastGroup) {
			p.Mcast = append(p.Mcast, [2]uint32{k.Dp, k.Port})
		}),
		iterate(s.m.OvnbpfPortsec, func(k *DatapathOvnbpfPortKey, _ *DatapathOvnbpfPortsecVal) {
			p.Portsec = append(p.Portsec, [2]uint32{k.Dp, k.Port})
		}),
		iterate(s.m.OvnbpfMacbind, func(k *DatapathOvnbpfMacbindKey, _ *DatapathOvnbpfMacbindVal) {
			ip := netip.AddrFrom16(k.Ip)
			if k.Kind == 0 {
				ip = netip.AddrFrom4([4]byte(k.Ip[:4]))
			}
			p.MACBindings = append(p.MACBindings, MACBindingKey{k.Dp, k.Port, ip})
		}),
	}
	for _, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("listing programmed state: %w", err)
		}
	}
	return p, nil
}

// DeleteDatapath removes a datapath's facts.
func (s *State) DeleteDatapath(dp uint32) error {
	return s.deleteKey(s.m.OvnbpfDps, &dp, "datapath")
}

// DeleteMulticastGroup removes a multicast group.
func (s *State) DeleteMulticastGroup(dp, key uint32) error {
	return s.deleteKey(s.m.OvnbpfMcast, &DatapathOvnbpfPortKey{Dp: dp, Port: key}, "multicast group")
}

// DeleteMACBinding removes a MAC binding.
func (s *State) DeleteMACBinding(dp, port uint32, ip netip.Addr) error {
	k := macbindKey(dp, port, ip)
	return s.deleteKey(s.m.OvnbpfMacbind, &k, "MAC binding")
}

// installedTable is a table read back from the maps: its descriptor (index
// idx in ovnbpf_tables) and the masks of its subtables, desc.Sub[i]'s at i.
type installedTable struct {
	id    TableID
	idx   uint32
	desc  DatapathOvnbpfTable
	masks []DatapathOvnbpfMask
}

// readTables reads the tables the directories of one parity list, for the
// dump and for an installer reading back what it installed. dp, if not nil,
// is called for each directory of either parity.
func readTables(m *DatapathMaps, parity uint8, dp func(DatapathOvnbpfDirKey), table func(installedTable) error) error {
	var dk DatapathOvnbpfDirKey
	var dir DatapathOvnbpfDir
	it := m.OvnbpfDirs.Iterate()
	for it.Next(&dk, &dir) {
		if dp != nil {
			dp(dk)
		}
		if dk.Parity != parity {
			continue
		}
		for p := range dir.Table {
			for t, idx := range dir.Table[p] {
				if idx == 0 {
					continue
				}
				tb := installedTable{id: TableID{Datapath: dk.Dp, Pipeline: pipeline.Pipeline(p), Table: uint8(t)}, idx: idx}
				if err := m.OvnbpfTables.Lookup(idx, &tb.desc); err != nil {
					return fmt.Errorf("reading table %s: %w", tb.id, err)
				}
				for i := uint32(0); i < tb.desc.N && int(i) < len(tb.desc.Sub); i++ {
					var mask DatapathOvnbpfMask
					if err := m.OvnbpfMasks.Lookup(tb.desc.Sub[i].Id, &mask); err != nil {
						return fmt.Errorf("reading mask of subtable %d (%s): %w", tb.desc.Sub[i].Id, tb.id, err)
					}
					tb.masks = append(tb.masks, mask)
				}
				if err := table(tb); err != nil {
					return err
				}
			}
		}
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("reading directories: %w", err)
	}
	return nil
}

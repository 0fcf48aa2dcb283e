package pipeline

import (
	"encoding/hex"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Canonical text of rules and ops. One line per rule:
//
//	dp=1 ingress table=3 prio=50 match=eth_dst=0a:00:00:00:00:01 actions=set(outport=0x2),next(4) lflow=<uuid>
//
// Values print by field kind: MACs as 0a:00:.., IPv4/IPv6 as addresses (a
// prefix mask as /len), everything else as hex; a partial mask as value/mask.

func isMACField(f Field) bool {
	switch f {
	case FieldEthSrc, FieldEthDst, FieldArpSha, FieldArpTha, FieldNdSll, FieldNdTll:
		return true
	}
	return false
}

func isIP4Field(f Field) bool {
	switch f {
	case FieldIP4Src, FieldIP4Dst, FieldArpSpa, FieldArpTpa:
		return true
	}
	return false
}

func isIP6Field(f Field) bool {
	switch f {
	case FieldIP6Src, FieldIP6Dst, FieldNdTarget:
		return true
	}
	return false
}

func allOnes(b []byte) bool {
	for _, x := range b {
		if x != 0xff {
			return false
		}
	}
	return true
}

// prefixLen returns the CIDR length of mask, or -1 if it is not a prefix.
func prefixLen(mask []byte) int {
	n := 0
	i := 0
	for ; i < len(mask) && mask[i] == 0xff; i++ {
		n += 8
	}
	if i < len(mask) {
		m := mask[i]
		for m&0x80 != 0 {
			n++
			m <<= 1
		}
		if m != 0 {
			return -1
		}
		for i++; i < len(mask); i++ {
			if mask[i] != 0 {
				return -1
			}
		}
	}
	return n
}

func formatRaw(f Field, v []byte) string {
	switch {
	case isMACField(f) && len(v) == 6:
		var sb strings.Builder
		for i, x := range v {
			if i > 0 {
				sb.WriteByte(':')
			}
			sb.WriteString(hex.EncodeToString([]byte{x}))
		}
		return sb.String()
	case isIP4Field(f) && len(v) == 4:
		return netip.AddrFrom4([4]byte(v)).String()
	case isIP6Field(f) && len(v) == 16:
		return netip.AddrFrom16([16]byte(v)).String()
	}
	return hexValue(v)
}

// hexValue prints a big-endian number as 0x... without leading zeros.
func hexValue(v []byte) string {
	s := strings.TrimLeft(hex.EncodeToString(v), "0")
	if s == "" {
		s = "0"
	}
	return "0x" + s
}

// FormatValue renders value/mask of f canonically.
func FormatValue(f Field, value, mask []byte) string {
	if mask == nil || allOnes(mask) {
		return formatRaw(f, value)
	}
	if isIP4Field(f) || isIP6Field(f) {
		if n := prefixLen(mask); n >= 0 {
			return formatRaw(f, value) + "/" + strconv.Itoa(n)
		}
	}
	return formatRaw(f, value) + "/" + formatRaw(f, mask)
}

func (m FieldMatch) String() string {
	return m.Field.String() + "=" + FormatValue(m.Field, m.Value, m.Mask)
}

// String renders the rule as one canonical line.
func (r *Rule) String() string {
	var sb strings.Builder
	r.appendText(&sb, r.Lflow)
	return sb.String()
}

// appendText writes the rule's line with lflow printed as given (the golden
// tests replace uuids with stable names).
func (r *Rule) appendText(sb *strings.Builder, lflow string) {
	sb.WriteString("dp=")
	sb.WriteString(strconv.FormatUint(uint64(r.Datapath), 10))
	sb.WriteByte(' ')
	sb.WriteString(r.Pipeline.String())
	sb.WriteString(" table=")
	sb.WriteString(strconv.Itoa(int(r.Table)))
	sb.WriteString(" prio=")
	sb.WriteString(strconv.Itoa(int(r.Priority)))
	sb.WriteString(" match=")
	if len(r.Match) == 0 {
		sb.WriteString("*")
	}
	for i, m := range r.Match {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(m.String())
	}
	if len(r.Conj) > 0 {
		sb.WriteString(" conj=")
		for i, c := range r.Conj {
			if i > 0 {
				sb.WriteByte(',')
			}
			sb.WriteString(strconv.FormatUint(uint64(c.ID), 10))
			sb.WriteByte(':')
			sb.WriteString(strconv.Itoa(int(c.Clause)))
			sb.WriteByte('/')
			sb.WriteString(strconv.Itoa(int(c.NClauses)))
		}
	} else {
		sb.WriteString(" actions=")
		sb.WriteString(FormatOps(r.Actions))
	}
	if lflow != "" {
		sb.WriteString(" lflow=")
		sb.WriteString(lflow)
	}
}

// FormatOps renders an op program canonically: ops joined by ','.
func FormatOps(ops []Op) string {
	if len(ops) == 0 {
		return "drop"
	}
	parts := make([]string, len(ops))
	for i, op := range ops {
		parts[i] = op.String()
	}
	return strings.Join(parts, ",")
}

func nested(name string, ops []Op) string {
	return name + "{" + strings.Join(opStrings(ops), ",") + "}"
}

func opStrings(ops []Op) []string {
	s := make([]string, len(ops))
	for i, op := range ops {
		s[i] = op.String()
	}
	return s
}

func bitsOf(f Field, off, n uint16) Bits { return Bits{Field: f, Off: off, NBits: n} }

func ipString(b []byte) string {
	switch len(b) {
	case 4:
		return netip.AddrFrom4([4]byte(b)).String()
	case 16:
		return netip.AddrFrom16([16]byte(b)).String()
	}
	return ""
}

func (o SetField) String() string {
	return "set(" + o.Field.String() + "=" + FormatValue(o.Field, o.Value, o.Mask) + ")"
}
func (o Move) String() string {
	return "move(" + bitsOf(o.Src, o.SrcOff, o.NBits).String() + "->" + bitsOf(o.Dst, o.DstOff, o.NBits).String() + ")"
}
func (o Swap) String() string {
	return "swap(" + bitsOf(o.A, o.AOff, o.NBits).String() + "<->" + bitsOf(o.B, o.BOff, o.NBits).String() + ")"
}
func (o Push) String() string { return "push(" + o.Bits.String() + ")" }
func (o Pop) String() string  { return "pop(" + o.Bits.String() + ")" }
func (o Next) String() string {
	return "next(" + o.Pipeline.String() + "," + strconv.Itoa(int(o.Table)) + ")"
}
func (Output) String() string  { return "output" }
func (Drop) String() string    { return "drop" }
func (o Clone) String() string { return nested("clone", o.Actions) }
func (DecTTL) String() string  { return "dec_ttl" }
func (o CheckPortSec) String() string {
	if o.Dir == PortSecOut {
		return "check_out_port_sec(->" + o.Dst.String() + ")"
	}
	return "check_in_port_sec(->" + o.Dst.String() + ")"
}
func (o GetMAC) String() string {
	return "get_" + o.Kind.String() + "(" + o.Port.String() + "," + o.IP.String() + ")"
}
func (o LookupMAC) String() string {
	if o.MAC.NBits == 0 {
		return "lookup_" + o.Kind.String() + "_ip(" + o.Port.String() + "," + o.IP.String() + "->" + o.Dst.String() + ")"
	}
	return "lookup_" + o.Kind.String() + "(" + o.Port.String() + "," + o.IP.String() + "," + o.MAC.String() + "->" + o.Dst.String() + ")"
}
func (o PutMAC) String() string {
	return "put_" + o.Kind.String() + "(" + o.Port.String() + "," + o.IP.String() + "," + o.MAC.String() + ")"
}
func (o GetFDB) String() string { return "get_fdb(" + o.MAC.String() + "->" + o.Dst.String() + ")" }
func (o LookupFDB) String() string {
	return "lookup_fdb(" + o.Port.String() + "," + o.MAC.String() + "->" + o.Dst.String() + ")"
}
func (o PutFDB) String() string { return "put_fdb(" + o.Port.String() + "," + o.MAC.String() + ")" }
func (o CTNext) String() string {
	return "ct_next(zone=" + o.Zone.String() + ",table=" + strconv.Itoa(int(o.Table)) + ")"
}
func (o CTCommit) String() string {
	return "ct_commit(zone=" + o.Zone.String() + "){" + strings.Join(opStrings(o.Actions), ",") + "}"
}
func (o CTNAT) String() string {
	var sb strings.Builder
	if o.Kind == NATSrc {
		sb.WriteString("ct_snat(zone=")
	} else {
		sb.WriteString("ct_dnat(zone=")
	}
	sb.WriteString(o.Zone.String())
	if o.IP != nil {
		sb.WriteString(",ip=")
		sb.WriteString(ipString(o.IP))
	}
	if o.PortMin != 0 || o.PortMax != 0 {
		sb.WriteString(",ports=")
		sb.WriteString(strconv.Itoa(int(o.PortMin)))
		if o.PortMax != o.PortMin {
			sb.WriteByte('-')
			sb.WriteString(strconv.Itoa(int(o.PortMax)))
		}
	}
	if o.Random {
		sb.WriteString(",random")
	}
	if o.Hash {
		sb.WriteString(",hash")
	}
	if o.Persist {
		sb.WriteString(",persistent")
	}
	if o.CommonZone {
		sb.WriteString(",czone")
	}
	sb.WriteString(",table=")
	sb.WriteString(strconv.Itoa(int(o.Table)))
	sb.WriteByte(')')
	return sb.String()
}
func (o CTLB) String() string {
	var sb strings.Builder
	if o.Mark {
		sb.WriteString("ct_lb_mark(zone=")
	} else {
		sb.WriteString("ct_lb(zone=")
	}
	sb.WriteString(o.Zone.String())
	if len(o.Backends) > 0 {
		sb.WriteString(",backends=")
		for i, b := range o.Backends {
			if i > 0 {
				sb.WriteByte(';')
			}
			if len(b.IP) == 16 {
				sb.WriteString("[" + ipString(b.IP) + "]")
			} else {
				sb.WriteString(ipString(b.IP))
			}
			if b.Port != 0 {
				sb.WriteByte(':')
				sb.WriteString(strconv.Itoa(int(b.Port)))
			}
		}
	}
	if len(o.HashFields) > 0 {
		sb.WriteString(",hash=" + strings.Join(o.HashFields, ";"))
	}
	if o.SkipSNAT {
		sb.WriteString(",skip_snat")
	}
	if o.ForceSNAT {
		sb.WriteString(",force_snat")
	}
	sb.WriteString(",table=")
	sb.WriteString(strconv.Itoa(int(o.Table)))
	sb.WriteByte(')')
	return sb.String()
}
func (CTClear) String() string { return "ct_clear" }
func (o CTCommitNAT) String() string {
	return "ct_commit_nat(zone=" + o.Zone.String() + ",table=" + strconv.Itoa(int(o.Table)) + ")"
}
func (o CTSNATToVIP) String() string {
	return "ct_snat_to_vip(zone=" + o.Zone.String() + ",table=" + strconv.Itoa(int(o.Table)) + ")"
}
func (o Helper) String() string { return o.Kind.String() + "(->" + o.Dst.String() + ")" }
func (o CommitECMPNH) String() string {
	return "commit_ecmp_nh(ipv6=" + strconv.FormatBool(o.IPv6) + ",proto=" + strconv.Itoa(int(o.Proto)) + ")"
}
func (o CommitLBAff) String() string {
	return "commit_lb_aff(vip=" + ipString(o.VIP) + ":" + strconv.Itoa(int(o.VIPPort)) +
		",backend=" + ipString(o.Backend) + ":" + strconv.Itoa(int(o.BackendPort)) +
		",proto=" + strconv.Itoa(int(o.Proto)) + ",timeout=" + strconv.Itoa(int(o.Timeout)) + ")"
}
func (o CheckPktLarger) String() string {
	return "check_pkt_larger(" + strconv.Itoa(int(o.Len)) + "->" + o.Dst.String() + ")"
}
func (o Select) String() string {
	var sb strings.Builder
	sb.WriteString("select(")
	for i, v := range o.Values {
		if i > 0 {
			sb.WriteByte(';')
		}
		sb.WriteString(strconv.FormatUint(uint64(v), 10))
		sb.WriteByte(':')
		sb.WriteString(strconv.Itoa(int(o.Weights[i])))
	}
	if len(o.HashFields) > 0 {
		sb.WriteString(",hash=" + strings.Join(o.HashFields, ";"))
	}
	sb.WriteString("->" + o.Dst.String() + ")")
	return sb.String()
}
func (o FwdGroup) String() string {
	p := make([]string, len(o.Ports))
	for i, k := range o.Ports {
		p[i] = "0x" + strconv.FormatUint(uint64(k), 16)
	}
	return "fwd_group(liveness=" + strconv.FormatBool(o.Liveness) + ",ports=" + strings.Join(p, ";") + ")"
}
func (o SetQueue) String() string { return "set_queue(" + strconv.Itoa(int(o.Queue)) + ")" }
func (o SetMeter) String() string {
	return "set_meter(" + strconv.FormatUint(uint64(o.Rate), 10) + "," + strconv.FormatUint(uint64(o.Burst), 10) + ")"
}
func (o Log) String() string {
	return "log(name=" + strconv.Quote(o.Name) + ",severity=" + o.Severity + ",verdict=" + o.Verdict +
		",meter=" + strconv.Quote(o.Meter) + ")"
}
func (o Controller) String() string {
	var parts []string
	if o.Dst.NBits != 0 {
		parts = append(parts, "->"+o.Dst.String())
	}
	for _, opt := range o.Options {
		parts = append(parts, opt.Name+"="+opt.Value)
	}
	for _, a := range o.Args {
		parts = append(parts, a.Name+"="+a.Value)
	}
	for _, p := range o.Ports {
		parts = append(parts, "port=0x"+strconv.FormatUint(uint64(p), 16))
	}
	if o.Meter != "" {
		parts = append(parts, "meter="+strconv.Quote(o.Meter))
	}
	s := "controller(" + o.Kind.String()
	if len(parts) > 0 {
		s += "," + strings.Join(parts, ",")
	}
	s += ")"
	if len(o.Nested) > 0 {
		s += "{" + strings.Join(opStrings(o.Nested), ",") + "}"
	}
	return s
}
func (o SetFragMTU) String() string {
	if o.IPv6 {
		return "set_frag_mtu6(" + strconv.FormatUint(uint64(o.MTU), 10) + ")"
	}
	return "set_frag_mtu4(" + strconv.FormatUint(uint64(o.MTU), 10) + ")"
}
func (o Unsupported) String() string { return "unsupported(" + strconv.Quote(o.Reason) + ")" }

// RenderOptions makes a rendering independent of what a test does not
// control (Southbound uuids, key allocation): names in place of numbers.
type RenderOptions struct {
	// LflowName replaces an lflow uuid (nil: the uuid).
	LflowName func(uuid string) string
	// DatapathName replaces a datapath key (nil: the key).
	DatapathName func(dp uint32) string
	// PortName replaces inport/outport values (false: the number).
	PortName func(dp, key uint32) (string, bool)
	// StableConjIDs renumbers conjunction ids per table from 1, in the order
	// the member rules appear.
	StableConjIDs bool
}

// Render renders every table of the compiler canonically, one rule a line,
// tables in key order (by DatapathName when given), rules in table order.
func Render(c *Compiler, o RenderOptions) string {
	type tbl struct {
		k    TableKey
		name string
	}
	var ts []tbl
	for _, k := range c.Tables() {
		name := strconv.FormatUint(uint64(k.Datapath), 10)
		if o.DatapathName != nil {
			name = o.DatapathName(k.Datapath)
		}
		ts = append(ts, tbl{k, name})
	}
	sort.SliceStable(ts, func(i, j int) bool {
		if ts[i].name != ts[j].name {
			return ts[i].name < ts[j].name
		}
		return ts[i].k.less(ts[j].k)
	})
	var sb strings.Builder
	for _, t := range ts {
		lines := renderTable(t.k, t.name, c.Table(t.k), o)
		for _, l := range lines {
			sb.WriteString(l)
			sb.WriteByte('\n')
		}
	}
	return sb.String()
}

func renderTable(k TableKey, dpName string, rules []Rule, o RenderOptions) []string {
	ids := map[uint32]uint32{}
	if o.StableConjIDs {
		for _, r := range rules {
			for _, cr := range r.Conj {
				if _, ok := ids[cr.ID]; !ok {
					ids[cr.ID] = uint32(len(ids) + 1)
				}
			}
		}
	}
	portName := func(v []byte) string {
		if o.PortName == nil || len(v) != 4 {
			return ""
		}
		key := uint32(v[0])<<24 | uint32(v[1])<<16 | uint32(v[2])<<8 | uint32(v[3])
		n, _ := o.PortName(k.Datapath, key)
		return n
	}
	lines := make([]string, 0, len(rules))
	for i := range rules {
		r := rules[i]
		if o.StableConjIDs {
			r.Conj = slices.Clone(r.Conj)
			for j := range r.Conj {
				r.Conj[j].ID = ids[r.Conj[j].ID]
			}
			sort.Slice(r.Conj, func(a, b int) bool { return r.Conj[a].ID < r.Conj[b].ID })
		}
		var sb strings.Builder
		sb.WriteString("dp=" + dpName + " " + r.Pipeline.String() + " table=" + strconv.Itoa(int(r.Table)) +
			" prio=" + strconv.Itoa(int(r.Priority)) + " match=")
		if len(r.Match) == 0 {
			sb.WriteString("*")
		}
		for j, m := range r.Match {
			if j > 0 {
				sb.WriteByte(',')
			}
			switch {
			case m.Field == FieldConjID && o.StableConjIDs:
				id := uint32(m.Value[0])<<24 | uint32(m.Value[1])<<16 | uint32(m.Value[2])<<8 | uint32(m.Value[3])
				sb.WriteString("conj_id=" + strconv.FormatUint(uint64(ids[id]), 10))
			case (m.Field == FieldInport || m.Field == FieldOutport) && allOnes(m.Mask) && portName(m.Value) != "":
				sb.WriteString(m.Field.String() + "=" + strconv.Quote(portName(m.Value)))
			default:
				sb.WriteString(m.String())
			}
		}
		if len(r.Conj) > 0 {
			sb.WriteString(" conj=")
			for j, cr := range r.Conj {
				if j > 0 {
					sb.WriteByte(',')
				}
				sb.WriteString(strconv.FormatUint(uint64(cr.ID), 10) + ":" + strconv.Itoa(int(cr.Clause)) + "/" + strconv.Itoa(int(cr.NClauses)))
			}
		} else {
			sb.WriteString(" actions=")
			parts := make([]string, len(r.Actions))
			for j, op := range r.Actions {
				if s, ok := op.(SetField); ok && (s.Field == FieldOutport || s.Field == FieldInport) && allOnes(s.Mask) {
					if n := portName(s.Value); n != "" {
						parts[j] = "set(" + s.Field.String() + "=" + strconv.Quote(n) + ")"
						continue
					}
				}
				parts[j] = op.String()
			}
			if len(parts) == 0 {
				sb.WriteString("drop")
			}
			sb.WriteString(strings.Join(parts, ","))
		}
		lf := r.Lflow
		if o.LflowName != nil {
			lf = o.LflowName(r.Lflow)
		}
		sb.WriteString(" lflow=" + lf)
		lines = append(lines, sb.String())
	}
	if o.StableConjIDs {
		// Renumbering changes conj_id values: re-sort for a stable order.
		sort.SliceStable(lines, func(i, j int) bool {
			return linePrio(lines[i]) > linePrio(lines[j]) || linePrio(lines[i]) == linePrio(lines[j]) && lines[i] < lines[j]
		})
	}
	return lines
}

func linePrio(l string) int {
	i := strings.Index(l, " prio=")
	if i < 0 {
		return 0
	}
	rest := l[i+6:]
	j := strings.IndexByte(rest, ' ')
	n, _ := strconv.Atoi(rest[:j])
	return n
}

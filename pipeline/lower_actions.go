package pipeline

import (
	"strconv"
	"strings"
)

// lowerCtx carries what lowering an lflow for one datapath needs.
type lowerCtx struct {
	expandCtx
	pipeline Pipeline
	table    uint8
	isRouter bool
	pbuf     [2][]piece
	depsBuf  deps
	arenaBuf arena // normal forms of this lowering (expandCtx.al)
	boxed    *opBoxes
	slabs    slabChunks // kept by the rules: carved, never reused
	unique   bool       // the constant assigned is likely unique (a MAC per port): do not look for a boxed one
}

// opBoxes holds recurring ops boxed once, shared by the lowerings of one
// pooled context: ops are read-only once built, and the same moves and
// constant loads (outport = inport, arp.op = 2, flags.loopback = 1 ...)
// recur in thousands of lflows, each boxing an allocation otherwise.
type opBoxes struct {
	moves map[Move]Op
	swaps map[Swap]Op
	sets  map[setKey]Op
}

type setKey struct {
	f    Field
	v, m [16]byte
}

// opBoxesMax bounds each map (unique constants, a MAC per port, would
// otherwise grow it without end): it starts over when full.
const opBoxesMax = 1 << 12

func (c *lowerCtx) boxes() *opBoxes {
	if c.boxed == nil {
		c.boxed = &opBoxes{moves: map[Move]Op{}, swaps: map[Swap]Op{}, sets: map[setKey]Op{}}
	}
	return c.boxed
}

func boxOp[K comparable](m map[K]Op, k K, make func() Op) Op {
	if op, ok := m[k]; ok {
		return op
	}
	if len(m) >= opBoxesMax {
		clear(m)
	}
	op := make()
	m[k] = op
	return op
}

// Register spans in op operands (Bits): when Field is a register and NBits
// is 64 or 128, the operand is the span xreg/xxreg made of NBits/32
// consecutive registers starting at Field, Field being the most significant
// word (Bits{reg4, 0, 128} is xxreg1). Moves and swaps are always split per
// register, so only the operands of lookups (get_nd, lookup_nd ...) and
// push/pop use spans.

// symPieces resolves a field reference to its symbol and physical pieces.
func (c *lowerCtx) symPieces(f fieldRef, which int) (*symbol, []piece, error) {
	s := f.symbol()
	if s == nil {
		if strings.HasSuffix(f.name, ".frag_mtu") {
			return nil, nil, errorf(f.String(), "ICMP frag_mtu is only writable inside icmp4_error/icmp6_error")
		}
		return nil, nil, errorf(f.name, "unknown field")
	}
	if s.kind == symPredicate {
		return nil, nil, errorf(f.name, "predicate used as a field")
	}
	lo, w, err := subRange(s, f)
	if err != nil {
		return nil, nil, err
	}
	c.pbuf[which] = s.pieces(lo, w, c.pbuf[which])
	return s, c.pbuf[which], nil
}

// operand turns a field reference into a Bits operand.
func (c *lowerCtx) operand(f fieldRef) (Bits, error) {
	_, ps, err := c.symPieces(f, 0)
	if err != nil {
		return Bits{}, err
	}
	if len(ps) == 1 {
		return Bits{Field: ps[0].field, Off: uint16(ps[0].off), NBits: uint16(ps[0].n)}, nil
	}
	for _, p := range ps {
		if p.off != 0 || p.n != 32 {
			return Bits{}, errorf(f.String(), "operand is not register aligned")
		}
	}
	return Bits{Field: ps[len(ps)-1].field, NBits: uint16(32 * len(ps))}, nil
}

// result checks that a result destination is a writable 1-bit field.
func (c *lowerCtx) result(f fieldRef, bits int) (Bits, error) {
	s, ps, err := c.symPieces(f, 0)
	if err != nil {
		return Bits{}, err
	}
	if s.readOnly {
		return Bits{}, errorf(f.String(), "field is read-only")
	}
	w := 0
	for _, p := range ps {
		w += p.n
	}
	if bits > 0 && w != bits {
		return Bits{}, errorf(f.String(), "result needs a %d-bit destination, have %d bits", bits, w)
	}
	if len(ps) != 1 {
		return Bits{}, errorf(f.String(), "result destination spans registers")
	}
	return Bits{Field: ps[0].field, Off: uint16(ps[0].off), NBits: uint16(ps[0].n)}, nil
}

func (c *lowerCtx) portField(v argVal) (Field, error) {
	if !v.isField || (v.field.name != "inport" && v.field.name != "outport") || v.field.lo >= 0 {
		return 0, errorf(v.String(), "expecting inport or outport")
	}
	if v.field.name == "inport" {
		return FieldInport, nil
	}
	return FieldOutport, nil
}

func (c *lowerCtx) ctZone() Field {
	if c.isRouter {
		return FieldCtZoneDNAT
	}
	return FieldCtZone
}

// constBytes returns n zeroed bytes for op constants, carved from the
// chunk the rules' matches come from (never reused: the ops keep them).
func (c *lowerCtx) constBytes(n int) []byte {
	return carveCap(&c.slabs.bytes, n, slabChunkBytes)[:n]
}

// nextOps holds every Next op boxed once: nearly every lflow ends with
// `next;`, and boxing the 2-byte value into the Op interface was one
// allocation per rule program.
var nextOps = func() (t [2][256]Op) {
	for p := range t {
		for i := range t[p] {
			t[p][i] = Next{Pipeline: Pipeline(p), Table: uint8(i)}
		}
	}
	return t
}()

func nextOp(pl Pipeline, table uint8) Op {
	if pl <= Egress {
		return nextOps[pl][table]
	}
	return Next{Pipeline: pl, Table: table}
}

// lowerActions lowers a list of actions into ops.
func (c *lowerCtx) lowerActions(list []*action, inCommit bool) ([]Op, error) {
	return c.lowerActionsInto(make([]Op, 0, len(list)+2), list, inCommit)
}

// lowerActionsInto lowers a list of actions, appending to ops.
func (c *lowerCtx) lowerActionsInto(ops []Op, list []*action, inCommit bool) ([]Op, error) {
	for _, a := range list {
		var err error
		ops, err = c.lowerAction(ops, a, inCommit)
		if err != nil {
			return nil, err
		}
	}
	return ops, nil
}

func (c *lowerCtx) lowerAction(ops []Op, a *action, inCommit bool) ([]Op, error) {
	switch a.kind {
	case aCTNext, aCTCommitNAT, aCTSNATToVIP, aCTNAT, aCTLB:
		// These continue in the next table, as OVN's recirculation does.
		if c.table == 255 {
			return nil, errorf(a.String(), "%s is not allowed in the last table", a.name)
		}
	}
	switch a.kind {
	case aDrop:
		return ops, nil
	case aAssign:
		return c.lowerAssign(ops, a, inCommit)
	case aExchange:
		return c.lowerMove(ops, a.dst, a.src.field, true)
	case aDecTTL:
		return append(ops, DecTTL{}), nil
	case aOutput:
		return append(ops, Output{}), nil
	case aNext:
		pl := c.pipeline
		switch a.nextPipeline {
		case "ingress":
			pl = Ingress
		case "egress":
			pl = Egress
		}
		t := int(c.table) + 1
		if a.nextTable >= 0 {
			t = a.nextTable
		}
		if t > 255 {
			return nil, errorf(a.String(), "table out of range")
		}
		return append(ops, nextOp(pl, uint8(t))), nil
	case aPush, aPop:
		b, err := c.operand(a.dst)
		if err != nil {
			return nil, err
		}
		if a.kind == aPush {
			return append(ops, Push{b}), nil
		}
		return append(ops, Pop{b}), nil
	case aCTNext:
		return append(ops, CTNext{Zone: c.ctZone(), Table: c.table + 1}), nil
	case aCTClear:
		return append(ops, CTClear{}), nil
	case aCTCommitNAT:
		return append(ops, CTCommitNAT{Zone: c.ctZone(), Table: c.table + 1}), nil
	case aCTSNATToVIP:
		return append(ops, CTSNATToVIP{Zone: FieldCtZoneSNAT, Table: c.table + 1}), nil
	case aCTCommit:
		op := CTCommit{Zone: c.ctZone()}
		if a.v1 {
			op.Zone = FieldCtZone
			for _, arg := range a.args {
				f := FieldCtMark
				if arg.name == "ct_label" {
					f = FieldCtLabel
				}
				cst := arg.val.consts[0]
				full := prefixMask(f.Bits(), f.Bits())
				m := full
				if cst.masked {
					m = cst.mask
				}
				n := f.Bytes()
				op.Actions = append(op.Actions, SetField{Field: f, Value: cloneBytes(cst.val[16-n:]), Mask: cloneBytes(m[16-n:])})
			}
		} else {
			inner, err := c.lowerActions(a.nested, true)
			if err != nil {
				return nil, err
			}
			for _, o := range inner {
				switch x := o.(type) {
				case SetField:
					if x.Field == FieldCtMark || x.Field == FieldCtLabel {
						continue
					}
				case Move:
					if x.Dst == FieldCtMark || x.Dst == FieldCtLabel {
						continue
					}
				}
				return nil, errorf(o.String(), "only ct_mark and ct_label may be set inside ct_commit")
			}
			op.Actions = inner
		}
		return append(ops, op), nil
	case aCTNAT:
		op := CTNAT{Table: c.table + 1}
		if strings.HasPrefix(a.name, "ct_snat") {
			op.Kind = NATSrc
			op.Zone = FieldCtZoneSNAT
		} else {
			op.Kind = NATDst
			op.Zone = FieldCtZoneDNAT
		}
		if strings.HasSuffix(a.name, "_in_czone") {
			op.CommonZone = true
			op.Zone = FieldCtZoneSNAT
		}
		if a.natIP != nil {
			op.IP = constIP(*a.natIP)
		}
		if a.portLo > 0 {
			op.PortMin = uint16(a.portLo)
			op.PortMax = uint16(a.portLo)
			if a.portHi > 0 {
				op.PortMax = uint16(a.portHi)
			}
		}
		for _, f := range a.natFlags {
			switch f {
			case "random":
				op.Random = true
			case "hash":
				op.Hash = true
			case "persistent":
				op.Persist = true
			}
		}
		return append(ops, op), nil
	case aCTLB:
		op := CTLB{Zone: c.ctZone(), Mark: a.name == "ct_lb_mark", Table: c.table + 1}
		backends := a.backends
		if a.backendsTmpl != "" {
			var err error
			if backends, err = c.templateBackends(a); err != nil {
				return nil, err
			}
		}
		for _, d := range backends {
			b := LBBackend{IP: constIP(d.ip)}
			if d.port > 0 {
				b.Port = uint16(d.port)
			}
			op.Backends = append(op.Backends, b)
		}
		if a.hasHash && a.hashFields != "" {
			op.HashFields = strings.Split(a.hashFields, ",")
		}
		op.SkipSNAT = a.ctFlag == "skip_snat"
		op.ForceSNAT = a.ctFlag == "force_snat"
		return append(ops, op), nil
	case aNested:
		inner, err := c.lowerActions(a.nested, false)
		if err != nil {
			return nil, err
		}
		if a.name == "clone" {
			return append(ops, Clone{Actions: inner}), nil
		}
		kind := map[string]ControllerKind{"arp": CtlARP, "icmp4": CtlICMP4, "icmp4_error": CtlICMP4Error,
			"icmp6": CtlICMP6, "icmp6_error": CtlICMP6Error, "tcp_reset": CtlTCPReset, "sctp_abort": CtlSCTPAbort,
			"nd_na": CtlNDNA, "nd_na_router": CtlNDNARouter, "nd_ns": CtlNDNS, "reject": CtlReject}[a.name]
		return append(ops, Controller{Kind: kind, Nested: inner}), nil
	case aBare:
		switch a.name {
		case "igmp":
			return append(ops, Controller{Kind: CtlIGMP}), nil
		case "handle_dhcpv6_reply":
			return append(ops, Controller{Kind: CtlHandleDHCPv6Reply}), nil
		}
	case aCall:
		return c.lowerCall(ops, a)
	case aResult:
		return c.lowerResult(ops, a)
	}
	return nil, errorf(a.String(), "unsupported action")
}

func (a *action) String() string {
	var sb strings.Builder
	a.write(&sb)
	return sb.String()
}

func cloneBytes(b []byte) []byte { return append([]byte(nil), b...) }

func constIP(c constant) []byte {
	if c.fmt == fmtIPv4 {
		return cloneBytes(c.val[12:])
	}
	return cloneBytes(c.val[:])
}

// templateBackends substitutes the template variables of a ct_lb backends
// list written with them (their values as text, as ovn-controller
// substitutes them before parsing) and parses the result.
func (c *lowerCtx) templateBackends(a *action) ([]lbDst, error) {
	var sb strings.Builder
	l := newLexer(a.backendsTmpl)
	for ; l.tok.kind != tEOF; l.next() {
		if l.tok.kind != tTemplate {
			sb.WriteString(l.tok.text())
			continue
		}
		name := l.tok.s
		if c.r == nil {
			return nil, errorf("^"+name, "template variables need a resolver")
		}
		c.deps.add(depTemplate, name)
		v, ok := c.r.TemplateVar(name)
		if !ok {
			return nil, errorf("^"+name, "undefined template variable")
		}
		sb.WriteString(v)
	}
	text := sb.String()
	as, err := parseActions("ct_lb(backends=" + text + ");")
	if err != nil || len(as.list) != 1 || as.list[0].backendsTmpl != "" {
		return nil, errorf(a.String(), "template backends %q are not a list of addresses", text)
	}
	return as.list[0].backends, nil
}

func (c *lowerCtx) lowerAssign(ops []Op, a *action, inCommit bool) ([]Op, error) {
	switch a.dst.name {
	case "icmp4.frag_mtu", "icmp6.frag_mtu":
		if a.src.isField || a.src.consts[0].kind != cInt {
			return nil, errorf(a.String(), "frag_mtu takes a number")
		}
		v := u128FromBytes(a.src.consts[0].val)
		if v.hi != 0 || v.lo > 0xffffffff || (a.dst.name == "icmp4.frag_mtu" && v.lo > 0xffff) {
			return nil, errorf(a.String(), "frag_mtu out of range")
		}
		return append(ops, SetFragMTU{IPv6: a.dst.name == "icmp6.frag_mtu", MTU: uint32(v.lo)}), nil
	}
	if a.src.isField {
		return c.lowerMove(ops, a.dst, a.src.field, false)
	}
	s, ps, err := c.symPieces(a.dst, 0)
	if err != nil {
		return nil, err
	}
	if s.readOnly {
		return nil, errorf(a.dst.String(), "field is read-only")
	}
	if s.ctWrite && !inCommit {
		return nil, errorf(a.dst.String(), "ct_mark and ct_label may only be set inside ct_commit")
	}
	cst := a.src.consts[0]
	if cst.kind == cTemplate {
		if c.r == nil {
			return nil, errorf(cst.String(), "template variables need a resolver")
		}
		c.deps.add(depTemplate, cst.s)
		v, ok := c.r.TemplateVar(cst.s)
		if !ok {
			return nil, errorf(cst.String(), "undefined template variable")
		}
		cs, err := parseConstText(v)
		if err != nil || len(cs) != 1 {
			return nil, errorf(cst.String(), "template value %q is not one constant", v)
		}
		cst = cs[0]
	}
	var val mval
	w := 0
	for _, p := range ps {
		w += p.n
	}
	full := prefixMask(w, w)
	switch {
	case s.kind == symString:
		if cst.kind != cString {
			return nil, errorf(a.String(), "%s takes a port name", s.name)
		}
		var key uint32
		if cst.s != "" {
			key, _ = c.portKey(cst.s) // an unknown port loads 0, as OVN
		}
		val.v[12], val.v[13], val.v[14], val.v[15] = byte(key>>24), byte(key>>16), byte(key>>8), byte(key)
		val.m = full
	case cst.kind != cInt:
		return nil, errorf(a.String(), "%s takes a number", s.name)
	default:
		val.v = cst.val
		val.m = full
		if cst.masked {
			val.m = cst.mask
		}
		for i := range 16 {
			if (val.v[i]|val.m[i])&^full[i] != 0 {
				return nil, errorf(cst.String(), "constant is wider than the %d bits of %s", w, a.dst.String())
			}
		}
	}
	// One SetField per physical field touched (a span sets several registers).
	for _, p := range ps {
		pv := shiftBits(val.v, p.lo, p.n, p.off)
		pm := shiftBits(val.m, p.lo, p.n, p.off)
		set := func() Op {
			n := p.field.Bytes()
			buf := c.constBytes(2 * n)
			copy(buf, pv[16-n:])
			copy(buf[n:], pm[16-n:])
			return SetField{Field: p.field, Value: buf[:n:n], Mask: buf[n:]}
		}
		if c.unique {
			ops = append(ops, set())
		} else {
			ops = append(ops, boxOp(c.boxes().sets, setKey{p.field, pv, pm}, set))
		}
	}
	return ops, nil
}

// lowerMove lowers dst = src (or dst <-> src) into per-field bit moves.
func (c *lowerCtx) lowerMove(ops []Op, dst, src fieldRef, swap bool) ([]Op, error) {
	ds, dp, err := c.symPieces(dst, 0)
	if err != nil {
		return nil, err
	}
	ss, sp, err := c.symPieces(src, 1)
	if err != nil {
		return nil, err
	}
	if ds.readOnly || (swap && ss.readOnly) {
		return nil, errorf(dst.String(), "field is read-only")
	}
	if (ds.kind == symString) != (ss.kind == symString) {
		return nil, errorf(src.String(), "cannot mix port names and numbers")
	}
	dw, sw := 0, 0
	for _, p := range dp {
		dw += p.n
	}
	for _, p := range sp {
		sw += p.n
	}
	if dw != sw {
		return nil, errorf(dst.String()+" = "+src.String(), "widths differ (%d and %d bits)", dw, sw)
	}
	// Walk the logical bits, cutting at every piece boundary of either side.
	i, j, b := 0, 0, 0
	for b < dw {
		for dp[i].lo+dp[i].n <= b {
			i++
		}
		for sp[j].lo+sp[j].n <= b {
			j++
		}
		end := min(dp[i].lo+dp[i].n, sp[j].lo+sp[j].n)
		n := end - b
		doff := dp[i].off + (b - dp[i].lo)
		soff := sp[j].off + (b - sp[j].lo)
		if swap {
			op := Swap{A: dp[i].field, AOff: uint16(doff), B: sp[j].field, BOff: uint16(soff), NBits: uint16(n)}
			ops = append(ops, boxOp(c.boxes().swaps, op, func() Op { return op }))
		} else {
			op := Move{Src: sp[j].field, SrcOff: uint16(soff), Dst: dp[i].field, DstOff: uint16(doff), NBits: uint16(n)}
			ops = append(ops, boxOp(c.boxes().moves, op, func() Op { return op }))
		}
		b = end
	}
	return ops, nil
}

func argOrErr(a *action, n int) error {
	if len(a.args) != n {
		return errorf(a.String(), "%s takes %d arguments", a.name, n)
	}
	return nil
}

func (c *lowerCtx) fieldArg(a *action, i int) (Bits, error) {
	v := a.args[i].val
	if !v.isField {
		return Bits{}, errorf(a.String(), "argument %d of %s must be a field", i+1, a.name)
	}
	return c.operand(v.field)
}

// argText renders an argument value as canonical text (strings unquoted).
func argText(v argVal) string {
	if !v.isField && len(v.consts) == 1 && v.consts[0].kind == cString {
		return v.consts[0].s
	}
	return v.String()
}

func argUint(a *action, i int, max uint64) (uint64, error) {
	v := a.args[i].val
	if v.isField || len(v.consts) != 1 || v.consts[0].kind != cInt || v.consts[0].masked {
		return 0, errorf(a.String(), "argument %d of %s must be a number", i+1, a.name)
	}
	n := u128FromBytes(v.consts[0].val)
	if n.hi != 0 || n.lo > max {
		return 0, errorf(a.String(), "argument %d of %s is out of range", i+1, a.name)
	}
	return n.lo, nil
}

func protoNumber(s string) (uint8, bool) {
	switch s {
	case "tcp":
		return 6, true
	case "udp":
		return 17, true
	case "sctp":
		return 132, true
	}
	return 0, false
}

func parseIPPort(s string) ([]byte, uint16, bool) {
	host, port := s, ""
	if strings.HasPrefix(s, "[") {
		end := strings.Index(s, "]")
		if end < 0 {
			return nil, 0, false
		}
		host = s[1:end]
		port = strings.TrimPrefix(s[end+1:], ":")
	} else if i := strings.LastIndexByte(s, ':'); i >= 0 && strings.Count(s, ":") == 1 {
		host, port = s[:i], s[i+1:]
	}
	cs, err := parseConstText(host)
	if err != nil || len(cs) != 1 || (cs[0].fmt != fmtIPv4 && cs[0].fmt != fmtIPv6) {
		return nil, 0, false
	}
	var p uint64
	if port != "" {
		if p, err = strconv.ParseUint(port, 10, 16); err != nil {
			return nil, 0, false
		}
	}
	return constIP(cs[0]), uint16(p), true
}

func (c *lowerCtx) lowerCall(ops []Op, a *action) ([]Op, error) {
	switch a.name {
	case "get_arp", "get_nd":
		if err := argOrErr(a, 2); err != nil {
			return nil, err
		}
		port, err := c.portField(a.args[0].val)
		if err != nil {
			return nil, err
		}
		ip, err := c.fieldArg(a, 1)
		if err != nil {
			return nil, err
		}
		kind := MACKindARP
		if a.name == "get_nd" {
			kind = MACKindND
		}
		return append(ops, GetMAC{Kind: kind, Port: port, IP: ip}), nil
	case "put_arp", "put_nd":
		if err := argOrErr(a, 3); err != nil {
			return nil, err
		}
		port, err := c.portField(a.args[0].val)
		if err != nil {
			return nil, err
		}
		ip, err := c.fieldArg(a, 1)
		if err != nil {
			return nil, err
		}
		mac, err := c.fieldArg(a, 2)
		if err != nil {
			return nil, err
		}
		kind := MACKindARP
		if a.name == "put_nd" {
			kind = MACKindND
		}
		return append(ops, PutMAC{Kind: kind, Port: port, IP: ip, MAC: mac}), nil
	case "put_fdb":
		if err := argOrErr(a, 2); err != nil {
			return nil, err
		}
		port, err := c.portField(a.args[0].val)
		if err != nil {
			return nil, err
		}
		mac, err := c.fieldArg(a, 1)
		if err != nil {
			return nil, err
		}
		return append(ops, PutFDB{Port: port, MAC: mac}), nil
	case "set_queue":
		if err := argOrErr(a, 1); err != nil {
			return nil, err
		}
		q, err := argUint(a, 0, 0xf000)
		if err != nil {
			return nil, err
		}
		return append(ops, SetQueue{Queue: uint16(q)}), nil
	case "set_meter":
		if len(a.args) < 1 || len(a.args) > 2 {
			return nil, errorf(a.String(), "set_meter takes a rate and an optional burst")
		}
		r, err := argUint(a, 0, 0xffffffff)
		if err != nil {
			return nil, err
		}
		var b uint64
		if len(a.args) == 2 {
			if b, err = argUint(a, 1, 0xffffffff); err != nil {
				return nil, err
			}
		}
		return append(ops, SetMeter{Rate: uint32(r), Burst: uint32(b)}), nil
	case "log":
		var l Log
		for _, arg := range a.args {
			switch arg.name {
			case "name":
				l.Name = argText(arg.val)
			case "severity":
				l.Severity = argText(arg.val)
			case "verdict":
				l.Verdict = argText(arg.val)
			case "meter":
				l.Meter = argText(arg.val)
			default:
				return nil, errorf(a.String(), "unknown log argument %q", arg.name)
			}
		}
		return append(ops, l), nil
	case "trigger_event", "sample":
		op := Controller{Kind: CtlTriggerEvent}
		if a.name == "sample" {
			op.Kind = CtlSample
		}
		for _, arg := range a.args {
			if arg.name == "meter" {
				op.Meter = argText(arg.val)
				continue
			}
			op.Args = append(op.Args, Arg{Name: arg.name, Value: argText(arg.val)})
		}
		return append(ops, op), nil
	case "bind_vport":
		if err := argOrErr(a, 2); err != nil {
			return nil, err
		}
		vport := argText(a.args[0].val)
		if _, err := c.portField(a.args[1].val); err != nil {
			return nil, err
		}
		op := Controller{Kind: CtlBindVport, Args: []Arg{{Name: "vport", Value: vport}}}
		if k, ok := c.portKey(vport); ok {
			op.Ports = []uint32{k}
		}
		return append(ops, op), nil
	case "handle_svc_check":
		if err := argOrErr(a, 1); err != nil {
			return nil, err
		}
		if _, err := c.portField(a.args[0].val); err != nil {
			return nil, err
		}
		return append(ops, Controller{Kind: CtlHandleSvcCheck}), nil
	case "handle_bfd_msg":
		return append(ops, Controller{Kind: CtlHandleBFDMsg}), nil
	case "fwd_group":
		op := FwdGroup{}
		for _, arg := range a.args {
			switch arg.name {
			case "liveness":
				op.Liveness = argText(arg.val) == "true"
			case "childports", "":
				name := argText(arg.val)
				if k, ok := c.portKey(name); ok {
					op.Ports = append(op.Ports, k)
				}
			default:
				return nil, errorf(a.String(), "unknown fwd_group argument %q", arg.name)
			}
		}
		return append(ops, op), nil
	case "commit_ecmp_nh":
		op := CommitECMPNH{}
		for _, arg := range a.args {
			switch arg.name {
			case "ipv6":
				op.IPv6 = argText(arg.val) == "true"
			case "proto":
				p, ok := protoNumber(argText(arg.val))
				if !ok {
					return nil, errorf(a.String(), "unknown protocol")
				}
				op.Proto = p
			}
		}
		return append(ops, op), nil
	case "commit_lb_aff":
		op := CommitLBAff{}
		for _, arg := range a.args {
			switch arg.name {
			case "vip", "backend":
				ip, port, ok := parseIPPort(argText(arg.val))
				if !ok {
					return nil, errorf(a.String(), "invalid %s", arg.name)
				}
				if arg.name == "vip" {
					op.VIP, op.VIPPort = ip, port
				} else {
					op.Backend, op.BackendPort = ip, port
				}
			case "proto":
				p, ok := protoNumber(argText(arg.val))
				if !ok {
					return nil, errorf(a.String(), "unknown protocol")
				}
				op.Proto = p
			case "timeout":
				v, err := strconv.ParseUint(argText(arg.val), 10, 16)
				if err != nil {
					return nil, errorf(a.String(), "invalid timeout")
				}
				op.Timeout = uint16(v)
			}
		}
		return append(ops, op), nil
	}
	return nil, errorf(a.String(), "unsupported action %s", a.name)
}

func (c *lowerCtx) lowerResult(ops []Op, a *action) ([]Op, error) {
	switch a.name {
	case "get_fdb":
		if err := argOrErr(a, 1); err != nil {
			return nil, err
		}
		dst, err := c.result(a.dst, 32)
		if err != nil {
			return nil, err
		}
		mac, err := c.fieldArg(a, 0)
		if err != nil {
			return nil, err
		}
		return append(ops, GetFDB{MAC: mac, Dst: dst}), nil
	case "select":
		dst, err := c.result(a.dst, 0)
		if err != nil {
			return nil, err
		}
		op := Select{Dst: dst}
		if a.actionExt != nil && a.hasHash {
			op.HashFields = strings.Split(a.hashFields, ",")
		}
		for i, arg := range a.args {
			if arg.name != "" {
				return nil, errorf(a.String(), "select(%s=...) is not supported", arg.name)
			}
			v, err := argUint(a, i, 1<<uint(dst.NBits)-1)
			if err != nil {
				return nil, err
			}
			w := arg.weight
			if w == 0 {
				w = 100
			}
			op.Values = append(op.Values, uint32(v))
			op.Weights = append(op.Weights, uint16(w))
		}
		if len(op.Values) == 0 {
			return nil, errorf(a.String(), "select needs values")
		}
		return append(ops, op), nil
	}
	dst, err := c.result(a.dst, 1)
	if err != nil {
		return nil, err
	}
	switch a.name {
	case "check_pkt_larger":
		if err := argOrErr(a, 1); err != nil {
			return nil, err
		}
		n, err := argUint(a, 0, 0xffff)
		if err != nil {
			return nil, err
		}
		return append(ops, CheckPktLarger{Len: uint16(n), Dst: dst}), nil
	case "lookup_arp", "lookup_nd", "lookup_arp_ip", "lookup_nd_ip":
		n := 3
		if strings.HasSuffix(a.name, "_ip") {
			n = 2
		}
		if err := argOrErr(a, n); err != nil {
			return nil, err
		}
		port, err := c.portField(a.args[0].val)
		if err != nil {
			return nil, err
		}
		ip, err := c.fieldArg(a, 1)
		if err != nil {
			return nil, err
		}
		op := LookupMAC{Kind: MACKindARP, Port: port, IP: ip, Dst: dst}
		if strings.HasPrefix(a.name, "lookup_nd") {
			op.Kind = MACKindND
		}
		if n == 3 {
			if op.MAC, err = c.fieldArg(a, 2); err != nil {
				return nil, err
			}
		}
		return append(ops, op), nil
	case "lookup_fdb":
		if err := argOrErr(a, 2); err != nil {
			return nil, err
		}
		port, err := c.portField(a.args[0].val)
		if err != nil {
			return nil, err
		}
		mac, err := c.fieldArg(a, 1)
		if err != nil {
			return nil, err
		}
		return append(ops, LookupFDB{Port: port, MAC: mac, Dst: dst}), nil
	case "check_in_port_sec", "check_out_port_sec":
		dir := PortSecIn
		if a.name == "check_out_port_sec" {
			dir = PortSecOut
		}
		return append(ops, CheckPortSec{Dir: dir, Dst: dst}), nil
	case "chk_lb_hairpin", "chk_lb_hairpin_reply", "chk_ecmp_nh_mac", "chk_ecmp_nh", "chk_lb_aff":
		kind := map[string]HelperKind{"chk_lb_hairpin": HelperChkLBHairpin, "chk_lb_hairpin_reply": HelperChkLBHairpinReply,
			"chk_ecmp_nh_mac": HelperChkECMPNHMAC, "chk_ecmp_nh": HelperChkECMPNH, "chk_lb_aff": HelperChkLBAff}[a.name]
		return append(ops, Helper{Kind: kind, Dst: dst}), nil
	case "dns_lookup":
		return append(ops, Controller{Kind: CtlDNSLookup, Dst: dst}), nil
	case "put_dhcp_opts", "put_dhcpv6_opts", "put_nd_ra_opts":
		op := Controller{Kind: map[string]ControllerKind{"put_dhcp_opts": CtlPutDHCPOpts,
			"put_dhcpv6_opts": CtlPutDHCPv6Opts, "put_nd_ra_opts": CtlPutNDRAOpts}[a.name], Dst: dst}
		for _, arg := range a.args {
			if arg.name == "" {
				return nil, errorf(a.String(), "%s options are name = value", a.name)
			}
			op.Options = append(op.Options, Option{Name: arg.name, Value: arg.val.String()})
		}
		return append(ops, op), nil
	}
	return nil, errorf(a.String(), "unsupported function %s", a.name)
}

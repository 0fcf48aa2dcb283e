package pipeline

import (
	"strconv"
	"strings"
)

// The action AST: what the parser makes of an actions string, before names
// are resolved for a datapath. Lowering (lower_actions.go) turns it into Ops.

type actKind uint8

const (
	aAssign      actKind = iota // dst = const | dst = src
	aExchange                   // dst <-> src
	aDecTTL                     // ip.ttl--
	aNext                       // next; next(N); next(pipeline=P, table=N)
	aOutput                     // output
	aDrop                       // drop (alone)
	aPush                       // push(f)
	aPop                        // pop(f)
	aCTNext                     // ct_next
	aCTCommit                   // ct_commit; ct_commit { }; ct_commit(ct_mark=.., ct_label=..)
	aCTNAT                      // ct_dnat, ct_snat, ct_dnat_in_czone, ct_snat_in_czone
	aCTLB                       // ct_lb, ct_lb_mark
	aCTClear                    // ct_clear
	aCTCommitNAT                // ct_commit_nat
	aCTSNATToVIP                // ct_snat_to_vip
	aNested                     // clone, arp, icmp4, ... { }
	aCall                       // name(args) with no result: get_arp, put_arp, log, ...
	aResult                     // dst = name(args)
	aBare                       // igmp, handle_dhcpv6_reply
)

// argVal is one value of a call argument: a field, an identifier-like word
// (info, tcp, true), or constants (several when written as a set).
type argVal struct {
	isField bool
	field   fieldRef
	consts  []constant
	set     bool
	one     [1]constant // backing of consts for a single constant
}

func (v argVal) String() string {
	if v.isField {
		return v.field.String()
	}
	parts := make([]string, len(v.consts))
	for i, c := range v.consts {
		parts[i] = c.String()
	}
	if v.set {
		return "{" + strings.Join(parts, ", ") + "}"
	}
	return parts[0]
}

// actArg is `name = value` or a positional value (name "").
type actArg struct {
	name string
	val  argVal
	// weight of a select() member (0 = none written)
	weight int
}

// action is one statement of an actions string.
type action struct {
	kind   actKind
	name   string // action or function name
	dst    fieldRef
	src    argVal // aAssign/aExchange source
	args   []actArg
	nested []*action
	// Arguments of next, ct_commit, ct_*nat and ct_lb only (kept out of
	// line: most actions are assignments and the AST of every distinct
	// actions string is built).
	*actionExt
}

type actionExt struct {
	// aNext
	nextPipeline string // "" = current
	nextTable    int    // -1 = current + 1
	// aCTNAT
	natIP    *constant
	portLo   int
	portHi   int
	natFlags []string
	// aCTLB (and hashFields/hasHash of select(values=...))
	backends     []lbDst
	backendsTmpl string // backends written with ^template variables, as text: expanded when lowered
	hashFields   string
	hasHash      bool
	ctFlag       string // skip_snat | force_snat
	// aCTCommit v1 form
	v1 bool
}

type lbDst struct {
	ip   constant
	port int // -1 none
}

// actions is a parsed actions string: statements plus the prerequisites
// (match expressions) the actions add to the lflow's match, as OVN does
// (ct_next needs ip; writing ip4.dst needs ip4...).
type actions struct {
	list    []*action
	prereqs []string
}

var nestedPrereq = map[string]string{
	"arp": "ip4", "icmp4": "ip4", "icmp4_error": "ip4", "icmp6": "ip6", "icmp6_error": "ip6",
	"tcp_reset": "tcp", "sctp_abort": "sctp", "nd_na": "nd_ns", "nd_na_router": "nd_ns", "nd_ns": "ip6",
	"clone": "", "reject": "",
}

type actParser struct {
	parser
	prereqs *[]string
	depth   int
	// starts, when set, receives the byte offset of each top-level action
	// (shape templates map literal tokens to the actions holding them).
	starts *[]int
}

func (p *actParser) addPrereq(s string) {
	if s == "" || p.prereqs == nil {
		return
	}
	for _, x := range *p.prereqs {
		if x == s {
			return
		}
	}
	*p.prereqs = append(*p.prereqs, s)
}

// fieldPrereq adds the prerequisite of a field used in an action.
func (p *actParser) fieldPrereq(f fieldRef) {
	if s := f.symbol(); s != nil {
		p.addPrereq(s.prereq)
	}
}

// parseActions parses an actions string.
func parseActions(s string) (*actions, error) { return parseActionsIn(s, nil) }

// parseActionsIn parses an actions string into ar (nil: new memory).
func parseActionsIn(s string, ar *parseArena) (*actions, error) {
	var out *actions
	if ar != nil {
		ar.hdr = actions{prereqs: ar.prereqs[:0]}
		out = &ar.hdr
	} else {
		out = &actions{}
	}
	var p *actParser
	if ar != nil {
		ar.ap = actParser{prereqs: &out.prereqs}
		p = &ar.ap
		p.ar = ar
	} else {
		p = &actParser{prereqs: &out.prereqs}
	}
	if ar == nil {
		p.acts = make([]action, 0, max(1, strings.Count(s, ";"))) // every statement, nested ones too, ends with ';'
	}
	p.l.init(s)
	out.list = p.parseList(tEOF)
	if ar != nil {
		ar.prereqs = out.prereqs // keep the grown buffer
	}
	if p.err != nil {
		return nil, p.err
	}
	return out, nil
}

func (p *actParser) parseList(end tokKind) []*action {
	// "drop;" alone is the empty program.
	if t := p.tok(); t.kind == tID && t.s == "drop" {
		save := p.l
		p.l.next()
		if p.accept(tSemicolon) {
			p.expect(end)
			a := p.newAction()
			a.kind, a.name = aDrop, "drop"
			return []*action{a}
		}
		p.l = save
	}
	if p.ar == nil {
		var list []*action
		for p.err == nil && !p.accept(end) {
			if p.tok().kind == tEOF {
				p.fail("expecting %s", end)
				break
			}
			if p.starts != nil && end == tEOF {
				*p.starts = append(*p.starts, p.tok().pos)
			}
			a := p.parseAction()
			if p.err != nil {
				break
			}
			list = append(list, a)
			p.expect(tSemicolon)
		}
		return list
	}
	// Statements of nested lists push above their parent's and pop back.
	ar := p.ar
	base := len(ar.astk)
	for p.err == nil && !p.accept(end) {
		if p.tok().kind == tEOF {
			p.fail("expecting %s", end)
			break
		}
		a := p.parseAction()
		if p.err != nil {
			break
		}
		ar.astk = append(ar.astk, a)
		p.expect(tSemicolon)
	}
	var list []*action
	if len(ar.astk) > base {
		list = carve(&ar.aptrs, ar.astk[base:], true)
	}
	clear(ar.astk[base:])
	ar.astk = ar.astk[:base]
	return list
}

func (p *actParser) parseAction() *action {
	t := *p.tok()
	if t.kind == tTemplate {
		p.fail("unexpanded template %s", t.text())
		return nil
	}
	if t.kind != tID {
		p.fail("expecting action, found %q", t.text())
		return nil
	}
	// Lookahead: an assignment target is followed by '=', '<->' or '['.
	save := p.l
	p.l.next()
	la := p.tok().kind
	p.l = save
	if la == tEquals || la == tExchange || la == tLSquare {
		return p.parseSet()
	}
	name := t.s
	p.l.next()
	a := p.newAction()
	a.name = name
	switch name {
	case "next", "ct_commit", "ct_dnat", "ct_snat", "ct_dnat_in_czone", "ct_snat_in_czone", "ct_lb", "ct_lb_mark":
		if p.ar != nil {
			a.actionExt = p.ar.newExt()
		} else {
			a.actionExt = &actionExt{}
		}
	}
	switch name {
	case "next":
		a.kind = aNext
		a.nextTable = -1
		if p.accept(tLParen) {
			if p.tok().kind == tInt {
				n, _ := p.smallInt()
				a.nextTable = n
			} else {
				for p.err == nil && !p.accept(tRParen) {
					key := p.tok().s
					if !p.expect(tID) || !p.expect(tEquals) {
						return nil
					}
					switch key {
					case "pipeline":
						v := p.tok().s
						if !p.expect(tID) {
							return nil
						}
						if v != "ingress" && v != "egress" {
							p.fail("unknown pipeline %q", v)
							return nil
						}
						a.nextPipeline = v
					case "table":
						n, ok := p.smallInt()
						if !ok {
							return nil
						}
						a.nextTable = n
					default:
						p.fail("unknown next() argument %q", key)
						return nil
					}
					p.accept(tComma)
				}
				return a
			}
			p.expect(tRParen)
		}
	case "output":
		a.kind = aOutput
	case "push", "pop":
		a.kind = aPush
		if name == "pop" {
			a.kind = aPop
		}
		p.expect(tLParen)
		a.dst = p.parseFieldRef()
		p.fieldPrereq(a.dst)
		p.expect(tRParen)
	case "ip.ttl":
		a.kind = aDecTTL
		p.expect(tDecrement)
		p.addPrereq("ip")
	case "ct_next":
		a.kind = aCTNext
		p.addPrereq("ip")
	case "ct_clear":
		a.kind = aCTClear
	case "ct_snat_to_vip":
		a.kind = aCTSNATToVIP
	case "ct_commit_nat":
		a.kind = aCTCommitNAT
		p.addPrereq("ip")
	case "ct_commit":
		a.kind = aCTCommit
		p.addPrereq("ip")
		switch p.tok().kind {
		case tLCurly:
			a.nested = p.parseNested()
		case tLParen:
			a.v1 = true
			p.l.next()
			for p.err == nil && !p.accept(tRParen) {
				key := p.tok().s
				if !p.expect(tID) || !p.expect(tEquals) {
					return nil
				}
				if key != "ct_mark" && key != "ct_label" {
					p.fail("unknown ct_commit argument %q", key)
					return nil
				}
				c := p.parseConstant()
				a.args = append(a.args, actArg{name: key, val: argVal{consts: []constant{c}}})
				p.accept(tComma)
			}
		}
	case "ct_dnat", "ct_snat", "ct_dnat_in_czone", "ct_snat_in_czone":
		a.kind = aCTNAT
		p.addPrereq("ip")
		p.parseCTNAT(a)
	case "ct_lb", "ct_lb_mark":
		a.kind = aCTLB
		p.addPrereq("ip")
		p.parseCTLB(a)
	case "clone", "arp", "icmp4", "icmp4_error", "icmp6", "icmp6_error", "tcp_reset", "sctp_abort",
		"nd_na", "nd_na_router", "nd_ns", "reject":
		a.kind = aNested
		pre := nestedPrereq[name]
		if name == "clone" {
			a.nested = p.parseNested()
		} else {
			outer := p.prereqs
			var discard []string
			p.prereqs = &discard
			a.nested = p.parseNested()
			p.prereqs = outer
			p.addPrereq(pre)
		}
	case "igmp", "handle_dhcpv6_reply":
		a.kind = aBare
	case "get_arp", "get_nd", "put_arp", "put_nd", "set_queue", "log", "set_meter", "trigger_event",
		"bind_vport", "handle_svc_check", "fwd_group", "handle_bfd_msg", "put_fdb", "commit_ecmp_nh",
		"commit_lb_aff", "sample":
		a.kind = aCall
		a.args = p.parseArgs(name)
	default:
		p.err = &ParseError{Input: p.l.in, Pos: t.pos, Msg: "unknown action " + quote(name)}
		return nil
	}
	return a
}

func (p *actParser) parseNested() []*action {
	if !p.expect(tLCurly) {
		return nil
	}
	if p.depth >= 16 {
		p.fail("actions nest too deeply")
		return nil
	}
	p.depth++
	list := p.parseList(tRCurly)
	p.depth--
	return list
}

// parseArgs parses "(" [arg {, arg}] ")" where arg is [name =] value.
func (p *actParser) parseArgs(fn string) []actArg {
	if !p.expect(tLParen) {
		return nil
	}
	var args []actArg
	for p.err == nil && !p.accept(tRParen) {
		var a actArg
		// name = value, where name is an identifier followed by '='.
		if t := *p.tok(); t.kind == tID {
			save := p.l
			p.l.next()
			if p.accept(tEquals) {
				a.name = t.s
			} else {
				p.l = save
			}
		}
		a.val = p.parseArgVal()
		if fn == "select" && !p.selectWeight(&a) {
			return nil
		}
		args = append(args, a)
		if p.tok().kind == tEOF {
			p.fail("expecting ')'")
			return nil
		}
		p.accept(tComma)
	}
	return args
}

// selectWeight parses the optional "=W" after a select() member.
func (p *actParser) selectWeight(a *actArg) bool {
	if !p.accept(tEquals) {
		return true
	}
	w, ok := p.smallIntWide()
	if !ok {
		return false
	}
	if w == 0 {
		p.fail("weight can't be 0")
		return false
	}
	a.weight = w
	return true
}

// selectValuesForm reports whether a select call (at its '(') is written
// select(values=(N1[=W1], ...); hash_fields="f1,f2,...").
func (p *actParser) selectValuesForm() bool {
	save := p.l
	defer func() { p.l = save }()
	p.l.next()
	if t := p.tok(); t.kind != tID || t.s != "values" {
		return false
	}
	p.l.next()
	return p.tok().kind == tEquals
}

// parseSelectValues parses (values=(N1[=W1], ...); hash_fields="...")
// into positional members, the hash fields going to a.
func (p *actParser) parseSelectValues(a *action) []actArg {
	if p.ar != nil {
		a.actionExt = p.ar.newExt()
	} else {
		a.actionExt = &actionExt{}
	}
	p.l.next() // (
	p.l.next() // values
	p.l.next() // =
	if !p.expect(tLParen) {
		return nil
	}
	var args []actArg
	for p.err == nil && !p.accept(tRParen) {
		arg := actArg{val: argVal{consts: []constant{p.parseConstant()}}}
		if p.err != nil || !p.selectWeight(&arg) {
			return nil
		}
		args = append(args, arg)
		p.accept(tComma)
		if p.tok().kind == tEOF {
			p.fail("expecting ')'")
			return nil
		}
	}
	if !p.expect(tSemicolon) {
		return nil
	}
	if t := p.tok(); t.kind != tID || t.s != "hash_fields" {
		p.fail("expecting hash_fields")
		return nil
	}
	p.l.next()
	if !p.expect(tEquals) {
		return nil
	}
	a.hashFields, a.hasHash = p.tok().s, true
	if !p.expect(tString) || !p.expect(tRParen) {
		return nil
	}
	return args
}

// smallIntWide parses a decimal integer up to 2^31.
func (p *actParser) smallIntWide() (int, bool) {
	t := p.tok()
	if t.kind != tInt || t.fmt != fmtDecimal {
		p.fail("expecting a number, found %q", t.text())
		return 0, false
	}
	var n uint64
	for _, b := range t.val[8:] {
		n = n<<8 | uint64(b)
	}
	for _, b := range t.val[:8] {
		if b != 0 {
			n = 1 << 62
		}
	}
	if n > 1<<31 {
		p.fail("number %s out of range", t.text())
		return 0, false
	}
	p.l.next()
	return int(n), true
}

func (p *actParser) parseArgVal() argVal {
	switch t := p.tok(); t.kind {
	case tID:
		f := p.parseFieldRef()
		if f.sym != nil {
			p.fieldPrereq(f)
		}
		return argVal{isField: true, field: f}
	case tLCurly:
		p.l.next()
		v := argVal{set: true}
		for p.err == nil && !p.accept(tRCurly) {
			v.consts = append(v.consts, p.parseConstant())
			p.accept(tComma)
			if p.tok().kind == tEOF {
				p.fail("unterminated set")
			}
		}
		return v
	}
	return argVal{consts: []constant{p.parseConstant()}}
}

func (p *actParser) parseCTNAT(a *action) {
	a.portLo, a.portHi = -1, -1
	if !p.accept(tLParen) {
		return
	}
	t := *p.tok()
	if t.kind != tInt || (t.fmt != fmtIPv4 && t.fmt != fmtIPv6) {
		p.fail("expecting IPv4 or IPv6 address, found %q", t.text())
		return
	}
	c := constant{kind: cInt, val: t.val, fmt: t.fmt, cidr: -1}
	a.natIP = &c
	p.l.next()
	for p.err == nil && p.accept(tComma) {
		switch t := p.tok(); {
		case t.kind == tInt && a.portLo < 0:
			n, ok := p.smallIntWide()
			if !ok || n == 0 || n > 65535 {
				p.fail("invalid port range")
				return
			}
			a.portLo = n
			if p.accept(tHyphen) {
				hi, ok := p.smallIntWide()
				if !ok || hi <= n || hi > 65535 {
					p.fail("range high should be greater than range low")
					return
				}
				a.portHi = hi
			}
		case t.kind == tID && (t.s == "random" || t.s == "hash" || t.s == "persistent"):
			a.natFlags = append(a.natFlags, t.s)
			p.l.next()
		default:
			p.fail("unexpected %q in %s", t.text(), a.name)
			return
		}
	}
	p.expect(tRParen)
}

func (p *actParser) parseCTLB(a *action) {
	if !p.accept(tLParen) || p.accept(tRParen) {
		return
	}
	if t := p.tok(); t.kind != tID || t.s != "backends" {
		p.fail("expecting backends")
		return
	}
	p.l.next()
	if !p.expect(tEquals) {
		return
	}
	if text, ok := p.templateBackends(); ok {
		a.backendsTmpl = text
		if p.accept(tRParen) || !p.expect(tSemicolon) {
			return
		}
	} else if !p.parseBackendList(a) {
		return
	}
	if t := p.tok(); t.kind == tID && t.s == "hash_fields" {
		p.l.next()
		if !p.expect(tEquals) {
			return
		}
		a.hashFields = p.tok().s
		a.hasHash = true
		if !p.expect(tString) {
			return
		}
		p.accept(tSemicolon)
	}
	if t := p.tok(); t.kind == tID && (t.s == "skip_snat" || t.s == "force_snat") {
		a.ctFlag = t.s
		p.l.next()
	}
	p.expect(tRParen)
}

// parseBackendList parses "ip[:port], ..." up to ';' (true: options
// follow) or ')' (false, as on an error).
func (p *actParser) parseBackendList(a *action) bool {
	for p.err == nil && !p.accept(tSemicolon) {
		if p.accept(tRParen) {
			return false
		}
		d := lbDst{port: -1}
		if p.accept(tLSquare) {
			t := *p.tok()
			if t.kind != tInt || t.fmt != fmtIPv6 {
				p.fail("expecting IPv6 address")
				return false
			}
			d.ip = constant{kind: cInt, val: t.val, fmt: t.fmt, cidr: -1}
			p.l.next()
			if !p.expect(tRSquare) {
				return false
			}
		} else {
			t := *p.tok()
			if t.kind != tInt || (t.fmt != fmtIPv4 && t.fmt != fmtIPv6) {
				p.fail("expecting IP address, found %q", t.text())
				return false
			}
			d.ip = constant{kind: cInt, val: t.val, fmt: t.fmt, cidr: -1}
			p.l.next()
		}
		if p.accept(tColon) {
			n, ok := p.smallIntWide()
			if !ok || n > 65535 {
				p.fail("invalid port number")
				return false
			}
			d.port = n
		}
		a.backends = append(a.backends, d)
		p.accept(tComma)
		if p.tok().kind == tEOF {
			p.fail("expecting ')'")
			return false
		}
	}
	return p.err == nil
}

// templateBackends looks at the backends list: when it uses ^template
// variables (an address, a port, or a whole list, as northd writes for
// template load balancers), it returns the list's text and stops at the
// ';' or ')' that ends it; the variables are substituted when the lflow is
// lowered for a chassis, as ovn-controller does. Otherwise it moves
// nothing.
func (p *actParser) templateBackends() (string, bool) {
	save := p.l
	var sb strings.Builder
	tmpl := false
	for {
		t := p.tok()
		switch t.kind {
		case tSemicolon, tRParen, tEOF, tError:
			if !tmpl || t.kind == tEOF || t.kind == tError {
				p.l = save
				return "", false
			}
			return sb.String(), true
		case tTemplate:
			tmpl = true
		}
		sb.WriteString(t.text())
		p.l.next()
	}
}

// resultFuncs are the functions written "R = f(...)".
var resultFuncs = map[string]bool{
	"check_pkt_larger": true, "lookup_arp": true, "lookup_arp_ip": true, "lookup_nd": true, "lookup_nd_ip": true,
	"put_dhcp_opts": true, "put_dhcpv6_opts": true, "put_nd_ra_opts": true, "dns_lookup": true, "select": true,
	"chk_lb_hairpin": true, "chk_lb_hairpin_reply": true, "get_fdb": true, "lookup_fdb": true,
	"check_in_port_sec": true, "check_out_port_sec": true, "chk_ecmp_nh_mac": true, "chk_ecmp_nh": true,
	"chk_lb_aff": true,
}

func (p *actParser) parseSet() *action {
	a := p.newAction()
	a.dst = p.parseFieldRef()
	if p.err != nil {
		return nil
	}
	if p.accept(tExchange) {
		a.kind = aExchange
		a.name = "<->"
		a.src = argVal{isField: true, field: p.parseFieldRef()}
		p.fieldPrereq(a.dst)
		p.fieldPrereq(a.src.field)
		return a
	}
	if !p.expect(tEquals) {
		return nil
	}
	if t := *p.tok(); t.kind == tID && resultFuncs[t.s] {
		save := p.l
		p.l.next()
		if p.tok().kind == tLParen {
			a.kind = aResult
			a.name = t.s
			if t.s == "select" && p.selectValuesForm() {
				a.args = p.parseSelectValues(a)
				return a
			}
			a.args = p.parseArgs(t.s)
			switch t.s {
			case "dns_lookup":
				p.addPrereq("udp")
			case "put_nd_ra_opts":
				p.addPrereq("ip6")
			}
			return a
		}
		p.l = save
	}
	a.kind = aAssign
	a.name = "="
	p.fieldPrereq(a.dst)
	if p.tok().kind == tID {
		a.src = argVal{isField: true, field: p.parseFieldRef()}
		p.fieldPrereq(a.src.field)
		return a
	}
	a.src.one[0] = p.parseConstant()
	a.src.consts = a.src.one[:]
	return a
}

// String renders the actions back to OVN syntax.
func (as *actions) String() string {
	var sb strings.Builder
	writeActions(&sb, as.list)
	return sb.String()
}

func writeActions(sb *strings.Builder, list []*action) {
	for i, a := range list {
		if i > 0 {
			sb.WriteByte(' ')
		}
		a.write(sb)
		sb.WriteByte(';')
	}
}

func writeArgs(sb *strings.Builder, args []actArg) {
	sb.WriteByte('(')
	for i, a := range args {
		if i > 0 {
			sb.WriteString(", ")
		}
		if a.name != "" {
			sb.WriteString(a.name)
			sb.WriteString(" = ")
		}
		sb.WriteString(a.val.String())
		if a.weight > 0 {
			sb.WriteString("=" + strconv.Itoa(a.weight))
		}
	}
	sb.WriteByte(')')
}

func (a *action) write(sb *strings.Builder) {
	switch a.kind {
	case aAssign:
		sb.WriteString(a.dst.String() + " = " + a.src.String())
	case aExchange:
		sb.WriteString(a.dst.String() + " <-> " + a.src.String())
	case aDecTTL:
		sb.WriteString("ip.ttl--")
	case aNext:
		sb.WriteString("next")
		switch {
		case a.nextPipeline != "":
			sb.WriteString("(pipeline=" + a.nextPipeline + ", table=" + strconv.Itoa(a.nextTable) + ")")
		case a.nextTable >= 0:
			sb.WriteString("(" + strconv.Itoa(a.nextTable) + ")")
		}
	case aPush, aPop:
		sb.WriteString(a.name + "(" + a.dst.String() + ")")
	case aCTCommit:
		sb.WriteString("ct_commit")
		if a.v1 {
			writeArgs(sb, a.args)
		} else if a.nested != nil {
			sb.WriteString(" { ")
			writeActions(sb, a.nested)
			sb.WriteString(" }")
		}
	case aCTNAT:
		sb.WriteString(a.name)
		if a.natIP != nil {
			sb.WriteString("(" + a.natIP.String())
			if a.portLo > 0 {
				sb.WriteString(", " + strconv.Itoa(a.portLo))
				if a.portHi > 0 {
					sb.WriteString("-" + strconv.Itoa(a.portHi))
				}
			}
			for _, f := range a.natFlags {
				sb.WriteString(", " + f)
			}
			sb.WriteString(")")
		}
	case aCTLB:
		sb.WriteString(a.name)
		if a.backendsTmpl != "" {
			sb.WriteString("(backends=" + a.backendsTmpl)
			if a.hasHash {
				sb.WriteString("; hash_fields=" + quote(a.hashFields))
			}
			if a.ctFlag != "" {
				sb.WriteString("; " + a.ctFlag)
			}
			sb.WriteString(")")
		} else if len(a.backends) > 0 {
			sb.WriteString("(backends=")
			for i, d := range a.backends {
				if i > 0 {
					sb.WriteByte(',')
				}
				ip := d.ip.String()
				if d.ip.fmt == fmtIPv6 && d.port >= 0 {
					ip = "[" + ip + "]"
				}
				sb.WriteString(ip)
				if d.port >= 0 {
					sb.WriteString(":" + strconv.Itoa(d.port))
				}
			}
			if a.hasHash {
				sb.WriteString("; hash_fields=" + quote(a.hashFields))
			}
			if a.ctFlag != "" {
				sb.WriteString("; " + a.ctFlag)
			}
			sb.WriteString(")")
		}
	case aNested:
		sb.WriteString(a.name + " { ")
		writeActions(sb, a.nested)
		sb.WriteString(" }")
	case aCall:
		sb.WriteString(a.name)
		writeArgs(sb, a.args)
	case aResult:
		sb.WriteString(a.dst.String() + " = " + a.name)
		if a.actionExt != nil && a.hasHash { // select(values=(...); hash_fields="...")
			sb.WriteString("(values=")
			writeArgs(sb, a.args)
			sb.WriteString("; hash_fields=" + quote(a.hashFields) + ")")
			break
		}
		writeArgs(sb, a.args)
	default:
		sb.WriteString(a.name)
	}
}

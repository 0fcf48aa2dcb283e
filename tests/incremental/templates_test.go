package incremental

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/ovnbpf/ovnbpf/maps"
)

// Static MAC bindings and template variables: the changes that reach the
// datapath through Static_MAC_Binding (the macbind map, with OVN's
// precedence over the learnt MAC_Binding rows) and Chassis_Template_Var
// (the rules of templated load balancers, recompiled when a variable
// changes).

// The templated load balancers are attached to the random switches and
// routers, and half the time to a switch of their own that no other change
// touches: elsewhere, port changes recompile whole datapaths (multicast
// groups change) and would hide a template change the controller missed.
const (
	templateSwitch = "tsw"
	templateTap    = "tapt"
)

func (m *model) setupTemplateSwitch() {
	m.nb("ls-add", templateSwitch, "--", "lsp-add", templateSwitch, "tswp", "--", "lsp-set-addresses", "tswp", "0a:00:00:00:00:fe 10.9.0.2")
	m.vsctl("--may-exist", "add-port", "br-int", templateTap, "--", "set", "Interface", templateTap, "external_ids:iface-id=tswp")
}

// staticMACBinding adds a Static_MAC_Binding on a router port (at times on
// an IP a learnt binding of the port holds, so precedence matters), changes
// one's MAC or override_dynamic_mac, or deletes one.
func (m *model) staticMACBinding() {
	if len(m.staticMACs) > 0 {
		i := m.rnd.Intn(len(m.staticMACs))
		s := m.staticMACs[i]
		switch m.rnd.Intn(6) {
		case 0:
			m.nb("static-mac-binding-del", s.lrp, s.ip)
			m.staticMACs = slices.Delete(m.staticMACs, i, i+1)
			return
		case 2:
			m.nb("set", "Static_MAC_Binding", m.staticMACUUID(s), "override_dynamic_mac="+strconv.FormatBool(m.rnd.Intn(2) == 0))
			return
		case 3:
			m.nb("--may-exist", "static-mac-binding-add", s.lrp, s.ip, m.mac())
			return
		}
	}
	l, ok := m.routerLink()
	if !ok {
		return
	}
	ip := m.ip()
	var learnt []string
	for _, d := range m.macBindings {
		if d.lrp == l.lrp {
			learnt = append(learnt, d.ip)
		}
	}
	switch {
	case len(learnt) > 0 && m.rnd.Intn(2) == 0:
		ip = learnt[m.rnd.Intn(len(learnt))]
	case m.rnd.Intn(8) == 0:
		ip = fmt.Sprintf("fd00::%x", 1+m.rnd.Intn(0xfff))
	}
	s := macRow{lrp: l.lrp, ip: ip}
	if slices.Contains(m.staticMACs, s) {
		return
	}
	m.nb("static-mac-binding-add", l.lrp, ip, m.mac())
	m.staticMACs = append(m.staticMACs, s)
	if m.rnd.Intn(2) == 0 {
		m.nb("set", "Static_MAC_Binding", m.staticMACUUID(s), "override_dynamic_mac=true")
	}
}

// dropStaticMACs returns the commands that delete the static MAC bindings
// of router port lrp, to run before the port's deletion in the same
// transaction (each ends with "--"), and forgets them:
// northd 23.03 keeps the Southbound copy of a binding whose port went away,
// and its strong reference to the router's Datapath_Binding then fails
// every northd transaction that deletes the router.
func (m *model) dropStaticMACs(lrp string) []string {
	var args []string
	m.staticMACs = slices.DeleteFunc(m.staticMACs, func(s macRow) bool {
		if s.lrp == lrp {
			args = append(args, "static-mac-binding-del", s.lrp, s.ip, "--")
		}
		return s.lrp == lrp
	})
	return args
}

// staticMACUUID finds a Static_MAC_Binding row by its index (port, IP).
func (m *model) staticMACUUID(s macRow) string {
	m.t.Helper()
	out, err := m.c.NBCtl("--bare", "--columns=_uuid", "find", "Static_MAC_Binding", "logical_port="+s.lrp, `ip="`+s.ip+`"`)
	if u := strings.TrimSpace(out); err != nil || len(u) != 36 {
		m.t.Fatalf("change %d: finding Static_MAC_Binding %s %s: %q %v", len(m.log), s.lrp, s.ip, out, err)
	}
	return strings.TrimSpace(out)
}

// The variables templated load balancers use: VIPk:PORTk frontends, BACKk
// backends.
var templateVarNames = []string{"VIP0", "VIP1", "PORT0", "PORT1", "BACK0", "BACK1"}

// templateValue is a value for variable name; now and then one that does
// not parse, so the flows using it fail to compile (both ways) until it
// changes.
func (m *model) templateValue(name string) string {
	if m.rnd.Intn(20) == 0 {
		return "not-a-value"
	}
	switch {
	case strings.HasPrefix(name, "VIP"):
		return m.ip()
	case strings.HasPrefix(name, "PORT"):
		return strconv.Itoa(1 + m.rnd.Intn(65535))
	}
	var b []string
	for i := 1 + m.rnd.Intn(3); i > 0; i-- {
		b = append(b, fmt.Sprintf("%s:%d", m.ip(), 1+m.rnd.Intn(65535)))
	}
	return strings.Join(b, ",")
}

func (m *model) templateAssignments() []string {
	var out []string
	for _, n := range templateVarNames {
		if m.rnd.Intn(8) != 0 {
			out = append(out, "variables:"+n+`="`+m.templateValue(n)+`"`)
		}
	}
	return out
}

// templateVars creates, changes or deletes this chassis' Chassis_Template_Var
// row, or now and then the remote chassis' row (which must change nothing
// here).
func (m *model) templateVars() {
	if m.rnd.Intn(6) == 0 {
		if m.remoteVars {
			m.nb("destroy", "Chassis_Template_Var", remoteChassis)
		} else {
			m.nb(append([]string{"create", "Chassis_Template_Var", "chassis=" + remoteChassis}, m.templateAssignments()...)...)
		}
		m.remoteVars = !m.remoteVars
		return
	}
	me := m.ch.Name
	switch {
	case m.tmplVars == nil:
		args := m.templateAssignments()
		m.nb(append([]string{"create", "Chassis_Template_Var", "chassis=" + me}, args...)...)
		m.tmplVars = map[string]string{}
		for _, a := range args {
			k, v, _ := strings.Cut(strings.TrimPrefix(a, "variables:"), "=")
			m.tmplVars[k] = v
		}
	case m.rnd.Intn(10) == 0:
		m.nb("destroy", "Chassis_Template_Var", me)
		m.tmplVars = nil
	default:
		n := templateVarNames[m.rnd.Intn(len(templateVarNames))]
		if _, ok := m.tmplVars[n]; ok && m.rnd.Intn(3) == 0 {
			m.nb("remove", "Chassis_Template_Var", me, "variables", n)
			delete(m.tmplVars, n)
			return
		}
		v := `"` + m.templateValue(n) + `"`
		m.nb("set", "Chassis_Template_Var", me, "variables:"+n+"="+v)
		m.tmplVars[n] = v
	}
}

// templatedLB creates a templated load balancer (`--template lb-add`),
// attaches one to a switch (or a router) or detaches it, or deletes one.
// Two load balancers with the same frontend variables and protocol never
// share a datapath: their flows would have the same match and priority
// and different actions, which OVN leaves undefined.
func (m *model) templatedLB() {
	switch {
	case len(m.templated) == 0 || m.rnd.Intn(5) == 0:
		lb := m.name("tlb")
		front, proto := fmt.Sprintf("^VIP%d:^PORT%d", m.rnd.Intn(2), m.rnd.Intn(2)), []string{"tcp", "udp"}[m.rnd.Intn(2)]
		m.nb("--template", "lb-add", lb, front, fmt.Sprintf("^BACK%d", m.rnd.Intn(2)), proto)
		m.templated = append(m.templated, lb)
		m.lbFront[lb] = front + " " + proto
	case m.rnd.Intn(12) == 0:
		lb := m.pick(m.templated)
		m.nb("lb-del", lb)
		m.templated = slices.DeleteFunc(m.templated, func(x string) bool { return x == lb })
		delete(m.lbs, lb)
		delete(m.lbFront, lb)
	default:
		lb := m.pick(m.templated)
		if on := m.lbs[lb]; len(on) > 0 && m.rnd.Intn(4) == 0 {
			i := m.rnd.Intn(len(on))
			if slices.Contains(m.routers, on[i]) {
				m.nb("lr-lb-del", on[i], lb)
			} else {
				m.nb("ls-lb-del", on[i], lb)
			}
			m.lbs[lb] = slices.Delete(on, i, i+1)
			return
		}
		cmd, dps := "ls-lb-add", m.switches
		switch r := m.rnd.Intn(10); {
		case r < 5:
			dps = []string{templateSwitch}
		case r < 7 && len(m.routers) > 0:
			cmd, dps = "lr-lb-add", m.routers
		}
		if len(dps) == 0 {
			return
		}
		dp := m.pick(dps)
		for other, on := range m.lbs {
			if slices.Contains(on, dp) && m.lbFront[other] == m.lbFront[lb] { // lb itself included
				return
			}
		}
		m.nb(cmd, dp, lb)
		m.lbs[lb] = append(m.lbs[lb], dp)
	}
}

// forgetLBsOn drops a switch or router that went away from the load
// balancers' attachments (the Northbound drops the references with it).
func (m *model) forgetLBsOn(dp string) {
	for lb, on := range m.lbs {
		m.lbs[lb] = slices.DeleteFunc(on, func(x string) bool { return x == dp })
	}
}

// coverage counts, in a checkpoint's dump, the rules of templated lflows
// and the MAC bindings that come from Static_MAC_Binding rows, so a run
// that never put them in the datapath is caught.
func (m *model) coverage(d *maps.Dump) {
	m.t.Helper()
	flows, err := m.c.SBCtl("--format=csv", "--no-headings", "--columns=_uuid,match,actions", "list", "Logical_Flow")
	if err != nil {
		m.t.Fatal(err)
	}
	templated := map[string]bool{}
	for _, l := range strings.Split(flows, "\n") {
		if len(l) > 36 && strings.Contains(l[36:], "^") { // ^ is only ever a template variable
			templated[l[:36]] = true
		}
	}
	macs, err := m.c.SBCtl("--bare", "--columns=mac", "list", "Static_MAC_Binding")
	if err != nil {
		m.t.Fatal(err)
	}
	static := strings.Fields(macs)
	nTmpl, nStatic := 0, 0
	for _, s := range d.Sections {
		for _, l := range s.Lines {
			switch s.Name {
			case "rules":
				if i := strings.LastIndex(l, " lflow="); i >= 0 && templated[l[i+len(" lflow="):]] {
					nTmpl++
				}
			case "macbind":
				if slices.ContainsFunc(static, func(mac string) bool { return strings.Contains(l, mac) }) {
					nStatic++
				}
			}
		}
	}
	m.maxTmpl, m.maxStatic = max(m.maxTmpl, nTmpl), max(m.maxStatic, nStatic)
}

package controller

import "github.com/ovnbpf/ovnbpf/pipeline"

// Chassis_Template_Var: one row per chassis (`chassis` = its name) whose
// `variables` give the values of the ^NAME template variables in logical
// flows (templated load balancers: `ovn-nbctl --template lb-add`). Each
// chassis substitutes its own values; a flow that names a variable this
// chassis does not define is reported unsupported (ovn-controller skips it
// too) and the rest installs.

// chassisTemplateVars returns this chassis' variables (nil: no row). The
// table's index on chassis allows one row per name.
func chassisTemplateVars(v *sbView, chassis string) map[string]string {
	for _, r := range v.templateVars {
		if r.Chassis == chassis {
			return r.Variables
		}
	}
	return nil
}

// invalidateTemplateVars recompiles the flows that used a variable whose
// value changed, appeared or went away.
func invalidateTemplateVars(c *pipeline.Compiler, old, nw map[string]string) {
	for name, v := range nw {
		if o, ok := old[name]; !ok || o != v {
			c.InvalidateTemplateVar(name)
		}
	}
	for name := range old {
		if _, ok := nw[name]; !ok {
			c.InvalidateTemplateVar(name)
		}
	}
}

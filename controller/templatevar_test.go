package controller

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/ovnbpf/ovnbpf/controller/sbdb"
	"github.com/ovnbpf/ovnbpf/internal/testutil"
	"github.com/ovnbpf/ovnbpf/pipeline"
)

// A templated load balancer on a switch (`ovn-nbctl --template lb-add`):
// with this chassis' Chassis_Template_Var row every lflow compiles and the
// rules hold this chassis' values (not another chassis'); a changed
// variable changes the rules; without the row the templated lflows are
// reported (counted, and named with their stage) and the rest installs.
// Each step leaves the maps a recompute writes.
func TestPrivilegedTemplateVarLoadBalancer(t *testing.T) {
	testutil.Privileged(t)
	c := startCentral(t)
	for _, cmd := range [][]string{
		{"ls-add", "sw0"}, {"lsp-add", "sw0", "lp-hv1"},
		{"lsp-set-addresses", "lp-hv1", "02:00:00:00:00:01 198.51.100.11"},
		{"--template", "lb-add", "lb0", "^VIP:^VPORT", "^BACKENDS", "tcp"},
		{"ls-lb-add", "sw0", "lb0"},
		{"create", "Chassis_Template_Var", "chassis=hv1", "variables:VIP=198.51.100.100", "variables:VPORT=8080",
			`variables:BACKENDS="198.51.100.11:80,198.51.100.12:80"`},
		{"create", "Chassis_Template_Var", "chassis=hv2", "variables:VIP=203.0.113.100", "variables:VPORT=9090",
			`variables:BACKENDS="203.0.113.11:80"`},
	} {
		mustNB(t, c, cmd...)
	}
	mustNB(t, c, "--wait=sb", "sync") // northd has written them
	// The lflows northd writes with template variables in them.
	templated := 0
	for _, l := range strings.Split(mustSB(t, c, "lflow-list", "sw0"), "\n") {
		if strings.Contains(l, "^VIP") || strings.Contains(l, "^BACKENDS") {
			templated++
		}
	}
	if templated < 2 {
		t.Fatalf("northd wrote %d lflows with template variables, want the load balancer's (at least 2)", templated)
	}
	hv := startBPFChassis(t, c, "hv1", "192.0.2.10")
	status := func() Status {
		mustNB(t, c, "--wait=hv", "--timeout=10", "sync")
		return hv.ctl.Status()
	}
	rules := func() string { return strings.Join(hv.dumpSection(t, "rules"), "\n") }
	compiled := func() string {
		hv.dp.mu.Lock()
		defer hv.dp.mu.Unlock()
		return pipeline.Render(hv.dp.comp, pipeline.RenderOptions{})
	}
	var full int // rules with the variables defined

	eventually(t, "every lflow compiles with hv1's variables", func() string {
		if s := status(); s.Skipped != 0 || s.AppliedNbCfg == 0 {
			return fmt.Sprintf("skipped %d (%q), applied nb_cfg %d", s.Skipped, s.Problems, s.AppliedNbCfg)
		}
		// what the datapath holds (addresses and ports in hex: c6336464 is
		// 198.51.100.100, 1f90 8080) and what the compiler rendered
		r, comp := rules(), compiled()
		if !strings.Contains(r, "ip4_dst=c6336464,tp_dst=1f90") {
			return "no rule matches hv1's VIP 198.51.100.100:8080: " + grepLines(r, "table=12")
		}
		if !strings.Contains(comp, "198.51.100.12") {
			return "hv1's backends are not in the compiled rules: " + grepLines(comp, "198.51.100.1")
		}
		if strings.Contains(r, "cb007164") || strings.Contains(comp, "203.0.113") {
			return "a rule holds hv2's values"
		}
		full = len(hv.dumpSection(t, "rules"))
		return ""
	})
	hv.checkRecompute(t, "variables defined")
	// Only this chassis' row is monitored.
	hv.ctl.mu.Lock()
	sb := hv.ctl.sb
	hv.ctl.mu.Unlock()
	var rows []sbdb.ChassisTemplateVar
	if err := sb.WhereCache(func(*sbdb.ChassisTemplateVar) bool { return true }).List(context.Background(), &rows); err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0].Chassis != "hv1" {
		t.Errorf("Chassis_Template_Var rows in the cache: %+v, want hv1's only", rows)
	}

	mustNB(t, c, "set", "Chassis_Template_Var", "hv1", "variables:VIP=198.51.100.101")
	eventually(t, "the changed VIP in the rules", func() string {
		status()
		r := rules()
		if !strings.Contains(r, "ip4_dst=c6336465") || strings.Contains(r, "ip4_dst=c6336464") {
			return "rules do not hold the new VIP 198.51.100.101 alone"
		}
		return ""
	})
	hv.checkRecompute(t, "variable changed")

	mustNB(t, c, "destroy", "Chassis_Template_Var", "hv1")
	eventually(t, "templated lflows reported without the variables", func() string {
		s := status()
		if s.Skipped != templated {
			return fmt.Sprintf("skipped %d, want the %d templated lflows: %q", s.Skipped, templated, s.Problems)
		}
		for _, p := range s.Problems {
			if !strings.Contains(p, "undefined template variable") {
				return "unexpected problem: " + p
			}
		}
		return ""
	})
	s := status()
	// Stage names, fetched for the failing uuids only, as `ovnbpfctl
	// lflow compile` names them.
	stages := map[string]bool{}
	for _, p := range s.Problems {
		for _, st := range []string{"ls_in_pre_stateful", "ls_in_lb"} {
			if strings.Contains(p, " "+st+"): ") || strings.Contains(p, " "+st+" dp ") {
				stages[st] = true
			}
		}
		if !strings.Contains(p, "[stage-hint ") || !strings.Contains(p, "northd.c:") {
			t.Errorf("problem without northd's stage-hint and source: %s", p)
		}
	}
	if !stages["ls_in_pre_stateful"] || !stages["ls_in_lb"] {
		t.Errorf("problems do not name the stages ls_in_pre_stateful and ls_in_lb: %q", s.Problems)
	}
	if n := len(hv.dumpSection(t, "rules")); n == 0 || n >= full {
		t.Errorf("%d rules installed without the variables, want the rest of the %d (fewer, not none)", n, full)
	}
	hv.checkRecompute(t, "variables gone")

	mustNB(t, c, "create", "Chassis_Template_Var", "chassis=hv1", "variables:VIP=198.51.100.102", "variables:VPORT=8080",
		`variables:BACKENDS="198.51.100.11:80"`)
	eventually(t, "templated lflows compile again", func() string {
		if s := status(); s.Skipped != 0 {
			return "skipped " + strconv.Itoa(s.Skipped)
		}
		if !strings.Contains(rules(), "ip4_dst=c6336466") {
			return "no rule with VIP 198.51.100.102"
		}
		return ""
	})
	hv.checkRecompute(t, "variables back")
}

// grepLines returns the lines of text holding s (for failure messages).
func grepLines(text, s string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

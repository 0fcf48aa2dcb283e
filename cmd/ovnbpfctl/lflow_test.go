package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ovnbpf/ovnbpf/internal/central"
	"github.com/ovnbpf/ovnbpf/internal/testutil"
	"github.com/ovnbpf/ovnbpf/pipeline/sbjson"
	"github.com/ovnbpf/ovnbpf/tests/corpus"
)

func runLflow(t *testing.T, args ...string) string {
	t.Helper()
	var out bytes.Buffer
	if err := lflowCmd(append([]string{"compile"}, args...), &out); err != nil {
		t.Fatalf("lflow compile %s: %v", strings.Join(args, " "), err)
	}
	return out.String()
}

// TestLflowCompileLiveSouthbound compiles a real central's Southbound with
// --sb and checks it against the same state captured as a --from snapshot.
func TestLflowCompileLiveSouthbound(t *testing.T) {
	c := centralWith(t, "switch-portsec") // a port with port security bound to the chassis

	var rep sbjson.Report
	if err := json.Unmarshal([]byte(runLflow(t, "--sb", c.SBRemote(), "--chassis", corpus.Chassis, "--json")), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Lflows < 50 || rep.Compiled != rep.Lflows || rep.Rules < rep.Compiled/2 || rep.Tables == 0 {
		t.Errorf("report of the live southbound: %+v", rep)
	}

	snap, err := corpus.Snapshot(c)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "sb.json")
	if err := os.WriteFile(file, snap, 0o644); err != nil {
		t.Fatal(err)
	}
	live := runLflow(t, "--sb", c.SBRemote(), "--chassis", corpus.Chassis, "--dump")
	saved := runLflow(t, "--from", file, "--chassis", corpus.Chassis, "--dump")
	cut := func(s string) string { return s[:strings.Index(s, "lflows read:")] } // drop the report (timings)
	if cut(live) != cut(saved) {
		t.Error("--sb and --from of the same southbound compile differently")
	}
	if !strings.Contains(live, "port_sec_in") {
		t.Error("no port-security table for the port bound to the chassis: --chassis not applied")
	}
	if strings.Contains(runLflow(t, "--sb", c.SBRemote(), "--dump"), "port_sec_in") {
		t.Error("port-security tables without --chassis")
	}
}

func TestLflowCompileErrors(t *testing.T) {
	testutil.Need(t, "ovn-sbctl")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"compile"}, "give one of --from and --sb"},
		{[]string{"compile", "--from", "x", "--sb", "unix:/x"}, "give one of --from and --sb"},
		{[]string{"compile", "--sb", "unix:" + filepath.Join(t.TempDir(), "none.sock"), "--timeout", "2s"}, "reading southbound"},
		{[]string{"decompile"}, "usage"},
	} {
		err := lflowCmd(tc.args, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("lflow %s: %v, want an error containing %q", strings.Join(tc.args, " "), err, tc.want)
		}
	}
}

func TestAssembleSnapshot(t *testing.T) {
	out := []byte("{\"data\":[],\"headings\":[\"_uuid\"]}\n{\"data\":[],\"headings\":[]}\n")
	data, err := assembleSnapshot([]string{"Logical_Flow", "Datapath_Binding"}, out)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sbjson.Parse(data); err != nil {
		t.Errorf("assembled snapshot does not parse: %v\n%s", err, data)
	}
	if _, err := assembleSnapshot([]string{"Logical_Flow"}, out); err == nil {
		t.Error("no error when ovn-sbctl printed more tables than asked for")
	}
}

// TestLflowCompileChassis compiles the templated load balancers of a real
// central's Southbound as each of two chassis with different
// Chassis_Template_Var values, and for no chassis: each chassis gets its own
// VIPs and backends, none gets the other's, and with no chassis the
// templated lflows are unsupported with a note naming --chassis.
func TestLflowCompileChassis(t *testing.T) {
	c := centralWith(t, "templated-lb")
	// A second chassis whose row (created first, so a reader that takes
	// any row's values is caught either way) gives other values.
	if _, err := c.SBCtl("chassis-add", "ch2", "geneve", "192.0.2.2", "--", "set", "Chassis", "ch2", "hostname=host-two"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.NBCtl("--wait=sb", "create", "Chassis_Template_Var", "chassis=ch2", "variables:VIP=203.0.113.100",
		"variables:VPORT=8443", `variables:BACKENDS="203.0.113.11:443"`, "variables:RVIP=203.0.113.200",
		`variables:RBACKENDS="203.0.113.12:443"`); err != nil {
		t.Fatal(err)
	}
	snapFile := filepath.Join(t.TempDir(), "sb.json")
	snap, err := corpus.Snapshot(c)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(snapFile, snap, 0o644); err != nil {
		t.Fatal(err)
	}

	// VIPs as the rendering prints them: the ls_in_lb match and the
	// backends of the router's ct_lb.
	ch1 := []string{"ip4_dst=10.0.0.100,tp_dst=0x50", "backends=10.0.0.11:8080;10.0.0.12:8080", "backends=10.0.0.11:80;10.0.1.11:80"}
	ch2 := []string{"ip4_dst=203.0.113.100,tp_dst=0x20fb", "backends=203.0.113.11:443", "backends=203.0.113.12:443"}
	for _, tc := range []struct {
		chassis   string
		want, not []string
	}{{"ch1", ch1, ch2}, {"ch2", ch2, ch1}} {
		for _, src := range [][]string{{"--sb", c.SBRemote()}, {"--from", snapFile}} {
			args := append(slices.Clone(src), "--chassis", tc.chassis, "--dump")
			out := runLflow(t, args...)
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("%s: no %q", strings.Join(args, " "), w)
				}
			}
			for _, n := range tc.not {
				if strings.Contains(out, n) {
					t.Errorf("%s: another chassis' value %q", strings.Join(args, " "), n)
				}
			}
			if !strings.Contains(out, "unsupported:     0\n") {
				t.Errorf("%s: unsupported lflows:\n%s", strings.Join(args, " "), out[strings.Index(out, "lflows read:"):])
			}
		}
	}

	var rep sbjson.Report
	if err := json.Unmarshal([]byte(runLflow(t, "--sb", c.SBRemote(), "--json")), &rep); err != nil {
		t.Fatal(err)
	}
	// northd writes four templated lflows here: ls_in_pre_stateful, ls_in_lb,
	// lr_in_defrag, lr_in_dnat.
	if n := len(rep.Unsupported["undefined template variable"]); n != 4 || rep.Lflows-rep.Compiled != 4 {
		t.Errorf("no chassis: %d lflows unsupported, %d for an undefined template variable, want the 4 templated ones: %v",
			rep.Lflows-rep.Compiled, n, rep.Unsupported)
	}
	if out := runLflow(t, "--from", snapFile); !strings.Contains(out, "--chassis NAME compiles as that chassis (registered: ch1, ch2)") {
		t.Errorf("no chassis: no note naming --chassis:\n%s", out)
	}

	for _, tc := range []struct{ chassis, want string }{
		{"nosuch", `--chassis "nosuch": no chassis of that name in the Southbound (registered: ch1, ch2)`},
		{"host-two", `--chassis "host-two" is the hostname of chassis "ch2": give the chassis name (its system-id): ch2`},
	} {
		for _, src := range [][]string{{"--sb", c.SBRemote()}, {"--from", snapFile}} {
			err := lflowCmd(append([]string{"compile", "--chassis", tc.chassis}, src...), &bytes.Buffer{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("--chassis %s %s: %v, want an error containing %q", tc.chassis, src[0], err, tc.want)
			}
		}
	}
}

// centralWith starts a real central (stopped when t ends) holding the
// corpus topology of that name.
func centralWith(t *testing.T, name string) *central.Central {
	t.Helper()
	testutil.Need(t, "ovn-sbctl", "ovsdb-server", "ovn-northd")
	c, err := central.Start(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Stop() })
	for _, tp := range corpus.Topologies {
		if tp.Name == name {
			if err := corpus.Build(c, tp); err != nil {
				t.Fatal(err)
			}
			return c
		}
	}
	t.Fatalf("corpus topology %s not found", name)
	return nil
}

package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
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
	testutil.Need(t, "ovn-sbctl", "ovsdb-server", "ovn-northd")
	c, err := central.Start(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	var topo corpus.Topology
	for _, tp := range corpus.Topologies {
		if tp.Name == "switch-portsec" { // a port with port security bound to the chassis
			topo = tp
		}
	}
	if topo.Name == "" {
		t.Fatal("corpus topology switch-portsec not found")
	}
	if err := corpus.Build(c, topo); err != nil {
		t.Fatal(err)
	}

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

package main

import (
	"strings"
	"testing"

	"github.com/ovnbpf/ovnbpf/internal/central"
	"github.com/ovnbpf/ovnbpf/internal/testutil"
)

// `nb` is what the central VM's provisioning runs, again on every
// `vagrant provision`: it must build the scenario and stay idempotent.
func TestNBBuildsTheScenarioIdempotently(t *testing.T) {
	testutil.Need(t, "ovsdb-server", "ovn-northd", "ovn-nbctl")
	c, err := central.Start(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Stop() })
	for i := 0; i < 2; i++ {
		if err := run([]string{"nb", "--chassis", "hv1,hv2,hv3", "--nb-db", c.NBRemote()}); err != nil {
			t.Fatalf("run %d: %v", i+1, err)
		}
	}
	count := func(table string) int {
		out, err := c.NBCtl("--bare", "--columns=name", "list", table)
		if err != nil {
			t.Fatal(err)
		}
		return len(strings.Fields(out))
	}
	if n := count("Logical_Router"); n != 1 {
		t.Errorf("%d routers after two runs, want 1", n)
	}
	if n := count("Logical_Switch"); n != 2 {
		t.Errorf("%d switches, want 2", n)
	}
	// 4 VM ports and 2 router-facing ports.
	if n := count("Logical_Switch_Port"); n != 6 {
		t.Errorf("%d switch ports, want 6", n)
	}
	ps, err := c.NBCtl("lsp-get-port-security", "sw2-vm4")
	if err != nil || !strings.Contains(ps, "203.0.113.11") {
		t.Errorf("port security of sw2-vm4: %q %v", ps, err)
	}
	if err := run([]string{"plug", "--chassis", "hv1"}); err == nil || !strings.Contains(err.Error(), "--on") {
		t.Errorf("plug without --on: error %v", err)
	}
	if err := run([]string{"nb", "--chassis", " ,", "--nb-db", c.NBRemote()}); err == nil || !strings.Contains(err.Error(), "no chassis") {
		t.Errorf("nb with no chassis: error %v", err)
	}
}

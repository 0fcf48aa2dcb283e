package central

import (
	"strings"
	"testing"
)

// A real central comes up, northd turns a logical switch into a
// Datapath_Binding and logical flows, and Stop leaves no daemon running.
func TestCentralCompilesASwitch(t *testing.T) {
	c, err := Start(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Stop() })
	if _, err := c.NBCtl("--wait=sb", "ls-add", "sw0"); err != nil {
		t.Fatal(err)
	}
	out, err := c.SBCtl("--bare", "--columns=external_ids", "list", "Datapath_Binding")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "name=sw0") {
		t.Fatalf("Datapath_Binding for sw0 missing: %q", out)
	}
	n, err := c.SBCtl("--bare", "--columns=_uuid", "list", "Logical_Flow")
	if err != nil {
		t.Fatal(err)
	}
	if got := len(strings.Fields(n)); got < 20 {
		t.Fatalf("northd wrote %d logical flows for a switch, want dozens", got)
	}
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	if c.Running() {
		t.Fatal("central still running after Stop")
	}
}

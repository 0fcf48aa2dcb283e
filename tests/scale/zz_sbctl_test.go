package scale

import (
	"os/exec"
	"testing"

	"github.com/ovnbpf/ovnbpf/internal/central"
)

func TestZZSbctl(t *testing.T) {
	c, err := central.Start(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	c.NBCtl("--wait=sb", "ls-add", "sw0")
	out, err := exec.Command("ovn-sbctl", "--db="+c.SBRemote(), "--format=json", "list", "Datapath_Binding", "--", "list", "Chassis", "--", "list", "Chassis_Template_Var").CombinedOutput()
	t.Logf("%v\n%s", err, out)
	out, err = exec.Command("ovn-sbctl", "--db="+c.SBRemote(), "--format=json", "list", "Bogus").CombinedOutput()
	t.Logf("%v\n%s", err, out)
}

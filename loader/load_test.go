package loader_test

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/ovnbpf/ovnbpf/internal/testutil"
	"github.com/ovnbpf/ovnbpf/loader"
)

func testPinDir(t testing.TB) string {
	t.Helper()
	dir := loader.PinDir(fmt.Sprintf("test-%d-%s", os.Getpid(), strings.ReplaceAll(t.Name(), "/", "_")))
	t.Cleanup(func() {
		if err := loader.Unpin(dir); err != nil {
			t.Error(err)
		}
	})
	return dir
}

func TestPrivilegedLoad(t *testing.T) {
	testutil.Privileged(t)
	d, err := loader.Load(testPinDir(t), &loader.Options{LogVerifier: true})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
}

// Every program loads on this kernel; the verifier's instruction counts are
// logged (docs/datapath.md quotes them: go test ./loader -run TestPrivilegedVerifierStats -v).
func TestPrivilegedVerifierStats(t *testing.T) {
	testutil.Privileged(t)
	st, err := loader.VerifierStats()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"ovnbpf_vif_ingress", "ovnbpf_underlay_ingress", "ovnbpf_emit"} {
		n, ok := st[p]
		if !ok || n == 0 {
			t.Errorf("%s: not loaded", p)
		}
		t.Logf("%-24s %7d instructions processed by the verifier", p, n)
	}
}

// An upgrade whose maps changed layout over the pins of an older datapath:
// the load starts every map afresh (and says which ones did not fit), and
// the next load of the same layout reuses the pins again.
func TestPrivilegedLoadReplacesPinsOfAnotherLayout(t *testing.T) {
	testutil.Privileged(t)
	dir := testPinDir(t)
	portsID := func(d *loader.Datapath) ebpf.MapID {
		t.Helper()
		info, err := d.Objs.OvnbpfPorts.Info()
		if err != nil {
			t.Fatal(err)
		}
		id, _ := info.ID()
		return id
	}
	load := func(macbind uint32) (*loader.Datapath, ebpf.MapID) {
		t.Helper()
		d, err := loader.Load(dir, &loader.Options{MaxEntries: map[string]uint32{"ovnbpf_macbind": macbind}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close() })
		return d, portsID(d)
	}
	old, oldID := load(64)
	if len(old.Replaced) != 0 {
		t.Fatalf("fresh pin directory: replaced %v", old.Replaced)
	}
	upgraded, newID := load(128)
	if fmt.Sprint(upgraded.Replaced) != "[ovnbpf_macbind]" {
		t.Errorf("replaced %v, want [ovnbpf_macbind]", upgraded.Replaced)
	}
	if newID == oldID {
		t.Errorf("ovnbpf_ports kept (id %d) beside a replaced map", oldID)
	}
	again, againID := load(128)
	if len(again.Replaced) != 0 || againID != newID {
		t.Errorf("same layout: replaced %v, ports id %d then %d", again.Replaced, newID, againID)
	}
}

package loader_test

import (
	"fmt"
	"os"
	"strings"
	"testing"

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

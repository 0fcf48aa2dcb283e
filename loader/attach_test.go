package loader

import (
	"os"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"

	"github.com/ovnbpf/ovnbpf/internal/testutil"
)

// Attaching twice (a daemon restart) updates the pinned link in place: one
// attachment, now running the second load's program.
func TestPrivilegedAttachReplacesInPlace(t *testing.T) {
	h := newHarness(t)
	idx := h.dev("vif0")
	if err := h.d.Attach("vif0", int(idx), HookVIF); err != nil {
		t.Fatal(err)
	}
	d2, err := Load(h.d.PinDir, &Options{MaxEntries: smallMaps})
	if err != nil {
		t.Fatal(err)
	}
	defer d2.Close()
	if err := d2.Attach("vif0", int(idx), HookVIF); err != nil {
		t.Fatal(err)
	}
	l, err := link.LoadPinnedLink(d2.linkPin("vif0", HookVIF), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	info, err := l.Info()
	if err != nil {
		t.Fatal(err)
	}
	pinfo, err := d2.Objs.OvnbpfVifIngress.Info()
	if err != nil {
		t.Fatal(err)
	}
	want, _ := pinfo.ID()
	if info.Program != want {
		t.Errorf("link runs program %d, want the second load's %d", info.Program, want)
	}
	ids, err := link.QueryPrograms(link.QueryOptions{Target: int(idx), Attach: ebpf.AttachTCXIngress})
	if err != nil {
		t.Fatal(err)
	}
	if len(ids.Programs) != 1 {
		t.Errorf("%d programs on vif0's tcx ingress, want 1", len(ids.Programs))
	}
	if err := d2.Detach("vif0", HookVIF); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(d2.linkPin("vif0", HookVIF)); !os.IsNotExist(err) {
		t.Errorf("link pin left after detach: %v", err)
	}
}

// The clsact fallback: attach, re-attach (replace in place), detach.
func TestPrivilegedAttachTCFallback(t *testing.T) {
	h := newHarness(t)
	idx := h.dev("vif1")
	for i := 0; i < 2; i++ {
		if err := h.d.AttachTC(int(idx), HookVIF); err != nil {
			t.Fatal(err)
		}
	}
	filters := testutil.MustRun(t, "tc", "-n", h.ns, "filter", "show", "dev", "vif1", "ingress")
	if n := strings.Count(filters, "handle 0xb9f"); n != 1 {
		t.Errorf("%d ovnbpf filters after attaching twice, want 1:\n%s", n, filters)
	}
	if err := h.d.DetachTC(int(idx)); err != nil {
		t.Fatal(err)
	}
	filters = testutil.MustRun(t, "tc", "-n", h.ns, "filter", "show", "dev", "vif1", "ingress")
	if strings.Contains(filters, "ovnbpf") {
		t.Errorf("filter left after detach:\n%s", filters)
	}
}

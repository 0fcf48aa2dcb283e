package loader_test

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/ovnbpf/ovnbpf/internal/testutil"
	"github.com/ovnbpf/ovnbpf/loader"
	"github.com/ovnbpf/ovnbpf/loader/looptest"
)

// Attaching twice (a daemon restart) updates the pinned link in place: one
// attachment, now running the second load's program. Without TCX the same
// holds for the tc filter Attach falls back to.
func TestPrivilegedAttachReplacesInPlace(t *testing.T) {
	h := looptest.New(t)
	idx := h.Dev("vif0")
	if err := h.D.Attach("vif0", int(idx), loader.HookVIF); err != nil {
		t.Fatal(err)
	}
	d2, err := loader.Load(h.D.PinDir, &loader.Options{MaxEntries: looptest.SmallMaps})
	if err != nil {
		t.Fatal(err)
	}
	defer d2.Close()
	if err := d2.Attach("vif0", int(idx), loader.HookVIF); err != nil {
		t.Fatal(err)
	}
	pinfo, err := d2.Objs.OvnbpfVifIngress.Info()
	if err != nil {
		t.Fatal(err)
	}
	want, _ := pinfo.ID()
	if !kernelAtLeast(t, 6, 6) {
		// a kernel without TCX (before 6.6): Attach fell back to the tc
		// filter, replaced in place by the second attach
		filters := testutil.MustRun(t, "tc", "-n", h.NS, "filter", "show", "dev", "vif0", "ingress")
		if n := strings.Count(filters, "handle 0xb9f"); n != 1 || !strings.Contains(filters, fmt.Sprintf(" id %d ", want)) {
			t.Errorf("want one ovnbpf filter running program %d after attaching twice:\n%s", want, filters)
		}
		if err := d2.Detach("vif0", loader.HookVIF); err != nil {
			t.Fatal(err)
		}
		if filters := testutil.MustRun(t, "tc", "-n", h.NS, "filter", "show", "dev", "vif0", "ingress"); strings.Contains(filters, "ovnbpf") {
			t.Errorf("filter left after detach:\n%s", filters)
		}
		return
	}
	l, err := link.LoadPinnedLink(loader.LinkPin(d2, "vif0", loader.HookVIF), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	info, err := l.Info()
	if err != nil {
		t.Fatal(err)
	}
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
	if err := d2.Detach("vif0", loader.HookVIF); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(loader.LinkPin(d2, "vif0", loader.HookVIF)); !os.IsNotExist(err) {
		t.Errorf("link pin left after detach: %v", err)
	}
}

// kernelAtLeast says whether the running kernel is major.minor or newer.
func kernelAtLeast(t *testing.T, major, minor int) bool {
	t.Helper()
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		t.Fatal(err)
	}
	var maj, min int
	if _, err := fmt.Sscanf(unix.ByteSliceToString(u.Release[:]), "%d.%d", &maj, &min); err != nil {
		t.Fatalf("kernel release %q: %v", u.Release, err)
	}
	return maj > major || (maj == major && min >= minor)
}

// The clsact fallback: attach, re-attach (replace in place), detach.
func TestPrivilegedAttachTCFallback(t *testing.T) {
	h := looptest.New(t)
	idx := h.Dev("vif1")
	for i := 0; i < 2; i++ {
		if err := h.D.AttachTC(int(idx), loader.HookVIF); err != nil {
			t.Fatal(err)
		}
	}
	filters := testutil.MustRun(t, "tc", "-n", h.NS, "filter", "show", "dev", "vif1", "ingress")
	if n := strings.Count(filters, "handle 0xb9f"); n != 1 {
		t.Errorf("%d ovnbpf filters after attaching twice, want 1:\n%s", n, filters)
	}
	if err := h.D.DetachTC(int(idx)); err != nil {
		t.Fatal(err)
	}
	filters = testutil.MustRun(t, "tc", "-n", h.NS, "filter", "show", "dev", "vif1", "ingress")
	if strings.Contains(filters, "ovnbpf") {
		t.Errorf("filter left after detach:\n%s", filters)
	}
}

package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ovnbpf/ovnbpf/internal/testutil"
	"github.com/ovnbpf/ovnbpf/tests/vm/vmrec"
)

// The kernel unpacks the archive; busybox's cpio reads the same newc format
// and is independent of the writer.
func TestCPIOReadsBack(t *testing.T) {
	testutil.Need(t, "busybox")
	var buf bytes.Buffer
	c := newCPIO(&buf)
	c.File("init", 0o755, []byte("#!/bin/sh\n"))
	c.File("a/b/c.txt", 0o644, []byte("three bytes? no, more"))
	c.File("a/odd", 0o600, []byte("x")) // 1 byte: padding follows
	c.Symlink("a/link", "b/c.txt")
	c.Dir("empty")
	c.File("init", 0o755, []byte("a second entry of a name is dropped"))
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cmd := exec.Command("busybox", "cpio", "-i", "-d")
	cmd.Dir = dir
	cmd.Stdin = &buf
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("busybox cpio -i: %v: %s", err, out)
	}
	for path, want := range map[string]string{"init": "#!/bin/sh\n", "a/b/c.txt": "three bytes? no, more", "a/odd": "x"} {
		got, err := os.ReadFile(filepath.Join(dir, path))
		if err != nil || string(got) != want {
			t.Errorf("%s: %q, %v; want %q", path, got, err, want)
		}
	}
	if st, err := os.Stat(filepath.Join(dir, "init")); err != nil || st.Mode().Perm() != 0o755 {
		t.Errorf("init mode: %v %v", st.Mode(), err)
	}
	if l, err := os.Readlink(filepath.Join(dir, "a/link")); err != nil || l != "b/c.txt" {
		t.Errorf("a/link -> %q, %v", l, err)
	}
	if st, err := os.Stat(filepath.Join(dir, "empty")); err != nil || !st.IsDir() {
		t.Errorf("empty: %v", err)
	}
}

func TestModuleClosure(t *testing.T) {
	dir := t.TempDir()
	dep := strings.Join([]string{
		"kernel/net/bridge/bridge.ko.xz: kernel/net/802/stp.ko.xz kernel/net/llc/llc.ko.xz",
		"kernel/net/802/stp.ko.xz: kernel/net/llc/llc.ko.xz",
		"kernel/net/llc/llc.ko.xz:",
		"kernel/drivers/net/virtio_net.ko.xz: kernel/drivers/net/net_failover.ko.xz kernel/net/core/failover.ko.xz",
		"kernel/drivers/net/net_failover.ko.xz: kernel/net/core/failover.ko.xz",
		"kernel/net/core/failover.ko.xz:",
		"kernel/net/sched/sch-ingress.ko:",
	}, "\n")
	if err := os.WriteFile(filepath.Join(dir, "modules.dep"), []byte(dep+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "modules.builtin"), []byte("kernel/drivers/virtio/virtio_pci.ko\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mods, err := moduleClosure(dir, []string{"virtio_pci", "bridge", "virtio_net", "sch_ingress", "stp"})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range mods {
		names = append(names, m.Name)
	}
	want := []string{"llc", "stp", "bridge", "failover", "net_failover", "virtio_net", "sch_ingress"}
	if !reflect.DeepEqual(names, want) {
		t.Errorf("load order %v, want %v (dependencies first, built-ins skipped, each once)", names, want)
	}
	if _, err := moduleClosure(dir, []string{"veth"}); err == nil || !strings.Contains(err.Error(), "veth") {
		t.Errorf("a module the kernel lacks: error %v, want one naming it", err)
	}
}

func TestConcretePackageNames(t *testing.T) {
	for name, concrete := range map[string]bool{
		"linux-image-cloud-amd64":                 false,
		"linux-image-6.12-cloud-amd64":            false,
		"linux-image-6.1.0-56-cloud-amd64":        true,
		"linux-image-6.12.117+deb12-cloud-amd64":  true,
		"linux-image-6.12.117+deb12-amd64":        true,
		"linux-image-6.1.0-56-cloud-amd64-dbg":    true,
		"linux-image-amd64-signed-template-dummy": false,
	} {
		if got := concreteRE.MatchString(name); got != concrete {
			t.Errorf("%s: concrete %v, want %v", name, got, concrete)
		}
	}
}

func TestRecordsSurviveTheConsole(t *testing.T) {
	r := vmrec.Record{Kernel: "6.1.0-56-cloud-amd64", Program: &vmrec.Program{Object: "x.o", Name: "p", Type: "SchedCLS", Insns: 42}}
	line := strings.TrimSpace(r.Line())
	// A kernel message may have been printed just before on the same line.
	got, ok, err := vmrec.Parse("[    3.14] random: crng init done" + line)
	if err != nil || !ok || !reflect.DeepEqual(got, r) {
		t.Fatalf("Parse: %+v %v %v, want %+v", got, ok, err, r)
	}
	if _, ok, err := vmrec.Parse("plain console output"); ok || err != nil {
		t.Errorf("a line without a record: ok %v err %v", ok, err)
	}
	if _, ok, err := vmrec.Parse(vmrec.Marker + `{"kernel": "6.1", "program": {`); !ok || err == nil {
		t.Errorf("a cut record: ok %v err %v, want an error", ok, err)
	}
}

func result(recs ...vmrec.Record) *Result {
	return &Result{VM: &VM{Name: "vm", Kernel: &Kernel{Release: "6.1.0-test"}}, Records: recs, Complete: true, Elapsed: time.Second}
}

func TestSummaryPassesOnlyWhenEverythingRan(t *testing.T) {
	good := []vmrec.Record{
		{Program: &vmrec.Program{Object: "d.o", Name: "a", Insns: 100}},
		{Program: &vmrec.Program{Object: "d.o", Name: "b", Insns: 300}},
		{Attach: &vmrec.Attach{Mechanism: "tc-clsact", Programs: 2}},
		{Test: &vmrec.TestRun{Package: "loader", Passed: 5}},
		{Check: &vmrec.Check{Name: "forwarding smoke", Ran: true, OK: true}},
		{Done: true},
	}
	s := summarize(result(good...))
	if len(s.Problems) != 0 {
		t.Fatalf("problems in a clean run: %v", s.Problems)
	}
	if s.Programs != "2/2 (max 300 insns)" || s.Attach != "tc-clsact (2)" || s.Tests != "5/5" || s.Smoke != "ok" {
		t.Errorf("row %+v", s)
	}
	bad := map[string][]vmrec.Record{
		"verifier rejects": {{Program: &vmrec.Program{Object: "d.o", Name: "a", Err: "permission denied"}}},
		"attach fails":     {{Attach: &vmrec.Attach{Err: "attaching tcx: not supported"}}},
		"a test fails":     {{Test: &vmrec.TestRun{Package: "loader", Passed: 4, Failed: 1, Failures: []string{"TestX"}}}},
		"a binary crashes": {{Test: &vmrec.TestRun{Package: "maps", Err: "signal: killed"}}},
		"a test skips":     {{Test: &vmrec.TestRun{Package: "loader", Passed: 4, Skipped: 1}}},
		"smoke not run":    {{Check: &vmrec.Check{Name: "forwarding smoke", Detail: "no binary"}}},
		"smoke fails":      {{Check: &vmrec.Check{Name: "forwarding smoke", Ran: true}}},
	}
	for name, recs := range bad {
		// Replace the good record of the same kind with the bad one.
		var mixed []vmrec.Record
		for _, g := range good {
			switch {
			case recs[0].Program != nil && g.Program != nil && g.Program.Name == "a",
				recs[0].Attach != nil && g.Attach != nil,
				recs[0].Test != nil && g.Test != nil,
				recs[0].Check != nil && g.Check != nil:
				mixed = append(mixed, recs[0])
			default:
				mixed = append(mixed, g)
			}
		}
		if s := summarize(result(mixed...)); len(s.Problems) == 0 {
			t.Errorf("%s: the row passes", name)
		}
	}
	r := result(good...)
	r.Err = errors.New("no result within 10m")
	if s := summarize(r); len(s.Problems) == 0 {
		t.Error("a VM that timed out passes")
	}
	if s := summarize(result(vmrec.Record{Done: true})); len(s.Problems) == 0 {
		t.Error("a VM that reported nothing passes")
	}
}

func TestFailureLogsShowOnlyFailedTests(t *testing.T) {
	console := filepath.Join(t.TempDir(), "console")
	log := strings.Join([]string{
		"[    1.0] kernel says hello",
		"  | === RUN   TestGood", "  |     good.go:1: fine", "  | --- PASS: TestGood (0.1s)",
		"  | === RUN   TestBad", "  |     bad.go:7: verdict 2, want redirect", "  | --- FAIL: TestBad (0.2s)",
		vmrec.Record{Test: &vmrec.TestRun{Package: "loader", Passed: 1, Failed: 1, Failures: []string{"TestBad"}}}.Line(),
	}, "\r\n")
	if err := os.WriteFile(console, []byte(log), 0o644); err != nil {
		t.Fatal(err)
	}
	r := result(vmrec.Record{Test: &vmrec.TestRun{Package: "loader", Passed: 1, Failed: 1, Failures: []string{"TestBad"}}})
	r.VM.Console = console
	var out bytes.Buffer
	printFailureLogs(&out, []*Result{r})
	if !strings.Contains(out.String(), "verdict 2, want redirect") || strings.Contains(out.String(), "fine") {
		t.Errorf("failure log:\n%s", out.String())
	}
}

func TestVerifierTable(t *testing.T) {
	a := result(vmrec.Record{Program: &vmrec.Program{Object: "datapath_bpfel.o", Name: "vif", Insns: 1234}})
	b := result(vmrec.Record{Program: &vmrec.Program{Object: "datapath_bpfel.o", Name: "vif", Err: "too large"}})
	b.VM.Kernel = &Kernel{Release: "6.12-test"}
	var out bytes.Buffer
	printVerifierTable(&out, []*Result{a, b})
	s := out.String()
	for _, want := range []string{"6.1.0-test", "6.12-test", "datapath/vif", "1234", "REJECTED"} {
		if !strings.Contains(s, want) {
			t.Errorf("verifier table lacks %q:\n%s", want, s)
		}
	}
}

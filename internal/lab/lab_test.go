package lab

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ovnbpf/ovnbpf/internal/daemon"
	"github.com/ovnbpf/ovnbpf/internal/testutil"
)

func TestParseChassis(t *testing.T) {
	got, err := ParseChassis("hv1=ovnbpf, hv2=ovs")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Name != "hv1" || got[0].Flavour != FlavourOVNBPF ||
		got[1].Flavour != FlavourOVS || got[1].UnderlayIP != "192.0.2.12" {
		t.Fatalf("ParseChassis = %+v %+v", got[0], got[1])
	}
	for spec, want := range map[string]string{
		"hv1=vpp":         "no such flavour",
		"hv1":             "NAME=FLAVOUR",
		"hv1=ovs,hv1=ovs": "named twice",
		"HV1=ovs":         "lower-case",
		"underlay=ovs":    "reserved",
		"":                "names no chassis",
	} {
		if _, err := ParseChassis(spec); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseChassis(%q) error = %v, want it to say %q", spec, err, want)
		}
	}
}

func TestCheckName(t *testing.T) {
	for _, bad := range []string{"", "a-b", "Lab", "toolongname"} {
		if CheckName(bad) == nil {
			t.Errorf("CheckName(%q) accepted a bad name", bad)
		}
	}
	if err := CheckName("lab2"); err != nil {
		t.Error(err)
	}
}

// The acceptance of the lab: it comes up with two reference chassis, a VM on
// each pings the other across Geneve, and down leaves no namespace, process,
// pin or file behind.
func TestPrivilegedLabTwoOVSChassis(t *testing.T) {
	testutil.Privileged(t)
	testutil.Need(t, "ovs-vswitchd", "ovn-controller", "ovn-northd", "ping", "ethtool")
	t.Setenv("OVNBPF_LAB_DIR", t.TempDir())
	name := fmt.Sprintf("t%d", os.Getpid()%100000)
	t.Cleanup(func() { _ = Down(name) })

	chassis, err := ParseChassis("hv1=ovs,hv2=ovs")
	if err != nil {
		t.Fatal(err)
	}
	l, err := Up(Options{Name: name, Chassis: chassis})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Up(Options{Name: name, Chassis: chassis}); err == nil || !strings.Contains(err.Error(), "already up") {
		t.Fatalf("second up of a healthy lab: error %v, want a name clash", err)
	}
	if _, err := l.Central().NBCtl("ls-add", "sw0",
		"--", "lsp-add", "sw0", "p1", "--", "lsp-set-addresses", "p1", "02:00:00:00:00:01 192.0.2.101",
		"--", "lsp-add", "sw0", "p2", "--", "lsp-set-addresses", "p2", "02:00:00:00:00:02 192.0.2.102"); err != nil {
		t.Fatal(err)
	}
	vms := []*VM{
		{Name: "a", Chassis: "hv1", LPort: "p1", MAC: "02:00:00:00:00:01", Addr: "192.0.2.101/24"},
		{Name: "b", Chassis: "hv2", LPort: "p2", MAC: "02:00:00:00:00:02", Addr: "192.0.2.102/24"},
	}
	for _, v := range vms {
		if err := l.AddVM(v); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.AddVM(&VM{Name: "c", Chassis: "hv9", LPort: "p3", MAC: "02:00:00:00:00:03", Addr: "192.0.2.103/24"}); err == nil ||
		!strings.Contains(err.Error(), "no chassis") {
		t.Fatalf("vm add on a missing chassis: error %v", err)
	}
	if err := l.WaitPortsUp(60e9); err != nil {
		t.Fatal(err)
	}
	for _, pair := range [][2]*VM{{vms[0], vms[1]}, {vms[1], vms[0]}} {
		if r := l.Ping(pair[0], pair[1]); !r.OK {
			t.Fatalf("ping %s -> %s across Geneve failed: %s", r.From, r.To, r.Err)
		}
	}
	if err := l.DelVM("b"); err != nil {
		t.Fatal(err)
	}
	if r := l.Ping(vms[0], vms[1]); r.OK {
		t.Fatal("ping to a deleted VM succeeded")
	}

	// Everything the lab made, recorded before it goes.
	var pids []int
	_ = filepath.WalkDir(l.Dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".pid") {
			if pid, err := daemon.Pid(p); err == nil {
				pids = append(pids, pid)
			}
		}
		return nil
	})
	if len(pids) != 9 { // central: 3; per ovs chassis: ovsdb-server, ovs-vswitchd, ovn-controller
		t.Fatalf("found %d daemons of the lab, want 9", len(pids))
	}
	if err := Down(name); err != nil {
		t.Fatal(err)
	}
	for _, pid := range pids {
		if daemon.Alive(pid) {
			t.Errorf("pid %d still alive after down", pid)
		}
	}
	if nss, _ := Namespaces(name); len(nss) > 0 {
		t.Errorf("namespaces left after down: %v", nss)
	}
	if _, err := os.Stat(l.Dir); !os.IsNotExist(err) {
		t.Errorf("run folder %s left after down (stat: %v)", l.Dir, err)
	}
	if pins, _ := filepath.Glob(filepath.Join("/sys/fs/bpf/ovnbpf", name+"-*")); len(pins) > 0 {
		t.Errorf("pins left after down: %v", pins)
	}
	if err := Down(name); err != nil {
		t.Errorf("down is not idempotent: %v", err)
	}
}

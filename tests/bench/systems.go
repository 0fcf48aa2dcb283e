package main

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/ovnbpf/ovnbpf/internal/lab"
)

// benchMTU is the MTU every system gets: the lab's default, which leaves room
// for Geneve on the 1500-byte underlay.
const benchMTU = lab.DefaultMTU

// vethSystem is the floor: two namespaces joined by a bare veth pair, with the
// same MTU and tx checksum setting as the lab's VMs.
type vethSystem struct{ a, b string }

func newVethSystem() *vethSystem {
	p := fmt.Sprintf("obbench%d", os.Getpid())
	return &vethSystem{a: p + "a", b: p + "b"}
}

func (v *vethSystem) name() string { return "veth" }

func (v *vethSystem) setup() error {
	mtu := fmt.Sprint(benchMTU)
	for _, c := range [][]string{
		{"ip", "netns", "add", v.a},
		{"ip", "netns", "add", v.b},
		{"ip", "-n", v.a, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", v.b},
		{"ip", "-n", v.a, "link", "set", "dev", "eth0", "mtu", mtu, "up"},
		{"ip", "-n", v.b, "link", "set", "dev", "eth0", "mtu", mtu, "up"},
		{"ip", "-n", v.a, "link", "set", "lo", "up"},
		{"ip", "-n", v.b, "link", "set", "lo", "up"},
		{"ip", "-n", v.a, "addr", "add", "192.0.2.1/24", "dev", "eth0"},
		{"ip", "-n", v.b, "addr", "add", "192.0.2.2/24", "dev", "eth0"},
		{"ip", "netns", "exec", v.a, "ethtool", "-K", "eth0", "tx", "off"},
		{"ip", "netns", "exec", v.b, "ethtool", "-K", "eth0", "tx", "off"},
	} {
		if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
			return fmt.Errorf("%s: %v: %s", strings.Join(c, " "), err, out)
		}
	}
	return nil
}

// The veth pair is the floor for both scopes: there is no chassis to cross.
func (v *vethSystem) pair(string) (string, string, string, error) { return v.a, v.b, "192.0.2.2", nil }

func (v *vethSystem) teardown() {
	_ = exec.Command("ip", "netns", "del", v.a).Run()
	_ = exec.Command("ip", "netns", "del", v.b).Run()
}

// labSystem is an ovnbpf-lab lab of two chassis of one flavour with three
// VMs on one switch: a and b on hv1, c on hv2.
type labSystem struct {
	flavour string
	labName string
	dir     string
	l       *lab.Lab
}

func newLabSystem(flavour string) *labSystem {
	// Named per run, so two benchmarks on one machine never share a lab.
	return &labSystem{flavour: flavour, labName: fmt.Sprintf("b%c%d", flavour[2], os.Getpid()%100000)}
}

func (s *labSystem) name() string { return s.flavour }

func (s *labSystem) setup() error {
	dir, err := os.MkdirTemp("", "ovnbpf-bench-")
	if err != nil {
		return err
	}
	s.dir = dir
	os.Setenv("OVNBPF_LAB_DIR", dir)
	chassis, err := lab.ParseChassis(fmt.Sprintf("hv1=%s,hv2=%s", s.flavour, s.flavour))
	if err != nil {
		return err
	}
	l, err := lab.Up(lab.Options{Name: s.labName, Chassis: chassis, OVNBPFD: ovnbpfdBinary()})
	if err != nil {
		return err
	}
	s.l = l
	nb := []string{"ls-add", "sw0"}
	for i, vm := range []string{"a", "b", "c"} {
		nb = append(nb, "--", "lsp-add", "sw0", "p"+vm,
			"--", "lsp-set-addresses", "p"+vm, fmt.Sprintf("02:00:00:00:00:%02x 192.0.2.%d", i+1, 101+i))
	}
	if _, err := l.Central().NBCtl(nb...); err != nil {
		return err
	}
	for i, vm := range []string{"a", "b", "c"} {
		ch := "hv1"
		if vm == "c" {
			ch = "hv2"
		}
		if err := l.AddVM(&lab.VM{Name: vm, Chassis: ch, LPort: "p" + vm, MTU: benchMTU,
			MAC: fmt.Sprintf("02:00:00:00:00:%02x", i+1), Addr: fmt.Sprintf("192.0.2.%d/24", 101+i)}); err != nil {
			return err
		}
	}
	return l.WaitPortsUp(60 * time.Second)
}

func (s *labSystem) pair(scope string) (string, string, string, error) {
	a := lab.Namespace(s.labName, "a")
	if scope == "same chassis" {
		return a, lab.Namespace(s.labName, "b"), "192.0.2.102", nil
	}
	return a, lab.Namespace(s.labName, "c"), "192.0.2.103", nil
}

func (s *labSystem) teardown() {
	_ = lab.Down(s.labName)
	if s.dir != "" {
		os.RemoveAll(s.dir)
	}
}

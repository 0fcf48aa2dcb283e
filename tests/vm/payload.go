package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

// testPackages are the packages whose tests run inside every VM: the
// datapath's BPF_PROG_TEST_RUN and attach tests, and the forwarding smoke test.
var testPackages = []string{"bpf", "maps", "loader", "loader/looptest", "tests/vm/smoke"}

// sharedTestdata are folders of the repository that those tests read by a
// path relative to their package (maps reads the corpus snapshots as
// ../tests/corpus/testdata). Each package runs in /ovnbpf/src/<name>, one
// level deep, so a folder shipped at /ovnbpf/src/<path> is where they look.
var sharedTestdata = []string{"tests/corpus/testdata"}

// guestModules are loaded in the guest (with their dependencies) when the
// kernel builds them as modules: the NIC, the devices the tests make, tc's
// clsact and bpf classifier for kernels without TCX, and conntrack for the
// datapath's ct kfuncs.
var guestModules = []string{"virtio_pci", "virtio_net", "veth", "bridge", "dummy",
	"sch_ingress", "cls_bpf", "nf_conntrack", "nf_nat"}

// hostPrograms are copied with their libraries: the tests drive iproute2
// (testutil.NetNS runs `ip netns`), ping, ethtool and bpftool, and build their
// topologies with a real OVN central (internal/central).
var hostPrograms = []string{"ip", "tc", "ping", "ethtool", "bpftool",
	"ovsdb-tool", "ovsdb-server", "ovsdb-client", "ovn-northd", "ovn-nbctl", "ovn-sbctl", "ovs-appctl", "ovn-appctl", "ovs-vsctl"}

// hostFiles are data files the central and the chassis' OVSDB need.
var hostFiles = []string{"/usr/share/ovn/ovn-nb.ovsschema", "/usr/share/ovn/ovn-sb.ovsschema",
	"/usr/share/openvswitch/vswitch.ovsschema"}

// Payload is what every guest gets, whatever its kernel.
type Payload struct {
	Repo    string // the repository root, for sharedTestdata
	Agent   string
	Tests   map[string]string // binary name (no .test) -> package folder
	TestBin string            // folder of the binaries
	Objects []string          // BPF ELF objects
	OVNBPFD string            // static ovnbpfd, when the build has one
}

func (p *Payload) testNames() []string {
	var n []string
	for k := range p.Tests {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}

// buildPayload builds static binaries (CGO_ENABLED=0): the guest's user space
// is a busybox initramfs with no C library for Go to link against.
func buildPayload(repo, work string) (*Payload, error) {
	p := &Payload{Repo: repo, Agent: filepath.Join(work, "agent"), Tests: map[string]string{}, TestBin: filepath.Join(work, "tests")}
	if err := goCmd(repo, "build", "-o", p.Agent, "./tests/vm/guest"); err != nil {
		return nil, err
	}
	var pkgs []string
	for _, d := range testPackages {
		if hasTests(filepath.Join(repo, d)) {
			pkgs = append(pkgs, "./"+d)
			p.Tests[strings.ReplaceAll(d, "/", "-")] = filepath.Join(repo, d)
		}
	}
	if len(pkgs) > 0 {
		if err := os.MkdirAll(p.TestBin, 0o755); err != nil {
			return nil, err
		}
		for _, pkg := range pkgs {
			name := strings.ReplaceAll(strings.TrimPrefix(pkg, "./"), "/", "-")
			if err := goCmd(repo, "test", "-c", "-o", filepath.Join(p.TestBin, name+".test"), pkg); err != nil {
				return nil, err
			}
		}
	}
	for _, d := range []string{"bpf", "maps", "loader"} {
		_ = filepath.WalkDir(filepath.Join(repo, d), func(path string, e os.DirEntry, err error) error {
			if err == nil && !e.IsDir() && strings.HasSuffix(path, ".o") && strings.Contains(filepath.Base(path), "_bpfel") {
				p.Objects = append(p.Objects, path)
			}
			return nil
		})
	}
	if _, err := os.Stat(filepath.Join(repo, "cmd", "ovnbpfd")); err == nil && hasGo(filepath.Join(repo, "cmd", "ovnbpfd")) {
		out := filepath.Join(work, "ovnbpfd")
		if err := goCmd(repo, "build", "-o", out, "./cmd/ovnbpfd"); err != nil {
			return nil, err
		}
		p.OVNBPFD = out
	}
	return p, nil
}

func hasGo(dir string) bool {
	m, _ := filepath.Glob(filepath.Join(dir, "*.go"))
	return len(m) > 0
}

func hasTests(dir string) bool {
	m, _ := filepath.Glob(filepath.Join(dir, "*_test.go"))
	return len(m) > 0
}

func goCmd(repo string, args ...string) error {
	cmd := exec.Command("go", args...)
	cmd.Dir = repo
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}

func runCmd(argv ...string) error {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w", strings.Join(argv, " "), err)
	}
	return nil
}

// initScript is the guest's /init: mount what the datapath and the tests
// need, load the modules in dependency order, run the agent, power off.
const initScript = `#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/usr/bin:/usr/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs run /run
mount -t tmpfs tmp /tmp
mount -t bpf bpf /sys/fs/bpf
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
mkdir -p /run/netns /root /run/openvswitch /run/ovn
while read -r m; do
	insmod /lib/modules/ovnbpf/$m.ko || echo "init: insmod $m failed"
done < /lib/modules/ovnbpf/order
ip link set lo up
/ovnbpf/agent
echo "init: agent exited with $?"
poweroff -f
`

// buildInitramfs writes the kernel's initramfs: busybox, the host programs
// with their libraries, the kernel's modules, the agent and the payload.
func buildInitramfs(out string, k *Kernel, p *Payload) error {
	f, err := createGz(out)
	if err != nil {
		return err
	}
	c := newCPIO(f)
	for _, d := range []string{"proc", "sys", "dev", "run", "tmp", "root", "etc", "sys/fs/bpf",
		"var/log/openvswitch", "var/log/ovn", "var/lib/openvswitch", "var/lib/ovn", "etc/openvswitch"} {
		c.Dir(d)
	}
	c.CharDev("dev/console", 5, 1)
	c.CharDev("dev/null", 1, 3)
	c.Symlink("var/run", "/run")
	c.File("etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/bin/sh\n"))
	c.File("etc/group", 0o644, []byte("root:x:0:\n"))
	c.File("init", 0o755, []byte(initScript))
	if err := c.HostFile("/bin/busybox", "bin/busybox"); err != nil {
		return fmt.Errorf("%w (install busybox-static)", err)
	}
	for _, prog := range hostPrograms {
		if err := c.HostProgram(prog); err != nil {
			return err
		}
	}
	for _, hf := range hostFiles {
		if err := c.HostFile(hf, hf); err != nil {
			return fmt.Errorf("%w (run 'make deps')", err)
		}
	}
	modDir := filepath.Join(k.Root, "lib", "modules", k.Release)
	mods, err := moduleClosure(modDir, guestModules)
	if err != nil {
		return fmt.Errorf("%s: %w", k.Release, err)
	}
	var order []string
	for _, m := range mods {
		b, err := readModule(filepath.Join(modDir, m.Path))
		if err != nil {
			return err
		}
		c.File("lib/modules/ovnbpf/"+m.Name+".ko", 0o644, b)
		order = append(order, m.Name)
	}
	c.File("lib/modules/ovnbpf/order", 0o644, []byte(strings.Join(order, "\n")+"\n"))
	if err := c.HostFile(p.Agent, "ovnbpf/agent"); err != nil {
		return err
	}
	for name, dir := range p.Tests {
		if err := c.HostFile(filepath.Join(p.TestBin, name+".test"), "ovnbpf/tests/"+name+".test"); err != nil {
			return err
		}
		c.Dir("ovnbpf/src/" + name)
		if err := addTree(c, filepath.Join(dir, "testdata"), "ovnbpf/src/"+name+"/testdata"); err != nil {
			return err
		}
	}
	for _, d := range sharedTestdata {
		if err := addTree(c, filepath.Join(p.Repo, d), "ovnbpf/src/"+d); err != nil {
			return err
		}
	}
	for _, o := range p.Objects {
		if err := c.HostFile(o, "ovnbpf/objs/"+filepath.Base(o)); err != nil {
			return err
		}
	}
	if p.OVNBPFD != "" {
		if err := c.HostFile(p.OVNBPFD, "usr/bin/ovnbpfd"); err != nil {
			return err
		}
	}
	if err := c.Close(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// addTree copies a folder of the repository (testdata) when it exists.
func addTree(c *cpioWriter, src, dst string) error {
	if _, err := os.Stat(src); err != nil {
		return nil
	}
	return filepath.WalkDir(src, func(path string, e os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		target := filepath.Join(dst, rel)
		switch {
		case e.IsDir():
			c.Dir(target)
		case e.Type().IsRegular():
			return c.HostFile(path, target)
		}
		return nil
	})
}

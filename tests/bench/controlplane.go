package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/ovnbpf/ovnbpf/internal/daemon"
	"github.com/ovnbpf/ovnbpf/internal/lab"
	"github.com/ovnbpf/ovnbpf/pipeline/sbjson"
	"github.com/ovnbpf/ovnbpf/tests/corpus"
	"github.com/ovnbpf/ovnbpf/tests/scale"
)

// controlPlane measures, at one scale of the tests/scale topology (N
// switches of M ports on one router, a port group with three ACLs), each
// chassis kind on a lab of its own with one port of every switch bound to it
// (so all N datapaths are local, as in REFERENCE.md): the reference
// ovn-controller + ovs-vswitchd, and ovnbpfd. The same measurements for both;
// and ovnbpf's compiler alone, in this process, on the same Southbound.
func controlPlane(cfg config, switches, ports int) []Row {
	scope := fmt.Sprintf("control %dx%d", switches, ports)
	var rows []Row
	for _, flavour := range cfg.Systems {
		r, snap := chassisControlPlane(cfg, scope, flavour, switches, ports)
		rows = append(rows, r...)
		if flavour == "ovs" {
			rows = append(rows, compileRows(cfg, scope, snap)...)
		}
	}
	return rows
}

// compileRows times the compiler on a Southbound snapshot.
func compileRows(cfg config, scope string, snapData []byte) []Row {
	row := func(metric, unit string, v []float64, err error) Row {
		r := Row{Metric: metric, Scope: scope, Unit: unit, System: "ovnbpf"}
		if err != nil {
			r.Note = err.Error()
		} else {
			r.Sample = summarise(v)
		}
		return r
	}
	if snapData == nil {
		err := fmt.Errorf("no Southbound snapshot")
		return []Row{row("compile (in process)", "ms", nil, err)}
	}
	snap, err := sbjson.Parse(snapData)
	if err != nil {
		return []Row{row("compile (in process)", "ms", nil, err)}
	}
	snap.Chassis = "bench"
	var times, mem []float64
	for r := 0; r < max(cfg.Reps, 3); r++ {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		t0 := time.Now()
		comp, rep := sbjson.Compile(snap)
		times = append(times, ms(time.Since(t0)))
		runtime.GC()
		runtime.ReadMemStats(&after)
		mem = append(mem, float64(after.HeapAlloc-before.HeapAlloc)/(1<<20))
		runtime.KeepAlive(comp)
		if rep.Compiled != rep.Lflows {
			err = fmt.Errorf("%d of %d lflows unsupported", rep.Lflows-rep.Compiled, rep.Lflows)
		}
	}
	return []Row{row("compile (in process)", "ms", times, err), row("compile heap held", "MB", mem, err)}
}

// chassisControlPlane builds the topology on a lab with one chassis of the
// flavour and measures it. It returns the Southbound snapshot too (ovs only).
func chassisControlPlane(cfg config, scope, flavour string, switches, ports int) (rows []Row, snap []byte) {
	add := func(metric, unit string, v []float64, err error) {
		r := Row{Metric: metric, Scope: scope, Unit: unit, System: flavour}
		if err != nil {
			r.Note = err.Error()
		} else if len(v) > 0 {
			r.Sample = summarise(v)
		}
		rows = append(rows, r)
	}
	fail := func(err error) ([]Row, []byte) {
		add("full recompute", "ms", nil, err)
		return rows, snap
	}
	dir, err := os.MkdirTemp("", "ovnbpf-bench-cp-")
	if err != nil {
		return fail(err)
	}
	defer os.RemoveAll(dir)
	os.Setenv("OVNBPF_LAB_DIR", dir)
	// Named per run, so two benchmarks on one machine never share a lab.
	name := fmt.Sprintf("c%c%d", flavour[2], os.Getpid()%100000)
	defer lab.Down(name)
	defer whileUp(func() { _ = lab.Down(name); os.RemoveAll(dir) })()
	chassis, _ := lab.ParseChassis("hv1=" + flavour)
	l, err := lab.Up(lab.Options{Name: name, Chassis: chassis, OVNBPFD: ovnbpfdBinary(),
		OVNBPFDArgs: capacityArgs(switches, ports)})
	if err != nil {
		return fail(err)
	}
	c := l.Central()
	t0 := time.Now()
	if err := scale.Build(c, switches, ports); err != nil {
		return fail(err)
	}
	fmt.Fprintf(os.Stderr, "bench: %s: built for %s in %s\n", scope, flavour, time.Since(t0).Round(time.Second))
	if flavour == "ovs" { // one snapshot for the compile rows (at 10x, a listing takes minutes)
		if snap, err = corpus.Snapshot(c); err != nil {
			return fail(err)
		}
	}
	hv := chassis[0]
	ifaces := make([]string, switches)
	lports := make([]string, switches)
	for s := range ifaces {
		ifaces[s], lports[s] = fmt.Sprintf("b%d", s), fmt.Sprintf("sw%d-p0", s)
	}
	if err := plugVIFs(l, hv, ifaces, lports); err != nil {
		return fail(err)
	}
	if _, err := c.NBCtl("--timeout=900", "--wait=hv", "sync"); err != nil {
		return fail(err)
	}
	daemonName := map[string]string{"ovs": "ovn-controller", "ovnbpf": "ovnbpfd"}[flavour]
	pid, _ := daemon.Pid(filepath.Join(dir, name, "chassis", "hv1", daemonName+".pid"))

	// Full recompute: until the daemon has done it (recompute returns then),
	// and until a --wait=hv asked after it returns, less a plain --wait=hv
	// (the second also counts what the daemon leaves to others: ovs-vswitchd
	// installing the flows ovn-controller sent it).
	var rc, rcWait, cpu []float64
	for r := 0; r < max(cfg.Reps, 3); r++ {
		t0 := time.Now()
		if _, err := c.NBCtl("--timeout=300", "--wait=hv", "sync"); err != nil {
			return fail(err)
		}
		base := time.Since(t0)
		cpu0 := cpuOf(pid)
		t0 = time.Now()
		if err := recompute(l, hv, dir, name); err != nil {
			return fail(err)
		}
		rc = append(rc, ms(time.Since(t0)))
		if _, err := c.NBCtl("--timeout=300", "--wait=hv", "sync"); err != nil {
			return fail(err)
		}
		rcWait = append(rcWait, ms(time.Since(t0)-base))
		cpu = append(cpu, (cpuOf(pid)-cpu0)*1000)
	}
	add("full recompute", "ms", rc, nil)
	add("full recompute, then --wait=hv", "ms", rcWait, nil)
	add("recompute CPU", "ms", cpu, nil)
	add("memory (RSS)", "MB", []float64{procStatusMB(pid, "VmRSS")}, nil)
	// The high-water mark: what a full pass needs at its peak.
	add("peak memory (VmHWM)", "MB", []float64{procStatusMB(pid, "VmHWM")}, nil)

	// One change, end to end: lsp-add with --wait=hv; then its VIF appears,
	// the chassis sets Port_Binding.up (Southbound) and ovn-northd copies it
	// to the Northbound. More repetitions than the other rows: most of
	// these seconds are ovn-northd's, whose time varies more than the
	// controllers' share of them.
	// The controller's CPU over each: its own share of the change, which
	// ovn-northd's seconds hide in the latencies.
	var waits, sbUps, ups, addCPU, vifCPU []float64
	for r := 0; r < max(2*cfg.Reps+1, 3); r++ {
		p := fmt.Sprintf("sw1-bench%d", r)
		cpu0 := cpuOf(pid)
		t0 := time.Now()
		if _, err := c.NBCtl("--timeout=120", "--wait=hv", "lsp-add", "sw1", p, "--", "lsp-set-addresses", p,
			fmt.Sprintf("50:54:01:00:00:%02x 10.0.201.%d", r, r+10)); err != nil {
			add("--wait=hv lsp-add", "ms", nil, err)
			return rows, snap
		}
		waits = append(waits, ms(time.Since(t0)))
		addCPU = append(addCPU, (cpuOf(pid)-cpu0)*1000)
		cpu0 = cpuOf(pid)
		t0 = time.Now()
		if err := plugVIFs(l, hv, []string{fmt.Sprintf("v%d", r)}, []string{p}); err != nil {
			add("VIF to up=true", "ms", nil, err)
			return rows, snap
		}
		if _, err := c.SBCtl("--timeout=120", "wait-until", "Port_Binding", p, "up=true"); err != nil {
			add("VIF to Port_Binding up=true", "ms", nil, err)
			return rows, snap
		}
		sbUps = append(sbUps, ms(time.Since(t0)))
		if _, err := c.NBCtl("--timeout=120", "wait-until", "Logical_Switch_Port", p, "up=true"); err != nil {
			add("VIF to up=true", "ms", nil, err)
			return rows, snap
		}
		ups = append(ups, ms(time.Since(t0)))
		vifCPU = append(vifCPU, (cpuOf(pid)-cpu0)*1000)
	}
	add("--wait=hv lsp-add", "ms", waits, nil)
	add("VIF to Port_Binding up=true", "ms", sbUps, nil)
	add("VIF to up=true", "ms", ups, nil)
	add("controller CPU per lsp-add", "ms", addCPU, nil)
	add("controller CPU per VIF to up", "ms", vifCPU, nil)
	return rows, snap
}

// plugVIFs makes VIFs for logical ports on a lab chassis, as a CNI would: on
// an ovs chassis, internal ports of br-int; on an ovnbpf chassis, veths in
// the chassis' namespace and Interface rows naming them (no ovs-vswitchd).
func plugVIFs(l *lab.Lab, c *lab.Chassis, ifaces, lports []string) error {
	args := []string{}
	if c.Flavour == lab.FlavourOVNBPF {
		var batch strings.Builder
		for _, ifn := range ifaces {
			fmt.Fprintf(&batch, "link add %s type veth peer name %sp\nlink set %s up\nlink set %sp up\n", ifn, ifn, ifn, ifn)
		}
		cmd := exec.Command("ip", "-n", lab.Namespace(l.Name, c.Name), "-batch", "-")
		cmd.Stdin = strings.NewReader(batch.String())
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("making VIFs: %w: %s", err, out)
		}
		args = append(args, "--no-wait")
	}
	args = append(args, "--may-exist", "add-br", "br-int")
	for i, ifn := range ifaces {
		args = append(args, "--", "add-port", "br-int", ifn, "--", "set", "Interface", ifn, "external_ids:iface-id="+lports[i])
		if c.Flavour == lab.FlavourOVS {
			args = append(args, "type=internal")
		}
	}
	return vsctl(l, c, args...)
}

// capacityArgs sizes ovnbpfd's maps for the topology when the default
// (131,072 lflows) is too small: northd writes about 4.5 lflows per port.
func capacityArgs(switches, ports int) []string {
	need := uint32(1 << 17)
	for need < uint32(switches*ports*6) {
		need *= 2
	}
	if need == 1<<17 {
		return nil
	}
	return []string{fmt.Sprintf("--lflow-capacity=%d", need)}
}

// recompute asks the chassis' controller for a full recompute and returns
// once the controller has done it. ovnbpfctl's request is answered when the
// pass is done. ovn-controller answers at once and recomputes in its next
// main-loop iteration, which serves the control socket only at its end: a
// second request, sent once the first is answered, is answered when that
// iteration (the recompute and the flows handed to ovs-vswitchd) is done.
func recompute(l *lab.Lab, c *lab.Chassis, dir, name string) error {
	if c.Flavour == lab.FlavourOVS {
		if err := appctl(l, c, "ovn-controller", "recompute"); err != nil {
			return err
		}
		return appctl(l, c, "ovn-controller", "connection-status")
	}
	sock := filepath.Join(dir, name, "chassis", c.Name, "ovnbpfd.ctl")
	self, _ := os.Executable()
	ctl := filepath.Join(filepath.Dir(self), "ovnbpfctl")
	if out, err := exec.Command(ctl, "recompute", "--ctl-socket", sock).CombinedOutput(); err != nil {
		return fmt.Errorf("ovnbpfctl recompute: %w: %s", err, out)
	}
	return nil
}

// ovnbpfd is the -ovnbpfd flag: the daemon binary to measure.
var ovnbpfd string

func ovnbpfdBinary() string {
	if ovnbpfd != "" {
		return ovnbpfd
	}
	self, _ := os.Executable()
	p := filepath.Join(filepath.Dir(self), "ovnbpfd")
	if _, err := os.Stat(p); err == nil {
		return p
	}
	p, _ = exec.LookPath("ovnbpfd")
	return p
}

func vsctl(l *lab.Lab, c *lab.Chassis, args ...string) error {
	argv := append([]string{"--db=unix:" + l.DBSocket(c.Name), "--timeout=300"}, args...)
	if out, err := exec.Command("ovs-vsctl", argv...).CombinedOutput(); err != nil {
		return fmt.Errorf("ovs-vsctl: %w: %s", err, out)
	}
	return nil
}

func appctl(l *lab.Lab, c *lab.Chassis, target string, args ...string) error {
	cmd, err := l.ExecCommand(c.Name, append([]string{"ovn-appctl", "-t", target}, args...))
	if err != nil {
		return err
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("ovn-appctl -t %s %s: %w: %s", target, strings.Join(args, " "), err, out)
	}
	return nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// cpuOf returns the CPU seconds the threads of pid have used.
func cpuOf(pid int) float64 {
	// each thread's time on a CPU in ns (/proc/PID/stat counts clock ticks:
	// too coarse for one change's few ms); the daemons' threads live as long
	// as they do
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	if err != nil {
		return 0
	}
	var ns float64
	for _, t := range tasks {
		b, err := os.ReadFile(t)
		if err != nil {
			continue // a thread that has just exited
		}
		if f := strings.Fields(string(b)); len(f) > 0 {
			v, _ := strconv.ParseFloat(f[0], 64)
			ns += v
		}
	}
	return ns / 1e9
}

// procStatusMB reads a memory field (VmRSS, VmHWM) of /proc/PID/status.
func procStatusMB(pid int, field string) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, field+":") {
			kb, _ := strconv.ParseFloat(strings.Fields(l)[1], 64)
			return kb / 1024
		}
	}
	return 0
}

package main

import (
	"fmt"
	"os"
	"os/exec"
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

// controlPlane measures, on one Southbound built by tests/scale (N switches
// of M ports on one router, a port group with three ACLs), the reference
// ovn-controller on an ovs chassis with one port of every switch bound to it
// (so all N datapaths are local, as in REFERENCE.md), and ovnbpf's compiler
// on the same database.
func controlPlane(cfg config, switches, ports int) []Row {
	scope := fmt.Sprintf("control %dx%d", switches, ports)
	var rows []Row
	add := func(system, metric, unit string, v []float64, err error) {
		r := Row{Metric: metric, Scope: scope, Unit: unit, System: system}
		if err != nil {
			r.Note = err.Error()
		} else if len(v) > 0 {
			r.Sample = summarise(v)
		}
		rows = append(rows, r)
	}

	dir, err := os.MkdirTemp("", "ovnbpf-bench-cp-")
	if err != nil {
		add("ovs", "full recompute", "ms", nil, err)
		return rows
	}
	defer os.RemoveAll(dir)
	os.Setenv("OVNBPF_LAB_DIR", dir)
	const name = "benchcp"
	defer lab.Down(name)
	chassis, _ := lab.ParseChassis("hv1=ovs")
	l, err := lab.Up(lab.Options{Name: name, Chassis: chassis})
	if err == nil {
		t0 := time.Now()
		err = scale.Build(l.Central(), switches, ports)
		fmt.Fprintf(os.Stderr, "bench: built %s in %s\n", scope, time.Since(t0).Round(time.Second))
	}
	if err != nil {
		add("ovs", "full recompute", "ms", nil, err)
		return rows
	}
	c := l.Central()

	// ovnbpf: the compiler on the same Southbound (ovnbpfd's own figures join
	// when the ovnbpf chassis runs in labs).
	snapData, err := corpus.Snapshot(c)
	var lflows int
	if err == nil {
		var snap *sbjson.Snapshot
		if snap, err = sbjson.Parse(snapData); err == nil {
			snap.Chassis = lab.SystemID(name, "hv1")
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
				lflows = rep.Lflows
				if rep.Compiled != rep.Lflows {
					err = fmt.Errorf("%d of %d lflows unsupported", rep.Lflows-rep.Compiled, rep.Lflows)
				}
			}
			add("ovnbpf", "full recompute", "ms", times, err)
			add("ovnbpf", "memory (heap held)", "MB", mem, err)
		}
	}
	if err != nil {
		add("ovnbpf", "full recompute", "ms", nil, err)
	}
	notYet := fmt.Errorf("needs ovnbpfd running an ovnbpf lab chassis")
	add("ovnbpf", "--wait=hv lsp-add", "ms", nil, notYet)
	add("ovnbpf", "VIF to up=true", "ms", nil, notYet)

	// The reference: bind one port per switch so every datapath is local.
	hv := &lab.Chassis{Name: "hv1"}
	args := []string{}
	for s := 0; s < switches; s++ {
		ifn := fmt.Sprintf("b%d", s)
		args = append(args, "--", "add-port", "br-int", ifn, "--", "set", "Interface", ifn, "type=internal",
			fmt.Sprintf("external_ids:iface-id=sw%d-p0", s))
	}
	if err := vsctl(l, hv, args...); err != nil {
		add("ovs", "full recompute", "ms", nil, err)
		return rows
	}
	if _, err := c.NBCtl("--timeout=900", "--wait=hv", "sync"); err != nil {
		add("ovs", "full recompute", "ms", nil, err)
		return rows
	}
	pid, _ := daemon.Pid(dir + "/" + name + "/chassis/hv1/ovn-controller.pid")

	// Full recompute: `recompute` then --wait=hv, less a plain --wait=hv.
	var rc, cpu []float64
	for r := 0; r < max(cfg.Reps, 3); r++ {
		t0 := time.Now()
		if _, err := c.NBCtl("--timeout=300", "--wait=hv", "sync"); err != nil {
			add("ovs", "full recompute", "ms", nil, err)
			return rows
		}
		base := time.Since(t0)
		cpu0 := cpuOf(pid)
		t0 = time.Now()
		if err := appctl(l, hv, "ovn-controller", "recompute"); err != nil {
			add("ovs", "full recompute", "ms", nil, err)
			return rows
		}
		if _, err := c.NBCtl("--timeout=300", "--wait=hv", "sync"); err != nil {
			add("ovs", "full recompute", "ms", nil, err)
			return rows
		}
		rc = append(rc, ms(time.Since(t0)-base))
		cpu = append(cpu, (cpuOf(pid)-cpu0)*1000)
	}
	add("ovs", "full recompute", "ms", rc, nil)
	add("ovs", "recompute CPU", "ms", cpu, nil)
	add("ovs", "memory (RSS)", "MB", []float64{rssMB(pid)}, nil)

	// One change, end to end: lsp-add with --wait=hv.
	var waits, ups []float64
	for r := 0; r < max(cfg.Reps, 3); r++ {
		p := fmt.Sprintf("sw1-bench%d", r)
		t0 := time.Now()
		if _, err := c.NBCtl("--timeout=120", "--wait=hv", "lsp-add", "sw1", p, "--", "lsp-set-addresses", p,
			fmt.Sprintf("50:54:01:00:00:%02x 10.0.201.%d", r, r+10)); err != nil {
			add("ovs", "--wait=hv lsp-add", "ms", nil, err)
			break
		}
		waits = append(waits, ms(time.Since(t0)))
		// A VIF appears for that port: time until OVN reports it up.
		ifn := fmt.Sprintf("v%d", r)
		t0 = time.Now()
		if err := vsctl(l, hv, "add-port", "br-int", ifn, "--", "set", "Interface", ifn, "type=internal",
			"external_ids:iface-id="+p); err != nil {
			add("ovs", "VIF to up=true", "ms", nil, err)
			break
		}
		if _, err := c.NBCtl("--timeout=120", "wait-until", "Logical_Switch_Port", p, "up=true"); err != nil {
			add("ovs", "VIF to up=true", "ms", nil, err)
			break
		}
		ups = append(ups, ms(time.Since(t0)))
	}
	add("ovs", "--wait=hv lsp-add", "ms", waits, nil)
	add("ovs", "VIF to up=true", "ms", ups, nil)
	if flows, err := exec.Command("ip", "netns", "exec", lab.Namespace(name, "hv1"), "env", "OVS_RUNDIR="+dir+"/"+name+"/chassis/hv1",
		"ovs-ofctl", "dump-aggregate", "br-int").Output(); err == nil {
		fmt.Fprintf(os.Stderr, "bench: %s: %d lflows; ovn-controller installed %s\n", scope, lflows, strings.TrimSpace(string(flows)))
	}
	return rows
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

// cpuOf returns the user+system CPU seconds pid has used.
func cpuOf(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100
}

func rssMB(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			kb, _ := strconv.ParseFloat(strings.Fields(l)[1], 64)
			return kb / 1024
		}
	}
	return 0
}

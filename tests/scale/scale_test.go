package scale

import (
	"flag"
	"os"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/ovnbpf/ovnbpf/internal/central"
	"github.com/ovnbpf/ovnbpf/pipeline"
	"github.com/ovnbpf/ovnbpf/pipeline/sbjson"
	"github.com/ovnbpf/ovnbpf/tests/corpus"
)

var (
	nSwitches = flag.Int("switches", 100, "switches in the scale topology")
	nPorts    = flag.Int("ports", 100, "VM ports per switch")
	snapPath  = flag.String("snapshot", "", "keep/reuse the built topology's snapshots in this file")
)

// BenchmarkCompileScale builds the reference topology on a real central
// (about 43k lflows at 100x100), then measures a full compile of every
// lflow, and the incremental work of one added port.
func BenchmarkCompileScale(b *testing.B) {
	data, data2 := snapshots(b)
	snap, err := sbjson.Parse(data)
	if err != nil {
		b.Fatal(err)
	}
	snap.Chassis = corpus.Chassis
	b.Logf("%d lflows", len(snap.Flows))

	b.Run("full", func(b *testing.B) {
		b.ReportAllocs()
		var rep *sbjson.Report
		cpu0 := cpuTime()
		for b.Loop() {
			_, rep = sbjson.Compile(snap)
		}
		// CPU time is steadier than wall time on a shared machine.
		b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N)/1e6, "cpu-ms/op")
		if rep.Compiled != rep.Lflows {
			b.Fatalf("%d lflows unsupported: %v", rep.Lflows-rep.Compiled, rep.Errors[:min(5, len(rep.Errors))])
		}
		b.ReportMetric(float64(rep.Lflows), "lflows")
		b.ReportMetric(float64(rep.Rules), "rules")
	})

	// What the bench's `compile (in process)` row times: a collection
	// first (not timed), then one compile; wall and CPU per compile.
	b.Run("row", func(b *testing.B) {
		var cpu int64
		for b.Loop() {
			b.StopTimer()
			runtime.GC()
			cpu0 := cpuTime()
			b.StartTimer()
			comp, _ := sbjson.Compile(snap)
			b.StopTimer()
			cpu += cpuTime() - cpu0
			runtime.KeepAlive(comp)
			b.StartTimer()
		}
		b.ReportMetric(float64(cpu)/float64(b.N)/1e6, "cpu-ms/op")
	})

	// The same compile read through Compiler.View (each match decoded into
	// one reused buffer) instead of Table: what a consumer that reads the
	// rules once, as the map installer does, costs without []Rule.
	b.Run("full-view", func(b *testing.B) {
		b.ReportAllocs()
		var rules int
		cpu0 := cpuTime()
		for b.Loop() {
			rules = compileViews(b, snap)
		}
		b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N)/1e6, "cpu-ms/op")
		b.ReportMetric(float64(rules), "rules")
	})

	b.Run("heap", func(b *testing.B) {
		for b.Loop() {
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			comp, _ := sbjson.Compile(snap)
			runtime.GC()
			runtime.ReadMemStats(&after)
			b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/(1<<20), "MB-retained")
			runtime.KeepAlive(comp)
		}
	})

	// One port added: northd rewrites some lflows, the port group and the
	// address set change; apply the difference to a compiler holding the
	// whole topology.
	snap2, err := sbjson.Parse(data2)
	if err != nil {
		b.Fatal(err)
	}
	snap2.Chassis = corpus.Chassis
	delta := sbjson.Diff(snap, snap2)
	b.Logf("one port: %d lflows upserted, %d deleted, inputs changed: %v", len(delta.Upsert), len(delta.Delete), delta.Inputs())
	b.Run("add-port", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			b.StopTimer()
			r := &sbjson.Switchable{S: snap}
			comp := pipeline.NewCompiler(r)
			for _, f := range snap.Flows {
				comp.Upsert(f)
			}
			for _, k := range comp.Flush() {
				comp.Table(k) // installed once, as the controller does
			}
			runtime.GC() // the setup's garbage is not the step's cost
			b.StartTimer()
			r.S = snap2
			delta.Apply(comp)
			changed := comp.Flush()
			for _, k := range changed {
				comp.Table(k)
			}
		}
	})
}

// snapshots returns the Southbound snapshot of the topology, and the one
// after AddPort. Building takes about 40 s at 100x100: with -snapshot PATH
// the pair is kept in PATH and PATH.add-port and reused by later runs.
func snapshots(b *testing.B) (before, after []byte) {
	if *snapPath != "" {
		before, err1 := os.ReadFile(*snapPath)
		after, err2 := os.ReadFile(*snapPath + ".add-port")
		if err1 == nil && err2 == nil {
			return before, after
		}
	}
	c, err := central.Start(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Stop()
	t0 := time.Now()
	if err := Build(c, *nSwitches, *nPorts); err != nil {
		b.Fatal(err)
	}
	b.Logf("built %dx%d in %s", *nSwitches, *nPorts, time.Since(t0).Round(time.Millisecond))
	if before, err = corpus.Snapshot(c); err != nil {
		b.Fatal(err)
	}
	if err := AddPort(c, 0, *nPorts); err != nil {
		b.Fatal(err)
	}
	if after, err = corpus.Snapshot(c); err != nil {
		b.Fatal(err)
	}
	if *snapPath != "" {
		if err := os.WriteFile(*snapPath, before, 0o644); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(*snapPath+".add-port", after, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	return before, after
}

// cpuTime is the process' user+system CPU time in nanoseconds.
func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// compileViews compiles s as sbjson.Compile does and reads every rule of
// every table through a View; it returns the number of rules.
func compileViews(b *testing.B, s *sbjson.Snapshot) int {
	c := pipeline.NewCompiler(s)
	c.UpsertBatch(s.Flows)
	for _, ps := range s.LocalPortSecurity() {
		flows, err := pipeline.PortSecurityFlows(ps)
		if err != nil {
			b.Fatal(err)
		}
		c.UpsertBatch(flows)
	}
	if errs := c.Errors(); len(errs) > 0 {
		b.Fatalf("%d lflows unsupported: %v", len(errs), errs[0])
	}
	var buf []pipeline.FieldMatch
	rules, fields := 0, 0
	for _, k := range c.Flush() {
		v, ok := c.View(k)
		if !ok {
			continue
		}
		for i := 0; i < v.Len(); i++ {
			var r pipeline.Rule
			r, buf = v.Rule(i, buf)
			fields += len(r.Match)
		}
		rules += v.Len()
	}
	if fields == 0 {
		b.Fatal("no field matches read")
	}
	return rules
}

// Command bench measures ovnbpf beside the systems a user would otherwise
// pick, in one run on one machine, and prints one table (and JSON):
//
//   - veth: two namespaces joined by a bare veth pair, no overlay (the floor);
//   - ovs: the reference chassis, a real ovn-controller with ovs-vswitchd's
//     userspace datapath, in an ovnbpf-lab lab;
//   - ovnbpf: ovnbpfd chassis in the same kind of lab.
//
// Every system gets the same MTU and offload settings. Each figure is the
// median of several repetitions, with min and max; ratios against the
// references stand beside the ovnbpf figures. A system that cannot run yet is
// listed with the reason, never left out silently.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "rr-server":
			exitOn(rrServer(os.Args[2]))
			return
		case "rr-client":
			var n, m int
			fmt.Sscan(os.Args[3], &n)
			fmt.Sscan(os.Args[4], &m)
			exitOn(rrClient(os.Args[2], n, m))
			return
		}
	}
	quick := flag.Bool("quick", false, "a smoke run: one short repetition of each measurement")
	out := flag.String("out", "results", "folder for the table and the JSON figures")
	scale10 := flag.Bool("scale10", false, "also measure the control plane at ten times the reference scale (1000x100: long)")
	only := flag.String("only", "", "comma-separated parts to run, of "+strings.Join(parts, ", ")+" (default: all)")
	systems := flag.String("systems", "ovs,ovnbpf", "chassis kinds the control-plane rows measure (ovnbpf alone: to compare two ovnbpfd builds)")
	flag.StringVar(&ovnbpfd, "ovnbpfd", "", "the ovnbpfd binary to measure (default: the one beside this program, else $PATH)")
	flag.Parse()
	cfg := fullConfig
	if *quick {
		cfg = quickConfig
	}
	if *quick {
		cfg.Scales = [][2]int{{10, 10}}
	} else if *scale10 {
		cfg.Scales = append(cfg.Scales, [2]int{1000, 100})
	}
	if *only != "" {
		cfg.Parts = map[string]bool{}
		for _, p := range strings.Split(*only, ",") {
			if !slices.Contains(parts, p) {
				exitOn(fmt.Errorf("-only: unknown part %q: use %s", p, strings.Join(parts, ", ")))
			}
			cfg.Parts[p] = true
		}
	}
	for _, sys := range strings.Split(*systems, ",") {
		if sys != "ovs" && sys != "ovnbpf" {
			exitOn(fmt.Errorf("-systems: unknown chassis kind %q: use ovs, ovnbpf or both", sys))
		}
		cfg.Systems = append(cfg.Systems, sys)
	}
	if ovnbpfd != "" {
		abs, err := filepath.Abs(ovnbpfd)
		if err == nil {
			_, err = os.Stat(abs)
		}
		exitOn(errorIf(err, "-ovnbpfd"))
		ovnbpfd = abs
	}
	go tearDownOnSignal()
	exitOn(run(cfg, *out))
}

// torn holds the teardowns of what is up now (labs, namespaces), so that an
// interrupted run (SIGINT, SIGTERM) leaves nothing behind, as a finished one.
var torn struct {
	sync.Mutex
	next      int
	teardowns map[int]func()
}

// whileUp registers teardown until the returned func is called.
func whileUp(teardown func()) (done func()) {
	torn.Lock()
	defer torn.Unlock()
	if torn.teardowns == nil {
		torn.teardowns = map[int]func(){}
	}
	id := torn.next
	torn.next++
	torn.teardowns[id] = teardown
	return func() {
		torn.Lock()
		defer torn.Unlock()
		delete(torn.teardowns, id)
	}
}

func tearDownOnSignal() {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	s := <-sig
	fmt.Fprintf(os.Stderr, "bench: %v: tearing down what is up\n", s)
	torn.Lock()
	for _, td := range torn.teardowns {
		td()
	}
	os.Exit(130)
}

// errorIf names what failed, or is nil.
func errorIf(err error, what string) error {
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

func exitOn(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// config sets how long and how often each measurement runs.
type config struct {
	Reps      int
	Seconds   int // iperf3 duration
	Pings     int
	RR, First int // request/response round trips; fresh connections
	// Scales are the (switches, ports) sizes of the control-plane rows.
	Scales [][2]int
	// Parts to run (nil: all of them).
	Parts map[string]bool
	// Systems are the chassis kinds of the control-plane rows.
	Systems []string
}

// parts of the run that -only can pick.
var parts = []string{"data", "packet", "control"}

func (c config) runs(part string) bool { return c.Parts == nil || c.Parts[part] }

var (
	fullConfig  = config{Reps: 3, Seconds: 5, Pings: 200, RR: 2000, First: 200, Scales: [][2]int{{100, 100}}}
	quickConfig = config{Reps: 1, Seconds: 1, Pings: 30, RR: 200, First: 20}
)

// Sample is one measured figure over the repetitions.
type Sample struct {
	Median, Min, Max float64
}

// Row is one line of the table: a metric of one scenario on one system.
type Row struct {
	Metric string  `json:"metric"` // e.g. "TCP 1 stream"
	Scope  string  `json:"scope"`  // "same chassis", "cross chassis", "per packet", ...
	Unit   string  `json:"unit"`
	System string  `json:"system"` // veth, ovs, ovnbpf
	Sample *Sample `json:"sample,omitempty"`
	Note   string  `json:"note,omitempty"` // why there is no figure
	Higher bool    `json:"higher_is_better"`
}

// Report is the JSON the run writes.
type Report struct {
	Date    string `json:"date"`
	Kernel  string `json:"kernel"`
	CPUs    int    `json:"cpus"`
	Quick   bool   `json:"quick"`
	Rows    []Row  `json:"rows"`
	Elapsed string `json:"elapsed"`
}

func run(cfg config, out string) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("the data-plane benchmarks build network namespaces: run as root (make bench)")
	}
	for _, p := range []string{"iperf3", "ping", "ip"} {
		if _, err := exec.LookPath(p); err != nil {
			return fmt.Errorf("%s is not installed: run 'make deps'", p)
		}
	}
	start := time.Now()
	kernel, _ := exec.Command("uname", "-r").Output()
	rep := Report{Date: start.UTC().Format(time.RFC3339), Kernel: strings.TrimSpace(string(kernel)),
		CPUs: runtime.NumCPU(), Quick: cfg.Reps == quickConfig.Reps}

	if cfg.runs("data") {
		for _, s := range []system{newVethSystem(), newLabSystem("ovs"), newLabSystem("ovnbpf")} {
			fmt.Fprintf(os.Stderr, "bench: %s ...\n", s.name())
			rep.Rows = append(rep.Rows, measure(cfg, s)...)
		}
	}
	if cfg.runs("packet") {
		fmt.Fprintln(os.Stderr, "bench: per packet (BPF_PROG_TEST_RUN) ...")
		rep.Rows = append(rep.Rows, perPacket(cfg)...)
	}
	for _, sc := range cfg.Scales {
		if !cfg.runs("control") {
			break
		}
		fmt.Fprintf(os.Stderr, "bench: control plane %dx%d ...\n", sc[0], sc[1])
		rep.Rows = append(rep.Rows, controlPlane(cfg, sc[0], sc[1])...)
	}
	rep.Elapsed = time.Since(start).Round(time.Second).String()
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	var table strings.Builder
	printTable(&table, rep)
	fmt.Print(table.String())
	b, _ := json.MarshalIndent(rep, "", "  ")
	stamp := start.UTC().Format("20060102-150405")
	if err := os.WriteFile(filepath.Join(out, "bench-"+stamp+".json"), b, 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(out, "bench-"+stamp+".txt"), []byte(table.String()), 0o644)
}

// system is one thing measured: it gives pairs of endpoints (namespaces).
type system interface {
	name() string
	// setup prepares the endpoints; a system that cannot run says why.
	setup() error
	// pair returns client and server namespaces and the server's address for a
	// scope ("same chassis", "cross chassis"), or why that scope does not apply.
	pair(scope string) (client, server, addr string, err error)
	teardown()
}

var scopes = []string{"same chassis", "cross chassis"}

func measure(cfg config, s system) []Row {
	var rows []Row
	metrics := []struct {
		metric, unit string
		higher       bool
	}{
		{"TCP 1 stream", "Gbit/s", true},
		{"TCP 4 streams", "Gbit/s", true},
		{"UDP 64B rate", "kpps", true},
		{"UDP 64B loss", "%", false},
		{"ping RTT p50", "us", false},
		{"ping RTT p99", "us", false},
		{"TCP RR p50", "us", false},
		{"TCP RR p99", "us", false},
		{"first packet (new flow) p50", "us", false},
		{"CPU per Gbit/s", "core-s/Gbit", false},
	}
	fail := func(scope, why string) {
		for _, m := range metrics {
			rows = append(rows, Row{Metric: m.metric, Scope: scope, Unit: m.unit, System: s.name(), Note: why, Higher: m.higher})
		}
	}
	defer whileUp(s.teardown)()
	if err := s.setup(); err != nil {
		for _, sc := range scopes {
			fail(sc, err.Error())
		}
		s.teardown()
		return rows
	}
	defer s.teardown()
	for _, scope := range scopes {
		client, server, addr, err := s.pair(scope)
		if err != nil {
			fail(scope, err.Error())
			continue
		}
		vals := map[string][]float64{}
		errs := map[string]string{}
		for r := 0; r < cfg.Reps; r++ {
			for _, m := range probeAll(cfg, client, server, addr) {
				if m.err != nil {
					errs[m.metric] = m.err.Error()
					continue
				}
				vals[m.metric] = append(vals[m.metric], m.value)
			}
		}
		for _, m := range metrics {
			row := Row{Metric: m.metric, Scope: scope, Unit: m.unit, System: s.name(), Higher: m.higher}
			if v := vals[m.metric]; len(v) > 0 {
				row.Sample = summarise(v)
			} else {
				row.Note = errs[m.metric]
				if row.Note == "" {
					row.Note = "not measured"
				}
			}
			rows = append(rows, row)
		}
	}
	return rows
}

func summarise(v []float64) *Sample {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return &Sample{Median: s[len(s)/2], Min: s[0], Max: s[len(s)-1]}
}

// printTable writes one line per (scope, metric) with every system side by
// side and the ovnbpf ratios against each reference.
func printTable(w *strings.Builder, rep Report) {
	fmt.Fprintf(w, "ovnbpf benchmark  %s  kernel %s  %d CPUs%s  (%s)\n", rep.Date, rep.Kernel, rep.CPUs,
		map[bool]string{true: "  QUICK", false: ""}[rep.Quick], rep.Elapsed)
	fmt.Fprintln(w, "each cell: median [min..max] over the repetitions; ratios are ovnbpf / reference")
	type key struct{ scope, metric string }
	var order []key
	cells := map[key]map[string]Row{}
	for _, r := range rep.Rows {
		k := key{r.Scope, r.Metric}
		if cells[k] == nil {
			cells[k] = map[string]Row{}
			order = append(order, k)
		}
		cells[k][r.System] = r
	}
	fmt.Fprintf(w, "%-14s %-40s %-12s %-24s %-24s %-24s %-24s %-8s %-8s %-8s\n", "scope", "metric", "unit", "ovnbpf", "ovs", "veth", "floor", "/ovs", "/veth", "/floor")
	var notes []string
	for _, k := range order {
		row := cells[k]
		cell := func(sys string) string {
			r, ok := row[sys]
			if !ok || r.Sample == nil {
				if ok && r.Note != "" {
					n := fmt.Sprintf("[%d]", noteIndex(&notes, sys+": "+r.Note))
					return "n/a " + n
				}
				return "-"
			}
			return fmt.Sprintf("%s [%s..%s]", num(r.Sample.Median), num(r.Sample.Min), num(r.Sample.Max))
		}
		ratio := func(ref string) string {
			a, b := row["ovnbpf"], row[ref]
			if a.Sample == nil || b.Sample == nil || b.Sample.Median == 0 {
				return "-"
			}
			return fmt.Sprintf("%.2fx", a.Sample.Median/b.Sample.Median)
		}
		unit := ""
		for _, r := range row {
			unit = r.Unit
		}
		fmt.Fprintf(w, "%-14s %-40s %-12s %-24s %-24s %-24s %-24s %-8s %-8s %-8s\n", k.scope, k.metric, unit,
			cell("ovnbpf"), cell("ovs"), cell("veth"), cell("floor"), ratio("ovs"), ratio("veth"), ratio("floor"))
	}
	for i, n := range notes {
		fmt.Fprintf(w, "[%d] %s\n", i+1, n)
	}
}

func noteIndex(notes *[]string, n string) int {
	for i, x := range *notes {
		if x == n {
			return i + 1
		}
	}
	*notes = append(*notes, n)
	return len(*notes)
}

// num prints a figure with three significant digits and never an exponent.
func num(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.3g", v)
}

package main

import (
	"bufio"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
)

// perPacket runs the datapath's Go benchmarks (loader/bench_test.go): every
// case through the real loaded programs with BPF_PROG_TEST_RUN and repeat,
// beside a minimal program that only redirects (the floor), in one process.
func perPacket(cfg config) []Row {
	const scope = "per packet"
	names := map[string]string{
		"Floor":          "redirect only (the floor)",
		"L2Local":        "L2 local",
		"L2RemoteGeneve": "L2 remote, Geneve encap",
		"Routed":         "routed switch-router-switch",
		"Flood8":         "flood to 8 ports",
		// 64 flows in turn: each packet a flow-cache hit, a memo miss.
		"L2LocalInterleaved":        "L2 local, 64 flows interleaved",
		"L2RemoteGeneveInterleaved": "L2 remote, Geneve, 64 flows interleaved",
		"L2LocalPipeline":           "new flow, L2 (full pipeline)",
		"RoutedPipeline":            "new flow, routed (full pipeline)",
	}
	count := max(cfg.Reps, 1)
	out, err := exec.Command("go", "test", "./loader", "-run", "^$", "-bench", "BenchmarkDatapath",
		"-benchtime=20000x", "-count="+strconv.Itoa(count)).CombinedOutput()
	if err != nil {
		return []Row{{Metric: "datapath benchmarks", Scope: scope, Unit: "ns", System: "ovnbpf",
			Note: fmt.Sprintf("go test ./loader -bench: %v: %s", err, lastLine(string(out)))}}
	}
	vals := parseBench(string(out))
	var rows []Row
	floor := vals["Floor"]
	for _, k := range []string{"L2Local", "L2RemoteGeneve", "Routed", "L2LocalInterleaved", "L2RemoteGeneveInterleaved",
		"Flood8", "L2LocalPipeline", "RoutedPipeline"} {
		v := vals[k]
		if len(v) == 0 {
			continue
		}
		// The floor is the reference of every case: it runs in the same process.
		rows = append(rows, Row{Metric: names[k], Scope: scope, Unit: "ns/pkt", System: "ovnbpf", Sample: summarise(v)},
			Row{Metric: names[k], Scope: scope, Unit: "ns/pkt", System: "floor", Sample: summarise(floor)})
	}
	return rows
}

var benchLine = regexp.MustCompile(`^BenchmarkDatapath/(\w+)-\d+\s+\d+\s+[0-9.]+ ns/op(.*)$`)

// parseBench collects the ns/pkt figure of each case, one per -count run.
func parseBench(out string) map[string][]float64 {
	vals := map[string][]float64{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		m := benchLine.FindStringSubmatch(strings.TrimSpace(sc.Text()))
		if m == nil {
			continue
		}
		f := strings.Fields(m[2])
		for i := 1; i < len(f); i++ {
			if f[i] == "ns/pkt" {
				if v, err := strconv.ParseFloat(f[i-1], 64); err == nil {
					vals[m[1]] = append(vals[m[1]], v)
				}
			}
		}
	}
	return vals
}

func lastLine(s string) string {
	l := strings.Split(strings.TrimSpace(s), "\n")
	return l[len(l)-1]
}

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
// case through the real loaded programs with BPF_PROG_TEST_RUN, beside a
// floor run in turn with it in one process: a minimal program that only
// redirects, or for the flood one that only sends the same 8 copies.
func perPacket(cfg config) []Row {
	const scope = "per packet"
	cases := []struct{ key, name string }{
		{"L2Local", "L2 local"},
		{"L2RemoteGeneve", "L2 remote, Geneve encap"},
		{"Routed", "routed switch-router-switch"},
		// 64 flows in turn: each packet a flow-cache hit, a memo miss.
		{"L2LocalInterleaved", "L2 local, 64 flows interleaved"},
		{"L2RemoteGeneveInterleaved", "L2 remote, Geneve, 64 flows interleaved"},
		// test_run's skbs carry no checksum state: the outer UDP checksum
		// is summed in BPF, where a NIC would have checked it
		{"GeneveDecap", "Geneve decap, outer csum summed"},
		{"GeneveDecap1400", "Geneve decap, outer csum summed, 1400 B"},
		{"GeneveDecapNoCsum", "Geneve decap, no outer csum"},
		// its floor sends the same 8 copies (7 clones and a redirect)
		{"Flood8", "flood to 8 ports"},
		{"L2LocalPipeline", "new flow, L2 (full pipeline)"},
		{"RoutedPipeline", "new flow, routed (full pipeline)"},
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
	for _, c := range cases {
		v, floor := vals[c.key]["ns/pkt"], vals[c.key]["floor-ns/pkt"]
		if len(v) == 0 || len(floor) == 0 {
			rows = append(rows, Row{Metric: c.name, Scope: scope, Unit: "ns/pkt", System: "ovnbpf",
				Note: "no figure from go test ./loader -bench BenchmarkDatapath/" + c.key})
			continue
		}
		rows = append(rows, Row{Metric: c.name, Scope: scope, Unit: "ns/pkt", System: "ovnbpf", Sample: summarise(v)},
			Row{Metric: c.name, Scope: scope, Unit: "ns/pkt", System: "floor", Sample: summarise(floor)})
	}
	return rows
}

var benchLine = regexp.MustCompile(`^BenchmarkDatapath/(\w+)-\d+\s+\d+\s+[0-9.]+ ns/op(.*)$`)

// parseBench collects each case's reported metrics (ns/pkt, floor-ns/pkt),
// one value per -count run.
func parseBench(out string) map[string]map[string][]float64 {
	vals := map[string]map[string][]float64{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		m := benchLine.FindStringSubmatch(strings.TrimSpace(sc.Text()))
		if m == nil {
			continue
		}
		if vals[m[1]] == nil {
			vals[m[1]] = map[string][]float64{}
		}
		f := strings.Fields(m[2])
		for i := 1; i < len(f); i += 2 {
			if v, err := strconv.ParseFloat(f[i-1], 64); err == nil {
				vals[m[1]][f[i]] = append(vals[m[1]][f[i]], v)
			}
		}
	}
	return vals
}

func lastLine(s string) string {
	l := strings.Split(strings.TrimSpace(s), "\n")
	return l[len(l)-1]
}

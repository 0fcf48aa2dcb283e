package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/ovnbpf/ovnbpf/internal/daemon"
)

type probe struct {
	metric string
	value  float64
	err    error
}

// probeAll runs every data-plane measurement once from client to server.
func probeAll(cfg config, client, server, addr string) []probe {
	var ps []probe
	add := func(metric string, v float64, err error) { ps = append(ps, probe{metric, v, err}) }

	gbps, cpu, err := iperfTCP(cfg, client, server, addr, 1)
	add("TCP 1 stream", gbps, err)
	add("CPU per Gbit/s", cpu, err)
	gbps, _, err = iperfTCP(cfg, client, server, addr, 4)
	add("TCP 4 streams", gbps, err)
	kpps, loss, err := iperfUDP(cfg, client, server, addr)
	add("UDP 64B rate", kpps, err)
	add("UDP 64B loss", loss, err)
	rtts, err := pingRTTs(cfg, client, addr)
	add("ping RTT p50", percentile(rtts, 50), err)
	add("ping RTT p99", percentile(rtts, 99), err)
	rr, err := requestResponse(cfg, client, server, addr)
	if err == nil && (len(rr.RR) == 0 || len(rr.First) == 0) {
		err = errors.New("rr-client measured nothing")
	}
	add("TCP RR p50", percentile(rr.RR, 50), err)
	add("TCP RR p99", percentile(rr.RR, 99), err)
	add("first packet (new flow) p50", percentile(rr.First, 50), err)
	return ps
}

func inNS(ns string, argv ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", ns}, argv...)...)
}

// startServer runs argv in ns in the background until stop is called.
func startServer(ns string, argv ...string) (stop func(), err error) {
	cmd := inNS(ns, argv...)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", argv[0], err)
	}
	return func() {
		_ = daemon.Kill(cmd.Process.Pid, 2*time.Second)
		_ = cmd.Wait()
	}, nil
}

// iperfClient runs an iperf3 client, retrying while the server starts
// (iperf3 -J may exit 0 with the failure in its JSON "error" field).
func iperfClient(client string, args ...string) ([]byte, error) {
	var r struct {
		Error string `json:"error"`
	}
	var err error
	for try := 0; try < 30; try++ {
		var out []byte
		out, err = inNS(client, append([]string{"iperf3", "-J"}, args...)...).Output()
		r.Error = ""
		if jerr := json.Unmarshal(out, &r); jerr != nil && err == nil {
			err = fmt.Errorf("iperf3 output: %w", jerr)
		}
		if err == nil && r.Error == "" {
			return out, nil
		}
		if !strings.Contains(r.Error, "unable to connect") {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	return nil, fmt.Errorf("iperf3 %s: %v %s", strings.Join(args, " "), err, r.Error)
}

// iperfTCP measures TCP throughput with n streams, and the machine's CPU
// time per Gbit transferred (all cores, /proc/stat) while it ran.
func iperfTCP(cfg config, client, server, addr string, n int) (gbps, coreSecPerGbit float64, err error) {
	stop, err := startServer(server, "iperf3", "-s", "-1", "-B", addr)
	if err != nil {
		return 0, 0, err
	}
	defer stop()
	busy0, total0 := cpuTicks()
	out, err := iperfClient(client, "-c", addr, "-t", strconv.Itoa(cfg.Seconds), "-P", strconv.Itoa(n))
	busy1, total1 := cpuTicks()
	if err != nil {
		return 0, 0, err
	}
	var r struct {
		Error string `json:"error"`
		End   struct {
			SumReceived struct {
				BitsPerSecond float64 `json:"bits_per_second"`
				Seconds       float64 `json:"seconds"`
			} `json:"sum_received"`
		} `json:"end"`
	}
	if err := json.Unmarshal(out, &r); err != nil {
		return 0, 0, fmt.Errorf("iperf3 output: %w", err)
	}
	gbps = r.End.SumReceived.BitsPerSecond / 1e9
	if gbps == 0 {
		return 0, 0, fmt.Errorf("iperf3 received nothing: %s", r.Error)
	}
	// ticks are 1/100 s per core; total ticks span all cores.
	if total1 > total0 {
		elapsed := float64(total1-total0) / float64(100*numCPU())
		coreSec := float64(busy1-busy0) / 100
		coreSecPerGbit = coreSec / (gbps * elapsed)
	}
	return gbps, coreSecPerGbit, nil
}

// iperfUDP sends 64-byte UDP payloads as fast as the sender can and reports
// the received rate and the loss.
func iperfUDP(cfg config, client, server, addr string) (kpps, lossPct float64, err error) {
	stop, err := startServer(server, "iperf3", "-s", "-1", "-B", addr)
	if err != nil {
		return 0, 0, err
	}
	defer stop()
	out, err := iperfClient(client, "-c", addr, "-u", "-b", "0", "-l", "64", "-t", strconv.Itoa(cfg.Seconds))
	if err != nil {
		return 0, 0, err
	}
	var r struct {
		End struct {
			Sum struct {
				Packets     float64 `json:"packets"`
				LostPercent float64 `json:"lost_percent"`
				Seconds     float64 `json:"seconds"`
			} `json:"sum"`
		} `json:"end"`
	}
	if err := json.Unmarshal(out, &r); err != nil {
		return 0, 0, fmt.Errorf("iperf3 output: %w", err)
	}
	s := r.End.Sum
	if s.Seconds == 0 {
		return 0, 0, errors.New("iperf3 UDP measured nothing")
	}
	return s.Packets * (1 - s.LostPercent/100) / s.Seconds / 1000, s.LostPercent, nil
}

var timeRE = regexp.MustCompile(`time=([0-9.]+) ms`)

// pingRTTs returns round-trip times in microseconds; the first echo (which
// may wait for ARP or a controller) is left out.
func pingRTTs(cfg config, client, addr string) ([]float64, error) {
	out, err := inNS(client, "ping", "-n", "-c", strconv.Itoa(cfg.Pings+1), "-i", "0.01", "-W", "1", addr).Output()
	var rtts []float64
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		if m := timeRE.FindStringSubmatch(sc.Text()); m != nil {
			ms, _ := strconv.ParseFloat(m[1], 64)
			rtts = append(rtts, ms*1000)
		}
	}
	if len(rtts) < 2 {
		return nil, fmt.Errorf("ping %s: %v", addr, err)
	}
	return rtts[1:], nil
}

func requestResponse(cfg config, client, server, addr string) (rrResult, error) {
	var res rrResult
	self, err := os.Executable()
	if err != nil {
		return res, err
	}
	ep := addr + ":7001"
	stop, err := startServer(server, self, "rr-server", ep)
	if err != nil {
		return res, err
	}
	defer stop()
	var out []byte
	for try := 0; try < 30; try++ {
		out, err = inNS(client, self, "rr-client", ep, strconv.Itoa(cfg.RR), strconv.Itoa(cfg.First)).Output()
		if err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		return res, fmt.Errorf("rr-client: %w", err)
	}
	return res, json.Unmarshal(out, &res)
}

// cpuTicks reads the busy and total ticks of all CPUs from /proc/stat.
func cpuTicks() (busy, total uint64) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	for i, s := range f[1:] {
		v, _ := strconv.ParseUint(s, 10, 64)
		total += v
		if i != 3 && i != 4 { // idle, iowait
			busy += v
		}
	}
	return busy, total
}

func numCPU() int {
	b, _ := os.ReadFile("/proc/stat")
	n := 0
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "cpu") && !strings.HasPrefix(l, "cpu ") {
			n++
		}
	}
	if n == 0 {
		n = 1
	}
	return n
}

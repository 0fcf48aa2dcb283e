package lab

import (
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ovnbpf/ovnbpf/internal/daemon"
)

// The demo: two logical switches joined by a logical router, two VMs per
// switch spread over the first two chassis. Addresses are TEST-NET-2 and -3.
var demoSwitches = []struct {
	name, router, routerMAC, routerIP, prefix string
}{
	{"sw1", "lr0-sw1", "02:00:5e:00:01:01", "198.51.100.1", "198.51.100."},
	{"sw2", "lr0-sw2", "02:00:5e:00:02:01", "203.0.113.1", "203.0.113."},
}

// DemoVMs are the demo's VMs, placed on chassis[0] and chassis[1].
func (l *Lab) demoVMs() []*VM {
	var vms []*VM
	n := 0
	for si, sw := range demoSwitches {
		for i := 0; i < 2; i++ {
			n++
			ch := l.Chassis[i%len(l.Chassis)].Name
			vms = append(vms, &VM{
				Name:    fmt.Sprintf("vm%d", n),
				Chassis: ch,
				LPort:   fmt.Sprintf("%s-vm%d", sw.name, n),
				MAC:     fmt.Sprintf("02:00:00:00:%02x:%02x", si+1, i+10),
				Addr:    fmt.Sprintf("%s%d/24", sw.prefix, i+10),
				GW:      sw.routerIP,
			})
		}
	}
	return vms
}

// BuildDemo creates the demo topology through ovn-nbctl and its VMs, and
// waits until every port is up (the chassis programmed them).
func (l *Lab) BuildDemo() error {
	c := l.Central()
	args := []string{"--", "lr-add", "lr0"}
	for _, sw := range demoSwitches {
		args = append(args,
			"--", "ls-add", sw.name,
			"--", "lrp-add", "lr0", sw.router, sw.routerMAC, sw.routerIP+"/24",
			"--", "lsp-add", sw.name, sw.name+"-lr0",
			"--", "lsp-set-type", sw.name+"-lr0", "router",
			"--", "lsp-set-addresses", sw.name+"-lr0", "router",
			"--", "lsp-set-options", sw.name+"-lr0", "router-port="+sw.router)
	}
	vms := l.demoVMs()
	for _, v := range vms {
		sw, _, _ := strings.Cut(v.LPort, "-")
		ip, _, _ := strings.Cut(v.Addr, "/")
		args = append(args,
			"--", "lsp-add", sw, v.LPort,
			"--", "lsp-set-addresses", v.LPort, v.MAC+" "+ip,
			"--", "lsp-set-port-security", v.LPort, v.MAC+" "+ip)
	}
	if _, err := c.NBCtl(args...); err != nil {
		return fmt.Errorf("building demo topology: %w", err)
	}
	for _, v := range vms {
		if err := l.AddVM(v); err != nil {
			return fmt.Errorf("demo VM %s: %w", v.Name, err)
		}
	}
	return l.WaitPortsUp(60 * time.Second)
}

// WaitPortsUp waits until every VM's logical port is up and the chassis have
// caught up with the Northbound DB (ovn-nbctl --wait=hv).
func (l *Lab) WaitPortsUp(timeout time.Duration) error {
	c := l.Central()
	for _, v := range l.VMs {
		if _, err := c.NBCtl(fmt.Sprintf("--timeout=%d", int(timeout.Seconds())),
			"wait-until", "Logical_Switch_Port", v.LPort, "up=true"); err != nil {
			return fmt.Errorf("port %s of VM %s did not come up on %s: %w", v.LPort, v.Name, v.Chassis, err)
		}
	}
	if _, err := c.NBCtl(fmt.Sprintf("--timeout=%d", int(timeout.Seconds())), "--wait=hv", "sync"); err != nil {
		return fmt.Errorf("chassis did not catch up (ovn-nbctl --wait=hv sync): %w", err)
	}
	return nil
}

// PingResult is one cell of the ping matrix.
type PingResult struct {
	From, To string
	OK       bool
	RTT      time.Duration // average round trip
	Err      string
}

var rttRE = regexp.MustCompile(`= [0-9.]+/([0-9.]+)/`)

// Ping pings from one VM to another's address: a few warm-up tries (the first
// packets of a path may wait for ARP), then three counted echoes.
func (l *Lab) Ping(from, to *VM) PingResult {
	r := PingResult{From: from.Name, To: to.Name}
	ip, _, _ := strings.Cut(to.Addr, "/")
	ping := func(count string) (string, error) {
		cmd, err := l.ExecCommand(from.Name, []string{"ping", "-n", "-q", "-c", count, "-i", "0.2", "-W", "1", ip})
		if err != nil {
			return "", err
		}
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	var out string
	var err error
	for try := 0; try < 5; try++ {
		if out, err = ping("1"); err == nil {
			break
		}
	}
	if err != nil {
		r.Err = "no reply: " + lastLine(out)
		return r
	}
	if out, err = ping("3"); err != nil {
		r.Err = "lost: " + lastLine(out)
		return r
	}
	if m := rttRE.FindStringSubmatch(out); m != nil {
		ms, _ := strconv.ParseFloat(m[1], 64)
		r.RTT = time.Duration(ms * float64(time.Millisecond))
	}
	r.OK = true
	return r
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// PingMatrix pings every ordered pair of VMs, two pairs at a time.
func (l *Lab) PingMatrix() []PingResult {
	var pairs [][2]*VM
	for _, a := range l.VMs {
		for _, b := range l.VMs {
			if a != b {
				pairs = append(pairs, [2]*VM{a, b})
			}
		}
	}
	results := make([]PingResult, len(pairs))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 2)
	for i, p := range pairs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			results[i] = l.Ping(p[0], p[1])
		}()
	}
	wg.Wait()
	return results
}

// PrintMatrix writes the matrix as a table: rows are sources, columns
// destinations, cells the average RTT or FAIL. It returns the failures.
func (l *Lab) PrintMatrix(w io.Writer, results []PingResult) int {
	cell := map[[2]string]PingResult{}
	for _, r := range results {
		cell[[2]string{r.From, r.To}] = r
	}
	where := func(v *VM) string { return fmt.Sprintf("%s@%s", v.Name, v.Chassis) }
	fmt.Fprintf(w, "%-12s", "from \\ to")
	for _, v := range l.VMs {
		fmt.Fprintf(w, " %12s", where(v))
	}
	fmt.Fprintln(w)
	fails := 0
	for _, a := range l.VMs {
		fmt.Fprintf(w, "%-12s", where(a))
		for _, b := range l.VMs {
			r, ok := cell[[2]string{a.Name, b.Name}]
			switch {
			case a == b || !ok:
				fmt.Fprintf(w, " %12s", "-")
			case r.OK:
				fmt.Fprintf(w, " %12s", fmt.Sprintf("ok %.2fms", float64(r.RTT.Microseconds())/1000))
			default:
				fails++
				fmt.Fprintf(w, " %12s", "FAIL")
			}
		}
		fmt.Fprintln(w)
	}
	for _, r := range results {
		if !r.OK {
			fmt.Fprintf(w, "FAIL %s -> %s: %s\n", r.From, r.To, r.Err)
		}
	}
	fmt.Fprintf(w, "%d passed, %d failed\n", len(results)-fails, fails)
	return fails
}

// Status writes what the lab runs: chassis with their daemons, VMs with
// their ports' state in OVN.
func (l *Lab) Status(w io.Writer) error {
	c := l.Central()
	state := func(ok bool) string {
		if ok {
			return "running"
		}
		return "DOWN"
	}
	fmt.Fprintf(w, "lab %s (%s)\n", l.Name, l.Dir)
	fmt.Fprintf(w, "central: %s  NB %s  SB %s\n", state(c.Running()), c.NBRemote(), c.SBRemote())
	for _, ch := range l.Chassis {
		var ds []string
		for _, pf := range l.chassisPidfiles(ch) {
			name := strings.TrimSuffix(pfBase(pf), ".pid")
			ds = append(ds, fmt.Sprintf("%s=%s", name, state(pidAlive(pf))))
		}
		fmt.Fprintf(w, "chassis %-8s %-7s %-14s %s\n", ch.Name, ch.Flavour, ch.UnderlayIP, strings.Join(ds, " "))
	}
	for _, v := range l.VMs {
		up := "?"
		if out, err := c.NBCtl("--if-exists", "get", "Logical_Switch_Port", v.LPort, "up"); err == nil {
			up = strings.TrimSpace(out)
		}
		fmt.Fprintf(w, "vm %-8s on %-8s lport %-12s %s %s up=%s\n", v.Name, v.Chassis, v.LPort, v.MAC, v.Addr, up)
	}
	return nil
}

func pfBase(p string) string {
	i := strings.LastIndexByte(p, '/')
	return p[i+1:]
}

func pidAlive(pidfile string) bool {
	pid, err := daemon.Pid(pidfile)
	return err == nil && daemon.Alive(pid)
}

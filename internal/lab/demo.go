package lab

import (
	"fmt"
	"io"
	"regexp"
	"strings"
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

// BuildDemo creates the demo scenario (DemoScenario, shared with the Vagrant
// lab) through ovn-nbctl, plugs its VMs, and waits until every port is up.
func (l *Lab) BuildDemo() error {
	var names []string
	for _, c := range l.Chassis {
		names = append(names, c.Name)
	}
	sc, err := DemoScenario(names)
	if err != nil {
		return err
	}
	if _, err := l.Central().NBCtl(sc.NBArgs()...); err != nil {
		return fmt.Errorf("building demo topology: %w", err)
	}
	for _, v := range sc.VMs {
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

// exec runs argv in a VM's namespace, for PingAll.
func (l *Lab) exec(v *VM, argv []string) ([]byte, error) {
	cmd, err := l.ExecCommand(v.Name, argv)
	if err != nil {
		return nil, err
	}
	return cmd.CombinedOutput()
}

// Ping pings from one VM to another's address: a few warm-up tries (the first
// packets of a path may wait for ARP), then three counted echoes.
func (l *Lab) Ping(from, to *VM) PingResult { return pingWith(from, to, l.exec) }

// PingMatrix pings every ordered pair of VMs, two pairs at a time.
func (l *Lab) PingMatrix() []PingResult { return PingAll(l.VMs, l.VMs, l.exec) }

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
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

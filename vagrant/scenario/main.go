// Command ovnbpf-scenario builds and checks the lab scenario (internal/lab's
// DemoScenario, the one `ovnbpf-lab up --demo` runs in namespaces) on the
// Vagrant lab, where the central and each chassis are VMs of their own.
// Every VM computes the same scenario from the same chassis list.
//
//	ovnbpf-scenario nb    --chassis hv1,hv2 [--nb-db DB]          (on the central)
//	ovnbpf-scenario plug  --chassis hv1,hv2 --on hv1 [--no-wait]  (on a chassis)
//	ovnbpf-scenario check --chassis hv1,hv2 --on hv1 --nb-db DB   (on a chassis)
//	ovnbpf-scenario unplug --chassis hv1,hv2 --on hv1             (on a chassis)
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/ovnbpf/ovnbpf/internal/lab"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "ovnbpf-scenario:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 {
		return errors.New("say nb, plug, check or unplug")
	}
	cmd := args[0]
	fs := flag.NewFlagSet("ovnbpf-scenario "+cmd, flag.ContinueOnError)
	chassis := fs.String("chassis", "hv1,hv2", "every chassis of the lab, in order (the scenario places VMs on them)")
	on := fs.String("on", "", "this chassis")
	nbDB := fs.String("nb-db", "", "Northbound database (default: ovn-nbctl's)")
	noWait := fs.Bool("no-wait", false, "ovs-vsctl --no-wait: no ovs-vswitchd runs here (ovnbpf flavour)")
	timeout := fs.Duration("timeout", 2*time.Minute, "how long check waits for the ports to come up")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	var names []string
	for _, n := range strings.Split(*chassis, ",") {
		if n = strings.TrimSpace(n); n != "" {
			names = append(names, n)
		}
	}
	s, err := lab.DemoScenario(names)
	if err != nil {
		return err
	}
	nbctl := func(a ...string) error {
		argv := []string{}
		if *nbDB != "" {
			argv = append(argv, "--db="+*nbDB)
		}
		return runAll([]string{"ovn-nbctl"}, append(argv, a...))
	}
	switch cmd {
	case "nb":
		// Idempotent: a provisioning run again finds the scenario there.
		if err := nbctl("--if-exists", "lr-del", s.Router); err != nil {
			return err
		}
		for _, sw := range s.Switches {
			if err := nbctl("--if-exists", "ls-del", sw.Name); err != nil {
				return err
			}
		}
		return nbctl(s.NBArgs()...)
	case "plug", "unplug", "check":
		if *on == "" {
			return fmt.Errorf("%s: say which chassis this is (--on)", cmd)
		}
	default:
		return fmt.Errorf("unknown command %q: say nb, plug, check or unplug", cmd)
	}
	local := s.OnChassis(*on)
	vsctl := []string{"ovs-vsctl", "--timeout=30"}
	if *noWait {
		vsctl = append(vsctl, "--no-wait")
	}
	switch cmd {
	case "plug":
		for _, v := range local {
			unplug(v, vsctl)
			for _, c := range lab.PlugCommands(v, v.Name, "", vsctl) {
				if err := runAll(c); err != nil {
					return fmt.Errorf("VM %s: %w", v.Name, err)
				}
			}
			fmt.Printf("VM %s: namespace %s, %s %s on %s\n", v.Name, v.Name, v.MAC, v.Addr, v.LPort)
		}
		return nil
	case "unplug":
		for _, v := range local {
			unplug(v, vsctl)
		}
		return nil
	}
	// check: wait for every port of the scenario, then ping from here to all.
	for _, v := range s.VMs {
		if err := nbctl(fmt.Sprintf("--timeout=%d", int(timeout.Seconds())), "wait-until",
			"Logical_Switch_Port", v.LPort, "up=true"); err != nil {
			return fmt.Errorf("port %s of VM %s (on %s) is not up: %w", v.LPort, v.Name, v.Chassis, err)
		}
	}
	res := lab.PingAll(local, s.VMs, func(v *lab.VM, argv []string) ([]byte, error) {
		return exec.Command("ip", append([]string{"netns", "exec", v.Name}, argv...)...).CombinedOutput()
	})
	fails := 0
	for _, r := range res {
		to := find(s, r.To)
		if r.OK {
			fmt.Printf("%s@%s -> %s@%s: ok %.2fms\n", r.From, *on, r.To, to.Chassis, float64(r.RTT.Microseconds())/1000)
			continue
		}
		fails++
		fmt.Printf("%s@%s -> %s@%s: FAIL %s\n", r.From, *on, r.To, to.Chassis, r.Err)
	}
	fmt.Printf("%s: %d passed, %d failed\n", *on, len(res)-fails, fails)
	if fails > 0 {
		return fmt.Errorf("%d pings failed", fails)
	}
	return nil
}

func find(s *lab.Scenario, name string) *lab.VM {
	for _, v := range s.VMs {
		if v.Name == name {
			return v
		}
	}
	return &lab.VM{}
}

// unplug removes a VM's port and namespace; absent ones are fine.
func unplug(v *lab.VM, vsctl []string) {
	_ = runAll(append(append([]string{}, vsctl...), "--if-exists", "del-port", "br-int", v.Name))
	_ = exec.Command("ip", "netns", "del", v.Name).Run()
}

func runAll(parts ...[]string) error {
	var argv []string
	for _, p := range parts {
		argv = append(argv, p...)
	}
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

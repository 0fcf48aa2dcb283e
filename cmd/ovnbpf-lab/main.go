// Command ovnbpf-lab runs OVN labs in network namespaces on one machine: a
// real OVN central, chassis of flavour ovnbpf or ovs (the reference), and VMs.
//
//	ovnbpf-lab up     [--name NAME] [--chassis hv1=ovnbpf,hv2=ovs,...] [--demo]
//	ovnbpf-lab env    [--name NAME]
//	ovnbpf-lab vm add [--name NAME] CHASSIS VM --lport LPORT --mac MAC --ip ADDR/PLEN [--gw IP] [--mtu N]
//	ovnbpf-lab vm del [--name NAME] VM
//	ovnbpf-lab exec   [--name NAME] NODE -- CMD [ARGS...]
//	ovnbpf-lab status [--name NAME]
//	ovnbpf-lab down   [--name NAME]
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/ovnbpf/ovnbpf/internal/lab"
)

const usage = `usage:
  ovnbpf-lab up     [--name NAME] [--chassis hv1=ovnbpf,hv2=ovs,...] [--demo]
  ovnbpf-lab env    [--name NAME]
  ovnbpf-lab vm add [--name NAME] CHASSIS VM --lport LPORT --mac MAC --ip ADDR/PLEN [--gw IP] [--mtu N]
                    [--ip6 ADDR/PLEN] [--gw6 IP]
  ovnbpf-lab vm del [--name NAME] VM
  ovnbpf-lab exec   [--name NAME] NODE -- CMD [ARGS...]    (NODE: a VM, a chassis, or 'underlay')
  ovnbpf-lab status [--name NAME]
  ovnbpf-lab down   [--name NAME]
`

// defaultChassis runs ovnbpf; hv1=ovs,hv2=ovs gives the OVS reference.
const defaultChassis = "hv1=ovnbpf,hv2=ovnbpf"

func main() {
	if err := run(os.Args[1:]); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			os.Exit(ee.ExitCode())
		}
		fmt.Fprintln(os.Stderr, "ovnbpf-lab:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, usage)
		return errors.New("no command given")
	}
	cmd, args := args[0], args[1:]
	if cmd == "vm" {
		if len(args) == 0 {
			return errors.New("vm: say 'add' or 'del'")
		}
		cmd, args = "vm "+args[0], args[1:]
	}
	fs := flag.NewFlagSet("ovnbpf-lab "+cmd, flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(os.Stderr, usage) }
	name := fs.String("name", lab.DefaultName, "lab name")
	switch cmd {
	case "up":
		chassis := fs.String("chassis", defaultChassis, "chassis as NAME=FLAVOUR,... (flavours: ovnbpf, ovs)")
		demo := fs.Bool("demo", false, "build the demo topology and print a ping matrix")
		if _, err := parse(fs, args, 0); err != nil {
			return err
		}
		return up(*name, *chassis, *demo)
	case "env":
		if _, err := parse(fs, args, 0); err != nil {
			return err
		}
		l, err := lab.Load(*name)
		if err != nil {
			return err
		}
		for _, e := range l.Env() {
			fmt.Printf("export %s\n", e)
		}
		return nil
	case "vm add":
		v := &lab.VM{}
		fs.StringVar(&v.LPort, "lport", "", "logical switch port of the VM")
		fs.StringVar(&v.MAC, "mac", "", "MAC address")
		fs.StringVar(&v.Addr, "ip", "", "address/prefix length")
		fs.StringVar(&v.GW, "gw", "", "default gateway")
		fs.StringVar(&v.Addr6, "ip6", "", "IPv6 address/prefix length (optional)")
		fs.StringVar(&v.GW6, "gw6", "", "IPv6 default gateway (optional)")
		fs.IntVar(&v.MTU, "mtu", lab.DefaultMTU, "MTU of the VM's interface")
		pos, err := parse(fs, args, 2)
		if err != nil {
			return err
		}
		v.Chassis, v.Name = pos[0], pos[1]
		l, err := lab.Load(*name)
		if err != nil {
			return err
		}
		return l.AddVM(v)
	case "vm del":
		pos, err := parse(fs, args, 1)
		if err != nil {
			return err
		}
		l, err := lab.Load(*name)
		if err != nil {
			return err
		}
		return l.DelVM(pos[0])
	case "exec":
		return execNode(fs, name, args)
	case "status":
		if _, err := parse(fs, args, 0); err != nil {
			return err
		}
		l, err := lab.Load(*name)
		if err != nil {
			return err
		}
		return l.Status(os.Stdout)
	case "down":
		if _, err := parse(fs, args, 0); err != nil {
			return err
		}
		return lab.Down(*name)
	}
	fmt.Fprint(os.Stderr, usage)
	return fmt.Errorf("unknown command %q", cmd)
}

// parse parses flags that may stand before or after the positional
// arguments, and returns exactly want positionals.
func parse(fs *flag.FlagSet, args []string, want int) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(pos) != want {
		return nil, fmt.Errorf("%s: want %d argument(s), got %d %q", fs.Name(), want, len(pos), pos)
	}
	return pos, nil
}

func execNode(fs *flag.FlagSet, name *string, args []string) error {
	var cmdline []string
	for i, a := range args {
		if a == "--" {
			args, cmdline = args[:i], args[i+1:]
			break
		}
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 || len(cmdline) == 0 {
		return errors.New("exec: write 'ovnbpf-lab exec [--name NAME] NODE -- CMD [ARGS...]'")
	}
	l, err := lab.Load(*name)
	if err != nil {
		return err
	}
	c, err := l.ExecCommand(fs.Arg(0), cmdline)
	if err != nil {
		return err
	}
	c.Stdin, c.Stdout, c.Stderr = os.Stdin, os.Stdout, os.Stderr
	return c.Run()
}

func up(name, chassisSpec string, demo bool) error {
	chassis, err := lab.ParseChassis(chassisSpec)
	if err != nil {
		return err
	}
	if demo && len(chassis) < 2 {
		return errors.New("--demo spreads VMs over two chassis: give at least two in --chassis")
	}
	l, err := lab.Up(lab.Options{Name: name, Chassis: chassis, OVNBPFD: findOVNBPFD()})
	if err != nil {
		return err
	}
	fmt.Printf("lab %s is up: %d chassis, central at %s\n", l.Name, len(l.Chassis), l.Dir)
	if !demo {
		fmt.Printf("next: eval $(ovnbpf-lab env --name %s); ovn-nbctl ls-add sw0; ovnbpf-lab vm add ...\n", name)
		return nil
	}
	fmt.Println("building the demo: lr0 joining sw1 (198.51.100.0/24) and sw2 (203.0.113.0/24), 4 VMs ...")
	if err := l.BuildDemo(); err != nil {
		return err
	}
	fmt.Println("all ports up; pinging every pair:")
	if fails := l.PrintMatrix(os.Stdout, l.PingMatrix()); fails > 0 {
		return fmt.Errorf("%d pings failed (the lab stays up for a look: ovnbpf-lab status; ovnbpf-lab down to remove it)", fails)
	}
	fmt.Printf("the lab stays up: 'ovnbpf-lab exec --name %s vm1 -- ping 203.0.113.11', then 'ovnbpf-lab down --name %s'\n", name, name)
	return nil
}

// findOVNBPFD returns the ovnbpfd binary beside this one, or on PATH, or "".
func findOVNBPFD() string {
	if self, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(self), "ovnbpfd")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("ovnbpfd"); err == nil {
		return p
	}
	return ""
}

package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/ovnbpf/ovnbpf/controller"
	"github.com/ovnbpf/ovnbpf/maps"
)

// The subcommands that talk to a running ovnbpfd over its control socket.
func init() {
	commands["status"] = statusCmd
	commands["ports"] = portsCmd
	commands["recompute"] = recomputeCmd
	commands["connection-status"] = connStatusCmd
	commands["port"] = portCmd
	commands["dump-maps"] = dumpMapsCmd
}

const defaultCtlSocket = "/var/run/ovnbpf/ovnbpfd.ctl"

// ctlFlags parses the options every daemon subcommand shares.
func ctlFlags(name string, args []string) (socket string, asJSON bool, rest []string, err error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	def := defaultCtlSocket
	if env := os.Getenv("OVNBPFD_CTL"); env != "" {
		def = env
	}
	s := fs.String("ctl-socket", def, "ovnbpfd's control socket (or $OVNBPFD_CTL)")
	j := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		return "", false, nil, err
	}
	return *s, *j, fs.Args(), nil
}

func printJSON(v any) error {
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func statusCmd(args []string) error {
	sock, asJSON, _, err := ctlFlags("status", args)
	if err != nil {
		return err
	}
	var s controller.Status
	if err := controller.CtlCall(sock, controller.CtlRequest{Cmd: "status"}, &s); err != nil {
		return err
	}
	if asJSON {
		return printJSON(s)
	}
	sb := "not connected"
	if s.SBConnected {
		sb = "connected to " + s.SBEndpoint
	}
	fmt.Printf("chassis:         %s (%s) uuid %s\n", s.Chassis, s.Hostname, s.ChassisUUID)
	fmt.Printf("southbound:      %s\n", sb)
	fmt.Printf("local ovsdb:     %s (connected: %v)\n", s.OVSDB, s.OVSDBConnected)
	fmt.Printf("datapath:        %s (skipped lflows: %d)\n", s.Datapath, s.Skipped)
	for _, p := range s.Problems {
		fmt.Printf("  skipped:       %s\n", p)
	}
	if len(s.Problems) < s.Skipped {
		fmt.Printf("  skipped:       ... and %d more\n", s.Skipped-len(s.Problems))
	}
	fmt.Printf("nb_cfg:          sb %d, applied %d, acknowledged %d\n", s.NbCfg, s.AppliedNbCfg, s.AckedNbCfg)
	fmt.Printf("local datapaths: %d, ports: %d, claims %d, releases %d\n", s.LocalDatapaths, len(s.Ports), s.Claims, s.Releases)
	if s.ConfigError != "" {
		fmt.Printf("config error:    %s\n", s.ConfigError)
	}
	if s.LastError != "" {
		fmt.Printf("last error:      %s\n", s.LastError)
	}
	for _, w := range s.Warnings {
		fmt.Printf("warning:         %s\n", w)
	}
	fmt.Println("settings:")
	keys := make([]string, 0, len(s.Config))
	for k := range s.Config {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	tw := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', 0)
	for _, k := range keys {
		fmt.Fprintf(tw, "  %s\t%s\t(%s)\n", k, s.Config[k].Value, s.Config[k].Source)
	}
	return tw.Flush()
}

func portsCmd(args []string) error {
	sock, asJSON, _, err := ctlFlags("ports", args)
	if err != nil {
		return err
	}
	var ps []controller.PortStatus
	if err := controller.CtlCall(sock, controller.CtlRequest{Cmd: "ports"}, &ps); err != nil {
		return err
	}
	if asJSON {
		return printJSON(ps)
	}
	tw := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PORT\tTYPE\tROLE\tCHASSIS\tIFNAME\tIFINDEX\tUP\tWHY")
	for _, p := range ps {
		typ := p.Type
		if typ == "" {
			typ = "vif"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%v\t%s\n", p.LogicalPort, typ, p.Role, p.Chassis, p.Ifname, p.Ifindex, p.Up, p.Reason)
	}
	return tw.Flush()
}

// dumpMapsCmd prints the canonical dump of the datapath's maps (maps.Dump):
// two chassis states compare with diff.
func dumpMapsCmd(args []string) error {
	sock, asJSON, _, err := ctlFlags("dump-maps", args)
	if err != nil {
		return err
	}
	var d maps.Dump
	if err := controller.CtlCall(sock, controller.CtlRequest{Cmd: "dump-maps"}, &d); err != nil {
		return err
	}
	if asJSON {
		return printJSON(d)
	}
	_, err = os.Stdout.WriteString(d.Text())
	return err
}

// recomputeCmd: ovnbpfctl recompute [--resync]. --resync compares with
// what the maps really hold instead of what the daemon wrote.
func recomputeCmd(args []string) error {
	var req controller.CtlRequest
	req.Cmd = "recompute"
	var rest []string
	for _, a := range args {
		if a == "--resync" || a == "-resync" {
			req.Args = []string{"resync"}
			continue
		}
		rest = append(rest, a)
	}
	sock, _, extra, err := ctlFlags("recompute", rest)
	if err != nil {
		return err
	}
	if len(extra) > 0 {
		return fmt.Errorf("usage: ovnbpfctl recompute [--resync] [--ctl-socket PATH]")
	}
	var msg string
	if err := controller.CtlCall(sock, req, &msg); err != nil {
		return err
	}
	fmt.Println(msg)
	return nil
}

func connStatusCmd(args []string) error {
	sock, asJSON, _, err := ctlFlags("connection-status", args)
	if err != nil {
		return err
	}
	var cs controller.ConnectionStatus
	if err := controller.CtlCall(sock, controller.CtlRequest{Cmd: "connection-status"}, &cs); err != nil {
		return err
	}
	if asJSON {
		return printJSON(cs)
	}
	// Like `ovn-appctl connection-status`: one word first, details after.
	fmt.Println(cs.Southbound)
	fmt.Printf("endpoint: %s\nremotes: %s\n", cs.Endpoint, strings.Join(cs.Remotes, ","))
	return nil
}

// portCmd: ovnbpfctl port bind IFNAME LPORT | port unbind IFNAME
func portCmd(args []string) error {
	usage := errors.New("usage: ovnbpfctl port bind IFNAME LOGICAL_PORT | port unbind IFNAME")
	if len(args) == 0 {
		return usage
	}
	sub := args[0]
	sock, _, rest, err := ctlFlags("port "+sub, args[1:])
	if err != nil {
		return err
	}
	var cmd string
	switch {
	case sub == "bind" && len(rest) == 2:
		cmd = "port-bind"
	case sub == "unbind" && len(rest) == 1:
		cmd = "port-unbind"
	default:
		return usage
	}
	var msg string
	if err := controller.CtlCall(sock, controller.CtlRequest{Cmd: cmd, Args: rest}, &msg); err != nil {
		return err
	}
	fmt.Println(msg)
	return nil
}

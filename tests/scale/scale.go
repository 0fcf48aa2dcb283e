// Package scale builds the reference scale topology on a real OVN central:
// N logical switches of M ports each, all attached to one logical router,
// and one port group holding every VM port with three ACLs. With N = M = 100
// ovn-northd 23.03 writes about 43k logical flows (the figure ovn-controller
// was measured against: REFERENCE.md).
package scale

import (
	"fmt"
	"strings"

	"github.com/ovnbpf/ovnbpf/internal/central"
)

// Build creates the topology in few ovn-nbctl invocations (each carries
// about batchPorts ports, commands joined with "--"), then waits for northd.
// Each invocation reads the whole Northbound database first, so at ten times
// the reference scale one call per switch would spend most of its time there.
// Ports join the port group in the call that creates them: a single pg-add
// naming 100,000 ports would not fit in one command line.
func Build(c *central.Central, switches, ports int) error {
	const batchPorts = 1000
	if _, err := c.NBCtl("lr-add", "lr0", "--", "pg-add", "pg0"); err != nil {
		return err
	}
	var args, pgAdd []string
	flush := func() error {
		if len(args) == 0 {
			return nil
		}
		args = append(append(args, "--", "add", "Port_Group", "pg0", "ports"), pgAdd...)
		_, err := c.NBCtl(args[1:]...) // args[0] is a leading "--"
		args, pgAdd = args[:0], pgAdd[:0]
		return err
	}
	for s := 0; s < switches; s++ {
		sw := fmt.Sprintf("sw%d", s)
		// Ports are created by reference (--id=@name create) and added to
		// their switch and the port group with one `add` each: lsp-add
		// looks its switch up by scanning, and each `add` rewrites the
		// whole set.
		var vms []string
		lsp := func(name string, fields ...string) string {
			id := "@" + strings.ReplaceAll(name, "-", "_")
			args = append(append(args, "--", "--id="+id, "create", "Logical_Switch_Port", "name="+name), fields...)
			return id
		}
		args = append(args, "--", "ls-add", sw,
			"--", "lrp-add", "lr0", "lr0-"+sw, fmt.Sprintf("00:00:00:01:%02x:%02x", s>>8, s&0xff), fmt.Sprintf("10.%d.%d.1/16", s/250, s%250))
		rp := lsp(sw+"-lr0", "type=router", "addresses=router", "options:router-port=lr0-"+sw)
		for p := 0; p < ports; p++ {
			vms = append(vms, lsp(fmt.Sprintf("%s-p%d", sw, p), fmt.Sprintf("addresses=%q", PortAddress(s, p))))
		}
		args = append(append(args, "--", "add", "Logical_Switch", sw, "ports", rp), vms...)
		pgAdd = append(pgAdd, vms...)
		if (s+1)*ports%batchPorts < ports || s == switches-1 {
			if err := flush(); err != nil {
				return fmt.Errorf("building switches up to %s: %w", sw, err)
			}
		}
	}
	for _, acl := range [][]string{
		{"pg0", "from-lport", "1002", "inport == @pg0 && ip4", "allow-related"},
		{"pg0", "to-lport", "1002", "outport == @pg0 && ip4 && tcp.dst == 22", "allow-related"},
		{"pg0", "to-lport", "1001", "outport == @pg0 && ip4", "drop"},
	} {
		if _, err := c.NBCtl(append([]string{"acl-add"}, acl...)...); err != nil {
			return fmt.Errorf("acl: %w", err)
		}
	}
	if _, err := c.NBCtl("--wait=sb", "--timeout=1800", "sync"); err != nil {
		return fmt.Errorf("waiting for northd: %w", err)
	}
	return nil
}

// PortAddress is the "MAC IP" of VM port p of switch s.
func PortAddress(s, p int) string {
	return fmt.Sprintf("50:54:00:%02x:%02x:%02x 10.%d.%d.%d", s>>8, s&0xff, p, s/250, s%250, p+10)
}

// AddPort adds one more VM port to switch s (in the port group), the
// incremental step the benchmark measures.
func AddPort(c *central.Central, s, p int) error {
	sw := fmt.Sprintf("sw%d", s)
	name := fmt.Sprintf("%s-p%d", sw, p)
	if _, err := c.NBCtl("lsp-add", sw, name, "--", "lsp-set-addresses", name, PortAddress(s, p)); err != nil {
		return err
	}
	uuid, err := c.NBCtl("--bare", "--columns=_uuid", "find", "Logical_Switch_Port", "name="+name)
	if err != nil {
		return err
	}
	_, err = c.NBCtl("--wait=sb", "add", "Port_Group", "pg0", "ports", strings.TrimSpace(uuid))
	return err
}

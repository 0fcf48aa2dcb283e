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

// Build creates the topology with few ovn-nbctl invocations (one per switch,
// commands joined with "--"), then waits for northd.
func Build(c *central.Central, switches, ports int) error {
	if _, err := c.NBCtl("lr-add", "lr0"); err != nil {
		return err
	}
	var pgPorts []string
	for s := 0; s < switches; s++ {
		sw := fmt.Sprintf("sw%d", s)
		args := []string{"ls-add", sw,
			"--", "lrp-add", "lr0", "lr0-" + sw, fmt.Sprintf("00:00:00:01:%02x:%02x", s>>8, s&0xff), fmt.Sprintf("10.%d.%d.1/16", s/250, s%250),
			"--", "lsp-add", sw, sw + "-lr0", "--", "lsp-set-type", sw + "-lr0", "router",
			"--", "lsp-set-addresses", sw + "-lr0", "router", "--", "lsp-set-options", sw + "-lr0", "router-port=lr0-" + sw}
		for p := 0; p < ports; p++ {
			name := fmt.Sprintf("%s-p%d", sw, p)
			args = append(args, "--", "lsp-add", sw, name, "--", "lsp-set-addresses", name, PortAddress(s, p))
			pgPorts = append(pgPorts, name)
		}
		if _, err := c.NBCtl(args...); err != nil {
			return fmt.Errorf("building %s: %w", sw, err)
		}
	}
	if _, err := c.NBCtl(append([]string{"pg-add", "pg0"}, pgPorts...)...); err != nil {
		return fmt.Errorf("port group: %w", err)
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
	if _, err := c.NBCtl("--wait=sb", "--timeout=600", "sync"); err != nil {
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

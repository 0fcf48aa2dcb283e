// Package corpus builds known topologies on a real OVN central (ovn-northd
// 23.03 from the distribution) and captures the Southbound tables the
// compiler reads, as `ovn-sbctl --format=json list` prints them. The
// captured snapshots are committed under testdata/ so that pure tests (and
// fuzz seeds) use real northd output without OVN.
package corpus

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/ovnbpf/ovnbpf/internal/central"
	"github.com/ovnbpf/ovnbpf/pipeline/sbjson"
)

// Chassis is the chassis every topology registers and compiles for.
const Chassis = "ch1"

// Topology is a named list of ovn-nbctl (and ovn-sbctl) commands.
type Topology struct {
	Name string
	// NB commands, each run as one `ovn-nbctl --wait=sb` call. One command
	// line may hold several commands joined with "--".
	NB [][]string
	// SB commands run after NB (chassis registration, port binding).
	SB [][]string
	// Setup runs after NB, for steps that need a command's output.
	Setup func(c *central.Central) error
}

// Build runs t's commands against c.
func Build(c *central.Central, t Topology) error {
	// northd picks a random service monitor MAC: fix it so renderings are
	// the same on every run.
	if _, err := c.NBCtl("set", "NB_Global", ".", "options:svc_monitor_mac=0a:00:00:00:00:fe"); err != nil {
		return fmt.Errorf("setting svc_monitor_mac: %w", err)
	}
	if _, err := c.SBCtl("chassis-add", Chassis, "geneve", "192.0.2.1"); err != nil {
		return fmt.Errorf("registering chassis: %w", err)
	}
	for _, cmd := range t.NB {
		if _, err := c.NBCtl(append([]string{"--wait=sb"}, cmd...)...); err != nil {
			return fmt.Errorf("topology %s: %w", t.Name, err)
		}
	}
	if t.Setup != nil {
		if err := t.Setup(c); err != nil {
			return fmt.Errorf("topology %s: %w", t.Name, err)
		}
	}
	for _, cmd := range t.SB {
		if _, err := c.SBCtl(cmd...); err != nil {
			return fmt.Errorf("topology %s: %w", t.Name, err)
		}
	}
	if _, err := c.NBCtl("--wait=sb", "sync"); err != nil {
		return fmt.Errorf("topology %s: syncing: %w", t.Name, err)
	}
	return nil
}

// Snapshot captures the Southbound tables sbjson reads, as one JSON object.
func Snapshot(c *central.Central) ([]byte, error) {
	out := map[string]json.RawMessage{}
	for _, t := range sbjson.Tables {
		s, err := c.SBCtl("--timeout=600", "--format=json", "list", t) // at 10x scale Logical_Flow takes minutes
		if err != nil {
			return nil, fmt.Errorf("listing %s: %w", t, err)
		}
		out[t] = json.RawMessage(strings.TrimSpace(s))
	}
	return json.MarshalIndent(out, "", " ")
}

// cmd splits a command line at spaces; '|' stands for a space inside one
// argument ("50:54:00:00:00:01|10.0.0.11" is one address).
func cmd(s string) []string {
	f := strings.Fields(s)
	for i := range f {
		f[i] = strings.ReplaceAll(f[i], "|", " ")
	}
	return f
}

// Topologies is the corpus.
var Topologies = []Topology{
	{
		Name: "switch-portsec",
		NB: [][]string{
			cmd("ls-add sw0"),
			cmd("lsp-add sw0 sw0-p1"),
			cmd("lsp-set-addresses sw0-p1 50:54:00:00:00:01|192.168.0.11"),
			cmd("lsp-set-port-security sw0-p1 50:54:00:00:00:01|192.168.0.11"),
			cmd("lsp-add sw0 sw0-p2"),
			cmd("lsp-set-addresses sw0-p2 50:54:00:00:00:02|192.168.0.12|fd00::12"),
			cmd("lsp-set-port-security sw0-p2 50:54:00:00:00:02|192.168.0.12|fd00::12"),
			cmd("lsp-add sw0 sw0-p3"),
			cmd("lsp-set-addresses sw0-p3 unknown"),
			cmd("lsp-add sw0 sw0-p4"),
			cmd("lsp-set-addresses sw0-p4 50:54:00:00:00:04|unknown"),
		},
		SB: [][]string{cmd("lsp-bind sw0-p1 " + Chassis)},
	},
	{
		Name: "router-two-switches",
		NB: [][]string{
			cmd("ls-add sw0"), cmd("ls-add sw1"), cmd("lr-add lr0"),
			cmd("lrp-add lr0 lr0-sw0 00:00:00:00:ff:01 10.0.0.1/24"),
			cmd("lrp-add lr0 lr0-sw1 00:00:00:00:ff:02 10.0.1.1/24"),
			cmd("lsp-add sw0 sw0-lr0 -- lsp-set-type sw0-lr0 router -- lsp-set-addresses sw0-lr0 router -- lsp-set-options sw0-lr0 router-port=lr0-sw0"),
			cmd("lsp-add sw1 sw1-lr0 -- lsp-set-type sw1-lr0 router -- lsp-set-addresses sw1-lr0 router -- lsp-set-options sw1-lr0 router-port=lr0-sw1"),
			cmd("lsp-add sw0 sw0-vm1 -- lsp-set-addresses sw0-vm1 50:54:00:00:01:01|10.0.0.11"),
			cmd("lsp-add sw1 sw1-vm1 -- lsp-set-addresses sw1-vm1 50:54:00:00:02:01|10.0.1.11"),
			cmd("lr-route-add lr0 192.0.2.0/24 10.0.1.254"),
		},
		SB: [][]string{cmd("lsp-bind sw0-vm1 " + Chassis)},
	},
	{
		Name: "acl-portgroups",
		NB: [][]string{
			cmd("ls-add sw0"),
			cmd("lsp-add sw0 p1 -- lsp-set-addresses p1 50:54:00:00:00:01|10.0.0.1"),
			cmd("lsp-add sw0 p2 -- lsp-set-addresses p2 50:54:00:00:00:02|10.0.0.2"),
			cmd("lsp-add sw0 p3 -- lsp-set-addresses p3 50:54:00:00:00:03|10.0.0.3"),
			cmd("pg-add pg_web p1 p2"),
			cmd("pg-add pg_db p3"),
			cmd("create Address_Set name=as_clients addresses=10.1.0.1,10.1.0.2,10.2.0.0/16"),
			cmd("create Address_Set name=as_admin addresses=192.0.2.10,192.0.2.11"),
			cmd("acl-add pg_web to-lport 1002 outport==@pg_web&&ip4.src==$as_clients&&tcp.dst=={80,443} allow-related"),
			cmd("acl-add pg_web to-lport 1001 outport==@pg_web&&ip4.src==$as_admin&&tcp.dst==22 allow"),
			cmd("acl-add pg_web to-lport 1000 outport==@pg_web&&ip4 drop"),
			cmd("acl-add pg_db from-lport 1000 inport==@pg_db&&ip4.dst==$pg_web_ip4&&tcp.dst==5432 allow-stateless"),
			cmd("acl-add pg_db to-lport 900 outport==@pg_db&&ip4.src==$pg_web_ip4&&tcp.dst>=5000&&tcp.dst<=5999 allow-related"),
			cmd("acl-add pg_db to-lport 800 outport==@pg_db&&udp reject"),
			cmd("--log --name=deny_db --severity=warning acl-add pg_db to-lport 700 outport==@pg_db drop"),
		},
	},
	{
		Name: "load-balancers",
		NB: [][]string{
			cmd("ls-add sw0"), cmd("ls-add sw1"), cmd("lr-add lr0"),
			cmd("lrp-add lr0 lr0-sw0 00:00:00:00:ff:01 10.0.0.1/24"),
			cmd("lrp-add lr0 lr0-sw1 00:00:00:00:ff:02 10.0.1.1/24"),
			cmd("lsp-add sw0 sw0-lr0 -- lsp-set-type sw0-lr0 router -- lsp-set-addresses sw0-lr0 router -- lsp-set-options sw0-lr0 router-port=lr0-sw0"),
			cmd("lsp-add sw1 sw1-lr0 -- lsp-set-type sw1-lr0 router -- lsp-set-addresses sw1-lr0 router -- lsp-set-options sw1-lr0 router-port=lr0-sw1"),
			cmd("lsp-add sw0 vm1 -- lsp-set-addresses vm1 50:54:00:00:01:01|10.0.0.11"),
			cmd("lsp-add sw0 vm2 -- lsp-set-addresses vm2 50:54:00:00:01:02|10.0.0.12"),
			cmd("lsp-add sw1 vm3 -- lsp-set-addresses vm3 50:54:00:00:02:01|10.0.1.11"),
			cmd("lb-add lb-sw 10.0.0.100:80 10.0.0.11:8080,10.0.0.12:8080 tcp"),
			cmd("lb-add lb-udp 10.0.0.101:53 10.0.0.11:53 udp"),
			cmd("lb-add lb-rtr 172.16.0.100:80 10.0.0.11:80,10.0.1.11:80"),
			cmd("lb-add lb-v6 [fd00::100]:80 [fd00::11]:80"),
			cmd("ls-lb-add sw0 lb-sw"), cmd("ls-lb-add sw0 lb-udp"), cmd("ls-lb-add sw0 lb-v6"),
			cmd("lr-lb-add lr0 lb-rtr"),
			cmd("set Load_Balancer lb-sw selection_fields=ip_src,ip_dst"),
		},
	},
	{
		Name: "nat-gateway-router",
		NB: [][]string{
			cmd("ls-add sw0"), cmd("ls-add ext"), cmd("lr-add gw0"),
			cmd("set Logical_Router gw0 options:chassis=" + Chassis),
			cmd("lrp-add gw0 gw0-sw0 00:00:00:00:ff:01 10.0.0.1/24"),
			cmd("lrp-add gw0 gw0-ext 00:00:00:00:ff:ee 203.0.113.1/24"),
			cmd("lsp-add sw0 sw0-gw0 -- lsp-set-type sw0-gw0 router -- lsp-set-addresses sw0-gw0 router -- lsp-set-options sw0-gw0 router-port=gw0-sw0"),
			cmd("lsp-add ext ext-gw0 -- lsp-set-type ext-gw0 router -- lsp-set-addresses ext-gw0 router -- lsp-set-options ext-gw0 router-port=gw0-ext"),
			cmd("lsp-add ext ext-ln -- lsp-set-type ext-ln localnet -- lsp-set-addresses ext-ln unknown -- lsp-set-options ext-ln network_name=physnet1"),
			cmd("lsp-add sw0 vm1 -- lsp-set-addresses vm1 50:54:00:00:01:01|10.0.0.11"),
			cmd("lsp-add sw0 vm2 -- lsp-set-addresses vm2 50:54:00:00:01:02|10.0.0.12"),
			cmd("lr-nat-add gw0 snat 203.0.113.1 10.0.0.0/24"),
			cmd("lr-nat-add gw0 dnat_and_snat 203.0.113.12 10.0.0.12"),
			cmd("lr-nat-add gw0 dnat 203.0.113.20 10.0.0.11"),
			cmd("lr-route-add gw0 0.0.0.0/0 203.0.113.254"),
		},
	},
	{
		Name: "distributed-gateway-port",
		NB: [][]string{
			cmd("ls-add sw0"), cmd("ls-add public"), cmd("lr-add lr0"),
			cmd("lrp-add lr0 lr0-sw0 00:00:00:00:ff:01 10.0.0.1/24"),
			cmd("lrp-add lr0 lr0-public 00:00:20:20:12:13 198.51.100.1/24"),
			cmd("lrp-set-gateway-chassis lr0-public " + Chassis + " 20"),
			cmd("lsp-add sw0 sw0-lr0 -- lsp-set-type sw0-lr0 router -- lsp-set-addresses sw0-lr0 router -- lsp-set-options sw0-lr0 router-port=lr0-sw0"),
			cmd("lsp-add public public-lr0 -- lsp-set-type public-lr0 router -- lsp-set-addresses public-lr0 router -- lsp-set-options public-lr0 router-port=lr0-public"),
			cmd("lsp-add public ln-public -- lsp-set-type ln-public localnet -- lsp-set-addresses ln-public unknown -- lsp-set-options ln-public network_name=physnet1"),
			cmd("lsp-add sw0 vm1 -- lsp-set-addresses vm1 50:54:00:00:01:01|10.0.0.11"),
			cmd("lr-nat-add lr0 snat 198.51.100.1 10.0.0.0/24"),
			cmd("lr-nat-add lr0 dnat_and_snat 198.51.100.11 10.0.0.11 vm1 30:54:00:00:00:03"),
			cmd("lr-route-add lr0 0.0.0.0/0 198.51.100.254"),
		},
		SB: [][]string{cmd("lsp-bind cr-lr0-public " + Chassis), cmd("lsp-bind vm1 " + Chassis)},
	},
	{
		Name: "dhcp",
		NB: [][]string{
			cmd("ls-add sw0"),
			cmd("lsp-add sw0 vm1 -- lsp-set-addresses vm1 50:54:00:00:01:01|10.0.0.11|fd00::11"),
			cmd("lsp-add sw0 vm2 -- lsp-set-addresses vm2 50:54:00:00:01:02|10.0.0.12"),
		},
		Setup: setupDHCP,
	},
	{
		Name: "localport-container",
		NB: [][]string{
			cmd("ls-add sw0"),
			cmd("lsp-add sw0 meta -- lsp-set-type meta localport -- lsp-set-addresses meta 50:54:00:00:00:fe|10.0.0.254"),
			cmd("lsp-add sw0 vm1 -- lsp-set-addresses vm1 50:54:00:00:01:01|10.0.0.11"),
			cmd("lsp-add sw0 c1 vm1 10 -- lsp-set-addresses c1 50:54:00:00:0c:01|10.0.0.21"),
			cmd("lsp-add sw0 c2 vm1 20 -- lsp-set-addresses c2 50:54:00:00:0c:02|10.0.0.22"),
			cmd("lsp-add sw0 ln0 -- lsp-set-type ln0 localnet -- lsp-set-addresses ln0 unknown -- lsp-set-options ln0 network_name=physnet1"),
		},
		SB: [][]string{cmd("lsp-bind vm1 " + Chassis)},
	},
	{
		Name: "ipv6-router-ra",
		NB: [][]string{
			cmd("ls-add sw0"), cmd("ls-add sw1"), cmd("lr-add lr0"),
			cmd("lrp-add lr0 lr0-sw0 00:00:00:00:ff:01 fd00:0:0:1::1/64"),
			cmd("lrp-add lr0 lr0-sw1 00:00:00:00:ff:02 fd00:0:0:2::1/64 10.0.2.1/24"),
			cmd("set Logical_Router_Port lr0-sw0 ipv6_ra_configs:address_mode=slaac ipv6_ra_configs:send_periodic=true ipv6_ra_configs:mtu=1400"),
			cmd("set Logical_Router_Port lr0-sw1 ipv6_ra_configs:address_mode=dhcpv6_stateful"),
			cmd("lsp-add sw0 sw0-lr0 -- lsp-set-type sw0-lr0 router -- lsp-set-addresses sw0-lr0 router -- lsp-set-options sw0-lr0 router-port=lr0-sw0"),
			cmd("lsp-add sw1 sw1-lr0 -- lsp-set-type sw1-lr0 router -- lsp-set-addresses sw1-lr0 router -- lsp-set-options sw1-lr0 router-port=lr0-sw1"),
			cmd("lsp-add sw0 vm1 -- lsp-set-addresses vm1 50:54:00:00:01:01|fd00:0:0:1::11"),
			cmd("lsp-add sw1 vm2 -- lsp-set-addresses vm2 50:54:00:00:02:01|fd00:0:0:2::11|10.0.2.11"),
			cmd("lr-route-add lr0 fd00:99::/64 fd00:0:0:2::99"),
		},
	},
	{
		// Templated load balancers (`--template lb-add`): the VIP, port and
		// backends are ^variables each chassis resolves from its own
		// Chassis_Template_Var row.
		Name: "templated-lb",
		NB: [][]string{
			cmd("ls-add sw0"), cmd("ls-add sw1"), cmd("lr-add lr0"),
			cmd("lrp-add lr0 lr0-sw0 00:00:00:00:ff:01 10.0.0.1/24"),
			cmd("lrp-add lr0 lr0-sw1 00:00:00:00:ff:02 10.0.1.1/24"),
			cmd("lsp-add sw0 sw0-lr0 -- lsp-set-type sw0-lr0 router -- lsp-set-addresses sw0-lr0 router -- lsp-set-options sw0-lr0 router-port=lr0-sw0"),
			cmd("lsp-add sw1 sw1-lr0 -- lsp-set-type sw1-lr0 router -- lsp-set-addresses sw1-lr0 router -- lsp-set-options sw1-lr0 router-port=lr0-sw1"),
			cmd("lsp-add sw0 vm1 -- lsp-set-addresses vm1 50:54:00:00:01:01|10.0.0.11"),
			cmd("lsp-add sw0 vm2 -- lsp-set-addresses vm2 50:54:00:00:01:02|10.0.0.12"),
			cmd("lsp-add sw1 vm3 -- lsp-set-addresses vm3 50:54:00:00:02:01|10.0.1.11"),
			cmd("--template lb-add lb0 ^VIP:^VPORT ^BACKENDS tcp"),
			cmd("ls-lb-add sw0 lb0"),
			cmd("--template lb-add lb-rtr ^RVIP:^VPORT ^RBACKENDS tcp"),
			cmd("lr-lb-add lr0 lb-rtr"),
			{"create", "Chassis_Template_Var", "chassis=" + Chassis, "variables:VIP=10.0.0.100", "variables:VPORT=80",
				`variables:BACKENDS="10.0.0.11:8080,10.0.0.12:8080"`, "variables:RVIP=172.16.0.100",
				`variables:RBACKENDS="10.0.0.11:80,10.0.1.11:80"`},
		},
		SB: [][]string{cmd("lsp-bind vm1 " + Chassis)},
	},
}

func setupDHCP(c *central.Central) error {
	v4, err := c.NBCtl("create", "DHCP_Options", "cidr=10.0.0.0/24",
		`options={"lease_time"="3600", "router"="10.0.0.1", "server_id"="10.0.0.1", "server_mac"="c0:ff:ee:00:00:01", "dns_server"="{8.8.8.8, 1.1.1.1}", "domain_name"="\"corpus.test\""}`)
	if err != nil {
		return err
	}
	v6, err := c.NBCtl("create", "DHCP_Options", `cidr="fd00::/64"`,
		`options={"server_id"="00:00:00:10:00:01", "dns_server"="fd00::53"}`)
	if err != nil {
		return err
	}
	for _, args := range [][]string{
		{"lsp-set-dhcpv4-options", "vm1", strings.TrimSpace(v4)},
		{"lsp-set-dhcpv4-options", "vm2", strings.TrimSpace(v4)},
		{"lsp-set-dhcpv6-options", "vm1", strings.TrimSpace(v6)},
	} {
		if _, err := c.NBCtl(append([]string{"--wait=sb"}, args...)...); err != nil {
			return err
		}
	}
	return nil
}

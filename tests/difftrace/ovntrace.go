// Package difftrace compares the ovnbpf datapath with OVN's own ovn-trace,
// packet by packet. This file is the oracle side: it runs the real ovn-trace
// (from Debian's ovn-common) and turns its --minimal output into a Verdict: the
// copies the packet becomes, each with the header values it leaves with.
//
// ovn-trace --minimal prints the actions that change the packet, in order,
// with nested blocks for actions that work on a copy (clone, and the
// controller actions such as arp {} or icmp4 {}):
//
//	ip.ttl--;
//	eth.src = 02:00:5e:00:02:01;
//	output("vm3");
//
// Nothing printed means the packet is dropped.
package difftrace

import (
	"errors"
	"fmt"
	"math/big"
	"net"
	"os/exec"
	"sort"
	"strings"
)

// Delivery is one copy of the packet leaving through a logical port.
type Delivery struct {
	Port string
	// Set holds the fields written before this output (canonical names as in
	// ovn-trace: eth.src, ip4.dst, ...), with canonical values (see Canon).
	Set map[string]string
	// DecTTL counts ip.ttl-- steps applied to this copy.
	DecTTL int
}

// Verdict is what happens to one packet.
type Verdict struct {
	Deliveries []Delivery
	// Later names the features of later issues the trace used (controller
	// actions, conntrack); a verdict that has any is reported as such, not
	// compared as if it were complete.
	Later []string
}

// Dropped reports whether no copy leaves.
func (v Verdict) Dropped() bool { return len(v.Deliveries) == 0 }

func (v Verdict) String() string {
	if v.Dropped() {
		s := "drop"
		if len(v.Later) > 0 {
			s += " (needs " + strings.Join(v.Later, ", ") + ")"
		}
		return s
	}
	var b strings.Builder
	for i, d := range v.Deliveries {
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "output(%s)", d.Port)
		keys := make([]string, 0, len(d.Set))
		for k := range d.Set {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(&b, " %s=%s", k, d.Set[k])
		}
		if d.DecTTL > 0 {
			fmt.Fprintf(&b, " ttl-%d", d.DecTTL)
		}
	}
	if len(v.Later) > 0 {
		b.WriteString(" (needs " + strings.Join(v.Later, ", ") + ")")
	}
	return b.String()
}

// Trace runs ovn-trace against the Southbound DB at sb for a packet given as
// an OVN microflow (e.g. `inport=="vm1" && eth.src==...`) entering datapath.
func Trace(sb, datapath, microflow string) (Verdict, error) {
	out, err := exec.Command("ovn-trace", "--db="+sb, "--minimal", datapath, microflow).CombinedOutput()
	if err != nil {
		return Verdict{}, fmt.Errorf("ovn-trace %s %q: %w: %s", datapath, microflow, err, strings.TrimSpace(string(out)))
	}
	return ParseMinimal(string(out))
}

// laterFeatures maps the block and action names of ovn-trace's output to the
// later issue's feature they need.
var laterFeatures = map[string]string{
	"arp": "controller", "nd_ns": "controller", "nd_na": "controller", "nd_na_router": "controller",
	"icmp4": "controller", "icmp6": "controller", "icmp4_error": "controller", "icmp6_error": "controller",
	"tcp_reset": "controller", "sctp_abort": "controller", "reject": "controller", "put_dhcp_opts": "controller",
	"put_dhcpv6_opts": "controller", "put_nd_ra_opts": "controller", "dns_lookup": "controller",
	"put_arp": "controller", "put_nd": "controller", "trigger_event": "controller", "igmp": "controller",
	"ct_next": "conntrack", "ct_commit": "conntrack", "ct_dnat": "conntrack", "ct_snat": "conntrack",
	"ct_lb": "conntrack", "ct_lb_mark": "conntrack", "ct_clear": "conntrack", "ct_dnat_in_czone": "conntrack",
	"ct_snat_in_czone": "conntrack", "ct_commit_nat": "conntrack",
}

// ParseMinimal parses the output of ovn-trace --minimal.
func ParseMinimal(out string) (Verdict, error) {
	var v Verdict
	later := map[string]bool{}
	type frame struct {
		set    map[string]string
		decTTL int
	}
	cur := frame{set: map[string]string{}}
	var stack []frame
	copyFrame := func(f frame) frame {
		n := frame{set: make(map[string]string, len(f.set)), decTTL: f.decTTL}
		for k, x := range f.set {
			n.set[k] = x
		}
		return n
	}
	for ln, line := range strings.Split(out, "\n") {
		s := strings.TrimSpace(line)
		switch {
		case s == "" || strings.HasPrefix(s, "#"):
			continue
		case s == "};" || s == "}":
			if len(stack) == 0 {
				return v, fmt.Errorf("ovn-trace output line %d: unbalanced }", ln+1)
			}
			cur, stack = stack[len(stack)-1], stack[:len(stack)-1]
			continue
		case strings.HasSuffix(s, "{"):
			// A block acts on a copy; what it changes is undone after it.
			name := strings.TrimSpace(strings.TrimSuffix(s, "{"))
			if i := strings.IndexByte(name, '('); i >= 0 {
				name = name[:i]
			}
			if f, ok := laterFeatures[name]; ok {
				later[f] = true
			}
			stack = append(stack, cur)
			cur = copyFrame(cur)
			continue
		}
		s = strings.TrimSuffix(s, ";")
		switch {
		case strings.HasPrefix(s, "output(") && strings.HasSuffix(s, ")"):
			port := strings.Trim(strings.TrimSuffix(strings.TrimPrefix(s, "output("), ")"), `"`)
			d := copyFrame(cur)
			v.Deliveries = append(v.Deliveries, Delivery{Port: port, Set: d.set, DecTTL: d.decTTL})
		case s == "ip.ttl--":
			// after ip.ttl = N the copy leaves with N-1
			if t, ok := cur.set["ip.ttl"]; ok {
				n, _ := new(big.Int).SetString(t, 10)
				cur.set["ip.ttl"] = n.Sub(n, big.NewInt(1)).String()
			} else {
				cur.decTTL++
			}
		case strings.Contains(s, " = "):
			field, val, _ := strings.Cut(s, " = ")
			c, err := Canon(strings.TrimSpace(val))
			if err != nil {
				return v, fmt.Errorf("ovn-trace output line %d %q: %w", ln+1, s, err)
			}
			field = strings.TrimSpace(field)
			cur.set[field] = CanonAs(field, c)
			if field == "ip.ttl" {
				cur.decTTL = 0 // earlier decrements are overwritten
			}
		default:
			name := s
			if i := strings.IndexAny(name, "( "); i >= 0 {
				name = name[:i]
			}
			if f, ok := laterFeatures[name]; ok {
				later[f] = true
				continue
			}
			return v, fmt.Errorf("ovn-trace output line %d: action %q is not understood by the harness", ln+1, s)
		}
	}
	if len(stack) != 0 {
		return v, errors.New("ovn-trace output: unclosed block")
	}
	for f := range later {
		v.Later = append(v.Later, f)
	}
	sort.Strings(v.Later)
	return v, nil
}

// Canon gives one spelling to a value however ovn-trace or the datapath side
// writes it: MACs as lower-case colon hex, IPv4 and IPv6 addresses in their
// standard text form, integers (decimal or 0x hex) in decimal. ovn-trace
// writes an IPv4 address sometimes dotted, sometimes as 0xcb007101.
func Canon(val string) (string, error) {
	val = strings.Trim(val, `"`)
	if hw, err := net.ParseMAC(val); err == nil && len(hw) == 6 {
		return hw.String(), nil
	}
	if ip := net.ParseIP(val); ip != nil {
		if v4 := ip.To4(); v4 != nil && !strings.Contains(val, ":") {
			return v4.String(), nil
		}
		return ip.String(), nil
	}
	n, ok := new(big.Int).SetString(val, 0)
	if !ok {
		return "", fmt.Errorf("value %q is neither a MAC, an IP address nor an integer", val)
	}
	return n.String(), nil
}

// CanonAs converts an integer value to the spelling of a field's kind, so
// that arp.spa = 0xcb007101 and arp.spa = 203.0.113.1 compare equal.
func CanonAs(field, val string) string {
	n, ok := new(big.Int).SetString(val, 10)
	if !ok {
		return val
	}
	switch fieldKind(field) {
	case "ip4":
		b := n.FillBytes(make([]byte, 4))
		return net.IP(b).String()
	case "mac":
		b := n.FillBytes(make([]byte, 6))
		return net.HardwareAddr(b).String()
	case "ip6":
		b := n.FillBytes(make([]byte, 16))
		return net.IP(b).String()
	}
	return val
}

func fieldKind(field string) string {
	switch field {
	case "ip4.src", "ip4.dst", "arp.spa", "arp.tpa":
		return "ip4"
	case "eth.src", "eth.dst", "arp.sha", "arp.tha", "nd.sll", "nd.tll":
		return "mac"
	case "ip6.src", "ip6.dst", "nd.target":
		return "ip6"
	}
	return ""
}

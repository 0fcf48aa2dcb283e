package controller

import (
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Configuration keys: the Open_vSwitch external_ids ovn-controller reads
// (ovn-controller(8)). The config file and the flags use the same names, so one
// vocabulary serves every source.
const (
	KeySystemID       = "system-id"
	KeyHostname       = "hostname"
	KeyRemote         = "ovn-remote"
	KeyProbeInterval  = "ovn-remote-probe-interval"
	KeyEncapType      = "ovn-encap-type"
	KeyEncapIP        = "ovn-encap-ip"
	KeyBridge         = "ovn-bridge"
	KeyBridgeMappings = "ovn-bridge-mappings"
	KeyMonitorAll     = "ovn-monitor-all"
	KeyCMSOptions     = "ovn-cms-options"
)

// ConfigKeys lists every key Resolve understands, in a stable order.
var ConfigKeys = []string{KeySystemID, KeyHostname, KeyRemote, KeyProbeInterval, KeyEncapType,
	KeyEncapIP, KeyBridge, KeyBridgeMappings, KeyMonitorAll, KeyCMSOptions}

// Source names where a setting came from; the daemon logs it per key.
type Source string

const (
	SourceDefault Source = "default"
	SourceFile    Source = "config-file"
	SourceOVSDB   Source = "ovsdb"
	SourceFlag    Source = "flag"
)

// Layer is one source of settings, keyed like the external_ids.
type Layer struct {
	Source Source
	Values map[string]string
}

// Config is a chassis' resolved configuration.
type Config struct {
	SystemID string
	Hostname string
	// Remotes are the Southbound remotes; a Raft cluster lists every member.
	Remotes []string
	// ProbeInterval is the Southbound inactivity probe; 0 disables it.
	ProbeInterval time.Duration
	EncapType     string
	EncapIPs      []string
	Bridge        string
	// BridgeMappings maps a physical network name to a bridge.
	BridgeMappings map[string]string
	MonitorAll     bool
	CMSOptions     string
	// Sources says where each key's value came from.
	Sources map[string]Source
	// Raw holds the chosen value of each key as written, for status output.
	Raw map[string]string
}

// DefaultProbeInterval is ovn-controller's default for ovn-remote-probe-interval.
const DefaultProbeInterval = 5 * time.Second

// Resolve merges layers (later layers win) over the defaults and validates the
// result. Every error names the key, the bad value and how to fix it.
func Resolve(layers ...Layer) (*Config, error) {
	host, _ := os.Hostname()
	defaults := Layer{Source: SourceDefault, Values: map[string]string{
		KeyHostname:      host,
		KeyProbeInterval: strconv.Itoa(int(DefaultProbeInterval / time.Millisecond)),
		KeyEncapType:     "geneve",
		KeyBridge:        "br-int",
		KeyMonitorAll:    "false",
	}}
	raw := map[string]string{}
	src := map[string]Source{}
	for _, l := range append([]Layer{defaults}, layers...) {
		for k, v := range l.Values {
			if !knownKey(k) {
				continue
			}
			raw[k] = strings.TrimSpace(v)
			src[k] = l.Source
		}
	}
	c := &Config{Sources: src, Raw: raw}
	cerr := &ConfigError{Keys: map[string]Source{}}
	var errs []string
	fail := func(key, format string, args ...any) {
		cerr.Keys[key] = src[key]
		errs = append(errs, fmt.Sprintf("%s=%q: %s", key, raw[key], fmt.Sprintf(format, args...)))
	}
	missing := func(key, msg string) {
		cerr.Keys[key] = ""
		errs = append(errs, msg)
	}

	c.SystemID = raw[KeySystemID]
	if c.SystemID == "" {
		missing(KeySystemID, "system-id is not set: set external_ids:system-id=<unique name> in the Open_vSwitch table, or --system-id")
	}
	c.Hostname = raw[KeyHostname]
	if c.Hostname == "" {
		missing(KeyHostname, "hostname is unknown: set external_ids:hostname or --hostname")
	}
	if raw[KeyRemote] == "" {
		missing(KeyRemote, "ovn-remote is not set: set external_ids:ovn-remote=tcp:IP:6642 (comma-separated for a cluster), or --ovn-remote")
	} else {
		rs, err := ParseRemotes(raw[KeyRemote])
		if err != nil {
			fail(KeyRemote, "%v; use tcp:IP:PORT, ssl:IP:PORT or unix:PATH, comma-separated", err)
		}
		c.Remotes = rs
	}
	if ms, err := strconv.Atoi(raw[KeyProbeInterval]); err != nil || ms < 0 {
		fail(KeyProbeInterval, "not a number of milliseconds; set external_ids:ovn-remote-probe-interval=5000 (0 disables probes)")
	} else {
		if ms > 0 && ms < 1000 {
			ms = 1000 // ovn-controller's floor: shorter probes only cause false disconnects
		}
		c.ProbeInterval = time.Duration(ms) * time.Millisecond
	}
	c.EncapType = raw[KeyEncapType]
	for _, t := range strings.Split(c.EncapType, ",") {
		if strings.TrimSpace(t) != "geneve" {
			fail(KeyEncapType, "only geneve is supported; set external_ids:ovn-encap-type=geneve")
			break
		}
	}
	c.EncapType = "geneve"
	if raw[KeyEncapIP] == "" {
		missing(KeyEncapIP, "ovn-encap-ip is not set: set external_ids:ovn-encap-ip=<this host's underlay IPv4 address>, or --ovn-encap-ip")
	} else {
		for _, s := range strings.Split(raw[KeyEncapIP], ",") {
			s = strings.TrimSpace(s)
			a, err := netip.ParseAddr(s)
			if err != nil || !a.Is4() || a.IsUnspecified() {
				fail(KeyEncapIP, "%q is not a usable IPv4 address (the Geneve datapath is IPv4 only); set external_ids:ovn-encap-ip=<underlay IPv4>", s)
				continue
			}
			c.EncapIPs = append(c.EncapIPs, a.String())
		}
	}
	c.Bridge = raw[KeyBridge]
	if c.Bridge == "" {
		c.Bridge = "br-int"
	}
	m, err := ParseBridgeMappings(raw[KeyBridgeMappings])
	if err != nil {
		fail(KeyBridgeMappings, "%v; use physnet1:br-eth1,physnet2:br-eth2", err)
	}
	c.BridgeMappings = m
	switch raw[KeyMonitorAll] {
	case "true":
		c.MonitorAll = true
	case "false", "":
	default:
		fail(KeyMonitorAll, "must be true or false")
	}
	c.CMSOptions = raw[KeyCMSOptions]
	if len(errs) > 0 {
		cerr.msg = "invalid configuration: " + strings.Join(errs, "; ")
		return nil, cerr
	}
	return c, nil
}

// ConfigError lists the bad or missing keys and where each bad value came
// from ("" for a missing key).
type ConfigError struct {
	Keys map[string]Source
	msg  string
}

func (e *ConfigError) Error() string { return e.msg }

// Fixable reports whether editing the local OVSDB's external_ids can fix
// it: no bad value came from a flag or the config file (those win or need
// a restart) and, for missing keys, a local OVSDB is there to set them in.
func (e *ConfigError) Fixable(haveOVSDB bool) bool {
	for _, src := range e.Keys {
		switch src {
		case SourceFlag, SourceFile:
			return false
		case "":
			if !haveOVSDB {
				return false
			}
		}
	}
	return haveOVSDB
}

func knownKey(k string) bool {
	for _, c := range ConfigKeys {
		if c == k {
			return true
		}
	}
	return false
}

// ParseRemotes splits an ovn-remote value into its remotes and checks each.
func ParseRemotes(s string) ([]string, error) {
	var out []string
	for _, r := range strings.Split(s, ",") {
		r = strings.TrimSpace(r)
		if r == "" {
			continue
		}
		proto, addr, ok := strings.Cut(r, ":")
		if !ok {
			return nil, fmt.Errorf("remote %q has no protocol", r)
		}
		switch proto {
		case "unix":
			if addr == "" {
				return nil, fmt.Errorf("remote %q has no path", r)
			}
		case "tcp", "ssl":
			if _, _, err := net.SplitHostPort(addr); err != nil {
				return nil, fmt.Errorf("remote %q: %v", r, err)
			}
		default:
			return nil, fmt.Errorf("remote %q: unknown protocol %q", r, proto)
		}
		out = append(out, r)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no remote given")
	}
	return out, nil
}

// ParseBridgeMappings parses "physnet:bridge,..." into network -> bridge.
func ParseBridgeMappings(s string) (map[string]string, error) {
	m := map[string]string{}
	for _, p := range strings.Split(s, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		net, br, ok := strings.Cut(p, ":")
		if !ok || net == "" || br == "" {
			return nil, fmt.Errorf("mapping %q is not network:bridge", p)
		}
		if _, dup := m[net]; dup {
			return nil, fmt.Errorf("network %q is mapped twice", net)
		}
		m[net] = br
	}
	return m, nil
}

// FormatBridgeMappings renders mappings in the external_ids form, sorted.
func FormatBridgeMappings(m map[string]string) string {
	var parts []string
	for k, v := range m {
		parts = append(parts, k+":"+v)
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

// LoadConfigFile reads a JSON object of the same keys as the external_ids,
// e.g. {"system-id": "hv1", "ovn-remote": "tcp:192.0.2.1:6642"}. A missing
// file is an empty layer, not an error, so the file stays optional.
func LoadConfigFile(path string) (Layer, error) {
	l := Layer{Source: SourceFile, Values: map[string]string{}}
	if path == "" {
		return l, nil
	}
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return l, nil
	}
	if err != nil {
		return l, fmt.Errorf("reading config file: %w", err)
	}
	var raw map[string]any
	if err := json.Unmarshal(b, &raw); err != nil {
		return l, fmt.Errorf("parsing config file %s: %w", path, err)
	}
	for k, v := range raw {
		if !knownKey(k) {
			return l, fmt.Errorf("config file %s: unknown key %q (known: %s)", path, k, strings.Join(ConfigKeys, ", "))
		}
		switch v := v.(type) {
		case string:
			l.Values[k] = v
		case bool:
			l.Values[k] = strconv.FormatBool(v)
		case float64:
			l.Values[k] = strconv.FormatFloat(v, 'f', -1, 64)
		default:
			return l, fmt.Errorf("config file %s: key %q must be a string, number or boolean", path, k)
		}
	}
	return l, nil
}

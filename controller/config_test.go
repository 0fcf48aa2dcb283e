package controller

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestResolveSourcesAndPrecedence(t *testing.T) {
	file := Layer{Source: SourceFile, Values: map[string]string{
		KeySystemID: "from-file", KeyRemote: "tcp:192.0.2.1:6642", KeyEncapIP: "192.0.2.10", KeyBridge: "br-file"}}
	ovs := Layer{Source: SourceOVSDB, Values: map[string]string{
		KeySystemID: "from-ovsdb", KeyRemote: "tcp:192.0.2.1:6642,tcp:192.0.2.2:6642,unix:/run/sb.sock",
		KeyBridgeMappings: "physnet1:br-eth1, physnet2:br-eth2", KeyProbeInterval: "30000", "unrelated": "x"}}
	flags := Layer{Source: SourceFlag, Values: map[string]string{KeySystemID: "from-flag"}}
	c, err := Resolve(file, ovs, flags)
	if err != nil {
		t.Fatal(err)
	}
	if c.SystemID != "from-flag" || c.Sources[KeySystemID] != SourceFlag {
		t.Errorf("flags must win: %s from %s", c.SystemID, c.Sources[KeySystemID])
	}
	if len(c.Remotes) != 3 || c.Sources[KeyRemote] != SourceOVSDB {
		t.Errorf("remotes = %v from %s", c.Remotes, c.Sources[KeyRemote])
	}
	if c.Bridge != "br-file" || c.Sources[KeyBridge] != SourceFile {
		t.Errorf("bridge = %s from %s", c.Bridge, c.Sources[KeyBridge])
	}
	if c.EncapType != "geneve" || c.Sources[KeyEncapType] != SourceDefault {
		t.Errorf("encap type = %s from %s", c.EncapType, c.Sources[KeyEncapType])
	}
	if c.ProbeInterval != 30*time.Second {
		t.Errorf("probe = %v", c.ProbeInterval)
	}
	if want := map[string]string{"physnet1": "br-eth1", "physnet2": "br-eth2"}; !reflect.DeepEqual(c.BridgeMappings, want) {
		t.Errorf("mappings = %v", c.BridgeMappings)
	}
	if _, ok := c.Raw["unrelated"]; ok {
		t.Errorf("unknown external_ids key kept")
	}
}

func TestResolveErrorsNameKeyAndFix(t *testing.T) {
	ok := map[string]string{KeySystemID: "hv1", KeyRemote: "tcp:192.0.2.1:6642", KeyEncapIP: "192.0.2.10"}
	tests := []struct {
		key, value string
		want       []string
	}{
		{KeyEncapType, "vxlan", []string{"ovn-encap-type=\"vxlan\"", "only geneve is supported", "external_ids:ovn-encap-type=geneve"}},
		{KeyEncapType, "geneve,vxlan", []string{"only geneve"}},
		{KeyEncapIP, "not-an-ip", []string{"ovn-encap-ip", "IPv4"}},
		{KeyEncapIP, "2001:db8::1", []string{"ovn-encap-ip", "IPv4"}},
		{KeyEncapIP, "", []string{"ovn-encap-ip is not set", "external_ids:ovn-encap-ip"}},
		{KeyRemote, "192.0.2.1:6642", []string{"ovn-remote", "tcp:IP:PORT"}},
		{KeyRemote, "tcp:192.0.2.1", []string{"ovn-remote"}},
		{KeyRemote, "", []string{"ovn-remote is not set"}},
		{KeySystemID, "", []string{"system-id is not set", "external_ids:system-id"}},
		{KeyProbeInterval, "soon", []string{"ovn-remote-probe-interval", "milliseconds"}},
		{KeyBridgeMappings, "physnet1", []string{"ovn-bridge-mappings", "physnet1:br-eth1"}},
		{KeyBridgeMappings, "a:b,a:c", []string{"mapped twice"}},
		{KeyMonitorAll, "yes", []string{"ovn-monitor-all", "true or false"}},
	}
	for _, tt := range tests {
		t.Run(tt.key+"="+tt.value, func(t *testing.T) {
			v := map[string]string{}
			for k, x := range ok {
				v[k] = x
			}
			v[tt.key] = tt.value
			_, err := Resolve(Layer{Source: SourceOVSDB, Values: v})
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestProbeIntervalFloorAndDisable(t *testing.T) {
	base := map[string]string{KeySystemID: "hv1", KeyRemote: "unix:/x", KeyEncapIP: "192.0.2.1"}
	for in, want := range map[string]time.Duration{"0": 0, "100": time.Second, "2500": 2500 * time.Millisecond} {
		base[KeyProbeInterval] = in
		c, err := Resolve(Layer{Source: SourceFlag, Values: base})
		if err != nil {
			t.Fatal(err)
		}
		if c.ProbeInterval != want {
			t.Errorf("%s ms -> %v, want %v", in, c.ProbeInterval, want)
		}
	}
}

func TestLoadConfigFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "ovnbpfd.json")
	if err := os.WriteFile(p, []byte(`{"system-id": "hv1", "ovn-monitor-all": true, "ovn-remote-probe-interval": 1000}`), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := LoadConfigFile(p)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"system-id": "hv1", "ovn-monitor-all": "true", "ovn-remote-probe-interval": "1000"}
	if !reflect.DeepEqual(l.Values, want) || l.Source != SourceFile {
		t.Errorf("got %v from %s", l.Values, l.Source)
	}
	if l, err := LoadConfigFile(filepath.Join(dir, "missing.json")); err != nil || len(l.Values) != 0 {
		t.Errorf("a missing file must be an empty layer: %v %v", l, err)
	}
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"sytem-id": "typo"}`), 0o644)
	if _, err := LoadConfigFile(bad); err == nil || !strings.Contains(err.Error(), `unknown key "sytem-id"`) {
		t.Errorf("typo not reported: %v", err)
	}
}

func TestManualBindingsPersist(t *testing.T) {
	p := filepath.Join(t.TempDir(), "state", "ports.json")
	m, err := LoadManualBindings(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Bind("tap1", "vm1"); err != nil {
		t.Fatal(err)
	}
	if err := m.Bind("tap2", "vm2"); err != nil {
		t.Fatal(err)
	}
	if err := m.Bind("tap3", "vm1"); err == nil {
		t.Errorf("one logical port bound to two interfaces")
	}
	if err := m.Unbind("tap2"); err != nil {
		t.Fatal(err)
	}
	if err := m.Unbind("tap9"); err == nil {
		t.Errorf("unbinding an unknown interface succeeded")
	}
	again, err := LoadManualBindings(p)
	if err != nil {
		t.Fatal(err)
	}
	if got := again.VIFs(); !reflect.DeepEqual(got, []VIF{{IfaceID: "vm1", Ifname: "tap1"}}) {
		t.Errorf("after reload: %v", got)
	}
}

func TestConfigErrorFixable(t *testing.T) {
	base := map[string]string{KeySystemID: "hv1", KeyRemote: "unix:/x", KeyEncapIP: "192.0.2.1"}
	res := func(layers ...Layer) *ConfigError {
		_, err := Resolve(layers...)
		var ce *ConfigError
		if !errors.As(err, &ce) {
			t.Fatalf("want a ConfigError, got %v", err)
		}
		return ce
	}
	bad := map[string]string{KeyEncapType: "vxlan"}
	if ce := res(Layer{SourceOVSDB, base}, Layer{SourceOVSDB, bad}); !ce.Fixable(true) {
		t.Errorf("a bad external_id is fixable by editing it")
	}
	if ce := res(Layer{SourceOVSDB, base}, Layer{SourceFlag, bad}); ce.Fixable(true) {
		t.Errorf("a bad flag is not fixable live")
	}
	if ce := res(Layer{SourceFile, map[string]string{KeySystemID: "hv1"}}); ce.Fixable(false) || !ce.Fixable(true) {
		t.Errorf("missing keys: fixable only with a local OVSDB")
	}
}

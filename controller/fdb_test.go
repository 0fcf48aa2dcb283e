package controller

import (
	"net"
	"testing"

	"github.com/ovnbpf/ovnbpf/controller/sbdb"
	"github.com/ovnbpf/ovnbpf/internal/testutil"
)

// Southbound FDB rows of local datapaths reach the FDB map; a row's removal
// takes its entry away unless the datapath has learnt the MAC anew since.
func TestPrivilegedApplyFDB(t *testing.T) {
	testutil.Privileged(t)
	b := newTestDatapath(t, "fdb")
	mac := func(s string) net.HardwareAddr { m, _ := net.ParseMAC(s); return m }
	s := &State{
		Datapaths: map[int]*sbdb.DatapathBinding{3: {UUID: "dp-sw1", TunnelKey: 3}},
		FDBs: map[string]*sbdb.FDB{
			"f1": {UUID: "f1", DpKey: 3, MAC: "02:00:00:00:00:aa", PortKey: 5},
			"f2": {UUID: "f2", DpKey: 3, MAC: "02:00:00:00:00:bb", PortKey: 6},
			"f3": {UUID: "f3", DpKey: 9, MAC: "02:00:00:00:00:cc", PortKey: 1}, // not a local datapath
			"f4": {UUID: "f4", DpKey: 3, MAC: "not-a-mac", PortKey: 1},
		},
	}
	port := func(dp uint32, m string) (uint32, bool) {
		t.Helper()
		p, ok, err := b.st.FDBPort(dp, mac(m))
		if err != nil {
			t.Fatal(err)
		}
		return p, ok
	}
	apply := func() {
		t.Helper()
		if err := b.applyFDB(s); err != nil {
			t.Fatal(err)
		}
	}

	apply()
	if p, ok := port(3, "02:00:00:00:00:aa"); !ok || p != 5 {
		t.Errorf("aa on dp 3: port %d (%v), want 5", p, ok)
	}
	if p, ok := port(3, "02:00:00:00:00:bb"); !ok || p != 6 {
		t.Errorf("bb on dp 3: port %d (%v), want 6", p, ok)
	}
	if _, ok := port(9, "02:00:00:00:00:cc"); ok {
		t.Errorf("an FDB row of a datapath not local here was written")
	}

	s.FDBs["f1"].PortKey = 7 // the MAC moved
	apply()
	if p, _ := port(3, "02:00:00:00:00:aa"); p != 7 {
		t.Errorf("aa after the move: port %d, want 7", p)
	}

	// bb is learnt anew here (put_fdb) on port 8, then its row goes away.
	if err := b.st.SetFDB(3, mac("02:00:00:00:00:bb"), 8); err != nil {
		t.Fatal(err)
	}
	delete(s.FDBs, "f2")
	delete(s.FDBs, "f1")
	apply()
	if _, ok := port(3, "02:00:00:00:00:aa"); ok {
		t.Errorf("aa is still in the map after its row went away")
	}
	if p, ok := port(3, "02:00:00:00:00:bb"); !ok || p != 8 {
		t.Errorf("bb, learnt here since: port %d (%v), want 8 kept", p, ok)
	}
}

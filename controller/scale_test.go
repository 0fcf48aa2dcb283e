package controller

import (
	"flag"
	"fmt"
	"testing"
	"time"
)

var long = flag.Bool("long", false, "run the long scale measurements")

// Measures the controller alone (the recording datapath applies nothing):
// switches x ports on one router, every datapath local to the chassis, then
// `lsp-add --wait=hv` round trips. Run: go test ./controller -run Scale -long -v
func TestScaleWaitHV(t *testing.T) {
	if !*long {
		return // a long measurement: only with -long
	}
	const switches, ports = 50, 40
	c := startCentral(t)
	args := []string{"lr-add", "lr0"}
	for s := 0; s < switches; s++ {
		sw := fmt.Sprintf("sw%d", s)
		args = append(args, "--", "ls-add", sw,
			"--", "lrp-add", "lr0", "lr0-"+sw, fmt.Sprintf("00:00:00:01:%02x:01", s), fmt.Sprintf("10.%d.0.1/16", s),
			"--", "lsp-add", sw, sw+"-lr0", "--", "lsp-set-type", sw+"-lr0", "router",
			"--", "lsp-set-addresses", sw+"-lr0", "router", "--", "lsp-set-options", sw+"-lr0", "router-port=lr0-"+sw)
		for p := 0; p < ports; p++ {
			lp := fmt.Sprintf("%s-p%d", sw, p)
			args = append(args, "--", "lsp-add", sw, lp, "--", "lsp-set-addresses", lp,
				fmt.Sprintf("0a:00:00:%02x:%02x:01 10.%d.%d.%d", s, p, s, p/200, 10+p%200))
		}
	}
	mustNB(t, c, args...)
	mustNB(t, c, "--wait=sb", "sync")
	nflows := mustSB(t, c, "--bare", "--columns=_uuid", "list", "Logical_Flow")
	dp := &recordingDatapath{}
	t0 := time.Now()
	hv := startChassis(t, c, "hv1", "192.0.2.10", dp)
	mustVSCtl(t, hv.ovs, "add-port", "br-int", "lo", "--", "set", "Interface", "lo", "external_ids:iface-id=sw0-p0")
	mustNB(t, c, "--wait=hv", "--timeout=120", "sync")
	t.Logf("%d lflows (%d bytes of uuids): start to first ack %v", len(nflows)/37, len(nflows), time.Since(t0))
	st := dp.last()
	t.Logf("applied: %d datapaths, %d flows, %d ports", len(st.Datapaths), len(st.Flows), len(st.Ports))
	var total time.Duration
	const n = 5
	for i := 0; i < n; i++ {
		t1 := time.Now()
		mustNB(t, c, "--wait=hv", "lsp-add", "sw1", fmt.Sprintf("extra%d", i))
		total += time.Since(t1)
	}
	t.Logf("lsp-add --wait=hv: %v average over %d", total/n, n)
	total = 0
	for i := 0; i < n; i++ {
		t1 := time.Now()
		mustNB(t, c, "--wait=sb", "lsp-add", "sw1", fmt.Sprintf("extra-sb%d", i))
		total += time.Since(t1)
	}
	t.Logf("lsp-add --wait=sb (northd alone, for comparison): %v average over %d", total/n, n)
}

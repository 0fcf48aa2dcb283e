package main

import (
	"os"

	"github.com/ovnbpf/ovnbpf/tests/vm/vmrec"
)

// ovnbpfdPath is where the runner puts ovnbpfd when the build has one.
const ovnbpfdPath = "/usr/bin/ovnbpfd"

// geneve runs this VM as an OVN chassis (ovnbpfd against the central on the
// runner's host) and pings the workload on the peer VM's chassis, so the
// packets cross between the two kernels in the datapath's own Geneve.
func geneve(params map[string]string) *vmrec.Check {
	c := &vmrec.Check{Name: "cross-VM Geneve " + kernel}
	if _, err := os.Stat(ovnbpfdPath); err != nil {
		c.Detail = "not run: this build has no ovnbpfd (cmd/ovnbpfd)"
		return c
	}
	if params["ovnbpf.sb"] == "" {
		c.Detail = "not run: the runner gave no Southbound remote (ovnbpf.sb)"
		return c
	}
	return chassisCheck(c, params)
}

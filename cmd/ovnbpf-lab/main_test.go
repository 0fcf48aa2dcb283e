package main

import (
	"strings"
	"testing"
)

// Bad command lines are refused with a message that says what to write,
// before anything is created.
func TestCommandLineErrors(t *testing.T) {
	t.Setenv("OVNBPF_LAB_DIR", t.TempDir())
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "no command"},
		{[]string{"frob"}, "unknown command"},
		{[]string{"vm"}, "'add' or 'del'"},
		{[]string{"vm", "add", "hv1"}, "want 2 argument(s)"},
		{[]string{"up", "--chassis", "hv1=vpp"}, "no such flavour"},
		{[]string{"up", "--name", "bad-name"}, "no dashes"},
		{[]string{"up", "--chassis", "hv1=ovs", "--demo"}, "at least two"},
		{[]string{"env", "--name", "nolab"}, "lab is not up"},
		{[]string{"exec", "hv1"}, "NODE -- CMD"},
		{[]string{"status", "--name", "nolab"}, "ovnbpf-lab up --name nolab"},
	} {
		err := run(tc.args)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ovnbpf-lab %s: error %v, want it to say %q", strings.Join(tc.args, " "), err, tc.want)
		}
	}
}

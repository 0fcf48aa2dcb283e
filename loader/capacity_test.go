package loader_test

import (
	"testing"

	"github.com/ovnbpf/ovnbpf/loader"
	"github.com/ovnbpf/ovnbpf/maps"
)

// The default capacity must be what bpf/lib/maps.h declares: a daemon run
// without --lflow-capacity then keeps the pins of one run with it at the
// default.
func TestCapacityMatchesMapsHeader(t *testing.T) {
	spec, err := maps.LoadDatapath()
	if err != nil {
		t.Fatal(err)
	}
	for name, n := range loader.Capacity(loader.DefaultLflowCapacity) {
		ms, ok := spec.Maps[name]
		if !ok {
			t.Errorf("no map %s", name)
			continue
		}
		if ms.MaxEntries != n {
			t.Errorf("%s: maps.h declares %d entries, Capacity(default) says %d", name, ms.MaxEntries, n)
		}
	}
}

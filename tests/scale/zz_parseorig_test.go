package scale

import (
	"os"
	"testing"
	"time"

	"github.com/ovnbpf/ovnbpf/tests/scale/zzorig"
)

func TestZZParseOrig(t *testing.T) {
	data, err := os.ReadFile("/tmp/scale.json")
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		c0 := cpuTime()
		t0 := time.Now()
		if _, err := zzorig.Parse(data); err != nil {
			t.Fatal(err)
		}
		t.Logf("orig parse: wall %v cpu %v", time.Since(t0), time.Duration(cpuTime()-c0))
	}
}

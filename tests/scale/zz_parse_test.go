package scale

import (
	"os"
	"testing"
	"time"

	"github.com/ovnbpf/ovnbpf/pipeline/sbjson"
)

func TestZZParse(t *testing.T) {
	data, err := os.ReadFile("/tmp/scale.json")
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		c0 := cpuTime()
		t0 := time.Now()
		if _, err := sbjson.Parse(data); err != nil {
			t.Fatal(err)
		}
		t.Logf("parse: wall %v cpu %v", time.Since(t0), time.Duration(cpuTime()-c0))
	}
}

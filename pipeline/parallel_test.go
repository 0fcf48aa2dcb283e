package pipeline_test

import (
	"testing"

	"github.com/ovnbpf/ovnbpf/pipeline"
	"github.com/ovnbpf/ovnbpf/pipeline/sbjson"
)

// TestParallelEqualsSerial: compiling on all CPUs gives exactly the tables
// (conjunction ids included) of a serial compile.
func TestParallelEqualsSerial(t *testing.T) {
	for name, s := range corpusSnapshots(t) {
		restore := pipeline.SetParallelMin(1 << 30)
		serial, _ := sbjson.Compile(s)
		pipeline.SetParallelMin(1)
		par, _ := sbjson.Compile(s)
		restore()
		if a, b := pipeline.Render(serial, pipeline.RenderOptions{}), pipeline.Render(par, pipeline.RenderOptions{}); a != b {
			t.Errorf("%s: parallel compile differs:\n%s", name, lineDiff(a, b))
		}
	}
}

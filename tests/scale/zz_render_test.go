package scale

import (
	"os"
	"testing"

	"github.com/ovnbpf/ovnbpf/pipeline"
	"github.com/ovnbpf/ovnbpf/pipeline/sbjson"
	"github.com/ovnbpf/ovnbpf/tests/corpus"
)

func TestZZRender(t *testing.T) {
	data, err := os.ReadFile("/tmp/scale.json")
	if err != nil {
		t.Fatal(err)
	}
	snap, err := sbjson.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	snap.Chassis = corpus.Chassis
	comp, _ := sbjson.Compile(snap)
	os.WriteFile(os.Getenv("ZZOUT"), []byte(pipeline.Render(comp, pipeline.RenderOptions{PortName: snap.PortName})), 0o644)
}

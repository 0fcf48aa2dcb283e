package scale

import (
	"os"
	"runtime"
	"runtime/pprof"
	"testing"

	"github.com/ovnbpf/ovnbpf/pipeline/sbjson"
	"github.com/ovnbpf/ovnbpf/tests/corpus"
)

func TestZZHeap(t *testing.T) {
	data, err := os.ReadFile("/tmp/scale.json")
	if err != nil {
		t.Fatal(err)
	}
	snap, err := sbjson.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	snap.Chassis = corpus.Chassis
	runtime.MemProfileRate = 512
	comp, _ := sbjson.Compile(snap)
	runtime.GC()
	f, _ := os.Create(os.Getenv("ZZHEAP"))
	pprof.Lookup("heap").WriteTo(f, 0)
	f.Close()
	runtime.KeepAlive(comp)
}

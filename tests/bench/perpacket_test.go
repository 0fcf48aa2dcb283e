package main

import (
	"reflect"
	"testing"
)

func TestParseBench(t *testing.T) {
	out := `goos: linux
BenchmarkDatapath/L2LocalPipeline-2         	   20000	      6954 ns/op	      6601 ns/pkt	       142.5 floor-ns/pkt	        46.32 x-floor	         1.000 miss/pkt
BenchmarkDatapath/Flood8-2                  	   20000	     26500 ns/op	     13100 ns/pkt	     11020 floor-ns/pkt	         1.189 x-floor
BenchmarkDatapath/Flood8-2                  	   20000	     26000 ns/op	     12900 ns/pkt	     11500 floor-ns/pkt	         1.122 x-floor
PASS
`
	got := parseBench(out)
	want := map[string]map[string][]float64{
		"L2LocalPipeline": {"ns/pkt": {6601}, "floor-ns/pkt": {142.5}, "x-floor": {46.32}, "miss/pkt": {1}},
		"Flood8":          {"ns/pkt": {13100, 12900}, "floor-ns/pkt": {11020, 11500}, "x-floor": {1.189, 1.122}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("parseBench:\n got %v\nwant %v", got, want)
	}
}

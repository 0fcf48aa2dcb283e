package maps

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/ovnbpf/ovnbpf/pipeline"
	"github.com/ovnbpf/ovnbpf/pipeline/sbjson"
)

// Reading the corpus' tables through pipeline.TableView, one match buffer
// reused across every table, gives the digests and encodings the
// materialised tables give: nothing the installer keeps points into the
// reused buffer.
func TestViewEncodesAsTable(t *testing.T) {
	files, err := filepath.Glob("../tests/corpus/testdata/*.sb.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus snapshots (%v)", err)
	}
	var buf []pipeline.FieldMatch
	var dv, dt ruleDigester
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		s, err := sbjson.Parse(data)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		s.Chassis = "ch1"
		c, _ := sbjson.Compile(s)
		c.InvalidateAll()
		tables := 0
		for _, k := range c.Flush() {
			v, ok := c.View(k)
			if !ok {
				continue
			}
			tables++
			id := TableID{Datapath: k.Datapath, Pipeline: k.Pipeline, Table: k.Table}
			want := Rules(c.Table(k))
			var sum digest
			var summed bool
			sum, summed, buf = dv.digest(v, buf)
			wantSum, wantSummed, _ := dt.digest(want, nil)
			if sum != wantSum || summed != wantSummed {
				t.Errorf("%s %s: view digest %x/%v, table %x/%v", f, id, sum, summed, wantSum, wantSummed)
			}
			var subs map[maskShape]*desiredSubtable
			var errs []RuleError
			var unsup []Unsupported
			subs, errs, unsup, buf = encodeTable(id, v, buf)
			wantSubs, wantErrs, wantUnsup, _ := encodeTable(id, want, nil)
			if !reflect.DeepEqual(subs, wantSubs) || !reflect.DeepEqual(errs, wantErrs) || !reflect.DeepEqual(unsup, wantUnsup) {
				t.Errorf("%s %s: the view encodes to %d subtables (%d errors), the table to %d (%d errors)",
					f, id, len(subs), len(errs), len(wantSubs), len(wantErrs))
			}
		}
		t.Logf("%s: %d tables", filepath.Base(f), tables)
		if tables == 0 {
			t.Errorf("%s: no tables", f)
		}
	}
}

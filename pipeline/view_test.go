package pipeline_test

import (
	"slices"
	"testing"

	"github.com/ovnbpf/ovnbpf/pipeline"
	"github.com/ovnbpf/ovnbpf/pipeline/sbjson"
)

// TestViewEqualsTable: reading a table through View gives the rules Table
// gives, in the same order, and View refuses exactly the tables Table
// prunes.
func TestViewEqualsTable(t *testing.T) {
	for name, s := range corpusSnapshots(t) {
		c, _ := sbjson.Compile(s)
		c.InvalidateAll()
		keys := c.Flush() // every table, pruned ones too
		if len(keys) == 0 {
			t.Fatalf("%s: no tables", name)
		}
		var buf []pipeline.FieldMatch
		views := 0
		for _, k := range keys {
			v, ok := c.View(k)
			rules := c.Table(k)
			if ok != (rules != nil) {
				t.Errorf("%s %s: view ok %v, table has %d rules", name, k, ok, len(rules))
				continue
			}
			if !ok {
				continue
			}
			views++
			if v.Len() != len(rules) {
				t.Errorf("%s %s: view has %d rules, table %d", name, k, v.Len(), len(rules))
				continue
			}
			for i := range rules {
				var r pipeline.Rule
				r, buf = v.Rule(i, buf)
				if got, want := r.String(), rules[i].String(); got != want || !slices.Equal(r.Conj, rules[i].Conj) {
					t.Errorf("%s %s rule %d: view %s, table %s", name, k, i, got, want)
				}
			}
		}
		if got := len(c.Tables()); got != views {
			t.Errorf("%s: Tables lists %d tables, View %d", name, got, views)
		}
	}
}

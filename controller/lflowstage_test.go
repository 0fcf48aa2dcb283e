package controller

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ovn-org/libovsdb/client"

	"github.com/ovnbpf/ovnbpf/pipeline"
)

// lflowOrigins reads northd's external_ids of just the rows asked for; a
// row that is gone is absent from the answer. The report then names the
// stage as the compiler would with the column monitored, and an lflow asked
// about is not asked about again while it keeps failing.
func TestLflowOrigins(t *testing.T) {
	c := startCentral(t)
	mustNB(t, c, "ls-add", "sw0")
	mustNB(t, c, "--wait=sb", "sync")
	uuid, _, _ := strings.Cut(mustSB(t, c, "--bare", "--columns=_uuid", "find", "Logical_Flow", "table_id=0", "pipeline=ingress"), "\n")
	stage := strings.Trim(mustSB(t, c, "get", "Logical_Flow", uuid, "external_ids:stage-name"), `"`)
	if uuid == "" || stage == "" {
		t.Fatalf("no ingress table 0 flow with a stage name: %q %q", uuid, stage)
	}
	m, err := sbClientModel()
	if err != nil {
		t.Fatal(err)
	}
	lg := newLogr(testLogger(t), "southbound")
	sb, err := client.NewOVSDBClient(m, client.WithEndpoint(c.SBRemote()), client.WithLogger(&lg))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := sb.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	const gone = "6f1c0de0-0000-4000-8000-000000000000"
	got, err := lflowOrigins(ctx, sb, []string{uuid, gone})
	if err != nil {
		t.Fatal(err)
	}
	o, ok := got[uuid]
	if len(got) != 1 || !ok || o.Stage != stage || !strings.HasPrefix(o.Source, "northd.c:") {
		t.Fatalf("origins %+v, want only %s's, stage %s, source northd.c:N", got, uuid, stage)
	}

	// The report: named once asked; not asked again; forgotten when fixed.
	b := &BPFDatapath{}
	e := &pipeline.LflowError{UUID: uuid, Pipeline: pipeline.Ingress, Table: 0, Part: "match", Err: errString("bad")}
	b.setUnsupported([]*pipeline.LflowError{e, {UUID: gone, Pipeline: pipeline.Egress, Table: 3, Part: "actions", Err: errString("worse")}})
	if u := b.UnnamedLflows(); len(u) != 2 {
		t.Fatalf("unnamed %v, want both", u)
	}
	b.NameLflows([]string{uuid, gone}, got)
	if u := b.UnnamedLflows(); len(u) != 0 {
		t.Errorf("unnamed %v after naming, want none (a row that is gone is not asked for again)", u)
	}
	want := "lflow " + uuid + " (ingress table 0 " + stage + "): match: bad [" // hint (if any) and source follow
	if !strings.HasPrefix(b.Unsupported[0], want) && !strings.HasPrefix(b.Unsupported[1], want) {
		t.Errorf("report %q, want one starting %q", b.Unsupported, want)
	}
	b.setUnsupported([]*pipeline.LflowError{e})
	if len(b.stages.origins) != 1 || len(b.Unsupported) != 1 {
		t.Errorf("after the other flow was fixed: origins %v, report %q", b.stages.origins, b.Unsupported)
	}
}

type errString string

func (e errString) Error() string { return string(e) }

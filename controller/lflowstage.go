package controller

import (
	"context"
	"fmt"
	"sort"

	"github.com/ovn-org/libovsdb/client"
	"github.com/ovn-org/libovsdb/ovsdb"

	"github.com/ovnbpf/ovnbpf/controller/sbdb"
	"github.com/ovnbpf/ovnbpf/pipeline"
)

// The monitor leaves Logical_Flow.external_ids out (~13 MB twice at the
// reference scale), so the compiler names a failing lflow by uuid, pipeline
// and table only. For those few flows the controller asks the Southbound
// for their external_ids once (a select by uuid), and the report names the
// stage as `ovnbpfctl lflow compile` does, with northd's hint and source.

// lflowOrigin is what northd records of a flow in its external_ids.
type lflowOrigin struct {
	Stage, Hint, Source string
}

// lflowStages is the BPFDatapath's record of the lflows it could not
// compile and of their origins, fetched by the controller.
type lflowStages struct {
	errs    []*pipeline.LflowError
	origins map[string]lflowOrigin // by uuid; a zero value: asked, nothing known
}

// maxStageLookups bounds the flows named per pass: a compiler regression
// that fails thousands of flows must not turn into a dump of their
// external_ids; the rest keep uuid, pipeline and table until a later pass.
const maxStageLookups = 256

// setUnsupported records the compiler's errors of this apply (under b.mu)
// and renders them, with the stage names known so far.
func (b *BPFDatapath) setUnsupported(errs []*pipeline.LflowError) {
	b.stages.errs = errs
	live := make(map[string]bool, len(errs))
	for _, e := range errs {
		live[e.UUID] = true
	}
	for u := range b.stages.origins {
		if !live[u] {
			delete(b.stages.origins, u) // fixed or gone: a later failure asks again
		}
	}
	b.renderUnsupported()
}

func (b *BPFDatapath) renderUnsupported() {
	b.Unsupported = b.Unsupported[:0]
	for _, e := range b.stages.errs {
		b.Unsupported = append(b.Unsupported, describeLflowError(e, b.stages.origins[e.UUID]))
	}
}

// describeLflowError is e's text with the stage named (when the compiler
// did not have it) and northd's stage-hint and source appended.
func describeLflowError(e *pipeline.LflowError, o lflowOrigin) string {
	if e.Stage == "" && o.Stage != "" {
		named := *e
		named.Stage = o.Stage
		e = &named
	}
	s := e.Error()
	switch {
	case o.Hint != "" && o.Source != "":
		s += fmt.Sprintf(" [stage-hint %s, %s]", o.Hint, o.Source)
	case o.Hint != "":
		s += " [stage-hint " + o.Hint + "]"
	case o.Source != "":
		s += " [" + o.Source + "]"
	}
	return s
}

// UnnamedLflows returns the uuids of failing lflows whose origin has not
// been asked for yet, sorted.
func (b *BPFDatapath) UnnamedLflows() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, e := range b.stages.errs {
		if _, asked := b.stages.origins[e.UUID]; !asked && e.Stage == "" {
			out = append(out, e.UUID)
		}
	}
	sort.Strings(out)
	return out
}

// NameLflows records the origins of failing lflows (those not found are
// recorded as unknown, not asked for again) and renders the report again.
func (b *BPFDatapath) NameLflows(asked []string, found map[string]lflowOrigin) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.stages.origins == nil {
		b.stages.origins = map[string]lflowOrigin{}
	}
	for _, u := range asked {
		b.stages.origins[u] = found[u]
	}
	b.renderUnsupported()
}

// lflowNamer is what the controller needs of a datapath to name stages.
type lflowNamer interface {
	UnnamedLflows() []string
	NameLflows(asked []string, found map[string]lflowOrigin)
}

// nameFailingLflows asks the Southbound for the origins of the lflows the
// datapath could not compile and has not named yet. A failure is logged
// and left for the next pass: naming is a report's detail, never a reason
// to fail a pass.
func (c *Controller) nameFailingLflows(ctx context.Context, sb client.Client) {
	n, ok := c.opts.Datapath.(lflowNamer)
	if !ok {
		return
	}
	uuids := n.UnnamedLflows()
	if len(uuids) == 0 {
		return
	}
	uuids = uuids[:min(len(uuids), maxStageLookups)]
	found, err := lflowOrigins(ctx, sb, uuids)
	if err != nil {
		c.log.Debug("naming the stages of unsupported lflows", "err", err)
		return
	}
	n.NameLflows(uuids, found)
}

// lflowOrigins reads external_ids of the given Logical_Flow rows in one
// transaction (one select per uuid: a where clause is a conjunction).
// Rows that no longer exist are absent from the result.
func lflowOrigins(ctx context.Context, sb client.Client, uuids []string) (map[string]lflowOrigin, error) {
	ops := make([]ovsdb.Operation, 0, len(uuids))
	for _, u := range uuids {
		ops = append(ops, ovsdb.Operation{Op: ovsdb.OperationSelect, Table: sbdb.LogicalFlowTable,
			Where:   []ovsdb.Condition{{Column: "_uuid", Function: ovsdb.ConditionEqual, Value: ovsdb.UUID{GoUUID: u}}},
			Columns: []string{"external_ids"}})
	}
	res, err := transact(ctx, sb, "reading the external_ids of unsupported lflows", ops...)
	if err != nil {
		return nil, err
	}
	out := make(map[string]lflowOrigin, len(uuids))
	for i, r := range res {
		if i >= len(uuids) || len(r.Rows) == 0 {
			continue
		}
		ext, ok := r.Rows[0]["external_ids"].(ovsdb.OvsMap)
		if !ok {
			continue
		}
		get := func(k string) string { s, _ := ext.GoMap[k].(string); return s }
		out[uuids[i]] = lflowOrigin{Stage: get("stage-name"), Hint: get("stage-hint"), Source: get("source")}
	}
	return out, nil
}

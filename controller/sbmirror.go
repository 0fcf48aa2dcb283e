package controller

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/ovn-org/libovsdb/client"
	"github.com/ovn-org/libovsdb/model"
)

// sbMirror keeps pointers to the Southbound rows, maintained from the cache's
// events, so that a pass reads the view without copying every row out of
// libovsdb's cache (List copies each row with reflection: ~100 ms for 10k
// logical flows). The row an event carries is a fresh model libovsdb does
// not keep (its cache stores a clone), so it is stored as is; a row is never
// modified once stored (an update stores a new one), so a pass may hold them.
type sbMirror struct {
	mu   sync.Mutex
	rows map[string]map[string]model.Model // table -> uuid -> row
	// gen counts each table's changes: a pass reuses what it derived from
	// a table (its typed map, the flows of the local datapaths) while the
	// count stays the same.
	gen map[string]uint64
}

type uuidModel interface{ GetUUID() string }

func newSBMirror() *sbMirror {
	return &sbMirror{rows: map[string]map[string]model.Model{}, gen: map[string]uint64{}}
}

func (m *sbMirror) put(table string, row model.Model) {
	u, ok := row.(uuidModel)
	if !ok {
		return
	}
	m.mu.Lock()
	t := m.rows[table]
	if t == nil {
		t = map[string]model.Model{}
		m.rows[table] = t
	}
	t[u.GetUUID()] = row
	m.gen[table]++
	m.mu.Unlock()
}

func (m *sbMirror) OnAdd(table string, row model.Model)       { m.put(table, row) }
func (m *sbMirror) OnUpdate(table string, _, row model.Model) { m.put(table, row) }
func (m *sbMirror) OnDelete(table string, row model.Model) {
	u, ok := row.(uuidModel)
	if !ok {
		return
	}
	m.mu.Lock()
	delete(m.rows[table], u.GetUUID())
	m.gen[table]++
	m.mu.Unlock()
}

// mirrorSnap is one consistent read of every table. Its maps are never
// modified: the next snapshot shares those of the tables that did not change.
type mirrorSnap struct {
	mirror *sbMirror
	gen    map[string]uint64
	typed  map[string]any // table -> map[string]*T
}

// snapshot reads every table at once. Tables unchanged since prev (taken
// from the same mirror) are prev's maps, not copies: a pass after a small
// change copies only the tables that changed.
func (m *sbMirror) snapshot(prev *mirrorSnap, tables map[string]func(map[string]model.Model) any) *mirrorSnap {
	if prev != nil && prev.mirror != m {
		prev = nil
	}
	s := &mirrorSnap{mirror: m, gen: map[string]uint64{}, typed: map[string]any{}}
	m.mu.Lock()
	defer m.mu.Unlock()
	for t, conv := range tables {
		g := m.gen[t]
		s.gen[t] = g
		if prev != nil && prev.gen[t] == g {
			if v, ok := prev.typed[t]; ok {
				s.typed[t] = v
				continue
			}
		}
		s.typed[t] = conv(m.rows[t])
	}
	return s
}

// typedTable makes the converter of one table's rows into a map of T.
func typedTable[T any]() func(map[string]model.Model) any {
	return func(rows map[string]model.Model) any {
		out := make(map[string]*T, len(rows))
		for u, r := range rows {
			if t, ok := r.(*T); ok {
				out[u] = t
			}
		}
		return out
	}
}

// typed returns a snapshot's rows of one table as T pointers (read only).
func typed[T any](s *mirrorSnap, table string) map[string]*T {
	m, _ := s.typed[table].(map[string]*T)
	if m == nil {
		m = map[string]*T{}
	}
	return m
}

func (m *sbMirror) count(table string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.rows[table])
}

// waitSynced waits (until ctx ends) for the mirror to hold as many rows as
// the cache in every table: events are delivered asynchronously, and a pass
// over a half-filled mirror would release ports whose related rows have not
// arrived yet.
func (m *sbMirror) waitSynced(ctx context.Context, cl client.Client, tables []string) error {
	for {
		synced := true
		for _, t := range tables {
			tc := cl.Cache().Table(t)
			if tc != nil && tc.Len() != m.count(t) {
				synced = false
				break
			}
		}
		if synced {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("southbound cache events not delivered: %w", ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
}

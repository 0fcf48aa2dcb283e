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
// events: each change costs one clone, and a pass reads the view without
// copying every row out of libovsdb's cache (List copies each row with
// reflection: ~100 ms for 10k logical flows). A row is never modified once
// stored (an update stores a new clone), so a pass may hold them.
type sbMirror struct {
	mu   sync.Mutex
	rows map[string]map[string]model.Model // table -> uuid -> row
}

type uuidModel interface{ GetUUID() string }

func newSBMirror() *sbMirror { return &sbMirror{rows: map[string]map[string]model.Model{}} }

func (m *sbMirror) put(table string, row model.Model) {
	u, ok := row.(uuidModel)
	if !ok {
		return
	}
	c := model.Clone(row)
	m.mu.Lock()
	t := m.rows[table]
	if t == nil {
		t = map[string]model.Model{}
		m.rows[table] = t
	}
	t[u.GetUUID()] = c
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
	m.mu.Unlock()
}

// snapshot returns a consistent shallow copy of every table.
func (m *sbMirror) snapshot() map[string]map[string]model.Model {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]map[string]model.Model, len(m.rows))
	for t, rows := range m.rows {
		c := make(map[string]model.Model, len(rows))
		for u, r := range rows {
			c[u] = r
		}
		out[t] = c
	}
	return out
}

func (m *sbMirror) count(table string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.rows[table])
}

// waitSynced waits until the mirror holds as many rows as the cache for
// every table: events are delivered asynchronously, and a pass over a
// half-filled mirror would release ports whose related rows have not
// arrived yet.
func (m *sbMirror) waitSynced(ctx context.Context, cl client.Client, tables []string) error {
	deadline := time.Now().Add(30 * time.Second)
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
		if time.Now().After(deadline) {
			return fmt.Errorf("southbound cache events not delivered within 30s")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// typed returns the rows of one table as T pointers.
func typed[T any](snap map[string]map[string]model.Model, table string) map[string]*T {
	out := make(map[string]*T, len(snap[table]))
	for u, r := range snap[table] {
		if t, ok := r.(*T); ok {
			out[u] = t
		}
	}
	return out
}

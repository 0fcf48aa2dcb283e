package controller

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
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
	// journal lists, per table, each change from generation journalFrom
	// on (one entry per change, so entry i is generation journalFrom+i+1):
	// a snapshot patches the previous one's map with the rows that changed
	// instead of converting the whole table (43k flows at the reference
	// scale for one lsp-add). Trimmed by each snapshot; dropped
	// (journalFrom moved on) when it grows past maxJournal.
	journal     map[string][]change
	journalFrom map[string]uint64
}

// change is one journal entry: the row's uuid and what it replaced (nil:
// an insert), which a snapshot keyed by another column than the uuid needs
// to remove the old key.
type change struct {
	uuid string
	old  model.Model
}

// maxJournal bounds a table's journal: past it (a dump, a burst) patching
// costs about what a conversion does.
const maxJournal = 4096

type uuidModel interface{ GetUUID() string }

func newSBMirror() *sbMirror {
	return &sbMirror{rows: map[string]map[string]model.Model{}, gen: map[string]uint64{},
		journal: map[string][]change{}, journalFrom: map[string]uint64{}}
}

// record counts a change of one row, old its previous version (under mu).
func (m *sbMirror) record(table, uuid string, old model.Model) {
	m.gen[table]++
	j := m.journal[table]
	if len(j) >= maxJournal {
		clear(j) // the rows it names may be garbage
		m.journal[table], m.journalFrom[table] = j[:0], m.gen[table]
		return
	}
	m.journal[table] = append(j, change{uuid, old})
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
	old := t[u.GetUUID()]
	t[u.GetUUID()] = row
	m.record(table, u.GetUUID(), old)
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
	old := m.rows[table][u.GetUUID()]
	delete(m.rows[table], u.GetUUID())
	m.record(table, u.GetUUID(), old)
	m.mu.Unlock()
}

// mirrorSnap is one consistent read of every table. Its maps are never
// modified: the next snapshot shares those of the tables that did not change.
type mirrorSnap struct {
	mirror *sbMirror
	gen    map[string]uint64
	typed  map[string]any // table -> map[string]*T
	// changed are, for a table patched from the previous snapshot, the
	// keys of its typed map whose rows changed since generation
	// from[table] (sorted, once each): added, updated or deleted.
	changed map[string][]string
	from    map[string]uint64
}

// tableConv presents a table's rows in a snapshot: conv converts them all;
// patch, if set, makes a copy of prev's map with the rows that changed
// (once each, old being the version prev holds) read again from rows (absent:
// deleted), and returns it with the keys it touched.
type tableConv struct {
	conv  func(rows map[string]model.Model) any
	patch func(prev any, rows map[string]model.Model, changed []change) (any, []string)
}

// snapshot reads every table at once. Tables unchanged since prev (taken
// from the same mirror) are prev's maps, not copies; a table with a patch
// whose journal covers the changes since prev is prev's map patched: a pass
// after a small change converts only the rows that changed.
func (m *sbMirror) snapshot(prev *mirrorSnap, tables map[string]tableConv) *mirrorSnap {
	if prev != nil && prev.mirror != m {
		prev = nil
	}
	s := &mirrorSnap{mirror: m, gen: map[string]uint64{}, typed: map[string]any{},
		changed: map[string][]string{}, from: map[string]uint64{}}
	m.mu.Lock()
	defer m.mu.Unlock()
	for t, tc := range tables {
		g := m.gen[t]
		s.gen[t] = g
		if prev != nil && prev.gen[t] == g {
			if v, ok := prev.typed[t]; ok {
				s.typed[t] = v
				continue
			}
		}
		if changed, ok := m.changedSince(t, prev, g); ok && tc.patch != nil {
			var keys []string
			s.typed[t], keys = tc.patch(prev.typed[t], m.rows[t], changed)
			slices.Sort(keys)
			s.changed[t], s.from[t] = slices.Compact(keys), prev.gen[t]
			continue
		}
		s.typed[t] = tc.conv(m.rows[t])
	}
	// The next snapshot starts from this one: older changes are not needed.
	for t := range tables {
		clear(m.journal[t])
		m.journal[t], m.journalFrom[t] = m.journal[t][:0], m.gen[t]
	}
	return s
}

// changedSince returns the changes of table's rows after prev's generation
// up to g, once per row with the version prev holds, if the journal holds
// them all (under mu).
func (m *sbMirror) changedSince(table string, prev *mirrorSnap, g uint64) ([]change, bool) {
	if prev == nil {
		return nil, false
	}
	if _, ok := prev.typed[table]; !ok {
		return nil, false
	}
	from, start := prev.gen[table], m.journalFrom[table]
	j := m.journal[table]
	if from < start || g != start+uint64(len(j)) || from > g {
		return nil, false
	}
	changed := slices.Clone(j[from-start:])
	// the first change of each row names the version prev holds
	slices.SortStableFunc(changed, func(a, b change) int { return strings.Compare(a.uuid, b.uuid) })
	return slices.CompactFunc(changed, func(a, b change) bool { return a.uuid == b.uuid }), true
}

// delta returns the keys (uuids, for most tables) of table's rows that
// differ between a snapshot taken at prev's generation of the table and s,
// when s was patched from it.
func (s *mirrorSnap) delta(prev *mirrorSnap, table string) ([]string, bool) {
	if prev == nil || prev.mirror != s.mirror {
		return nil, false
	}
	if s.gen[table] == prev.gen[table] {
		return nil, true
	}
	changed, ok := s.changed[table]
	if !ok || s.from[table] != prev.gen[table] {
		return nil, false
	}
	return changed, true
}

// typedTable makes the converter of one table's rows into a map of T by
// uuid, and its patch.
func typedTable[T any]() tableConv {
	return tableConv{
		conv: func(rows map[string]model.Model) any {
			out := make(map[string]*T, len(rows))
			for u, r := range rows {
				if t, ok := r.(*T); ok {
					out[u] = t
				}
			}
			return out
		},
		patch: func(prev any, rows map[string]model.Model, changed []change) (any, []string) {
			out := maps.Clone(prev.(map[string]*T))
			keys := make([]string, 0, len(changed))
			for _, c := range changed {
				if t, ok := rows[c.uuid].(*T); ok {
					out[c.uuid] = t
				} else {
					delete(out, c.uuid)
				}
				keys = append(keys, c.uuid)
			}
			return out, keys
		},
	}
}

// keyedTable makes the converter of a table whose snapshot map is keyed by
// a column of its rows (key) rather than the uuid, and its patch: a changed
// row's old key goes (if it is still that row's), its new key comes.
func keyedTable[T any](key func(*T) string) tableConv {
	return tableConv{
		conv: func(rows map[string]model.Model) any {
			out := make(map[string]*T, len(rows))
			for _, r := range rows {
				if t, ok := r.(*T); ok {
					out[key(t)] = t
				}
			}
			return out
		},
		patch: func(prev any, rows map[string]model.Model, changed []change) (any, []string) {
			out := maps.Clone(prev.(map[string]*T))
			keys := make([]string, 0, len(changed))
			for _, c := range changed {
				if old, ok := c.old.(*T); ok {
					k := key(old)
					if cur, ok := out[k]; ok && any(cur).(uuidModel).GetUUID() == c.uuid {
						delete(out, k)
					}
					keys = append(keys, k)
				}
				if t, ok := rows[c.uuid].(*T); ok {
					out[key(t)] = t
					keys = append(keys, key(t))
				}
			}
			return out, keys
		},
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

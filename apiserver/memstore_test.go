package apiserver

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/smartcharge/smartcharge/site"
)

// memStore is an in-memory site.Store for tests. UpdateConfig works like an
// optimistic store: it runs fn without the lock, then commits only if no
// one else committed meanwhile, else retries fn, so handlers' functions
// get re-run as on Redis.
type memStore struct {
	clock site.Clock
	down  atomic.Bool // every call fails with ErrUnavailable

	mu      sync.Mutex
	sites   map[string]site.Config
	version map[string]int64
	states  map[site.ChargerRef]site.ChargerState
}

var _ site.Store = (*memStore)(nil)

func newMemStore(clock site.Clock) *memStore {
	return &memStore{
		clock:   clock,
		sites:   map[string]site.Config{},
		version: map[string]int64{},
		states:  map[site.ChargerRef]site.ChargerState{},
	}
}

func copyConfig(c site.Config) site.Config {
	c.Circuits = slices.Clone(c.Circuits)
	c.Limits = slices.Clone(c.Limits)
	c.Chargers = slices.Clone(c.Chargers)
	for i := range c.Chargers {
		c.Chargers[i].EVSEs = slices.Clone(c.Chargers[i].EVSEs)
	}
	return c
}

func (m *memStore) check() error {
	if m.down.Load() {
		return fmt.Errorf("memstore: %w", site.ErrUnavailable)
	}
	return nil
}

// identityTaken reports whether another site has a charger with one of c's
// identities. Caller holds mu.
func (m *memStore) identityTaken(c site.Config) error {
	for id, other := range m.sites {
		if id == c.Site.ID {
			continue
		}
		for _, x := range other.Chargers {
			for _, y := range c.Chargers {
				if x.OCPPIdentity == y.OCPPIdentity {
					return fmt.Errorf("memstore: identity %q: %w", y.OCPPIdentity, site.ErrAlreadyExists)
				}
			}
		}
	}
	return nil
}

func (m *memStore) CreateSite(ctx context.Context, c site.Config) (site.Config, error) {
	if err := m.check(); err != nil {
		return site.Config{}, err
	}
	if err := c.Validate(); err != nil {
		return site.Config{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.sites[c.Site.ID]; ok {
		return site.Config{}, fmt.Errorf("memstore: site %q: %w", c.Site.ID, site.ErrAlreadyExists)
	}
	if err := m.identityTaken(c); err != nil {
		return site.Config{}, err
	}
	c = stamp(site.Config{}, copyConfig(c), m.clock.Now())
	m.sites[c.Site.ID] = c
	m.version[c.Site.ID]++
	return copyConfig(c), nil
}

func (m *memStore) Config(ctx context.Context, siteID string) (site.Config, error) {
	if err := m.check(); err != nil {
		return site.Config{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.sites[siteID]
	if !ok {
		return site.Config{}, fmt.Errorf("memstore: site %q: %w", siteID, site.ErrNotFound)
	}
	return copyConfig(c), nil
}

func (m *memStore) UpdateConfig(ctx context.Context, siteID string, fn func(*site.Config) error) (site.Config, error) {
	for range 10 {
		if err := m.check(); err != nil {
			return site.Config{}, err
		}
		m.mu.Lock()
		old, ok := m.sites[siteID]
		ver := m.version[siteID]
		m.mu.Unlock()
		if !ok {
			return site.Config{}, fmt.Errorf("memstore: site %q: %w", siteID, site.ErrNotFound)
		}
		next := copyConfig(old)
		if err := fn(&next); err != nil {
			return site.Config{}, err
		}
		next.Site.ID = siteID
		for i := range next.Circuits {
			next.Circuits[i].SiteID = siteID
		}
		for i := range next.Chargers {
			next.Chargers[i].SiteID = siteID
		}
		for i := range next.Limits {
			next.Limits[i].SiteID = siteID
		}
		if err := next.Validate(); err != nil {
			return site.Config{}, err
		}
		m.mu.Lock()
		if m.version[siteID] != ver {
			m.mu.Unlock()
			continue // someone else won: rerun fn on the new state
		}
		if err := m.identityTaken(next); err != nil {
			m.mu.Unlock()
			return site.Config{}, err
		}
		next = stamp(old, next, m.clock.Now())
		m.sites[siteID] = next
		m.version[siteID]++
		m.mu.Unlock()
		return copyConfig(next), nil
	}
	return site.Config{}, fmt.Errorf("memstore: site %q: %w", siteID, site.ErrConflict)
}

// stamp sets generations and times of next against old: unchanged
// resources keep theirs, changed ones get +1, new ones 1.
func stamp(old, next site.Config, now time.Time) site.Config {
	if old.Site.ID == "" || !sameSpec(old.Site, next.Site) {
		next.Site.Generation = old.Site.Generation + 1
		next.Site.UpdateTime = now
		if old.Site.ID == "" {
			next.Site.CreateTime = now
		} else {
			next.Site.CreateTime = old.Site.CreateTime
		}
	}
	stampAll(old.Circuits, next.Circuits, now,
		func(c *site.Circuit) (string, *int64, *time.Time, *time.Time) {
			return c.ID, &c.Generation, &c.CreateTime, &c.UpdateTime
		})
	stampAll(old.Chargers, next.Chargers, now,
		func(c *site.Charger) (string, *int64, *time.Time, *time.Time) {
			return c.ID, &c.Generation, &c.CreateTime, &c.UpdateTime
		})
	stampAll(old.Limits, next.Limits, now,
		func(c *site.GridLimit) (string, *int64, *time.Time, *time.Time) {
			return c.ID, &c.Generation, &c.CreateTime, &c.UpdateTime
		})
	return next
}

func stampAll[T any](old, next []T, now time.Time, meta func(*T) (string, *int64, *time.Time, *time.Time)) {
	for i := range next {
		id, gen, ct, ut := meta(&next[i])
		var prev *T
		for j := range old {
			if oid, _, _, _ := meta(&old[j]); oid == id {
				prev = &old[j]
			}
		}
		if prev == nil {
			*gen, *ct, *ut = 1, now, now
			continue
		}
		_, pg, pct, put := meta(prev)
		if sameSpec(*prev, next[i]) {
			*gen, *ct, *ut = *pg, *pct, *put
			continue
		}
		*gen, *ct, *ut = *pg+1, *pct, now
	}
}

// sameSpec compares two versions of a resource without their metadata.
func sameSpec[T any](a, b T) bool {
	strip := func(x T) T {
		v := reflect.ValueOf(&x).Elem()
		for _, f := range []string{"Generation", "CreateTime", "UpdateTime"} {
			fv := v.FieldByName(f)
			fv.Set(reflect.Zero(fv.Type()))
		}
		return x
	}
	return reflect.DeepEqual(strip(a), strip(b))
}

func (m *memStore) DeleteSite(ctx context.Context, siteID string, expectGeneration int64) error {
	if err := m.check(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.sites[siteID]
	if !ok {
		return fmt.Errorf("memstore: site %q: %w", siteID, site.ErrNotFound)
	}
	if expectGeneration != 0 && c.Site.Generation != expectGeneration {
		return fmt.Errorf("memstore: site %q: %w", siteID, site.ErrConflict)
	}
	delete(m.sites, siteID)
	m.version[siteID]++
	return nil
}

func (m *memStore) ListSites(ctx context.Context, after string, limit int) ([]site.Site, error) {
	if err := m.check(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []site.Site
	for id, c := range m.sites {
		if id > after {
			out = append(out, c.Site)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func (m *memStore) ChargerByIdentity(ctx context.Context, identity string) (site.ChargerRef, error) {
	if err := m.check(); err != nil {
		return site.ChargerRef{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for id, c := range m.sites {
		for _, x := range c.Chargers {
			if x.OCPPIdentity == identity {
				return site.ChargerRef{SiteID: id, ChargerID: x.ID}, nil
			}
		}
	}
	return site.ChargerRef{}, fmt.Errorf("memstore: identity %q: %w", identity, site.ErrNotFound)
}

func (m *memStore) configured(ref site.ChargerRef) bool {
	c, ok := m.sites[ref.SiteID]
	return ok && slices.ContainsFunc(c.Chargers, func(x site.Charger) bool { return x.ID == ref.ChargerID })
}

func (m *memStore) ChargerState(ctx context.Context, ref site.ChargerRef) (site.ChargerState, error) {
	if err := m.check(); err != nil {
		return site.ChargerState{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.configured(ref) {
		return site.ChargerState{}, fmt.Errorf("memstore: %s: %w", ref, site.ErrNotFound)
	}
	return m.states[ref], nil
}

func (m *memStore) UpdateChargerState(ctx context.Context, ref site.ChargerRef, fn func(*site.ChargerState) error) (site.ChargerState, error) {
	if err := m.check(); err != nil {
		return site.ChargerState{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.configured(ref) {
		return site.ChargerState{}, fmt.Errorf("memstore: %s: %w", ref, site.ErrNotFound)
	}
	st := m.states[ref]
	if err := fn(&st); err != nil {
		return site.ChargerState{}, err
	}
	m.states[ref] = st
	return st, nil
}

func (m *memStore) Close() error { return nil }

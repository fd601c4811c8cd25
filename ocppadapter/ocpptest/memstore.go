package ocpptest

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/smartcharge/smartcharge/site"
)

// MemStore is a small in-memory site.Store for tests of the OCPP adapter.
// It does not validate configurations; use site/redisstore or the
// embedded store where that matters.
type MemStore struct {
	mu          sync.Mutex
	sites       map[string]site.Config
	states      map[site.ChargerRef]site.ChargerState
	failUpdates error // see FailStateUpdates
	// indexes rebuilt on every configuration change
	index map[string]site.ChargerRef
	refs  map[site.ChargerRef]bool
}

var _ site.Store = (*MemStore)(nil)

// NewMemStore returns an empty store.
func NewMemStore() *MemStore {
	return &MemStore{sites: map[string]site.Config{}, states: map[site.ChargerRef]site.ChargerState{}, index: map[string]site.ChargerRef{}, refs: map[site.ChargerRef]bool{}}
}

// FailStateUpdates makes every later UpdateChargerState fail with err
// (nil restores normal operation), to test store outages.
func (m *MemStore) FailStateUpdates(err error) {
	m.mu.Lock()
	m.failUpdates = err
	m.mu.Unlock()
}

func cloneConfig(c site.Config) site.Config {
	c.Circuits = slices.Clone(c.Circuits)
	c.Limits = slices.Clone(c.Limits)
	c.Chargers = slices.Clone(c.Chargers)
	for i := range c.Chargers {
		c.Chargers[i].EVSEs = slices.Clone(c.Chargers[i].EVSEs)
	}
	return c
}

// CloneState deep-copies a charger state.
func CloneState(s site.ChargerState) site.ChargerState {
	s.Capabilities.RateUnits = slices.Clone(s.Capabilities.RateUnits)
	if s.EVSEs != nil {
		evs := make(map[int]site.EVSEState, len(s.EVSEs))
		for k, e := range s.EVSEs {
			if e.Transaction != nil {
				t := *e.Transaction
				e.Transaction = &t
			}
			if e.LastSample != nil {
				ls := cloneSample(*e.LastSample)
				e.LastSample = &ls
			}
			evs[k] = e
		}
		s.EVSEs = evs
	}
	return s
}

func cloneSample(s site.MeterSample) site.MeterSample {
	if s.Current != nil {
		c := *s.Current
		s.Current = &c
	}
	if s.Power != nil {
		p := *s.Power
		s.Power = &p
	}
	if s.Energy != nil {
		e := *s.Energy
		s.Energy = &e
	}
	if s.SoC != nil {
		v := *s.SoC
		s.SoC = &v
	}
	return s
}

// CreateSite stores c; generations start at 1.
func (m *MemStore) CreateSite(_ context.Context, c site.Config) (site.Config, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.sites[c.Site.ID]; ok {
		return site.Config{}, fmt.Errorf("memstore: site %s: %w", c.Site.ID, site.ErrAlreadyExists)
	}
	for _, ch := range c.Chargers {
		if _, err := m.byIdentity(ch.OCPPIdentity); err == nil {
			return site.Config{}, fmt.Errorf("memstore: identity %s: %w", ch.OCPPIdentity, site.ErrAlreadyExists)
		}
	}
	c = cloneConfig(c)
	c.Site.Generation = 1
	m.sites[c.Site.ID] = c
	m.reindex()
	return cloneConfig(c), nil
}

// Config returns the site's configuration.
func (m *MemStore) Config(_ context.Context, siteID string) (site.Config, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.sites[siteID]
	if !ok {
		return site.Config{}, fmt.Errorf("memstore: site %s: %w", siteID, site.ErrNotFound)
	}
	return cloneConfig(c), nil
}

// UpdateConfig applies fn under the lock.
func (m *MemStore) UpdateConfig(_ context.Context, siteID string, fn func(*site.Config) error) (site.Config, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.sites[siteID]
	if !ok {
		return site.Config{}, fmt.Errorf("memstore: site %s: %w", siteID, site.ErrNotFound)
	}
	c = cloneConfig(c)
	if err := fn(&c); err != nil {
		return site.Config{}, err
	}
	c.Site.Generation++
	m.sites[siteID] = c
	m.reindex()
	return cloneConfig(c), nil
}

// DeleteSite removes the site and its chargers' state.
func (m *MemStore) DeleteSite(_ context.Context, siteID string, expectGeneration int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.sites[siteID]
	if !ok {
		return fmt.Errorf("memstore: site %s: %w", siteID, site.ErrNotFound)
	}
	if expectGeneration != 0 && expectGeneration != c.Site.Generation {
		return fmt.Errorf("memstore: site %s: %w", siteID, site.ErrConflict)
	}
	delete(m.sites, siteID)
	m.reindex()
	for ref := range m.states {
		if ref.SiteID == siteID {
			delete(m.states, ref)
		}
	}
	return nil
}

// ListSites lists sites by ID.
func (m *MemStore) ListSites(_ context.Context, after string, limit int) ([]site.Site, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []site.Site
	for _, id := range slices.Sorted(maps.Keys(m.sites)) {
		if id > after && (limit <= 0 || len(out) < limit) {
			out = append(out, m.sites[id].Site)
		}
	}
	return out, nil
}

func (m *MemStore) byIdentity(identity string) (site.ChargerRef, error) {
	if ref, ok := m.index[identity]; ok {
		return ref, nil
	}
	return site.ChargerRef{}, fmt.Errorf("memstore: identity %s: %w", identity, site.ErrNotFound)
}

func (m *MemStore) reindex() {
	clear(m.index)
	clear(m.refs)
	for _, c := range m.sites {
		for _, ch := range c.Chargers {
			ref := site.ChargerRef{SiteID: c.Site.ID, ChargerID: ch.ID}
			m.index[ch.OCPPIdentity] = ref
			m.refs[ref] = true
		}
	}
}

// ChargerByIdentity finds a charger by its OCPP identity.
func (m *MemStore) ChargerByIdentity(_ context.Context, identity string) (site.ChargerRef, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.byIdentity(identity)
}

func (m *MemStore) configured(ref site.ChargerRef) bool {
	return m.refs[ref]
}

// ChargerState returns a copy of the charger's live state.
func (m *MemStore) ChargerState(_ context.Context, ref site.ChargerRef) (site.ChargerState, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.configured(ref) {
		return site.ChargerState{}, fmt.Errorf("memstore: %s: %w", ref, site.ErrNotFound)
	}
	return CloneState(m.states[ref]), nil
}

// UpdateChargerState applies fn to a copy and keeps it if fn succeeds.
func (m *MemStore) UpdateChargerState(_ context.Context, ref site.ChargerRef, fn func(*site.ChargerState) error) (site.ChargerState, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failUpdates != nil {
		return site.ChargerState{}, m.failUpdates
	}
	if !m.configured(ref) {
		return site.ChargerState{}, fmt.Errorf("memstore: %s: %w", ref, site.ErrNotFound)
	}
	st := CloneState(m.states[ref])
	if err := fn(&st); err != nil {
		return site.ChargerState{}, err
	}
	m.states[ref] = CloneState(st)
	return st, nil
}

// Close does nothing.
func (m *MemStore) Close() error { return nil }

// AddChargers creates site siteID with one charger per identity (charger
// ID = identity in lower case, two 32 A three-phase EVSEs) and returns
// their refs in order. passwordHash, if not "", is set on every charger.
func (m *MemStore) AddChargers(siteID, passwordHash string, identities ...string) ([]site.ChargerRef, error) {
	cfg := site.Config{Site: site.Site{ID: siteID, GridLimit: site.Uniform(1000)}}
	refs := make([]site.ChargerRef, 0, len(identities))
	for _, id := range identities {
		chID := strings.ToLower(id)
		cfg.Chargers = append(cfg.Chargers, site.Charger{
			SiteID: siteID, ID: chID, OCPPIdentity: id, PasswordHash: passwordHash,
			EVSEs: []site.EVSE{{ID: 1, MaxCurrent: 32, Phases: 3}, {ID: 2, MaxCurrent: 32, Phases: 3}},
		})
		refs = append(refs, site.ChargerRef{SiteID: siteID, ChargerID: chID})
	}
	_, err := m.CreateSite(context.Background(), cfg)
	return refs, err
}

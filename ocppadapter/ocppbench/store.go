package ocppbench

import (
	"context"
	"fmt"
	"maps"
	"sync"

	"github.com/smartcharge/smartcharge/site"
)

// memStore is the in-memory site.Store the benchmark server runs on: the
// adapter's cost is measured, not a store's. Lookups are by map (the test
// store in ocpptest scans every charger, which would dominate with
// thousands of chargers); state updates copy the state and its EVSE map
// as the Store contract asks, so the adapter pays what a correct store
// costs it in memory.
type memStore struct {
	siteID     string
	byIdentity map[string]site.ChargerRef // read-only after construction
	states     map[site.ChargerRef]*stateEntry
}

type stateEntry struct {
	mu sync.Mutex
	st site.ChargerState
}

var _ site.Store = (*memStore)(nil)

func newMemStore(siteID string, identities []string) *memStore {
	s := &memStore{siteID: siteID, byIdentity: make(map[string]site.ChargerRef, len(identities)), states: make(map[site.ChargerRef]*stateEntry, len(identities))}
	for _, id := range identities {
		ref := site.ChargerRef{SiteID: siteID, ChargerID: id}
		s.byIdentity[id] = ref
		s.states[ref] = &stateEntry{}
	}
	return s
}

func (s *memStore) CreateSite(context.Context, site.Config) (site.Config, error) {
	return site.Config{}, fmt.Errorf("ocppbench: store is read-only: %w", site.ErrFailedPrecondition)
}

// Config returns the site with no chargers listed: the benchmark server
// runs security profile 0 and never asks for passwords.
func (s *memStore) Config(_ context.Context, siteID string) (site.Config, error) {
	if siteID != s.siteID {
		return site.Config{}, fmt.Errorf("ocppbench: site %s: %w", siteID, site.ErrNotFound)
	}
	return site.Config{Site: site.Site{ID: s.siteID}}, nil
}

func (s *memStore) UpdateConfig(context.Context, string, func(*site.Config) error) (site.Config, error) {
	return site.Config{}, fmt.Errorf("ocppbench: store is read-only: %w", site.ErrFailedPrecondition)
}

func (s *memStore) DeleteSite(context.Context, string, int64) error {
	return fmt.Errorf("ocppbench: store is read-only: %w", site.ErrFailedPrecondition)
}

func (s *memStore) ListSites(context.Context, string, int) ([]site.Site, error) {
	return []site.Site{{ID: s.siteID}}, nil
}

func (s *memStore) ChargerByIdentity(_ context.Context, identity string) (site.ChargerRef, error) {
	ref, ok := s.byIdentity[identity]
	if !ok {
		return site.ChargerRef{}, fmt.Errorf("ocppbench: identity %s: %w", identity, site.ErrNotFound)
	}
	return ref, nil
}

func cloneState(st site.ChargerState) site.ChargerState {
	if st.EVSEs != nil {
		st.EVSEs = maps.Clone(st.EVSEs)
	}
	return st
}

func (s *memStore) ChargerState(_ context.Context, ref site.ChargerRef) (site.ChargerState, error) {
	e, ok := s.states[ref]
	if !ok {
		return site.ChargerState{}, fmt.Errorf("ocppbench: %s: %w", ref, site.ErrNotFound)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return cloneState(e.st), nil
}

// UpdateChargerState applies fn to a copy and keeps it if fn succeeds.
// Transactions and samples are pointed to, not deep-copied: the adapter
// replaces them rather than writing through them.
func (s *memStore) UpdateChargerState(_ context.Context, ref site.ChargerRef, fn func(*site.ChargerState) error) (site.ChargerState, error) {
	e, ok := s.states[ref]
	if !ok {
		return site.ChargerState{}, fmt.Errorf("ocppbench: %s: %w", ref, site.ErrNotFound)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	st := cloneState(e.st)
	if err := fn(&st); err != nil {
		return site.ChargerState{}, err
	}
	e.st = st
	return cloneState(st), nil
}

func (s *memStore) Close() error { return nil }

package apiserver

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/smartcharge/smartcharge/site"
)

// fakeLoop is a programmable control loop: tests publish allocations,
// read back what the API handed it and make it fail.
type fakeLoop struct {
	mu       sync.Mutex
	views    map[string]site.AllocationView
	watchers map[string]map[chan site.AllocationUpdate]struct{}
	meters   []meterCall
	needs    map[string]site.ChargingNeeds // by EVSE name
	prios    map[string]float64            // by EVSE name
	triggers []string
	// err, when set, is returned by every call but Trigger.
	err error
}

type meterCall struct {
	site    string
	reading site.MeterReading
}

var (
	_ site.AllocationReader = (*fakeLoop)(nil)
	_ site.LoopController   = (*fakeLoop)(nil)
)

func newFakeLoop() *fakeLoop {
	return &fakeLoop{
		views:    map[string]site.AllocationView{},
		watchers: map[string]map[chan site.AllocationUpdate]struct{}{},
		needs:    map[string]site.ChargingNeeds{},
		prios:    map[string]float64{},
	}
}

// Publish makes v the site's allocation and sends it to its watchers
// (whose buffers are large enough for any test: nothing is dropped).
func (f *fakeLoop) Publish(v site.AllocationView) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.views[v.SiteID] = v
	for ch := range f.watchers[v.SiteID] {
		ch <- site.AllocationUpdate{Seq: v.Seq, Allocation: v}
	}
}

// EndWatches closes every watch of a site, as a stopping loop does.
func (f *fakeLoop) EndWatches(siteID string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for ch := range f.watchers[siteID] {
		close(ch)
	}
	delete(f.watchers, siteID)
}

// Watchers counts the open watches of a site.
func (f *fakeLoop) Watchers(siteID string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.watchers[siteID])
}

func (f *fakeLoop) SetErr(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = err
}

func (f *fakeLoop) Triggers() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.triggers)
}

func (f *fakeLoop) ResetTriggers() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.triggers = nil
}

func (f *fakeLoop) Meters() []meterCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.meters)
}

func (f *fakeLoop) Needs(evse string) (site.ChargingNeeds, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, ok := f.needs[evse]
	return n, ok
}

func (f *fakeLoop) Priority(evse string) (float64, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, ok := f.prios[evse]
	return p, ok
}

func (f *fakeLoop) Allocation(_ context.Context, siteID string) (site.AllocationView, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return site.AllocationView{}, f.err
	}
	v, ok := f.views[siteID]
	if !ok {
		return v, site.ErrNotFound
	}
	return v, nil
}

func (f *fakeLoop) Watch(ctx context.Context, siteID string) (<-chan site.AllocationUpdate, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	ch := make(chan site.AllocationUpdate, 256)
	if v, ok := f.views[siteID]; ok {
		ch <- site.AllocationUpdate{Seq: v.Seq, Allocation: v}
	}
	if f.watchers[siteID] == nil {
		f.watchers[siteID] = map[chan site.AllocationUpdate]struct{}{}
	}
	f.watchers[siteID][ch] = struct{}{}
	go func() {
		<-ctx.Done()
		f.mu.Lock()
		defer f.mu.Unlock()
		if _, ok := f.watchers[siteID][ch]; ok {
			delete(f.watchers[siteID], ch)
			close(ch)
		}
	}()
	return ch, nil
}

func (f *fakeLoop) ReportMeter(_ context.Context, siteID string, r site.MeterReading) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	f.meters = append(f.meters, meterCall{siteID, r})
	return nil
}

func (f *fakeLoop) SetNeeds(_ context.Context, ref site.ChargerRef, evse int, n site.ChargingNeeds) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	f.needs[evseName(ref, evse)] = n
	return nil
}

func (f *fakeLoop) SetPriority(_ context.Context, ref site.ChargerRef, evse int, p float64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	f.prios[evseName(ref, evse)] = p
	return nil
}

func (f *fakeLoop) Trigger(siteID string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.triggers = append(f.triggers, siteID)
}

// alphaView is an allocation of the fixture site alpha (see alphaConfig)
// as the loop writes it: EVSE 1 limited by circuit sub on L2, EVSE 2 at
// its maximum.
func alphaView(seq uint64) site.AllocationView {
	return site.AllocationView{
		SiteID: "alpha", Seq: seq, Time: t0.Add(time.Duration(seq) * time.Second), Trigger: "tick",
		Nodes: []site.NodeView{
			{ID: "", Kind: "grid", Limit: site.Uniform(50), OtherLoad: site.PhaseCurrents{10, 12, 8}, Allocated: site.Uniform(32)},
			{ID: "main", Kind: "circuit", Limit: site.Uniform(63), Allocated: site.Uniform(32)},
			{ID: "sub", Kind: "circuit", Limit: site.Uniform(32), Allocated: site.Uniform(32)},
			{ID: "c1", Kind: "charger", Allocated: site.Uniform(32)},
		},
		EVSEs: []site.EVSEView{
			{ChargerID: "c1", EVSE: 1, State: "charging", Limit: 10 + site.Amps(seq), Phases: 3,
				Reason: "limited by circuit sub phase L2", ReasonCode: "PHASE_LIMIT", Accepted: 10, CountedAt: 11,
				Drawn: site.PhaseCurrents{9.5, 9.6, 9.4}},
			{ChargerID: "c1", EVSE: 2, State: "no-car", Reason: "no car", ReasonCode: "NO_CAR"},
		},
		Infeasible: []string{"circuit sub phase L3 over by 1.0 A"},
	}
}

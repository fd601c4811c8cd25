// Package storetest is a conformance suite for site.Store implementations,
// in the manner of testing/slogtest: every store runs the same tests.
//
// An implementation's test calls [Run] with a constructor. newStore is
// called once per subtest and must return a store that holds no sites and
// shares nothing with stores returned before (for example a fresh key
// prefix or database); the suite closes it. The suite uses only the
// site.Store interface.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/smartcharge/smartcharge/site"
)

// Run runs the conformance suite against stores from newStore.
func Run(t *testing.T, newStore func(t *testing.T) site.Store) {
	tests := []struct {
		name string
		fn   func(*testing.T, site.Store)
	}{
		{"CreateAndRead", testCreateAndRead},
		{"CreateDuplicate", testCreateDuplicate},
		{"NotFound", testNotFound},
		{"ListPaging", testListPaging},
		{"UpdateGenerations", testUpdateGenerations},
		{"UpdateNoChange", testUpdateNoChange},
		{"EtagConflict", testEtagConflict},
		{"FnErrorAborts", testFnErrorAborts},
		{"Delete", testDelete},
		{"DeleteRemovesLoopStateAndOutbox", testDeleteSiteData},
		{"DeleteCircuitInUse", testDeleteCircuitInUse},
		{"IdentityUniqueAcrossSites", testIdentityUnique},
		{"IdentityMovesWithinSite", testIdentityMoves},
		{"InvalidLeavesNothing", testInvalidLeavesNothing},
		{"SiteIDCannotChange", testSiteIDCannotChange},
		{"ReturnedValuesOwnedByCaller", testOwnership},
		{"ChargerStateRoundTrip", testChargerState},
		{"ConcurrentConfigUpdates", testConcurrentConfig},
		{"ConcurrentStateUpdates", testConcurrentState},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			tt.fn(t, s)
		})
	}
}

// Config returns a valid site with two circuits, two chargers and a grid
// limit; identities are prefixed with the site ID so sites do not clash.
func Config(siteID string) site.Config {
	return site.Config{
		Site: site.Site{ID: siteID, DisplayName: "Site " + siteID, TimeZone: "UTC", NominalVoltage: 230,
			GridLimit: site.Uniform(63), GridPowerLimit: 40_000},
		Circuits: []site.Circuit{
			{ID: "main", Limit: site.Uniform(50)},
			{ID: "sub", Parent: "main", Limit: site.Uniform(32)},
		},
		Chargers: []site.Charger{
			{ID: "cp-1", OCPPIdentity: siteID + "-CP1", Circuit: "sub", PhaseRotation: site.StandardRotation,
				EVSEs: []site.EVSE{{ID: 1, MaxCurrent: 32, Phases: 3}, {ID: 2, MaxCurrent: 16, MinCurrent: 6, Phases: 1}}},
			{ID: "cp-2", OCPPIdentity: siteID + "-CP2", Circuit: "main", EVSEs: []site.EVSE{{ID: 1, MaxCurrent: 16, Phases: 3}}},
		},
		Limits: []site.GridLimit{{ID: "dso", Source: site.SourceGridOperator, Limit: site.Uniform(40), Reason: "test",
			Start: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), End: time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)}},
	}
}

func ctx(t *testing.T) context.Context { return t.Context() }

func mustCreate(t *testing.T, s site.Store, c site.Config) site.Config {
	t.Helper()
	got, err := s.CreateSite(ctx(t), c)
	if err != nil {
		t.Fatalf("CreateSite(%s): %v", c.Site.ID, err)
	}
	return got
}

func mustConfig(t *testing.T, s site.Store, id string) site.Config {
	t.Helper()
	c, err := s.Config(ctx(t), id)
	if err != nil {
		t.Fatalf("Config(%s): %v", id, err)
	}
	return c
}

func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: error %v, want %v", what, err, target)
	}
}

// equalConfig compares configurations by content, with times compared by
// instant and lists in ID order.
func equalConfig(a, b site.Config) error {
	if fmt.Sprint(canon(a)) != fmt.Sprint(canon(b)) {
		return fmt.Errorf("configs differ:\n got %+v\nwant %+v", canon(a), canon(b))
	}
	return nil
}

func canon(c site.Config) site.Config {
	c.Circuits = slices.Clone(c.Circuits)
	c.Chargers = slices.Clone(c.Chargers)
	c.Limits = slices.Clone(c.Limits)
	slices.SortFunc(c.Circuits, func(a, b site.Circuit) int { return cmpStr(a.ID, b.ID) })
	slices.SortFunc(c.Chargers, func(a, b site.Charger) int { return cmpStr(a.ID, b.ID) })
	slices.SortFunc(c.Limits, func(a, b site.GridLimit) int { return cmpStr(a.ID, b.ID) })
	u := func(t *time.Time) {
		if !t.IsZero() {
			*t = t.UTC().Round(0)
		}
	}
	u(&c.Site.CreateTime)
	u(&c.Site.UpdateTime)
	for i := range c.Circuits {
		u(&c.Circuits[i].CreateTime)
		u(&c.Circuits[i].UpdateTime)
	}
	for i := range c.Chargers {
		u(&c.Chargers[i].CreateTime)
		u(&c.Chargers[i].UpdateTime)
		c.Chargers[i].EVSEs = slices.Clone(c.Chargers[i].EVSEs)
	}
	for i := range c.Limits {
		for _, p := range []*time.Time{&c.Limits[i].CreateTime, &c.Limits[i].UpdateTime, &c.Limits[i].Start, &c.Limits[i].End} {
			u(p)
		}
	}
	return c
}

func cmpStr(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func testCreateAndRead(t *testing.T, s site.Store) {
	in := Config("alpha")
	got := mustCreate(t, s, in)
	if got.Site.Generation != 1 || got.Site.CreateTime.IsZero() || !got.Site.UpdateTime.Equal(got.Site.CreateTime) {
		t.Errorf("site meta after create: gen %d create %v update %v", got.Site.Generation, got.Site.CreateTime, got.Site.UpdateTime)
	}
	for _, c := range got.Circuits {
		if c.Generation != 1 || c.SiteID != "alpha" || c.CreateTime.IsZero() {
			t.Errorf("circuit %s after create: %+v", c.ID, c)
		}
	}
	for _, c := range got.Chargers {
		if c.Generation != 1 || c.SiteID != "alpha" {
			t.Errorf("charger %s after create: %+v", c.ID, c)
		}
	}
	for _, l := range got.Limits {
		if l.Generation != 1 || l.SiteID != "alpha" {
			t.Errorf("limit %s after create: %+v", l.ID, l)
		}
	}
	if len(got.Circuits) != 2 || len(got.Chargers) != 2 || len(got.Limits) != 1 {
		t.Fatalf("create returned %d circuits, %d chargers, %d limits", len(got.Circuits), len(got.Chargers), len(got.Limits))
	}
	if err := equalConfig(mustConfig(t, s, "alpha"), got); err != nil {
		t.Errorf("Config after CreateSite: %v", err)
	}
	// The content is what was given.
	read := canon(mustConfig(t, s, "alpha"))
	if read.Chargers[0].OCPPIdentity != "alpha-CP1" || read.Chargers[0].EVSEs[1].MinCurrent != 6 ||
		read.Circuits[1].Parent != "main" || !read.Limits[0].Start.Equal(in.Limits[0].Start) || read.Site.GridPowerLimit != 40_000 {
		t.Errorf("stored content differs from input: %+v", read)
	}
	ref, err := s.ChargerByIdentity(ctx(t), "alpha-CP2")
	if err != nil || ref != (site.ChargerRef{SiteID: "alpha", ChargerID: "cp-2"}) {
		t.Errorf("ChargerByIdentity = %v, %v", ref, err)
	}
}

func testCreateDuplicate(t *testing.T, s site.Store) {
	mustCreate(t, s, Config("alpha"))
	c := Config("alpha")
	c.Chargers = nil
	_, err := s.CreateSite(ctx(t), c)
	wantErr(t, "second CreateSite", err, site.ErrAlreadyExists)
	if got := mustConfig(t, s, "alpha"); len(got.Chargers) != 2 {
		t.Errorf("duplicate create changed the site: %d chargers", len(got.Chargers))
	}
}

func testNotFound(t *testing.T, s site.Store) {
	_, err := s.Config(ctx(t), "nope")
	wantErr(t, "Config", err, site.ErrNotFound)
	_, err = s.UpdateConfig(ctx(t), "nope", func(*site.Config) error { return nil })
	wantErr(t, "UpdateConfig", err, site.ErrNotFound)
	wantErr(t, "DeleteSite", s.DeleteSite(ctx(t), "nope", 0), site.ErrNotFound)
	_, err = s.ChargerByIdentity(ctx(t), "NOPE")
	wantErr(t, "ChargerByIdentity", err, site.ErrNotFound)
	_, err = s.ChargerState(ctx(t), site.ChargerRef{SiteID: "nope", ChargerID: "cp-1"})
	wantErr(t, "ChargerState", err, site.ErrNotFound)
	_, err = s.Config(ctx(t), "Not/An{ID}")
	wantErr(t, "Config with a malformed ID", err, site.ErrNotFound)
	mustCreate(t, s, Config("alpha"))
	_, err = s.ChargerState(ctx(t), site.ChargerRef{SiteID: "alpha", ChargerID: "cp-9"})
	wantErr(t, "ChargerState of an unknown charger", err, site.ErrNotFound)
	_, err = s.UpdateChargerState(ctx(t), site.ChargerRef{SiteID: "alpha", ChargerID: "cp-9"}, func(*site.ChargerState) error { return nil })
	wantErr(t, "UpdateChargerState of an unknown charger", err, site.ErrNotFound)
}

func testListPaging(t *testing.T, s site.Store) {
	if got, err := s.ListSites(ctx(t), "", 10); err != nil || len(got) != 0 {
		t.Fatalf("ListSites on an empty store = %v, %v", got, err)
	}
	var want []string
	for i := range 7 {
		id := fmt.Sprintf("site-%02d", 6-i) // created out of order
		mustCreate(t, s, Config(id))
		want = append(want, id)
	}
	slices.Sort(want)
	for _, pageSize := range []int{1, 3, 7, 10} {
		var got []string
		after := ""
		for range 20 {
			page, err := s.ListSites(ctx(t), after, pageSize)
			if err != nil {
				t.Fatalf("ListSites(%q, %d): %v", after, pageSize, err)
			}
			if len(page) > pageSize {
				t.Fatalf("ListSites(%q, %d) returned %d", after, pageSize, len(page))
			}
			for _, st := range page {
				got = append(got, st.ID)
				if st.Generation != 1 || st.DisplayName != "Site "+st.ID {
					t.Errorf("listed site %+v", st)
				}
			}
			if len(page) < pageSize {
				break
			}
			after = page[len(page)-1].ID
		}
		if !slices.Equal(got, want) {
			t.Errorf("page size %d: listed %v, want %v", pageSize, got, want)
		}
	}
	page, err := s.ListSites(ctx(t), "site-03", 2)
	if err != nil || len(page) != 2 || page[0].ID != "site-04" || page[1].ID != "site-05" {
		t.Errorf("ListSites(after site-03, 2) = %v, %v", page, err)
	}
}

func testUpdateGenerations(t *testing.T, s site.Store) {
	created := mustCreate(t, s, Config("alpha"))
	got, err := s.UpdateConfig(ctx(t), "alpha", func(c *site.Config) error {
		for i := range c.Chargers {
			if c.Chargers[i].ID == "cp-2" {
				c.Chargers[i].DisplayName = "renamed"
				c.Chargers[i].Generation = 99 // ignored: the store counts
			}
		}
		c.Circuits = append(c.Circuits, site.Circuit{ID: "new", Parent: "main", Limit: site.Uniform(10)})
		return nil
	})
	if err != nil {
		t.Fatalf("UpdateConfig: %v", err)
	}
	gens := map[string]int64{"site": got.Site.Generation}
	for _, c := range got.Circuits {
		gens["circuit/"+c.ID] = c.Generation
	}
	for _, c := range got.Chargers {
		gens["charger/"+c.ID] = c.Generation
	}
	for _, l := range got.Limits {
		gens["limit/"+l.ID] = l.Generation
	}
	want := map[string]int64{"site": 1, "circuit/main": 1, "circuit/sub": 1, "circuit/new": 1, "charger/cp-1": 1, "charger/cp-2": 2, "limit/dso": 1}
	if fmt.Sprint(gens) != fmt.Sprint(want) {
		t.Errorf("generations %v, want %v", gens, want)
	}
	for _, c := range got.Chargers {
		if c.ID == "cp-1" && !c.UpdateTime.Equal(created.Chargers[0].UpdateTime) {
			t.Errorf("unchanged charger's UpdateTime moved")
		}
		if c.ID == "cp-2" && !c.CreateTime.Equal(created.Chargers[1].CreateTime) {
			t.Errorf("changed charger's CreateTime moved")
		}
	}
	if err := equalConfig(mustConfig(t, s, "alpha"), got); err != nil {
		t.Errorf("Config after UpdateConfig: %v", err)
	}
	// The site itself changes: its generation moves.
	got, err = s.UpdateConfig(ctx(t), "alpha", func(c *site.Config) error { c.Site.GridLimit = site.Uniform(60); return nil })
	if err != nil || got.Site.Generation != 2 {
		t.Fatalf("site update: generation %d, %v", got.Site.Generation, err)
	}
	// Removing a charger and a limit.
	got, err = s.UpdateConfig(ctx(t), "alpha", func(c *site.Config) error {
		c.Chargers = slices.DeleteFunc(c.Chargers, func(ch site.Charger) bool { return ch.ID == "cp-1" })
		c.Limits = nil
		return nil
	})
	if err != nil || len(got.Chargers) != 1 || len(got.Limits) != 0 {
		t.Fatalf("removal: %+v, %v", got, err)
	}
	_, err = s.ChargerByIdentity(ctx(t), "alpha-CP1")
	wantErr(t, "identity of a removed charger", err, site.ErrNotFound)
	if c := mustConfig(t, s, "alpha"); len(c.Chargers) != 1 || len(c.Limits) != 0 {
		t.Errorf("after removal read %d chargers %d limits", len(c.Chargers), len(c.Limits))
	}
}

func testUpdateNoChange(t *testing.T, s site.Store) {
	created := mustCreate(t, s, Config("alpha"))
	got, err := s.UpdateConfig(ctx(t), "alpha", func(*site.Config) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	if err := equalConfig(got, created); err != nil {
		t.Errorf("no-op update changed something: %v", err)
	}
}

func testEtagConflict(t *testing.T, s site.Store) {
	mustCreate(t, s, Config("alpha"))
	stale := mustConfig(t, s, "alpha").Site.Generation
	if _, err := s.UpdateConfig(ctx(t), "alpha", func(c *site.Config) error { c.Site.DisplayName = "first"; return nil }); err != nil {
		t.Fatal(err)
	}
	// A caller holding the old etag is refused, and nothing is written.
	_, err := s.UpdateConfig(ctx(t), "alpha", func(c *site.Config) error {
		if c.Site.Generation != stale {
			return fmt.Errorf("etag %d is stale: %w", stale, site.ErrConflict)
		}
		c.Site.DisplayName = "second"
		return nil
	})
	wantErr(t, "update with a stale etag", err, site.ErrConflict)
	cur := mustConfig(t, s, "alpha")
	if cur.Site.DisplayName != "first" {
		t.Errorf("display name %q after a refused update", cur.Site.DisplayName)
	}
	wantErr(t, "DeleteSite with a stale generation", s.DeleteSite(ctx(t), "alpha", stale), site.ErrConflict)
	if err := s.DeleteSite(ctx(t), "alpha", cur.Site.Generation); err != nil {
		t.Errorf("DeleteSite with the current generation: %v", err)
	}
}

func testFnErrorAborts(t *testing.T, s site.Store) {
	mustCreate(t, s, Config("alpha"))
	boom := errors.New("boom")
	_, err := s.UpdateConfig(ctx(t), "alpha", func(c *site.Config) error {
		c.Site.DisplayName = "changed"
		return boom
	})
	if err != boom {
		t.Errorf("UpdateConfig returned %v, want fn's error as is", err)
	}
	if mustConfig(t, s, "alpha").Site.DisplayName != "Site alpha" {
		t.Errorf("aborted update was written")
	}
	ref := site.ChargerRef{SiteID: "alpha", ChargerID: "cp-1"}
	_, err = s.UpdateChargerState(ctx(t), ref, func(st *site.ChargerState) error { st.Connected = true; return boom })
	if err != boom {
		t.Errorf("UpdateChargerState returned %v, want fn's error as is", err)
	}
	if st, _ := s.ChargerState(ctx(t), ref); st.Connected {
		t.Errorf("aborted state update was written")
	}
}

func testDelete(t *testing.T, s site.Store) {
	mustCreate(t, s, Config("alpha"))
	mustCreate(t, s, Config("beta"))
	ref := site.ChargerRef{SiteID: "alpha", ChargerID: "cp-1"}
	if _, err := s.UpdateChargerState(ctx(t), ref, func(st *site.ChargerState) error { st.Connected = true; return nil }); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteSite(ctx(t), "alpha", 0); err != nil {
		t.Fatalf("DeleteSite: %v", err)
	}
	_, err := s.Config(ctx(t), "alpha")
	wantErr(t, "Config after delete", err, site.ErrNotFound)
	_, err = s.ChargerByIdentity(ctx(t), "alpha-CP1")
	wantErr(t, "identity after delete", err, site.ErrNotFound)
	wantErr(t, "second delete", s.DeleteSite(ctx(t), "alpha", 0), site.ErrNotFound)
	list, err := s.ListSites(ctx(t), "", 10)
	if err != nil || len(list) != 1 || list[0].ID != "beta" {
		t.Errorf("ListSites after delete = %v, %v", list, err)
	}
	// The identities are free for another site, and a re-created site
	// starts afresh.
	other := Config("gamma")
	other.Chargers[0].OCPPIdentity = "alpha-CP1"
	mustCreate(t, s, other)
	re := Config("alpha")
	re.Chargers = re.Chargers[1:]
	mustCreate(t, s, re)
	re2, err := s.UpdateConfig(ctx(t), "alpha", func(c *site.Config) error {
		c.Chargers = append(c.Chargers, site.Charger{ID: "cp-1", OCPPIdentity: "alpha-new", EVSEs: []site.EVSE{{ID: 1, MaxCurrent: 16, Phases: 1}}})
		return nil
	})
	if err != nil || re2.Site.Generation != 1 {
		t.Fatalf("re-create: %v gen %d", err, re2.Site.Generation)
	}
	if st, err := s.ChargerState(ctx(t), ref); err != nil || st.Connected {
		t.Errorf("state of a re-created charger = %+v, %v; want zero", st, err)
	}
}

// testDeleteSiteData: a store that also keeps the loop's state
// (site.LoopStateStore) or a delegation outbox (site.OutboxStore) removes
// them with the site, and only the site's; outbox Seqs keep growing when
// the site is created again (a CSMS resuming after an old Seq must not
// skip new commands).
func testDeleteSiteData(t *testing.T, s site.Store) {
	ls, hasLoop := s.(site.LoopStateStore)
	ob, hasOutbox := s.(site.OutboxStore)
	if !hasLoop && !hasOutbox {
		t.Skip("the store keeps neither loop state nor an outbox")
	}
	mustCreate(t, s, Config("alpha"))
	mustCreate(t, s, Config("beta"))
	cmd := site.DelegatedCommand{Ref: site.ChargerRef{SiteID: "alpha", ChargerID: "cp-1"}, Kind: site.DelegatedTrigger,
		Trigger: &site.TriggerRequest{EVSE: 1, What: site.TriggerStatus}}
	var lastSeq uint64
	for _, id := range []string{"alpha", "beta"} {
		if hasLoop {
			if _, err := ls.UpdateLoopState(ctx(t), id, func(st *site.LoopState) error {
				st.Priorities = map[string]float64{"cp-1/1": 2}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
		}
		if hasOutbox {
			for range 3 {
				c := mustEnqueue(t, ob, id, cmd)
				if id == "alpha" {
					lastSeq = c.Seq
				}
			}
		}
	}
	if err := s.DeleteSite(ctx(t), "alpha", 0); err != nil {
		t.Fatalf("DeleteSite: %v", err)
	}
	if hasLoop {
		if st, err := ls.LoopState(ctx(t), "alpha"); err != nil || st.Priorities != nil {
			t.Errorf("loop state after DeleteSite = %+v, %v; want the zero state", st, err)
		}
		if st, err := ls.LoopState(ctx(t), "beta"); err != nil || st.Priorities["cp-1/1"] != 2 {
			t.Errorf("another site's loop state = %+v, %v; want it kept", st, err)
		}
	}
	if hasOutbox {
		if p, err := ob.Pending(ctx(t), "alpha", 0, 10); err != nil || len(p) != 0 {
			t.Errorf("outbox after DeleteSite = %+v, %v; want empty", p, err)
		}
		if p, err := ob.Pending(ctx(t), "beta", 0, 10); err != nil || len(p) != 3 {
			t.Errorf("another site's outbox = %d commands, %v; want 3", len(p), err)
		}
		mustCreate(t, s, Config("alpha"))
		if c := mustEnqueue(t, ob, "alpha", cmd); c.Seq <= lastSeq {
			t.Errorf("Seq %d after delete and re-create, want above %d (Seqs only grow)", c.Seq, lastSeq)
		}
	}
}

func testDeleteCircuitInUse(t *testing.T, s site.Store) {
	created := mustCreate(t, s, Config("alpha"))
	tests := []struct {
		desc   string
		mutate func(*site.Config)
		want   error
	}{
		{"circuit with a child", func(c *site.Config) {
			c.Circuits = slices.DeleteFunc(c.Circuits, func(x site.Circuit) bool { return x.ID == "main" })
		}, site.ErrFailedPrecondition},
		{"circuit with a charger", func(c *site.Config) {
			c.Circuits = slices.DeleteFunc(c.Circuits, func(x site.Circuit) bool { return x.ID == "sub" })
		}, site.ErrFailedPrecondition},
		{"charger on a circuit that never existed", func(c *site.Config) { c.Chargers[0].Circuit = "ghost" }, site.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			_, err := s.UpdateConfig(ctx(t), "alpha", func(c *site.Config) error { tt.mutate(c); return nil })
			wantErr(t, tt.desc, err, tt.want)
			if err := equalConfig(mustConfig(t, s, "alpha"), created); err != nil {
				t.Errorf("refused update changed the site: %v", err)
			}
		})
	}
	// Moving the charger away first makes the deletion fine.
	_, err := s.UpdateConfig(ctx(t), "alpha", func(c *site.Config) error {
		c.Chargers[0].Circuit = "main"
		c.Circuits = slices.DeleteFunc(c.Circuits, func(x site.Circuit) bool { return x.ID == "sub" })
		return nil
	})
	if err != nil {
		t.Errorf("deleting an unused circuit: %v", err)
	}
}

func testIdentityUnique(t *testing.T, s site.Store) {
	mustCreate(t, s, Config("alpha"))
	b := Config("beta")
	b.Chargers[1].OCPPIdentity = "alpha-CP1"
	_, err := s.CreateSite(ctx(t), b)
	wantErr(t, "CreateSite with a taken identity", err, site.ErrAlreadyExists)
	_, err = s.Config(ctx(t), "beta")
	wantErr(t, "site refused for its identity", err, site.ErrNotFound)
	if _, err := s.ChargerByIdentity(ctx(t), "beta-CP1"); !errors.Is(err, site.ErrNotFound) {
		t.Errorf("refused site left identity beta-CP1 claimed: %v", err)
	}
	if list, _ := s.ListSites(ctx(t), "", 10); len(list) != 1 {
		t.Errorf("refused site is listed: %v", list)
	}

	mustCreate(t, s, Config("beta"))
	_, err = s.UpdateConfig(ctx(t), "beta", func(c *site.Config) error { c.Chargers[0].OCPPIdentity = "alpha-CP2"; return nil })
	wantErr(t, "UpdateConfig to a taken identity", err, site.ErrAlreadyExists)
	if ref, err := s.ChargerByIdentity(ctx(t), "alpha-CP2"); err != nil || ref.SiteID != "alpha" {
		t.Errorf("ChargerByIdentity(alpha-CP2) = %v, %v", ref, err)
	}
	if ref, err := s.ChargerByIdentity(ctx(t), "beta-CP1"); err != nil || ref.SiteID != "beta" {
		t.Errorf("refused update lost beta-CP1: %v, %v", ref, err)
	}
	// Once alpha lets go, beta may take it.
	if _, err := s.UpdateConfig(ctx(t), "alpha", func(c *site.Config) error { c.Chargers[1].OCPPIdentity = "alpha-CP2b"; return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateConfig(ctx(t), "beta", func(c *site.Config) error { c.Chargers[0].OCPPIdentity = "alpha-CP2"; return nil }); err != nil {
		t.Fatalf("taking a released identity: %v", err)
	}
	for identity, want := range map[string]site.ChargerRef{
		"alpha-CP2":  {SiteID: "beta", ChargerID: "cp-1"},
		"alpha-CP2b": {SiteID: "alpha", ChargerID: "cp-2"},
	} {
		if ref, err := s.ChargerByIdentity(ctx(t), identity); err != nil || ref != want {
			t.Errorf("ChargerByIdentity(%s) = %v, %v; want %v", identity, ref, err, want)
		}
	}
	if _, err := s.ChargerByIdentity(ctx(t), "beta-CP1"); !errors.Is(err, site.ErrNotFound) {
		t.Errorf("old identity beta-CP1 still resolves: %v", err)
	}
}

func testIdentityMoves(t *testing.T, s site.Store) {
	mustCreate(t, s, Config("alpha"))
	// Swap the two chargers' identities in one update.
	_, err := s.UpdateConfig(ctx(t), "alpha", func(c *site.Config) error {
		c.Chargers[0].OCPPIdentity, c.Chargers[1].OCPPIdentity = c.Chargers[1].OCPPIdentity, c.Chargers[0].OCPPIdentity
		return nil
	})
	if err != nil {
		t.Fatalf("swap identities: %v", err)
	}
	for identity, charger := range map[string]string{"alpha-CP1": "cp-2", "alpha-CP2": "cp-1"} {
		if ref, err := s.ChargerByIdentity(ctx(t), identity); err != nil || ref.ChargerID != charger {
			t.Errorf("ChargerByIdentity(%s) = %v, %v; want %s", identity, ref, err, charger)
		}
	}
}

func testInvalidLeavesNothing(t *testing.T, s site.Store) {
	bad := Config("alpha")
	bad.Circuits[1].Limit = site.Uniform(51) // above its parent
	bad.Chargers[1].EVSEs = nil
	_, err := s.CreateSite(ctx(t), bad)
	wantErr(t, "CreateSite invalid", err, site.ErrInvalid)
	var ve *site.ValidationError
	if !errors.As(err, &ve) || len(ve.Violations) != 4 {
		t.Errorf("want a *ValidationError with 4 violations (3 phases, evses), got %v", err)
	}
	_, err = s.Config(ctx(t), "alpha")
	wantErr(t, "Config of a refused site", err, site.ErrNotFound)
	if _, err := s.ChargerByIdentity(ctx(t), "alpha-CP1"); !errors.Is(err, site.ErrNotFound) {
		t.Errorf("refused site claimed its identity: %v", err)
	}
	if list, _ := s.ListSites(ctx(t), "", 10); len(list) != 0 {
		t.Errorf("refused site is listed: %v", list)
	}

	created := mustCreate(t, s, Config("alpha"))
	_, err = s.UpdateConfig(ctx(t), "alpha", func(c *site.Config) error {
		c.Site.DisplayName = "changed"
		c.Chargers = append(c.Chargers, site.Charger{ID: "cp-3", OCPPIdentity: "alpha-CP3", EVSEs: []site.EVSE{{ID: 1, MaxCurrent: 0, Phases: 3}}})
		return nil
	})
	wantErr(t, "UpdateConfig invalid", err, site.ErrInvalid)
	if err := equalConfig(mustConfig(t, s, "alpha"), created); err != nil {
		t.Errorf("refused update changed the site: %v", err)
	}
	if _, err := s.ChargerByIdentity(ctx(t), "alpha-CP3"); !errors.Is(err, site.ErrNotFound) {
		t.Errorf("refused update claimed its identity: %v", err)
	}
}

func testSiteIDCannotChange(t *testing.T, s site.Store) {
	mustCreate(t, s, Config("alpha"))
	_, err := s.UpdateConfig(ctx(t), "alpha", func(c *site.Config) error { c.Site.ID = "beta"; return nil })
	wantErr(t, "renaming a site", err, site.ErrInvalid)
	_, err = s.Config(ctx(t), "beta")
	wantErr(t, "renamed site", err, site.ErrNotFound)
}

func testOwnership(t *testing.T, s site.Store) {
	in := Config("alpha")
	got := mustCreate(t, s, in)
	in.Chargers[0].EVSEs[0].MaxCurrent = 1 // the caller's input is the caller's
	got.Chargers[0].EVSEs[0].MaxCurrent = 2
	got.Circuits[0].Limit = site.Uniform(1)
	read := mustConfig(t, s, "alpha")
	read.Chargers[0].EVSEs[0].MaxCurrent = 3
	again := canon(mustConfig(t, s, "alpha"))
	if again.Chargers[0].EVSEs[0].MaxCurrent != 32 || again.Circuits[0].Limit != site.Uniform(50) {
		t.Errorf("changing returned values changed the store: %+v", again)
	}
	// What fn sees is a copy: keeping it after fn returns changes nothing.
	var kept *site.Config
	if _, err := s.UpdateConfig(ctx(t), "alpha", func(c *site.Config) error { kept = c; return nil }); err != nil {
		t.Fatal(err)
	}
	kept.Chargers[0].EVSEs[0].MaxCurrent = 4
	if c := canon(mustConfig(t, s, "alpha")); c.Chargers[0].EVSEs[0].MaxCurrent != 32 {
		t.Errorf("changing fn's config after fn returned changed the store")
	}
}

func testChargerState(t *testing.T, s site.Store) {
	mustCreate(t, s, Config("alpha"))
	ref := site.ChargerRef{SiteID: "alpha", ChargerID: "cp-1"}
	st, err := s.ChargerState(ctx(t), ref)
	if err != nil {
		t.Fatalf("ChargerState of a charger never seen: %v", err)
	}
	if st.Connected || st.EVSEs != nil || st.NextTransactionID != 0 {
		t.Errorf("state of a charger never seen = %+v, want zero", st)
	}
	at := time.Date(2026, 5, 1, 12, 0, 0, 123456789, time.UTC)
	cur := [3]site.Amps{15.5, 16, 0}
	power := site.Watts(7200)
	want := site.ChargerState{
		Connected: true, Protocol: "ocpp2.0.1", LastSeen: at, LastBoot: at.Add(-time.Hour),
		Boot:         site.BootInfo{Vendor: "V", Model: "M", SerialNumber: "S", FirmwareVersion: "1.2"},
		Capabilities: site.Capabilities{MaxStackLevel: 9, MaxPeriods: 24, RateUnits: []site.RateUnit{site.UnitAmps, site.UnitWatts}, PhaseRotation: site.StandardRotation},
		EVSEs: map[int]site.EVSEState{
			1: {Status: site.StatusCharging, StatusTime: at, Transaction: &site.Transaction{ID: "42", EVSE: 1, Start: at, Energy: 1000},
				LastSample: &site.MeterSample{Time: at, Current: &cur, Power: &power}},
			2: {Status: site.StatusAvailable},
		},
		NextTransactionID: 42,
	}
	got, err := s.UpdateChargerState(ctx(t), ref, func(st *site.ChargerState) error { *st = want; return nil })
	if err != nil {
		t.Fatalf("UpdateChargerState: %v", err)
	}
	read, err := s.ChargerState(ctx(t), ref)
	if err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]site.ChargerState{"returned": got, "read": read} {
		if fmt.Sprint(canonState(v)) != fmt.Sprint(canonState(want)) {
			t.Errorf("%s state differs:\n got %+v\nwant %+v", name, canonState(v), canonState(want))
		}
	}
	// fn sees the stored state.
	if _, err := s.UpdateChargerState(ctx(t), ref, func(st *site.ChargerState) error {
		if st.NextTransactionID != 42 || st.EVSEs[1].Transaction == nil {
			return fmt.Errorf("fn saw %+v", st)
		}
		st.NextTransactionID++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// Removing the charger removes its state; re-adding starts at zero.
	charger := mustConfig(t, s, "alpha").Chargers[0]
	if _, err := s.UpdateConfig(ctx(t), "alpha", func(c *site.Config) error { c.Chargers = c.Chargers[1:]; return nil }); err != nil {
		t.Fatal(err)
	}
	_, err = s.ChargerState(ctx(t), ref)
	wantErr(t, "state of a removed charger", err, site.ErrNotFound)
	if _, err := s.UpdateConfig(ctx(t), "alpha", func(c *site.Config) error { c.Chargers = append(c.Chargers, charger); return nil }); err != nil {
		t.Fatal(err)
	}
	if st, err := s.ChargerState(ctx(t), ref); err != nil || st.NextTransactionID != 0 {
		t.Errorf("state of a re-added charger = %+v, %v; want zero", st, err)
	}
}

func canonState(st site.ChargerState) string {
	u := func(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
	out := fmt.Sprintf("%v %s %s %s %+v %+v next=%d", st.Connected, st.Protocol, u(st.LastSeen), u(st.LastBoot), st.Boot, st.Capabilities, st.NextTransactionID)
	ids := make([]int, 0, len(st.EVSEs))
	for id := range st.EVSEs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		e := st.EVSEs[id]
		out += fmt.Sprintf(" [%d %v %s", id, e.Status, u(e.StatusTime))
		if e.Transaction != nil {
			tx := *e.Transaction
			out += fmt.Sprintf(" tx=%s/%d/%s/%v", tx.ID, tx.EVSE, u(tx.Start), tx.Energy)
		}
		if e.LastSample != nil {
			m := e.LastSample
			out += " sample=" + u(m.Time)
			if m.Current != nil {
				out += fmt.Sprint(*m.Current)
			}
			if m.Power != nil {
				out += fmt.Sprint(*m.Power)
			}
		}
		out += "]"
	}
	return out
}

// testConcurrentConfig races writers on one site. Each reads the site,
// then updates it with an etag check, incrementing a counter kept in the
// display name. No update may be lost: the counter ends at the number of
// updates that reported success.
func testConcurrentConfig(t *testing.T, s site.Store) {
	c := Config("alpha")
	c.Site.DisplayName = "0"
	mustCreate(t, s, c)
	const workers, perWorker = 6, 8
	var (
		wg        sync.WaitGroup
		mu        sync.Mutex
		successes int
		conflicts int
	)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWorker {
				read, err := s.Config(ctx(t), "alpha")
				if err != nil {
					t.Errorf("worker %d: Config: %v", w, err)
					return
				}
				etag := read.Site.Generation
				withEtag := i%2 == 0 // half check the etag, half increment whatever is there
				_, err = s.UpdateConfig(ctx(t), "alpha", func(c *site.Config) error {
					if withEtag && c.Site.Generation != etag {
						return fmt.Errorf("etag: %w", site.ErrConflict)
					}
					n, err := strconv.Atoi(c.Site.DisplayName)
					if err != nil {
						return err
					}
					c.Site.DisplayName = strconv.Itoa(n + 1)
					return nil
				})
				mu.Lock()
				switch {
				case err == nil:
					successes++
				case errors.Is(err, site.ErrConflict):
					conflicts++
				default:
					t.Errorf("worker %d: UpdateConfig: %v", w, err)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	final := mustConfig(t, s, "alpha")
	n, _ := strconv.Atoi(final.Site.DisplayName)
	if n != successes {
		t.Errorf("counter %d after %d successful updates (%d conflicts): an update was lost", n, successes, conflicts)
	}
	if final.Site.Generation != int64(successes)+1 {
		t.Errorf("site generation %d after %d successful updates", final.Site.Generation, successes)
	}
	if successes == 0 {
		t.Errorf("no update succeeded")
	}
	t.Logf("%d successful updates, %d conflicts", successes, conflicts)
}

func testConcurrentState(t *testing.T, s site.Store) {
	mustCreate(t, s, Config("alpha"))
	ref := site.ChargerRef{SiteID: "alpha", ChargerID: "cp-2"}
	const workers, perWorker = 6, 8
	var (
		wg        sync.WaitGroup
		mu        sync.Mutex
		successes int64
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range perWorker {
				_, err := s.UpdateChargerState(ctx(t), ref, func(st *site.ChargerState) error { st.NextTransactionID++; return nil })
				if err != nil && !errors.Is(err, site.ErrConflict) {
					t.Errorf("UpdateChargerState: %v", err)
				}
				if err == nil {
					mu.Lock()
					successes++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	st, err := s.ChargerState(ctx(t), ref)
	if err != nil {
		t.Fatal(err)
	}
	if st.NextTransactionID != successes || successes == 0 {
		t.Errorf("NextTransactionID %d after %d successful increments", st.NextTransactionID, successes)
	}
}

package redisstore_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/smartcharge/smartcharge/site"
	"github.com/smartcharge/smartcharge/site/redisstore"
	"github.com/smartcharge/smartcharge/site/storetest/redistest"
)

type fixedClock struct{ t time.Time }

func (c fixedClock) Now() time.Time { return c.t }

var planT0 = time.Date(2026, 11, 25, 6, 0, 0, 0, time.UTC)

func planBackends() []struct {
	desc string
	open func(t *testing.T) *redisstore.Store
} {
	return []struct {
		desc string
		open func(t *testing.T) *redisstore.Store
	}{
		{"miniredis", func(t *testing.T) *redisstore.Store {
			addr := miniredis.RunT(t).Addr()
			s := redisstore.New(redis.NewClient(&redis.Options{Addr: addr}), &redisstore.Options{Clock: fixedClock{planT0}})
			t.Cleanup(func() { _ = s.Close() })
			return s
		}},
		{"redis-server", func(t *testing.T) *redisstore.Store {
			addr := redistest.Start(t)
			s := redisstore.New(redis.NewClient(&redis.Options{Addr: addr}), &redisstore.Options{Clock: fixedClock{planT0}})
			t.Cleanup(func() { _ = s.Close() })
			return s
		}},
		{"redis-cluster", func(t *testing.T) *redisstore.Store {
			srv := redistest.StartServer(t, &redistest.Options{Cluster: true})
			s := redisstore.New(redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{srv.Addr}}), &redisstore.Options{Clock: fixedClock{planT0}})
			t.Cleanup(func() { _ = s.Close() })
			return s
		}},
	}
}

func TestPlanInputsStore(t *testing.T) {
	for _, b := range planBackends() {
		t.Run(b.desc, func(t *testing.T) {
			ctx := context.Background()
			s := b.open(t)
			in, err := s.PlanInputs(ctx, "depot")
			if err != nil || in.Seq != 0 || in.Prices.Import != nil {
				t.Fatalf("fresh site: %+v, %v", in, err)
			}
			prices := []site.SeriesPoint{{Start: planT0, Value: 0.3}, {Start: planT0.Add(time.Hour), Value: 0.1}}
			got, err := s.UpdatePlanInputs(ctx, "depot", func(in *site.PlanInputs) error {
				in.Prices = site.PriceSeries{Currency: "EUR", Import: prices}
				in.Settings.Slot = 30 * time.Minute
				return nil
			})
			if err != nil || got.Seq != 1 || !got.UpdateTime.Equal(planT0) {
				t.Fatalf("first update: seq %d time %v, %v", got.Seq, got.UpdateTime, err)
			}
			got, err = s.UpdatePlanInputs(ctx, "depot", func(in *site.PlanInputs) error {
				in.Limits.Windows = []site.LimitWindow{{Node: "c1", From: planT0, Until: planT0.Add(time.Hour), Limit: site.Uniform(20), Source: site.SourceOwner}}
				return nil
			})
			if err != nil || got.Seq != 2 {
				t.Fatalf("second update: seq %d, %v", got.Seq, err)
			}
			read, err := s.PlanInputs(ctx, "depot")
			if err != nil || read.Seq != 2 || len(read.Prices.Import) != 2 || read.Prices.Import[1].Value != 0.1 ||
				!read.Prices.Import[1].Start.Equal(planT0.Add(time.Hour)) || read.Settings.Slot != 30*time.Minute ||
				len(read.Limits.Windows) != 1 || read.Limits.Windows[0].Limit[2] != 20 {
				t.Fatalf("read back %+v, %v", read, err)
			}
			// invalid: nothing written, the violation named
			_, err = s.UpdatePlanInputs(ctx, "depot", func(in *site.PlanInputs) error {
				in.Settings.Slot = 7 * time.Minute
				return nil
			})
			var ve *site.ValidationError
			if !errors.As(err, &ve) || ve.Violations[0].Field != "settings.slot" {
				t.Fatalf("invalid update: %v", err)
			}
			boom := errors.New("boom")
			if _, err := s.UpdatePlanInputs(ctx, "depot", func(in *site.PlanInputs) error { in.Prices = site.PriceSeries{}; return boom }); !errors.Is(err, boom) {
				t.Fatalf("fn error: %v", err)
			}
			if read, _ := s.PlanInputs(ctx, "depot"); read.Seq != 2 || read.Settings.Slot != 30*time.Minute || read.Prices.Import == nil {
				t.Fatalf("refused updates were written: %+v", read)
			}
			if _, err := s.PlanInputs(ctx, "Bad ID!"); !errors.Is(err, site.ErrNotFound) {
				t.Fatalf("bad id: %v", err)
			}
		})
	}
}

// TestPlanInputsConcurrent: concurrent updates are all applied (WATCH and
// retry), each with its own Seq.
func TestPlanInputsConcurrent(t *testing.T) {
	s := redisstore.New(redis.NewClient(&redis.Options{Addr: redistest.Start(t)}), &redisstore.Options{MaxAttempts: 100})
	defer s.Close()
	const n = 12
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.UpdatePlanInputs(context.Background(), "depot", func(in *site.PlanInputs) error {
				if in.Targets == nil {
					in.Targets = map[string]site.SoCTarget{}
				}
				in.Targets["c1/"+string(rune('a'+i))] = site.SoCTarget{TargetSoC: 80, BatteryCapacity: 50000}
				return nil
			})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	in, err := s.PlanInputs(context.Background(), "depot")
	if err != nil || in.Seq != n || len(in.Targets) != n {
		t.Fatalf("after %d concurrent updates: seq %d, %d targets, %v", n, in.Seq, len(in.Targets), err)
	}
}

func storedPlan(siteID string) site.Plan {
	return site.Plan{
		SiteID: siteID, ComputedAt: planT0, Trigger: "test", Start: planT0, Slot: 15 * time.Minute, Slots: 2,
		Energy: 5000, Cost: 1.25, Currency: "EUR",
		Sessions: []site.SessionPlan{{ChargerID: "c1", EVSE: 1, TransactionID: "7", Departure: planT0.Add(time.Hour),
			Need: 5000, Source: site.NeedEnergy, Energy: 5000, Met: true, Current: []site.Amps{16, 16},
			Periods: []site.PlanPeriod{{Start: planT0, Limit: 16, Unit: site.UnitAmps, Phases: 3}},
			WhyNot:  []site.WhyNot{{From: 0, To: 1, Code: "max-current", Reason: "at its maximum"}}}},
		Nodes:    []site.NodePlan{{Kind: "grid", Ours: make([]site.PhaseCurrents, 2), Total: make([]site.PhaseCurrents, 2)}},
		Baseline: map[string]site.Baseline{"c1/1": {TransactionID: "7", Need: 6000, Delivered: 1000}},
	}
}

func TestPlanStore(t *testing.T) {
	for _, b := range planBackends() {
		t.Run(b.desc, func(t *testing.T) {
			ctx := context.Background()
			s := b.open(t)
			if _, err := s.Plan(ctx, "depot"); !errors.Is(err, site.ErrNotFound) {
				t.Fatalf("no plan yet: %v", err)
			}
			for want := uint64(1); want <= 3; want++ {
				p := storedPlan("depot")
				p.Seq = 99 // ignored: the store sets it
				p.Cost = float64(want)
				got, err := s.PutPlan(ctx, "depot", p)
				if err != nil || got.Seq != want {
					t.Fatalf("put %d: seq %d, %v", want, got.Seq, err)
				}
			}
			got, err := s.Plan(ctx, "depot")
			if err != nil || got.Seq != 3 || got.Cost != 3 || len(got.Sessions) != 1 || got.Sessions[0].Periods[0].Limit != 16 ||
				!got.Sessions[0].Departure.Equal(planT0.Add(time.Hour)) || got.Baseline["c1/1"].Delivered != 1000 || got.Sessions[0].WhyNot[0].Code != "max-current" {
				t.Fatalf("read back %+v, %v", got, err)
			}
			bad := storedPlan("depot")
			bad.Slots = 3
			var ve *site.ValidationError
			if _, err := s.PutPlan(ctx, "depot", bad); !errors.As(err, &ve) {
				t.Fatalf("invalid plan: %v", err)
			}
			if _, err := s.PutPlan(ctx, "depot", storedPlan("other")); !errors.Is(err, site.ErrInvalid) {
				t.Fatalf("plan of another site: %v", err)
			}
			if got, _ := s.Plan(ctx, "depot"); got.Seq != 3 {
				t.Fatalf("refused plans were stored: seq %d", got.Seq)
			}
			if err := s.DeletePlanning(ctx, "depot"); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Plan(ctx, "depot"); !errors.Is(err, site.ErrNotFound) {
				t.Fatalf("after DeletePlanning: %v", err)
			}
		})
	}
}

// TestPlanDeletedWithSite: DeleteSite removes the plan and its inputs.
func TestPlanDeletedWithSite(t *testing.T) {
	ctx := context.Background()
	addr := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	s := redisstore.New(rdb, nil)
	defer s.Close()
	cfg := site.Config{Site: site.Site{ID: "depot", GridLimit: site.Uniform(63)}}
	if _, err := s.CreateSite(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdatePlanInputs(ctx, "depot", func(in *site.PlanInputs) error { in.Settings.DefaultEnergy = 1000; return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutPlan(ctx, "depot", storedPlan("depot")); err != nil {
		t.Fatal(err)
	}
	if n := rdb.Exists(ctx, "sc:{site:depot}:plan", "sc:{site:depot}:plan:inputs").Val(); n != 2 {
		t.Fatalf("key layout: %d of the two plan keys exist", n)
	}
	if err := s.DeleteSite(ctx, "depot", 0); err != nil {
		t.Fatal(err)
	}
	if n := rdb.Exists(ctx, "sc:{site:depot}:plan", "sc:{site:depot}:plan:inputs").Val(); n != 0 {
		t.Fatalf("%d plan keys left after DeleteSite", n)
	}
}

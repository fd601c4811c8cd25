package redisstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/smartcharge/smartcharge/site"
	"github.com/smartcharge/smartcharge/site/redisstore"
	"github.com/smartcharge/smartcharge/site/storetest/redistest"
)

func TestLoopStateRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		desc string
		addr func(t *testing.T) string
	}{
		{"miniredis", func(t *testing.T) string { return miniredis.RunT(t).Addr() }},
		{"redis-server", func(t *testing.T) string { return redistest.Start(t) }},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			ctx := context.Background()
			s := redisstore.New(redis.NewClient(&redis.Options{Addr: tc.addr(t)}), nil)
			defer s.Close()
			st, err := s.LoopState(ctx, "depot")
			if err != nil || st.Allocation != nil || st.Meters != nil {
				t.Fatalf("fresh site: %+v, %v", st, err)
			}
			at := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
			_, err = s.UpdateLoopState(ctx, "depot", func(ls *site.LoopState) error {
				ls.Meters = map[string]site.MeterReading{"": {Time: at, Current: site.PhaseCurrents{10, 11, -2}}}
				ls.Quirks = map[string]site.ModelQuirks{"ACME/One": {AnswersWatts: true, Unit: site.UnitWatts}}
				ls.Allocation = &site.AllocationView{SiteID: "depot", Seq: 7, EVSEs: []site.EVSEView{{ChargerID: "c1", EVSE: 1, Limit: 16, Reason: "at EVSE maximum"}}}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			got, err := s.LoopState(ctx, "depot")
			if err != nil {
				t.Fatal(err)
			}
			if got.Allocation == nil || got.Allocation.Seq != 7 || got.Allocation.EVSEs[0].Limit != 16 ||
				got.Meters[""].Current[2] != -2 || !got.Meters[""].Time.Equal(at) || !got.Quirks["ACME/One"].AnswersWatts {
				t.Fatalf("read back %+v", got)
			}
			boom := errors.New("boom")
			if _, err := s.UpdateLoopState(ctx, "depot", func(ls *site.LoopState) error { ls.Meters = nil; return boom }); !errors.Is(err, boom) {
				t.Fatalf("fn error: got %v", err)
			}
			if got, _ := s.LoopState(ctx, "depot"); got.Meters == nil {
				t.Fatal("aborted update was written")
			}
			if _, err := s.LoopState(ctx, "Bad ID!"); !errors.Is(err, site.ErrNotFound) {
				t.Fatalf("bad id: %v", err)
			}
		})
	}
}

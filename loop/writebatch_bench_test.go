package loop

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/smartcharge/smartcharge/site"
	"github.com/smartcharge/smartcharge/site/redisstore"
	"github.com/smartcharge/smartcharge/site/storetest/redistest"
)

// BenchmarkChargerWriteBatch: one batch of 1,000 charger loop-state writes
// as persistChargers makes them (storeWorkers at a time) on a real
// redis-server: how long a must-write batch (raises, renewals falling due
// together) holds the loop goroutine.
func BenchmarkChargerWriteBatch(b *testing.B) {
	addr := redistest.Start(b)
	st := redisstore.New(redis.NewClient(&redis.Options{Addr: addr, PoolSize: 100}), nil)
	defer st.Close()
	const n = 1000
	conf := depot(10000, n)
	if _, err := st.CreateSite(context.Background(), conf); err != nil {
		b.Fatal(err)
	}
	rec := func(seq int64) *site.ProfileRecord {
		return &site.ProfileRecord{Seq: seq, Limit: 9.1, Value: 9.1, Purpose: site.PurposeTx, StackLevel: 1, ProfileID: 3001,
			Sent: t0, Answered: t0, Expires: t0.Add(10 * time.Minute), TransactionID: "tx-123456"}
	}
	loopState := &site.ChargerLoopState{NextSeq: 10, EVSEs: map[int]*site.EVSELoopState{1: {
		Fallback: site.ProfileSlot{Accepted: rec(1)}, TxDefault: site.ProfileSlot{Accepted: rec(2)},
		Tx: site.ProfileSlot{Accepted: rec(3), Pending: []site.ProfileRecord{*rec(4)}}, Target: 9.1}}}
	b.ResetTimer()
	for range b.N {
		parallel(n, func(i int) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_, err := st.UpdateChargerState(ctx, site.ChargerRef{SiteID: "depot", ChargerID: conf.Chargers[i].ID}, func(s *site.ChargerState) error {
				s.Loop = loopState
				return nil
			})
			if err != nil {
				b.Error(err)
			}
		})
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/batch")
}

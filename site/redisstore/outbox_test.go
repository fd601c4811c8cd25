package redisstore_test

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/smartcharge/smartcharge/site"
	"github.com/smartcharge/smartcharge/site/redisstore"
	"github.com/smartcharge/smartcharge/site/storetest"
	"github.com/smartcharge/smartcharge/site/storetest/redistest"
)

func outboxOn(addr string) func(t *testing.T) site.OutboxStore {
	var n atomic.Int64
	return func(t *testing.T) site.OutboxStore {
		s := redisstore.New(redis.NewClient(&redis.Options{Addr: addr}), &redisstore.Options{KeyPrefix: fmt.Sprintf("ob%d", n.Add(1))})
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
}

func TestOutboxConformanceMiniredis(t *testing.T) {
	storetest.RunOutbox(t, outboxOn(miniredis.RunT(t).Addr()))
}

func TestOutboxConformanceRedisServer(t *testing.T) {
	storetest.RunOutbox(t, outboxOn(redistest.Start(t)))
}

// TestOutboxSurvivesRestart: unacknowledged commands and the seq counter
// are in Redis, so a new store (a restarted daemon) sees them.
func TestOutboxSurvivesRestart(t *testing.T) {
	addr := redistest.Start(t)
	open := func() *redisstore.Store {
		return redisstore.New(redis.NewClient(&redis.Options{Addr: addr}), &redisstore.Options{KeyPrefix: "restart"})
	}
	a := open()
	for range 3 {
		if _, err := a.Enqueue(t.Context(), "s1", site.DelegatedCommand{Kind: site.DelegatedTrigger, Trigger: &site.TriggerRequest{EVSE: 1, What: site.TriggerStatus}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.Acknowledge(t.Context(), "s1", 1); err != nil {
		t.Fatal(err)
	}
	_ = a.Close()
	b := open()
	defer b.Close()
	got, err := b.Pending(t.Context(), "s1", 0, 10)
	if err != nil || len(got) != 2 || got[0].Seq != 2 || got[1].Seq != 3 {
		t.Fatalf("after reopening: pending %+v, %v; want seqs 2 and 3", got, err)
	}
	c, err := b.Enqueue(t.Context(), "s1", site.DelegatedCommand{Kind: site.DelegatedTrigger, Trigger: &site.TriggerRequest{EVSE: 1, What: site.TriggerStatus}})
	if err != nil || c.Seq != 4 {
		t.Fatalf("next seq after reopening = %d, %v; want 4", c.Seq, err)
	}
}

package ocppadapter_test

import (
	"context"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/smartcharge/smartcharge/ocppadapter"
	"github.com/smartcharge/smartcharge/ocppadapter/ocpptest"
	"github.com/smartcharge/smartcharge/site"
	"github.com/smartcharge/smartcharge/site/redisstore"
	"github.com/smartcharge/smartcharge/site/storetest/redistest"
)

// The adapter on the real Redis store (a redis-server process): a running
// 1.6 transaction and the transaction-id counter survive a restart of the
// adapter, and the restarted adapter stops the transaction it never saw
// start.
func TestRedisStoreSurvivesRestart(t *testing.T) {
	addr := redistest.Start(t)
	store := redisstore.New(redis.NewClient(&redis.Options{Addr: addr}), nil)
	t.Cleanup(func() { store.Close() })
	ctx := ctxT(t)
	if _, err := store.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	_, err := store.CreateSite(ctx, site.Config{
		Site: site.Site{ID: "depot", GridLimit: site.Uniform(100), TimeZone: "Europe/Berlin"},
		Chargers: []site.Charger{{SiteID: "depot", ID: "cp1", OCPPIdentity: "CP1",
			EVSEs: []site.EVSE{{ID: 1, MaxCurrent: 32, Phases: 3}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	ref := site.ChargerRef{SiteID: "depot", ChargerID: "cp1"}

	// First adapter: boot and start a transaction.
	events := ocpptest.NewRecorder()
	h1 := ocpptest.Start(t, ocpptest.Options{Config: ocppadapter.Config{Store: store, Events: events, SkipCapabilityRead: true}})
	c1 := h1.Dial(t, "CP1", v16opts())
	boot16(t, c1)
	resp := call(t, c1, "StartTransaction", map[string]any{"connectorId": 1, "idTag": "T", "meterStart": 100, "timestamp": "2026-01-01T08:00:00Z"})
	if resp["transactionId"] != 1.0 {
		t.Fatalf("first transaction id %v", resp["transactionId"])
	}
	c1.Close()
	h1.Server.Close()

	// Second adapter on the same Redis.
	events2 := ocpptest.NewRecorder()
	h2 := ocpptest.Start(t, ocpptest.Options{Config: ocppadapter.Config{Store: store, Events: events2, SkipCapabilityRead: true}})
	c2 := h2.Dial(t, "CP1", v16opts())
	call(t, c2, "StopTransaction", map[string]any{"transactionId": 1, "meterStop": 5100, "timestamp": "2026-01-01T09:00:00Z"})
	stopped := ocpptest.WaitFor[site.TransactionStopped](t, events2, 0, wait, nil)
	if stopped.Transaction.EVSE != 1 || stopped.Transaction.Energy != 5000 || stopped.Transaction.IDTag != "T" {
		t.Fatalf("stopped after restart %+v", stopped.Transaction)
	}
	resp = call(t, c2, "StartTransaction", map[string]any{"connectorId": 1, "idTag": "T", "meterStart": 5100, "timestamp": "2026-01-01T10:00:00Z"})
	if resp["transactionId"] != 2.0 {
		t.Fatalf("transaction id after restart %v, want 2", resp["transactionId"])
	}
	st, err := store.ChargerState(context.Background(), ref)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Connected || st.NextTransactionID != 2 || st.EVSEs[1].Transaction == nil || st.EVSEs[1].Transaction.ID != "2" {
		t.Fatalf("state %+v", st)
	}
}

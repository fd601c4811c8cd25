package ocppadapter_test

import (
	"testing"
	"time"

	"github.com/smartcharge/smartcharge/ocppadapter"
	"github.com/smartcharge/smartcharge/ocppadapter/ocpptest"
	"github.com/smartcharge/smartcharge/site"
)

func meter16(energy string) map[string]any {
	return map[string]any{"connectorId": 1, "meterValue": []any{map[string]any{
		"timestamp":    "2026-01-01T10:01:00Z",
		"sampledValue": []any{map[string]any{"value": energy, "measurand": "Energy.Active.Import.Register", "unit": "Wh"}},
	}}}
}

// storedEnergy reads EVSE 1's last sample and transaction energy from the store.
func storedEnergy(t *testing.T, h *ocpptest.Harness, ref site.ChargerRef) (sample, tx float64) {
	t.Helper()
	st, err := h.Store.ChargerState(ctxT(t), ref)
	if err != nil {
		t.Fatal(err)
	}
	ev := st.EVSEs[1]
	if ev.LastSample != nil && ev.LastSample.Energy != nil {
		sample = float64(*ev.LastSample.Energy)
	}
	if ev.Transaction != nil {
		tx = float64(ev.Transaction.Energy)
	}
	return sample, tx
}

func startedCharger(t *testing.T, persist time.Duration) (*ocpptest.Harness, *ocpptest.Client, site.ChargerRef) {
	h := ocpptest.Start(t, ocpptest.Options{Identities: []string{"CP1"}, Config: ocppadapter.Config{SkipCapabilityRead: true, MeterPersistInterval: persist}})
	c := h.Dial(t, "CP1", v16opts())
	boot16(t, c)
	call(t, c, "StartTransaction", map[string]any{"connectorId": 1, "idTag": "T", "meterStart": 1000, "timestamp": "2026-01-01T10:00:00Z"})
	return h, c, h.Refs["CP1"]
}

// MeterValues (1.6 section 4.7, 2.0.1 J01) within MeterPersistInterval:
// the events go out at once, the store gets the newest sample later.
func TestMeterSamplesCoalesced(t *testing.T) {
	t.Run("first sample written before the answer, the next deferred, events at once", func(t *testing.T) {
		h, c, ref := startedCharger(t, time.Hour)
		call(t, c, "MeterValues", meter16("1500"))
		if s, tx := storedEnergy(t, h, ref); s != 1500 || tx != 500 {
			t.Fatalf("after the first sample: stored sample %v, transaction energy %v; want 1500, 500", s, tx)
		}
		n := h.Events.Len()
		call(t, c, "MeterValues", meter16("1700"))
		u := ocpptest.WaitFor[site.TransactionUpdated](t, h.Events, n, wait, nil)
		if u.Transaction.Energy != 700 {
			t.Fatalf("TransactionUpdated energy %v, want 700", u.Transaction.Energy)
		}
		if s, tx := storedEnergy(t, h, ref); s != 1500 || tx != 500 {
			t.Fatalf("deferred sample already stored: %v, %v", s, tx)
		}
		// The next other state change writes it first.
		call(t, c, "StatusNotification", map[string]any{"connectorId": 1, "errorCode": "NoError", "status": "Charging"})
		if s, tx := storedEnergy(t, h, ref); s != 1700 || tx != 700 {
			t.Fatalf("after StatusNotification: stored %v, %v; want 1700, 700", s, tx)
		}
	})
	t.Run("written when the interval is up", func(t *testing.T) {
		h, c, ref := startedCharger(t, 200*time.Millisecond)
		call(t, c, "MeterValues", meter16("1500"))
		call(t, c, "MeterValues", meter16("1800"))
		deadline := time.Now().Add(wait)
		for {
			if s, tx := storedEnergy(t, h, ref); s == 1800 && tx == 800 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("deferred sample not written after the interval")
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
	t.Run("written when the charger disconnects", func(t *testing.T) {
		h, c, ref := startedCharger(t, time.Hour)
		call(t, c, "MeterValues", meter16("1500"))
		call(t, c, "MeterValues", meter16("1900"))
		n := h.Events.Len()
		c.Close()
		ocpptest.WaitFor[site.ChargerDisconnected](t, h.Events, n, wait, nil)
		if s, tx := storedEnergy(t, h, ref); s != 1900 || tx != 900 {
			t.Fatalf("after disconnect: stored %v, %v; want 1900, 900", s, tx)
		}
	})
	t.Run("StopTransaction after a deferred sample", func(t *testing.T) {
		h, c, ref := startedCharger(t, time.Hour)
		call(t, c, "MeterValues", meter16("1500"))
		call(t, c, "MeterValues", meter16("1900"))
		n := h.Events.Len()
		call(t, c, "StopTransaction", map[string]any{"transactionId": 1, "meterStop": 2000, "timestamp": "2026-01-01T11:00:00Z"})
		stop := ocpptest.WaitFor[site.TransactionStopped](t, h.Events, n, wait, nil)
		if stop.Transaction.Energy != 1000 {
			t.Fatalf("stopped with energy %v, want 1000", stop.Transaction.Energy)
		}
		st, err := h.Store.ChargerState(ctxT(t), ref)
		if err != nil {
			t.Fatal(err)
		}
		if ev := st.EVSEs[1]; ev.Transaction != nil || ev.LastSample == nil || *ev.LastSample.Energy != 1900 {
			t.Fatalf("after StopTransaction: %+v", ev)
		}
	})
	t.Run("negative interval writes every sample before the answer", func(t *testing.T) {
		h, c, ref := startedCharger(t, -1)
		for _, e := range []string{"1500", "1600", "1700"} {
			call(t, c, "MeterValues", meter16(e))
		}
		if s, tx := storedEnergy(t, h, ref); s != 1700 || tx != 700 {
			t.Fatalf("stored %v, %v; want 1700, 700", s, tx)
		}
	})
}

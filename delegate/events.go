package delegate

import (
	"context"
	"fmt"

	"github.com/smartcharge/smartcharge/site"
)

// Report stores what a CSMS reported of the site's chargers, one event
// after the other, and publishes each to Config.Events once it is stored,
// as the OCPP adapter does for chargers connected to it. It returns how
// many events were stored and published before an error; the caller
// reports that count so the CSMS sends the rest again. Events for
// chargers of another site are a *site.ValidationError; for chargers not
// configured, site.ErrNotFound (from the store).
func (h *Hub) Report(ctx context.Context, siteID string, events []site.Event) (int, error) {
	for i, ev := range events {
		if ev == nil {
			return i, badEvent(i, "", "required")
		}
		if ref := ev.Charger(); ref.SiteID != siteID {
			return i, badEvent(i, "charger", "must be a charger of sites/%s, not %s", siteID, ref)
		}
	}
	for i, ev := range events {
		pub, err := h.apply(ctx, ev)
		if err != nil {
			return i, fmt.Errorf("delegate: events[%d] (%s): %w", i, ev.Charger(), err)
		}
		h.mu.Lock()
		h.reported[ev.Charger()] = true
		h.mu.Unlock()
		for _, p := range pub {
			h.cfg.Events.Publish(p)
		}
	}
	return len(events), nil
}

func badEvent(i int, field, rule string, args ...any) error {
	v := &site.ValidationError{}
	f := fmt.Sprintf("events[%d]", i)
	if field != "" {
		f += "." + field
	}
	v.Add(f, rule, args...)
	return v
}

// apply writes one event to the charger's live state, mirroring the OCPP
// adapter, and returns the events to publish (an event may imply
// others: a meter sample updates its transaction's energy).
func (h *Hub) apply(ctx context.Context, ev site.Event) ([]site.Event, error) {
	ref := ev.Charger()
	now := h.cfg.Clock.Now()
	update := func(fn func(*site.ChargerState)) error {
		_, err := h.cfg.Store.UpdateChargerState(ctx, ref, func(st *site.ChargerState) error {
			if st.EVSEs == nil {
				st.EVSEs = map[int]site.EVSEState{}
			}
			st.LastSeen = now
			fn(st)
			return nil
		})
		return err
	}
	pub := []site.Event{ev}
	var err error
	switch e := ev.(type) {
	case site.ChargerConnected:
		err = update(func(st *site.ChargerState) { st.Connected, st.Protocol = true, e.Protocol })
	case site.ChargerDisconnected:
		err = update(func(st *site.ChargerState) { st.Connected = false })
	case site.ChargerBooted:
		err = update(func(st *site.ChargerState) {
			st.Connected, st.Boot, st.LastBoot = true, e.Boot, e.At()
		})
	case site.ChargerCapabilitiesRead:
		err = update(func(st *site.ChargerState) { st.Capabilities = e.Capabilities })
	case site.EVSEStatusChanged:
		err = update(func(st *site.ChargerState) {
			s := st.EVSEs[e.EVSE]
			s.Status, s.StatusTime = e.Status, e.At()
			st.EVSEs[e.EVSE] = s
		})
	case site.TransactionStarted:
		fresh := true
		err = update(func(st *site.ChargerState) {
			fresh = true
			moveTx(st, e.Transaction)
			if cur := st.EVSEs[e.Transaction.EVSE].Transaction; cur != nil && cur.ID == e.Transaction.ID {
				fresh = false // a repeat whose answer the CSMS lost
			}
			s := st.EVSEs[e.Transaction.EVSE]
			t := e.Transaction
			s.Transaction = &t
			st.EVSEs[e.Transaction.EVSE] = s
		})
		if !fresh {
			pub = []site.Event{site.TransactionUpdated(e)}
		}
	case site.TransactionUpdated:
		err = update(func(st *site.ChargerState) {
			moveTx(st, e.Transaction)
			s := st.EVSEs[e.Transaction.EVSE]
			t := e.Transaction
			s.Transaction = &t
			st.EVSEs[e.Transaction.EVSE] = s
		})
	case site.TransactionStopped:
		err = update(func(st *site.ChargerState) {
			for n, s := range st.EVSEs {
				if s.Transaction != nil && s.Transaction.ID == e.Transaction.ID {
					s.Transaction = nil
					st.EVSEs[n] = s
				}
			}
		})
	case site.MeterSampled:
		var updated *site.Transaction
		err = update(func(st *site.ChargerState) {
			updated = nil
			s := st.EVSEs[e.EVSE]
			sample := e.Sample
			s.LastSample = &sample
			if tx := s.Transaction; tx != nil && (e.TransactionID == "" || tx.ID == e.TransactionID) && sample.Energy != nil {
				t := *tx
				t.Energy = *sample.Energy - t.MeterStart
				s.Transaction = &t
				u := t
				updated = &u
			}
			st.EVSEs[e.EVSE] = s
		})
		if updated != nil {
			if e.TransactionID == "" {
				e.TransactionID = updated.ID
				pub = []site.Event{e}
			}
			pub = append(pub, site.TransactionUpdated{EventHeader: e.EventHeader, Transaction: *updated})
		}
	case site.ChargingNeedsReported, site.ExternalLimitReported, site.ExternalSchedulesReported:
		// Nothing to store: the loop keeps them (as for OCPP chargers).
		// The charger must be configured all the same.
		_, err = h.cfg.Store.ChargerState(ctx, ref)
	default:
		return nil, fmt.Errorf("delegate: unknown event type %T", ev)
	}
	if err != nil {
		return nil, err
	}
	return pub, nil
}

// moveTx removes tx from every EVSE other than its own (a transaction the
// CSMS reports on another EVSE than before has moved).
func moveTx(st *site.ChargerState, tx site.Transaction) {
	for n, s := range st.EVSEs {
		if n != tx.EVSE && s.Transaction != nil && s.Transaction.ID == tx.ID {
			s.Transaction = nil
			st.EVSEs[n] = s
		}
	}
}

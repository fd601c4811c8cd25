package ocppadapter

import (
	"context"
	"time"

	"github.com/smartcharge/smartcharge/site"
)

// Coalesced meter writes. MeterValues is the one message a charger sends
// all the time, and what it changes in the store (the newest sample per
// EVSE, the running transaction's energy) is superseded by the next one.
// So it is written at most once per Config.MeterPersistInterval per
// charger: within the interval the sample is kept on the connection and
// the events are published at once; it is written when the interval is
// up (a timer), with the charger's next other state change, or when the
// connection ends, whichever comes first. Everything else is written
// before the CALL is answered. See "Durability" in doc.go.

// meterCache is a connection's deferred meter state; it exists once the
// charger has sent MeterValues. Guarded by conn.storeMu.
type meterCache struct {
	// persisted is when the connection last wrote its state.
	persisted time.Time
	// tx is the running transaction per EVSE as last written by this
	// connection (only the adapter writes transactions); valid is false
	// until a write by this connection has returned the state.
	tx    map[int]site.Transaction
	valid bool
	// pending holds the samples not yet written, one per EVSE.
	pending []pendingSample
	timer   *time.Timer
	armed   bool // timer set; counted in conn.workers
	closed  bool // the connection ended: no more timers
}

type pendingSample struct {
	evse   int
	sample site.MeterSample
	tx     *site.Transaction // the transaction with its energy updated, if any
}

// apply writes the pending samples into st (EVSE map allocated).
func (m *meterCache) apply(st *site.ChargerState) {
	for _, p := range m.pending {
		ev := st.EVSEs[p.evse]
		s := p.sample
		ev.LastSample = &s
		if p.tx != nil && ev.Transaction != nil && ev.Transaction.ID == p.tx.ID {
			t := *ev.Transaction
			t.Energy = p.tx.Energy
			ev.Transaction = &t
		}
		st.EVSEs[p.evse] = ev
	}
}

// written records a successful write that returned st.
func (m *meterCache) written(st site.ChargerState, now time.Time) {
	m.pending = m.pending[:0]
	m.persisted = now
	clear(m.tx)
	for n, ev := range st.EVSEs {
		if ev.Transaction != nil {
			if m.tx == nil {
				m.tx = make(map[int]site.Transaction, 1)
			}
			m.tx[n] = *ev.Transaction
		}
	}
	m.valid = true
}

func (m *meterCache) setPending(p pendingSample) {
	for i := range m.pending {
		if m.pending[i].evse == p.evse {
			m.pending[i] = p
			return
		}
	}
	m.pending = append(m.pending, p)
}

// persist runs one state update of this connection: the pending samples
// are written first, then fn. The caller holds c.storeMu.
func (c *conn) persistLocked(ctx context.Context, fn func(*site.ChargerState) error) (site.ChargerState, error) {
	m := c.meter
	st, err := c.srv.cfg.Store.UpdateChargerState(ctx, c.ref, func(st *site.ChargerState) error {
		if st.EVSEs == nil {
			st.EVSEs = make(map[int]site.EVSEState)
		}
		if m != nil {
			m.apply(st)
		}
		return fn(st)
	})
	if err == nil && m != nil {
		m.written(st, c.now())
	}
	return st, err
}

// deferSample keeps a sample for a later write if the connection wrote
// its state less than MeterPersistInterval ago, and returns the
// transaction it updates (nil if none). ok is false when the sample must
// be written now. The caller holds c.storeMu and runs on the reading
// goroutine.
func (c *conn) deferSample(ctx context.Context, evse int, txID string, last site.MeterSample) (updated *site.Transaction, ok bool) {
	every := c.srv.cfg.MeterPersistInterval
	if every <= 0 {
		return nil, false
	}
	m := c.meter
	if m == nil {
		c.meter = &meterCache{}
		return nil, false
	}
	since := c.now().Sub(m.persisted)
	if !m.valid || since >= every || since < 0 || m.closed {
		return nil, false
	}
	if tx, ok := m.tx[evse]; ok && (txID == "" || tx.ID == txID) && last.Energy != nil {
		tx.Energy = *last.Energy - tx.MeterStart
		m.tx[evse] = tx
		updated = &tx
	}
	m.setPending(pendingSample{evse: evse, sample: last, tx: updated})
	if !m.armed {
		m.armed = true
		c.workers.Add(1)
		if m.timer == nil {
			m.timer = time.AfterFunc(every-since, func() { c.flushMeter(ctx) })
		} else {
			m.timer.Reset(every - since)
		}
	}
	return updated, true
}

// flushMeter writes the pending samples when the interval is up.
func (c *conn) flushMeter(ctx context.Context) {
	defer c.workers.Done()
	c.storeMu.Lock()
	defer c.storeMu.Unlock()
	m := c.meter
	m.armed = false
	if m.closed || len(m.pending) == 0 {
		return
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.srv.cfg.StoreTimeout)
	defer cancel()
	if _, err := c.persistLocked(wctx, func(*site.ChargerState) error { return nil }); err != nil {
		// Kept; written with the next state change or on disconnect.
		c.log.Error("ocpp: cannot store meter samples", "err", err)
	}
}

// stopMeter stops the flush timer once the read loop has ended; the
// pending samples are written with the disconnection.
func (c *conn) stopMeter() {
	c.storeMu.Lock()
	defer c.storeMu.Unlock()
	m := c.meter
	if m == nil {
		return
	}
	m.closed = true
	if m.armed && m.timer.Stop() {
		m.armed = false
		c.workers.Done()
	}
}

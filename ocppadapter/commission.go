package ocppadapter

import (
	"context"
	"math"
	"sync"
	"time"

	"github.com/smartcharge/smartcharge/site"
)

// First commissioning (Config.CommissionPending): an OCPP 1.6 charger
// that holds no fallback profile of the loop's yet is answered Pending
// until the loop's fallback (TxDefault at Config.CommissionStackLevel)
// has been accepted on each of its EVSEs, then asked with
// TriggerMessage(BootNotification) to boot again and Accepted. See
// "First commissioning" in the package doc.

// commission is a connection's commissioning hold; guarded by conn.mu.
type commission struct {
	// until is when the hold ends whatever happened.
	until time.Time
	// need is the EVSEs whose fallback is not accepted yet.
	need map[int]bool
	// done: the fallbacks are in, or the charger refused one, or the
	// hold timed out: the next BootNotification is Accepted.
	done bool
	// triggered: TriggerMessage(BootNotification) was sent.
	triggered bool
}

// siteEVSECacheTTL is how long a site's EVSE list read for commissioning
// is used (boots of a whole site come within seconds: one read for all).
const siteEVSECacheTTL = 10 * time.Second

// siteEVSEs is the EVSE ids of every charger of one site, as read at.
type siteEVSEs struct {
	ready chan struct{} // closed when evses and err are set
	at    time.Time
	evses map[string][]int
	err   error
}

// evseCache holds siteEVSEs per site for commissioning holds.
type evseCache struct {
	mu    sync.Mutex
	sites map[string]*siteEVSEs
}

// chargerEVSEs returns the EVSE ids configured for ref, reading the
// site's configuration at most once per siteEVSECacheTTL (concurrent
// callers wait for the one read).
func (s *Server) chargerEVSEs(ctx context.Context, ref site.ChargerRef) ([]int, error) {
	now := time.Now()
	s.evses.mu.Lock()
	if s.evses.sites == nil {
		s.evses.sites = map[string]*siteEVSEs{}
	}
	e := s.evses.sites[ref.SiteID]
	fresh := e != nil && now.Sub(e.at) < siteEVSECacheTTL
	if fresh {
		select {
		case <-e.ready:
			fresh = e.err == nil
		default: // being read: wait for it
		}
	}
	if !fresh {
		e = &siteEVSEs{ready: make(chan struct{}), at: now}
		s.evses.sites[ref.SiteID] = e
		s.evses.mu.Unlock()
		rctx, cancel := context.WithTimeout(ctx, s.cfg.StoreTimeout)
		conf, err := s.cfg.Store.Config(rctx, ref.SiteID)
		cancel()
		e.err = err
		if err == nil {
			e.evses = make(map[string][]int, len(conf.Chargers))
			for _, ch := range conf.Chargers {
				ids := make([]int, 0, len(ch.EVSEs))
				for _, ev := range ch.EVSEs {
					ids = append(ids, ev.ID)
				}
				e.evses[ch.ID] = ids
			}
		}
		close(e.ready)
	} else {
		s.evses.mu.Unlock()
	}
	select {
	case <-e.ready:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if e.err != nil {
		return nil, e.err
	}
	return e.evses[ref.ChargerID], nil
}

// commissionHold decides whether a BootNotification is answered Pending
// for commissioning (st is the charger's state as stored with the boot)
// and with which retry interval (seconds). Only OCPP 1.6 chargers served
// directly are held: OCPP 2.0.1 does not let the CSMS send
// SetChargingProfile while Pending (B02.FR.01), and a proxied charger's
// registration belongs to its CSMS.
func (c *conn) commissionHold(ctx context.Context, st site.ChargerState, now time.Time) (bool, int) {
	cfg := &c.srv.cfg
	if !cfg.CommissionPending || c.version != V16 || c.up != nil {
		return false, 0
	}
	c.mu.Lock()
	cm := c.commission
	c.mu.Unlock()
	if cm == nil {
		evses, err := c.srv.chargerEVSEs(ctx, c.ref)
		if err != nil {
			c.log.Warn("ocpp: cannot read the charger's EVSEs for commissioning: accepting it", "err", err)
			return false, 0
		}
		need := map[int]bool{}
		for _, id := range evses {
			if !hasFallback(st, id) {
				need[id] = true
			}
		}
		if len(need) == 0 {
			return false, 0
		}
		cm = &commission{until: now.Add(cfg.CommissionHold), need: need}
		c.mu.Lock()
		if c.commission == nil {
			c.commission = cm
		} else {
			cm = c.commission
		}
		c.mu.Unlock()
		c.log.Info("ocpp: charger without a fallback profile held Pending until it has one", "evses", len(need), "hold", cfg.CommissionHold)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if cm.done {
		return false, 0
	}
	left := cm.until.Sub(now)
	if left <= 0 {
		cm.done = true
		c.log.Warn("ocpp: commissioning hold over without every fallback profile: accepting the charger", "missing_evses", len(cm.need))
		return false, 0
	}
	return true, int(math.Ceil(left.Seconds()))
}

// hasFallback reports whether the loop's state in st shows an accepted
// fallback profile on EVSE id.
func hasFallback(st site.ChargerState, id int) bool {
	if st.Loop == nil {
		return false
	}
	e := st.Loop.EVSEs[id]
	return e != nil && e.Fallback.Accepted != nil
}

// isFallback reports whether req is the loop's fallback profile as
// commissioning recognises it.
func (c *conn) isFallback(req site.LimitRequest) bool {
	return req.Purpose == site.PurposeTxDefault && req.StackLevel == c.srv.cfg.CommissionStackLevel
}

// noteProfile follows a SetChargingProfile answer during a commissioning
// hold: an accepted fallback removes its EVSE (EVSE 0: all) from those
// still needed; a refused or failed one ends the hold (a charger that
// does not take profiles while Pending is not held). When the hold ends
// the charger is asked to boot again.
func (c *conn) noteProfile(req site.LimitRequest, accepted bool) {
	if !c.isFallback(req) {
		return
	}
	c.mu.Lock()
	cm := c.commission
	if cm == nil || cm.done {
		c.mu.Unlock()
		return
	}
	switch {
	case !accepted:
		cm.done = true
		c.log.Warn("ocpp: charger did not take its fallback profile while Pending: accepting it", "evse", req.EVSE)
	case req.EVSE == 0:
		clear(cm.need)
	default:
		delete(cm.need, req.EVSE)
	}
	if len(cm.need) == 0 {
		cm.done = true
	}
	trigger := cm.done && !cm.triggered
	cm.triggered = cm.triggered || trigger
	c.mu.Unlock()
	if trigger {
		c.log.Info("ocpp: commissioning done, asking the charger to boot again")
		c.goBound(c.srv.base, c.triggerBoot)
	}
}

// triggerBoot asks the charger for a BootNotification (allowed while
// Pending: OCPP 1.6 section 4.2); if it refuses or does not answer, it
// boots again after the interval it was given.
func (c *conn) triggerBoot(ctx context.Context) {
	var conf statusConf16
	err := c.callInto(ctx, "TriggerMessage", triggerReq16{RequestedMessage: "BootNotification"}, &conf)
	if err != nil || conf.Status != "Accepted" {
		c.log.Warn("ocpp: TriggerMessage(BootNotification) after commissioning not accepted: the charger boots again after its interval",
			"status", conf.Status, "err", err)
	}
}

package loop

import (
	"math"
	"time"

	"github.com/smartcharge/smartcharge/site"
)

// othersTx is the most a Tx profile someone else set for the transaction
// running on EVSE evse (txID) may let the charger apply, in A per phase;
// 0 when there is none: a CSMS's, reported by the OCPP proxy or a
// delegating backend. (Through the proxy the CSMS keeps stack levels
// below the loop's. A Tx profile wins over every TxDefault one at
// any stack level, so once the loop's dynamic Tx profile ends, as when
// smartcharge is gone, the charger applies the CSMS's, not the loop's
// fallback: the ledger counts the EVSE at it, ledger.Entry.Others.) Every
// period counts, whenever it starts (the highest); a limit in W counts as
// that power on one phase, the most current it can mean.
func (c *charger) othersTx(evse int, txID string, v site.Volts, now time.Time) site.Amps {
	if txID == "" {
		return 0
	}
	var most site.Amps
	for k, ss := range c.external.m {
		if k.evse != evse && k.evse != 0 {
			continue
		}
		for _, s := range ss {
			if s.Purpose != site.PurposeTx || (s.TransactionID != "" && s.TransactionID != txID) ||
				(!s.ValidTo.IsZero() && !now.Before(s.ValidTo)) {
				continue
			}
			for _, p := range s.Periods {
				a := site.Amps(p.Limit)
				if s.Unit == site.UnitWatts {
					a = site.Amps(p.Limit / float64(v))
				}
				most = max(most, a)
			}
		}
	}
	return most
}

// lowestExternal is the lowest limit others set on EVSE evse (or the
// whole charger) at any time from now on, Tx profiles aside, in A per phase on nph phases
// (a limit in W spread over them), +Inf when none. The loop's fallback
// (TxDefault at a stack level above the CSMS's) leads over the CSMS's
// TxDefault profiles when smartcharge is gone, so it may not be above
// any period they have ahead: a lower one later would not be followed.
func (c *charger) lowestExternal(evse int, v site.Volts, nph int, now time.Time) site.Amps {
	low := site.Amps(math.Inf(1))
	nph = max(nph, 1)
	for k, ss := range c.external.m {
		if k.evse != evse && k.evse != 0 {
			continue
		}
		for _, s := range ss {
			if s.Purpose == site.PurposeTx || (!s.ValidTo.IsZero() && !now.Before(s.ValidTo)) {
				continue // a Tx profile goes with its transaction (othersTx)
			}
			for _, p := range s.Periods {
				a := site.Amps(max(p.Limit, 0))
				if s.Unit == site.UnitWatts {
					a = site.Amps(max(p.Limit, 0) / (float64(v) * float64(nph)))
				}
				low = min(low, a)
			}
		}
	}
	return low
}

package loop

import (
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

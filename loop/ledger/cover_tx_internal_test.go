package ledger

import (
	"testing"
	"time"

	"github.com/smartcharge/smartcharge/site"
)

// The coverage of a TxDefault change must not come from a Tx record: the
// Tx record stops counting when the transaction ends, not by time.
func TestCoverageOfTxDefaultNotFromTxRecord(t *testing.T) {
	now := time.Date(2025, 6, 2, 8, 0, 0, 0, time.UTC)
	x1, x2 := now.Add(2*time.Minute), now.Add(9*time.Minute)
	ls := &site.EVSELoopState{
		Fallback:  site.ProfileSlot{Accepted: &site.ProfileRecord{Limit: 6}},
		TxDefault: site.ProfileSlot{Accepted: &site.ProfileRecord{Limit: 15.7, Expires: x1}},
		Tx:        site.ProfileSlot{Accepted: &site.ProfileRecord{Limit: 31.5, Expires: x2, TransactionID: "t1", Purpose: site.PurposeTx}},
	}
	e := Entry{Max: 32, Online: true, TxID: "t1", Slots: ls}
	until, forever := e.CoveredUntil(11.45, site.PurposeTxDefault, now)
	t.Logf("covered until %v (+%v), forever %v", until, until.Sub(now), forever)
	// The transaction ends: the written records (TxDefault 15.7 until x1,
	// the Tx record not counted any more) count the EVSE at its fallback
	// from x1 on; a TxDefault profile of 11.5 sent until `until` applies.
	after := Entry{Max: 32, Online: true, Slots: ls}
	at := x1.Add(time.Second)
	if until.After(at) && after.CountedAt(at) < 11.45 {
		t.Errorf("a TxDefault profile of 11.5 A covered until +%v; after the transaction ends the written records count %.1f A at +%v", until.Sub(now), after.CountedAt(at), at.Sub(now))
	}
}

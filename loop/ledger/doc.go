// Package ledger is the control loop's safety account: for every EVSE of a
// site, what its charger may draw at most right now, from what it accepted
// and what was sent to it and not yet answered, and a check of those
// amounts against every limit of the site tree.
//
// It is pure (no I/O, no clock: the caller passes now) and holds no state
// of its own: an [Entry] points at the EVSE's persisted
// site.EVSELoopState, so what is checked is exactly what is stored.
//
// # Counting
//
// [Entry.CountedAt] is
//   - the EVSE's maximum when the charger is non-compliant;
//   - otherwise what it applies by what it accepted ([Entry.Applied]: the
//     Tx profile of the running transaction, else the dynamic TxDefault
//     profile, while their lease lasts; else the fallback; else the
//     maximum when no fallback was ever accepted);
//   - raised to every pending profile (sent and not answered, or timed
//     out) whose lease has not ended: the charger may have applied it;
//   - for an offline charger, raised to its fallback too: it may lose its
//     dynamic profile at any moment.
//
// # What the caller must do
//
// Build a [Tree] with the limits in force (grid limit at now, external
// limits, circuit fuses) and the measured other load; an [Entry] per EVSE
// counted on the grid phases its car uses (its wiring when unknown). Before
// sending any profile that may raise an EVSE's draw, call [CanRaise] and
// send only when it returns nil; lowers need no check. Mark a profile
// pending in the EVSE's slots (and persist it) before sending it.
package ledger

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
// [Entry.CountedAt] is what the EVSE may draw from now on if we went away
// now:
//   - the EVSE's maximum when the charger is non-compliant;
//   - otherwise the highest of its fallback ([Entry.Fallback]: the
//     accepted fallback, at the highest of any pending one; the maximum
//     when no fallback was ever accepted), every dynamic profile it
//     accepted whose lease has not ended (the Tx profile of the running
//     transaction and the TxDefault profile), and every pending profile
//     (sent and not answered, or timed out) whose lease has not ended: the
//     charger may have applied it.
//
// That is max(dynamic until its lease ends, fallback), at all times, online
// or not: leases run out charger by charger when we are gone, and any mix
// of chargers still on their dynamic limits and chargers back on their
// fallbacks draws at most the sum of what they are counted at. [Entry.Applied]
// (what it applies now) is only for comparing with what a car draws.
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

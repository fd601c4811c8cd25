// Package fallback computes the static fallback limit of every EVSE of a
// site: the limit its charger applies on its own when it loses the control
// loop (a TxDefault profile at the lowest stack level without a duration).
//
// Fallbacks are safe on their own: whatever subset of chargers falls back,
// for every node of the tree and every grid phase the sum of the fallbacks
// of the EVSEs below fits the node's limit (and power limit) less its other
// load. The caller chooses the tree: the control loop passes the limits in
// force, scaled by its FallbackFraction, less the scheduler's safety
// margin, with the measured other load and uncontrollable EVSEs as other
// load, and gives EVSEs without a car a maximum of 0. Every EVSE is
// counted on all its wired phases, because a car's phases are not known
// when we are gone. Below an EVSE's minimum current (6 A) a fallback is 0:
// the car waits rather than charging at a current it cannot use.
//
// [Limits] is pure and deterministic; the caller sends the results and
// re-sends them when the site's configuration changes.
package fallback

// Package scheduler decides, for every EVSE (connector) of a site, the
// current it may draw right now.
//
// It is a pure function: [Allocate] takes an [Input] (the site tree with
// limits and measured other load, every EVSE with its car, the previous
// allocation and the time) and returns an [Allocation]. It does no I/O,
// reads no clock, keeps no state and starts no goroutines; the same input
// gives the same output. It imports no package of this module: the caller
// (the control loop) converts the site model and live state into an Input.
//
// # Rules, in order
//
//  1. Never exceed a limit: for every node and every grid phase, the limits
//     allowed plus the other load stay within the node's limit minus the
//     safety margin, and within its power limit. Offline and uncontrollable
//     EVSEs are counted at what they may draw without us; every EVSE at
//     least at its floor ([EVSE.Floor]) on all its wired phases, whatever
//     its limit (max(limit, floor)), also with no car or paused.
//  2. A limit is 0 or at least the EVSE's minimum. When not every car fits
//     at its minimum, cars are admitted by priority, then energy received,
//     then waiting time; dwell times keep cars from being switched on and
//     off every few seconds.
//  3. Above the minimums, weighted max-min fairness (water-filling over the
//     per-phase constraints of every node on each EVSE's path).
//  4. Phase aware: a car is counted only on the grid phases it draws on,
//     through its charger's rotation.
//  5. Calm: changes smaller than the dead band are not made, unless keeping
//     the old value would break rule 1.
//  6. Power limits, phase imbalance limits, external limits.
//  7. 1/3-phase switching where it lets a car charge that would otherwise
//     be paused, with its own dwell time.
//
// When load we do not control already breaks a limit, every controllable
// EVSE below that node is paused and [Allocation.Infeasible] says where.
// ALGORITHM.md in this directory explains the algorithm and argues rule 1.
//
// # What the caller must do
//
//   - Build the Input: Nodes[0] is the grid connection, parents come before
//     children; per-phase limits use [Unlimited] for none (a zero limit
//     means 0 A); OtherLoad is what flows through the node that is not our
//     EV charging; Now is the time of the decision.
//   - Map OCPP states onto [State]: a car paused by us is still
//     [StateCharging] (it wants current).
//   - Set EVSE.Floor to what the EVSE may draw whatever we send now, e.g.
//     the fallback it returns to when its lease runs out: the allocation
//     keeps every limit with every EVSE at max(limit, floor), so any mix of
//     EVSEs on their new limits and EVSEs back on their fallbacks fits.
//   - Feed the result back next time: Result.Limit as EVSE.PrevLimit (the
//     limit we allocated, 0 if paused or for a new car), and EVSE.Since set
//     to the time we last took the limit from 0 to above 0 or back (zero
//     for a new car: a car that just arrived was never paused by us); the
//     phase-switch state in EVSE.Switch.
//   - Send the limits (lowers before raises); for offline and
//     uncontrollable EVSEs nothing is sent, Result.Limit is what they were
//     counted at.
//   - Treat an error (always matching [ErrInvalidInput]) as a bug in the
//     caller: it names every bad field.
//
// # Performance
//
// Allocate runs in O(n·d·log n) for n EVSEs on a tree of depth d (see
// ALGORITHM.md). Measured with
//
//	go test -run '^$' -bench . -benchmem -count 4 ./scheduler/
//
// on the shared 2-core build machine (Intel Xeon, go1.26, load average
// about 2 from other work), on schedtest.Site: grid, circuits of ten
// chargers, chargers of two EVSEs, oversubscribed, mixed phases:
//
//	EVSEs      ns/op (range of 4)        B/op    allocs/op
//	10          8,800 -     8,900        8,744      38
//	100        77,000 -    80,000       68,224      45
//	1,000   1,050,000 - 1,370,000      706,744      49
//	10,000 10,800,000 - 12,200,000   6,684,032      97
//
// Targets: 100 EVSEs < 100 µs, 10,000 < 20 ms. Growth from 1,000 to 10,000
// EVSEs is about 10x (near-linear). The machine is shared: at load average
// 6 the same run gave 150-172 µs for 100 and 11.6-14.7 ms for 10,000
// EVSEs; compare runs with benchstat.
package scheduler

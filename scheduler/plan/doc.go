// Package plan plans the charging of every session of a site over a
// horizon (default 24 h in 15-minute slots; 5 to 60 minute slots, up to
// 48 h) and turns the plan into a charging schedule per session that its
// charger can follow on its own.
//
// Like package scheduler it is a pure function: [Plan] takes an [Input]
// (the site tree with limits, windows and forecast other load per slot;
// sessions with their needs and departures; prices and CO2 per slot) and
// returns a [Result]. It does no I/O, reads no clock (Input.Start or
// Input.From is "now"), keeps no state and starts no goroutines. It imports only package
// scheduler, for its unit types; gonum is used only by the reference in
// plan/lpref.
//
// # Exact and heuristic
//
// The sessions split into independent components (sessions that share no
// constraint that can bind, nor a PV-priced slot). A component of at most
// 48 variables (sessions × slots they may charge in) is solved exactly
// with linear programs (lexicographic weighted max-min fairness, then
// least cost with the energies held) by the package's own dense simplex;
// larger components, and any whose LP fails, are planned by the heuristic
// (cheapest first with bounded exchanges and progressive filling), which
// is close to but not always at the optimum. Result.Exact reports whether
// every component was solved exactly. PLANNER.md has the details.
//
// # Objectives, in order
//
//  1. Never exceed a limit in any slot, on any phase, at any node: phase
//     limits (lowered by windows) minus the safety margin minus the forecast
//     other load, and power limits, as in the real-time scheduler.
//  2. Meet each session's need by its departure wherever feasible; where
//     not, weighted max-min fairness of the fraction of need met.
//  3. Lowest energy cost (import price; on PV surplus at the grid
//     connection, the export price forgone), then lowest CO2.
//  4. Earlier rather than later on ties; few changes between slots.
//
// Sessions without needs get Config.DefaultEnergy and charge as early as
// the limits allow, as in real time. Limits are 0 or at least the
// session's minimum current, in steps of Config.Step, in at most the
// charger's MaxPeriods periods; those rules are applied when the
// continuous plan is turned into schedules, by rounding down and by moves
// that are checked against every limit.
//
// PLANNER.md in this directory gives the formulation, the algorithm, how
// close it is to the LP optimum and what it costs.
//
// # What the caller must do
//
//   - Build the Input: slots start at Input.Start (to keep them on the
//     clock, the boundary before now, with Input.From now: slot 0 then
//     counts only from From for energy and cost); resample forecasts and
//     day-ahead prices to the slots (one entry per slot, or none). Nodes
//     are as in [scheduler.Input]: Nodes[0] the grid connection, parents
//     before children, other load including the children's.
//   - Send each SessionPlan.Periods as an absolute TxProfile starting at
//     Result.Start with SessionPlan.Duration, in the session's Unit. Watts
//     are computed at Input.NominalVoltage: a charger that turns them into
//     current at a lower real voltage draws a little more; prefer amperes.
//   - Keep the real-time scheduler running: the plan is made on forecasts;
//     the real-time allocation enforces the limits against measured load.
//     Re-plan when a session arrives, leaves or changes its needs, when a
//     forecast or price changes, and periodically (each slot).
//   - Treat an error (always matching [ErrInvalidInput]) as a bug in the
//     caller: it names every bad field.
//
// # Performance
//
// Measured on 2026-11-25 with
//
//	go test -run '^$' -bench . -benchmem -count 3 -benchtime 3x ./scheduler/plan/
//
// on the shared 2-core machine (Intel Xeon, go1.26, load average 1-6 from
// other work), on the reference depot (three-level tree, 96 slots of 15
// minutes, see bench_test.go):
//
//	sessions    time/op        B/op       allocs/op
//	10          0.49-0.91 ms   0.23 MB         289
//	100         11.6-12.3 ms   1.9 MB        2,218
//	1,000       156-161 ms     19.9 MB      23,069
//	exact, 4 x 12 slots (BenchmarkPlanExact)  1.07-1.18 ms  600 KB  568
//
// The depot is one component (its grid connection binds), beyond the
// exact path's bound: it is planned by the heuristic. The slow case of
// 1-phase cars all on L1 (planning's BenchmarkPlanSite/single-phase-L1):
// 100 sessions 32-36 ms, 1,000 sessions 0.39-0.40 s per plan (was 0.28 s
// and 13-30 s). PLANNER.md has the figures before and after.
//
// Targets: 100 sessions < 50 ms, 1,000 < 1 s, memory < 200 MB.
package plan

// Package planning brings the multi-slot planner (scheduler/plan) into the
// service: per site it builds the planner's input from the site's
// configuration (circuit tree, limits, grid limits), the live sessions
// (EVSEs with a car, from the chargers' state), their needs and priorities
// (site.LoopState) and the plan inputs (site.PlanInputs: prices, limit
// windows, forecasts, settings, state-of-charge targets), runs the planner,
// stores the plan (site.PlanStore) and lets callers read and watch it.
//
// It imports scheduler (units), scheduler/plan and site only.
//
// # Pieces
//
//   - [Build] and [Assemble] are pure: a [Snapshot] in, the planner's input
//     out; the planner's result in, the [site.Plan] to store out. Slots
//     are on the site's clock ([AlignSlot]: multiples of the slot length
//     from local midnight in the site's time zone): the plan starts at the
//     boundary before Snapshot.Now and is in force from Now (plan.Input.From:
//     slot 0 counts only from Now for energy and cost). Price
//     series are resampled to slots as time-weighted means (before the
//     first point the first value, after the end the last); forecasts
//     likewise (0 outside their points). A node's forecast is load minus
//     PV; a node without one gets the sum of its children's. Grid limits of
//     the configuration and the schedule's windows become planner windows.
//     Inputs naming circuits the site does not have are left out with a
//     warning in Plan.Warnings.
//   - [Runner] runs one goroutine per site (sites found by listing the
//     store every Config.SiteRescan and on Replan) that plans: at start;
//     after [Runner.Replan] (the gRPC layer calls it when plan inputs or
//     needs change), coalesced over Config.Coalesce; when the EVSEs with a
//     car, their needs or priorities, or the site's limits change (checked
//     on every allocation of the control loop, or every Config.Poll
//     without one); and every Config.Tick.
//
// # Needs
//
// A session's need is, in this order: a state-of-charge target
// (site.SoCTarget, for the transaction it was set in) with the state of
// charge the charger reports; the energy need of site.ChargingNeeds minus
// what the transaction delivered since the need was set (the plan keeps
// the baseline, Plan.Baseline, so a restart does not lose it); otherwise
// the site's default (PlanSettings.DefaultEnergy, 20 kWh), planned as in
// real time: as early as the limits allow. The departure comes from
// site.ChargingNeeds; unknown means the end of the horizon.
//
// At most Config.Parallel sites (default 1) run the planner at once: it
// is CPU-bound and the control loop must keep its share. The planner
// cannot be interrupted; when the runner stops during a plan, it returns
// at once and the planner's goroutine ends by itself when the plan is
// done (its result is dropped).
//
// # Performance
//
// Measured with
//
//	go test -run '^$' -bench 'PlanSite|BuildAssemble' -benchmem -count 3 -benchtime 3x ./planning/
//
// on the shared 2-core machine (load average 1-6 from other work),
// 2026-11-25, one plan as the runner makes it (Build, planner, Assemble;
// no Redis), depot of bench_test.go (three-level tree, 96 slots of 15
// minutes, half the cars 1-phase, rotations spread):
//
//	sessions   time/op          B/op
//	10         0.74-0.84 ms     0.56 MB
//	100        15.1-16.2 ms     2.9 MB
//	1,000      68-84 ms         25 MB
//	Build+Assemble alone, 1,000 sessions: 8.5-12.5 ms, 10 MB
//
// The planner's slow case, every 1-phase car on L1 (no rotations) and
// needs just short of feasible: 100 sessions 32-36 ms, 1,000 sessions
// 0.39-0.40 s per plan, 47 MB (was 0.28-0.60 s and 13-30 s). Most of a
// plan is the planner's; scheduler/plan/PLANNER.md has the figures before
// and after and where the time went.
//
// # What the caller must do
//
// Build a Runner with [New], call [Runner.Start] once, [Runner.Stop] when
// done (it waits for every goroutine, including watchers). Call
// [Runner.Replan] after changing a site's plan inputs or needs. Keep the
// real-time control loop running: the plan is made on forecasts; the loop
// keeps the limits against measured load. The runner does not send plans
// to chargers: the loop reads them (loop.Config.Plans, see loop/plan.go),
// caps each planned EVSE at its plan for now and sends the plan's later
// reductions as multi-period profiles.
package planning

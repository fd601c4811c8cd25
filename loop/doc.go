// Package loop is smartcharge's closed control loop: one loop per site
// that turns what chargers report (site.Event values from the OCPP
// adapter), what an EMS measures and what the site's owner configured into
// charging limits, sends them through site.ChargerControl and makes sure
// that what chargers may draw never exceeds a limit of the site, at rest
// and while changes are under way. It never sees OCPP versions.
//
// # Usage
//
//	m, err := loop.New(loop.Config{Store: st, LoopState: st, Control: ocppServer,
//		Logger: log, Registry: reg}) // nil/zero fields take defaults
//	ocppadapter.Config{Events: m, ...} // the Manager is the adapter's EventSink
//	m.Start(ctx)                       // one loop per site, rescanned every 30s
//	defer m.Stop()                     // ends every goroutine it started
//
// The gRPC layer uses the Manager through site.AllocationReader
// (Allocation, Watch) and site.LoopController (ReportMeter, SetNeeds,
// SetPriority, Trigger); call Trigger after changing a site's grid limits
// or tree so the loop re-reads its configuration at once (it also re-reads
// on every tick).
//
// # One run
//
// A site's loop is one goroutine owning all of the site's state. Events are
// applied to its in-memory view as they come (the adapter has already
// written them to the store); a burst is coalesced into one run after
// Config.Coalesce. Every Config.Tick the state is re-read from the store
// and a run made. A run:
//
//  1. builds the scheduler's input: the grid limit in force
//     (site.Effective at now), circuits, chargers as nodes with their
//     external limits, every EVSE with its state, learnt car phases
//     (rotation-mapped by the scheduler), draw, needs and priority, and
//     per node the other load (an EMS reading minus what our EVSEs below
//     drew at the reading's time, see Other load; the sum of the children
//     where no meter reports);
//  2. runs scheduler.Allocate and records each EVSE's target;
//  3. dispatches (also after answers and on deadlines): compares each
//     target with what the charger accepted and sends the differences.
//
// Answers are taken in batches: every answer (and event) already queued
// is handled before one dispatch for all of them, the chargers' states
// that changed are written in one parallel batch (see step 7), and the view is
// published at most once per second while commands are in flight (at
// once for a run and when the last answer is in; Allocation publishes a
// stale one on demand). A changed configuration (Trigger) is run at once,
// without the coalescing delay. So a grid limit change costs a few passes
// over the site however many chargers answer, not one pass per answer.
//
// # Order of effects
//
// For every change: persist intent, send, persist the answer.
//
//  1. compute every EVSE's fallback (package loop/fallback, see Fail-safe);
//  2. compute (scheduler) and record targets and the allocation. Every
//     EVSE.Floor is its fallback as the ledger counts it, except for an
//     EVSE whose fallback this run lowers (it can be sent now or once the
//     EVSE's command in flight is answered): the new fallback, which fits
//     the limits in force on its own. So when a limit drops the input
//     stays feasible and the cars keep charging at the reduced level
//     instead of all being paused (and then held by the dwell time);
//  3. record the pending profile and write it to Redis
//     (site.ChargerState.Loop): a raise only once written (one whose intent
//     cannot be written is not sent); a lower is sent at once and written
//     while it is in flight, ending no later than the records already
//     written count the EVSE as high (so forgetting it only overcounts);
//     a renewal is written first;
//  4. send every lower (dynamic or fallback) at once; an EVSE with both
//     gets its dynamic lower first (what it applies now), its fallback
//     lower after the answer;
//  5. wait for the lowers' answers (or Config.AnswerTimeout, after which
//     the charger counts at the higher of old and new limit);
//  6. send each raise that passes the ledger check, one after another,
//     each counted as pending before the next is checked (an EVSE's
//     fallback raise after its dynamic change);
//  7. write what was accepted (or refused, or timed out).
//
// A raise's intent is written before it is sent. Lowers, answers and
// targets are written lazily (at most a second apart while commands are
// in flight, at once when none are, and when the loop is stopped):
// losing them in a crash only overcounts (a lost lower leaves the older,
// higher limit recorded; a lost answer leaves its command pending,
// counted after a restart at the higher of old and new limit). That holds
// at every time ahead, not only now: a change sent before it is written
// ends when the records in memory stop counting the EVSE at its limit
// (ledger.Entry.CoveredUntil; for a TxDefault profile Tx records do not
// count, they end with the transaction), which is never later than the
// written records do, since every record added unwritten ends so and
// every raise is written first. A lower goes at once with such a lease,
// Redis or not. Another change that would get too short a lease that way
// (a renewal; a lower less than 2 s before its lease ends) is written
// first and sent with a full lease; one that cannot be written waits (the
// charger returns to its counted fallback when its lease ends). So while
// Redis is down, the chargers return to their fallbacks as their leases
// end: safe, with less energy, and the cannot-write warnings say why.
// Without this a
// renewal sent while Redis was down, with the daemon killed and restarted
// past the written lease end and the charger offline, was counted at its
// fallback while the charger still applied the renewed limit
// (TestRestartAfterUnwrittenRenewal, TestRestartPropertyNeverUndercounts).
//
// # Safety argument
//
// Fallbacks are in the base on all wired phases before anything is
// allocated and a car adds exactly what its limit puts above that floor,
// so every mix of leased and fallen-back chargers fits. The ledger counts
// the same and sends a raise only if everything still fits.
//
// In detail: when we go away, each charger keeps its dynamic profile
// until its lease ends and then returns to its fallback, charger by
// charger in any order; so at any moment an EVSE draws at most
// max(dynamic limit until its lease ends, fallback). The ledger (package
// loop/ledger) counts every EVSE at exactly that at all times, online or
// not: the highest of its fallback (accepted, raised to any pending one;
// its maximum before one was accepted), every accepted Tx/TxDefault
// profile whose lease still runs and every pending profile (the charger
// may have applied it); at its maximum when non-compliant. A change that
// raises only what an EVSE applies (within what it is counted at) is sent
// only while the ledger fits on its path; a re-send to an EVSE whose
// answer was lost asks for no more than the lowest it may apply. The scheduler
// gets that fallback as EVSE.Floor and keeps every limit with every EVSE
// at max(limit, floor). A profile that lowers cannot raise what an EVSE is
// counted at, so lowers need no check. A raise (dynamic or fallback) is
// sent only when the ledger with the raise counted fits every limit on
// the EVSE's path (phase and power, external limits applied, measured
// other load included), and it is counted before being sent. So every send
// keeps the sum of what the chargers may draw without us within every
// limit, in any mix of leased and fallen-back chargers, at every moment —
// unless something outside us changed first (a lower grid limit, more
// other load), in which case no raise goes out on that path until lowers
// have brought it back. Timed-out EVSEs are given to the scheduler as
// uncontrollable at what they are counted at, so the others are planned
// around them; they are asked again for no more than they had, nor more
// than fits on their path now (ledger.Counter.Room: the re-send may
// outlast what they apply otherwise). After a
// restart (also kill -9) pending profiles from Redis are counted as timed
// out, accepted ones as accepted: nothing unchanged is sent again,
// nothing is under-counted.
//
// Beside a CSMS (the OCPP proxy, delegation) the CSMS's profiles are
// reported as external limits and kept in the charger's loop state. They
// cap what the loop allows, and two of them outlive smartcharge: a Tx
// profile of the running transaction governs once the loop's lease ends
// (a Tx profile wins over every TxDefault), so the ledger counts the EVSE
// at its highest period (ledger.Entry.Others) and the EVSE gets no
// fallback of its own meanwhile; and the loop's fallback leads over the
// CSMS's TxDefault profiles, so it is kept below every period they have
// ahead (csms.go).
//
// # Other load
//
// An EMS reading of a node shows building load plus what our EVSEs below
// draw, at the reading's time; chargers' meter values come at other times
// (every 60 s by default) and lag every change while cars ramp. Reading
// minus the last samples counted a whole ramp (tens of amps) as other
// load and paused most cars at once. So each EVSE's draw at the reading's
// time is bounded (drawBounds in otherload.go): its sample when no limit
// changed from DrawSettle before the earlier of sample and reading to the
// later one; else between the sample and every limit in force in that
// window (not above the sample for a car that drew clearly less than it
// was allowed); between 0 and its highest limit without a sample younger
// than SampleMaxAge; 0 to its last sample without a car. Per phase, the
// other load then lies in [floor, cap] = reading − Σ highest draw,
// reading − Σ lowest draw. Underestimating other load lets us allocate
// too much (unsafe); overestimating only costs energy. So:
//
//   - interval narrower than 3 A: measured; the cap (the safe end) is used
//     and kept as the phase's well-founded value; but when the interval is
//     not exact (one of our limits changed within DrawSettle, a car ramps
//     after our own raise) and the well-founded value (younger than
//     OtherLoadHold) lies in it, that value is kept: the cap counted our
//     own raise as other load and made a limit cycle (lower, raise again
//     once the draw was known, every ~20 s);
//   - wider (cars in flux): the well-founded value, if younger than
//     OtherLoadHold, moved into [floor, cap]. A rise of the other load
//     that the reading proves even with every car at its highest lifts
//     the floor and is followed at that reading; a rise masked by cars
//     drawing less than their limits is followed once the draw is known
//     again or the hold ends;
//   - no well-founded value within OtherLoadHold: the cap;
//   - a reading older than MeterMaxAge: the most it allowed (never a held
//     or lower value).
//
// Conservative cases are logged (Warn, once per change) and named in the
// reasons of the EVSEs below. Negative other load (PV export) is kept as
// measured; only fallbacks count it as 0. An offline EVSE's draw is
// unknown unless sampled: while one is, the node tends to the cap.
//
// Dwell: the scheduler keeps a car we paused paused for MinDwell whatever
// caused the pause; that protects cars and contactors from on/off cycles,
// and a restart after a spurious pause is exactly such a cycle. So
// transient overestimates are stopped at the source (the bounds above),
// not by exempting pauses from the dwell time.
//
// # Fail-safe
//
// Every EVSE holds a fallback (TxDefault at stack level 0, no duration);
// dynamic profiles go at Config.StackLevel with a lease (Config.Lease,
// renewed Config.RenewBefore ahead), so a charger that loses us returns to
// its fallback. A fallback is capacity taken from the dynamic allocation
// (it is counted whatever the dynamic limit), so fallbacks go only to
// EVSEs with a car: their fair share (progressive filling) of the limits
// in force (grid limit at now, temporary ones included; circuit fuses;
// external limits), scaled by Config.FallbackFraction, less the
// scheduler's safety margin and the measured other load (PV counted as
// 0), every EVSE on all its wired phases, offline and uncontrollable EVSEs
// as fixed load. A share below the car's minimum is 0. An EVSE without a
// car gets 0: a car that arrives while we are gone does not charge until
// we are back (the price of giving the cars that are there their full
// share now). Lowers are sent at once; a raise goes to the share less 1 A
// (fallbackSlack) and only when that is at least 1 A more (fallbackBand):
// shares move with every change of other load or cars, and a fallback that
// followed every move went out with every dynamic change; a raise goes through the ledger like
// any other and may wait behind the EVSE's dynamic lower that makes room
// for it. When we are gone, load we do not measure may grow: lower
// FallbackFraction to leave room for it.
//
// # Rejections, silence, quirks, resume
//
// A refused profile is tried in the next form the charger supports (other
// unit, Tx/TxDefault, a higher stack level); when every form is refused,
// or meter values show an EVSE above its limit plus Config.Tolerance for
// longer than Config.Grace (10 s and a confirming sample, asked for with
// TriggerMessage at once, while a node above it is over its limit by its
// EMS reading or by our EVSEs' samples), or the composite schedule read back does not
// show the limit, the charger is non-compliant: counted at its maximum,
// the others lowered, reported in the view, a metric and a log line. A
// boot clears it. What a model needed (unit, stack level, answers in W,
// 0-then-limit to resume) is kept per vendor/model in the site's loop
// state and used for the next chargers of the model. A car that stays in
// SuspendedEVSE after being allowed current gets, every Config.ResumeGrace,
// the profile again, then TriggerMessage (status, meter values), then 0
// and the limit, then a report.
//
// # Persistence
//
// Per charger: site.ChargerState.Loop (profiles accepted and pending per
// EVSE, targets, learnt car phases, resume state, non-compliance). Per
// site: site.LoopState in a site.LoopStateStore (allocation with reasons,
// EMS meter readings, quirks by model, needs and priorities).
//
// # Time
//
// Every wait goes through the [Clock] in Config (timers included), so tests
// drive the loop with a fake clock and never sleep.
package loop

// Package sim simulates a fleet of OCPP chargers and the cars plugged into
// them, speaking OCPP-J 1.6 or 2.0.1 over real WebSocket connections to a
// central system (smartcharge, or any CSMS). It powers the demo, the
// end-to-end tests and the benchmarks; cmd/chargersim is its command.
//
// It is an OCPP client of its own, independent of package ocppadapter, so
// that it is a second opinion on our server. It imports only package site,
// for unit types and phase rotations.
//
// # Usage
//
// Parse a [Scenario] ([ParseScenario], [LoadScenario]; the format is in
// docs/simulator.md), build a [Fleet] with [New] and call [Fleet.Run] with
// a context that ends the run:
//
//	s, err := sim.LoadScenario("scenarios/demo.yaml")
//	f, err := sim.New(s, sim.Options{Server: "ws://127.0.0.1:8180/ocpp"})
//	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
//	defer cancel()
//	err = f.Run(ctx)
//	rep := f.Report()
//
// While it runs, [Fleet.Charger] gives a [Charger] to plug cars in
// ([Charger.Plug]), make them leave, change quirks or drop the
// connection; [Fleet.Ledger] gives the [Ledger]. Run returns after every
// goroutine it started has exited.
//
// # Model
//
// Each charger keeps the charging profiles the server installed and
// computes its limit per EVSE as a real charger does ([CompositeLimit],
// [CompositeSchedule]: highest valid stack level per purpose, TxProfile
// over TxDefaultProfile, station max caps all, EVSE maximum without
// profiles). A plugged-in car ([CarState]) follows the limit: down at the
// next step, up after its ramp delay, paused below its minimum current,
// tapering near full. Its current maps through the charger's phase
// rotation onto grid phases ([GridDraw]).
//
// Every Tick the fleet steps all chargers and records, per node of the
// site tree and grid phase, what the cars drew and the sum of the limits
// the chargers accepted. The [Ledger] keeps every episode in which a sum
// exceeded a node's limit ([Violation]), with the chargers and the
// profiles they held. A charger that is offline keeps applying its
// installed profiles and is counted at them.
//
// # Time
//
// Wall time comes from Options.Clock. OCPP messages, profile validity,
// schedules and ramp delays run on wall time; car physics and the arrival
// schedule run on simulated time, wall time multiplied by Options.Speed.
// Random arrivals and quirks draw from generators seeded by Options.Seed
// and the charger's position, so a run's car process is reproducible.
//
// # Goroutines
//
// One per charger (its connection: dial, read, reconnect) plus the step
// loop in Run. Answers to the server's CALLs that a quirk delays, and
// every CALL the charger sends, go out from the step loop; a charger has
// at most one CALL of its own in flight, as OCPP-J requires.
package sim

// Package site holds smartcharge's domain types and the contracts between
// its packages: a [Site] with one grid connection, its tree of [Circuit]s,
// its [Charger]s with their [EVSE]s and the [GridLimit]s set from outside,
// all grouped in a [Config]; the [Store] that keeps them with the chargers'
// live [ChargerState]; the [Event]s the OCPP adapter reports and the
// [ChargerControl] commands it carries out.
//
// Imports point one way: the scheduler imports nothing of ours; the OCPP
// adapter, the gRPC server and the stores import site; cmd wires them.
//
// # Units
//
// Quantities carry their unit in the type ([Amps], [Watts], [Volts],
// [WattHours]). Per-phase values are a [PhaseCurrents] indexed by
// [Phase.Index]; a charger's own phases map to grid phases through its
// [PhaseRotation].
//
// # Validation
//
// Every input has a Validate method that returns a *[ValidationError]
// listing every broken rule, never just the first; errors.Is(err,
// [ErrInvalid]) holds for it. [Config.Validate] checks the whole site: each
// resource, unique IDs, the circuit tree and OCPP identities within the
// site. Stores call it before every write; callers (the gRPC server, the
// site-file parser) may call it earlier to report errors sooner.
//
// Field paths in violations use the field names of the gRPC API
// (proto/smartcharge/v1): "site.grid_limit.l2", "circuits[2].parent",
// "chargers[0].evses[1].max_current", "grid_limits[0].end_time",
// "site.grid_power_limit_kw" (power limits are reported in kW, as the API
// takes them). IDs are reported as "id" ("site.id", "circuits[0].id"); the
// API layer maps that to the resource name or the create request's ID. The
// index is the position in the Config given to Validate. Resource-level
// Validate methods name fields without a prefix ("grid_limit.l1").
//
// The rules, in brief (the constants such as [MaxPhaseCurrent] give the
// bounds):
//   - IDs of sites, circuits, chargers and grid limits are AIP-122 resource
//     IDs ([ValidResourceID]).
//   - A site's time zone is "" (UTC) or an IANA name; its nominal voltage is
//     0 (meaning [DefaultNominalVoltage], 230 V) or 100 to 400 V; its grid
//     limit is above 0 on every phase.
//   - A circuit's parent is "" (the grid connection) or another circuit; the
//     tree has no cycles; a circuit's limit is not above its parent's (for
//     top-level circuits: the site's grid limit) on any phase unless the
//     circuit is Oversubscribed.
//   - A charger hangs on "" or an existing circuit, has an OCPP identity
//     ([ValidOCPPIdentity]) unique within the site (stores enforce it across
//     sites), 1 to 32 EVSEs numbered 1..n in order, each with 0 < MaxCurrent
//     <= 1000 A, MinCurrent 0 (6 A) or 1 A..MaxCurrent and 1 or 3 phases.
//   - A grid limit limits every phase (each above 0) or, with all phases 0,
//     only power (PowerLimit above 0); End is after Start when both are set.
//
// Validation reads the time zone database with [time.LoadLocation]; a binary
// that must not depend on the machine's database imports time/tzdata.
package site

// Package apiserver serves the smartcharge gRPC API v1 (package
// smartcharge.v1 in proto/smartcharge/v1) on a [site.Store]: sites, their
// circuit trees, chargers and grid limits, with resource names, update
// masks, etags and paging as in Google's AIPs.
//
// # Usage
//
// The daemon builds one [Server], installs its interceptors and registers
// its services:
//
//	srv := apiserver.New(store, &apiserver.Options{Auth: auth, Logger: log,
//		Allocations: mgr, Loop: mgr, // mgr: the control loop (*loop.Manager)
//		Delegation: hub})            // hub: *delegate.Hub, optional
//	gs := grpc.NewServer(append(srv.ServerOptions(), grpc.Creds(tlsCreds))...)
//	srv.Register(gs)
//	err := gs.Serve(lis)
//
// Without the interceptors of [Server.ServerOptions] every call fails
// with UNAUTHENTICATED. TLS is the daemon's business; the server adds
// nothing to it. Validate the [AuthConfig] first ([AuthConfig.Validate]):
// entries that fail are ignored.
//
// # Services
//
//   - SiteService: Get/List/Create/Update/DeleteSite, GetSiteConfig
//     ("sites/{site}/config") and ApplySiteConfig ("sites/{site}:apply"),
//     which applies a whole configuration in one store transaction.
//   - CircuitService: Get/List/Create/Update/DeleteCircuit
//     ("sites/{site}/circuits/{circuit}").
//   - ChargerService: Get/List/Create/Update/DeleteCharger
//     ("sites/{site}/chargers/{charger}"), with the live status from
//     [site.Store.ChargerState]. ocpp_password is input only and stored
//     hashed with [site.HashPassword].
//   - GridLimitService: Get/List/Create/Update/DeleteGridLimit
//     ("sites/{site}/gridLimits/{grid_limit}"), SetGridLimit (upsert) and
//     GetEffectiveGridLimit ("sites/{site}/effectiveGridLimit", from
//     [site.Effective]).
//   - AllocationService: GetAllocation and WatchAllocation (server
//     stream) of "sites/{site}/allocation", ExplainAllocation of a charger
//     or EVSE ("sites/{site}/chargers/{charger}/evses/{evse}"),
//     ReportMeterReading and StreamMeterReadings (client stream) of EMS
//     meter readings, SetChargingNeeds and SetPriority. They sit on
//     [Options.Allocations] and [Options.Loop] (the control loop); without
//     them they fail with FAILED_PRECONDITION (reason NO_CONTROL_LOOP).
//     The binding constraint of an EVSE (node and phase) is read from the
//     loop's reason text ([site.EVSEView.Reason]).
//   - DelegationService: ReportChargerEvents ("sites/{site}:reportChargerEvents"),
//     StreamCommands (server stream) and AckCommand, for a CSMS that keeps
//     its chargers and lets smartcharge manage their load. They sit on
//     [Options.Delegation] (package delegate's Hub, which is also the
//     loop's site.ChargerControl for those chargers); without it they fail
//     with FAILED_PRECONDITION (reason NO_DELEGATION). See
//     docs/delegation.md.
//   - PlanService: GetPlan and WatchPlan (server stream) of
//     "sites/{site}/plan"; Get/Set of the planner's inputs per site:
//     prices (import, export, CO2 as time series), the limit schedule
//     (windows per node, by source), load and PV forecasts, and the
//     planner settings; SetSessionNeeds (energy or SoC target and
//     departure; through [site.LoopController.SetNeeds]). Registered with
//     [RegisterPlanService] on a [PlanBackend] (package planning's runner
//     and the plan store); without one they fail with FAILED_PRECONDITION
//     ([ErrNoPlanning]). Setting prices, schedules and forecasts is
//     "grid limits" in the role table below, settings are "config". See
//     docs/planning.md.
//
// Every change is a [site.Store.UpdateConfig] transaction: the handler
// checks the etag and applies the change inside it and validates the whole
// configuration, so two writers never lose each other's changes and a
// stale etag fails with ABORTED. After every committed change of a
// site's configuration or grid limits (not dry runs) the server calls
// [site.LoopController.Trigger] so the loop keeps a lowered limit at once. DeleteSite without force checks that the
// site is empty and then deletes it in a second store call: a resource
// added in between is deleted with it.
//
// # Errors
//
// All mapping of errors to status codes is in errors.go: bad input is
// INVALID_ARGUMENT with a google.rpc.BadRequest naming each field by its
// path in the request ("circuit.limit.l1", "config.chargers[2].evses[0].phases",
// "update_mask"); unknown resources NOT_FOUND; duplicates ALREADY_EXISTS;
// stale etags ABORTED; [site.ErrFailedPrecondition] FAILED_PRECONDITION;
// [site.ErrUnavailable] UNAVAILABLE; a server without a control loop
// FAILED_PRECONDITION ([ErrNoControlLoop]); a loop that cannot take the
// call (stopping, or an error it did not classify) UNAVAILABLE
// ([ErrLoopUnavailable]). Each status carries a
// google.rpc.ErrorInfo with domain [ErrorDomain] and an UPPER_SNAKE reason
// (the Reason constants).
//
// # Access control
//
// Callers send "authorization: Bearer <token>". Tokens are configured by
// their SHA-256 ([HashToken]) with a [Role] and the sites they may touch
// ([AllSites] for all). A caller never reads or changes another site
// (PERMISSION_DENIED; ListSites leaves such sites out); a call without
// valid credentials is UNAUTHENTICATED, unless [AuthConfig.InsecureLocal]
// lets calls without a header in as admin from loopback or a Unix socket.
//
//	role        read  config  grid limits                 meter  needs  delegate  create/delete site
//	viewer      yes   -       -                           -      -      -         -
//	csms        yes   -       -                           -      -      yes       -
//	ems         yes   -       source EMS only             yes    -      -         -
//	site-owner  yes   yes     source OWNER, GRID_OPERATOR -      yes    -         -
//	admin       yes   yes     any source                  yes    yes    yes       yes
//
// "read" includes allocations and their watch; "meter" is reporting
// meter readings; "needs" is setting charging needs and priorities;
// "delegate" is DelegationService: reporting charger events, streaming
// and acknowledging commands.
//
// Other services on the same gRPC server (health, reflection) need a
// valid token of any role unless listed in [AuthConfig.PublicMethods].
//
// Site owners apply configurations to their existing sites; creating a
// site (CreateSite, or ApplySiteConfig on a new site) and deleting one is
// for admins. A grid limit can be changed or deleted only by a role that
// may write both its old and its new source, so a site owner's
// ApplySiteConfig with prune leaves an EMS's limits alone.
package apiserver

// Command smartchargectl is the command-line client of the smartcharge
// gRPC API for site owners and operators: apply a site file, list and
// describe sites, circuits, chargers and grid limits, delete them, set or
// show grid limits; follow the control loop's allocation live, set charging
// needs and priorities, and report meter readings by hand (as an EMS).
//
//	smartchargectl [global flags] COMMAND [flags] [args]
//
//	apply -f FILE [--dry-run] [--prune]
//	get sites | site NAME | circuits | chargers | gridlimits --site S
//	describe site|charger|circuit NAME [--site S]
//	delete site|circuit|charger|gridlimit NAME [--site S] [--etag E] [--force]
//	limit set --site S --id ID --source SRC (--limit-a A | --l1 A --l2 A --l3 A | --power-kw P) [--from T] [--until T] [--reason R]
//	limit show --site S [--at T]
//	status --site S [--once | --count N]
//	watch --site S [--count N] [-o json]
//	needs set --site S --charger C --evse N [--energy-kwh E] [--departure T] [--max-current A] [--min-current A] | --clear
//	priority set --site S --charger C [--evse N] --priority P
//	meter report --site S [--circuit C] (--current-a A | --l1 A --l2 A --l3 A | --power-kw P | --l1-kw P --l2-kw P --l3-kw P) [--at T]
//	plan [show] --site S [--csv FILE] [--slots N]
//	plan prices --site S --file FILE.csv [--currency EUR]
//
// plan shows the site's charging plan (PlanService.GetPlan): per session
// its EVSE, departure, need, expected energy, whether the need is met, its
// periods and why it gets no more; per slot each session's limit and each
// node's planned load, total load and limit. --csv FILE writes the
// per-slot table as CSV (one row per slot, per-phase columns; "-" for
// standard output). plan prices sets the site's prices from a CSV file
// with a header start,import[,export][,co2] (RFC 3339 times, prices per
// kWh, CO2 in g/kWh; an empty export or co2 cell means no point).
//
// status shows the current allocation (GetAllocation), then a new frame
// for every new one (WatchAllocation), clearing the screen on a terminal:
// per node the use (other load plus ours) and limit per phase, per EVSE
// its limit, what it draws, its state and why. watch prints every update
// as one key=value line (-o json: one JSON object per line). Both run
// until interrupted, --count is reached or --timeout (if given) passes.
//
// Global flags (also accepted after the command): -o table|json|yaml,
// --server (SMARTCHARGE_SERVER, default 127.0.0.1:7443), --token
// (SMARTCHARGE_TOKEN), --tls, --ca-file, --insecure, --timeout.
//
// Transport: TLS with the system roots (or --ca-file) when --tls or
// --ca-file is given, or when the server is not a loopback address;
// plaintext for a loopback server (the development daemon) or with
// --insecure.
//
// Exit codes: 0 on success, 1 on an error (a refused site file, a failed
// call), 2 on bad usage. All the work is in [run], which the tests call
// without a process.
package main

// Command smartchargectl is the command-line client of the smartcharge
// gRPC API for site owners and operators: apply a site file, list and
// describe sites, circuits, chargers and grid limits, delete them, and set
// or show grid limits.
//
//	smartchargectl [global flags] COMMAND [flags] [args]
//
//	apply -f FILE [--dry-run] [--prune]
//	get sites | site NAME | circuits | chargers | gridlimits --site S
//	describe site|charger|circuit NAME [--site S]
//	delete site|circuit|charger|gridlimit NAME [--site S] [--etag E] [--force]
//	limit set --site S --id ID --source SRC (--limit-a A | --l1 A --l2 A --l3 A | --power-kw P) [--from T] [--until T] [--reason R]
//	limit show --site S [--at T]
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

// Package e2e holds the closed-loop end-to-end tests and benchmarks of
// smartcharge: the smartcharged binary (built once per test run), a real
// redis-server (site/storetest/redistest) and simulated chargers (package
// sim) speaking OCPP-J 1.6 and 2.0.1 over real WebSockets on 127.0.0.1.
//
// The package has no code of its own besides this file; everything is in
// _test.go files. The safety invariant (the limits the chargers accepted
// never sum above the limit in force, on any phase at any node, at any
// moment) is checked from the chargers' side: the simulator's ledger,
// sampled at every step, not the daemon's own view.
//
// # Running
//
//	go test -race ./e2e/...                                  # the tests (a few minutes)
//	go test -run '^$' -bench . -benchtime 8x ./e2e/          # grid-limit change to accepted, 100 and 1,000 chargers
//
// redis-server must be installed (apt-get install redis-server); without
// it the tests are skipped unless CI=true. See docs/e2e.md.
package e2e

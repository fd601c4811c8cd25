// Package interop proves that the OCPP adapter (package ocppadapter) speaks
// OCPP-J 1.6 and 2.0.1 the way an independent implementation expects: its
// tests run the npm package ocpp-rpc 2.2.1 in strict mode (every CALL and
// CALLRESULT validated against the OCA JSON schemas, in both directions)
// as a charger against a real adapter on 127.0.0.1, and check what the
// adapter published, what it answered and every frame on the wire.
//
// The package has no code of its own; everything is in its tests.
//
// # What the caller must do
//
// Nothing but `go test ./ocppadapter/interop/`. The tests need node and
// npm on PATH; the first run does `npm ci` in node/ (from the committed
// package-lock.json) when node/node_modules is missing. Without node or
// npm the tests skip, unless CI=true, where they fail.
//
// # Layout
//
//   - node/charger.js: a scripted charger on ocpp-rpc's RPCClient
//     (strictMode: true) that boots, reports status, authorises, runs a
//     transaction with per-phase meter values, sends DataTransfer (and on
//     2.0.1 NotifyEVChargingNeeds and NotifyChargingLimit), and answers the
//     adapter's CALLs: the capability read after boot, SetChargingProfile,
//     ClearChargingProfile, GetCompositeSchedule, TriggerMessage.
//   - node/raw.js: sends malformed frames over a plain WebSocket (the ws
//     package under ocpp-rpc) and reports the replies, for the CALLERROR
//     tests.
//   - node/csms.js: a CSMS on ocpp-rpc's RPCServer (strictMode: true) that
//     captures every frame, for TestProxyEndToEnd: 20 Go test chargers
//     through the adapter in local controller mode (docs/proxy.md). The
//     CSMS outage in that test lasts SMARTCHARGE_PROXY_OUTAGE (a Go
//     duration, default 3s; the scenario is 30s).
package interop

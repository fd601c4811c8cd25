// Package ocppadapter is the central-system side of OCPP-J 1.6 and OCPP
// 2.0.1 over WebSocket. It is the only package of smartcharge that sees
// OCPP versions: what chargers report becomes version-neutral site.Event
// values, and commands arrive through site.ChargerControl.
//
// # Usage
//
// Build a [Server] with [NewServer] from a [Config] (Store and Events are
// required; zero fields take defaults), mount it at /ocpp/ on the OCPP
// listener and call [Server.Close] on shutdown:
//
//	srv, err := ocppadapter.NewServer(ocppadapter.Config{Store: st, Events: sink, Logger: log})
//	mux.Handle("/ocpp/", srv)
//	httpSrv := &http.Server{Handler: mux, TLSConfig: srv.TLSConfig()} // TLS for profiles 2, 3
//	...
//	srv.Close() // before closing the store
//
// ServeHTTP returns as soon as a connection is upgraded; the connection
// then runs on a goroutine of the Server's own. http.Server.Shutdown does
// not see such (hijacked) connections: call [Server.Close], which closes
// them and waits for their goroutines. Commands sent through the Server
// while it closes fail with site.ErrOffline.
//
// The charger identity is the last segment of the URL path
// (ws(s)://host:port/ocpp/{chargerIdentity}); it must be registered on a
// site (site.Store.ChargerByIdentity). The Server is also the
// site.ChargerControl the control loop uses.
//
// # Handshake
//
// The newest subprotocol both sides offer is chosen (ocpp2.0.1, then
// ocpp1.6). Refused handshakes get an HTTP status and a log line: 400 with
// no supported subprotocol, 404 for an identity not registered (unless
// Config.AdmitUnknown puts it on a holding list, see [Server.Pending]),
// 401 for missing or wrong Basic credentials (security profiles 1 and 2;
// the user must be the identity, the password is checked against
// site.Charger.PasswordHash, see [HashPassword]), 403 without TLS on
// profiles 2 and 3 or with a client certificate whose subject CN is not
// the identity (profile 3), 503 when the store cannot be reached. A charger
// that connects again replaces its old connection, which is closed first.
//
// # RPC
//
// Frames are parsed strictly ([ParseFrame]); every CALL and CALLRESULT
// payload is validated against the official OCA JSON schemas (embedded
// from schemas/, see its README) and then decoded. The schemas are
// compiled once into a fast validator that walks the payload's bytes in
// one pass; it only ever says "valid", and every payload it does not
// accept goes to jsonschema/v6, which decides and names the violation, so
// verdicts and error codes are jsonschema's (checked by a differential
// test and fuzzer). Of several violations the first in instance-location
// order is answered. Violations are answered
// with the CALLERROR code the version defines ([ErrorCode.Wire]: 1.6
// FormationViolation and OccurenceConstraintViolation, 2.0.1
// FormatViolation and OccurrenceConstraintViolation, RpcFrameworkError,
// MessageTypeNotSupported): a missing field is an occurrence violation, a
// wrong JSON type a type violation, a bad enum value, range, length or
// date-time a property violation, an unknown field or a non-object payload
// a format violation, an action the version does not define
// NotImplemented, and one we do not handle NotSupported. The connection
// lives on. A frame larger than Config.MaxFrameBytes closes the connection
// with status 1009 before it is read into memory.
//
// At most one CALL per direction is outstanding: the charger's CALLs are
// handled one at a time on the connection's reading goroutine, and our
// CALLs queue until the previous one is answered or Config.CallTimeout
// passes. Answers with unknown or repeated message ids are logged and
// dropped. WebSocket pings run every Config.PingInterval; a ping not
// answered within CallTimeout closes the connection. [Server.Close] sends
// close 1001 and waits up to 5 s for the charger's close frame.
//
// # Resources
//
// The WebSocket layer is github.com/gorilla/websocket (the server side;
// the benchmark's simulated chargers and the test clients use
// github.com/coder/websocket, an independent implementation). An idle
// connection holds one goroutine blocked in a read, a 128-byte bufio
// buffer for frame headers, a ping timer and the WebSocket and adapter
// state; payloads are read into pooled 4 KiB chunks (on plain TCP the
// read waits for readiness through syscall.RawConn and takes a chunk
// only when data has arrived) and written from pooled write buffers.
// The blocked read is kept shallow (conn.run) so that the runtime shrinks
// the goroutine's stack to 4 KiB at the next GC. Measured over 10,000
// booted idle connections (1.6, ocppbench): 8.7 KiB each (4.0 KiB stack,
// 4.4 KiB heap, including the benchmark's in-memory store), against
// 18.1 KiB on coder/websocket; see docs/ocpp-conformance.md. TLS
// connections (profiles 2 and 3) cost more: crypto/tls keeps its own
// record buffers.
//
// Reads and answers set no timer per frame: reads end when the connection
// is closed, and with pings on a peer that stops reading is caught by the
// next ping (an answer blocks at most PingInterval + CallTimeout). Pings
// are sent from the ping timer and their pongs seen by the reader: no
// goroutine waits for a pong. MeterValues is validated and decoded
// without building a value tree or using reflection. Measured: about
// 54,000 MeterValues round trips per second of server CPU time (1,000
// chargers; ocppbench).
//
// # Durability
//
// Everything a charger reports is written to the store before its CALL
// is answered, with one exception: MeterValues within
// Config.MeterPersistInterval (default 5 s) of this connection's last
// write. Those samples (the newest per EVSE and the running transaction's
// energy) are kept on the connection and written when the interval is up,
// with the charger's next other state change (status, transaction,
// heartbeat) or when the connection ends, whichever is first; their
// events are published at once. A crash of the central system loses at
// most that interval's newest samples, which the next sample replaces
// (the energy register counts on in the charger; transaction start and
// stop, boot, status and capabilities are never deferred). A negative
// MeterPersistInterval writes every sample before answering.
//
// # Events
//
// Published to Config.Events, in the order they happen on a connection:
//
//   - ChargerConnected / ChargerDisconnected: the WebSocket opened or
//     closed (a replaced connection's Disconnected comes before the new
//     Connected).
//   - ChargerBooted: BootNotification (accepted, or held Pending for
//     commissioning, see First commissioning); after an Accepted one
//     the adapter reads the smart-charging capabilities (1.6 GetConfiguration, 2.0.1
//     GetVariables), sets meter sampling (1.6 ChangeConfiguration
//     MeterValuesSampledData and MeterValueSampleInterval, 2.0.1
//     SetVariables SampledDataCtrlr.TxUpdatedMeasurands and
//     TxUpdatedInterval) and publishes ChargerCapabilitiesRead.
//   - EVSEStatusChanged: 1.6 StatusNotification (Preparing is
//     StatusOccupied); 2.0.1 StatusNotification and TransactionEvent
//     chargingState (Occupied does not overwrite Charging or Suspended*).
//   - TransactionStarted / TransactionUpdated / TransactionStopped: 1.6
//     Start/StopTransaction and MeterValues with a transaction; 2.0.1
//     TransactionEvent. 1.6 transaction ids are integers allocated from
//     ChargerState.NextTransactionID; 2.0.1 ids are the charger's.
//   - MeterSampled: each meter value with current per phase (a current
//     without phase counts on all three phases), total active power,
//     energy register (Wh) and SoC.
//   - ChargingNeedsReported: 2.0.1 NotifyEVChargingNeeds.
//   - ExternalSchedulesReported: 2.0.1 NotifyChargingLimit (K11, K12)
//     with the chargingLimitSource (EMS, SO, Other; CSO, which K12.FR.04
//     forbids, is logged and followed) as Source, the EVSE (0: the
//     station) and every chargingSchedule as an ExternalSchedule (start,
//     duration, periods; negative limits as 0; without startSchedule the
//     lowest period counts). A limit of 0 is a limit: the EVSE must not
//     draw. A NotifyChargingLimit without a schedule (the charger sends
//     them only with EnableNotifyChargingLimitWithSchedules) has no
//     schedules: the limit's value is unknown and the charger enforces it
//     itself. ClearedChargingLimit (K13) is the source's event without
//     schedules for the EVSE (0 without evseId).
//
// Before an event is published, the state it reports (connection, boot
// data, capabilities, EVSE status, running transaction, last meter sample)
// is written with site.Store.UpdateChargerState, so a restart does not
// forget a running transaction; meter samples may be written later (see
// Durability). If the store fails, the charger's CALL is
// answered with InternalError so it sends the message again.
//
// # Commands
//
// [Server.SetLimit] sends SetChargingProfile (limits rounded down to 0.1),
// [Server.ClearLimit] ClearChargingProfile, [Server.CompositeSchedule]
// GetCompositeSchedule and [Server.Trigger] TriggerMessage. They return
// site.ErrOffline when the charger is not connected and an error wrapping
// site.ErrTimeout when it did not answer in time or the connection dropped
// after the CALL was sent (the charger may have applied it: count it at
// the higher of old and new limit). A charger that does not know the
// message gives CommandNotSupported.
//
// # First commissioning
//
// A charger that has never had the loop's fallback profile may let a car
// draw its maximum until the first one is accepted (the loop counts it at
// its maximum meanwhile). With Config.CommissionPending an OCPP 1.6
// charger whose stored state (site.ChargerState.Loop) shows no accepted
// fallback on one of its configured EVSEs is answered Pending at boot
// (OCPP 1.6 section 4.2: the Central System may then send requests other
// than RemoteStart/StopTransaction, the charger sends none of its own);
// ChargerBooted is published as for any boot, so the loop sends its
// fallback at once. When SetLimit has had a TxDefault limit at
// Config.CommissionStackLevel accepted on every EVSE (EVSE 0: all), or
// the charger refused one (it does not take profiles while Pending), it
// is sent TriggerMessage(BootNotification) and its next boot is
// Accepted; so is any boot Config.CommissionHold after the first one on
// the connection (the Pending answer's interval is the hold left, so a
// charger without TriggerMessage comes back by itself). Capabilities are
// read after the Accepted boot. A charger configured to deny charging
// before it is Accepted (OCPP 1.6 section 4.2.1 advises it for chargers
// never accepted) then never charges without the fallback. OCPP 2.0.1
// chargers are not held: B02.FR.01 does not let the CSMS send
// SetChargingProfile while Pending. Proxied chargers are not held either
// (their registration is their CSMS's). The sites' EVSE lists are read
// with site.Store.Config, at most once per site in 10 s.
//
// # Local controller mode
//
// With Config.Proxy set, each registered charger for which
// [ProxyConfig].Upstream names a CSMS is relayed to it: the adapter opens
// a connection of its own to the CSMS per charger (the charger's identity,
// the subprotocol the CSMS chose among the charger's, Basic auth passed
// through or configured, TLS and client certificates), relays every frame
// both ways as raw bytes, and reads what passes as in direct mode
// (events, store) without answering: the CSMS answers, and 1.6
// transaction ids are learnt from its StartTransaction answers. The
// CSMS's CALLs and the adapter's own are serialised towards the charger
// (one outstanding), each answer routed to its asker; the adapter's ids
// carry a per-server random prefix and a CSMS id with that prefix is
// mapped, so they never collide. A CSMS SetChargingProfile using a
// reserved profile id or stack level is answered Rejected and not
// relayed; a ClearChargingProfile that would remove the reserved ones is
// narrowed; accepted CSMS profiles become ExternalSchedulesReported
// (Source "CSMS", every CSMS profile of the EVSE with its schedules; Tx
// profiles go when their transaction ends, 1.6 ones sent without a
// transactionId at the end of the transaction on their connector or when
// it reports Finishing or Available). When the CSMS is unreachable, ProxyConfig.Loss decides
// (default: as OCPP 2.0.1 Part 4 section 6.3 requires, 2.0.1 chargers are
// disconnected; 1.6 chargers are kept and their CALLs queued and replayed
// in order, or answered per ProxyConfig.Offline). When the charger goes,
// the CSMS connection is closed. See docs/proxy.md. A charger served
// directly pays one nil pointer check per frame and 8 bytes.
package ocppadapter

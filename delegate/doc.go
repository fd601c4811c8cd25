// Package delegate is smartcharge's delegated control: sites whose
// chargers stay connected to another central system (a CSMS) that reports
// what they do and carries smartcharge's charging profiles to them. The
// [Hub] is, for those chargers, what the OCPP adapter is for chargers
// connected to us: it stores reported events in the [site.Store] and
// publishes them to the control loop ([site.EventSink]), and it is the
// loop's [site.ChargerControl]. The gRPC layer (apiserver's
// DelegationService) moves events, commands and acks between the hub and
// the CSMS; the hub never sees protobuf.
//
// # Usage
//
//	hub, err := delegate.New(delegate.Config{Store: st, Outbox: st, // st: *redisstore.Store
//		Events: mgr, Logger: log})                                  // mgr: *loop.Manager
//	defer hub.Close()
//	control := &site.ControlRouter{Route: func(ref site.ChargerRef) site.ChargerControl {
//		if ocpp.Connected(ref) || !hub.Owns(ref) {
//			return ocpp
//		}
//		return hub
//	}}
//	// loop.Config{Control: control, ...}; apiserver.Options{Delegation: hub, ...}
//
// # Commands
//
// Every ChargerControl call becomes a [site.DelegatedCommand] in the
// site's outbox ([site.OutboxStore]: Redis, or [MemOutbox]) with the next
// seq of the site, and waits until the CSMS acknowledges it
// (Config.AnswerTimeout, or ctx, else site.ErrTimeout: the CSMS may still
// carry it out, so the loop counts it at the higher of its old and new
// limit). Without an attached command stream, or for a charger the CSMS
// reported disconnected, calls fail at once with site.ErrOffline and
// nothing is queued. An ack TIMED_OUT is site.ErrTimeout, OFFLINE
// site.ErrOffline, the others a site.CommandResult.
//
// # Order and resume
//
// [Hub.Commands] sends a site's unacknowledged commands in order of seq,
// then new ones as they come. A command leaves the outbox only when it is
// acknowledged, so a stream that breaks loses nothing: the next stream
// (resume_after_seq = the last seq the CSMS acknowledged) starts with the
// unacknowledged ones, in order, and never repeats an acknowledged one.
// Seqs are assigned atomically with the write, so a stream never skips a
// command that was enqueued concurrently. One stream per site: a newer one
// ends the older ([site.ErrSuperseded]).
//
// Because the loop's lowers are separate commands that it waits for before
// it sends raises, and the CSMS carries commands out in order, the loop's
// order of effects and its safety argument (package loop) hold for
// delegated chargers as for directly connected ones.
//
// # Events
//
// [Hub.Report] mirrors the OCPP adapter: connected, booted, capabilities,
// EVSE status, transactions and the newest meter sample are written to
// site.ChargerState (LastSeen stamped), then published; a meter sample
// with an energy register updates its transaction's energy and publishes
// a TransactionUpdated; charging needs and external limits are published
// only. A TransactionStarted for a transaction the EVSE already has is
// published as TransactionUpdated (a CSMS retrying a batch).
//
// # Limits
//
// Commands wait in memory for their ack: a daemon with several replicas
// must route a site's CSMS stream and its loop to the same replica. The
// hub learns which chargers are delegated at run time ([Hub.Owns]): after
// a restart, until the CSMS attaches or reports, commands for its chargers
// go to the OCPP adapter, which answers ErrOffline.
package delegate

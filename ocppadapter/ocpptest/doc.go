// Package ocpptest helps test code that talks OCPP-J to the adapter in
// package ocppadapter: [Start] runs an adapter on 127.0.0.1:0 with an
// in-memory [MemStore] and an event [Recorder]; [Dial] connects a minimal
// charger [Client] that sends CALLs and answers the adapter's CALLs with a
// [Handler] ([DefaultHandler] plays a cooperative charger).
//
// Servers listen on 127.0.0.1 only. Everything started is stopped in the
// test's Cleanup; the caller needs to do nothing else.
package ocpptest

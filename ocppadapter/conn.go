package ocppadapter

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/smartcharge/smartcharge/site"
)

// conn is one charger's WebSocket connection. One goroutine reads and
// dispatches frames; CALLs from the charger are handled inline (the
// charger sends one at a time), answers to our CALLs are handed to the
// waiting caller. Nothing else runs while the connection is idle but a
// ping timer.
type conn struct {
	srv      *Server
	ws       *websocket.Conn
	version  Version
	schemas  *schemaSet
	identity string
	ref      site.ChargerRef
	known    bool
	remote   string
	since    time.Time
	log      connLogger

	// slot holds a token while one of our CALLs is outstanding: callers
	// queue on it (at most one outstanding CALL per direction).
	slot chan struct{}

	mu       sync.Mutex
	pending  *pendingCall
	bootInfo *site.BootInfo // unregistered chargers that booted only
	// commission is the first-commissioning hold (commission.go); nil
	// when none was decided on this connection.
	commission *commission

	// closed is closed when the read loop ends (calls fail fast);
	// finished is done when all cleanup is done (a replacing connection
	// waits); a WaitGroup costs less than a channel per connection.
	closed   chan struct{}
	finished sync.WaitGroup

	capReading atomic.Bool
	workers    sync.WaitGroup // goroutines bound to the connection

	// wmu lets one data frame be written at a time (the WebSocket library
	// allows one writer; control frames have a lock of their own).
	wmu sync.Mutex

	// Keep-alive, guarded by mu: pingTimer sends a ping every PingInterval
	// and then waits CallTimeout for the pong (pongDue).
	pingTimer   *time.Timer
	pongDue     bool
	pingStopped bool

	// storeMu orders this connection's store writes, so that a deferred
	// meter sample never overwrites a newer state; it guards meter.
	storeMu sync.Mutex
	meter   *meterCache

	// up is the connection to the charger's CSMS in local controller
	// mode (proxy.go); nil in direct mode.
	up *upstream
}

type pendingCall struct {
	id     string
	action string
	ch     chan callResult
	// relay: a CSMS's CALL relayed to the charger (proxy mode), sent with
	// id and known to the CSMS as origID.
	relay  bool
	origID string
}

type callResult struct {
	payload json.RawMessage
	err     error
}

func newConn(s *Server, ws *websocket.Conn, v Version, identity string, ref site.ChargerRef, known bool, remote string) *conn {
	c := &conn{
		srv:      s,
		ws:       ws,
		version:  v,
		schemas:  s.schemas[v],
		identity: identity,
		ref:      ref,
		known:    known,
		remote:   remote,
		since:    s.cfg.Clock.Now(),
		slot:     make(chan struct{}, 1),
		closed:   make(chan struct{}),
	}
	c.log = connLogger{c}
	c.finished.Add(1)
	return c
}

func (c *conn) now() time.Time { return c.srv.cfg.Clock.Now() }

// start registers the connection and records it; on false (the server
// is closing) the connection is closed and done. ctx is never cancelled:
// work bound to the connection ends when c.closed is closed.
func (c *conn) start(ctx context.Context) bool {
	if !c.srv.register(c) {
		c.sendClose(websocket.CloseGoingAway, "server shutting down")
		c.closeNow()
		close(c.closed)
		c.finished.Done()
		return false
	}
	c.log.Info("ocpp charger connected", "remote", c.remote, "known", c.known)
	if c.known {
		now := c.now()
		if _, err := c.updateState(ctx, func(st *site.ChargerState) error {
			st.Connected = true
			st.Protocol = c.version.Subprotocol()
			st.LastSeen = now
			return nil
		}); err != nil {
			c.log.Error("ocpp: cannot record connection in store", "err", err)
		}
		c.publish(site.ChargerConnected{EventHeader: c.header(now), Protocol: c.version.Subprotocol()})
	}
	if c.srv.cfg.PingInterval > 0 {
		c.ws.SetPongHandler(c.pong)
		c.mu.Lock()
		c.pingTimer = time.AfterFunc(c.srv.cfg.PingInterval, c.pingTick)
		c.mu.Unlock()
	}
	return true
}

// run reads frames until the connection ends, then cleans up; then it
// calls done. It runs on a goroutine of its own. While the charger is
// idle that goroutine is blocked in a read at the bottom of run,
// readLoop and the WebSocket library: these frames are kept small so
// that the runtime can shrink its stack to 4 KiB (it does when less than
// a quarter is used); the work for each message happens in calls that
// have returned by then (handleMessage, finish).
func (c *conn) run(done func()) {
	defer done()
	c.finish(c.readLoop())
}

// finish cleans up after the read loop has ended.
func (c *conn) finish(err error) {
	defer c.finished.Done()
	ctx := c.srv.base
	close(c.closed)
	c.mu.Lock()
	c.pingStopped = true
	if c.pingTimer != nil {
		c.pingTimer.Stop()
	}
	c.mu.Unlock()
	c.closeNow()
	c.srv.unregister(c)
	c.stopMeter()
	if c.up != nil {
		c.up.stop()
	}
	c.workers.Wait()
	c.log.Info("ocpp charger disconnected", "reason", closeReason(err))
	if c.known {
		bg, stop := context.WithTimeout(context.WithoutCancel(ctx), c.srv.cfg.StoreTimeout)
		now := c.now()
		c.storeMu.Lock()
		_, err := c.persistLocked(bg, func(st *site.ChargerState) error {
			st.Connected = false
			st.LastSeen = now
			return nil
		})
		c.storeMu.Unlock()
		if err != nil {
			c.log.Error("ocpp: cannot record disconnection in store", "err", err)
		}
		stop()
		c.publish(site.ChargerDisconnected{EventHeader: c.header(now)})
	}
}

func closeReason(err error) string {
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		return fmt.Sprintf("close status %d", ce.Code)
	}
	if err == nil {
		return "closed"
	}
	return err.Error()
}

// closeTimeout bounds the closing handshake started by close.
const closeTimeout = 5 * time.Second

// close starts the closing handshake with code and reason, waits until
// the peer has answered (the read loop then ends) or closeTimeout has
// passed, and closes the connection.
func (c *conn) close(code int, reason string) {
	if c.sendClose(code, reason) == nil {
		t := time.NewTimer(closeTimeout)
		select {
		case <-c.closed:
		case <-t.C:
		}
		t.Stop()
	}
	c.closeNow()
}

func (c *conn) sendClose(code int, reason string) error {
	return c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(closeTimeout))
}

// closeNow closes the network connection without a closing handshake;
// the read loop then ends.
func (c *conn) closeNow() { _ = c.ws.Close() }

// pingTick runs on the ping timer: it closes the connection when the last
// ping was not answered within CallTimeout, and otherwise sends a ping
// and waits CallTimeout for its pong. The pong handler sets the timer
// back to PingInterval.
func (c *conn) pingTick() {
	c.mu.Lock()
	if c.pingStopped {
		c.mu.Unlock()
		return
	}
	if c.pongDue {
		c.mu.Unlock()
		c.log.Warn("ocpp: ping not answered, closing connection", "timeout", c.srv.cfg.CallTimeout)
		c.closeNow()
		return
	}
	c.pongDue = true
	c.pingTimer.Reset(c.srv.cfg.CallTimeout)
	c.mu.Unlock()
	if err := c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(c.srv.cfg.CallTimeout)); err != nil {
		c.log.Warn("ocpp: cannot send ping, closing connection", "err", err)
		c.closeNow()
	}
}

// pong is the pong handler; it runs on the reading goroutine.
func (c *conn) pong(string) error {
	c.mu.Lock()
	c.pongDue = false
	if !c.pingStopped {
		c.pingTimer.Reset(c.srv.cfg.PingInterval)
	}
	c.mu.Unlock()
	return nil
}

// bufPool holds read and write buffers shared by all connections, so an
// idle connection holds none.
var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func getBuf() *bytes.Buffer { return bufPool.Get().(*bytes.Buffer) }

func putBuf(b *bytes.Buffer) {
	if b.Cap() > 256<<10 {
		return
	}
	b.Reset()
	bufPool.Put(b)
}

// readLoop reads messages until the connection ends: it is closed
// (Server.Close, a replacing connection, an unanswered ping), the peer
// closes it or breaks the protocol. Reads set no deadline.
func (c *conn) readLoop() error {
	for {
		_, r, err := c.ws.NextReader()
		if err != nil {
			return c.readFailed(err)
		}
		if err := c.handleMessage(r); err != nil {
			return err
		}
	}
}

func (c *conn) readFailed(err error) error {
	if errors.Is(err, websocket.ErrReadLimit) {
		// The library has sent close 1009 without reading the frame.
		c.log.Warn("ocpp: frame larger than MaxFrameBytes refused, closing connection", "max", c.srv.cfg.MaxFrameBytes)
	}
	return err
}

// handleMessage reads one message and handles it. Not inlined: its frame
// must not stay on the idle connection's stack (see run).
//
//go:noinline
func (c *conn) handleMessage(r io.Reader) error {
	buf := getBuf()
	defer putBuf(buf)
	if _, err := buf.ReadFrom(r); err != nil {
		return err
	}
	c.handleFrame(c.srv.base, buf.Bytes())
	return nil
}

func (c *conn) handleFrame(ctx context.Context, data []byte) {
	if c.up != nil {
		c.proxyFrame(ctx, data)
		return
	}
	f, ferr := ParseFrame(data)
	if ferr != nil {
		c.log.Warn("ocpp: bad frame", "err", ferr.Reason, "id", ferr.ID, "code", ferr.Code.Wire(c.version))
		if ferr.Type == TypeCallResult || ferr.Type == TypeCallError {
			// Never answer an answer; fail the waiting call instead.
			c.deliver(ferr.ID, callResult{err: fmt.Errorf("%w: %s", ErrBadResponse, ferr.Reason)})
			return
		}
		id := ferr.ID
		if id == "" {
			id = UnknownMessageID
		}
		c.sendError(ctx, id, &CallError{Code: ferr.Code, Description: ferr.Reason})
		return
	}
	switch f.Type {
	case TypeCall:
		c.handleCall(ctx, f)
	case TypeCallResult:
		c.handleResult(f)
	case TypeCallError:
		code, _ := ParseErrorCode(f.ErrorCode)
		details := bytes.Clone(f.ErrorDetails)
		c.deliver(f.ID, callResult{err: &CallError{Code: code, Description: f.ErrorDescription, Details: details}})
	}
}

func (c *conn) handleCall(ctx context.Context, f Frame) {
	var (
		resp  any
		after func()
		cerr  *CallError
	)
	switch {
	case !c.schemas.has(f.Action, dirReq):
		cerr = &CallError{Code: CodeNotImplemented, Description: "unknown action " + f.Action}
	case !c.handles(f.Action):
		cerr = &CallError{Code: CodeNotSupported, Description: "action " + f.Action + " is not supported by this central system"}
	default:
		cerr = c.schemas.validate(f.Action, dirReq, f.Payload)
	}
	if cerr == nil {
		if !c.known {
			resp, cerr = c.handleUnknown(f.Action, f.Payload)
		} else if c.version == V16 {
			resp, after, cerr = c.handle16(ctx, f.Action, f.Payload)
		} else {
			resp, after, cerr = c.handle201(ctx, f.Action, f.Payload)
		}
	}
	if cerr != nil {
		cerr.Action = f.Action
		c.log.Info("ocpp: CALL answered with CALLERROR", "action", f.Action, "id", f.ID, "code", cerr.Code.Wire(c.version), "desc", cerr.Description)
		c.sendError(ctx, f.ID, cerr)
		return
	}
	if err := c.sendResult(ctx, f.ID, f.Action, resp); err != nil {
		c.log.Warn("ocpp: cannot send CALLRESULT", "action", f.Action, "err", err)
		return
	}
	if after != nil {
		after()
	}
}

func (c *conn) handles(action string) bool {
	if c.version == V16 {
		return handles16(action)
	}
	return handles201(action)
}

func (c *conn) handleResult(f Frame) {
	c.mu.Lock()
	p := c.pending
	c.mu.Unlock()
	if p == nil || p.id != f.ID {
		c.log.Warn("ocpp: CALLRESULT with unknown or duplicate message id ignored", "id", f.ID)
		return
	}
	if cerr := c.schemas.validate(p.action, dirConf, f.Payload); cerr != nil {
		c.deliver(f.ID, callResult{err: fmt.Errorf("%w: %s: %s: %s", ErrBadResponse, p.action, cerr.Code, cerr.Description)})
		return
	}
	c.deliver(f.ID, callResult{payload: bytes.Clone(f.Payload)})
}

// deliver hands a result to the outstanding call with that id; results
// for no outstanding call are logged and dropped.
func (c *conn) deliver(id string, r callResult) {
	c.mu.Lock()
	p := c.pending
	if p != nil && p.id == id {
		c.pending = nil
	} else {
		p = nil
	}
	c.mu.Unlock()
	if p == nil {
		c.log.Warn("ocpp: answer with unknown or duplicate message id ignored", "id", id)
		return
	}
	if ce, ok := r.err.(*CallError); ok {
		ce.Action = p.action
	}
	p.ch <- r
}

// write sends one frame within CallTimeout (or ctx's deadline, if
// sooner).
func (c *conn) write(ctx context.Context, frame []byte) error {
	deadline := time.Now().Add(c.srv.cfg.CallTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	return c.writeFrame(deadline, frame)
}

func (c *conn) writeFrame(deadline time.Time, frame []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.ws.SetWriteDeadline(deadline); err != nil {
		return err
	}
	return c.ws.WriteMessage(websocket.TextMessage, frame)
}

// writeAnswer sends an answer from the reading goroutine. With pings on,
// it sets no timer of its own: a peer that stops reading fills the socket
// buffer and blocks the write, the next ping then cannot be written
// within CallTimeout, and the connection is closed, which ends the write
// (at most PingInterval + CallTimeout). Without pings it is write.
func (c *conn) writeAnswer(ctx context.Context, frame []byte) error {
	if c.srv.cfg.PingInterval <= 0 {
		return c.write(ctx, frame)
	}
	return c.writeFrame(time.Time{}, frame)
}

func (c *conn) sendResult(ctx context.Context, id, action string, resp any) error {
	buf := getBuf()
	defer putBuf(buf)
	var payload []byte
	if _, empty := resp.(emptyConf); empty {
		payload = emptyPayload
	} else {
		var err error
		if payload, err = json.Marshal(resp); err != nil {
			return fmt.Errorf("ocppadapter: encode answer: %w", err)
		}
	}
	if c.srv.cfg.ValidateOutgoing {
		if cerr := c.schemas.validate(action, dirConf, payload); cerr != nil {
			c.log.Error("ocpp: our answer breaks the schema", "action", action, "err", cerr)
			c.sendError(ctx, id, &CallError{Code: CodeInternalError, Description: "central system built an invalid answer: " + cerr.Description})
			return nil
		}
	}
	frame := AppendCallResult(buf.AvailableBuffer(), id, payload)
	return c.writeAnswer(ctx, frame)
}

// emptyPayload is the answer to most notifications; read-only.
var emptyPayload = []byte("{}")

func (c *conn) sendError(ctx context.Context, id string, e *CallError) {
	buf := getBuf()
	defer putBuf(buf)
	frame := AppendCallError(buf.AvailableBuffer(), c.version, id, e)
	if err := c.writeAnswer(ctx, frame); err != nil {
		c.log.Warn("ocpp: cannot send CALLERROR", "err", err)
	}
}

// call sends one CALL and waits for its answer. Calls queue behind the
// outstanding one. After CallTimeout without an answer it returns an
// error wrapping site.ErrTimeout; if the connection drops after the CALL
// was sent, one wrapping both site.ErrTimeout and site.ErrOffline (the
// charger may have applied it).
func (c *conn) call(ctx context.Context, action string, req any) (json.RawMessage, error) {
	payload, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("ocppadapter: encode %s: %w", action, err)
	}
	if c.srv.cfg.ValidateOutgoing {
		if cerr := c.schemas.validate(action, dirReq, payload); cerr != nil {
			return nil, fmt.Errorf("ocppadapter: outgoing %s breaks the schema: %w", action, cerr)
		}
	}
	select {
	case c.slot <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-c.closed:
		return nil, fmt.Errorf("%s: %w", c.ref, site.ErrOffline)
	}
	defer func() { <-c.slot }()

	p := &pendingCall{id: c.srv.nextMessageID(), action: action, ch: make(chan callResult, 1)}
	c.mu.Lock()
	c.pending = p
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		if c.pending == p {
			c.pending = nil
		}
		c.mu.Unlock()
	}()

	buf := getBuf()
	frame := AppendCall(buf.AvailableBuffer(), p.id, action, payload)
	err = c.write(ctx, frame)
	putBuf(buf)
	if err != nil {
		select {
		case <-c.closed:
			return nil, fmt.Errorf("%s: %s: %w", c.ref, action, site.ErrOffline)
		default:
		}
		return nil, fmt.Errorf("ocppadapter: send %s: %w", action, err)
	}
	timer := time.NewTimer(c.srv.cfg.CallTimeout)
	defer timer.Stop()
	select {
	case r := <-p.ch:
		return r.payload, r.err
	case <-timer.C:
		c.log.Warn("ocpp: CALL timed out", "action", action, "id", p.id)
		return nil, fmt.Errorf("%s: %s: %w", c.ref, action, site.ErrTimeout)
	case <-ctx.Done():
		return nil, fmt.Errorf("%s: %s: %w (%w)", c.ref, action, site.ErrTimeout, ctx.Err())
	case <-c.closed:
		return nil, fmt.Errorf("%s: %s: connection lost before the answer: %w (%w)", c.ref, action, site.ErrTimeout, site.ErrOffline)
	}
}

// callInto sends a CALL and decodes the answer into resp.
func (c *conn) callInto(ctx context.Context, action string, req, resp any) error {
	raw, err := c.call(ctx, action, req)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(raw, resp); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrBadResponse, action, err)
	}
	return nil
}

func (c *conn) header(t time.Time) site.EventHeader {
	return site.EventHeader{Ref: c.ref, Time: t}
}

func (c *conn) publish(ev site.Event) { c.srv.cfg.Events.Publish(ev) }

// updateState changes the charger's live state in the store, with the
// EVSE map allocated, after writing any deferred meter samples.
func (c *conn) updateState(ctx context.Context, fn func(*site.ChargerState) error) (site.ChargerState, error) {
	ctx, cancel := context.WithTimeout(ctx, c.srv.cfg.StoreTimeout)
	defer cancel()
	c.storeMu.Lock()
	defer c.storeMu.Unlock()
	return c.persistLocked(ctx, fn)
}

// storeFailed turns a store error into the CALLERROR the charger gets, so
// it retries later: nothing it reported is lost silently.
func (c *conn) storeFailed(action string, err error) *CallError {
	c.log.Error("ocpp: state store failed while handling a message", "action", action, "err", err)
	return &CallError{Code: CodeInternalError, Description: "central system could not store the message; retry later"}
}

// decode reads a payload that already passed the schema.
func decode(payload []byte, dst any) *CallError {
	if err := json.Unmarshal(payload, dst); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return &CallError{Code: CodeTypeConstraintViolation, Description: err.Error()}
		}
		return &CallError{Code: CodePropertyConstraintViolation, Description: err.Error()}
	}
	return nil
}

// handleUnknown answers a charger in the holding list: it may boot (and
// is told Pending) and send heartbeats, nothing else.
func (c *conn) handleUnknown(action string, payload []byte) (any, *CallError) {
	now := c.now().UTC()
	switch action {
	case "BootNotification":
		var info site.BootInfo
		if c.version == V16 {
			var req bootReq16
			if cerr := decode(payload, &req); cerr != nil {
				return nil, cerr
			}
			info = bootInfo16(req)
			c.setPendingBoot(info)
			return bootConf16{Status: "Pending", CurrentTime: now, Interval: int(c.srv.cfg.HeartbeatInterval / time.Second)}, nil
		}
		var req bootReq201
		if cerr := decode(payload, &req); cerr != nil {
			return nil, cerr
		}
		info = bootInfo201(req)
		c.setPendingBoot(info)
		return bootConf201{Status: "Pending", CurrentTime: now, Interval: int(c.srv.cfg.HeartbeatInterval / time.Second)}, nil
	case "Heartbeat":
		return heartbeatConf{CurrentTime: now}, nil
	}
	return nil, &CallError{Code: CodeSecurityError, Description: "charger is not registered with the central system"}
}

func (c *conn) setPendingBoot(b site.BootInfo) {
	c.mu.Lock()
	c.bootInfo = &b
	c.mu.Unlock()
	c.log.Info("ocpp: unregistered charger booted; held as pending", "vendor", b.Vendor, "model", b.Model, "serial", b.SerialNumber)
}

func (c *conn) pendingInfo() PendingCharger {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := PendingCharger{Identity: c.identity, Protocol: c.version.Subprotocol(), Remote: c.remote, Since: c.since}
	if c.bootInfo != nil {
		p.Boot = *c.bootInfo
	}
	return p
}

// goBound runs fn in a goroutine that the connection waits for when it
// ends; fn's context is cancelled when the connection ends, and fn must
// return once it is done.
func (c *conn) goBound(ctx context.Context, fn func(context.Context)) {
	ctx, cancel := context.WithCancel(ctx)
	c.workers.Go(func() {
		select {
		case <-c.closed:
			cancel()
		case <-ctx.Done():
		}
	})
	c.workers.Go(func() {
		defer cancel()
		fn(ctx)
	})
}

// connLogger adds the charger's identity and version to each record; it
// holds nothing per connection (a slog.Logger.With would).
type connLogger struct{ c *conn }

func (l connLogger) with(args []any) []any {
	return append([]any{"identity", l.c.identity, "ocpp", l.c.version.String()}, args...)
}

func (l connLogger) Info(msg string, args ...any)  { l.c.srv.log.Info(msg, l.with(args)...) }
func (l connLogger) Warn(msg string, args ...any)  { l.c.srv.log.Warn(msg, l.with(args)...) }
func (l connLogger) Error(msg string, args ...any) { l.c.srv.log.Error(msg, l.with(args)...) }

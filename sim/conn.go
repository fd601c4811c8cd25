package sim

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/coder/websocket"
)

// maxFrameBytes bounds one incoming WebSocket message.
const maxFrameBytes = 1 << 20

// run keeps the charger connected until ctx ends: dial, read until the
// connection drops, wait (backoff, or the offline time a quirk set), dial
// again. It is the charger's only goroutine.
func (c *Charger) run(ctx context.Context) {
	backoff := c.fleet.opts.ReconnectMin
	for ctx.Err() == nil {
		c.mu.Lock()
		wait := c.offlineUntil.Sub(c.fleet.clock.Now())
		c.mu.Unlock()
		if wait > 0 && !sleepCtx(ctx, wait) {
			return
		}
		conn, err := c.dial(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			c.log.Debug("sim: connect failed", "err", err, "retry_in", backoff)
			c.mu.Lock()
			jitter := time.Duration(c.rng.Int64N(int64(backoff)/2 + 1))
			c.mu.Unlock()
			if !sleepCtx(ctx, backoff+jitter) {
				return
			}
			backoff = min(backoff*2, c.fleet.opts.ReconnectMax)
			continue
		}
		backoff = c.fleet.opts.ReconnectMin
		c.attach(ctx, conn)
		// The read must not see ctx end (coder/websocket would drop the
		// TCP connection): at the end of the run the charger says goodbye
		// with a close handshake instead, which ends the read.
		stop := context.AfterFunc(ctx, func() { _ = conn.Close(websocket.StatusGoingAway, "simulation ended") })
		err = c.readLoop(context.WithoutCancel(ctx), conn)
		stop()
		c.detach(conn)
		_ = conn.CloseNow()
		if ctx.Err() == nil {
			c.log.Debug("sim: connection lost", "err", err)
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func (c *Charger) dial(ctx context.Context) (*websocket.Conn, error) {
	u := strings.TrimRight(c.fleet.opts.Server, "/") + "/" + url.PathEscape(c.spec.ID)
	h := http.Header{}
	if c.spec.Password != "" {
		h.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(c.spec.ID+":"+c.spec.Password)))
	}
	dctx, cancel := context.WithTimeout(ctx, c.fleet.opts.DialTimeout)
	defer cancel()
	conn, resp, err := websocket.Dial(dctx, u, &websocket.DialOptions{
		Subprotocols: []string{c.dialect.subprotocol()},
		HTTPHeader:   h,
		HTTPClient:   c.fleet.httpClient,
	})
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("sim: dial %s: %w", u, err)
	}
	if conn.Subprotocol() != c.dialect.subprotocol() {
		_ = conn.Close(websocket.StatusProtocolError, "subprotocol not agreed")
		return nil, fmt.Errorf("sim: dial %s: server chose subprotocol %q, want %q", u, conn.Subprotocol(), c.dialect.subprotocol())
	}
	conn.SetReadLimit(maxFrameBytes)
	return conn, nil
}

// attach makes conn the charger's connection and queues what a charger
// sends on connecting: BootNotification the first time, the EVSEs' status
// after a reconnect.
func (c *Charger) attach(ctx context.Context, conn *websocket.Conn) {
	c.mu.Lock()
	c.conn = conn
	c.connects++
	if !c.booted {
		c.outbox = append([]outCall{c.dialect.bootCall()}, c.outbox...)
	} else {
		c.queue(c.dialect.statusAll()...)
	}
	c.mu.Unlock()
	c.pump(ctx)
}

// detach forgets conn; calls that need not survive the outage are dropped.
func (c *Charger) detach(conn *websocket.Conn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn != conn {
		return
	}
	c.conn = nil
	keep := c.outbox[:0]
	if c.inflight != nil && c.inflight.keepOffline {
		keep = append(keep, *c.inflight)
	}
	for _, oc := range c.outbox {
		if oc.keepOffline {
			keep = append(keep, oc)
		}
	}
	c.outbox = keep
	c.inflight = nil
	c.inflightID = ""
	kept := c.delayed[:0]
	for _, d := range c.delayed {
		if d.conn != conn {
			kept = append(kept, d)
		}
	}
	c.delayed = kept
}

func (c *Charger) readLoop(ctx context.Context, conn *websocket.Conn) error {
	for {
		typ, data, err := conn.Read(ctx)
		if err != nil {
			return err
		}
		if typ != websocket.MessageText {
			continue
		}
		f, err := ParseFrame(data)
		if err != nil {
			if f.ID != "" && f.Type == msgCall {
				c.write(ctx, conn, encodeError(f.ID, c.dialect.formatError(), err.Error()))
			} else {
				c.log.Warn("sim: bad frame from server", "err", err)
			}
			continue
		}
		switch f.Type {
		case msgCall:
			c.mu.Lock()
			c.received[f.Action]++
			delay := c.quirks.AnswerDelay.D()
			if delay > 0 {
				c.delayed = append(c.delayed, delayedCall{due: c.fleet.clock.Now().Add(delay), frame: f, conn: conn})
				c.mu.Unlock()
				continue
			}
			out := c.handleLocked(f)
			c.mu.Unlock()
			c.write(ctx, conn, out)
			c.pump(ctx)
		case msgCallResult, msgCallError:
			c.mu.Lock()
			if c.inflight == nil || f.ID != c.inflightID {
				c.mu.Unlock()
				c.log.Debug("sim: answer to no pending call", "id", f.ID)
				continue
			}
			oc := c.inflight
			c.inflight, c.inflightID = nil, ""
			if f.Type == msgCallResult && oc.onResult != nil {
				oc.onResult(f.Payload)
			} else if f.Type == msgCallError {
				c.log.Warn("sim: server answered CALLERROR", "action", oc.action, "code", f.ErrorCode, "description", f.ErrorDescription)
			}
			c.mu.Unlock()
			c.pump(ctx)
		}
	}
}

// handleLocked answers one CALL from the server; c.mu is held.
func (c *Charger) handleLocked(f Frame) []byte {
	if f.Action == "SetChargingProfile" || f.Action == "ClearChargingProfile" {
		c.profileMsgs++
	}
	res, cerr := c.dialect.handle(f.Action, f.Payload, c.fleet.clock.Now())
	if cerr != nil {
		return encodeError(f.ID, cerr.code, cerr.desc)
	}
	b, err := encodeResult(f.ID, res)
	if err != nil {
		return encodeError(f.ID, errInternal, err.Error())
	}
	return b
}

// callError is a CALLERROR to send.
type callError struct{ code, desc string }

func (e *callError) Error() string { return e.code + ": " + e.desc }

// decodeStrict unmarshals a CALL payload, rejecting unknown fields.
func decodeStrict(payload json.RawMessage, v any, formatCode string) *callError {
	dec := json.NewDecoder(strings.NewReader(string(payload)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return &callError{errTypeConstraint, err.Error()}
		}
		return &callError{formatCode, err.Error()}
	}
	return nil
}

// pump sends the next queued CALL if none is in flight.
func (c *Charger) pump(ctx context.Context) {
	for {
		c.mu.Lock()
		conn := c.conn
		if conn == nil || c.inflight != nil || len(c.outbox) == 0 {
			c.mu.Unlock()
			return
		}
		oc := c.outbox[0]
		if !c.booted && oc.action != "BootNotification" {
			c.mu.Unlock()
			return
		}
		c.outbox = c.outbox[1:]
		payload, ok := oc.build()
		if !ok {
			c.mu.Unlock()
			continue
		}
		c.seq++
		id := strconv.FormatUint(c.seq, 36) + "-" + strconv.Itoa(c.connects)
		data, err := encodeCall(id, oc.action, payload)
		if err != nil {
			c.mu.Unlock()
			c.log.Error("sim: cannot encode call", "err", err)
			continue
		}
		c.inflight, c.inflightID, c.inflightAt = &oc, id, c.fleet.clock.Now()
		c.mu.Unlock()
		c.write(ctx, conn, data)
		return
	}
}

// flush sends what step queued: due delayed answers, the next CALL, and
// drops a CALL the server left unanswered too long.
func (c *Charger) flush(ctx context.Context, now time.Time) {
	c.mu.Lock()
	var due []delayedCall
	rest := c.delayed[:0]
	for _, d := range c.delayed {
		if !now.Before(d.due) {
			due = append(due, d)
		} else {
			rest = append(rest, d)
		}
	}
	c.delayed = rest
	answers := make([][]byte, len(due))
	for i, d := range due {
		answers[i] = c.handleLocked(d.frame)
	}
	if c.inflight != nil && now.Sub(c.inflightAt) > c.fleet.opts.CallTimeout {
		c.log.Warn("sim: call timed out", "action", c.inflight.action)
		if c.inflight.keepOffline {
			c.outbox = append([]outCall{*c.inflight}, c.outbox...)
		}
		c.inflight, c.inflightID = nil, ""
	}
	c.mu.Unlock()
	for i, a := range answers {
		c.write(ctx, due[i].conn, a)
	}
	c.pump(ctx)
}

func (c *Charger) write(ctx context.Context, conn *websocket.Conn, data []byte) {
	ctx, cancel := context.WithTimeout(ctx, c.fleet.opts.WriteTimeout)
	defer cancel()
	if err := conn.Write(ctx, websocket.MessageText, data); err != nil {
		c.log.Debug("sim: write failed", "err", err)
		_ = conn.CloseNow()
	}
}

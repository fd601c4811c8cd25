package ocppadapter

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// upstream is a proxied charger's connection to its CSMS (local
// controller mode). The charger's frames are relayed as they came, one
// CALL to the CSMS at a time (queued while one is outstanding or the CSMS
// is unreachable); the CSMS's CALLs go to the charger through down, one at
// a time and serialised with the adapter's own CALLs (conn.slot).
type upstream struct {
	srv    *Server
	c      *conn
	cfg    *ProxyConfig
	target UpstreamTarget
	url    string
	header http.Header
	dialer websocket.Dialer
	// ctx ends when the charger's connection ends (stop).
	ctx    context.Context
	cancel context.CancelFunc

	mu    sync.Mutex
	ws    *websocket.Conn // nil while the CSMS is unreachable
	out   *upCall         // the charger's CALL the CSMS has not answered yet
	queue []*upCall       // the charger's CALLs waiting for out
	timer *time.Timer     // out's CallTimeout
	// loss is closed and replaced each time the link goes down (wakes
	// waiters in tests and the retry loop).
	wmu sync.Mutex // one writer on ws

	down chan downItem // the CSMS's CALLs for the charger

	maxStack atomic.Int32 // the charger's ChargeProfileMaxStackLevel, when read
	profiles csmsProfiles

	// Counters for tests and logs.
	relayedUp, relayedDown, replayed, dropped atomic.Int64
}

// upCall is one of the charger's CALLs on its way to the CSMS.
type upCall struct {
	id, action string
	frame      []byte
	// local: the proxy answered it itself (OfflineAnswer); the CSMS's
	// answer is dropped.
	local bool
	// payload of the request, kept for reading the answer
	// (StartTransaction, BootNotification).
	req []byte
}

// newUpstream prepares the connection to t for identity; the charger's
// conn is set once the charger's handshake is done.
func (s *Server) newUpstream(identity string, t UpstreamTarget, hdr http.Header) (*upstream, error) {
	tc, err := t.tlsConfig()
	if err != nil {
		return nil, err
	}
	u := &upstream{
		srv: s, cfg: s.cfg.Proxy, target: t, header: hdr,
		url:  strings.TrimSuffix(t.URL, "/") + "/" + url.PathEscape(identity),
		down: make(chan downItem, 8),
	}
	u.dialer = websocket.Dialer{
		HandshakeTimeout: s.cfg.Proxy.DialTimeout,
		TLSClientConfig:  tc,
		ReadBufferSize:   1024,
		WriteBufferSize:  1024,
		WriteBufferPool:  &s.writes,
	}
	u.ctx, u.cancel = context.WithCancel(s.base)
	return u, nil
}

// upstreamHeader builds the handshake header sent to the CSMS: the
// charger's Authorization when passed through, or the configured one.
func upstreamHeader(r *http.Request, identity string, t UpstreamTarget) http.Header {
	h := http.Header{}
	switch {
	case t.BasicAuthPassthrough:
		if a := r.Header.Get("Authorization"); a != "" {
			h.Set("Authorization", a)
		}
	case t.Password != "":
		req := http.Request{Header: http.Header{}}
		req.SetBasicAuth(identity, t.Password)
		h.Set("Authorization", req.Header.Get("Authorization"))
	}
	return h
}

// dial opens the connection to the CSMS offering protos; it returns the
// chosen subprotocol, or on a refused handshake the CSMS's HTTP status.
func (u *upstream) dial(ctx context.Context, protos []string) (*websocket.Conn, string, int, error) {
	d := u.dialer
	d.Subprotocols = protos
	ctx, cancel := context.WithTimeout(ctx, u.cfg.DialTimeout)
	defer cancel()
	ws, resp, err := d.DialContext(ctx, u.url, u.header)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
			resp.Body.Close()
		}
		return nil, "", status, err
	}
	ws.SetReadLimit(u.srv.cfg.MaxFrameBytes)
	return ws, ws.Subprotocol(), 0, nil
}

// start runs the upstream's goroutines (bound to the charger's
// connection); ws is the connection opened during the handshake, or nil
// when the CSMS could not be reached then.
func (u *upstream) start(ws *websocket.Conn) {
	u.c.workers.Go(u.serveDown)
	u.c.workers.Go(func() { u.run(ws) })
}

// stop closes the connection to the CSMS (it then sees the charger
// offline) and ends the goroutines; called when the charger's
// connection has ended.
func (u *upstream) stop() {
	u.cancel()
	u.mu.Lock()
	ws := u.ws
	if u.timer != nil {
		u.timer.Stop()
	}
	u.mu.Unlock()
	if ws != nil {
		_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, "charger disconnected"), time.Now().Add(time.Second))
		_ = ws.Close()
	}
}

// run keeps the connection to the CSMS: reads it, and while it is down
// dials again with backoff, or closes the charger's connection when the
// policy says so.
func (u *upstream) run(ws *websocket.Conn) {
	backoff := u.cfg.RetryMin
	for {
		if ws == nil {
			var err error
			ws, _, _, err = u.dial(u.ctx, []string{u.c.version.Subprotocol()})
			if err != nil {
				if u.ctx.Err() != nil {
					return
				}
				u.c.log.Warn("ocpp proxy: cannot reach CSMS; retrying", "url", u.url, "in", backoff, "err", err)
				t := time.NewTimer(backoff)
				select {
				case <-u.ctx.Done():
					t.Stop()
					return
				case <-t.C:
				}
				backoff = min(2*backoff, u.cfg.RetryMax)
				continue
			}
			u.c.log.Info("ocpp proxy: CSMS reachable again", "url", u.url)
		}
		backoff = u.cfg.RetryMin
		if !u.connected(ws) {
			_ = ws.Close()
			return
		}
		err := u.readLoop(ws)
		u.lost(ws)
		if u.ctx.Err() != nil {
			return
		}
		u.c.log.Warn("ocpp proxy: connection to CSMS lost", "url", u.url, "reason", closeReason(err))
		if u.cfg.closesOnLoss(u.c.version) {
			u.c.log.Warn("ocpp proxy: closing the charger's connection (OCPP 2.0.1 Part 4 section 6.3)")
			u.c.close(websocket.CloseGoingAway, "CSMS connection lost")
			return
		}
		ws = nil
	}
}

// connected installs ws and sends the queue's head, if any.
func (u *upstream) connected(ws *websocket.Conn) bool {
	u.mu.Lock()
	if u.ctx.Err() != nil {
		u.mu.Unlock()
		return false
	}
	u.ws = ws
	next := u.nextLocked()
	u.mu.Unlock()
	if next != nil {
		u.send(next)
	}
	return true
}

// lost forgets ws; the CALL in flight goes back to the queue's head to
// be sent again (with the same message id) when the CSMS is back.
func (u *upstream) lost(ws *websocket.Conn) {
	_ = ws.Close()
	u.mu.Lock()
	if u.ws == ws {
		u.ws = nil
	}
	if u.out != nil {
		u.queue = append([]*upCall{u.out}, u.queue...)
		u.out = nil
		if u.timer != nil {
			u.timer.Stop()
		}
	}
	u.mu.Unlock()
}

// nextLocked makes the queue's head the CALL in flight, if the CSMS is
// reachable and nothing is in flight.
func (u *upstream) nextLocked() *upCall {
	if u.ws == nil || u.out != nil || len(u.queue) == 0 {
		return nil
	}
	next := u.queue[0]
	u.queue[0] = nil
	u.queue = u.queue[1:]
	if len(u.queue) == 0 {
		u.queue = nil
	}
	u.out = next
	u.armLocked(next)
	return next
}

func (u *upstream) armLocked(call *upCall) {
	if u.timer == nil {
		u.timer = time.AfterFunc(u.c.srv.cfg.CallTimeout, u.timeout)
		return
	}
	u.timer.Reset(u.c.srv.cfg.CallTimeout)
}

// timeout gives up on the CALL in flight (the CSMS did not answer within
// CallTimeout) and sends the next.
func (u *upstream) timeout() {
	u.mu.Lock()
	out := u.out
	if out == nil || u.ws == nil {
		u.mu.Unlock()
		return
	}
	u.out = nil
	next := u.nextLocked()
	u.mu.Unlock()
	u.c.log.Warn("ocpp proxy: CSMS did not answer in time", "action", out.action, "id", out.id)
	if next != nil {
		u.send(next)
	}
}

// relay hands one of the charger's CALLs to the CSMS: at once when the
// link is up and nothing is in flight, else queued (bounded).
func (u *upstream) relay(call *upCall) {
	u.mu.Lock()
	if u.ws != nil && u.out == nil && len(u.queue) == 0 {
		u.out = call
		u.armLocked(call)
		u.mu.Unlock()
		u.send(call)
		return
	}
	if len(u.queue) >= u.cfg.OfflineQueueLimit {
		i := 0
		for ; i < len(u.queue); i++ {
			if a := u.queue[i].action; a == "MeterValues" || a == "Heartbeat" {
				break
			}
		}
		if i == len(u.queue) {
			u.mu.Unlock()
			u.dropped.Add(1)
			u.c.log.Warn("ocpp proxy: queue for the CSMS full; CALL dropped", "action", call.action, "id", call.id)
			return
		}
		u.c.log.Warn("ocpp proxy: queue for the CSMS full; oldest meter value dropped", "action", u.queue[i].action, "id", u.queue[i].id)
		u.queue = append(u.queue[:i], u.queue[i+1:]...)
		u.dropped.Add(1)
	}
	if u.ws == nil {
		u.replayed.Add(1)
	}
	u.queue = append(u.queue, call)
	u.mu.Unlock()
}

// online reports whether the CSMS is reachable now.
func (u *upstream) online() bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.ws != nil
}

// send writes the CALL in flight; a failed write ends the read loop,
// which puts it back in the queue.
func (u *upstream) send(call *upCall) {
	if err := u.write(call.frame); err != nil {
		u.c.log.Warn("ocpp proxy: cannot send to CSMS", "action", call.action, "err", err)
		u.mu.Lock()
		ws := u.ws
		u.mu.Unlock()
		if ws != nil {
			_ = ws.Close()
		}
		return
	}
	u.relayedUp.Add(1)
}

// write sends one frame to the CSMS.
func (u *upstream) write(frame []byte) error {
	u.mu.Lock()
	ws := u.ws
	u.mu.Unlock()
	if ws == nil {
		return errUpstreamDown
	}
	u.wmu.Lock()
	defer u.wmu.Unlock()
	if err := ws.SetWriteDeadline(time.Now().Add(u.c.srv.cfg.CallTimeout)); err != nil {
		return err
	}
	return ws.WriteMessage(websocket.TextMessage, frame)
}

var errUpstreamDown = errors.New("ocppadapter: CSMS unreachable")

// readLoop reads the CSMS's frames until the connection ends.
func (u *upstream) readLoop(ws *websocket.Conn) error {
	for {
		_, data, err := ws.ReadMessage()
		if err != nil {
			return err
		}
		u.handleFrame(data)
	}
}

func (u *upstream) handleFrame(data []byte) {
	f, ferr := ParseFrame(data)
	if ferr != nil {
		if ferr.Type == TypeCall || ferr.Type == 0 {
			// Not ours to judge: the charger answers it.
			u.toDown(data)
			return
		}
		u.c.log.Warn("ocpp proxy: bad answer from CSMS relayed", "err", ferr.Reason, "id", ferr.ID)
		u.answered(ferr.ID, data, nil)
		return
	}
	switch f.Type {
	case TypeCall:
		if u.intercept(f) {
			return
		}
		u.toDown(data)
	case TypeCallResult:
		u.answered(f.ID, data, f.Payload)
	case TypeCallError:
		u.answered(f.ID, data, nil)
	}
}

// downItem is a CSMS CALL to relay (data, raw) or work to do in its
// place (run), in order with the others.
type downItem struct {
	data []byte
	run  func(ctx context.Context)
}

func (u *upstream) toDown(data []byte) { u.toDownItem(downItem{data: data}) }

func (u *upstream) toDownItem(it downItem) {
	select {
	case u.down <- it:
	case <-u.ctx.Done():
	}
}

// answered relays the CSMS's answer to the charger's CALL in flight and
// sends the next queued one. payload is nil for a CALLERROR.
func (u *upstream) answered(id string, frame, payload []byte) {
	u.mu.Lock()
	out := u.out
	if out == nil || out.id != id {
		u.mu.Unlock()
		u.c.log.Warn("ocpp proxy: CSMS answer with unknown message id dropped", "id", id)
		return
	}
	u.out = nil
	if u.timer != nil {
		u.timer.Stop()
	}
	next := u.nextLocked()
	u.mu.Unlock()
	if !out.local {
		if err := u.c.writeAnswer(u.ctx, frame); err != nil {
			u.c.log.Warn("ocpp proxy: cannot relay answer to charger", "action", out.action, "err", err)
		} else {
			u.relayedDown.Add(1)
		}
	}
	if payload != nil {
		u.c.observeAnswer(u.ctx, out, payload)
	}
	if next != nil {
		u.send(next)
	}
}

// serveDown sends the CSMS's CALLs to the charger, one at a time, each
// after the previous one (or one of the adapter's own) is answered.
func (u *upstream) serveDown() {
	for {
		select {
		case <-u.ctx.Done():
			return
		case it := <-u.down:
			if it.run != nil {
				it.run(u.ctx)
			} else {
				u.c.relayCall(u.ctx, it.data)
			}
		}
	}
}

// writeCSMSAnswer sends an answer the proxy makes itself to the CSMS.
func (u *upstream) writeCSMSAnswer(id string, payload []byte) {
	frame := AppendCallResult(nil, id, payload)
	if err := u.write(frame); err != nil {
		u.c.log.Warn("ocpp proxy: cannot answer CSMS", "err", err)
	}
}

// relayCall sends one of the CSMS's CALLs to the charger and relays the
// answer (conn.deliverRelayed). Message ids are kept, unless one starts
// with the prefix of the adapter's own ids: that one gets an id of ours
// and its answer is given the CSMS's id back, so that the two never
// collide.
func (c *conn) relayCall(ctx context.Context, data []byte) {
	f, ferr := ParseFrame(data)
	id, action := "", ""
	if ferr == nil {
		id, action = f.ID, f.Action
	} else {
		id = ferr.ID
	}
	select {
	case c.slot <- struct{}{}:
	case <-ctx.Done():
		return
	case <-c.closed:
		return
	}
	defer func() { <-c.slot }()
	wireID, frame := id, data
	if id != "" && strings.HasPrefix(id, c.srv.idPrefix) && ferr == nil {
		wireID = c.srv.nextMessageID()
		frame = AppendCall(nil, wireID, f.Action, f.Payload)
	}
	p := &pendingCall{id: wireID, action: action, ch: make(chan callResult, 1), relay: true, origID: id}
	if id != "" {
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
	}
	if err := c.write(ctx, frame); err != nil {
		c.log.Warn("ocpp proxy: cannot relay CSMS CALL to charger", "action", action, "err", err)
		return
	}
	if id == "" {
		return
	}
	timer := time.NewTimer(c.srv.cfg.CallTimeout)
	defer timer.Stop()
	select {
	case r := <-p.ch:
		if r.err == nil && ferr == nil {
			c.observeCSMSCall(ctx, f, r.payload)
		}
	case <-timer.C:
		c.log.Warn("ocpp proxy: charger did not answer the CSMS's CALL in time", "action", action, "id", id)
	case <-ctx.Done():
	case <-c.closed:
	}
}

// deliverRelayed relays the charger's answer to a CSMS CALL to the CSMS
// and hands it to relayCall; false if id is not that CALL's.
func (c *conn) deliverRelayed(id string, data []byte, payload []byte) bool {
	c.mu.Lock()
	p := c.pending
	if p == nil || !p.relay || p.id != id {
		c.mu.Unlock()
		return false
	}
	c.pending = nil
	c.mu.Unlock()
	frame := data
	if p.origID != p.id {
		if f, ferr := ParseFrame(data); ferr == nil {
			switch f.Type {
			case TypeCallResult:
				frame = AppendCallResult(nil, p.origID, f.Payload)
			case TypeCallError:
				frame = appendRawCallError(nil, p.origID, f)
			}
		}
	}
	if err := c.up.write(frame); err != nil {
		c.log.Warn("ocpp proxy: cannot relay answer to CSMS", "action", p.action, "err", err)
	} else {
		c.up.relayedUp.Add(1)
	}
	r := callResult{}
	if payload != nil {
		r.payload = bytes.Clone(payload)
	} else {
		r.err = ErrCallError
	}
	p.ch <- r
	return true
}

// appendRawCallError re-frames a CALLERROR with another id, keeping the
// code, description and details as they came.
func appendRawCallError(dst []byte, id string, f Frame) []byte {
	dst = append(dst, "[4,"...)
	dst = appendJSONString(dst, id)
	dst = append(dst, ',')
	dst = appendJSONString(dst, f.ErrorCode)
	dst = append(dst, ',')
	dst = appendJSONString(dst, f.ErrorDescription)
	dst = append(dst, ',')
	dst = append(dst, f.ErrorDetails...)
	return append(dst, ']')
}

// String is for logs.
func (u *upstream) String() string { return fmt.Sprintf("upstream(%s)", u.url) }

package sim

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// schemaSet compiles the official OCA JSON schemas that the OCPP adapter
// vendors (read by path: this package must not import ocppadapter).
type schemaSet struct {
	mu       sync.Mutex
	compiler *jsonschema.Compiler
	known    map[string]bool
	compiled map[string]*jsonschema.Schema
}

func loadSchemas(t testing.TB, file string) *schemaSet {
	t.Helper()
	f, err := os.Open(path.Join("..", "ocppadapter", "schemas", file))
	if err != nil {
		t.Fatalf("OCA schemas: %v", err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	s := &schemaSet{compiler: jsonschema.NewCompiler(), known: map[string]bool{}, compiled: map[string]*jsonschema.Schema{}}
	s.compiler.DefaultDraft(jsonschema.Draft7)
	s.compiler.AssertFormat()
	for _, e := range doc.([]any) {
		m := e.(map[string]any)
		id := m["$id"].(string)
		if err := s.compiler.AddResource(id, m); err != nil {
			t.Fatal(err)
		}
		s.known[id] = true
	}
	return s
}

// validate checks payload against urn:<action>.<req|conf>.
func (s *schemaSet) validate(action, suffix string, payload []byte) error {
	id := "urn:" + action + "." + suffix
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.known[id] {
		return fmt.Errorf("no schema %s", id)
	}
	sch, ok := s.compiled[id]
	if !ok {
		var err error
		if sch, err = s.compiler.Compile(id); err != nil {
			return err
		}
		s.compiled[id] = sch
	}
	v, err := jsonschema.UnmarshalJSON(strings.NewReader(string(payload)))
	if err != nil {
		return err
	}
	return sch.Validate(v)
}

// testCSMS is a tiny central system for protocol tests: it accepts
// chargers on 127.0.0.1, answers their CALLs, records everything they send
// and checks it against the OCA schemas.
type testCSMS struct {
	t       testing.TB
	srv     *httptest.Server
	schemas map[string]*schemaSet // by subprotocol

	mu         sync.Mutex
	conns      map[string]*csmsConn
	received   []csmsMsg
	schemaErrs []string
	nextTx     int
}

type csmsMsg struct {
	identity, action string
	payload          json.RawMessage
}

type csmsConn struct {
	ws       *websocket.Conn
	protocol string
	mu       sync.Mutex
	seq      int
	pending  map[string]chan Frame
	actions  map[string]string
}

func newTestCSMS(t testing.TB) *testCSMS {
	c := &testCSMS{t: t, conns: map[string]*csmsConn{}, nextTx: 42,
		schemas: map[string]*schemaSet{"ocpp1.6": loadSchemas(t, "ocpp1_6.json"), "ocpp2.0.1": loadSchemas(t, "ocpp2_0_1.json")}}
	c.srv = httptest.NewServer(http.HandlerFunc(c.accept))
	t.Cleanup(c.srv.Close)
	return c
}

func (c *testCSMS) url() string { return "ws" + strings.TrimPrefix(c.srv.URL, "http") + "/ocpp" }

func (c *testCSMS) accept(w http.ResponseWriter, r *http.Request) {
	id := path.Base(r.URL.Path)
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{"ocpp2.0.1", "ocpp1.6"}})
	if err != nil {
		return
	}
	cc := &csmsConn{ws: ws, protocol: ws.Subprotocol(), pending: map[string]chan Frame{}, actions: map[string]string{}}
	c.mu.Lock()
	c.conns[id] = cc
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		if c.conns[id] == cc {
			delete(c.conns, id)
		}
		c.mu.Unlock()
		_ = ws.CloseNow()
	}()
	ctx := r.Context()
	for {
		_, data, err := ws.Read(ctx)
		if err != nil {
			return
		}
		f, err := ParseFrame(data)
		if err != nil {
			c.schemaError("%s sent a bad frame %s: %v", id, data, err)
			continue
		}
		switch f.Type {
		case msgCall:
			c.onCall(ctx, id, cc, f)
		case msgCallResult, msgCallError:
			cc.mu.Lock()
			ch, action := cc.pending[f.ID], cc.actions[f.ID]
			delete(cc.pending, f.ID)
			cc.mu.Unlock()
			if f.Type == msgCallResult && action != "" {
				if err := c.schemas[cc.protocol].validate(action, "conf", f.Payload); err != nil {
					c.schemaError("%s %s.conf %s: %v", id, action, f.Payload, err)
				}
			}
			if ch != nil {
				ch <- f
			}
		}
	}
}

func (c *testCSMS) schemaError(format string, args ...any) {
	c.mu.Lock()
	c.schemaErrs = append(c.schemaErrs, fmt.Sprintf(format, args...))
	c.mu.Unlock()
}

func (c *testCSMS) onCall(ctx context.Context, id string, cc *csmsConn, f Frame) {
	if err := c.schemas[cc.protocol].validate(f.Action, "req", f.Payload); err != nil {
		c.schemaError("%s %s.req %s: %v", id, f.Action, f.Payload, err)
	}
	now := ocppTime(time.Now())
	c.mu.Lock()
	c.received = append(c.received, csmsMsg{id, f.Action, f.Payload})
	tx := c.nextTx
	c.mu.Unlock()
	var res any = map[string]any{}
	switch f.Action {
	case "BootNotification":
		res = map[string]any{"status": "Accepted", "currentTime": now, "interval": 300}
	case "Heartbeat":
		res = map[string]any{"currentTime": now}
	case "Authorize":
		if cc.protocol == "ocpp1.6" {
			res = map[string]any{"idTagInfo": map[string]any{"status": "Accepted"}}
		} else {
			res = map[string]any{"idTokenInfo": map[string]any{"status": "Accepted"}}
		}
	case "StartTransaction":
		res = map[string]any{"transactionId": tx, "idTagInfo": map[string]any{"status": "Accepted"}}
	}
	b, _ := encodeResult(f.ID, res)
	_ = cc.ws.Write(ctx, websocket.MessageText, b)
}

// call sends a CALL to a connected charger and waits for its answer.
func (c *testCSMS) call(ctx context.Context, id, action string, payload any) Frame {
	c.t.Helper()
	data, _ := json.Marshal(payload)
	return c.callRaw(ctx, id, action, data)
}

func (c *testCSMS) callRaw(ctx context.Context, id, action string, payload []byte) Frame {
	c.t.Helper()
	var cc *csmsConn
	waitFor(c.t, 5*time.Second, "charger "+id+" connected", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		cc = c.conns[id]
		return cc != nil
	})
	cc.mu.Lock()
	cc.seq++
	msgID := "csms-" + strconv.Itoa(cc.seq)
	ch := make(chan Frame, 1)
	cc.pending[msgID] = ch
	cc.actions[msgID] = action
	cc.mu.Unlock()
	frame := fmt.Appendf(nil, `[2,%q,%q,%s]`, msgID, action, payload)
	if err := cc.ws.Write(ctx, websocket.MessageText, frame); err != nil {
		c.t.Fatalf("send %s: %v", action, err)
	}
	select {
	case f := <-ch:
		return f
	case <-time.After(5 * time.Second):
		c.t.Fatalf("%s: no answer to %s", id, action)
	}
	return Frame{}
}

// messages returns what id sent with that action.
func (c *testCSMS) messages(id, action string) []json.RawMessage {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []json.RawMessage
	for _, m := range c.received {
		if m.identity == id && m.action == action {
			out = append(out, m.payload)
		}
	}
	return out
}

func (c *testCSMS) errors() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.schemaErrs...)
}

// waitFor polls cond: the simulator runs on real time over a real socket.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

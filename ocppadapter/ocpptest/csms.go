package ocpptest

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/smartcharge/smartcharge/ocppadapter"
)

// CSMS is a minimal upstream CSMS for proxy tests and benchmarks, on
// gorilla/websocket: it answers every CALL at once (BootNotification
// Accepted, StartTransaction with ids from 1, Authorize Accepted, {}
// otherwise) and can be taken down and brought back. Independent
// conformance is node/csms.js's job (package interop).
type CSMS struct {
	HTTP *httptest.Server
	// URL is "ws://127.0.0.1:port/ocpp" (the proxy appends identities).
	URL string

	upgrader websocket.Upgrader
	tx       atomic.Int64

	mu          sync.Mutex
	down        bool
	conns       map[*websocket.Conn]string
	connects    map[string]int
	disconnects map[string]int
	changed     chan struct{}
}

// StartCSMS runs a CSMS on 127.0.0.1 until the test ends.
func StartCSMS(t testing.TB) *CSMS {
	t.Helper()
	s := &CSMS{conns: map[*websocket.Conn]string{}, connects: map[string]int{}, disconnects: map[string]int{}, changed: make(chan struct{})}
	s.upgrader = websocket.Upgrader{Subprotocols: []string{ocppadapter.Subprotocol201, ocppadapter.Subprotocol16}}
	s.HTTP = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = "ws" + strings.TrimPrefix(s.HTTP.URL, "http") + "/ocpp"
	t.Cleanup(func() {
		s.SetDown(true)
		s.HTTP.Close()
	})
	return s
}

// SetDown takes the CSMS down (every connection closed, handshakes
// refused with 503) or brings it back.
func (s *CSMS) SetDown(down bool) {
	s.mu.Lock()
	s.down = down
	var conns []*websocket.Conn
	if down {
		for c := range s.conns {
			conns = append(conns, c)
		}
	}
	s.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
	}
}

// Connects and Disconnects count the connections of identity so far.
func (s *CSMS) Connects(identity string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.connects[identity]
}

// Disconnects counts the ended connections of identity.
func (s *CSMS) Disconnects(identity string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.disconnects[identity]
}

// Wait waits up to timeout for cond and reports whether it became true.
func (s *CSMS) Wait(timeout time.Duration, cond func() bool) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		ch := s.changed
		s.mu.Unlock()
		if cond() {
			return true
		}
		select {
		case <-ch:
		case <-deadline.C:
			return false
		}
	}
}

func (s *CSMS) note(f func()) {
	s.mu.Lock()
	f()
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
}

func (s *CSMS) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	down := s.down
	s.mu.Unlock()
	if down {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	identity := r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:]
	ws, err := s.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	v16 := ws.Subprotocol() == ocppadapter.Subprotocol16
	s.note(func() { s.conns[ws] = identity; s.connects[identity]++ })
	defer s.note(func() { delete(s.conns, ws); s.disconnects[identity]++ })
	defer ws.Close()
	var out []byte
	for {
		_, data, err := ws.ReadMessage()
		if err != nil {
			return
		}
		f, ferr := ocppadapter.ParseFrame(data)
		if ferr != nil || f.Type != ocppadapter.TypeCall {
			continue
		}
		out = ocppadapter.AppendCallResult(out[:0], f.ID, s.answer(v16, f.Action))
		if err := ws.WriteMessage(websocket.TextMessage, out); err != nil {
			return
		}
	}
}

func (s *CSMS) answer(v16 bool, action string) []byte {
	now := `"` + time.Now().UTC().Format(time.RFC3339) + `"`
	switch action {
	case "BootNotification":
		return []byte(`{"status":"Accepted","currentTime":` + now + `,"interval":300}`)
	case "Heartbeat":
		return []byte(`{"currentTime":` + now + `}`)
	case "StartTransaction":
		return []byte(`{"idTagInfo":{"status":"Accepted"},"transactionId":` + strconv.FormatInt(s.tx.Add(1), 10) + `}`)
	case "Authorize":
		if v16 {
			return []byte(`{"idTagInfo":{"status":"Accepted"}}`)
		}
		return []byte(`{"idTokenInfo":{"status":"Accepted"}}`)
	}
	return []byte(`{}`)
}

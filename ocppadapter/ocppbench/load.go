package ocppbench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// WebSocket subprotocols the load generator speaks.
const (
	Protocol16  = "ocpp1.6"
	Protocol201 = "ocpp2.0.1"
)

// LoadConfig configures a fleet of simulated chargers.
type LoadConfig struct {
	// URL is the server's "ws://127.0.0.1:port/ocpp/"; the identity is
	// appended.
	URL string
	// Chargers is the fleet size; charger i is Identity(IdentityPrefix, i)
	// and must be registered on the server.
	Chargers       int
	IdentityPrefix string
	// FirstIndex is the index of the first charger (0: the fleet is
	// chargers 0 .. Chargers-1), so that several fleets can share a server.
	FirstIndex int
	// Protocol is Protocol16 (default) or Protocol201.
	Protocol string
	// DialConcurrency bounds the handshakes in flight (default 64).
	DialConcurrency int
}

// Validate reports every field set wrong.
func (c LoadConfig) Validate() error {
	var errs []error
	u, err := url.Parse(c.URL)
	switch {
	case err != nil:
		errs = append(errs, fmt.Errorf("ocppbench: url: %w", err))
	case u.Scheme != "ws" || (u.Hostname() != "127.0.0.1" && u.Hostname() != "localhost" && u.Hostname() != "::1"):
		errs = append(errs, fmt.Errorf("ocppbench: url %q: want ws:// on a loopback address", c.URL))
	}
	if c.Chargers < 1 || c.Chargers > 100_000 {
		errs = append(errs, errors.New("ocppbench: chargers must be 1 to 100000"))
	}
	if c.IdentityPrefix == "" {
		errs = append(errs, errors.New("ocppbench: identity prefix is required"))
	}
	if c.Protocol != "" && c.Protocol != Protocol16 && c.Protocol != Protocol201 {
		errs = append(errs, fmt.Errorf("ocppbench: protocol %q: want %s or %s", c.Protocol, Protocol16, Protocol201))
	}
	if c.FirstIndex < 0 {
		errs = append(errs, errors.New("ocppbench: first index must not be negative"))
	}
	if c.DialConcurrency < 0 {
		errs = append(errs, errors.New("ocppbench: dial concurrency must not be negative"))
	}
	return errors.Join(errs...)
}

// Fleet is a set of connected, booted chargers with a transaction running
// on EVSE 1. Each is a minimal OCPP-J client of its own on
// github.com/coder/websocket (nothing of the adapter is reused, so the
// figures are what a real charger sees). A fleet is used by one Run at a
// time.
type Fleet struct {
	cfg      LoadConfig
	chargers []*charger
}

// Connect dials every charger, boots it, answers the capability read the
// server does after a boot, reports EVSE 1 occupied and starts a
// transaction. On error the chargers connected so far are closed.
func Connect(ctx context.Context, cfg LoadConfig) (*Fleet, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Protocol == "" {
		cfg.Protocol = Protocol16
	}
	if cfg.DialConcurrency == 0 {
		cfg.DialConcurrency = 64
	}
	f := &Fleet{cfg: cfg, chargers: make([]*charger, cfg.Chargers)}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sem := make(chan struct{}, cfg.DialConcurrency)
	var (
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
	)
	for i := range f.chargers {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Go(func() {
			defer func() { <-sem }()
			c, err := connectCharger(ctx, cfg, Identity(cfg.IdentityPrefix, cfg.FirstIndex+i))
			if err != nil {
				errOnce.Do(func() { firstErr = err; cancel() })
				return
			}
			f.chargers[i] = c
		})
	}
	wg.Wait()
	if firstErr == nil && ctx.Err() != nil {
		firstErr = ctx.Err()
	}
	if firstErr != nil {
		f.Close()
		return nil, firstErr
	}
	return f, nil
}

// Close closes every connection.
func (f *Fleet) Close() {
	for _, c := range f.chargers {
		if c != nil {
			c.ws.CloseNow()
		}
	}
}

// Len is the number of chargers.
func (f *Fleet) Len() int { return len(f.chargers) }

// Result is what a Run measured.
type Result struct {
	RoundTrips int64
	Elapsed    time.Duration
	// Errors counts chargers that stopped on an error.
	Errors int64
	// P50 and P99 are round-trip latencies from a sample of 1 in 16.
	P50, P99 time.Duration
}

// PerSecond is round trips per second.
func (r Result) PerSecond() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.RoundTrips) / r.Elapsed.Seconds()
}

// Run has every charger send MeterValues and wait for the answer, one
// CALL outstanding per charger, until total round trips are done (0: no
// limit) or d has passed (0: no limit); one of them must be set. CALLs
// from the server are answered in between. The first error is returned
// with the result; a charger with an error stops.
func (f *Fleet) Run(ctx context.Context, total int64, d time.Duration) (Result, error) {
	if total <= 0 && d <= 0 {
		return Result{}, errors.New("ocppbench: run needs a round-trip count or a duration")
	}
	var (
		remaining atomic.Int64
		done      atomic.Int64
		errs      atomic.Int64
		errOnce   sync.Once
		firstErr  error
		wg        sync.WaitGroup
		samplesMu sync.Mutex
		samples   []time.Duration
	)
	remaining.Store(total)
	start := time.Now()
	deadline := start.Add(d)
	for _, c := range f.chargers {
		wg.Go(func() {
			var local []time.Duration
			var n int64
			for ctx.Err() == nil {
				if total > 0 && remaining.Add(-1) < 0 {
					break
				}
				t0 := time.Now()
				if d > 0 && t0.After(deadline) {
					break
				}
				if err := c.meterValues(); err != nil {
					errs.Add(1)
					errOnce.Do(func() { firstErr = fmt.Errorf("%s: %w", c.identity, err) })
					break
				}
				n++
				if n%16 == 0 && len(local) < 4096 {
					local = append(local, time.Since(t0))
				}
			}
			done.Add(n)
			samplesMu.Lock()
			samples = append(samples, local...)
			samplesMu.Unlock()
		})
	}
	wg.Wait()
	r := Result{RoundTrips: done.Load(), Elapsed: time.Since(start), Errors: errs.Load()}
	if len(samples) > 0 {
		slices.Sort(samples)
		r.P50 = samples[len(samples)/2]
		r.P99 = samples[len(samples)*99/100]
	}
	return r, firstErr
}

// charger is one simulated charging station. Its methods are called from
// one goroutine at a time.
type charger struct {
	identity string
	ws       *websocket.Conn
	v201     bool
	seq      uint64
	in       bytes.Buffer // last frame read
	out      []byte       // frame being written
	meter    []byte       // MeterValues payload
}

func connectCharger(ctx context.Context, cfg LoadConfig, identity string) (*charger, error) {
	ws, _, err := websocket.Dial(ctx, cfg.URL+url.PathEscape(identity), &websocket.DialOptions{
		Subprotocols:    []string{cfg.Protocol},
		CompressionMode: websocket.CompressionDisabled,
	})
	if err != nil {
		return nil, fmt.Errorf("ocppbench: dial %s: %w", identity, err)
	}
	if ws.Subprotocol() != cfg.Protocol {
		ws.CloseNow()
		return nil, fmt.Errorf("ocppbench: %s: server chose subprotocol %q, want %s", identity, ws.Subprotocol(), cfg.Protocol)
	}
	ws.SetReadLimit(1 << 20)
	c := &charger{identity: identity, ws: ws, v201: cfg.Protocol == Protocol201}
	if err := c.setUp(ctx); err != nil {
		ws.CloseNow()
		return nil, fmt.Errorf("ocppbench: %s: %w", identity, err)
	}
	return c, nil
}

func now() string { return time.Now().UTC().Format("2006-01-02T15:04:05.000Z") }

// setUp boots the charger, answers the capability read and starts a
// transaction on EVSE 1.
func (c *charger) setUp(ctx context.Context) error {
	var boot string
	if c.v201 {
		boot = `{"reason":"PowerUp","chargingStation":{"model":"LoadGen","vendorName":"smartcharge","serialNumber":"` + c.identity + `"}}`
	} else {
		boot = `{"chargePointVendor":"smartcharge","chargePointModel":"LoadGen","chargePointSerialNumber":"` + c.identity + `"}`
	}
	res, err := c.call(ctx, "BootNotification", []byte(boot))
	if err != nil {
		return err
	}
	if !bytes.Contains(res, []byte(`"Accepted"`)) {
		return fmt.Errorf("boot not accepted: %s", res)
	}
	// The capability read: 1.6 GetConfiguration and two
	// ChangeConfiguration, 2.0.1 GetVariables and SetVariables.
	want := 3
	if c.v201 {
		want = 2
	}
	for range want {
		if err := c.serveOneCall(ctx); err != nil {
			return fmt.Errorf("capability read: %w", err)
		}
	}
	ts := now()
	if c.v201 {
		if _, err := c.call(ctx, "StatusNotification", []byte(`{"timestamp":"`+ts+`","connectorStatus":"Occupied","evseId":1,"connectorId":1}`)); err != nil {
			return err
		}
		tx := "TX-" + c.identity
		if _, err := c.call(ctx, "TransactionEvent", []byte(`{"eventType":"Started","timestamp":"`+ts+`","triggerReason":"Authorized","seqNo":0,`+
			`"transactionInfo":{"transactionId":"`+tx+`","chargingState":"Charging"},"evse":{"id":1,"connectorId":1},`+
			`"idToken":{"idToken":"LOAD","type":"Central"},"meterValue":[{"timestamp":"`+ts+`","sampledValue":[{"value":1000,"measurand":"Energy.Active.Import.Register","unitOfMeasure":{"unit":"Wh"}}]}]}`)); err != nil {
			return err
		}
		c.meter = []byte(`{"evseId":1,"meterValue":[{"timestamp":"` + ts + `","sampledValue":[` +
			`{"value":16.1,"measurand":"Current.Import","phase":"L1","unitOfMeasure":{"unit":"A"}},` +
			`{"value":15.9,"measurand":"Current.Import","phase":"L2","unitOfMeasure":{"unit":"A"}},` +
			`{"value":16.0,"measurand":"Current.Import","phase":"L3","unitOfMeasure":{"unit":"A"}},` +
			`{"value":11040,"measurand":"Power.Active.Import","unitOfMeasure":{"unit":"W"}},` +
			`{"value":2500,"measurand":"Energy.Active.Import.Register","unitOfMeasure":{"unit":"Wh"}}]}]}`)
		return nil
	}
	if _, err := c.call(ctx, "StatusNotification", []byte(`{"connectorId":1,"errorCode":"NoError","status":"Charging","timestamp":"`+ts+`"}`)); err != nil {
		return err
	}
	res, err = c.call(ctx, "StartTransaction", []byte(`{"connectorId":1,"idTag":"LOAD","meterStart":1000,"timestamp":"`+ts+`"}`))
	if err != nil {
		return err
	}
	var st struct {
		TransactionID int64 `json:"transactionId"`
	}
	if err := json.Unmarshal(res, &st); err != nil || st.TransactionID == 0 {
		return fmt.Errorf("StartTransaction answered %s", res)
	}
	c.meter = []byte(`{"connectorId":1,"transactionId":` + strconv.FormatInt(st.TransactionID, 10) + `,"meterValue":[{"timestamp":"` + ts + `","sampledValue":[` +
		`{"value":"16.1","measurand":"Current.Import","phase":"L1","unit":"A"},` +
		`{"value":"15.9","measurand":"Current.Import","phase":"L2","unit":"A"},` +
		`{"value":"16.0","measurand":"Current.Import","phase":"L3","unit":"A"},` +
		`{"value":"11040","measurand":"Power.Active.Import","unit":"W"},` +
		`{"value":"2500","measurand":"Energy.Active.Import.Register","unit":"Wh"}]}]}`)
	return nil
}

// meterValues is one round trip on the hot path: no context timers, no
// allocation for the frame.
func (c *charger) meterValues() error {
	_, err := c.call(context.Background(), "MeterValues", c.meter)
	return err
}

// call sends a CALL and reads until its answer, answering the server's
// CALLs in between. The returned payload is valid until the next read.
func (c *charger) call(ctx context.Context, action string, payload []byte) ([]byte, error) {
	c.seq++
	c.out = append(c.out[:0], `[2,"`...)
	idStart := len(c.out)
	c.out = strconv.AppendUint(c.out, c.seq, 10)
	id := c.out[idStart:]
	c.out = append(c.out, `","`...)
	c.out = append(c.out, action...)
	c.out = append(c.out, `",`...)
	c.out = append(c.out, payload...)
	c.out = append(c.out, ']')
	// prefix of the answer: [3,"<id>", ; id aliases c.out, so copy it first.
	var prefix [32]byte
	p := append(append(append(prefix[:0], `[3,"`...), id...), `",`...)
	if err := c.ws.Write(ctx, websocket.MessageText, c.out); err != nil {
		return nil, fmt.Errorf("send %s: %w", action, err)
	}
	for {
		data, err := c.read(ctx)
		if err != nil {
			return nil, fmt.Errorf("await %s answer: %w", action, err)
		}
		if bytes.HasPrefix(data, p) && len(data) > len(p) {
			return data[len(p) : len(data)-1], nil
		}
		if err := c.handleOther(ctx, data, p[4:len(p)-2]); err != nil {
			return nil, fmt.Errorf("await %s answer: %w", action, err)
		}
	}
}

func (c *charger) read(ctx context.Context) ([]byte, error) {
	_, r, err := c.ws.Reader(ctx)
	if err != nil {
		return nil, err
	}
	c.in.Reset()
	if _, err := c.in.ReadFrom(r); err != nil {
		return nil, err
	}
	return bytes.TrimSpace(c.in.Bytes()), nil
}

// serveOneCall reads until one CALL from the server arrives and answers it.
func (c *charger) serveOneCall(ctx context.Context) error {
	for {
		data, err := c.read(ctx)
		if err != nil {
			return err
		}
		if bytes.HasPrefix(data, []byte("[2,")) {
			return c.handleOther(ctx, data, nil)
		}
		if err := c.handleOther(ctx, data, nil); err != nil {
			return err
		}
	}
}

// handleOther deals with a frame that is not the answer awaited: a CALL
// from the server is answered; a CALLERROR for our CALL (id) is an error;
// anything else is a protocol error.
func (c *charger) handleOther(ctx context.Context, data, id []byte) error {
	var parts []json.RawMessage
	if err := json.Unmarshal(data, &parts); err != nil || len(parts) < 3 {
		return fmt.Errorf("unreadable frame %q", data)
	}
	var typ int
	var msgID string
	if json.Unmarshal(parts[0], &typ) != nil || json.Unmarshal(parts[1], &msgID) != nil {
		return fmt.Errorf("unreadable frame %q", data)
	}
	switch {
	case typ == 2 && len(parts) == 4:
		var action string
		if err := json.Unmarshal(parts[2], &action); err != nil {
			return fmt.Errorf("unreadable CALL %q", data)
		}
		answer := c.answer(action, parts[3])
		frame := []byte(`[3,` + strconv.Quote(msgID) + `,` + answer + `]`)
		if answer == "" {
			frame = []byte(`[4,` + strconv.Quote(msgID) + `,"NotImplemented","load generator does not handle ` + action + `",{}]`)
		}
		return c.ws.Write(ctx, websocket.MessageText, frame)
	case typ == 4 && id != nil && msgID == string(id):
		return fmt.Errorf("CALLERROR %s", data)
	}
	return fmt.Errorf("unexpected frame %q", data)
}

// answer returns the CALLRESULT payload for a CALL from the server, or ""
// for NotImplemented.
func (c *charger) answer(action string, payload json.RawMessage) string {
	switch action {
	case "GetConfiguration":
		return `{}`
	case "ChangeConfiguration", "SetChargingProfile", "ClearChargingProfile", "TriggerMessage":
		return `{"status":"Accepted"}`
	case "GetVariables", "SetVariables":
		var req struct {
			Get []struct {
				Component json.RawMessage `json:"component"`
				Variable  json.RawMessage `json:"variable"`
			} `json:"getVariableData"`
			Set []struct {
				Component json.RawMessage `json:"component"`
				Variable  json.RawMessage `json:"variable"`
			} `json:"setVariableData"`
		}
		if err := json.Unmarshal(payload, &req); err != nil {
			return ""
		}
		var b bytes.Buffer
		if action == "GetVariables" {
			b.WriteString(`{"getVariableResult":[`)
			for i, d := range req.Get {
				if i > 0 {
					b.WriteByte(',')
				}
				fmt.Fprintf(&b, `{"attributeStatus":"UnknownVariable","component":%s,"variable":%s}`, d.Component, d.Variable)
			}
		} else {
			b.WriteString(`{"setVariableResult":[`)
			for i, d := range req.Set {
				if i > 0 {
					b.WriteByte(',')
				}
				fmt.Fprintf(&b, `{"attributeStatus":"Accepted","component":%s,"variable":%s}`, d.Component, d.Variable)
			}
		}
		b.WriteString(`]}`)
		return b.String()
	}
	return ""
}

// Hold keeps the fleet idle until ctx ends, answering the server's
// WebSocket pings (each connection gets a reader that drops data frames).
func (f *Fleet) Hold(ctx context.Context) {
	for _, c := range f.chargers {
		c.ws.CloseRead(ctx)
	}
	<-ctx.Done()
}

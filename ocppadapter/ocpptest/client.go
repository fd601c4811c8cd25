package ocpptest

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/coder/websocket"

	"github.com/smartcharge/smartcharge/ocppadapter"
)

// ErrNoReply, returned by a Handler, makes the client send no answer (to
// test timeouts).
var ErrNoReply = errors.New("ocpptest: no reply")

// Handler answers a CALL the server sent: a result payload, a
// *ocppadapter.CallError to send a CALLERROR, or ErrNoReply.
type Handler func(action string, payload json.RawMessage) (any, error)

// IncomingCall is a CALL the server sent to the client.
type IncomingCall struct {
	ID      string
	Action  string
	Payload json.RawMessage
}

// ClientOptions configures Dial. Zero values: both subprotocols offered
// (2.0.1 first), no Basic auth, DefaultHandler.
type ClientOptions struct {
	Protocols          []string
	Username, Password string
	Handler            Handler
	HTTPClient         *http.Client
	// ReadLimit is the largest frame the client reads (default 1 MiB).
	ReadLimit int64
	// OnFrame, if set, sees every frame as it is read (in) or before it
	// is written (out), on the reading or writing goroutine; data must not
	// be kept without copying.
	OnFrame func(in bool, data []byte)
}

// Client is a minimal OCPP-J charger for tests: it sends CALLs, answers
// the server's CALLs with its Handler (each in its own goroutine) and
// records them on Calls.
type Client struct {
	WS       *websocket.Conn
	Protocol string

	handler Handler
	onFrame func(in bool, data []byte)
	seq     atomic.Uint64
	mu      sync.Mutex
	wmu     sync.Mutex
	waiting map[string]chan ocppadapter.Frame
	calls   chan IncomingCall
	done    chan struct{}
	err     error
	wg      sync.WaitGroup
}

// Dial connects to url+identity (url ends in "/ocpp/"). The HTTP response
// is returned also on failure, to check refusals.
func Dial(ctx context.Context, url, identity string, opts ClientOptions) (*Client, *http.Response, error) {
	protos := opts.Protocols
	if protos == nil {
		protos = []string{ocppadapter.Subprotocol201, ocppadapter.Subprotocol16}
	}
	hdr := http.Header{}
	if opts.Username != "" || opts.Password != "" {
		hdr.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(opts.Username+":"+opts.Password)))
	}
	ws, resp, err := websocket.Dial(ctx, url+identity, &websocket.DialOptions{
		Subprotocols: protos, HTTPHeader: hdr, HTTPClient: opts.HTTPClient,
	})
	if err != nil {
		return nil, resp, err
	}
	limit := opts.ReadLimit
	if limit == 0 {
		limit = 1 << 20
	}
	ws.SetReadLimit(limit)
	c := &Client{
		WS:       ws,
		Protocol: ws.Subprotocol(),
		handler:  opts.Handler,
		onFrame:  opts.OnFrame,
		waiting:  map[string]chan ocppadapter.Frame{},
		calls:    make(chan IncomingCall, 256),
		done:     make(chan struct{}),
	}
	if c.handler == nil {
		c.handler = DefaultHandler(c.Protocol)
	}
	go c.readLoop()
	return c, resp, nil
}

// Calls delivers the CALLs the server sent (buffered; extra ones are
// dropped when nobody reads).
func (c *Client) Calls() <-chan IncomingCall { return c.calls }

// Done is closed when the connection has ended; Err then says why.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err is the reason the connection ended (after Done).
func (c *Client) Err() error { <-c.done; return c.err }

// Close closes the connection normally and waits for the read loop.
func (c *Client) Close() error {
	err := c.WS.Close(websocket.StatusNormalClosure, "")
	<-c.done
	c.wg.Wait()
	return err
}

func (c *Client) readLoop() {
	defer close(c.done)
	for {
		_, data, err := c.WS.Read(context.Background())
		if err != nil {
			c.err = err
			c.mu.Lock()
			for id, ch := range c.waiting {
				close(ch)
				delete(c.waiting, id)
			}
			c.mu.Unlock()
			return
		}
		if c.onFrame != nil {
			c.onFrame(true, data)
		}
		f, ferr := ocppadapter.ParseFrame(data)
		if ferr != nil {
			f = lenientFrame(data, ferr)
			if f.Type == 0 {
				continue
			}
		}
		switch f.Type {
		case ocppadapter.TypeCall:
			in := IncomingCall{ID: f.ID, Action: f.Action, Payload: append(json.RawMessage(nil), f.Payload...)}
			select {
			case c.calls <- in:
			default:
			}
			c.wg.Add(1)
			go func() {
				defer c.wg.Done()
				c.answer(in)
			}()
		default:
			c.mu.Lock()
			ch := c.waiting[f.ID]
			delete(c.waiting, f.ID)
			c.mu.Unlock()
			if ch != nil {
				ch <- f
			}
		}
	}
}

func (c *Client) answer(in IncomingCall) {
	res, err := c.handler(in.Action, in.Payload)
	if errors.Is(err, ErrNoReply) {
		return
	}
	var frame []byte
	var ce *ocppadapter.CallError
	switch {
	case errors.As(err, &ce):
		v := ocppadapter.V201
		if c.Protocol == ocppadapter.Subprotocol16 {
			v = ocppadapter.V16
		}
		frame = ocppadapter.AppendCallError(nil, v, in.ID, ce)
	case err != nil:
		frame = ocppadapter.AppendCallError(nil, ocppadapter.V201, in.ID, &ocppadapter.CallError{Code: ocppadapter.CodeGenericError, Description: err.Error()})
	default:
		payload, merr := json.Marshal(res)
		if merr != nil {
			payload = []byte("{}")
		}
		frame = ocppadapter.AppendCallResult(nil, in.ID, payload)
	}
	_ = c.write(context.Background(), frame)
}

// Call sends a CALL and waits for the answer: the CALLRESULT payload, or
// a *ocppadapter.CallError for a CALLERROR.
func (c *Client) Call(ctx context.Context, action string, payload any) (json.RawMessage, error) {
	p, err := json.Marshal(payload)
	if err != nil {
		return nil, err
	}
	id := "c" + strconv.FormatUint(c.seq.Add(1), 10)
	f, err := c.RawCall(ctx, id, ocppadapter.AppendCall(nil, id, action, p))
	if err != nil {
		return nil, err
	}
	return frameResult(f)
}

func frameResult(f ocppadapter.Frame) (json.RawMessage, error) {
	if f.Type == ocppadapter.TypeCallError {
		code, _ := ocppadapter.ParseErrorCode(f.ErrorCode)
		return nil, &WireError{Wire: f.ErrorCode, CallError: ocppadapter.CallError{Code: code, Description: f.ErrorDescription, Details: f.ErrorDetails}}
	}
	return f.Payload, nil
}

// WireError is a CALLERROR the client received, with the code as spelled
// on the wire.
type WireError struct {
	Wire string
	ocppadapter.CallError
}

func (e *WireError) Error() string { return e.Wire + ": " + e.Description }

// RawCall sends data as is and waits for the answer frame with message id
// id (use ocppadapter.UnknownMessageID for frames without a readable id).
func (c *Client) RawCall(ctx context.Context, id string, data []byte) (ocppadapter.Frame, error) {
	ch := make(chan ocppadapter.Frame, 1)
	c.mu.Lock()
	c.waiting[id] = ch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.waiting, id)
		c.mu.Unlock()
	}()
	if err := c.write(ctx, data); err != nil {
		return ocppadapter.Frame{}, err
	}
	select {
	case f, ok := <-ch:
		if !ok {
			return f, fmt.Errorf("ocpptest: connection closed: %w", c.err)
		}
		return f, nil
	case <-ctx.Done():
		return ocppadapter.Frame{}, ctx.Err()
	}
}

// Send writes data without waiting for an answer.
func (c *Client) Send(ctx context.Context, data []byte) error {
	return c.write(ctx, data)
}

// write sends one frame; with OnFrame the hook and the write happen
// under one lock, so the hook sees frames in the order they are sent.
func (c *Client) write(ctx context.Context, data []byte) error {
	if c.onFrame == nil {
		return c.WS.Write(ctx, websocket.MessageText, data)
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.onFrame(false, data)
	return c.WS.Write(ctx, websocket.MessageText, data)
}

// lenientFrame salvages what it can of a frame the strict parser refused
// (such as a CALLERROR echoing an over-long message id).
func lenientFrame(data []byte, ferr *ocppadapter.FrameError) ocppadapter.Frame {
	f := ocppadapter.Frame{Type: ferr.Type, ID: ferr.ID}
	var parts []json.RawMessage
	if json.Unmarshal(data, &parts) != nil {
		return f
	}
	if f.Type == ocppadapter.TypeCallError && len(parts) >= 4 {
		_ = json.Unmarshal(parts[2], &f.ErrorCode)
		_ = json.Unmarshal(parts[3], &f.ErrorDescription)
	}
	return f
}

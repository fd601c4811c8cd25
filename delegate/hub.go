package delegate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/smartcharge/smartcharge/site"
)

// Errors of the Hub; match with errors.Is.
var (
	// ErrRejected: the charger (through its CSMS) refused a composite
	// schedule request.
	ErrRejected = errors.New("delegate: rejected by charger")
	// ErrClosed: the hub is closed.
	ErrClosed = errors.New("delegate: hub closed")
)

// Config configures a [Hub]. Store, Outbox and Events are required.
type Config struct {
	// Store gets the chargers' live state as the CSMS reports it, and
	// tells whether a charger is connected.
	Store site.Store
	// Outbox keeps commands until the CSMS acknowledges them
	// (redisstore.Store, or NewMemOutbox for a single process without
	// persistence).
	Outbox site.OutboxStore
	// Events gets every reported event after it is stored (the control
	// loop).
	Events site.EventSink
	// Clock stamps commands and state; default site.SystemClock.
	Clock site.Clock
	// Logger; nil discards.
	Logger *slog.Logger
	// AnswerTimeout is how long a command waits for the CSMS's ack before
	// it fails with site.ErrTimeout; default 30s. The command stays in the
	// outbox: the CSMS may still get it (after the ones before it).
	AnswerTimeout time.Duration
	// Batch is how many commands a stream reads from the outbox at once;
	// default 64.
	Batch int
}

// Validate checks the required fields.
func (c *Config) Validate() error {
	var errs []error
	if c.Store == nil {
		errs = append(errs, errors.New("delegate: config: Store is required"))
	}
	if c.Outbox == nil {
		errs = append(errs, errors.New("delegate: config: Outbox is required"))
	}
	if c.Events == nil {
		errs = append(errs, errors.New("delegate: config: Events is required"))
	}
	if c.AnswerTimeout < 0 {
		errs = append(errs, errors.New("delegate: config: AnswerTimeout must not be negative"))
	}
	if c.Batch < 0 {
		errs = append(errs, errors.New("delegate: config: Batch must not be negative"))
	}
	return errors.Join(errs...)
}

// Hub is the site.ChargerControl of delegated sites and the receiver of
// what their CSMS reports. It is safe for concurrent use.
type Hub struct {
	cfg Config
	log *slog.Logger

	mu       sync.Mutex
	sites    map[string]*siteHub
	reported map[site.ChargerRef]bool
	closing  chan struct{}
	closed   bool
}

// siteHub is the hub's state of one site.
type siteHub struct {
	// mu orders Enqueue plus registering the waiter before any ack of the
	// command is looked up.
	mu      sync.Mutex
	waiters map[uint64]chan site.DelegatedAck
	// sub is the attached command stream (nil: none); guarded by Hub.mu.
	sub *subscriber
	// everAttached: a CSMS attached to the site since the hub started.
	everAttached bool
}

type subscriber struct {
	wake       chan struct{} // capacity 1: something was enqueued
	superseded chan struct{} // closed when a newer stream takes over
}

var _ site.ChargerControl = (*Hub)(nil)

// New returns a hub; Close it when done.
func New(cfg Config) (*Hub, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Clock == nil {
		cfg.Clock = site.SystemClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.AnswerTimeout == 0 {
		cfg.AnswerTimeout = 30 * time.Second
	}
	if cfg.Batch == 0 {
		cfg.Batch = 64
	}
	return &Hub{cfg: cfg, log: cfg.Logger.With("component", "delegate"), sites: map[string]*siteHub{},
		reported: map[site.ChargerRef]bool{}, closing: make(chan struct{})}, nil
}

// Close ends every command stream and every waiting command (with
// site.ErrTimeout: the CSMS may have the command). Unacknowledged commands
// stay in the outbox.
func (h *Hub) Close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.closed {
		h.closed = true
		close(h.closing)
	}
	return nil
}

func (h *Hub) site(id string) *siteHub {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.sites[id]
	if s == nil {
		s = &siteHub{waiters: map[uint64]chan site.DelegatedAck{}}
		h.sites[id] = s
	}
	return s
}

// Owns reports whether commands for the charger belong to the hub: a CSMS
// reported the charger, or a CSMS attached a command stream to its site,
// since the hub started. A router sends a charger connected over OCPP to
// the OCPP adapter first (see site.ControlRouter).
func (h *Hub) Owns(ref site.ChargerRef) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.reported[ref] {
		return true
	}
	s := h.sites[ref.SiteID]
	return s != nil && s.everAttached
}

// Attached reports whether a CSMS command stream is attached to the site.
func (h *Hub) Attached(siteID string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.sites[siteID]
	return s != nil && s.sub != nil
}

// Commands attaches a CSMS command stream to the site: it calls send with
// every unacknowledged command whose Seq is above after, in order of Seq,
// then with every new one, until ctx ends (ctx.Err()), send fails (its
// error), a newer stream of the site takes over (site.ErrSuperseded), the
// hub closes (ErrClosed) or the outbox fails. A command sent but not
// acknowledged is sent again on the next stream; the caller passes as
// after the last Seq the CSMS acknowledged. It runs on the caller's
// goroutine and starts none.
func (h *Hub) Commands(ctx context.Context, siteID string, after uint64, send func(site.DelegatedCommand) error) error {
	sub := &subscriber{wake: make(chan struct{}, 1), superseded: make(chan struct{})}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return ErrClosed
	}
	s := h.sites[siteID]
	if s == nil {
		s = &siteHub{waiters: map[uint64]chan site.DelegatedAck{}}
		h.sites[siteID] = s
	}
	if s.sub != nil {
		close(s.sub.superseded)
		h.log.Info("command stream superseded by a newer one", "site", siteID)
	}
	s.sub, s.everAttached = sub, true
	h.mu.Unlock()
	h.log.Info("CSMS attached command stream", "site", siteID, "resume_after", after)
	defer func() {
		h.mu.Lock()
		if s.sub == sub {
			s.sub = nil
		}
		h.mu.Unlock()
		h.log.Info("CSMS command stream ended", "site", siteID)
	}()

	cursor := after
	for {
		cmds, err := h.cfg.Outbox.Pending(ctx, siteID, cursor, h.cfg.Batch)
		if err != nil {
			return fmt.Errorf("delegate: site %q: read outbox: %w", siteID, err)
		}
		for _, c := range cmds {
			if err := send(c); err != nil {
				return err
			}
			cursor = c.Seq
		}
		if len(cmds) == h.cfg.Batch {
			continue
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-sub.superseded:
			return fmt.Errorf("delegate: site %q: %w", siteID, site.ErrSuperseded)
		case <-h.closing:
			return ErrClosed
		case <-sub.wake:
		}
	}
}

// Ack hands the CSMS's answer to the command waiting for it. found is
// false when the command was not pending (acknowledged before); an ack for
// a Seq never handed out is site.ErrNotFound; a bad ack a
// *site.ValidationError.
func (h *Hub) Ack(ctx context.Context, siteID string, ack site.DelegatedAck) (found bool, err error) {
	if err := ack.Validate(); err != nil {
		return false, err
	}
	s := h.site(siteID)
	found, err = h.cfg.Outbox.Acknowledge(ctx, siteID, ack.Seq)
	if err != nil {
		return false, fmt.Errorf("delegate: site %q: acknowledge %d: %w", siteID, ack.Seq, err)
	}
	if !found {
		last, err := h.cfg.Outbox.LastSeq(ctx, siteID)
		if err != nil {
			return false, fmt.Errorf("delegate: site %q: %w", siteID, err)
		}
		if ack.Seq > last {
			return false, fmt.Errorf("delegate: site %q has no command %d (last %d): %w", siteID, ack.Seq, last, site.ErrNotFound)
		}
		return false, nil
	}
	s.mu.Lock()
	ch := s.waiters[ack.Seq]
	delete(s.waiters, ack.Seq)
	s.mu.Unlock()
	if ch != nil {
		ch <- ack // capacity 1, one sender
	}
	return true, nil
}

// send enqueues a command for a charger and waits for its ack.
func (h *Hub) send(ctx context.Context, cmd site.DelegatedCommand) (site.DelegatedAck, error) {
	ref := cmd.Ref
	h.mu.Lock()
	s := h.sites[ref.SiteID]
	attached := s != nil && s.sub != nil
	closed := h.closed
	h.mu.Unlock()
	if closed {
		return site.DelegatedAck{}, fmt.Errorf("%s: %w: %w", ref, site.ErrOffline, ErrClosed)
	}
	if !attached {
		return site.DelegatedAck{}, fmt.Errorf("%s: no CSMS command stream attached to the site: %w", ref, site.ErrOffline)
	}
	st, err := h.cfg.Store.ChargerState(ctx, ref)
	if err != nil {
		return site.DelegatedAck{}, fmt.Errorf("delegate: %s: %w", ref, err)
	}
	if !st.Connected {
		return site.DelegatedAck{}, fmt.Errorf("%s: the CSMS reports it disconnected: %w", ref, site.ErrOffline)
	}
	cmd.Created = h.cfg.Clock.Now()
	ch := make(chan site.DelegatedAck, 1)
	s.mu.Lock()
	cmd, err = h.cfg.Outbox.Enqueue(ctx, ref.SiteID, cmd)
	if err != nil {
		s.mu.Unlock()
		// It may have been stored all the same (the answer got lost):
		// not ErrOffline, so the loop counts it as possibly applied.
		return site.DelegatedAck{}, fmt.Errorf("delegate: %s: enqueue: %w", ref, err)
	}
	s.waiters[cmd.Seq] = ch
	s.mu.Unlock()
	h.wake(ref.SiteID)
	h.log.Debug("command queued", "site", ref.SiteID, "seq", cmd.Seq, "charger", ref.ChargerID, "kind", cmd.Kind.String())

	forget := func() {
		s.mu.Lock()
		delete(s.waiters, cmd.Seq)
		s.mu.Unlock()
	}
	timer := time.NewTimer(h.cfg.AnswerTimeout)
	defer timer.Stop()
	select {
	case a := <-ch:
		return a, nil
	case <-timer.C:
		forget()
		h.log.Warn("CSMS did not acknowledge in time", "site", ref.SiteID, "seq", cmd.Seq, "charger", ref.ChargerID)
		return site.DelegatedAck{}, fmt.Errorf("%s: command %d: no ack within %s: %w", ref, cmd.Seq, h.cfg.AnswerTimeout, site.ErrTimeout)
	case <-ctx.Done():
		forget()
		return site.DelegatedAck{}, fmt.Errorf("%s: command %d: %w (%w)", ref, cmd.Seq, site.ErrTimeout, ctx.Err())
	case <-h.closing:
		forget()
		return site.DelegatedAck{}, fmt.Errorf("%s: command %d: %w (%w)", ref, cmd.Seq, site.ErrTimeout, ErrClosed)
	}
}

func (h *Hub) wake(siteID string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if s := h.sites[siteID]; s != nil && s.sub != nil {
		select {
		case s.sub.wake <- struct{}{}:
		default:
		}
	}
}

// result turns an ack into what ChargerControl returns.
func result(ref site.ChargerRef, a site.DelegatedAck) (site.CommandResult, error) {
	switch {
	case a.TimedOut:
		return site.CommandResult{}, fmt.Errorf("%s: command %d: the CSMS got no answer from the charger: %w", ref, a.Seq, site.ErrTimeout)
	case a.Offline:
		return site.CommandResult{}, fmt.Errorf("%s: command %d: the CSMS has no connection to the charger: %w", ref, a.Seq, site.ErrOffline)
	}
	return site.CommandResult{Status: a.Status, Detail: a.Detail}, nil
}

// SetLimit sends a charging profile through the site's CSMS.
func (h *Hub) SetLimit(ctx context.Context, ref site.ChargerRef, req site.LimitRequest) (site.CommandResult, error) {
	req.Periods = append([]site.Period(nil), req.Periods...)
	a, err := h.send(ctx, site.DelegatedCommand{Ref: ref, Kind: site.DelegatedSetLimit, SetLimit: &req})
	if err != nil {
		return site.CommandResult{}, err
	}
	return result(ref, a)
}

// ClearLimit removes charging profiles through the site's CSMS.
func (h *Hub) ClearLimit(ctx context.Context, ref site.ChargerRef, req site.ClearRequest) (site.CommandResult, error) {
	a, err := h.send(ctx, site.DelegatedCommand{Ref: ref, Kind: site.DelegatedClearLimit, ClearLimit: &req})
	if err != nil {
		return site.CommandResult{}, err
	}
	return result(ref, a)
}

// Trigger asks the charger, through its CSMS, to send a message.
func (h *Hub) Trigger(ctx context.Context, ref site.ChargerRef, evse int, what site.TriggerKind) (site.CommandResult, error) {
	a, err := h.send(ctx, site.DelegatedCommand{Ref: ref, Kind: site.DelegatedTrigger, Trigger: &site.TriggerRequest{EVSE: evse, What: what}})
	if err != nil {
		return site.CommandResult{}, err
	}
	return result(ref, a)
}

// CompositeSchedule reads the charger's composite schedule through its
// CSMS; a refusal is ErrRejected.
func (h *Hub) CompositeSchedule(ctx context.Context, ref site.ChargerRef, evse int, d time.Duration, unit site.RateUnit) (site.Schedule, error) {
	out := site.Schedule{EVSE: evse, Unit: unit}
	if evse < 0 || evse > site.MaxEVSEs || d <= 0 {
		v := &site.ValidationError{}
		v.Add("evse/duration", "evse must be 0..%d and duration positive", site.MaxEVSEs)
		return out, v
	}
	a, err := h.send(ctx, site.DelegatedCommand{Ref: ref, Kind: site.DelegatedCompositeSchedule,
		CompositeSchedule: &site.CompositeRequest{EVSE: evse, Duration: d, Unit: unit}})
	if err != nil {
		return out, err
	}
	res, err := result(ref, a)
	if err != nil {
		return out, err
	}
	if res.Status != site.CommandAccepted {
		return out, fmt.Errorf("%s: GetCompositeSchedule %s: %w", ref, res.Status, ErrRejected)
	}
	if a.Schedule != nil {
		out = *a.Schedule
		out.Periods = append([]site.Period(nil), a.Schedule.Periods...)
	}
	return out, nil
}

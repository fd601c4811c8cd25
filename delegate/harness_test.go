package delegate_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/smartcharge/smartcharge/apiserver"
	"github.com/smartcharge/smartcharge/delegate"
	"github.com/smartcharge/smartcharge/loop"
	pb "github.com/smartcharge/smartcharge/proto/smartcharge/v1"
	"github.com/smartcharge/smartcharge/scheduler"
	"github.com/smartcharge/smartcharge/site"
	"github.com/smartcharge/smartcharge/site/redisstore"
	"github.com/smartcharge/smartcharge/site/storetest/redistest"
)

// Tokens of the test server.
const (
	tokCSMS      = "csms-token-site-one"
	tokOtherCSMS = "csms-token-site-two"
	tokViewer    = "viewer-token-site-one"
	siteID       = "depot"
	otherSiteID  = "office"
	voltage      = 230
)

// backends are the stores every integration test runs on: miniredis and
// a real redis-server (skipped when missing, failed when CI=true).
func backends(t *testing.T) map[string]string {
	t.Helper()
	return map[string]string{"miniredis": miniredis.RunT(t).Addr(), "redis-server": redistest.Start(t)}
}

func testLogger() *slog.Logger {
	if os.Getenv("DELEGATE_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// forward is the EventSink handed to the hub before the loop exists.
type forward struct {
	sink atomic.Pointer[site.EventSink]
}

func (f *forward) Publish(ev site.Event) {
	if s := f.sink.Load(); s != nil {
		(*s).Publish(ev)
	}
}

// env is smartcharge as the daemon would wire it for a delegated site:
// Redis store, hub, control loop on the hub, gRPC API on 127.0.0.1.
type env struct {
	store *redisstore.Store
	hub   *delegate.Hub
	mgr   *loop.Manager
	conn  *grpc.ClientConn
	cl    pb.DelegationServiceClient
}

type envOptions struct {
	noLoop     bool
	noHub      bool
	grid       site.Amps
	chargers   int
	answerWait time.Duration
}

var prefixes atomic.Int64

func newEnv(t *testing.T, addr string, o envOptions) *env {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	log := testLogger()
	store := redisstore.New(redis.NewClient(&redis.Options{Addr: addr}), &redisstore.Options{
		KeyPrefix: fmt.Sprintf("dg%d", prefixes.Add(1)), Logger: log})
	t.Cleanup(func() { _ = store.Close() })
	if _, err := store.Migrate(ctx); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	if o.grid == 0 {
		o.grid = 32
	}
	if o.chargers == 0 {
		o.chargers = 2
	}
	for _, sid := range []string{siteID, otherSiteID} {
		cfg := site.Config{Site: site.Site{ID: sid, GridLimit: site.Uniform(o.grid), NominalVoltage: voltage}}
		for i := range o.chargers {
			cfg.Chargers = append(cfg.Chargers, site.Charger{ID: fmt.Sprintf("cp%d", i+1), OCPPIdentity: fmt.Sprintf("%s-CP%d", sid, i+1),
				EVSEs: []site.EVSE{{ID: 1, MaxCurrent: 32, Phases: 3}}})
		}
		if _, err := store.CreateSite(ctx, cfg); err != nil {
			t.Fatalf("create site: %v", err)
		}
	}
	e := &env{store: store}
	fw := &forward{}
	opts := &apiserver.Options{Logger: log, Auth: apiserver.AuthConfig{Tokens: []apiserver.TokenEntry{
		{Name: "csms", SHA256: apiserver.HashToken(tokCSMS), Role: apiserver.RoleCSMS, Sites: []string{siteID}},
		{Name: "other-csms", SHA256: apiserver.HashToken(tokOtherCSMS), Role: apiserver.RoleCSMS, Sites: []string{otherSiteID}},
		{Name: "viewer", SHA256: apiserver.HashToken(tokViewer), Role: apiserver.RoleViewer, Sites: []string{siteID}},
	}}}
	if !o.noHub {
		wait := o.answerWait
		if wait == 0 {
			wait = 5 * time.Second
		}
		hub, err := delegate.New(delegate.Config{Store: store, Outbox: store, Events: fw, Logger: log, AnswerTimeout: wait})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = hub.Close() })
		e.hub = hub
		opts.Delegation = hub
	}
	if !o.noLoop && e.hub != nil {
		// A short dwell: a car paused by a limit (an EMS's 0 A) resumes
		// within a test's wait once it is lifted, whether or not the loop
		// had started it before the pause (timing; with the default 2 min
		// dwell TestExternalLimitThroughCSMS failed when it had).
		sched := scheduler.DefaultConfig()
		sched.MinDwell = time.Second
		mgr, err := loop.New(loop.Config{Store: store, LoopState: store, Control: e.hub, Logger: log, Scheduler: &sched,
			Tick: 200 * time.Millisecond, Coalesce: 20 * time.Millisecond, AnswerTimeout: 3 * time.Second,
			MinRaiseInterval: 50 * time.Millisecond, SiteRescan: time.Second, NoReadback: true})
		if err != nil {
			t.Fatal(err)
		}
		var sink site.EventSink = mgr
		fw.sink.Store(&sink)
		if err := mgr.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(mgr.Stop)
		e.mgr = mgr
		opts.Allocations, opts.Loop = mgr, mgr
	}
	api := apiserver.New(store, opts)
	gs := grpc.NewServer(api.ServerOptions()...)
	api.Register(gs)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = gs.Serve(lis) }() // ends with Stop
	t.Cleanup(gs.Stop)                // after the loop and hub (cleanups run in reverse)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	e.conn, e.cl = conn, pb.NewDelegationServiceClient(conn)
	return e
}

func withToken(ctx context.Context, tok string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tok)
}

func chargerName(sid, cid string) string { return "sites/" + sid + "/chargers/" + cid }

// plugIn is what a CSMS reports when a charger connects, boots and a car
// starts charging on EVSE 1.
func plugIn(sid, cid, tx string) []*pb.ChargerEvent {
	name := chargerName(sid, cid)
	now := timestamppb.Now()
	return []*pb.ChargerEvent{
		{Charger: name, EventTime: now, Event: &pb.ChargerEvent_Connected{Connected: &pb.ChargerConnectedEvent{Protocol: "ocpp2.0.1"}}},
		{Charger: name, EventTime: now, Event: &pb.ChargerEvent_Booted{Booted: &pb.ChargerBootedEvent{Vendor: "Acme", Model: "Volt" + cid, SerialNumber: "SN-" + cid}}},
		{Charger: name, EventTime: now, Event: &pb.ChargerEvent_Capabilities{Capabilities: &pb.ChargerCapabilitiesEvent{
			MaxStackLevel: 8, MaxPeriods: 24, MaxProfiles: 8,
			RateUnits: []pb.ChargingRateUnit{pb.ChargingRateUnit_CHARGING_RATE_UNIT_A, pb.ChargingRateUnit_CHARGING_RATE_UNIT_W}}}},
		{Charger: name, EventTime: now, Event: &pb.ChargerEvent_EvseStatus{EvseStatus: &pb.EvseStatusEvent{EvseId: 1, State: pb.EvseState_EVSE_STATE_CHARGING}}},
		{Charger: name, EventTime: now, Event: &pb.ChargerEvent_TransactionStarted{TransactionStarted: &pb.TransactionEvent{
			TransactionId: tx, EvseId: 1, IdTag: "TAG-" + cid, StartTime: now}}},
		{Charger: name, EventTime: now, Event: &pb.ChargerEvent_MeterSample{MeterSample: &pb.MeterSampleEvent{
			EvseId: 1, TransactionId: tx, Current: &pb.PhaseCurrents{L1: 10, L2: 10, L3: 10}, EnergyWh: ptr(1200.0)}}},
	}
}

func ptr[T any](v T) *T { return &v }

// simCharger is one charger behind the test CSMS: its installed profiles
// (EVSE 1) and running transaction.
type simCharger struct {
	max      float64
	tx       string
	profiles map[int32]*pb.ChargingProfile // by profile id
	// rejectA refuses every profile in amperes.
	rejectA bool
}

// limit is what the charger lets the car draw per phase now, as OCPP's
// composite schedule rules say: a Tx profile of the running transaction
// beats TxDefault; within a purpose the highest stack level wins;
// ChargingStationMax caps; no profile means the EVSE's maximum.
func (c *simCharger) limit() float64 {
	best := func(purpose pb.ChargingProfilePurpose) (float64, bool) {
		lvl, val, ok := int32(-1), 0.0, false
		for _, p := range c.profiles {
			if p.GetPurpose() != purpose || (purpose == pb.ChargingProfilePurpose_CHARGING_PROFILE_PURPOSE_TX && p.GetTransactionId() != c.tx) {
				continue
			}
			if p.GetStackLevel() > lvl {
				lvl, val, ok = p.GetStackLevel(), amps(p), true
			}
		}
		return val, ok
	}
	l, ok := best(pb.ChargingProfilePurpose_CHARGING_PROFILE_PURPOSE_TX)
	if !ok {
		l, ok = best(pb.ChargingProfilePurpose_CHARGING_PROFILE_PURPOSE_TX_DEFAULT)
	}
	if !ok {
		l = c.max
	}
	if m, ok := best(pb.ChargingProfilePurpose_CHARGING_PROFILE_PURPOSE_CHARGING_STATION_MAX); ok && m < l {
		l = m
	}
	return min(l, c.max)
}

// amps is a profile's first period in A per phase.
func amps(p *pb.ChargingProfile) float64 {
	ps := p.GetSchedule().GetPeriods()
	if len(ps) == 0 {
		return 0
	}
	l := ps[0].GetLimit()
	if p.GetSchedule().GetRateUnit() == pb.ChargingRateUnit_CHARGING_RATE_UNIT_W {
		n := ps[0].GetNumberPhases()
		if n == 0 {
			n = 3
		}
		l /= voltage * float64(n)
	}
	return l
}

// testCSMS is a CSMS with simulated chargers: it reports their events,
// carries out the commands smartcharge streams, acknowledges each, and
// checks from the chargers' side that the limits they accepted never sum
// above the site's grid limit.
type testCSMS struct {
	t   *testing.T
	cl  pb.DelegationServiceClient
	tok string
	sid string

	mu       sync.Mutex
	chargers map[string]*simCharger
	acked    map[uint64]bool
	// lastAcked is what a reconnect resumes after.
	lastAcked uint64
	// streams lists the seqs received on each stream, in order.
	streams [][]uint64
	// bound is the grid limit the accepted limits must keep; lowered
	// holds a lower limit that applies from the moment it is first met.
	bound, lowered float64
	armed          bool
	raisesAbove    int // raises accepted while a lower limit was not met yet
	violations     []string
	// log lists every accepted SetChargingProfile per charger, in order.
	log      map[string][]*pb.ChargingProfile
	rejected int
	// dropNext: on the next command, disconnect without acknowledging it.
	dropNext bool
	dropped  []uint64
	changed  chan struct{}
}

func newCSMS(t *testing.T, cl pb.DelegationServiceClient, tok, sid string, bound float64) *testCSMS {
	return &testCSMS{t: t, cl: cl, tok: tok, sid: sid, chargers: map[string]*simCharger{}, acked: map[uint64]bool{},
		bound: bound, log: map[string][]*pb.ChargingProfile{}, changed: make(chan struct{}, 1)}
}

func (c *testCSMS) addCharger(id, tx string, rejectA bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.chargers[id] = &simCharger{max: 32, tx: tx, profiles: map[int32]*pb.ChargingProfile{}, rejectA: rejectA}
}

func (c *testCSMS) report(ctx context.Context, evs []*pb.ChargerEvent) error {
	_, err := c.cl.ReportChargerEvents(withToken(ctx, c.tok), &pb.ReportChargerEventsRequest{Name: "sites/" + c.sid, Events: evs})
	return err
}

// sum is the total of the chargers' limits in force (all three-phase).
func (c *testCSMS) sum() float64 {
	s := 0.0
	for _, ch := range c.chargers {
		s += ch.limit()
	}
	return s
}

// lower announces a lower grid limit: from now on no raise may be
// accepted until the sum is within it, and from then on it is the bound.
func (c *testCSMS) lower(to float64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lowered = to
}

const eps = 0.01

// check is called after every change, with c.mu held.
func (c *testCSMS) check(raised bool, seq uint64) {
	if !c.armed {
		all := true
		for _, ch := range c.chargers {
			if len(ch.profiles) == 0 {
				all = false
			}
		}
		if !all {
			return
		}
		c.armed = true
	}
	s := c.sum()
	if c.lowered > 0 {
		if s <= c.lowered+eps {
			c.bound, c.lowered = c.lowered, 0
		} else if raised {
			c.raisesAbove++
			c.violations = append(c.violations, fmt.Sprintf("seq %d: a raise was accepted while the sum %.2f A was still above the lowered limit %.2f A", seq, s, c.lowered))
		}
	}
	if s > c.bound+eps {
		c.violations = append(c.violations, fmt.Sprintf("seq %d: accepted limits sum to %.2f A, above the grid limit %.2f A", seq, s, c.bound))
	}
}

// run streams commands until ctx ends, reconnecting (resuming after the
// last acknowledged seq) whenever the stream breaks.
func (c *testCSMS) run(ctx context.Context) {
	for ctx.Err() == nil {
		c.mu.Lock()
		after := c.lastAcked
		c.streams = append(c.streams, nil)
		idx := len(c.streams) - 1
		c.mu.Unlock()
		sctx, cancel := context.WithCancel(ctx)
		stream, err := c.cl.StreamCommands(withToken(sctx, c.tok), &pb.StreamCommandsRequest{Name: "sites/" + c.sid, ResumeAfterSeq: after})
		if err != nil {
			cancel()
			time.Sleep(20 * time.Millisecond)
			continue
		}
		for {
			resp, err := stream.Recv()
			if err != nil {
				break
			}
			if !c.handle(ctx, idx, resp.GetCommand()) {
				break // dropped: disconnect without acknowledging
			}
		}
		cancel()
	}
}

// handle carries out one command; false means "disconnect now".
func (c *testCSMS) handle(ctx context.Context, stream int, cmd *pb.Command) bool {
	c.mu.Lock()
	seq := cmd.GetSeq()
	if prev := c.streams[stream]; len(prev) > 0 && prev[len(prev)-1] >= seq {
		c.violations = append(c.violations, fmt.Sprintf("stream %d: seq %d after %d", stream, seq, prev[len(prev)-1]))
	}
	c.streams[stream] = append(c.streams[stream], seq)
	if c.acked[seq] {
		c.violations = append(c.violations, fmt.Sprintf("seq %d received again after it was acknowledged", seq))
	}
	if c.dropNext {
		c.dropNext = false
		c.dropped = append(c.dropped, seq)
		c.mu.Unlock()
		return false
	}
	_, cid, _ := cutCharger(cmd.GetCharger())
	ch := c.chargers[cid]
	req := &pb.AckCommandRequest{Name: "sites/" + c.sid, Seq: seq, Status: pb.CommandStatus_COMMAND_STATUS_ACCEPTED}
	switch x := cmd.GetCommand().(type) {
	case *pb.Command_SetChargingProfile:
		p := x.SetChargingProfile.GetChargingProfile()
		switch {
		case ch == nil:
			req.Status = pb.CommandStatus_COMMAND_STATUS_OFFLINE
		case ch.rejectA && p.GetSchedule().GetRateUnit() == pb.ChargingRateUnit_CHARGING_RATE_UNIT_A:
			req.Status, req.Detail = pb.CommandStatus_COMMAND_STATUS_REJECTED, "amperes not supported"
			c.rejected++
		default:
			before := ch.limit()
			ch.profiles[p.GetProfileId()] = p
			c.log[cid] = append(c.log[cid], p)
			c.check(ch.limit() > before+eps, seq)
		}
	case *pb.Command_ClearChargingProfile:
		if ch != nil {
			before := ch.limit()
			cl := x.ClearChargingProfile
			for id, p := range ch.profiles {
				if (cl.GetProfileId() == 0 || cl.GetProfileId() == id) && (cl.GetStackLevel() == 0 || cl.GetStackLevel() == p.GetStackLevel()) &&
					(cl.GetPurpose() == pb.ChargingProfilePurpose_CHARGING_PROFILE_PURPOSE_UNSPECIFIED || cl.GetPurpose() == p.GetPurpose()) {
					delete(ch.profiles, id)
				}
			}
			c.check(ch.limit() > before+eps, seq)
		}
	case *pb.Command_GetCompositeSchedule:
		if ch != nil {
			req.CompositeSchedule = &pb.CompositeSchedule{EvseId: x.GetCompositeSchedule.GetEvseId(), StartTime: timestamppb.Now(),
				RateUnit: pb.ChargingRateUnit_CHARGING_RATE_UNIT_A, Periods: []*pb.ChargingSchedulePeriod{{Limit: ch.limit()}}}
		}
	}
	c.mu.Unlock()
	resp, err := c.cl.AckCommand(withToken(ctx, c.tok), req)
	if err != nil {
		if ctx.Err() == nil {
			c.t.Errorf("AckCommand(%d): %v", seq, err)
		}
		return false
	}
	c.mu.Lock()
	if resp.GetDuplicate() {
		c.violations = append(c.violations, fmt.Sprintf("seq %d: ack was a duplicate", seq))
	}
	c.acked[seq] = true
	c.lastAcked = max(c.lastAcked, seq)
	c.mu.Unlock()
	select {
	case c.changed <- struct{}{}:
	default:
	}
	return true
}

func cutCharger(name string) (sid, cid string, ok bool) {
	rest, ok := strings.CutPrefix(name, "sites/")
	if !ok {
		return "", "", false
	}
	return strings.Cut(rest, "/chargers/")
}

// waitFor polls cond (under the CSMS's lock) until it holds or d passes.
func (c *testCSMS) waitFor(t *testing.T, d time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		c.mu.Lock()
		ok, why := cond()
		c.mu.Unlock()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s: %s", what, d, why)
		}
		select {
		case <-c.changed:
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// ackedSeqs returns the acknowledged seqs, sorted.
func (c *testCSMS) ackedSeqs() []uint64 {
	out := make([]uint64, 0, len(c.acked))
	for s := range c.acked {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

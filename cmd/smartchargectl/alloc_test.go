package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/smartcharge/smartcharge/apiserver"
	"github.com/smartcharge/smartcharge/site"
	"github.com/smartcharge/smartcharge/site/redisstore"
)

// fakeLoop is a control loop the tests drive: they publish allocations
// and read what the CLI made the server hand it.
type fakeLoop struct {
	mu       sync.Mutex
	views    map[string]site.AllocationView
	watchers map[chan site.AllocationUpdate]string
	meters   []site.MeterReading
	needs    map[string]site.ChargingNeeds
	prios    map[string]float64
}

func newFakeLoop() *fakeLoop {
	return &fakeLoop{views: map[string]site.AllocationView{}, watchers: map[chan site.AllocationUpdate]string{},
		needs: map[string]site.ChargingNeeds{}, prios: map[string]float64{}}
}

func (f *fakeLoop) publish(v site.AllocationView) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.views[v.SiteID] = v
	for ch, s := range f.watchers {
		if s == v.SiteID {
			ch <- site.AllocationUpdate{Seq: v.Seq, Allocation: v}
		}
	}
}

func (f *fakeLoop) watching() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.watchers)
}

func (f *fakeLoop) Allocation(_ context.Context, id string) (site.AllocationView, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := f.views[id]
	if !ok {
		return v, site.ErrNotFound
	}
	return v, nil
}

func (f *fakeLoop) Watch(ctx context.Context, id string) (<-chan site.AllocationUpdate, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ch := make(chan site.AllocationUpdate, 64)
	if v, ok := f.views[id]; ok {
		ch <- site.AllocationUpdate{Seq: v.Seq, Allocation: v}
	}
	f.watchers[ch] = id
	go func() {
		<-ctx.Done()
		f.mu.Lock()
		defer f.mu.Unlock()
		delete(f.watchers, ch)
		close(ch)
	}()
	return ch, nil
}

func (f *fakeLoop) ReportMeter(_ context.Context, _ string, r site.MeterReading) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.meters = append(f.meters, r)
	return nil
}

func (f *fakeLoop) SetNeeds(_ context.Context, ref site.ChargerRef, evse int, n site.ChargingNeeds) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.needs[site.EVSEKey(ref.ChargerID, evse)] = n
	return nil
}

func (f *fakeLoop) SetPriority(_ context.Context, ref site.ChargerRef, evse int, p float64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.prios[site.EVSEKey(ref.ChargerID, evse)] = p
	return nil
}

func (f *fakeLoop) Trigger(string) {}

var loopT0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// view is an allocation of the test site: EVSE 1 held by circuit sub on
// L2 at 10+seq A, EVSE 2 without a car.
func view(seq uint64) site.AllocationView {
	return site.AllocationView{
		SiteID: "alpha", Seq: seq, Time: loopT0.Add(time.Duration(seq) * time.Second), Trigger: "tick",
		Nodes: []site.NodeView{
			{ID: "", Kind: "grid", Limit: site.Uniform(50), OtherLoad: site.PhaseCurrents{10, 12, 8}, Allocated: site.Uniform(32)},
			{ID: "main", Kind: "circuit", Limit: site.Uniform(63), Allocated: site.Uniform(32)},
			{ID: "sub", Kind: "circuit", Limit: site.Uniform(32), Allocated: site.Uniform(32)},
			{ID: "c1", Kind: "charger", Allocated: site.Uniform(32)},
		},
		EVSEs: []site.EVSEView{
			{ChargerID: "c1", EVSE: 1, State: "charging", Limit: 10 + site.Amps(seq), Phases: 3,
				Reason: "limited by circuit sub phase L2", ReasonCode: "PHASE_LIMIT", Drawn: site.PhaseCurrents{9.5, 9.6, 9.4}, Pending: seq == 3},
			{ChargerID: "c1", EVSE: 2, State: "no-car", Reason: "no car", ReasonCode: "NO_CAR"},
		},
		Infeasible: []string{"circuit sub phase L3 over by 1.0 A"},
	}
}

// startLoopServer runs the API server on an embedded store holding site
// alpha, with loop as its control loop.
func startLoopServer(t *testing.T, loop *fakeLoop) string {
	t.Helper()
	clock := &fixedClock{t: loopT0}
	log := slog.New(slog.DiscardHandler)
	store, err := redisstore.NewEmbedded(&redisstore.Options{Clock: clock, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	ctx := context.Background()
	if _, err := store.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	_, err = store.CreateSite(ctx, site.Config{
		Site: site.Site{ID: "alpha", TimeZone: "UTC", GridLimit: site.Uniform(63)},
		Circuits: []site.Circuit{
			{SiteID: "alpha", ID: "main", Limit: site.Uniform(63)},
			{SiteID: "alpha", ID: "sub", Parent: "main", Limit: site.Uniform(32)},
		},
		Chargers: []site.Charger{{SiteID: "alpha", ID: "c1", OCPPIdentity: "CP-1", Circuit: "sub",
			EVSEs: []site.EVSE{{ID: 1, MaxCurrent: 16, Phases: 3}, {ID: 2, MaxCurrent: 16, Phases: 3}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := apiserver.New(store, &apiserver.Options{
		Clock: clock, Logger: log, Allocations: loop, Loop: loop,
		Auth: apiserver.AuthConfig{Tokens: []apiserver.TokenEntry{{
			Name: "e2e-admin", SHA256: apiserver.HashToken(testToken), Role: apiserver.RoleAdmin, Sites: []string{apiserver.AllSites},
		}}},
	})
	gs := grpc.NewServer(srv.ServerOptions()...)
	srv.Register(gs)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = gs.Serve(lis)
	}()
	t.Cleanup(func() {
		gs.Stop()
		<-done
	})
	return lis.Addr().String()
}

func TestStatusOnce(t *testing.T) {
	loop := newFakeLoop()
	c := ctl{t: t, addr: startLoopServer(t, loop)}
	out := c.ok("status", "--site", "alpha", "--once")
	if out != "sites/alpha: the control loop has computed no allocation yet\n" {
		t.Errorf("before any allocation: %q", out)
	}

	loop.publish(view(3))
	out = c.ok("status", "--site", "sites/alpha", "--once")
	mustContain(t, "status --once", out,
		"sites/alpha  allocation 3 at 2026-03-01T12:00:03Z (tick)",
		"NODE", "L1 USE/LIMIT",
		"grid  ", "42/50", "44/50", "40/50",
		"sub ", "32/32",
		"c1/1  charging  13 A x3 (pending)  9.5/9.6/9.4  limited by circuit sub phase L2",
		"c1/2  no-car    0 A",
		"Infeasible", "circuit sub phase L3 over by 1.0 A")
	if strings.Contains(out, clearScreen) {
		t.Error("--once cleared the screen")
	}
	if n := strings.Count(out, "allocation 3"); n != 1 {
		t.Errorf("--once printed %d frames", n)
	}
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "c1/") || strings.HasPrefix(l, "EVSE") {
			lines = append(lines, l)
		}
	}
	checkAligned(t, lines)

	out = c.ok("status", "--site", "alpha", "--once", "-o", "json")
	var got struct {
		Name  string `json:"name"`
		Seq   string `json:"seq"`
		Evses []struct {
			Binding struct {
				Node  string `json:"node"`
				Phase string `json:"phase"`
			} `json:"binding"`
		} `json:"evses"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("status -o json: %v\n%s", err, out)
	}
	if got.Name != "sites/alpha/allocation" || got.Seq != "3" || got.Evses[0].Binding.Node != "sites/alpha/circuits/sub" || got.Evses[0].Binding.Phase != "PHASE_L2" {
		t.Errorf("status -o json: %+v", got)
	}

	c.fails(exitError, "status", "--site", "nope", "--once")
}

// syncBuffer is a bytes.Buffer safe to read while the CLI writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// runWatching runs the CLI with args while publishing seqs once it
// watches, and returns its output.
func runWatching(t *testing.T, c ctl, loop *fakeLoop, seqs []uint64, args ...string) string {
	t.Helper()
	var out, errOut syncBuffer
	env := func(k string) string {
		switch k {
		case "SMARTCHARGE_SERVER":
			return c.addr
		case "SMARTCHARGE_TOKEN":
			return testToken
		}
		return ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// an earlier run's watch ends asynchronously on the server
	for loop.watching() != 0 {
		if ctx.Err() != nil {
			t.Fatal("an earlier watch did not end")
		}
		time.Sleep(2 * time.Millisecond)
	}
	res := make(chan int, 1)
	go func() { res <- run(ctx, args, &out, &errOut, env) }()
	for loop.watching() == 0 {
		if ctx.Err() != nil {
			t.Fatalf("the CLI did not start watching\n%s%s", out.String(), errOut.String())
		}
		time.Sleep(2 * time.Millisecond)
	}
	for _, s := range seqs {
		loop.publish(view(s))
	}
	if code := <-res; code != exitOK {
		t.Fatalf("smartchargectl %s: exit %d\n%s%s", strings.Join(args, " "), code, out.String(), errOut.String())
	}
	return out.String()
}

func TestWatch(t *testing.T) {
	loop := newFakeLoop()
	c := ctl{t: t, addr: startLoopServer(t, loop)}
	loop.publish(view(1))

	out := runWatching(t, c, loop, []uint64{2, 4}, "watch", "--site", "alpha", "--count", "3")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	want := []string{
		"seq=1 time=2026-03-01T12:00:01Z trigger=tick grid=42/50,44/50,40/50 c1/1=11A:charging:PHASE_LIMIT c1/2=0A:no-car:NO_CAR infeasible=1",
		"seq=2 time=2026-03-01T12:00:02Z trigger=tick grid=42/50,44/50,40/50 c1/1=12A:charging:PHASE_LIMIT c1/2=0A:no-car:NO_CAR infeasible=1",
		"seq=4 time=2026-03-01T12:00:04Z trigger=tick grid=42/50,44/50,40/50 c1/1=14A:charging:PHASE_LIMIT c1/2=0A:no-car:NO_CAR infeasible=1",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("watch lines:\n%s\nwant:\n%s", out, strings.Join(want, "\n"))
	}

	out = runWatching(t, c, loop, []uint64{5, 6}, "watch", "--site", "alpha", "--count", "3", "-o", "json")
	lines = strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 {
		t.Fatalf("watch -o json: %d lines, want one object per line:\n%s", len(lines), out)
	}
	for i, l := range lines {
		var obj struct {
			Seq   string `json:"seq"`
			Evses []struct {
				Limit float64 `json:"limit"`
			} `json:"evses"`
		}
		if err := json.Unmarshal([]byte(l), &obj); err != nil {
			t.Fatalf("line %d: %v: %s", i, err, l)
		}
		wantSeq := []string{"4", "5", "6"}[i]
		if obj.Seq != wantSeq || obj.Evses[0].Limit != 10+float64(4+i) {
			t.Errorf("line %d: seq %s limit %v, want seq %s", i, obj.Seq, obj.Evses[0].Limit, wantSeq)
		}
	}

	// the live status view prints the current allocation, then a frame
	// per new one (not the current one again from the watch)
	out = runWatching(t, c, loop, []uint64{7, 8}, "status", "--site", "alpha", "--count", "3")
	for _, seq := range []string{"6", "7", "8"} {
		if n := strings.Count(out, "allocation "+seq+" at"); n != 1 {
			t.Errorf("status --count 3: %d frames of allocation %s:\n%s", n, seq, out)
		}
	}
}

func TestNeedsPriorityMeter(t *testing.T) {
	loop := newFakeLoop()
	c := ctl{t: t, addr: startLoopServer(t, loop)}

	out := c.ok("needs", "set", "--site", "alpha", "--charger", "c1", "--evse", "2", "--energy-kwh", "25", "--departure", "2026-03-01T17:00:00Z", "--max-current", "16")
	mustContain(t, "needs set", out, "sites/alpha/chargers/c1/evses/2 needs set: energy 25 kWh, departure 2026-03-01T17:00:00Z")
	want := site.ChargingNeeds{Energy: 25000, Departure: time.Date(2026, 3, 1, 17, 0, 0, 0, time.UTC), MaxCurrent: 16}
	if got := loop.needs["c1/2"]; got != want {
		t.Errorf("needs %+v, want %+v", got, want)
	}
	c.ok("needs", "set", "--site", "alpha", "--charger", "c1", "--evse", "2", "--clear")
	if got := loop.needs["c1/2"]; got != (site.ChargingNeeds{}) {
		t.Errorf("after --clear: %+v", got)
	}

	out = c.ok("priority", "set", "--site", "alpha", "--charger", "c1", "--priority", "3")
	mustContain(t, "priority set", out, "sites/alpha/chargers/c1/evses/1 priority 3", "sites/alpha/chargers/c1/evses/2 priority 3")
	if loop.prios["c1/1"] != 3 || loop.prios["c1/2"] != 3 {
		t.Errorf("priorities %v", loop.prios)
	}

	out = c.ok("meter", "report", "--site", "alpha", "--circuit", "sub", "--l1", "20", "--l2", "21", "--l3", "19.5")
	mustContain(t, "meter report", out, "sites/alpha: sites/alpha/circuits/sub reading recorded: 20/21/19.5 A at 2026-03-01T12:00:00Z")
	c.ok("meter", "report", "--site", "alpha", "--power-kw", "2.3", "--at", "2026-03-01T11:59:50Z")
	if len(loop.meters) != 2 || loop.meters[0].Node != "sub" || loop.meters[1].Current != site.Uniform(10) {
		t.Errorf("meters %+v", loop.meters)
	}

	// the server's field errors reach the user
	errOut := c.fails(exitError, "meter", "report", "--site", "alpha", "--current-a", "NaN")
	mustContain(t, "bad reading", errOut, "INVALID_ARGUMENT", "reading.current.l1")
	errOut = c.fails(exitError, "needs", "set", "--site", "alpha", "--charger", "c1", "--evse", "9", "--energy-kwh", "5")
	mustContain(t, "unknown EVSE", errOut, "NOT_FOUND", "sites/alpha/chargers/c1/evses/9")
}

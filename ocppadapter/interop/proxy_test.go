package interop_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smartcharge/smartcharge/ocppadapter"
	"github.com/smartcharge/smartcharge/ocppadapter/ocpptest"
	"github.com/smartcharge/smartcharge/site"
)

// outageEnv sets how long the CSMS is down in TestProxyEndToEnd (a Go
// duration; the scenario is 30s, `make test` uses the default).
const outageEnv = "SMARTCHARGE_PROXY_OUTAGE"

const defaultOutage = 3 * time.Second

// csmsNode is node/csms.js (ocpp-rpc RPCServer, strict mode) in a child
// process, with its stdout dispatched.
type csmsNode struct {
	t    *testing.T
	p    *nodeProc
	port int

	mu           sync.Mutex
	results      map[string]chan map[string]any
	connected    map[string]int
	disconnected map[string]int
	problems     []map[string]any
	changed      chan struct{}
	ref          atomic.Int64
	done         chan struct{}
}

func startCSMS(t *testing.T, port int, frames string, txBase int) *csmsNode {
	t.Helper()
	p := startNode(t, 5*time.Minute, "csms.js", "--port", strconv.Itoa(port), "--frames", frames, "--tx-base", strconv.Itoa(txBase))
	first := p.next("listening", 20*time.Second)
	c := &csmsNode{t: t, p: p, port: int(first["port"].(float64)), results: map[string]chan map[string]any{},
		connected: map[string]int{}, disconnected: map[string]int{}, changed: make(chan struct{}), done: make(chan struct{})}
	go c.dispatch()
	return c
}

func (c *csmsNode) dispatch() {
	defer close(c.done)
	for m := range c.p.lines {
		c.mu.Lock()
		switch m["type"] {
		case "callResult":
			if ch := c.results[fmt.Sprint(m["ref"])]; ch != nil {
				ch <- m
			}
		case "connected":
			c.connected[m["identity"].(string)]++
		case "disconnected":
			c.disconnected[m["identity"].(string)]++
		default:
			c.problems = append(c.problems, m)
		}
		close(c.changed)
		c.changed = make(chan struct{})
		c.mu.Unlock()
	}
}

// call makes the CSMS send a CALL and returns its result.
func (c *csmsNode) call(identity, method, params string) (map[string]any, error) {
	ref := strconv.FormatInt(c.ref.Add(1), 10)
	ch := make(chan map[string]any, 1)
	c.mu.Lock()
	c.results[ref] = ch
	c.mu.Unlock()
	c.p.send(fmt.Sprintf(`{"cmd":"call","ref":%q,"identity":%q,"method":%q,"params":%s}`, ref, identity, method, params))
	select {
	case m := <-ch:
		if e, ok := m["error"]; ok {
			return nil, fmt.Errorf("%s %s: %v", identity, method, e)
		}
		res, _ := m["result"].(map[string]any)
		return res, nil
	case <-time.After(30 * time.Second):
		return nil, fmt.Errorf("%s %s: no result from the CSMS", identity, method)
	}
}

// waitFor waits until cond holds over the CSMS's connection counts.
func (c *csmsNode) waitFor(what string, timeout time.Duration, cond func(connected, disconnected map[string]int) bool) {
	c.t.Helper()
	deadline := time.After(timeout)
	for {
		c.mu.Lock()
		ok := cond(c.connected, c.disconnected)
		ch := c.changed
		c.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			c.t.Fatalf("CSMS: %s: not within %v", what, timeout)
		}
	}
}

func (c *csmsNode) stop() {
	_ = c.p.stdin.Close()
	<-c.p.done
	<-c.done
}

// wireFrame is one frame as one side saw it.
type wireFrame struct {
	in   bool
	data string
}

// simCharger is a charger of the test: an ocpptest.Client with a profile
// store, every frame captured.
type simCharger struct {
	id, proto string
	v16       bool
	ref       site.ChargerRef
	cl        *ocpptest.Client
	prof      *ocpptest.Profiles
	seq       int
	mu        sync.Mutex
	frames    []wireFrame
}

func (s *simCharger) captured() []wireFrame {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.frames)
}

// call sends payload as the charger wrote it (not re-encoded) and waits
// up to d for the answer.
func (s *simCharger) call(d time.Duration, action, payload string) (ocppadapter.Frame, error) {
	s.seq++
	id := fmt.Sprintf("%s-m%d", s.id, s.seq)
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	f, err := s.cl.RawCall(ctx, id, ocppadapter.AppendCall(nil, id, action, []byte(payload)))
	if err == nil && f.Type != ocppadapter.TypeCallResult {
		err = fmt.Errorf("%s: %s answered %s: %s", s.id, action, f.ErrorCode, f.ErrorDescription)
	}
	return f, err
}

func ts() string { return time.Now().UTC().Format("2006-01-02T15:04:05.000Z") }

// TestProxyEndToEnd runs 20 chargers (10 on 1.6, 10 on 2.0.1) through the
// adapter in local controller mode to node/csms.js, an independent CSMS on
// ocpp-rpc in strict mode, and checks that every frame arrives unchanged
// both ways, that message ids never collide while the CSMS and smartcharge
// send CALLs to the same chargers at once, that the CSMS's lower station
// maximum wins (ExternalSchedulesReported; the composite schedule read from
// the charger), that the CSMS cannot take smartcharge's reserved profile
// id nor clear its profiles, that CALLs sent while the CSMS is down are
// replayed in order when it is back (duration: SMARTCHARGE_PROXY_OUTAGE,
// default 3s), and that the CSMS sees a charger leave when it leaves.
func TestProxyEndToEnd(t *testing.T) {
	requireNode(t)
	outage := defaultOutage
	if v := os.Getenv(outageEnv); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("%s: %v", outageEnv, err)
		}
		outage = d
	}
	framesFile := filepath.Join(t.TempDir(), "csms-frames.jsonl")
	csms := startCSMS(t, 0, framesFile, 5000)

	const n = 20
	var ids []string
	for i := range n {
		ids = append(ids, fmt.Sprintf("PX%02d", i))
	}
	mem := ocpptest.NewMemStore()
	refs, err := mem.AddChargers("proxy-site", "", ids...)
	if err != nil {
		t.Fatal(err)
	}
	events := ocpptest.NewRecorder()
	upstreams, err := ocppadapter.StaticUpstreams(map[string]ocppadapter.UpstreamTarget{
		"proxy-site": {URL: fmt.Sprintf("ws://127.0.0.1:%d/ocpp", csms.port)},
	})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := ocppadapter.NewServer(ocppadapter.Config{
		Store: mem, Events: events,
		Logger:      slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})),
		CallTimeout: 10 * time.Second,
		Proxy: &ocppadapter.ProxyConfig{
			Upstream: upstreams,
			Loss:     ocppadapter.UpstreamLossKeep,
			RetryMin: 100 * time.Millisecond, RetryMax: 500 * time.Millisecond,
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(func() { srv.Close(); hs.Close() })
	url := "ws" + strings.TrimPrefix(hs.URL, "http") + "/ocpp/"

	chargers := make([]*simCharger, n)
	for i, id := range ids {
		proto := ocppadapter.Subprotocol16
		if i%2 == 1 {
			proto = ocppadapter.Subprotocol201
		}
		s := &simCharger{id: id, proto: proto, v16: proto == ocppadapter.Subprotocol16, ref: refs[i], prof: ocpptest.NewProfiles(proto)}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		cl, _, err := ocpptest.Dial(ctx, url, id, ocpptest.ClientOptions{
			Protocols: []string{proto},
			Handler:   s.prof.Handler(ocpptest.DefaultHandler(proto)),
			OnFrame: func(in bool, data []byte) {
				s.mu.Lock()
				s.frames = append(s.frames, wireFrame{in: in, data: string(data)})
				s.mu.Unlock()
			},
		})
		cancel()
		if err != nil {
			t.Fatalf("dial %s: %v", id, err)
		}
		if cl.Protocol != proto {
			t.Fatalf("%s: subprotocol %q, want %q", id, cl.Protocol, proto)
		}
		s.cl = cl
		t.Cleanup(func() { cl.WS.CloseNow(); <-cl.Done() })
		chargers[i] = s
	}
	csms.waitFor("all chargers connected", 20*time.Second, func(c, _ map[string]int) bool { return len(c) == n })

	// Phase 1: the conversation of a charger starting a transaction, with
	// payloads in the chargers' own formatting (spaces, key order), which
	// re-encoding would change.
	runAll(t, chargers, func(s *simCharger) error {
		var script [][2]string
		if s.v16 {
			script = [][2]string{
				{"BootNotification", `{"chargePointModel": "Proxy-16",  "chargePointVendor":"smartcharge-test"}`},
				{"StatusNotification", `{"connectorId":1,"errorCode":"NoError","status":"Preparing"}`},
				{"Authorize", `{ "idTag" : "TAG-` + s.id + `" }`},
				{"StartTransaction", `{"connectorId":1,"idTag":"TAG-` + s.id + `","meterStart":1000,"timestamp":"` + ts() + `"}`},
			}
		} else {
			script = [][2]string{
				{"BootNotification", `{"reason":"PowerUp", "chargingStation":{"vendorName":"smartcharge-test","model":"Proxy-201"}}`},
				{"StatusNotification", `{"timestamp":"` + ts() + `","connectorStatus":"Occupied","evseId":1,"connectorId":1}`},
				{"Authorize", `{"idToken":{"idToken":"TAG-` + s.id + `", "type":"ISO14443"}}`},
				{"TransactionEvent", `{"eventType":"Started","timestamp":"` + ts() + `","triggerReason":"Authorized","seqNo":0,"transactionInfo":{"transactionId":"TX-` + s.id + `","chargingState":"Charging"},"evse":{"id":1,"connectorId":1},"idToken":{"idToken":"TAG-` + s.id + `","type":"ISO14443"}}`},
			}
		}
		for _, step := range script {
			if _, err := s.call(10*time.Second, step[0], step[1]); err != nil {
				return err
			}
		}
		return nil
	})
	// smartcharge read each transaction as if the charger talked to it:
	// 1.6 ids come from the CSMS's answers.
	for _, s := range chargers {
		ev := ocpptest.WaitFor(t, events, 0, 10*time.Second, func(e site.TransactionStarted) bool { return e.Ref == s.ref })
		if s.v16 {
			if id, err := strconv.Atoi(ev.Transaction.ID); err != nil || id <= 5000 || id > 5000+n {
				t.Errorf("%s: transaction id %q, want the CSMS's (5001..%d)", s.id, ev.Transaction.ID, 5000+n)
			}
		} else if ev.Transaction.ID != "TX-"+s.id {
			t.Errorf("%s: transaction id %q", s.id, ev.Transaction.ID)
		}
	}

	// Phase 2: the CSMS and smartcharge send CALLs to the same chargers at
	// once: ids must not collide, answers must reach whoever asked. The
	// CSMS's station maximum (10 A) is below smartcharge's limit (16 A).
	start := time.Now().UTC().Truncate(time.Second).Format(time.RFC3339)
	runAll(t, chargers, func(s *simCharger) error {
		var wg sync.WaitGroup
		errs := make([]error, 4)
		wg.Go(func() {
			var err error
			if s.v16 {
				_, err = csms.call(s.id, "GetConfiguration", `{"key":["HeartbeatInterval"]}`)
			} else {
				_, err = csms.call(s.id, "GetVariables", `{"getVariableData":[{"component":{"name":"SmartChargingCtrlr"},"variable":{"name":"ProfileStackLevel"}}]}`)
			}
			if err == nil {
				var res map[string]any
				res, err = csms.call(s.id, "SetChargingProfile", csmsProfile(s.v16, 77, 3, 10, start))
				if err == nil && res["status"] != "Accepted" {
					err = fmt.Errorf("CSMS SetChargingProfile: %v", res)
				}
			}
			errs[0] = err
		})
		wg.Go(func() {
			res, err := srv.SetLimit(context.Background(), s.ref, site.LimitRequest{EVSE: 1, Purpose: site.PurposeTxDefault, ProfileID: 2001, StackLevel: 5,
				Unit: site.UnitAmps, Periods: []site.Period{{Limit: 16}}})
			if err == nil && res.Status != site.CommandAccepted {
				err = fmt.Errorf("smartcharge SetLimit: %v", res)
			}
			errs[1] = err
		})
		wg.Go(func() {
			_, errs[2] = srv.Trigger(context.Background(), s.ref, 1, site.TriggerStatus)
		})
		wg.Go(func() {
			res, err := csms.call(s.id, "SetChargingProfile", csmsProfile(s.v16, 1001, 4, 32, start))
			if err == nil && res["status"] != "Rejected" {
				err = fmt.Errorf("CSMS SetChargingProfile with reserved id 1001: %v, want Rejected", res)
			}
			errs[3] = err
		})
		wg.Wait()
		return errors.Join(errs...)
	})
	for _, s := range chargers {
		ev := ocpptest.WaitFor(t, events, 0, 10*time.Second, func(e site.ExternalSchedulesReported) bool { return e.Ref == s.ref && !e.Cleared() })
		if a, hasA, _, _, _ := site.ExternalLimitsAt(ev.Schedules, time.Now()); a != 10 || !hasA || ev.EVSE != 0 || ev.Source != "CSMS" {
			t.Errorf("%s: ExternalSchedulesReported %+v, want 10 A on EVSE 0 from CSMS", s.id, ev)
		}
		sch, err := srv.CompositeSchedule(context.Background(), s.ref, 1, time.Hour, site.UnitAmps)
		if err != nil {
			t.Fatalf("%s: composite: %v", s.id, err)
		}
		if len(sch.Periods) == 0 || sch.Periods[0].Limit != 10 {
			t.Errorf("%s: composite %+v, want the CSMS's 10 A below smartcharge's 16 A", s.id, sch)
		}
		for _, p := range s.prof.List() {
			if p.ID == 1001 {
				t.Errorf("%s: the CSMS's profile with reserved id 1001 reached the charger", s.id)
			}
		}
	}

	// Phase 3: a CSMS ClearChargingProfile of everything is narrowed to
	// the stack levels that are not smartcharge's.
	runAll(t, chargers, func(s *simCharger) error {
		res, err := csms.call(s.id, "ClearChargingProfile", `{}`)
		if err != nil {
			return err
		}
		if res["status"] != "Accepted" {
			return fmt.Errorf("ClearChargingProfile: %v, want Accepted (profile 77 cleared)", res)
		}
		ps := s.prof.List()
		if len(ps) != 1 || ps[0].ID != 2001 {
			return fmt.Errorf("profiles after the CSMS's clear: %+v, want smartcharge's 2001 only", ps)
		}
		for _, c := range s.prof.Clears() {
			var m map[string]any
			_ = json.Unmarshal(c, &m)
			lvl, ok := m["stackLevel"]
			if crit, isMap := m["chargingProfileCriteria"].(map[string]any); isMap {
				lvl, ok = crit["stackLevel"]
			}
			if !ok || lvl == 4.0 || lvl == 5.0 {
				return fmt.Errorf("narrowed clear %s touches a reserved stack level", c)
			}
		}
		return nil
	})
	for _, s := range chargers {
		ocpptest.WaitFor(t, events, 0, 10*time.Second, func(e site.ExternalSchedulesReported) bool { return e.Ref == s.ref && e.Cleared() })
	}

	// Phase 4: the CSMS goes down; the chargers go on (their CALLs time
	// out on their side) and smartcharge keeps the connections.
	csms.stop()
	time.Sleep(200 * time.Millisecond)
	mark := events.Len()
	downAt := time.Now()
	runAll(t, chargers, func(s *simCharger) error {
		var script [][2]string
		if s.v16 {
			script = [][2]string{
				{"Authorize", `{"idTag":"TAG2-` + s.id + `"}`},
				{"StartTransaction", `{"connectorId":2,"idTag":"TAG2-` + s.id + `","meterStart":2000,"timestamp":"` + ts() + `"}`},
				{"MeterValues", `{"connectorId":2,"meterValue":[{"timestamp":"` + ts() + `","sampledValue":[{"value":"9.5","measurand":"Current.Import","phase":"L1","unit":"A"}]}]}`},
			}
		} else {
			script = [][2]string{
				{"Authorize", `{"idToken":{"idToken":"TAG2-` + s.id + `","type":"ISO14443"}}`},
				{"TransactionEvent", `{"eventType":"Updated","timestamp":"` + ts() + `","triggerReason":"MeterValuePeriodic","seqNo":1,"transactionInfo":{"transactionId":"TX-` + s.id + `"},"meterValue":[{"timestamp":"` + ts() + `","sampledValue":[{"value":9.5,"measurand":"Current.Import","phase":"L1"}]}]}`},
				{"MeterValues", `{"evseId":1,"meterValue":[{"timestamp":"` + ts() + `","sampledValue":[{"value":9.5,"measurand":"Current.Import","phase":"L1"}]}]}`},
			}
		}
		for _, step := range script {
			if _, err := s.call(300*time.Millisecond, step[0], step[1]); err == nil {
				return fmt.Errorf("%s answered while the CSMS is down", step[0])
			}
		}
		return nil
	})
	// Load management goes on: what the chargers report is read.
	ocpptest.WaitFor(t, events, mark, 5*time.Second, func(e site.MeterSampled) bool { return true })
	if _, err := srv.SetLimit(context.Background(), chargers[0].ref, site.LimitRequest{EVSE: 1, Purpose: site.PurposeTxDefault, ProfileID: 2001, StackLevel: 5,
		Unit: site.UnitAmps, Periods: []site.Period{{Limit: 12}}}); err != nil {
		t.Errorf("SetLimit while the CSMS is down: %v", err)
	}
	time.Sleep(time.Until(downAt.Add(outage)))
	csms = startCSMS(t, csms.port, framesFile, 9000)
	csms.waitFor("all chargers back", 30*time.Second, func(c, _ map[string]int) bool { return len(c) == n })
	// The queued StartTransaction of each 1.6 charger gets its id from the
	// CSMS that is back.
	for _, s := range chargers {
		if !s.v16 {
			continue
		}
		ev := ocpptest.WaitFor(t, events, mark, 20*time.Second, func(e site.TransactionStarted) bool { return e.Ref == s.ref && e.Transaction.EVSE == 2 })
		if id, _ := strconv.Atoi(ev.Transaction.ID); id <= 9000 {
			t.Errorf("%s: replayed transaction id %q, want one the CSMS assigned after the outage", s.id, ev.Transaction.ID)
		}
	}
	waitFrames(t, framesFile, chargers, 20*time.Second)

	// Phase 5: a charger that leaves is seen leaving by the CSMS.
	gone := chargers[0]
	_ = gone.cl.Close()
	csms.waitFor(gone.id+" disconnected", 10*time.Second, func(_, d map[string]int) bool { return d[gone.id] > 0 })

	checkProxyFrames(t, framesFile, chargers)
	csms.mu.Lock()
	defer csms.mu.Unlock()
	for _, p := range csms.problems {
		t.Errorf("CSMS (ocpp-rpc strict mode) reported: %v", p)
	}
}

func csmsProfile(v16 bool, id, stack int, limit float64, start string) string {
	if v16 {
		return fmt.Sprintf(`{"connectorId":0,"csChargingProfiles":{"chargingProfileId":%d,"stackLevel":%d,"chargingProfilePurpose":"ChargePointMaxProfile","chargingProfileKind":"Absolute","chargingSchedule":{"startSchedule":%q,"chargingRateUnit":"A","chargingSchedulePeriod":[{"startPeriod":0,"limit":%g}]}}}`, id, stack, start, limit)
	}
	return fmt.Sprintf(`{"evseId":0,"chargingProfile":{"id":%d,"stackLevel":%d,"chargingProfilePurpose":"ChargingStationMaxProfile","chargingProfileKind":"Absolute","chargingSchedule":[{"id":1,"startSchedule":%q,"chargingRateUnit":"A","chargingSchedulePeriod":[{"startPeriod":0,"limit":%g}]}]}}`, id, stack, start, limit)
}

// runAll runs fn for every charger at once and fails on any error.
func runAll(t *testing.T, chargers []*simCharger, fn func(*simCharger) error) {
	t.Helper()
	errs := make([]error, len(chargers))
	var wg sync.WaitGroup
	for i, s := range chargers {
		wg.Go(func() {
			if err := fn(s); err != nil {
				errs[i] = fmt.Errorf("%s (%s): %w", s.id, s.proto, err)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
}

// csmsFrames reads the CSMS's capture: per identity, in order.
func csmsFrames(t *testing.T, path string) map[string][]wireFrame {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]wireFrame{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for sc.Scan() {
		var m struct{ Identity, Dir, Data string }
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("frames file: %v", err)
		}
		out[m.Identity] = append(out[m.Identity], wireFrame{in: m.Dir == "in", data: m.Data})
	}
	return out
}

// waitFrames waits until the CSMS has received every CALL each charger
// sent.
func waitFrames(t *testing.T, path string, chargers []*simCharger, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		all := csmsFrames(t, path)
		missing := ""
		for _, s := range chargers {
			want := calls(s.captured(), false)
			got := calls(all[s.id], true)
			if len(got) < len(want) {
				missing = fmt.Sprintf("%s: %d of %d CALLs", s.id, len(got), len(want))
				break
			}
		}
		if missing == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("CSMS did not receive every queued CALL: %s", missing)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// calls returns the CALL frames seen in direction in.
func calls(fs []wireFrame, in bool) []string {
	var out []string
	for _, f := range fs {
		if f.in == in && strings.HasPrefix(f.data, "[2,") {
			out = append(out, f.data)
		}
	}
	return out
}

func frameID(data string) string {
	fr, ferr := ocppadapter.ParseFrame([]byte(data))
	if ferr != nil {
		return ""
	}
	return fr.ID
}

// checkProxyFrames compares what each charger and the CSMS saw: the
// charger's CALLs reached the CSMS byte for byte and in order, its
// answers to the CSMS's CALLs too; the CSMS's CALLs (but the ones the
// proxy took: reserved profile, narrowed clear) and answers reached the
// charger byte for byte; smartcharge's own CALLs used ids the CSMS never
// used, and no id was used twice towards a charger.
func checkProxyFrames(t *testing.T, path string, chargers []*simCharger) {
	t.Helper()
	all := csmsFrames(t, path)
	for _, s := range chargers {
		ch := s.captured()
		cs := all[s.id]
		if got, want := calls(cs, true), calls(ch, false); !slices.Equal(got, want) {
			t.Errorf("%s: CALLs at the CSMS differ from the charger's:\n got %q\nwant %q", s.id, got, want)
		}
		atCSMS := map[string]bool{}
		for _, f := range cs {
			if f.in {
				atCSMS[f.data] = true
			}
		}
		atCharger := map[string]bool{}
		for _, f := range ch {
			if f.in {
				atCharger[f.data] = true
			}
		}
		csmsIDs := map[string]bool{}
		taken := 0
		for _, f := range cs {
			if f.in {
				continue
			}
			if strings.HasPrefix(f.data, "[2,") {
				csmsIDs[frameID(f.data)] = true
				if strings.Contains(f.data, `"ClearChargingProfile"`) || strings.Contains(f.data, `"chargingProfileId":1001`) || strings.Contains(f.data, `"id":1001`) {
					taken++
					continue
				}
			}
			if !atCharger[f.data] {
				t.Errorf("%s: CSMS frame did not reach the charger unchanged: %s", s.id, f.data)
			}
		}
		t.Logf("%s: %d frames at the charger, %d at the CSMS, %d CALLs relayed up", s.id, len(ch), len(cs), len(calls(cs, true)))
		if taken != 2 {
			t.Errorf("%s: %d CSMS CALLs taken by the proxy, want 2 (reserved profile, clear)", s.id, taken)
		}
		relayed := map[string]bool{}
		for _, f := range outFrames(cs) {
			relayed[f] = true
		}
		seen := map[string]bool{}
		for _, f := range ch {
			if !f.in {
				// The charger's answers to the CSMS reached it unchanged.
				if id := frameID(f.data); !strings.HasPrefix(f.data, "[2,") && csmsIDs[id] && !atCSMS[f.data] {
					t.Errorf("%s: answer to the CSMS changed or lost: %s", s.id, f.data)
				}
				continue
			}
			if !strings.HasPrefix(f.data, "[2,") {
				continue
			}
			id := frameID(f.data)
			if seen[id] {
				t.Errorf("%s: message id %q used twice towards the charger", s.id, id)
			}
			seen[id] = true
			if !relayed[f.data] && csmsIDs[id] {
				t.Errorf("%s: smartcharge's CALL uses the CSMS's id %q", s.id, id)
			}
		}
	}
}

func outFrames(fs []wireFrame) []string {
	var out []string
	for _, f := range fs {
		if !f.in {
			out = append(out, f.data)
		}
	}
	return out
}

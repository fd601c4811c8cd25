package delegate_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/smartcharge/smartcharge/proto/smartcharge/v1"
	"github.com/smartcharge/smartcharge/site"
)

// TestClosedLoopThroughCSMS: a CSMS reports two charging cars on a 32 A
// site; the real control loop sends its profiles through the command
// stream. From the chargers' side: every EVSE gets its fallback (stack
// level 0, TxDefault, no duration) before any dynamic profile; the
// accepted limits never sum above the grid limit once every EVSE has one;
// a charger that refuses amperes gets its limits in watts (the loop tries
// the next form after a rejection); when the grid limit is lowered to
// 20 A, no raise is accepted until the lowers are in, and from then on
// the sum stays within 20 A; the stream is cut twice without an ack and
// resumes from the last acknowledged seq: every seq is acknowledged
// exactly once and none is lost.
func TestClosedLoopThroughCSMS(t *testing.T) {
	for name, addr := range backends(t) {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, addr, envOptions{grid: 32})
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			c := newCSMS(t, e.cl, tokCSMS, siteID, 32)
			c.addCharger("cp1", "tx-1", false)
			c.addCharger("cp2", "tx-2", true) // refuses amperes
			done := make(chan struct{})
			go func() { defer close(done); c.run(ctx) }()
			defer func() { cancel(); <-done }()

			c.waitFor(t, 10*time.Second, "command stream attached", func() (bool, string) { return e.hub.Attached(siteID), "" })
			for _, cp := range []struct{ id, tx string }{{"cp1", "tx-1"}, {"cp2", "tx-2"}} {
				if err := c.report(ctx, plugIn(siteID, cp.id, cp.tx)); err != nil {
					t.Fatalf("ReportChargerEvents %s: %v", cp.id, err)
				}
			}

			// Both cars charge under dynamic limits that share the 32 A.
			dynamic := func(id string) (*pb.ChargingProfile, bool) {
				for _, p := range slices.Backward(c.log[id]) {
					if p.GetStackLevel() > 0 {
						return p, true
					}
				}
				return nil, false
			}
			c.waitFor(t, 20*time.Second, "dynamic profiles on both chargers sharing 32 A", func() (bool, string) {
				for _, id := range []string{"cp1", "cp2"} {
					if _, ok := dynamic(id); !ok {
						return false, id + " has no dynamic profile yet"
					}
				}
				if s := c.sum(); s < 30 {
					return false, fmt.Sprintf("sum %.2f A", s)
				}
				return true, ""
			})
			c.mu.Lock()
			for _, id := range []string{"cp1", "cp2"} {
				first := c.log[id][0]
				if first.GetStackLevel() != 0 || first.GetPurpose() != pb.ChargingProfilePurpose_CHARGING_PROFILE_PURPOSE_TX_DEFAULT ||
					first.GetSchedule().GetDurationSeconds() != 0 {
					t.Errorf("%s: first profile accepted is %v, want the fallback (TxDefault, stack level 0, no duration)", id, first)
				}
			}
			if p, _ := dynamic("cp2"); p.GetSchedule().GetRateUnit() != pb.ChargingRateUnit_CHARGING_RATE_UNIT_W {
				t.Errorf("cp2 refuses amperes but its dynamic profile is %v", p.GetSchedule())
			}
			if p, _ := dynamic("cp1"); p.GetPurpose() != pb.ChargingProfilePurpose_CHARGING_PROFILE_PURPOSE_TX || p.GetTransactionId() != "tx-1" ||
				p.GetKind() == pb.ChargingProfileKind_CHARGING_PROFILE_KIND_UNSPECIFIED || p.GetSchedule().GetDurationSeconds() <= 0 {
				t.Errorf("cp1's dynamic profile %v: want a TxProfile of tx-1 with a lease", p)
			}
			if c.rejected == 0 {
				t.Error("cp2 never refused a profile in amperes: the rejection path was not exercised")
			}
			// Cut the stream on the next command, before acknowledging it.
			c.dropNext = true
			c.mu.Unlock()

			// Lower the grid limit: lowers first, then the new bound holds.
			c.lower(20)
			if _, err := e.store.UpdateConfig(ctx, siteID, func(cfg *site.Config) error {
				cfg.Site.GridLimit = site.Uniform(20)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			e.mgr.Trigger(siteID)
			c.waitFor(t, 20*time.Second, "accepted limits within 20 A", func() (bool, string) {
				if c.lowered != 0 {
					return false, fmt.Sprintf("sum %.2f A", c.sum())
				}
				return c.bound == 20, ""
			})
			c.mu.Lock()
			c.dropNext = true // once more, while the loop settles
			c.mu.Unlock()
			time.Sleep(1500 * time.Millisecond) // a few loop ticks at the new limit
			c.waitFor(t, 10*time.Second, "the dropped commands resent and acknowledged", func() (bool, string) {
				if c.dropNext {
					return true, "" // nothing came to drop: fine
				}
				for _, s := range c.dropped {
					if !c.acked[s] {
						return false, fmt.Sprintf("seq %d not acknowledged yet", s)
					}
				}
				return true, ""
			})

			c.mu.Lock()
			defer c.mu.Unlock()
			for _, v := range c.violations {
				t.Error(v)
			}
			if len(c.dropped) == 0 {
				t.Fatal("no command was dropped: the resume path was not exercised")
			}
			// No loss, no duplicates: the acknowledged seqs are 1..n.
			acked := c.ackedSeqs()
			for i, s := range acked {
				if s != uint64(i+1) {
					t.Fatalf("acknowledged seqs %v: want 1..%d without gaps", acked, len(acked))
				}
			}
			// Each dropped command came again first on the next stream.
			for i, st := range c.streams[:len(c.streams)-1] {
				if len(st) == 0 || !slices.Contains(c.dropped, st[len(st)-1]) {
					continue
				}
				next := c.streams[i+1]
				if len(next) == 0 || next[0] != st[len(st)-1] {
					t.Errorf("stream %d ended at unacknowledged seq %d; stream %d began with %v", i, st[len(st)-1], i+1, next)
				}
			}
			pending, err := e.store.Pending(context.Background(), siteID, 0, 100)
			if err != nil || len(pending) != 0 {
				t.Errorf("outbox after everything was acknowledged: %d pending, %v", len(pending), err)
			}
			for _, id := range []string{"cp1", "cp2"} {
				for _, p := range c.log[id] {
					t.Logf("%s accepted: id %d stack %d %v %.1f %v dur %ds", id, p.GetProfileId(), p.GetStackLevel(), p.GetPurpose(),
						p.GetSchedule().GetPeriods()[0].GetLimit(), p.GetSchedule().GetRateUnit(), p.GetSchedule().GetDurationSeconds())
				}
			}
			t.Logf("%d commands acknowledged over %d streams, dropped %v, %d rejections; sum now %.2f A",
				len(acked), len(c.streams), c.dropped, c.rejected, c.sum())
		})
	}
}

// TestStreamResumesAfterLastAck: commands not acknowledged when a stream
// breaks come again first, in order, on the next one; acknowledged ones
// never again; each waiting SetLimit gets its own answer.
func TestStreamResumesAfterLastAck(t *testing.T) {
	for name, addr := range backends(t) {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, addr, envOptions{noLoop: true})
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			c := newCSMS(t, e.cl, tokCSMS, siteID, 1000)
			if err := c.report(ctx, plugIn(siteID, "cp1", "tx-1")[:2]); err != nil {
				t.Fatal(err)
			}
			ref := site.ChargerRef{SiteID: siteID, ChargerID: "cp1"}

			// Stream 1: take seq 1 and 2, acknowledge only 1, go away.
			s1ctx, s1cancel := context.WithCancel(ctx)
			s1, err := e.cl.StreamCommands(withToken(s1ctx, tokCSMS), &pb.StreamCommandsRequest{Name: "sites/" + siteID})
			if err != nil {
				t.Fatal(err)
			}
			waitAttached(t, e)
			type answer struct {
				n   int
				res site.CommandResult
				err error
			}
			answers := make(chan answer, 5)
			go func() {
				for i := range 5 {
					res, err := e.hub.SetLimit(ctx, ref, site.LimitRequest{EVSE: 1, Purpose: site.PurposeTxDefault, ProfileID: 2001, StackLevel: 1,
						Unit: site.UnitAmps, Periods: []site.Period{{Limit: float64(10 + i)}}})
					answers <- answer{i, res, err}
				}
			}()
			first := recv(t, s1)
			ack(t, ctx, e, first.GetSeq(), pb.CommandStatus_COMMAND_STATUS_ACCEPTED)
			if a := <-answers; a.err != nil || a.res.Status != site.CommandAccepted {
				t.Fatalf("SetLimit 1: %v, %v", a.res, a.err)
			}
			second := recv(t, s1)
			s1cancel()
			select {
			case a := <-answers:
				t.Fatalf("SetLimit 2 answered %v, %v before its command was acknowledged", a.res, a.err)
			case <-time.After(50 * time.Millisecond):
			}
			if first.GetSeq() != 1 || second.GetSeq() != 2 {
				t.Fatalf("stream 1 gave seqs %d, %d; want 1, 2", first.GetSeq(), second.GetSeq())
			}

			// Stream 2 resumes after 1: seq 2 again (with its limit),
			// then 3, 4, 5, each acknowledged once.
			s2, err := e.cl.StreamCommands(withToken(ctx, tokCSMS), &pb.StreamCommandsRequest{Name: "sites/" + siteID, ResumeAfterSeq: 1})
			if err != nil {
				t.Fatal(err)
			}
			for want := uint64(2); want <= 5; want++ {
				cmd := recv(t, s2)
				if cmd.GetSeq() != want {
					t.Fatalf("stream 2: seq %d, want %d", cmd.GetSeq(), want)
				}
				lim := cmd.GetSetChargingProfile().GetChargingProfile().GetSchedule().GetPeriods()[0].GetLimit()
				if lim != float64(10+want-1) {
					t.Errorf("seq %d carries limit %v, want %v", want, lim, 10+want-1)
				}
				if ack(t, ctx, e, want, pb.CommandStatus_COMMAND_STATUS_ACCEPTED) {
					t.Errorf("seq %d: first ack reported as a duplicate", want)
				}
				if a := <-answers; a.err != nil || a.res.Status != site.CommandAccepted || uint64(a.n+1) != want {
					t.Errorf("SetLimit %d: %v, %v", a.n+1, a.res, a.err)
				}
			}
			if !ack(t, ctx, e, 3, pb.CommandStatus_COMMAND_STATUS_ACCEPTED) {
				t.Error("acknowledging seq 3 twice: duplicate not reported")
			}
			_, err = e.cl.AckCommand(withToken(ctx, tokCSMS), &pb.AckCommandRequest{Name: "sites/" + siteID, Seq: 99, Status: pb.CommandStatus_COMMAND_STATUS_ACCEPTED})
			if status.Code(err) != codes.NotFound {
				t.Errorf("ack of a seq never handed out: %v, want NOT_FOUND", err)
			}

			// Stream 3 resumes after 5: the next command is the first
			// it sees; stream 2 is superseded (ABORTED).
			s3, err := e.cl.StreamCommands(withToken(ctx, tokCSMS), &pb.StreamCommandsRequest{Name: "sites/" + siteID, ResumeAfterSeq: 5})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s2.Recv(); status.Code(err) != codes.Aborted || reason(err) != "STREAM_SUPERSEDED" {
				t.Errorf("older stream after a newer one attached: %v, want ABORTED STREAM_SUPERSEDED", err)
			}
			go func() {
				res, err := e.hub.Trigger(ctx, ref, 1, site.TriggerMeterValues)
				answers <- answer{6, res, err}
			}()
			cmd := recv(t, s3)
			if cmd.GetSeq() != 6 || cmd.GetTriggerMessage().GetRequestedMessage() != pb.TriggerMessageKind_TRIGGER_MESSAGE_KIND_METER_VALUES {
				t.Fatalf("stream 3's first command: %v, want seq 6 TriggerMessage MeterValues", cmd)
			}
			ack(t, ctx, e, 6, pb.CommandStatus_COMMAND_STATUS_NOT_SUPPORTED)
			if a := <-answers; a.err != nil || a.res.Status != site.CommandNotSupported {
				t.Errorf("Trigger answered %v, %v; want not-supported", a.res, a.err)
			}
		})
	}
}

// TestAckStatuses: TIMED_OUT is site.ErrTimeout, OFFLINE site.ErrOffline,
// REJECTED a rejected result; a composite schedule comes back with its
// periods; no ack in time is site.ErrTimeout.
func TestAckStatuses(t *testing.T) {
	e := newEnv(t, backends(t)["miniredis"], envOptions{noLoop: true, answerWait: 300 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c := newCSMS(t, e.cl, tokCSMS, siteID, 1000)
	if err := c.report(ctx, plugIn(siteID, "cp1", "tx-1")[:1]); err != nil {
		t.Fatal(err)
	}
	ref := site.ChargerRef{SiteID: siteID, ChargerID: "cp1"}
	s, err := e.cl.StreamCommands(withToken(ctx, tokCSMS), &pb.StreamCommandsRequest{Name: "sites/" + siteID})
	if err != nil {
		t.Fatal(err)
	}
	waitAttached(t, e)
	clear := site.ClearRequest{ProfileID: 2001}
	tests := []struct {
		desc   string
		status pb.CommandStatus // 0: do not answer
		want   error
		result site.CommandStatus
	}{
		{"accepted", pb.CommandStatus_COMMAND_STATUS_ACCEPTED, nil, site.CommandAccepted},
		{"rejected", pb.CommandStatus_COMMAND_STATUS_REJECTED, nil, site.CommandRejected},
		{"timed out at the CSMS", pb.CommandStatus_COMMAND_STATUS_TIMED_OUT, site.ErrTimeout, 0},
		{"charger offline at the CSMS", pb.CommandStatus_COMMAND_STATUS_OFFLINE, site.ErrOffline, 0},
		{"no ack in time", 0, site.ErrTimeout, 0},
	}
	for _, tc := range tests {
		type answer struct {
			res site.CommandResult
			err error
		}
		got := make(chan answer, 1)
		go func() {
			res, err := e.hub.ClearLimit(ctx, ref, clear)
			got <- answer{res, err}
		}()
		cmd := recv(t, s)
		if cmd.GetClearChargingProfile().GetProfileId() != 2001 {
			t.Errorf("%s: command %v, want ClearChargingProfile 2001", tc.desc, cmd)
		}
		if tc.status != 0 {
			ack(t, ctx, e, cmd.GetSeq(), tc.status)
		}
		a := <-got
		if tc.want != nil && !errors.Is(a.err, tc.want) || tc.want == nil && (a.err != nil || a.res.Status != tc.result) {
			t.Errorf("%s: ClearLimit = %v, %v; want %v / %v", tc.desc, a.res, a.err, tc.result, tc.want)
		}
		if tc.status == 0 {
			// The command stays in the outbox; acknowledge it late.
			if dup := ack(t, ctx, e, cmd.GetSeq(), pb.CommandStatus_COMMAND_STATUS_ACCEPTED); dup {
				t.Errorf("%s: a late ack is not a duplicate", tc.desc)
			}
		}
	}

	got := make(chan site.Schedule, 1)
	go func() {
		sch, err := e.hub.CompositeSchedule(ctx, ref, 1, 5*time.Minute, site.UnitAmps)
		if err != nil {
			t.Errorf("CompositeSchedule: %v", err)
		}
		got <- sch
	}()
	cmd := recv(t, s)
	if g := cmd.GetGetCompositeSchedule(); g.GetDurationSeconds() != 300 || g.GetEvseId() != 1 || g.GetRateUnit() != pb.ChargingRateUnit_CHARGING_RATE_UNIT_A {
		t.Errorf("GetCompositeSchedule command %v", g)
	}
	if _, err := e.cl.AckCommand(withToken(ctx, tokCSMS), &pb.AckCommandRequest{Name: "sites/" + siteID, Seq: cmd.GetSeq(),
		Status: pb.CommandStatus_COMMAND_STATUS_ACCEPTED, CompositeSchedule: &pb.CompositeSchedule{EvseId: 1,
			RateUnit: pb.ChargingRateUnit_CHARGING_RATE_UNIT_A, Periods: []*pb.ChargingSchedulePeriod{{Limit: 16, NumberPhases: 3}, {StartPeriodSeconds: 60, Limit: 10}}}}); err != nil {
		t.Fatal(err)
	}
	if sch := <-got; len(sch.Periods) != 2 || sch.Periods[0].Limit != 16 || sch.Periods[1].Offset != time.Minute || sch.Unit != site.UnitAmps {
		t.Errorf("composite schedule %+v", sch)
	}
}

// TestNoCSMSAttached: without a command stream for the site, or for a
// charger the CSMS reported disconnected, commands fail at once with
// site.ErrOffline and nothing is queued.
func TestNoCSMSAttached(t *testing.T) {
	e := newEnv(t, backends(t)["miniredis"], envOptions{noLoop: true})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c := newCSMS(t, e.cl, tokCSMS, siteID, 1000)
	if err := c.report(ctx, plugIn(siteID, "cp1", "tx-1")[:2]); err != nil {
		t.Fatal(err)
	}
	ref := site.ChargerRef{SiteID: siteID, ChargerID: "cp1"}
	req := site.LimitRequest{EVSE: 1, Purpose: site.PurposeTxDefault, ProfileID: 2001, Unit: site.UnitAmps, Periods: []site.Period{{Limit: 6}}}
	if _, err := e.hub.SetLimit(ctx, ref, req); !errors.Is(err, site.ErrOffline) {
		t.Errorf("SetLimit without a stream: %v, want ErrOffline", err)
	}
	if !e.hub.Owns(ref) {
		t.Error("Owns: a charger the CSMS reported belongs to the hub")
	}
	if e.hub.Owns(site.ChargerRef{SiteID: otherSiteID, ChargerID: "cp1"}) {
		t.Error("Owns: a charger of a site no CSMS touched belongs to the hub")
	}
	sctx, scancel := context.WithCancel(ctx)
	defer scancel()
	if _, err := e.cl.StreamCommands(withToken(sctx, tokCSMS), &pb.StreamCommandsRequest{Name: "sites/" + siteID}); err != nil {
		t.Fatal(err)
	}
	waitAttached(t, e)
	if err := c.report(ctx, []*pb.ChargerEvent{{Charger: chargerName(siteID, "cp1"), Event: &pb.ChargerEvent_Disconnected{Disconnected: &pb.ChargerDisconnectedEvent{}}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.hub.SetLimit(ctx, ref, req); !errors.Is(err, site.ErrOffline) {
		t.Errorf("SetLimit for a charger reported disconnected: %v, want ErrOffline", err)
	}
	if n, err := e.store.LastSeq(ctx, siteID); err != nil || n != 0 {
		t.Errorf("outbox seq = %d, %v; want nothing queued", n, err)
	}
	st, err := e.store.ChargerState(ctx, ref)
	if err != nil || st.Connected || st.Boot.Vendor != "Acme" {
		t.Errorf("state after connect, boot, disconnect: %+v, %v", st, err)
	}
}

// TestAccessControl: only a csms (or admin) token of the site may use
// DelegationService; a csms token of another site is PERMISSION_DENIED
// and learns nothing; a server without a hub is FAILED_PRECONDITION.
func TestAccessControl(t *testing.T) {
	addr := backends(t)["miniredis"]
	e := newEnv(t, addr, envOptions{noLoop: true})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	site1 := "sites/" + siteID
	calls := map[string]func(ctx context.Context) error{
		"ReportChargerEvents": func(ctx context.Context) error {
			_, err := e.cl.ReportChargerEvents(ctx, &pb.ReportChargerEventsRequest{Name: site1, Events: plugIn(siteID, "cp1", "tx")[:1]})
			return err
		},
		"StreamCommands": func(ctx context.Context) error {
			s, err := e.cl.StreamCommands(ctx, &pb.StreamCommandsRequest{Name: site1})
			if err != nil {
				return err
			}
			_, err = s.Recv()
			return err
		},
		"AckCommand": func(ctx context.Context) error {
			_, err := e.cl.AckCommand(ctx, &pb.AckCommandRequest{Name: site1, Seq: 1, Status: pb.CommandStatus_COMMAND_STATUS_ACCEPTED})
			return err
		},
	}
	tests := []struct {
		desc   string
		tok    string
		code   codes.Code
		reason string
	}{
		{"csms of another site", tokOtherCSMS, codes.PermissionDenied, "SITE_NOT_ALLOWED"},
		{"viewer of the site", tokViewer, codes.PermissionDenied, "ROLE_NOT_ALLOWED"},
		{"no token", "", codes.Unauthenticated, "UNAUTHENTICATED"},
	}
	for _, tc := range tests {
		for name, call := range calls {
			cctx := ctx
			if tc.tok != "" {
				cctx = withToken(ctx, tc.tok)
			}
			err := call(cctx)
			if status.Code(err) != tc.code || reason(err) != tc.reason {
				t.Errorf("%s: %s: %v, want %v %s", tc.desc, name, err, tc.code, tc.reason)
			}
		}
	}
	// An event for a charger of another site, in a request for this one.
	_, err := e.cl.ReportChargerEvents(withToken(ctx, tokCSMS), &pb.ReportChargerEventsRequest{Name: site1, Events: plugIn(otherSiteID, "cp1", "tx")[:1]})
	if status.Code(err) != codes.InvalidArgument || badField(err) != "events[0].charger" {
		t.Errorf("event of another site's charger: %v, want INVALID_ARGUMENT on events[0].charger", err)
	}

	noHub := newEnv(t, addr, envOptions{noHub: true})
	_, err = noHub.cl.AckCommand(withToken(ctx, tokCSMS), &pb.AckCommandRequest{Name: site1, Seq: 1, Status: pb.CommandStatus_COMMAND_STATUS_ACCEPTED})
	if status.Code(err) != codes.FailedPrecondition || reason(err) != "NO_DELEGATION" {
		t.Errorf("server without delegation: %v, want FAILED_PRECONDITION NO_DELEGATION", err)
	}
}

func waitAttached(t *testing.T, e *env) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !e.hub.Attached(siteID) {
		if time.Now().After(deadline) {
			t.Fatal("command stream not attached")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

type commandStream interface {
	Recv() (*pb.StreamCommandsResponse, error)
}

func recv(t *testing.T, s commandStream) *pb.Command {
	t.Helper()
	resp, err := s.Recv()
	if err != nil {
		t.Fatalf("Recv: %v", err)
	}
	return resp.GetCommand()
}

// ack acknowledges seq and returns whether it was a duplicate.
func ack(t *testing.T, ctx context.Context, e *env, seq uint64, st pb.CommandStatus) bool {
	t.Helper()
	resp, err := e.cl.AckCommand(withToken(ctx, tokCSMS), &pb.AckCommandRequest{Name: "sites/" + siteID, Seq: seq, Status: st})
	if err != nil {
		t.Fatalf("AckCommand(%d): %v", seq, err)
	}
	return resp.GetDuplicate()
}

func reason(err error) string {
	for _, d := range status.Convert(err).Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info.GetReason()
		}
	}
	return ""
}

func badField(err error) string {
	for _, d := range status.Convert(err).Details() {
		if br, ok := d.(*errdetails.BadRequest); ok && len(br.GetFieldViolations()) > 0 {
			return br.GetFieldViolations()[0].GetField()
		}
	}
	return ""
}

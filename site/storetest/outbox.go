package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/smartcharge/smartcharge/site"
)

// RunOutbox runs the conformance suite for site.OutboxStore
// implementations. newOutbox is called once per subtest and must return an
// outbox that holds nothing and shares nothing with earlier ones.
func RunOutbox(t *testing.T, newOutbox func(t *testing.T) site.OutboxStore) {
	tests := []struct {
		name string
		fn   func(*testing.T, site.OutboxStore)
	}{
		{"SeqStartsAtOneAndGrows", testOutboxSeq},
		{"PendingInOrderAfter", testOutboxPending},
		{"AcknowledgeOnce", testOutboxAck},
		{"SitesApart", testOutboxSites},
		{"RoundTrip", testOutboxRoundTrip},
		{"ConcurrentEnqueueNoGaps", testOutboxConcurrent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newOutbox(t)) })
	}
}

func trigger(charger string, evse int) site.DelegatedCommand {
	return site.DelegatedCommand{Ref: site.ChargerRef{SiteID: "s1", ChargerID: charger}, Kind: site.DelegatedTrigger,
		Trigger: &site.TriggerRequest{EVSE: evse, What: site.TriggerStatus}}
}

func mustEnqueue(t *testing.T, o site.OutboxStore, siteID string, c site.DelegatedCommand) site.DelegatedCommand {
	t.Helper()
	got, err := o.Enqueue(t.Context(), siteID, c)
	if err != nil {
		t.Fatalf("Enqueue: %v", err)
	}
	return got
}

func seqs(cs []site.DelegatedCommand) []uint64 {
	out := make([]uint64, 0, len(cs))
	for _, c := range cs {
		out = append(out, c.Seq)
	}
	return out
}

func testOutboxSeq(t *testing.T, o site.OutboxStore) {
	if n, err := o.LastSeq(t.Context(), "s1"); err != nil || n != 0 {
		t.Fatalf("LastSeq of a new site = %d, %v; want 0", n, err)
	}
	for want := uint64(1); want <= 3; want++ {
		if got := mustEnqueue(t, o, "s1", trigger("c1", 1)); got.Seq != want {
			t.Fatalf("Enqueue gave seq %d, want %d", got.Seq, want)
		}
	}
	if _, err := o.Acknowledge(t.Context(), "s1", 3); err != nil {
		t.Fatal(err)
	}
	// An acknowledged seq is never handed out again.
	if got := mustEnqueue(t, o, "s1", trigger("c1", 1)); got.Seq != 4 {
		t.Fatalf("after acknowledging 3, Enqueue gave seq %d, want 4", got.Seq)
	}
	if n, err := o.LastSeq(t.Context(), "s1"); err != nil || n != 4 {
		t.Fatalf("LastSeq = %d, %v; want 4", n, err)
	}
}

func testOutboxPending(t *testing.T, o site.OutboxStore) {
	for i := range 5 {
		mustEnqueue(t, o, "s1", trigger(fmt.Sprintf("c%d", i), 1))
	}
	tests := []struct {
		desc  string
		after uint64
		limit int
		want  []uint64
	}{
		{"all", 0, 100, []uint64{1, 2, 3, 4, 5}},
		{"after 2", 2, 100, []uint64{3, 4, 5}},
		{"limit", 0, 2, []uint64{1, 2}},
		{"after the last", 5, 100, []uint64{}},
		{"zero limit", 0, 0, []uint64{}},
	}
	for _, tc := range tests {
		got, err := o.Pending(t.Context(), "s1", tc.after, tc.limit)
		if err != nil {
			t.Fatalf("%s: %v", tc.desc, err)
		}
		if fmt.Sprint(seqs(got)) != fmt.Sprint(tc.want) {
			t.Errorf("%s: Pending = %v, want %v", tc.desc, seqs(got), tc.want)
		}
	}
}

func testOutboxAck(t *testing.T, o site.OutboxStore) {
	for range 3 {
		mustEnqueue(t, o, "s1", trigger("c1", 1))
	}
	tests := []struct {
		desc string
		seq  uint64
		want bool
	}{
		{"pending", 2, true},
		{"again", 2, false},
		{"never enqueued", 9, false},
	}
	for _, tc := range tests {
		found, err := o.Acknowledge(t.Context(), "s1", tc.seq)
		if err != nil || found != tc.want {
			t.Errorf("%s: Acknowledge(%d) = %v, %v; want %v", tc.desc, tc.seq, found, err, tc.want)
		}
	}
	got, err := o.Pending(t.Context(), "s1", 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(seqs(got)) != "[1 3]" {
		t.Errorf("Pending after acknowledging 2 = %v, want [1 3]", seqs(got))
	}
}

func testOutboxSites(t *testing.T, o site.OutboxStore) {
	mustEnqueue(t, o, "s1", trigger("c1", 1))
	if got := mustEnqueue(t, o, "s2", trigger("c1", 1)); got.Seq != 1 {
		t.Errorf("first seq of a second site = %d, want 1", got.Seq)
	}
	if found, _ := o.Acknowledge(t.Context(), "s2", 1); !found {
		t.Error("Acknowledge(s2, 1) not found")
	}
	got, err := o.Pending(t.Context(), "s1", 0, 10)
	if err != nil || len(got) != 1 {
		t.Errorf("s1 pending = %v, %v; want its one command", seqs(got), err)
	}
}

func testOutboxRoundTrip(t *testing.T, o site.OutboxStore) {
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	in := []site.DelegatedCommand{
		{Ref: site.ChargerRef{SiteID: "s1", ChargerID: "c1"}, Kind: site.DelegatedSetLimit, Created: start,
			SetLimit: &site.LimitRequest{EVSE: 1, Purpose: site.PurposeTx, TransactionID: "tx-9", ProfileID: 3001, StackLevel: 1,
				Unit: site.UnitWatts, Start: start, Duration: 10 * time.Minute,
				Periods: []site.Period{{Limit: 7400, Phases: 3}, {Offset: time.Minute, Limit: 4000, Phases: 1}}}},
		{Ref: site.ChargerRef{SiteID: "s1", ChargerID: "c2"}, Kind: site.DelegatedClearLimit, Created: start,
			ClearLimit: &site.ClearRequest{ProfileID: 2001, EVSE: 1, Purpose: site.PurposeTxDefault, StackLevel: 1}},
		{Ref: site.ChargerRef{SiteID: "s1", ChargerID: "c3"}, Kind: site.DelegatedCompositeSchedule, Created: start,
			CompositeSchedule: &site.CompositeRequest{EVSE: 2, Duration: 5 * time.Minute, Unit: site.UnitAmps}},
	}
	for _, c := range in {
		mustEnqueue(t, o, "s1", c)
	}
	got, err := o.Pending(t.Context(), "s1", 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(in) {
		t.Fatalf("Pending = %d commands, want %d", len(got), len(in))
	}
	for i := range in {
		want := in[i]
		want.Seq = uint64(i + 1)
		g := got[i]
		if !g.Created.Equal(want.Created) {
			t.Errorf("command %d: created %v, want %v", i, g.Created, want.Created)
		}
		g.Created = want.Created
		if g.SetLimit != nil && !g.SetLimit.Start.Equal(want.SetLimit.Start) {
			t.Errorf("command %d: start %v, want %v", i, g.SetLimit.Start, want.SetLimit.Start)
		}
		if g.SetLimit != nil {
			g.SetLimit.Start = want.SetLimit.Start
		}
		if fmt.Sprintf("%+v %+v %+v %+v", g.SetLimit, g.ClearLimit, g.Trigger, g.CompositeSchedule) !=
			fmt.Sprintf("%+v %+v %+v %+v", want.SetLimit, want.ClearLimit, want.Trigger, want.CompositeSchedule) ||
			g.Seq != want.Seq || g.Ref != want.Ref || g.Kind != want.Kind {
			t.Errorf("command %d round trip:\n got  %+v\n want %+v", i, g, want)
		}
	}
}

func testOutboxConcurrent(t *testing.T, o site.OutboxStore) {
	const writers, each = 4, 10
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				if _, err := o.Enqueue(t.Context(), "s1", trigger(fmt.Sprintf("c%d", w), 1)); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	got, err := o.Pending(t.Context(), "s1", 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range got {
		if c.Seq != uint64(i+1) {
			t.Fatalf("pending seqs %v: want 1..%d without gaps", seqs(got), writers*each)
		}
	}
	if len(got) != writers*each {
		t.Fatalf("%d pending, want %d", len(got), writers*each)
	}
}

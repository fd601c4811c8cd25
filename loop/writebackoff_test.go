package loop

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smartcharge/smartcharge/site"
)

// failingStore fails every charger state write while fail is set and
// counts the writes tried.
type failingStore struct {
	site.Store
	fail  atomic.Bool
	tries atomic.Int64
}

func (s *failingStore) UpdateChargerState(ctx context.Context, ref site.ChargerRef, fn func(*site.ChargerState) error) (site.ChargerState, error) {
	s.tries.Add(1)
	if s.fail.Load() {
		return site.ChargerState{}, errors.New("fake: store: " + site.ErrUnavailable.Error())
	}
	return s.Store.UpdateChargerState(ctx, ref, fn)
}

// After a charger state write failed, none is tried for writeBackoff (a
// Redis that does not answer would hold every dispatch for the I/O
// timeout); lowers still go out meanwhile, and writes resume after it.
func TestWriteBackoffAfterFailure(t *testing.T) {
	var fs *failingStore
	h := newHarness(t, depot(32, 2), func(c *Config) {
		fs = &failingStore{Store: c.Store}
		c.Store = fs
	})
	h.run(append(h.plugIn("cp1", caps16, acme), h.plugIn("cp2", caps16, acme)...)...)
	h.advance(15 * time.Second)
	fs.fail.Store(true)
	mark := h.ctrl.mark()
	h.setGridLimit(20) // lowers: sent, their writes fail
	if len(dynamicCalls(h.ctrl.since(mark), "cp1")) == 0 {
		t.Fatal("no lower sent while the store fails")
	}
	tried := fs.tries.Load()
	if tried == 0 {
		t.Fatal("no write tried")
	}
	for range 4 {
		h.run(site.MeterSampled{EventHeader: h.hdr("cp1"), EVSE: 1, Sample: site.MeterSample{Time: h.clk.Now()}})
		h.advance(time.Second)
	}
	if n := fs.tries.Load(); n != tried {
		t.Fatalf("%d writes tried within %v of a failed one", n-tried, writeBackoff)
	}
	fs.fail.Store(false)
	h.advance(writeBackoff)
	h.advance(time.Second)
	if fs.tries.Load() == tried {
		t.Fatal("no write tried after the backoff")
	}
	st, err := h.store.ChargerState(context.Background(), site.ChargerRef{SiteID: "depot", ChargerID: "cp1"})
	if err != nil {
		t.Fatal(err)
	}
	if ls := st.Loop.EVSEs[1]; ls.Target > 10.5 {
		t.Fatalf("cp1's lowered target not written after the backoff: %+v", ls)
	}
}

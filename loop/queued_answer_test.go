package loop

import (
	"testing"
	"time"
)

// An answer that came while the loop was busy is handled before answers
// are expired: it is not taken for a timeout because it waited in the
// queue past its deadline (under load, many were).
func TestQueuedAnswerIsNoTimeout(t *testing.T) {
	for i := range 10 {
		h := newHarness(t, depot(32, 2), nil)
		h.run(append(h.plugIn("cp1", caps16, acme), h.plugIn("cp2", caps16, acme)...)...)
		h.advance(15 * time.Second)
		h.ctrl.setPolicy("cp1", always(late))
		h.setGridLimit(20) // cp1's lower is parked at the charger
		timeouts := metricValue(h.m.met.profiles.WithLabelValues("depot", "timeout"))
		h.do("depot", func(l *siteLoop) {
			// The loop is busy: the answer comes and its deadline
			// passes before the loop looks at either.
			h.ctrl.releaseLate()
			deadline := time.Now().Add(5 * time.Second) // real time: only to fail a hung test
			for len(l.results) == 0 {
				if time.Now().After(deadline) {
					t.Fatal("the answer never came")
				}
				time.Sleep(time.Millisecond)
			}
			h.clk.Advance(h.m.cfg.AnswerTimeout + time.Second)
		})
		h.settle()
		if got := metricValue(h.m.met.profiles.WithLabelValues("depot", "timeout")); got != timeouts {
			t.Fatalf("round %d: an answer that waited in the queue counted as %v timeout(s)", i, got-timeouts)
		}
		h.stopManager()
	}
}

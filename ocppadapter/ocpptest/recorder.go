package ocpptest

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/smartcharge/smartcharge/site"
)

// Recorder is a site.EventSink that keeps every event for inspection.
type Recorder struct {
	mu      sync.Mutex
	events  []site.Event
	changed chan struct{}
}

var _ site.EventSink = (*Recorder)(nil)

// NewRecorder returns an empty recorder.
func NewRecorder() *Recorder { return &Recorder{changed: make(chan struct{})} }

// Publish records ev.
func (r *Recorder) Publish(ev site.Event) {
	r.mu.Lock()
	r.events = append(r.events, ev)
	close(r.changed)
	r.changed = make(chan struct{})
	r.mu.Unlock()
}

// Events returns a copy of the events so far.
func (r *Recorder) Events() []site.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events)
}

// Len is the number of events so far.
func (r *Recorder) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.events)
}

// Find returns the first event of type T at index >= from for which match
// (nil: any) is true, and its index; ok is false if there is none.
func Find[T site.Event](r *Recorder, from int, match func(T) bool) (ev T, index int, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := from; i < len(r.events); i++ {
		if e, isT := r.events[i].(T); isT && (match == nil || match(e)) {
			return e, i, true
		}
	}
	return ev, -1, false
}

// WaitFor waits up to timeout for an event of type T matching match (nil:
// any) at index >= from and fails the test if none comes.
func WaitFor[T site.Event](t testing.TB, r *Recorder, from int, timeout time.Duration, match func(T) bool) T {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		ch := r.changed
		r.mu.Unlock()
		if ev, _, ok := Find(r, from, match); ok {
			return ev
		}
		select {
		case <-ch:
		case <-deadline.C:
			var zero T
			t.Fatalf("no %T event within %v; events: %v", zero, timeout, r.Events())
			return zero
		}
	}
}

package sim

import (
	"context"
	"io"
	"log/slog"
	"runtime"
	"testing"
	"time"
)

func benchScenario(n int) *Scenario {
	return &Scenario{
		Site: SiteSpec{GridLimit: Currents{5000, 5000, 5000}},
		Generate: []TemplateSpec{
			{Count: n / 2, Identity: "b16-%05d", Charger: ChargerSpec{OCPP: OCPP16}},
			{Count: n - n/2, Identity: "b201-%05d", Charger: ChargerSpec{OCPP: OCPP201, Rotation: "STR"}},
		},
	}
}

// BenchmarkStep measures one physics/ledger step of 1,000 chargers (half
// with a charging car, each with a TxDefault profile), offline.
func BenchmarkStep(b *testing.B) {
	const n = 1000
	clk := &fakeClock{t: t0}
	f, err := New(benchScenario(n), Options{Server: "ws://127.0.0.1:1/ocpp", Clock: clk, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	for i, c := range f.Chargers() {
		c.mu.Lock()
		c.setProfile(0, prof(1, 0, PurposeTxDefault, 0, 16, 3600, 10), clk.Now())
		c.mu.Unlock()
		if i%2 == 0 {
			if err := c.Plug(1, Car{}, 0.2, 0); err != nil {
				b.Fatal(err)
			}
		}
	}
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		clk.Add(time.Second)
		f.Step(ctx)
		for _, c := range f.chargers { // nothing is connected: drop the queued calls
			c.mu.Lock()
			c.outbox = c.outbox[:0]
			c.mu.Unlock()
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/charger-step")
}

// BenchmarkIdleChargers connects 1,000 idle chargers to an in-process CSMS
// on 127.0.0.1 and reports the heap and goroutines per charger once all
// have booted. The figures include the test CSMS's side of each
// connection, so they overstate the simulator's own cost.
func BenchmarkIdleChargers(b *testing.B) {
	const n = 1000
	for b.Loop() {
		csms := newTestCSMS(b)
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		g0 := runtime.NumGoroutine()
		f, err := New(benchScenario(n), Options{Server: csms.url(), ConnectRate: 5000, Tick: 100 * time.Millisecond,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- f.Run(ctx) }()
		waitFor(b, 60*time.Second, "all chargers booted", func() bool {
			for _, c := range f.chargers {
				c.mu.Lock()
				ok := c.booted
				c.mu.Unlock()
				if !ok {
					return false
				}
			}
			return true
		})
		runtime.GC()
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		g1 := runtime.NumGoroutine()
		cancel()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(after.HeapInuse-before.HeapInuse)/n, "heap-B/charger")
		b.ReportMetric(float64(g1-g0)/n, "goroutines/charger")
		b.ReportMetric(n, "chargers")
		if errs := csms.errors(); len(errs) > 0 {
			b.Fatalf("schema errors: %v", errs[0])
		}
	}
}

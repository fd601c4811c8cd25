package ocppbench_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/smartcharge/smartcharge/ocppadapter"
	"github.com/smartcharge/smartcharge/ocppadapter/ocppbench"
	"github.com/smartcharge/smartcharge/ocppadapter/ocpptest"
	"github.com/smartcharge/smartcharge/site"
)

// proxyChargers is the fleet size of BenchmarkProxyRelay.
const proxyChargers = 1000

// proxyCallsPerRound is how many MeterValues each charger sends, one after
// another, in one iteration of BenchmarkProxyRelay.
const proxyCallsPerRound = 5

// relayFleet is proxyChargers test chargers connected to url.
type relayFleet struct {
	clients []*ocpptest.Client
	frames  [][]byte
}

func connectRelayFleet(b *testing.B, url, prefix string, n int) *relayFleet {
	b.Helper()
	f := &relayFleet{}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	var firstErr error
	for i := range n {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			id := ocppbench.Identity(prefix, i)
			cl, _, err := ocpptest.Dial(ctx, url, id, ocpptest.ClientOptions{Protocols: []string{ocppadapter.Subprotocol16}})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if firstErr == nil {
					firstErr = fmt.Errorf("dial %s: %w", id, err)
				}
				return
			}
			f.clients = append(f.clients, cl)
		})
	}
	wg.Wait()
	b.Cleanup(func() {
		for _, cl := range f.clients {
			cl.WS.CloseNow()
			<-cl.Done()
		}
	})
	if firstErr != nil {
		b.Fatal(firstErr)
	}
	payload := []byte(`{"connectorId":1,"meterValue":[{"timestamp":"2026-01-01T00:00:00Z","sampledValue":[{"value":"16.0","measurand":"Current.Import","phase":"L1","unit":"A"},{"value":"5000","measurand":"Energy.Active.Import.Register","unit":"Wh"}]}]}`)
	for i := range proxyCallsPerRound {
		f.frames = append(f.frames, ocppadapter.AppendCall(nil, "mv"+strconv.Itoa(i), "MeterValues", payload))
	}
	return f
}

// round makes every charger send proxyCallsPerRound MeterValues, each
// after the answer to the previous one, and returns the round trip times.
func (f *relayFleet) round(ctx context.Context) ([]time.Duration, error) {
	lat := make([][]time.Duration, len(f.clients))
	errs := make([]error, len(f.clients))
	var wg sync.WaitGroup
	for i, cl := range f.clients {
		wg.Go(func() {
			out := make([]time.Duration, 0, proxyCallsPerRound)
			for j, frame := range f.frames {
				t0 := time.Now()
				fr, err := cl.RawCall(ctx, "mv"+strconv.Itoa(j), frame)
				if err == nil && fr.Type != ocppadapter.TypeCallResult {
					err = fmt.Errorf("answer %s %s", fr.ErrorCode, fr.ErrorDescription)
				}
				if err != nil {
					errs[i] = err
					return
				}
				out = append(out, time.Since(t0))
			}
			lat[i] = out
		})
	}
	wg.Wait()
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	for _, err := range errs {
		if err != nil {
			return all, err
		}
	}
	return all, nil
}

func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	return d[min(len(d)-1, int(p*float64(len(d))))]
}

// BenchmarkProxyRelay measures local controller mode on loopback, in one
// process: chargers (1.6) each send MeterValues, one outstanding, to a Go
// CSMS (ocpptest.CSMS), first straight ("direct"), then through the
// adapter in proxy mode ("proxy": raw frames relayed both ways, every
// meter value read). With 1 charger it shows the latency the proxy adds
// to one message; with 1,000 (all sending at once) the latency under load
// and relayed messages per second (a CALL and its answer count as two).
// Chargers, proxy and CSMS share the machine's cores: the figures are an
// upper bound on the proxy's cost.
//
//	go test -run '^$' -bench ProxyRelay -benchtime 20x ./ocppadapter/ocppbench/
func BenchmarkProxyRelay(b *testing.B) {
	if _, err := ocppbench.RaiseOpenFiles(); err != nil {
		b.Fatal(err)
	}
	csms := ocpptest.StartCSMS(b)
	for _, n := range []int{1, proxyChargers} {
		var directP50, directP99 time.Duration
		b.Run(fmt.Sprintf("chargers=%d/direct", n), func(b *testing.B) {
			fl := connectRelayFleet(b, csms.URL+"/", fmt.Sprintf("D%d-", n), n)
			all := measureRounds(b, fl)
			directP50, directP99 = percentile(all, 0.50), percentile(all, 0.99)
		})
		b.Run(fmt.Sprintf("chargers=%d/proxy", n), func(b *testing.B) {
			var ids []string
			for i := range n {
				ids = append(ids, ocppbench.Identity("P", i))
			}
			h := ocpptest.Start(b, ocpptest.Options{Identities: ids, NoOutgoingValidation: true, Config: ocppadapter.Config{
				Logger:             slog.New(slog.DiscardHandler),
				Events:             discard{},
				SkipCapabilityRead: true,
				Proxy: &ocppadapter.ProxyConfig{Upstream: func(site.ChargerRef, string) (ocppadapter.UpstreamTarget, bool) {
					return ocppadapter.UpstreamTarget{URL: csms.URL}, true
				}},
			}})
			fl := connectRelayFleet(b, h.URL, "P", n)
			all := measureRounds(b, fl)
			p50, p99 := percentile(all, 0.50), percentile(all, 0.99)
			if directP50 > 0 {
				b.ReportMetric(float64((p50 - directP50).Microseconds()), "added-p50-µs")
				b.ReportMetric(float64((p99 - directP99).Microseconds()), "added-p99-µs")
			}
			b.ReportMetric(2*float64(len(all))/b.Elapsed().Seconds(), "relayed-msgs/s")
		})
	}
}

// measureRounds runs rounds until the benchmark's time is up and reports
// p50, p99 and round trips per second.
func measureRounds(b *testing.B, fl *relayFleet) []time.Duration {
	ctx := context.Background()
	if _, err := fl.round(ctx); err != nil { // warm up
		b.Fatal(err)
	}
	var all []time.Duration
	for b.Loop() {
		lat, err := fl.round(ctx)
		if err != nil {
			b.Fatal(err)
		}
		all = append(all, lat...)
	}
	b.ReportMetric(float64(percentile(all, 0.50).Microseconds()), "p50-µs")
	b.ReportMetric(float64(percentile(all, 0.99).Microseconds()), "p99-µs")
	b.ReportMetric(float64(len(all))/b.Elapsed().Seconds(), "roundtrips/s")
	return all
}

// discard is an EventSink that drops everything.
type discard struct{}

func (discard) Publish(site.Event) {}

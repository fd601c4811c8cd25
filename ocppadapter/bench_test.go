package ocppadapter_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smartcharge/smartcharge/ocppadapter"
	"github.com/smartcharge/smartcharge/ocppadapter/ocpptest"
)

func quietConfig() ocppadapter.Config {
	return ocppadapter.Config{SkipCapabilityRead: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
}

var meterValues16 = map[string]any{"connectorId": 1, "meterValue": []any{map[string]any{
	"timestamp": "2026-01-01T10:01:00Z",
	"sampledValue": []any{
		map[string]any{"value": "15.5", "measurand": "Current.Import", "phase": "L1", "unit": "A"},
		map[string]any{"value": "15.0", "measurand": "Current.Import", "phase": "L2", "unit": "A"},
		map[string]any{"value": "14.5", "measurand": "Current.Import", "phase": "L3", "unit": "A"},
		map[string]any{"value": "10500", "measurand": "Power.Active.Import", "unit": "W"},
		map[string]any{"value": "1500", "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
	}}}}

// BenchmarkMeterValuesRoundTrip: 1.6 MeterValues CALL to CALLRESULT over
// real WebSockets on 127.0.0.1, schema validation on, in-memory store,
// from 64 chargers at once (client and server share the CPU).
func BenchmarkMeterValuesRoundTrip(b *testing.B) {
	const chargers = 64
	ids := make([]string, chargers)
	for i := range ids {
		ids[i] = fmt.Sprintf("CP%03d", i)
	}
	h := ocpptest.Start(b, ocpptest.Options{Identities: ids, Config: quietConfig(), NoOutgoingValidation: true})
	clients := make([]*ocpptest.Client, chargers)
	for i, id := range ids {
		clients[i] = h.Dial(b, id, v16opts())
	}
	var next atomic.Int64
	b.SetParallelism((chargers + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		c := clients[int(next.Add(1)-1)%chargers]
		ctx := context.Background()
		for pb.Next() {
			if _, err := c.Call(ctx, "MeterValues", meterValues16); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkIdleConnection: heap and stack held per idle, booted-less
// connection (the client side is a bare TCP socket that did the WebSocket
// handshake), reported as B/conn.
func BenchmarkIdleConnection(b *testing.B) {
	const n = 1000
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("IDLE%04d", i)
	}
	cfg := quietConfig()
	cfg.PingInterval = -1
	h := ocpptest.Start(b, ocpptest.Options{Identities: ids, Config: cfg, NoOutgoingValidation: true})
	addr := strings.TrimPrefix(h.HTTP.URL, "http://")
	for range b.N {
		base := h.Events.Len()
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		conns := make([]net.Conn, 0, n)
		for _, id := range ids {
			c, err := rawHandshake(addr, id)
			if err != nil {
				b.Fatal(err)
			}
			conns = append(conns, c)
		}
		for h.Events.Len() < base+n {
			time.Sleep(time.Millisecond)
		}
		for range 4 { // stacks shrink over a few cycles, as on a long-running server
			runtime.GC()
		}
		runtime.ReadMemStats(&after)
		heap := float64(after.HeapInuse) - float64(before.HeapInuse)
		stack := float64(after.StackInuse) - float64(before.StackInuse)
		b.ReportMetric((heap+stack)/n, "B/conn")
		b.ReportMetric(stack/n, "stackB/conn")
		for _, c := range conns {
			c.Close()
		}
		for h.Events.Len() < base+2*n {
			time.Sleep(time.Millisecond)
		}
	}
}

// rawHandshake opens a WebSocket to the adapter with nothing but a TCP
// socket, so the client holds almost no memory.
func rawHandshake(addr, id string) (net.Conn, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(c, "GET /ocpp/%s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: ocpp1.6\r\n\r\n", id, addr)
	resp, err := http.ReadResponse(bufio.NewReaderSize(c, 512), nil)
	if err != nil {
		c.Close()
		return nil, err
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		c.Close()
		return nil, fmt.Errorf("handshake %s: %s", id, resp.Status)
	}
	return c, nil
}

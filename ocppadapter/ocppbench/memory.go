package ocppbench

import (
	"context"
	"fmt"
	"time"
)

// IdleMemory is a server's memory cost per idle connection.
type IdleMemory struct {
	Connections int   `json:"connections"`
	Before      Stats `json:"before"`
	After       Stats `json:"after"`
	// HeapStackPerConn is the growth of HeapInuse+StackInuse per
	// connection, in bytes.
	HeapStackPerConn float64 `json:"heapStackBytesPerConn"`
	// RSSPerConn is the growth of the resident set per connection, in
	// bytes.
	RSSPerConn float64 `json:"rssBytesPerConn"`
}

func (m IdleMemory) String() string {
	return fmt.Sprintf("idle booted connections: %d; server heap+stack %.0f bytes/conn (%.1f KiB), RSS %.0f bytes/conn (%.1f KiB); goroutines %d -> %d",
		m.Connections, m.HeapStackPerConn, m.HeapStackPerConn/1024, m.RSSPerConn, m.RSSPerConn/1024, m.Before.Goroutines, m.After.Goroutines)
}

// MeasureIdle reads the server's memory (after a GC), connects and boots
// cfg.Chargers chargers, waits until the server has read every charger's
// capabilities, reads the memory again and closes the fleet. The server
// must serve /stats at statsURL (see Server).
func MeasureIdle(ctx context.Context, cfg LoadConfig, statsURL string) (IdleMemory, error) {
	before, err := FetchStats(ctx, statsURL, true)
	if err != nil {
		return IdleMemory{}, err
	}
	fleet, err := Connect(ctx, cfg)
	if err != nil {
		return IdleMemory{}, err
	}
	defer fleet.Close()
	n := int64(fleet.Len())
	deadline := time.Now().Add(2 * time.Minute)
	for {
		st, err := FetchStats(ctx, statsURL, false)
		if err != nil {
			return IdleMemory{}, err
		}
		if st.CapabilitiesRead-before.CapabilitiesRead >= n && st.Connected-before.Connected >= n {
			break
		}
		if time.Now().After(deadline) {
			return IdleMemory{}, fmt.Errorf("ocppbench: server read capabilities of %d of %d chargers in 2 minutes", st.CapabilitiesRead-before.CapabilitiesRead, n)
		}
		select {
		case <-ctx.Done():
			return IdleMemory{}, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	// Let the last handlers return before measuring.
	time.Sleep(500 * time.Millisecond)
	after, err := FetchStats(ctx, statsURL, true)
	if err != nil {
		return IdleMemory{}, err
	}
	m := IdleMemory{Connections: int(n), Before: before, After: after}
	m.HeapStackPerConn = (float64(after.HeapInuse+after.StackInuse) - float64(before.HeapInuse+before.StackInuse)) / float64(n)
	m.RSSPerConn = (float64(after.VmRSS) - float64(before.VmRSS)) / float64(n)
	return m, nil
}

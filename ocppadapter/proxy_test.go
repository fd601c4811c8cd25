package ocppadapter_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/smartcharge/smartcharge/ocppadapter"
	"github.com/smartcharge/smartcharge/ocppadapter/ocpptest"
	"github.com/smartcharge/smartcharge/site"
)

func proxyHarness(t *testing.T, csms *ocpptest.CSMS, p ocppadapter.ProxyConfig, ids ...string) *ocpptest.Harness {
	t.Helper()
	p.Upstream = func(site.ChargerRef, string) (ocppadapter.UpstreamTarget, bool) {
		return ocppadapter.UpstreamTarget{URL: csms.URL}, true
	}
	p.RetryMin, p.RetryMax = 50*time.Millisecond, 200*time.Millisecond
	return ocpptest.Start(t, ocpptest.Options{Identities: ids, Config: ocppadapter.Config{
		CallTimeout: 5 * time.Second, SkipCapabilityRead: true, Proxy: &p,
	}})
}

// TestProxyUpstreamLoss covers the Loss policy: by default a 2.0.1
// charger is disconnected when its CSMS link is lost (OCPP 2.0.1 Part 4
// section 6.3: the local controller SHALL close the corresponding
// WebSockets) and refused with 502 while the CSMS cannot be reached; a
// 1.6 charger (no such rule) stays connected.
func TestProxyUpstreamLoss(t *testing.T) {
	cases := []struct {
		desc     string
		protocol string
		loss     ocppadapter.UpstreamLoss
		closed   bool
	}{
		{"2.0.1 spec default closes", ocppadapter.Subprotocol201, ocppadapter.UpstreamLossSpec, true},
		{"1.6 spec default keeps", ocppadapter.Subprotocol16, ocppadapter.UpstreamLossSpec, false},
		{"2.0.1 keep", ocppadapter.Subprotocol201, ocppadapter.UpstreamLossKeep, false},
		{"1.6 close", ocppadapter.Subprotocol16, ocppadapter.UpstreamLossClose, true},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			csms := ocpptest.StartCSMS(t)
			h := proxyHarness(t, csms, ocppadapter.ProxyConfig{Loss: tc.loss}, "CP1")
			cl := h.Dial(t, "CP1", ocpptest.ClientOptions{Protocols: []string{tc.protocol}})
			if !csms.Wait(5*time.Second, func() bool { return csms.Connects("CP1") == 1 }) {
				t.Fatal("proxy did not connect to the CSMS")
			}
			csms.SetDown(true)
			select {
			case <-cl.Done():
				if !tc.closed {
					t.Fatalf("charger disconnected on CSMS loss: %v", cl.Err())
				}
			case <-time.After(time.Second):
				if tc.closed {
					t.Fatal("charger still connected a second after its CSMS link was lost")
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			c2, resp, err := ocpptest.Dial(ctx, h.URL, "CP1", ocpptest.ClientOptions{Protocols: []string{tc.protocol}})
			switch {
			case tc.closed && (err == nil || resp == nil || resp.StatusCode != http.StatusBadGateway):
				t.Errorf("connect while the CSMS is down: err %v, response %v; want 502", err, resp)
			case !tc.closed && err != nil:
				t.Errorf("connect while the CSMS is down: %v; want accepted", err)
			}
			if c2 != nil {
				c2.WS.CloseNow()
			}
		})
	}
}

// TestProxyOfflineAnswer: with OfflineAnswer the proxy answers a
// charger's notifications itself while the CSMS is down and replays them
// later; BootNotification waits for the CSMS.
func TestProxyOfflineAnswer(t *testing.T) {
	csms := ocpptest.StartCSMS(t)
	h := proxyHarness(t, csms, ocppadapter.ProxyConfig{Loss: ocppadapter.UpstreamLossKeep, Offline: ocppadapter.OfflineAnswer}, "CP1")
	cl := h.Dial(t, "CP1", ocpptest.ClientOptions{Protocols: []string{ocppadapter.Subprotocol16}})
	if !csms.Wait(5*time.Second, func() bool { return csms.Connects("CP1") == 1 }) {
		t.Fatal("proxy did not connect to the CSMS")
	}
	csms.SetDown(true)
	time.Sleep(100 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := cl.Call(ctx, "StatusNotification", map[string]any{"connectorId": 1, "errorCode": "NoError", "status": "Available"}); err != nil {
		t.Fatalf("StatusNotification while the CSMS is down: %v; want a local answer", err)
	}
	short, cancel2 := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel2()
	if _, err := cl.Call(short, "BootNotification", map[string]any{"chargePointVendor": "v", "chargePointModel": "m"}); err == nil {
		t.Fatal("BootNotification answered locally; it must wait for the CSMS")
	}
	csms.SetDown(false)
	if !csms.Wait(5*time.Second, func() bool { return csms.Connects("CP1") == 2 }) {
		t.Fatal("proxy did not reconnect to the CSMS")
	}
	ocpptest.WaitFor(t, h.Events, 0, 5*time.Second, func(e site.ChargerBooted) bool { return true })
}

package ocppadapter_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/smartcharge/smartcharge/ocppadapter"
	"github.com/smartcharge/smartcharge/ocppadapter/ocpptest"
	"github.com/smartcharge/smartcharge/site"
)

const password = "0123456789abcdef0123"

// Security profile 2: TLS and HTTP Basic auth (A00.FR.2xx, A00.FR.3xx).
func TestSecurityProfile2(t *testing.T) {
	pki := ocpptest.NewPKI(t)
	h := ocpptest.Start(t, ocpptest.Options{Identities: []string{"CP1"}, Password: password, PKI: pki, Config: ocppadapter.Config{SecurityProfile: 2, SkipCapabilityRead: true}})
	for _, tc := range []struct {
		desc   string
		pass   string
		status int
	}{
		{"right password over TLS", password, http.StatusSwitchingProtocols},
		{"wrong password over TLS", "not-the-password-1", http.StatusUnauthorized},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			c, resp, err := ocpptest.Dial(ctxT(t), h.URL, "CP1", ocpptest.ClientOptions{Username: "CP1", Password: tc.pass, HTTPClient: pki.HTTPClient(nil)})
			if c != nil {
				defer c.Close()
			}
			if resp == nil || resp.StatusCode != tc.status {
				t.Fatalf("response %v, err %v; want %d", resp, err, tc.status)
			}
		})
	}
	// A plain-HTTP upgrade is refused before any credentials are looked at.
	req := httptest.NewRequest(http.MethodGet, "/ocpp/CP1", nil)
	req.Header.Set("Sec-WebSocket-Protocol", "ocpp1.6")
	req.SetBasicAuth("CP1", password)
	rec := httptest.NewRecorder()
	h.Server.ServeHTTP(rec, req)
	if rec.Code != http.StatusForbidden {
		t.Fatalf("plain HTTP: %d, want 403", rec.Code)
	}
}

// Security profile 3: TLS with client certificates whose subject CN is the
// charger identity (A00.FR.4xx).
func TestSecurityProfile3(t *testing.T) {
	pki := ocpptest.NewPKI(t)
	h := ocpptest.Start(t, ocpptest.Options{Identities: []string{"CP1"}, PKI: pki, Config: ocppadapter.Config{SecurityProfile: 3, SkipCapabilityRead: true}})
	good := pki.ClientCert(t, "CP1")
	other := pki.ClientCert(t, "CP2")
	c, resp, err := ocpptest.Dial(ctxT(t), h.URL, "CP1", ocpptest.ClientOptions{HTTPClient: pki.HTTPClient(&good)})
	if err != nil {
		t.Fatalf("right certificate: %v", err)
	}
	c.Close()
	_, resp, err = ocpptest.Dial(ctxT(t), h.URL, "CP1", ocpptest.ClientOptions{HTTPClient: pki.HTTPClient(&other)})
	if resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("certificate of another charger: %v %v", resp, err)
	}
	if _, _, err = ocpptest.Dial(ctxT(t), h.URL, "CP1", ocpptest.ClientOptions{HTTPClient: pki.HTTPClient(nil)}); err == nil {
		t.Fatal("connected without a client certificate")
	}
}

// The server pings idle connections; a peer that never answers is
// dropped, one that answers stays.
func TestPingKeepAlive(t *testing.T) {
	h := ocpptest.Start(t, ocpptest.Options{Identities: []string{"LIVE", "DEAD"}, Config: ocppadapter.Config{
		SkipCapabilityRead: true, PingInterval: 30 * time.Millisecond, CallTimeout: 150 * time.Millisecond}})
	live := h.Dial(t, "LIVE", v16opts())
	// A raw connection nobody reads from cannot answer pings.
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	dead, _, err := websocket.Dial(ctx, h.URL+"DEAD", &websocket.DialOptions{Subprotocols: []string{"ocpp1.6"}})
	if err != nil {
		t.Fatal(err)
	}
	defer dead.CloseNow()
	ocpptest.WaitFor(t, h.Events, 0, wait, func(e site.ChargerDisconnected) bool { return e.Charger() == h.Refs["DEAD"] })
	if !h.Server.Connected(h.Refs["LIVE"]) {
		t.Fatal("answering charger was dropped")
	}
	if _, err := live.Call(ctxT(t), "Heartbeat", struct{}{}); err != nil {
		t.Fatal(err)
	}
}

package ocpptest

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/smartcharge/smartcharge/ocppadapter"
	"github.com/smartcharge/smartcharge/site"
)

// Options configures Start.
type Options struct {
	// Identities are registered on site "test-site" (charger ID = the
	// identity in lower case).
	Identities []string
	// Password, if set, is hashed onto every charger.
	Password string
	// Config is passed to the server; Store, Events and Logger are
	// filled in when nil, and ValidateOutgoing is turned on unless
	// NoOutgoingValidation is set.
	Config               ocppadapter.Config
	NoOutgoingValidation bool
	// PKI, if set, serves TLS (wss://) with its server certificate and,
	// for security profile 3, its CA for client certificates. Set
	// Config.SecurityProfile to 2 or 3 as well.
	PKI *PKI
}

// Harness is a running adapter on 127.0.0.1 with an in-memory store.
type Harness struct {
	Server *ocppadapter.Server
	Store  site.Store
	Mem    *MemStore // the store, when Start made it
	Events *Recorder
	HTTP   *httptest.Server
	// URL is "ws://127.0.0.1:port/ocpp/"; append a charger identity.
	URL  string
	Refs map[string]site.ChargerRef
}

// Start runs an adapter for the test and stops it in t.Cleanup.
func Start(t testing.TB, opts Options) *Harness {
	t.Helper()
	h := &Harness{Refs: map[string]site.ChargerRef{}}
	cfg := opts.Config
	if cfg.Store == nil {
		h.Mem = NewMemStore()
		cfg.Store = h.Mem
		hash := ""
		if opts.Password != "" {
			var err error
			if hash, err = ocppadapter.HashPassword(opts.Password); err != nil {
				t.Fatal(err)
			}
		}
		if len(opts.Identities) > 0 {
			refs, err := h.Mem.AddChargers("test-site", hash, opts.Identities...)
			if err != nil {
				t.Fatal(err)
			}
			for i, id := range opts.Identities {
				h.Refs[id] = refs[i]
			}
		}
	}
	h.Store = cfg.Store
	cfg.ValidateOutgoing = !opts.NoOutgoingValidation
	if cfg.Events == nil {
		h.Events = NewRecorder()
		cfg.Events = h.Events
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if opts.PKI != nil {
		cfg.TLSCertFile, cfg.TLSKeyFile, cfg.ClientCAFile = opts.PKI.ServerCertFile, opts.PKI.ServerKeyFile, opts.PKI.CAFile
	}
	srv, err := ocppadapter.NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.Server = srv
	if opts.PKI != nil {
		h.HTTP = httptest.NewUnstartedServer(srv)
		h.HTTP.TLS = srv.TLSConfig()
		if h.HTTP.TLS == nil {
			t.Fatal("ocpptest: PKI given but Config.SecurityProfile is not 2 or 3")
		}
		h.HTTP.StartTLS()
	} else {
		h.HTTP = httptest.NewServer(srv)
	}
	h.URL = "ws" + strings.TrimPrefix(h.HTTP.URL, "http") + "/ocpp/"
	t.Cleanup(func() {
		srv.Close()
		h.HTTP.Close()
	})
	return h
}

// Dial connects a test client and closes it in t.Cleanup.
func (h *Harness) Dial(t testing.TB, identity string, opts ClientOptions) *Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := Dial(ctx, h.URL, identity, opts)
	if err != nil {
		t.Fatalf("dial %s: %v", identity, err)
	}
	t.Cleanup(func() { c.WS.CloseNow(); <-c.Done() })
	return c
}

package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseConfig(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(good, []byte("tokens:\n  - name: ems\n    sha256: "+strings.Repeat("ab", 32)+"\n    role: ems\n    sites: [depot]\nocpp:\n  call_timeout: 5s\n"), 0o600)
	os.WriteFile(bad, []byte("tokens:\n  - name: x\n    sha256: nothex\n    role: king\n"), 0o600)
	tests := []struct {
		desc    string
		args    []string
		env     map[string]string
		check   func(t *testing.T, c Config)
		wantErr string
	}{
		{desc: "defaults", check: func(t *testing.T, c Config) {
			if c.GRPCListen != "127.0.0.1:7443" || c.RedisURL != "" || c.LogFormat != "text" {
				t.Errorf("defaults: %+v", c)
			}
		}},
		{desc: "environment twin sets a flag", env: map[string]string{"SMARTCHARGE_GRPC_LISTEN": "127.0.0.1:1", "SMARTCHARGE_INSECURE_LOCAL": "true"}, check: func(t *testing.T, c Config) {
			if c.GRPCListen != "127.0.0.1:1" || !c.InsecureLocal {
				t.Errorf("env not applied: %+v", c)
			}
		}},
		{desc: "flag wins over environment", args: []string{"--grpc-listen", "127.0.0.1:2"}, env: map[string]string{"SMARTCHARGE_GRPC_LISTEN": "127.0.0.1:1"}, check: func(t *testing.T, c Config) {
			if c.GRPCListen != "127.0.0.1:2" {
				t.Errorf("GRPCListen = %q, want the flag's", c.GRPCListen)
			}
		}},
		{desc: "site files split on commas", args: []string{"--site-file", "a.yaml, b.yaml"}, check: func(t *testing.T, c Config) {
			if len(c.SiteFiles) != 2 || c.SiteFiles[1] != "b.yaml" {
				t.Errorf("SiteFiles = %q", c.SiteFiles)
			}
		}},
		{desc: "config file read", args: []string{"--config", good}, check: func(t *testing.T, c Config) {
			if len(c.File.Tokens) != 1 || c.File.Tokens[0].Role != "ems" || c.File.OCPP.CallTimeout != 5*time.Second {
				t.Errorf("file config: %+v", c.File)
			}
		}},
		{desc: "bad tokens listed together", args: []string{"--config", bad}, wantErr: "tokens[0].sha256"},
		{desc: "bad role named", args: []string{"--config", bad}, wantErr: `role "king"`},
		{desc: "unknown key in config file", args: []string{"--config", writeFile(t, dir, "unknown.yaml", "tokenz: []\n")}, wantErr: "tokenz"},
		{desc: "loop settings read", args: []string{"--config", writeFile(t, dir, "loop.yaml", "loop:\n  tick: 1s\n  lease: 2m\n  dead_band_a: 0.5\n")}, check: func(t *testing.T, c Config) {
			if c.File.Loop.Tick != time.Second || c.File.Loop.Lease != 2*time.Minute || c.File.Loop.DeadBandA != 0.5 {
				t.Errorf("loop config: %+v", c.File.Loop)
			}
		}},
		{desc: "plan settings read", args: []string{"--config", writeFile(t, dir, "plan.yaml", "loop:\n  plan_max_age: 20m\n  plan_poll: 2s\n")}, check: func(t *testing.T, c Config) {
			if c.File.Loop.PlanMaxAge != 20*time.Minute || c.File.Loop.PlanPoll != 2*time.Second {
				t.Errorf("plan settings: %+v", c.File.Loop)
			}
		}},
		{desc: "negative plan setting named", args: []string{"--config", writeFile(t, dir, "badplan.yaml", "loop:\n  plan_poll: -1s\n")}, wantErr: "loop.plan_poll"},
		{desc: "commissioning hold read", args: []string{"--config", writeFile(t, dir, "commission.yaml", "ocpp:\n  commission_pending: true\n  commission_hold: 45s\n")}, check: func(t *testing.T, c Config) {
			if oc := c.File.OCPP; !oc.CommissionPending || oc.CommissionHold != 45*time.Second {
				t.Errorf("commissioning settings: %+v", oc)
			}
		}},
		{desc: "negative commissioning hold named", args: []string{"--config", writeFile(t, dir, "badcommission.yaml", "ocpp:\n  commission_hold: -1s\n")}, wantErr: "ocpp.commission_hold"},
		{desc: "bad loop setting named", args: []string{"--config", writeFile(t, dir, "badloop.yaml", "loop:\n  fallback_fraction: 2\n")}, wantErr: "loop.fallback_fraction"},
		{desc: "proxy settings read", args: []string{"--config", writeFile(t, dir, "proxy.yaml", "ocpp:\n  proxy:\n    upstreams:\n      demo-depot: {url: \"wss://csms.example/ocpp\", basic_auth_passthrough: true}\n    loss: keep\n    reserved_stack_levels: [0, 1]\n")}, check: func(t *testing.T, c Config) {
			px := c.File.OCPP.Proxy
			if px == nil || px.Upstreams["demo-depot"].URL != "wss://csms.example/ocpp" || px.Loss != "keep" {
				t.Errorf("proxy config: %+v", px)
			}
		}},
		{desc: "bad proxy settings named", args: []string{"--config", writeFile(t, dir, "badproxy.yaml", "ocpp:\n  proxy:\n    upstreams:\n      depot: {url: \"http://x\"}\n    loss: maybe\n    reserved_profile_ids: [5, 1]\n")}, wantErr: "loss \"maybe\""},
		{desc: "proxy without upstreams", args: []string{"--config", writeFile(t, dir, "noup.yaml", "ocpp:\n  proxy: {loss: keep}\n")}, wantErr: "upstreams"},
		{desc: "bad log level", args: []string{"--log-level", "loud"}, wantErr: "--log-level"},
		{desc: "bad env value named", env: map[string]string{"SMARTCHARGE_SHUTDOWN_GRACE": "soon"}, wantErr: "SMARTCHARGE_SHUTDOWN_GRACE"},
		{desc: "bad address", args: []string{"--grpc-listen", "nowhere"}, wantErr: "--grpc-listen"},
		{desc: "tls cert without key", args: []string{"--tls-cert", "c.pem"}, wantErr: "--tls-key"},
		{desc: "stray argument", args: []string{"serve"}, wantErr: "unexpected argument"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			c, err := parseConfig(tt.args, func(k string) string { return tt.env[k] }, io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

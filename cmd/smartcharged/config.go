package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/smartcharge/smartcharge/scheduler"
)

// Config is everything the daemon is started with: flags, their
// environment twins, and the optional config file (--config) for what does
// not fit a flag (API tokens, OCPP security).
type Config struct {
	GRPCListen    string
	OCPPListen    string
	HTTPListen    string
	RedisURL      string
	LogLevel      slog.Level
	LogFormat     string
	ConfigFile    string
	InsecureLocal bool
	TLSCert       string
	TLSKey        string
	SiteFiles     []string
	ShutdownGrace time.Duration

	File FileConfig
}

// FileConfig is the YAML file given with --config.
type FileConfig struct {
	// Tokens that may call the gRPC API. Only hashes are stored.
	Tokens []TokenConfig `yaml:"tokens"`
	OCPP   OCPPConfig    `yaml:"ocpp"`
	Loop   LoopConfig    `yaml:"loop"`
}

// LoopConfig tunes the control loop; zero fields keep the loop's defaults
// (see package loop).
type LoopConfig struct {
	// Tick is the period of runs without events.
	Tick time.Duration `yaml:"tick"`
	// Coalesce is how long a run waits to gather a burst of events.
	Coalesce time.Duration `yaml:"coalesce"`
	// AnswerTimeout: a charger that has not answered by then is counted at
	// the higher of its old and new limit.
	AnswerTimeout time.Duration `yaml:"answer_timeout"`
	// Lease is the duration of dynamic profiles.
	Lease time.Duration `yaml:"lease"`
	// MinRaiseInterval is the least time between two raises of one EVSE.
	MinRaiseInterval time.Duration `yaml:"min_raise_interval"`
	// Grace is how long a charger may draw above its limit before it is
	// marked non-compliant.
	Grace time.Duration `yaml:"grace"`
	// ResumeGrace is how long a car may stay suspended after a raise
	// before the resume sequence starts.
	ResumeGrace time.Duration `yaml:"resume_grace"`
	// SiteRescan is how often new sites are picked up.
	SiteRescan time.Duration `yaml:"site_rescan"`
	// FallbackFraction scales the limits fallback profiles are computed
	// against (0 keeps the default, 1).
	FallbackFraction float64 `yaml:"fallback_fraction"`
	// DeadBandA: changes smaller than this are not sent (0: default 1 A).
	DeadBandA float64 `yaml:"dead_band_a"`
	// MinDwell is the least time a car stays started or paused.
	MinDwell time.Duration `yaml:"min_dwell"`
	// SafetyMarginA is kept free on every phase limit of every node, for
	// load that rises between two EMS readings (nil: the scheduler's
	// default, 0.5 A). --safety-margin (SMARTCHARGE_SAFETY_MARGIN) wins.
	SafetyMarginA *float64 `yaml:"safety_margin_a"`
	// PlanMaxAge: a plan computed longer ago is not followed (0: two of
	// its slots); PlanPoll is how often the loop re-reads a site's plan
	// (0: 5 s). See docs/planning.md.
	PlanMaxAge time.Duration `yaml:"plan_max_age"`
	PlanPoll   time.Duration `yaml:"plan_poll"`
}

// maxSafetyMarginA bounds loop.safety_margin_a: a larger margin is more
// likely a typo than a plan.
const maxSafetyMarginA = 20

// schedulerConfig is the scheduler configuration the loop settings ask
// for, or nil to keep the loop's default.
func (l LoopConfig) schedulerConfig() *scheduler.Config {
	if l.DeadBandA <= 0 && l.MinDwell <= 0 && l.SafetyMarginA == nil {
		return nil
	}
	sc := scheduler.DefaultConfig()
	if l.DeadBandA > 0 {
		sc.DeadBand = scheduler.Amps(l.DeadBandA)
	}
	if l.MinDwell > 0 {
		sc.MinDwell = l.MinDwell
	}
	if l.SafetyMarginA != nil {
		sc.SafetyMargin = scheduler.Amps(*l.SafetyMarginA)
	}
	return &sc
}

// TokenConfig is one API token: the hex SHA-256 of the bearer token, its
// role and the sites it may touch ("*" for all).
type TokenConfig struct {
	Name   string   `yaml:"name"`
	SHA256 string   `yaml:"sha256"`
	Role   string   `yaml:"role"`
	Sites  []string `yaml:"sites"`
}

// OCPPConfig tunes the OCPP endpoint.
type OCPPConfig struct {
	// TLS for security profiles 2 and 3.
	TLSCert string `yaml:"tls_cert"`
	TLSKey  string `yaml:"tls_key"`
	// ClientCA enables security profile 3 (client certificates).
	ClientCA string `yaml:"client_ca"`
	// SecurityProfile is the OCPP security profile: 0 none (trusted
	// network only), 1 HTTP Basic auth, 2 TLS with Basic auth, 3 TLS with
	// client certificates.
	SecurityProfile int `yaml:"security_profile"`
	// AdmitUnknown puts chargers with unregistered identities on a holding
	// list instead of refusing them.
	AdmitUnknown bool `yaml:"admit_unknown"`
	// CommissionPending answers OCPP 1.6 chargers that hold no fallback
	// profile of the loop's yet Pending until it is accepted on every
	// EVSE (ocppadapter package doc, First commissioning); off by default.
	CommissionPending bool `yaml:"commission_pending"`
	// CommissionHold bounds that hold (0: the adapter's default, 30s).
	CommissionHold time.Duration `yaml:"commission_hold"`
	// CallTimeout bounds how long a charger may take to answer.
	CallTimeout time.Duration `yaml:"call_timeout"`
	// MeterSampleInterval is asked of chargers after boot.
	MeterSampleInterval time.Duration `yaml:"meter_sample_interval"`
	// HeartbeatInterval is given to chargers in BootNotification answers.
	HeartbeatInterval time.Duration `yaml:"heartbeat_interval"`
	// Proxy turns on local controller mode: chargers keep their CSMS,
	// smartcharge relays between them (see docs/proxy.md).
	Proxy *ProxySettings `yaml:"proxy"`
}

// ProxySettings configure local controller mode.
type ProxySettings struct {
	// Upstreams maps "site" or "site/charger" to the CSMS to relay to.
	Upstreams map[string]UpstreamSettings `yaml:"upstreams"`
	// ReservedStackLevels and ReservedProfileIDs ([lo, hi]) are
	// smartcharge's own; a CSMS profile using them (or a CSMS Tx/TxDefault
	// profile above the stack levels) is refused. The control loop puts
	// its fallback at stack level lo, its dynamic profiles at lo+1 (up to
	// hi) and its profile ids from lo+1 (lo+1..lo+2032). Defaults [4, 5]
	// (the CSMS keeps 0..3) and [1000, 3999].
	ReservedStackLevels []int `yaml:"reserved_stack_levels"`
	ReservedProfileIDs  []int `yaml:"reserved_profile_ids"`
	// Loss: "spec" (default: what OCPP 2.0.1 Part 4 asks), "keep" or "close".
	Loss string `yaml:"loss"`
	// Offline: "queue" (default) or "answer".
	Offline           string `yaml:"offline"`
	OfflineQueueLimit int    `yaml:"offline_queue_limit"`
	// SetSampling lets smartcharge set the chargers' meter sampling.
	SetSampling bool `yaml:"set_sampling"`
}

// UpstreamSettings is one CSMS endpoint.
type UpstreamSettings struct {
	URL                  string `yaml:"url"`
	BasicAuthPassthrough bool   `yaml:"basic_auth_passthrough"`
	PasswordFile         string `yaml:"password_file"`
	CAFile               string `yaml:"ca_file"`
	CertFile             string `yaml:"cert_file"`
	KeyFile              string `yaml:"key_file"`
}

// envPrefix is the prefix of every flag's environment twin:
// --grpc-listen is SMARTCHARGE_GRPC_LISTEN.
const envPrefix = "SMARTCHARGE_"

type stringList []string

func (s *stringList) String() string { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error {
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*s = append(*s, p)
		}
	}
	return nil
}

// parseConfig reads flags from args and, for every flag not given on the
// command line, its environment twin from getenv. Flags win over the
// environment; the environment wins over defaults.
func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (Config, error) {
	var c Config
	var level, siteFiles string
	var margin *float64
	fs := flag.NewFlagSet("smartcharged", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.GRPCListen, "grpc-listen", "127.0.0.1:7443", "gRPC API address")
	fs.StringVar(&c.OCPPListen, "ocpp-listen", "127.0.0.1:8180", "OCPP-J WebSocket address (chargers connect to ws://ADDR/ocpp/{identity}); empty disables")
	fs.StringVar(&c.HTTPListen, "http-listen", "127.0.0.1:9090", "HTTP address for /metrics and /healthz; empty disables")
	fs.StringVar(&c.RedisURL, "redis-url", "", "Redis URL (redis://host:port/db); empty runs an embedded, NOT durable store")
	fs.StringVar(&level, "log-level", "info", "log level: debug, info, warn, error")
	fs.StringVar(&c.LogFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&c.ConfigFile, "config", "", "YAML config file (API tokens, OCPP security)")
	fs.BoolVar(&c.InsecureLocal, "insecure-local", false, "allow unauthenticated gRPC calls from loopback addresses (development only)")
	fs.StringVar(&c.TLSCert, "tls-cert", "", "gRPC TLS certificate file")
	fs.StringVar(&c.TLSKey, "tls-key", "", "gRPC TLS key file")
	fs.StringVar(&siteFiles, "site-file", "", "site files to apply at start, comma-separated")
	fs.DurationVar(&c.ShutdownGrace, "shutdown-grace", 10*time.Second, "how long a graceful shutdown may take")
	fs.Func("safety-margin", "amps kept free on every phase limit for load rising between EMS readings (default 0.5; wins over loop.safety_margin_a)", func(v string) error {
		a, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || math.IsNaN(a) || math.IsInf(a, 0) {
			return fmt.Errorf("want amps, e.g. 2.5")
		}
		margin = &a
		return nil
	})
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if given[f.Name] {
			return
		}
		env := envPrefix + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v := getenv(env); v != "" {
			if err := f.Value.Set(v); err != nil {
				errs = append(errs, fmt.Errorf("%s=%q: %w", env, v, err))
			}
		}
	})
	if err := errors.Join(errs...); err != nil {
		return Config{}, err
	}
	if err := c.LogLevel.UnmarshalText([]byte(level)); err != nil {
		return Config{}, fmt.Errorf("--log-level: %w", err)
	}
	if siteFiles != "" {
		var l stringList
		_ = l.Set(siteFiles)
		c.SiteFiles = l
	}
	if c.ConfigFile != "" {
		data, err := os.ReadFile(c.ConfigFile)
		if err != nil {
			return Config{}, fmt.Errorf("--config: %w", err)
		}
		if c.File, err = parseFileConfig(data); err != nil {
			return Config{}, fmt.Errorf("--config %s: %w", c.ConfigFile, err)
		}
	}
	if margin != nil {
		c.File.Loop.SafetyMarginA = margin
	}
	return c, c.Validate()
}

func parseFileConfig(data []byte) (FileConfig, error) {
	var f FileConfig
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return FileConfig{}, err
	}
	return f, nil
}

// Validate reports every bad setting at once.
func (c Config) Validate() error {
	var errs []error
	for _, a := range []struct{ flag, addr string }{{"grpc-listen", c.GRPCListen}, {"ocpp-listen", c.OCPPListen}, {"http-listen", c.HTTPListen}} {
		if a.addr == "" && a.flag != "grpc-listen" {
			continue
		}
		if _, _, err := net.SplitHostPort(a.addr); err != nil {
			errs = append(errs, fmt.Errorf("--%s %q: want host:port: %w", a.flag, a.addr, err))
		}
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		errs = append(errs, fmt.Errorf("--log-format %q: want text or json", c.LogFormat))
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		errs = append(errs, errors.New("--tls-cert and --tls-key go together"))
	}
	if (c.File.OCPP.TLSCert == "") != (c.File.OCPP.TLSKey == "") {
		errs = append(errs, errors.New("ocpp.tls_cert and ocpp.tls_key go together"))
	}
	if p := c.File.OCPP.SecurityProfile; p < 0 || p > 3 {
		errs = append(errs, fmt.Errorf("ocpp.security_profile %d: want 0, 1, 2 or 3", p))
	}
	if h := c.File.OCPP.CommissionHold; h < 0 {
		errs = append(errs, fmt.Errorf("ocpp.commission_hold %v: must not be negative", h))
	}
	if c.File.OCPP.ClientCA != "" && c.File.OCPP.TLSCert == "" {
		errs = append(errs, errors.New("ocpp.client_ca needs ocpp.tls_cert (security profile 3 runs over TLS)"))
	}
	for i, t := range c.File.Tokens {
		if len(t.SHA256) != 64 || strings.Trim(strings.ToLower(t.SHA256), "0123456789abcdef") != "" {
			errs = append(errs, fmt.Errorf("tokens[%d].sha256: want 64 hex digits (sha256sum of the token)", i))
		}
		switch t.Role {
		case "viewer", "site-owner", "ems", "csms", "admin":
		default:
			errs = append(errs, fmt.Errorf("tokens[%d].role %q: want viewer, site-owner, ems, csms or admin", i, t.Role))
		}
		if len(t.Sites) == 0 {
			errs = append(errs, fmt.Errorf("tokens[%d].sites: name the sites it may touch, or \"*\"", i))
		}
	}
	if px := c.File.OCPP.Proxy; px != nil {
		if _, err := px.adapterConfig(); err != nil {
			errs = append(errs, fmt.Errorf("ocpp.proxy: %w", err))
		}
	}
	l := c.File.Loop
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"tick", l.Tick}, {"coalesce", l.Coalesce}, {"answer_timeout", l.AnswerTimeout}, {"lease", l.Lease},
		{"min_raise_interval", l.MinRaiseInterval}, {"grace", l.Grace}, {"resume_grace", l.ResumeGrace},
		{"site_rescan", l.SiteRescan}, {"min_dwell", l.MinDwell}, {"plan_max_age", l.PlanMaxAge}, {"plan_poll", l.PlanPoll}} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("loop.%s: must not be negative", d.name))
		}
	}
	if l.FallbackFraction < 0 || l.FallbackFraction > 1 {
		errs = append(errs, errors.New("loop.fallback_fraction: want 0 to 1"))
	}
	if l.DeadBandA < 0 || l.DeadBandA > 10 {
		errs = append(errs, errors.New("loop.dead_band_a: want 0 to 10 A"))
	}
	if m := l.SafetyMarginA; m != nil && (*m < 0 || *m > maxSafetyMarginA || math.IsNaN(*m)) {
		errs = append(errs, fmt.Errorf("loop.safety_margin_a (or --safety-margin) %v: want 0 to %d A", *m, maxSafetyMarginA))
	}
	if c.ShutdownGrace <= 0 {
		errs = append(errs, errors.New("--shutdown-grace must be positive"))
	}
	return errors.Join(errs...)
}

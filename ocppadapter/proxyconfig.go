package ocppadapter

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"os"
	"time"

	"github.com/smartcharge/smartcharge/site"
)

// Proxy defaults.
const (
	DefaultUpstreamDialTimeout = 10 * time.Second
	DefaultUpstreamRetryMin    = 1 * time.Second
	DefaultUpstreamRetryMax    = 30 * time.Second
	DefaultOfflineQueueLimit   = 1000
)

// Default reserved ranges of local controller mode (see "Charging
// profiles: who wins" in docs/proxy.md): the CSMS keeps stack levels 0..3
// and every profile id outside 1000..3999; smartcharge's fallback
// TxDefault goes at level 4, its dynamic profiles at 5 (package loop:
// FallbackStackLevel = Lo, StackLevel = Lo+1, MaxStackLevel = Hi,
// ProfileIDBase = the ids' Lo).
const (
	DefaultReservedStackLevelLo = 4
	DefaultReservedStackLevelHi = 5
	DefaultReservedProfileIDLo  = 1000
	DefaultReservedProfileIDHi  = 3999
)

// IntRange is the closed range Lo..Hi. The zero value is the range 0..0.
type IntRange struct{ Lo, Hi int }

// Contains reports whether Lo <= n <= Hi.
func (r IntRange) Contains(n int) bool { return r.Lo <= n && n <= r.Hi }

// UpstreamLoss says what happens to a charger's connection when the
// connection to its CSMS is lost (or cannot be opened when the charger
// connects). See "Local controller mode" in docs/proxy.md.
type UpstreamLoss uint8

const (
	// UpstreamLossSpec (the default) does what the specifications ask of a
	// local controller: OCPP 2.0.1 Part 4 section 6.3 says the local
	// controller SHALL close the charging station's WebSocket whenever the
	// one to the CSMS is lost, so a 2.0.1 charger is disconnected (and
	// refused with 502 while the CSMS cannot be reached); OCPP 1.6 has no
	// such rule, so a 1.6 charger is kept as with UpstreamLossKeep.
	UpstreamLossSpec UpstreamLoss = iota
	// UpstreamLossKeep keeps every charger connected: its CALLs are
	// queued and replayed in order when the CSMS is back (or answered per
	// OfflinePolicy), and load management goes on.
	UpstreamLossKeep
	// UpstreamLossClose disconnects chargers of both versions.
	UpstreamLossClose
)

// OfflinePolicy says whether the proxy answers a charger's CALLs itself
// while its CSMS cannot be reached.
type OfflinePolicy uint8

const (
	// OfflineQueue (the default) answers nothing itself: the CALLs wait
	// in the queue and the CSMS's answers are relayed when it is back.
	OfflineQueue OfflinePolicy = iota
	// OfflineAnswer answers, while the CSMS is down, Heartbeat,
	// StatusNotification, MeterValues, Authorize (Accepted), 2.0.1
	// TransactionEvent and the other notifications as the central system
	// of direct mode does, and still replays them (but Heartbeat) to the
	// CSMS later, dropping the CSMS's answers. BootNotification and 1.6
	// StartTransaction are never answered locally: the charger's
	// acceptance and the transaction id must come from the CSMS.
	OfflineAnswer
)

// UpstreamTarget is where and how the proxy connects for one charger.
type UpstreamTarget struct {
	// URL is the CSMS's OCPP endpoint (ws:// or wss://) without the
	// charger identity, which is appended as the last path segment
	// (escaped), as a charger does.
	URL string
	// BasicAuthPassthrough sends the Authorization header the charger
	// sent (security profiles 1 and 2). When false and Password is set,
	// Basic auth with the identity as user and Password is sent.
	BasicAuthPassthrough bool
	Password             string
	// CAFile (PEM) verifies the CSMS's certificate; empty uses the system
	// roots. CertFile and KeyFile (PEM) are the client certificate for
	// security profile 3.
	CAFile, CertFile, KeyFile string
	// InsecureSkipVerify turns off certificate checks (tests only).
	InsecureSkipVerify bool
}

// Validate checks the URL and the TLS file pairing.
func (t UpstreamTarget) Validate() error {
	var errs []error
	u, err := url.Parse(t.URL)
	switch {
	case err != nil:
		errs = append(errs, fmt.Errorf("ocppadapter: upstream: URL: %w", err))
	case u.Scheme != "ws" && u.Scheme != "wss":
		errs = append(errs, fmt.Errorf("ocppadapter: upstream: URL %q: scheme must be ws or wss", t.URL))
	case u.Host == "":
		errs = append(errs, fmt.Errorf("ocppadapter: upstream: URL %q has no host", t.URL))
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		errs = append(errs, errors.New("ocppadapter: upstream: CertFile and KeyFile go together"))
	}
	if t.BasicAuthPassthrough && t.Password != "" {
		errs = append(errs, errors.New("ocppadapter: upstream: BasicAuthPassthrough and Password exclude each other"))
	}
	return errors.Join(errs...)
}

func (t UpstreamTarget) tlsConfig() (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: t.InsecureSkipVerify} //nolint:gosec // tests only, documented
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("ocppadapter: upstream CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ocppadapter: upstream CA file %s holds no PEM certificate", t.CAFile)
		}
		c.RootCAs = pool
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("ocppadapter: upstream client certificate: %w", err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}

// ProxyConfig turns on local controller mode (transparent OCPP proxy):
// each charger for which Upstream returns a target gets a connection of
// its own to that CSMS, and everything is relayed both ways. See
// docs/proxy.md. A nil *ProxyConfig (the default) is direct mode.
type ProxyConfig struct {
	// Upstream returns the CSMS a charger is relayed to; false serves the
	// charger directly. It is called once per charger connection and
	// must be safe for concurrent use. Required. [StaticUpstreams] builds
	// one from a per-site and per-charger map.
	Upstream func(ref site.ChargerRef, identity string) (UpstreamTarget, bool)

	// ReservedStackLevels and ReservedProfileIDs are smartcharge's own:
	// a CSMS SetChargingProfile using one is answered Rejected (not
	// relayed), and so is a CSMS TxProfile or TxDefaultProfile above the
	// reserved stack levels (it would override smartcharge's: within a
	// purpose the highest stack level leads); a CSMS ClearChargingProfile
	// that would remove one is narrowed. The control loop must send its
	// profiles within them: fallback at Lo, dynamic at Lo+1..Hi, so the
	// stack levels must hold at least two. Zero values take
	// DefaultReservedStackLevelLo..Hi (4..5) and
	// DefaultReservedProfileIDLo..Hi (1000..3999); see [ProxyConfig.Reserved].
	ReservedStackLevels IntRange
	ReservedProfileIDs  IntRange

	// Loss is what happens to chargers when their CSMS is unreachable.
	Loss UpstreamLoss
	// Offline says whether the proxy answers chargers itself meanwhile.
	Offline OfflinePolicy
	// OfflineQueueLimit bounds the CALLs queued per charger while the
	// CSMS is unreachable; when full, the oldest MeterValues or
	// Heartbeat is dropped, and without one the new CALL. Default 1000.
	OfflineQueueLimit int

	// DialTimeout bounds one connection attempt to the CSMS. RetryMin and
	// RetryMax bound the backoff between attempts while the CSMS is down.
	DialTimeout        time.Duration
	RetryMin, RetryMax time.Duration
	// SetSampling lets the proxy set the charger's meter sampling after
	// boot as direct mode does (1.6 ChangeConfiguration, 2.0.1
	// SetVariables). Off by default: the charger's configuration belongs
	// to the CSMS, and the change would show in its reports.
	SetSampling bool
}

// Validate reports every field that is set wrong.
func (p *ProxyConfig) Validate() error {
	var errs []error
	if p.Upstream == nil {
		errs = append(errs, errors.New("ocppadapter: config: Proxy.Upstream is required"))
	}
	if r := p.ReservedStackLevels; r != (IntRange{}) && (r.Lo < 0 || r.Hi <= r.Lo) {
		errs = append(errs, errors.New("ocppadapter: config: Proxy.ReservedStackLevels must be 0 <= Lo < Hi (the loop's fallback at Lo, its dynamic profiles above)"))
	}
	if r := p.ReservedProfileIDs; r.Lo < 0 || r.Hi < r.Lo {
		errs = append(errs, errors.New("ocppadapter: config: Proxy.ReservedProfileIDs must be 0 <= Lo <= Hi"))
	}
	if p.Loss > UpstreamLossClose {
		errs = append(errs, errors.New("ocppadapter: config: Proxy.Loss unknown"))
	}
	if p.Offline > OfflineAnswer {
		errs = append(errs, errors.New("ocppadapter: config: Proxy.Offline unknown"))
	}
	if p.OfflineQueueLimit < 0 || p.DialTimeout < 0 || p.RetryMin < 0 || p.RetryMax < 0 {
		errs = append(errs, errors.New("ocppadapter: config: Proxy limits and durations must not be negative"))
	}
	return errors.Join(errs...)
}

func (p ProxyConfig) withDefaults() ProxyConfig {
	p.ReservedStackLevels, p.ReservedProfileIDs = p.Reserved()
	if p.OfflineQueueLimit == 0 {
		p.OfflineQueueLimit = DefaultOfflineQueueLimit
	}
	if p.DialTimeout == 0 {
		p.DialTimeout = DefaultUpstreamDialTimeout
	}
	if p.RetryMin == 0 {
		p.RetryMin = DefaultUpstreamRetryMin
	}
	if p.RetryMax == 0 {
		p.RetryMax = DefaultUpstreamRetryMax
	}
	if p.RetryMax < p.RetryMin {
		p.RetryMax = p.RetryMin
	}
	return p
}

// Reserved returns the reserved stack levels and profile ids in force
// (the defaults for zero values), for wiring the control loop to them.
func (p ProxyConfig) Reserved() (stackLevels, profileIDs IntRange) {
	stackLevels, profileIDs = p.ReservedStackLevels, p.ReservedProfileIDs
	if stackLevels == (IntRange{}) {
		stackLevels = IntRange{DefaultReservedStackLevelLo, DefaultReservedStackLevelHi}
	}
	if profileIDs == (IntRange{}) {
		profileIDs = IntRange{DefaultReservedProfileIDLo, DefaultReservedProfileIDHi}
	}
	return stackLevels, profileIDs
}

// closesOnLoss reports whether a charger of version v is disconnected
// when its CSMS is unreachable.
func (p *ProxyConfig) closesOnLoss(v Version) bool {
	switch p.Loss {
	case UpstreamLossKeep:
		return false
	case UpstreamLossClose:
		return true
	}
	return v == V201
}

// StaticUpstreams returns a ProxyConfig.Upstream that looks a charger up
// by its ID first (key "site/charger") and then by its site (key "site").
// The targets are validated once here.
func StaticUpstreams(targets map[string]UpstreamTarget) (func(site.ChargerRef, string) (UpstreamTarget, bool), error) {
	var errs []error
	for k, t := range targets {
		if err := t.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", k, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	m := make(map[string]UpstreamTarget, len(targets))
	for k, t := range targets {
		m[k] = t
	}
	return func(ref site.ChargerRef, _ string) (UpstreamTarget, bool) {
		if t, ok := m[ref.SiteID+"/"+ref.ChargerID]; ok {
			return t, true
		}
		t, ok := m[ref.SiteID]
		return t, ok
	}, nil
}

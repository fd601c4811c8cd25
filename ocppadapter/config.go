package ocppadapter

import (
	"errors"
	"log/slog"
	"time"

	"github.com/smartcharge/smartcharge/site"
)

// Defaults for zero Config fields.
const (
	DefaultCallTimeout          = 30 * time.Second
	DefaultMaxFrameBytes        = 64 << 10
	DefaultPingInterval         = 60 * time.Second
	DefaultHeartbeatInterval    = 300 * time.Second
	DefaultMeterSampleInterval  = 60 * time.Second
	DefaultStoreTimeout         = 5 * time.Second
	DefaultMeterPersistInterval = 5 * time.Second
	DefaultCommissionHold       = 30 * time.Second
)

// Config configures a Server. Zero fields take the defaults above; Store
// and Events are required.
type Config struct {
	// Store keeps charger identities (ChargerByIdentity), passwords and
	// live state (transactions, boot data, capabilities).
	Store site.Store
	// Events receives everything chargers report.
	Events site.EventSink
	// Logger; nil means slog.Default().
	Logger *slog.Logger
	// Clock stamps events and answers (currentTime); nil means the system
	// clock. Network timeouts use real time.
	Clock site.Clock

	// CallTimeout bounds the wait for a charger's answer to one CALL.
	CallTimeout time.Duration
	// MaxFrameBytes is the largest WebSocket message accepted; a larger
	// one closes the connection with status 1009 (message too big) before
	// it is read into memory.
	MaxFrameBytes int64
	// PingInterval is the time between WebSocket pings; negative disables
	// them. A ping not answered within CallTimeout closes the connection.
	PingInterval time.Duration
	// HeartbeatInterval is sent in BootNotification answers.
	HeartbeatInterval time.Duration
	// MeterSampleInterval is configured on chargers after boot (1.6
	// MeterValueSampleInterval, 2.0.1 SampledDataCtrlr.TxUpdatedInterval).
	MeterSampleInterval time.Duration
	// StoreTimeout bounds each store call made while handling a message.
	StoreTimeout time.Duration
	// MeterPersistInterval is the least time between two writes of a
	// charger's meter samples (newest sample per EVSE, transaction
	// energy); samples in between are kept on the connection and written
	// later (see "Durability" in the package doc). Negative writes every
	// MeterValues before answering it.
	MeterPersistInterval time.Duration
	// AdmitUnknown lets chargers whose identity is not registered connect
	// anyway (there is no password to check; TLS client certificates are
	// still verified in profile 3): they are kept in a holding list
	// ([Server.Pending]), their BootNotification is answered Pending,
	// Heartbeat is answered and everything else gets SecurityError; no
	// events are published. When false they are refused with 404.
	AdmitUnknown bool
	// CommissionPending holds OCPP 1.6 chargers whose stored state shows
	// no accepted fallback profile on one of their EVSEs (never
	// commissioned by the loop) in Pending: their BootNotification is
	// answered Pending until SetLimit has had a TxDefault limit at
	// CommissionStackLevel (the loop's fallback) accepted on each EVSE,
	// then they are sent TriggerMessage(BootNotification) and Accepted;
	// at most CommissionHold after their first boot on the connection.
	// OCPP 2.0.1 chargers and proxied chargers are not held. See "First
	// commissioning" in the package doc. Off by default.
	CommissionPending bool
	// CommissionStackLevel is the stack level of the loop's fallback
	// profile (loop.Config.FallbackStackLevel, default 0).
	CommissionStackLevel int
	// CommissionHold bounds a commissioning hold; default 30s. It is also
	// the retry interval given in the Pending answer.
	CommissionHold time.Duration
	// SkipCapabilityRead turns off reading capabilities and setting meter
	// sampling after a boot (for tests that script every CALL).
	SkipCapabilityRead bool
	// ValidateOutgoing checks every CALL and CALLRESULT the adapter sends
	// against the schema before sending; a CALL that fails is not sent,
	// a CALLRESULT that fails becomes an InternalError (a debugging aid;
	// tests turn it on).
	ValidateOutgoing bool

	// SecurityProfile is the OCPP security profile: 0 none (trusted
	// network only), 1 HTTP Basic auth, 2 TLS with Basic auth, 3 TLS with
	// client certificates.
	SecurityProfile int
	// TLSCertFile and TLSKeyFile are the server's certificate and key
	// (PEM), required for profiles 2 and 3.
	TLSCertFile string
	TLSKeyFile  string
	// ClientCAFile holds the CA certificates (PEM) that sign charger
	// certificates, required for profile 3.
	ClientCAFile string

	// Proxy, when set, turns on local controller mode for the chargers
	// its Upstream names: they are relayed to their CSMS (see
	// [ProxyConfig] and docs/proxy.md). Nil serves every charger directly.
	Proxy *ProxyConfig
}

// Validate reports every field that is set wrong, joined.
func (c *Config) Validate() error {
	var errs []error
	if c.Store == nil {
		errs = append(errs, errors.New("ocppadapter: config: Store is required"))
	}
	if c.Events == nil {
		errs = append(errs, errors.New("ocppadapter: config: Events is required"))
	}
	for name, d := range map[string]time.Duration{
		"CallTimeout": c.CallTimeout, "HeartbeatInterval": c.HeartbeatInterval,
		"MeterSampleInterval": c.MeterSampleInterval, "StoreTimeout": c.StoreTimeout,
		"CommissionHold": c.CommissionHold,
	} {
		if d < 0 {
			errs = append(errs, errors.New("ocppadapter: config: "+name+" must not be negative"))
		}
	}
	if c.CommissionStackLevel < 0 {
		errs = append(errs, errors.New("ocppadapter: config: CommissionStackLevel must not be negative"))
	}
	if c.MaxFrameBytes < 0 {
		errs = append(errs, errors.New("ocppadapter: config: MaxFrameBytes must not be negative"))
	}
	if c.SecurityProfile < 0 || c.SecurityProfile > 3 {
		errs = append(errs, errors.New("ocppadapter: config: SecurityProfile must be 0, 1, 2 or 3"))
	}
	if c.SecurityProfile >= 2 && (c.TLSCertFile == "" || c.TLSKeyFile == "") {
		errs = append(errs, errors.New("ocppadapter: config: security profiles 2 and 3 need TLSCertFile and TLSKeyFile"))
	}
	if c.SecurityProfile == 3 && c.ClientCAFile == "" {
		errs = append(errs, errors.New("ocppadapter: config: security profile 3 needs ClientCAFile"))
	}
	if c.Proxy != nil {
		errs = append(errs, c.Proxy.Validate())
	}
	return errors.Join(errs...)
}

func (c Config) withDefaults() Config {
	if c.Proxy != nil {
		p := c.Proxy.withDefaults()
		c.Proxy = &p
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Clock == nil {
		c.Clock = site.SystemClock{}
	}
	if c.CallTimeout == 0 {
		c.CallTimeout = DefaultCallTimeout
	}
	if c.MaxFrameBytes == 0 {
		c.MaxFrameBytes = DefaultMaxFrameBytes
	}
	if c.PingInterval == 0 {
		c.PingInterval = DefaultPingInterval
	}
	if c.HeartbeatInterval == 0 {
		c.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if c.MeterSampleInterval == 0 {
		c.MeterSampleInterval = DefaultMeterSampleInterval
	}
	if c.StoreTimeout == 0 {
		c.StoreTimeout = DefaultStoreTimeout
	}
	if c.CommissionHold == 0 {
		c.CommissionHold = DefaultCommissionHold
	}
	if c.MeterPersistInterval == 0 {
		c.MeterPersistInterval = DefaultMeterPersistInterval
	}
	return c
}

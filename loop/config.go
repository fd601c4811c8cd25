package loop

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/smartcharge/smartcharge/scheduler"
	"github.com/smartcharge/smartcharge/site"
)

// Config configures a [Manager]. Store, Control and LoopState are
// required; every other zero field takes the default named on it.
type Config struct {
	// Store holds the sites' configuration and chargers' live state (and
	// the loop's per-charger state in site.ChargerState.Loop).
	Store site.Store
	// LoopState holds the loop's per-site state.
	LoopState site.LoopStateStore
	// Control sends commands to chargers (the OCPP adapter).
	Control site.ChargerControl
	// Clock; default SystemClock.
	Clock Clock
	// Logger; default slog.Default().
	Logger *slog.Logger
	// Registry gets the loop's metrics; nil registers them nowhere.
	Registry *prometheus.Registry
	// Scheduler tunes the allocation; nil means scheduler.DefaultConfig().
	Scheduler *scheduler.Config

	// Tick is the period of runs without events (lease renewal, meter
	// staleness, retries); default 5s.
	Tick time.Duration
	// Coalesce is how long a run waits after the first event of a burst
	// so the burst becomes one run; default 100ms.
	Coalesce time.Duration
	// AnswerTimeout is how long a run waits for a charger's answer before
	// counting the command as timed out (at the higher of old and new
	// limit); default 5s.
	AnswerTimeout time.Duration
	// CommandTimeout bounds a command as a whole (a late answer up to it
	// is still taken); default 60s.
	CommandTimeout time.Duration
	// Lease is the duration of dynamic profiles; they are renewed when
	// less than RenewBefore is left. Defaults 10m and Lease/2.
	Lease       time.Duration
	RenewBefore time.Duration
	// Stack levels and profile ids of the loop's profiles (in local
	// controller mode the band the proxy reserves, see docs/proxy.md).
	// FallbackStackLevel is the fallback's (default 0);
	// StackLevel is the dynamic profiles' and must be above it (default
	// FallbackStackLevel+1). MaxStackLevel, when set, is the highest the
	// loop may use: a charger that refuses StackLevel is tried at its own
	// maximum only up to it (0: up to the charger's maximum). Chargers
	// whose maximum is below a level the loop needs refuse those
	// profiles (logged when their capabilities are read).
	FallbackStackLevel int
	StackLevel         int
	MaxStackLevel      int
	// ProfileIDBase: profile ids are ProfileIDBase+EVSE (fallback),
	// ProfileIDBase+1000+EVSE (dynamic TxDefault), ProfileIDBase+2000+EVSE
	// (dynamic Tx); so the loop uses ProfileIDBase+1 to
	// ProfileIDBase+2000+site.MaxEVSEs ([Config.ProfileIDs]). Default 1000.
	ProfileIDBase int
	// MinRaiseInterval is the least time between two changes of one EVSE's
	// limit that raise it; lowers always go at once. Default 10s.
	MinRaiseInterval time.Duration
	// Tolerance and Grace: a charger drawing more than its limit plus
	// Tolerance for longer than Grace ignores its profile (non-compliant).
	// Defaults 2 A and 60s.
	Tolerance site.Amps
	Grace     time.Duration
	// ResumeGrace is how long a car may stay in SuspendedEVSE after a raise
	// before each step of the resume sequence; default 30s.
	ResumeGrace time.Duration
	// FallbackFraction scales the limits in force the fallback limits are
	// computed against (room for load we do not measure when we are gone);
	// default 1. Every EVSE is counted at least at its fallback, so a
	// lower fraction leaves more room for dynamic limits above it.
	FallbackFraction float64
	// Other load (see "Other load" in doc.go). DrawSettle is how long a car
	// may take to follow a change of its limit (charger and car ramp);
	// default 15s. SampleMaxAge is the oldest EVSE meter sample used to
	// tell what a car draws; default 150s (chargers sample every 60s by
	// default). MeterMaxAge is the oldest EMS reading taken as the present
	// (older: the most it allows is assumed); default 60s. OtherLoadHold
	// is how long a well-founded other load is held while the draw of our
	// EVSEs is uncertain (older: the most the reading allows); default 2m.
	DrawSettle    time.Duration
	SampleMaxAge  time.Duration
	MeterMaxAge   time.Duration
	OtherLoadHold time.Duration
	// SiteRescan is how often the list of sites is read to start and stop
	// loops; default 30s.
	SiteRescan time.Duration
	// NoReadback turns off reading back the composite schedule after a
	// dynamic profile is accepted.
	NoReadback bool
	// Inbox is the size of each site's event queue; when it is full the
	// loop re-reads the state from the store instead. Default 1024.
	Inbox int

	// Plans gives each site's plan (package planning's Runner); the loop
	// caps EVSEs at their plan's limit for now and sends the plan's
	// later slots as periods of their profiles (see plan.go). nil: real
	// time only. PlanMaxAge: a plan computed longer ago is not followed;
	// default two of its slots. PlanPoll is how often a site's plan is
	// read again; default 5s.
	Plans      site.PlanReader
	PlanMaxAge time.Duration
	PlanPoll   time.Duration

	// book keeps the plans read and the periods sent, per Manager (set
	// by withDefaults, never by the caller).
	book *planBook
}

// Validate checks the required fields and ranges.
func (c *Config) Validate() error {
	var errs []error
	if c.Store == nil {
		errs = append(errs, errors.New("loop: config: Store is required"))
	}
	if c.LoopState == nil {
		errs = append(errs, errors.New("loop: config: LoopState is required"))
	}
	if c.Control == nil {
		errs = append(errs, errors.New("loop: config: Control is required"))
	}
	if c.FallbackFraction < 0 || c.FallbackFraction > 1 {
		errs = append(errs, errors.New("loop: config: FallbackFraction must be within [0, 1]"))
	}
	if c.FallbackStackLevel < 0 || c.StackLevel < 0 || c.MaxStackLevel < 0 || c.ProfileIDBase < 0 {
		errs = append(errs, errors.New("loop: config: FallbackStackLevel, StackLevel, MaxStackLevel and ProfileIDBase must not be negative"))
	}
	if c.StackLevel > 0 && c.StackLevel <= c.FallbackStackLevel {
		errs = append(errs, fmt.Errorf("loop: config: StackLevel (%d) must be above FallbackStackLevel (%d): a dynamic TxDefault profile at or below the fallback's level would not take effect (or would replace it)",
			c.StackLevel, c.FallbackStackLevel))
	}
	if dyn := max(c.StackLevel, c.FallbackStackLevel+1); c.MaxStackLevel > 0 && c.MaxStackLevel < dyn {
		errs = append(errs, fmt.Errorf("loop: config: MaxStackLevel (%d) must not be below the dynamic stack level (%d)", c.MaxStackLevel, dyn))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"Tick", c.Tick}, {"Coalesce", c.Coalesce}, {"AnswerTimeout", c.AnswerTimeout}, {"CommandTimeout", c.CommandTimeout},
		{"Lease", c.Lease}, {"RenewBefore", c.RenewBefore}, {"MinRaiseInterval", c.MinRaiseInterval}, {"Grace", c.Grace},
		{"ResumeGrace", c.ResumeGrace}, {"SiteRescan", c.SiteRescan}, {"DrawSettle", c.DrawSettle},
		{"SampleMaxAge", c.SampleMaxAge}, {"MeterMaxAge", c.MeterMaxAge}, {"OtherLoadHold", c.OtherLoadHold},
		{"PlanMaxAge", c.PlanMaxAge}, {"PlanPoll", c.PlanPoll}} {
		if d.v < 0 {
			errs = append(errs, errors.New("loop: config: "+d.name+" must not be negative"))
		}
	}
	if c.Lease > 0 && c.RenewBefore >= c.Lease {
		errs = append(errs, errors.New("loop: config: RenewBefore must be below Lease"))
	}
	if c.Scheduler != nil && c.Scheduler.Step <= 0 {
		errs = append(errs, errors.New("loop: config: Scheduler.Step must be positive"))
	}
	return errors.Join(errs...)
}

func (c Config) withDefaults() Config {
	if c.Clock == nil {
		c.Clock = SystemClock{}
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Scheduler == nil {
		d := scheduler.DefaultConfig()
		c.Scheduler = &d
	}
	def := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.Tick, 5*time.Second)
	def(&c.Coalesce, 100*time.Millisecond)
	def(&c.AnswerTimeout, 5*time.Second)
	def(&c.CommandTimeout, time.Minute)
	def(&c.Lease, 10*time.Minute)
	def(&c.RenewBefore, c.Lease/2)
	def(&c.MinRaiseInterval, 10*time.Second)
	def(&c.Grace, time.Minute)
	def(&c.ResumeGrace, 30*time.Second)
	def(&c.SiteRescan, 30*time.Second)
	def(&c.DrawSettle, 15*time.Second)
	def(&c.SampleMaxAge, 150*time.Second)
	def(&c.MeterMaxAge, time.Minute)
	def(&c.OtherLoadHold, 2*time.Minute)
	if c.StackLevel == 0 {
		c.StackLevel = c.FallbackStackLevel + 1
	}
	if c.ProfileIDBase == 0 {
		c.ProfileIDBase = DefaultProfileIDBase
	}
	if c.Tolerance == 0 {
		c.Tolerance = 2
	}
	if c.FallbackFraction == 0 {
		c.FallbackFraction = 1
	}
	if c.Inbox <= 0 {
		c.Inbox = 1024
	}
	def(&c.PlanPoll, 5*time.Second)
	c.book = newPlanBook() // a new one for every Manager
	return c
}

// stoppedError is [ErrStopped]: errors.Is(ErrStopped, site.ErrUnavailable)
// holds, so callers (the gRPC layer: UNAVAILABLE) treat a stopped loop
// as a retryable outage.
type stoppedError struct{}

func (stoppedError) Error() string { return "loop: stopped" }

// Is makes errors.Is(err, site.ErrUnavailable) true.
func (stoppedError) Is(target error) bool { return target == site.ErrUnavailable }

// DefaultProfileIDBase is Config.ProfileIDBase's default.
const DefaultProfileIDBase = 1000

// profileIDSpan is the distance between the id blocks of the fallback,
// dynamic TxDefault and dynamic Tx profiles.
const profileIDSpan = 1000

// ProfileIDs returns the lowest and highest profile id the loop uses
// with c (after defaults), for callers that reserve them (local
// controller mode).
func (c Config) ProfileIDs() (lo, hi int) {
	base := c.ProfileIDBase
	if base == 0 {
		base = DefaultProfileIDBase
	}
	return base + 1, base + 2*profileIDSpan + site.MaxEVSEs
}

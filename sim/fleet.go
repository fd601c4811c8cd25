package sim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/smartcharge/smartcharge/site"
)

// Options configure a Fleet. The zero value of each field takes the
// default in brackets.
type Options struct {
	// Server is the CSMS's OCPP WebSocket URL; each charger appends
	// "/{identity}" (e.g. ws://127.0.0.1:8180/ocpp). Required.
	Server string
	// Seed for the random car process and quirks [the scenario's seed].
	Seed uint64
	// Speed scales simulated (car physics, arrival) time against wall
	// time [1]; OCPP messages, profile times and ramp delays stay real.
	Speed float64
	// Tick is the physics and ledger step in wall time [1 s].
	Tick time.Duration
	// Clock tells wall time [site.SystemClock].
	Clock site.Clock
	// Logger [slog.Default()].
	Logger *slog.Logger
	// Meter receives the site's grid meter readings [none].
	Meter MeterReporter
	// MeterInterval is how often the grid meter reports [10 s].
	MeterInterval time.Duration
	// ConnectRate is how many chargers connect per second at start, so a
	// thousand do not hit the server at once [200].
	ConnectRate int
	// CallTimeout drops a CALL the server leaves unanswered [30 s].
	CallTimeout time.Duration
	// WriteTimeout bounds one WebSocket write [10 s].
	WriteTimeout time.Duration
	// DialTimeout bounds one connection attempt [10 s].
	DialTimeout time.Duration
	// ReconnectMin and ReconnectMax bound the reconnect backoff [1 s, 30 s].
	ReconnectMin, ReconnectMax time.Duration
	// HTTPClient dials the WebSockets [a client of its own].
	HTTPClient *http.Client
}

// Validate checks the options.
func (o Options) Validate() error {
	var errs []error
	if !strings.HasPrefix(o.Server, "ws://") && !strings.HasPrefix(o.Server, "wss://") {
		errs = append(errs, fmt.Errorf("server: %q must be a ws:// or wss:// URL", o.Server))
	}
	if o.Speed < 0 || o.Speed > 10_000 {
		errs = append(errs, fmt.Errorf("speed: %v must be 0 (1) to 10000", o.Speed))
	}
	for name, d := range map[string]time.Duration{"tick": o.Tick, "meter_interval": o.MeterInterval, "call_timeout": o.CallTimeout, "write_timeout": o.WriteTimeout, "dial_timeout": o.DialTimeout, "reconnect_min": o.ReconnectMin, "reconnect_max": o.ReconnectMax} {
		if d < 0 {
			errs = append(errs, fmt.Errorf("%s: must not be negative", name))
		}
	}
	if o.ConnectRate < 0 {
		errs = append(errs, errors.New("connect_rate: must not be negative"))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrOptions, errors.Join(errs...))
	}
	return nil
}

func (o Options) withDefaults() Options {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	if o.Speed == 0 {
		o.Speed = 1
	}
	def(&o.Tick, time.Second)
	def(&o.MeterInterval, 10*time.Second)
	def(&o.CallTimeout, 30*time.Second)
	def(&o.WriteTimeout, 10*time.Second)
	def(&o.DialTimeout, 10*time.Second)
	def(&o.ReconnectMin, time.Second)
	def(&o.ReconnectMax, 30*time.Second)
	if o.ReconnectMax < o.ReconnectMin {
		o.ReconnectMax = o.ReconnectMin
	}
	if o.Clock == nil {
		o.Clock = site.SystemClock{}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Meter == nil {
		o.Meter = NopMeterReporter{}
	}
	if o.ConnectRate == 0 {
		o.ConnectRate = 200
	}
	return o
}

// Fleet is a simulated site: its chargers, the cars that visit them and
// the ledger of what they drew.
type Fleet struct {
	scenario   *Scenario
	opts       Options
	clock      site.Clock
	log        *slog.Logger
	voltage    site.Volts
	httpClient *http.Client
	ledger     *Ledger
	chargers   []*Charger
	byID       map[string]*Charger
	random     *randomProcess
	visits     []Visit // sorted by arrival

	running atomic.Bool
	simNS   atomic.Int64 // simulated elapsed time

	stepMu    sync.Mutex
	nextVisit int
	lastStep  time.Time
	start     time.Time
	end       time.Time
	nextMeter time.Time
	meterErrs int
}

// New builds a fleet from a scenario. The scenario is validated again;
// nothing connects until Run.
func New(s *Scenario, opts Options) (*Fleet, error) {
	if s == nil {
		return nil, fmt.Errorf("%w: nil scenario", ErrScenario)
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	if opts.Seed == 0 {
		opts.Seed = s.Seed
	}
	f := &Fleet{
		scenario: s, opts: opts, clock: opts.Clock, log: opts.Logger,
		voltage: s.voltage(), ledger: NewLedger(s), byID: map[string]*Charger{},
		httpClient: opts.HTTPClient,
	}
	if f.httpClient == nil {
		f.httpClient = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	}
	if s.Cars.Random != nil {
		f.random = newRandomProcess(s)
	}
	for i, spec := range s.AllChargers() {
		c := newCharger(f, spec, opts.Seed, i)
		f.chargers = append(f.chargers, c)
		f.byID[spec.ID] = c
		if f.random != nil && f.random.covers(spec.ID) {
			for _, e := range c.evses {
				e.nextArrival = f.random.gap(c.rng)
			}
		}
	}
	f.visits = slices.Clone(s.Cars.Schedule)
	slices.SortStableFunc(f.visits, func(a, b Visit) int { return int(a.Arrive - b.Arrive) })
	return f, nil
}

// Charger returns the charger with that OCPP identity.
func (f *Fleet) Charger(id string) (*Charger, error) {
	c, ok := f.byID[id]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownCharger, id)
	}
	return c, nil
}

// Chargers returns every charger in scenario order; the caller owns the
// slice, not the chargers.
func (f *Fleet) Chargers() []*Charger { return slices.Clone(f.chargers) }

// Ledger returns the fleet's ledger.
func (f *Fleet) Ledger() *Ledger { return f.ledger }

func (f *Fleet) simElapsed() time.Duration { return time.Duration(f.simNS.Load()) }

// SimElapsed is the simulated time since Run started.
func (f *Fleet) SimElapsed() time.Duration { return f.simElapsed() }

// Run connects every charger and runs the simulation until ctx ends (use
// context.WithTimeout for a bounded run). It returns nil when ctx ends and
// an error only if the fleet cannot run; every goroutine it started has
// exited when it returns. A fleet runs once.
func (f *Fleet) Run(ctx context.Context) error {
	if !f.running.CompareAndSwap(false, true) {
		return errors.New("sim: fleet already ran")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	f.stepMu.Lock()
	f.start = f.clock.Now()
	f.lastStep = f.start
	f.stepMu.Unlock()
	var wg sync.WaitGroup
	for i, c := range f.chargers {
		delay := time.Duration(i) * time.Second / time.Duration(f.opts.ConnectRate)
		wg.Go(func() {
			if delay > 0 && !sleepCtx(ctx, delay) {
				return
			}
			c.run(ctx)
		})
	}
	ticker := time.NewTicker(f.opts.Tick)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			cancel()
			wg.Wait()
			f.stepMu.Lock()
			f.end = f.clock.Now()
			f.stepMu.Unlock()
			return nil
		case <-ticker.C:
			f.Step(ctx)
		}
	}
}

// Step advances the simulation to the clock's now: cars arrive and leave,
// every charger applies its composite limit and its car follows, the
// ledger records the moment, queued messages go out. Run calls it every
// Tick; tests driving a fake clock may call it themselves.
func (f *Fleet) Step(ctx context.Context) {
	f.stepMu.Lock()
	defer f.stepMu.Unlock()
	now := f.clock.Now()
	if f.start.IsZero() {
		f.start, f.lastStep = now, now
	}
	dt := max(now.Sub(f.lastStep), 0)
	f.lastStep = now
	simDt := time.Duration(float64(dt) * f.opts.Speed)
	sim := time.Duration(f.simNS.Add(int64(simDt)))
	for f.nextVisit < len(f.visits) && f.visits[f.nextVisit].Arrive.D() <= sim {
		v := f.visits[f.nextVisit]
		f.nextVisit++
		f.plugVisit(v)
	}
	samples := make([]ChargerSample, len(f.chargers))
	for i, c := range f.chargers {
		samples[i] = c.step(now, sim, simDt)
	}
	building := f.buildingLoad(sim)
	f.ledger.Record(now, building, samples)
	for _, c := range f.chargers {
		c.flush(ctx, now)
	}
	if !now.Before(f.nextMeter) {
		f.nextMeter = now.Add(f.opts.MeterInterval)
		r := GridReading{Time: now, Building: building}
		for _, s := range samples {
			for p := range 3 {
				r.EV[p] += s.Draw[p]
			}
		}
		for p := range 3 {
			r.Total[p] = r.Building[p] + r.EV[p]
			r.Power += site.Watts(float64(r.Total[p]) * float64(f.voltage))
		}
		if err := f.opts.Meter.ReportMeter(ctx, r); err != nil {
			f.meterErrs++
			f.log.Warn("sim: meter report failed", "err", err)
		}
	}
}

func (f *Fleet) plugVisit(v Visit) {
	c := f.byID[v.Charger]
	evseID := max(v.EVSE, 1)
	car := f.scenario.Cars.car(v.Model, v.Car)
	var leave time.Duration
	if v.Leave > 0 {
		leave = (v.Leave - v.Arrive).D()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, err := c.evse(evseID)
	if err != nil || e.car != nil {
		f.log.Warn("sim: scheduled car cannot plug in", "charger", v.Charger, "evse", evseID, "err", err)
		return
	}
	var leaveAt time.Duration
	if leave > 0 {
		leaveAt = f.simElapsed() + leave
	}
	c.plugLocked(e, car, v.SoC, leaveAt, v.IDTag)
}

// buildingLoad is the building's own load at simulated time sim: each
// point's current from its offset on, reached linearly over its ramp. In a
// repeating profile the value before the first point is the last point's
// (from the second period on); before that, and without a period, zero.
func (f *Fleet) buildingLoad(sim time.Duration) site.PhaseCurrents {
	pts := f.scenario.Site.BuildingLoad
	if len(pts) == 0 {
		return site.PhaseCurrents{}
	}
	cur := site.PhaseCurrents{}
	if per := f.scenario.Site.BuildingLoadPeriod.D(); per > 0 {
		if sim >= per {
			cur = site.PhaseCurrents(pts[len(pts)-1].Current)
		}
		sim %= per
	}
	for _, p := range pts {
		at := p.At.D()
		if at > sim {
			break
		}
		to := site.PhaseCurrents(p.Current)
		if r := p.Ramp.D(); r > 0 && sim < at+r {
			frac := float64(sim-at) / float64(r)
			for ph := range 3 {
				to[ph] = cur[ph] + site.Amps(frac*float64(to[ph]-cur[ph]))
			}
		}
		cur = to
	}
	return cur
}

// randomProcess is the seeded random arrival process.
type randomProcess struct {
	spec     *RandomVisits
	chargers map[string]bool // nil: all
	models   []string
}

func newRandomProcess(s *Scenario) *randomProcess {
	r := &randomProcess{spec: s.Cars.Random}
	if len(r.spec.Chargers) > 0 {
		r.chargers = map[string]bool{}
		for _, id := range r.spec.Chargers {
			r.chargers[id] = true
		}
	}
	r.models = slices.Clone(r.spec.Models)
	if len(r.models) == 0 {
		for name := range s.Cars.Models {
			r.models = append(r.models, name)
		}
		slices.Sort(r.models) // map order must not leak into the draw
	}
	return r
}

func (r *randomProcess) covers(id string) bool { return r.chargers == nil || r.chargers[id] }

func (r *randomProcess) gap(rng *rand.Rand) time.Duration {
	mean := time.Duration(float64(time.Hour) / r.spec.ArrivalsPerHour)
	return max(expGap(rng, mean), time.Millisecond)
}

func (r *randomProcess) draw(rng *rand.Rand, s *Scenario) (Car, float64, time.Duration) {
	name := r.models[rng.IntN(len(r.models))]
	car := s.Cars.car(name, Car{})
	soc := r.spec.SoC.Min + rng.Float64()*(r.spec.SoC.Max-r.spec.SoC.Min)
	d := r.spec.Dwell
	dwell := d.Min.D() + time.Duration(rng.Float64()*float64(d.Max-d.Min))
	return car, soc, dwell
}

// GridReading is the site's grid meter at one moment.
type GridReading struct {
	Time time.Time
	// Building is the site's own load, EV the cars' draw, Total their sum,
	// per grid phase.
	Building, EV, Total site.PhaseCurrents
	// Power is the total active power.
	Power site.Watts
}

// MeterReporter receives the site's grid meter readings, as an EMS would
// report them to smartcharge. ReportMeter is called from the fleet's step
// and must not block for long; an error is logged and counted.
type MeterReporter interface {
	ReportMeter(ctx context.Context, r GridReading) error
}

// NopMeterReporter discards readings (the default; cmd/chargersim --api
// sends them to smartcharge's AllocationService.ReportMeterReading).
type NopMeterReporter struct{}

// ReportMeter does nothing.
func (NopMeterReporter) ReportMeter(context.Context, GridReading) error { return nil }

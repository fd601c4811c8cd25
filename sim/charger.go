package sim

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/smartcharge/smartcharge/site"
)

// ocppTime formats t as OCPP wants it.
func ocppTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// outCall is a CALL the charger wants to send. Its payload is built when
// it is sent, so it sees state that changed while it waited (the 1.6
// transaction id).
type outCall struct {
	action string
	// build returns the payload, or false to drop the call.
	build func() (any, bool)
	// onResult runs, under the charger's lock, with the CALLRESULT payload.
	onResult func(json.RawMessage)
	// keepOffline: the call waits for the connection to come back
	// (transaction messages) instead of being dropped.
	keepOffline bool
}

// delayedCall is an incoming CALL held back by the AnswerDelay quirk.
type delayedCall struct {
	due   time.Time
	frame Frame
	conn  *websocket.Conn
}

// evse is the simulated state of one EVSE.
type evse struct {
	id   int
	spec EVSESpec
	// status is the last status reported (1.6 names).
	status string
	car    *CarState
	// leaveAt is the simulated time the car leaves (0: never).
	leaveAt time.Duration
	idTag   string
	// Transaction: txStart set at plug-in; txID once known (1.6: from
	// StartTransaction.conf; 2.0.1: at once).
	txStart time.Time
	txID    string
	txSeq   int   // 2.0.1 seqNo
	tx16    *tx16 // 1.6 transaction of the visit
	state   ChargingState
	// register is the energy meter reading.
	register site.WattHours
	limit    Limit // as accepted (from installed profiles)
	offer    site.Amps
	// nextMeter is when the next periodic meter value is due.
	nextMeter time.Time
	// nextArrival is when a random car arrives (simulated time; 0 none).
	nextArrival time.Duration
}

// Charger is one simulated charging station. Its methods are safe for
// concurrent use; the fleet drives it, tests poke it.
type Charger struct {
	fleet    *Fleet
	spec     ChargerSpec
	rotation site.PhaseRotation
	node     string
	log      *slog.Logger
	dialect  dialect

	mu  sync.Mutex
	rng *rand.Rand
	// connection
	conn         *websocket.Conn
	booted       bool
	bootRetryAt  time.Time
	heartbeat    time.Duration
	nextBeat     time.Time
	offlineUntil time.Time
	nextDrop     time.Time
	quirks       Quirks
	// outgoing CALLs, one in flight at a time
	outbox     []outCall
	inflight   *outCall
	inflightID string
	inflightAt time.Time
	seq        uint64
	delayed    []delayedCall
	// smart charging
	profiles []InstalledProfile
	// configuration
	meterInterval time.Duration
	measurands    []string
	evses         []*evse
	// statistics
	received    map[string]int
	profileMsgs int
	connects    int
	lastSample  ChargerSample
	energyTotal site.WattHours
	txCounter   int
}

func newCharger(f *Fleet, spec ChargerSpec, seed uint64, index int) *Charger {
	rot, _ := site.ParsePhaseRotation(spec.Rotation) // validated
	if !rot.Known() {
		rot = site.StandardRotation // a real charger is wired somehow: "" means RST
	}
	node := spec.Circuit
	if node == "" {
		node = GridNode
	}
	c := &Charger{
		fleet:         f,
		spec:          spec,
		rotation:      rot,
		node:          node,
		log:           f.log.With("charger", spec.ID),
		rng:           rand.New(rand.NewPCG(seed, uint64(index)+1)),
		heartbeat:     5 * time.Minute,
		quirks:        spec.Quirks,
		meterInterval: spec.MeterInterval.D(),
		measurands:    []string{"Energy.Active.Import.Register", "Current.Import", "Power.Active.Import"},
		received:      map[string]int{},
	}
	if spec.OCPP == OCPP201 {
		c.dialect = &v201{c: c}
		c.measurands = append(c.measurands, "SoC")
	} else {
		c.dialect = &v16{c: c}
	}
	for i, e := range spec.EVSEs {
		c.evses = append(c.evses, &evse{id: i + 1, spec: e, status: "Available"})
	}
	return c
}

// ID returns the charger's OCPP identity.
func (c *Charger) ID() string { return c.spec.ID }

// Spec returns the charger's scenario entry with defaults filled in.
func (c *Charger) Spec() ChargerSpec { return c.spec }

func (c *Charger) evse(id int) (*evse, error) {
	if id < 1 || id > len(c.evses) {
		return nil, fmt.Errorf("sim: charger %s has no EVSE %d", c.spec.ID, id)
	}
	return c.evses[id-1], nil
}

// Plug plugs a car with the given state of charge into an EVSE now; leave
// is how long it stays in simulated time (0: to the end).
func (c *Charger) Plug(evseID int, car Car, soc float64, leave time.Duration) error {
	if err := car.withDefaults().validateErr(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, err := c.evse(evseID)
	if err != nil {
		return err
	}
	if e.car != nil {
		return fmt.Errorf("%w: %s EVSE %d", ErrEVSEBusy, c.spec.ID, evseID)
	}
	var leaveAt time.Duration
	if leave > 0 {
		leaveAt = c.fleet.simElapsed() + leave
	}
	c.plugLocked(e, car, soc, leaveAt, "")
	return nil
}

func (car Car) validateErr() error {
	var v violations
	car.validate(&v, "car", true)
	if err := v.err(); err != nil {
		return err
	}
	return nil
}

// Unplug makes the car on an EVSE leave now.
func (c *Charger) Unplug(evseID int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, err := c.evse(evseID)
	if err != nil {
		return err
	}
	if e.car == nil {
		return fmt.Errorf("%w: %s EVSE %d", ErrNoCar, c.spec.ID, evseID)
	}
	c.unplugLocked(e)
	return nil
}

// SetQuirks changes how the charger misbehaves from now on.
func (c *Charger) SetQuirks(q Quirks) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.quirks = q
	c.nextDrop = time.Time{}
}

// Disconnect drops the connection now and stays offline for d.
func (c *Charger) Disconnect(d time.Duration) {
	c.mu.Lock()
	c.offlineUntil = c.fleet.clock.Now().Add(d)
	conn := c.conn
	c.mu.Unlock()
	if conn != nil {
		_ = conn.CloseNow()
	}
}

func (c *Charger) plugLocked(e *evse, car Car, soc float64, leaveAt time.Duration, idTag string) {
	st := NewCarState(car, soc)
	now := c.fleet.clock.Now()
	e.car = &st
	e.leaveAt = leaveAt
	if idTag == "" {
		idTag = fmt.Sprintf("SIM%04X", c.rng.IntN(1<<16))
	}
	e.idTag = idTag
	e.txStart = now
	e.txID = ""
	e.state = 0
	e.nextMeter = now.Add(c.meterInterval)
	e.nextArrival = 0
	c.txCounter++
	c.queue(c.dialect.plugged(e)...)
}

func (c *Charger) unplugLocked(e *evse) {
	c.queue(c.dialect.unplugged(e)...)
	if e.txID != "" {
		c.profiles = EndTransaction(c.profiles, e.txID)
	}
	e.car = nil
	e.txID = ""
	e.txStart = time.Time{}
	e.state = 0
	e.offer = 0
	if r := c.fleet.random; r != nil && r.covers(c.spec.ID) {
		e.nextArrival = c.fleet.simElapsed() + r.gap(c.rng)
	}
}

// queue appends calls to the outbox.
func (c *Charger) queue(calls ...outCall) { c.outbox = append(c.outbox, calls...) }

// EVSEState is a snapshot of one EVSE.
type EVSEState struct {
	EVSE int `json:"evse"`
	// Status is the last status reported (1.6 StatusNotification names;
	// 2.0.1 connector status).
	Status string `json:"status"`
	// ChargingState is Charging, SuspendedEV or SuspendedEVSE with a car.
	ChargingState string    `json:"charging_state,omitempty"`
	Limit         site.Amps `json:"limit"`
	// Offer is what the EVSE really offers the car (differs from Limit
	// when the charger ignores profiles or shares a station limit).
	Offer  site.Amps      `json:"offer"`
	Draw   site.Amps      `json:"draw"`
	Phases int            `json:"phases"`
	SoC    float64        `json:"soc"`
	Car    bool           `json:"car"`
	TxID   string         `json:"transaction_id,omitempty"`
	Source LimitSource    `json:"source"`
	Energy site.WattHours `json:"energy_wh"`
}

// ChargerState is a snapshot of a charger.
type ChargerState struct {
	ID        string             `json:"id"`
	Connected bool               `json:"connected"`
	Booted    bool               `json:"booted"`
	EVSEs     []EVSEState        `json:"evses"`
	Profiles  []InstalledProfile `json:"-"`
	// Received counts the CALLs the server sent, by action.
	Received map[string]int `json:"received"`
	// ProfileMessages counts SetChargingProfile and ClearChargingProfile.
	ProfileMessages int            `json:"profile_messages"`
	Energy          site.WattHours `json:"energy_wh"`
	Connects        int            `json:"connects"`
	// Grid is the charger's draw on grid phases.
	Grid site.PhaseCurrents `json:"grid"`
}

// State returns a snapshot of the charger.
func (c *Charger) State() ChargerState {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := ChargerState{
		ID: c.spec.ID, Connected: c.conn != nil, Booted: c.booted,
		Profiles: slices.Clone(c.profiles), Received: map[string]int{},
		ProfileMessages: c.profileMsgs, Energy: c.energyTotal, Connects: c.connects,
		Grid: c.lastSample.Draw,
	}
	for k, v := range c.received {
		s.Received[k] = v
	}
	for _, e := range c.evses {
		es := EVSEState{EVSE: e.id, Status: e.status, Limit: e.limit.Amps, Offer: e.offer, TxID: e.txID, Source: e.limit.Decider(), Energy: e.register}
		if e.car != nil {
			es.Car, es.Draw, es.Phases, es.SoC = true, e.car.Draw, e.car.Phases, e.car.SoC
			if e.state != 0 {
				es.ChargingState = e.state.String()
			}
		}
		s.EVSEs = append(s.EVSEs, es)
	}
	return s
}

// evseView is the composite's view of e.
func (c *Charger) evseView(e *evse) EVSEView {
	v := EVSEView{ID: e.id, MaxCurrent: e.spec.MaxCurrent, Phases: e.spec.Phases, TxID: e.txID}
	if e.car != nil {
		v.TxStart = e.txStart
		v.ActivePhases = e.car.Car.Phases
	}
	return v
}

// stationView is the composite's view of the station as a whole.
func (c *Charger) stationView() EVSEView {
	var maxA site.Amps
	for _, e := range c.evses {
		maxA += e.spec.MaxCurrent
	}
	return EVSEView{ID: 0, MaxCurrent: maxA, Phases: 3}
}

// step advances the charger to now (wall time) with dt of simulated time;
// it returns the ledger sample and the frames to write.
func (c *Charger) step(now time.Time, sim time.Duration, dt time.Duration) ChargerSample {
	c.mu.Lock()
	defer c.mu.Unlock()
	v := c.fleet.voltage
	// Cars coming and going.
	for _, e := range c.evses {
		switch {
		case e.car != nil && e.leaveAt > 0 && sim >= e.leaveAt:
			c.unplugLocked(e)
		case e.car == nil && e.nextArrival > 0 && sim >= e.nextArrival:
			car, soc, dwell := c.fleet.random.draw(c.rng, c.fleet.scenario)
			c.plugLocked(e, car, soc, sim+dwell, "")
		}
	}
	// Limits: accepted (from installed profiles) and applied (what the
	// charger really does: the same unless it ignores profiles).
	applied := c.profiles
	if c.quirks.IgnoreProfiles {
		applied = nil
	}
	limits := make([]site.Amps, len(c.evses))
	phases := make([]int, len(c.evses))
	sample := ChargerSample{Charger: c.spec.ID, Node: c.node, Connected: c.conn != nil, Sources: make([]LimitSource, len(c.evses))}
	for i, e := range c.evses {
		ev := c.evseView(e)
		e.limit = CompositeLimit(c.profiles, ev, v, now)
		sample.Sources[i] = e.limit.Decider()
		acc := GridDraw(c.rotation, e.limit.Phases, e.limit.Amps)
		for p := range 3 {
			sample.Accepted[p] += acc[p]
			if e.car != nil {
				sample.AcceptedActive[p] += acc[p]
			}
		}
		al := e.limit
		if c.quirks.IgnoreProfiles {
			al = CompositeLimit(applied, ev, v, now)
		}
		phases[i] = al.Phases
		if e.car != nil {
			limits[i] = al.Amps
		}
	}
	// The station max caps the sum over EVSEs: the charger shares it out.
	stAcc := CompositeLimit(c.profiles, c.stationView(), v, now)
	if stAcc.Station.Valid() {
		for p := range 3 {
			sample.Accepted[p] = min(sample.Accepted[p], stAcc.Amps)
			sample.AcceptedActive[p] = min(sample.AcceptedActive[p], stAcc.Amps)
		}
	}
	if stApp := CompositeLimit(applied, c.stationView(), v, now); stApp.Station.Valid() {
		limits = ShareStationMax(limits, stApp.Amps)
	}
	for i, e := range c.evses {
		if e.car == nil {
			continue
		}
		e.offer = limits[i]
		next := e.car.Step(StepInput{Now: now, Dt: dt, Offer: e.offer, Phases: phases[i], Voltage: v})
		gained := next.Energy - e.car.Energy
		e.register += gained
		c.energyTotal += gained
		*e.car = next
		d := GridDraw(c.rotation, next.Phases, next.Draw)
		for p := range 3 {
			sample.Draw[p] += d[p]
		}
		st := next.ChargingState(e.offer)
		if st != e.state && c.dialect.txKnown(e) {
			e.state = st
			c.queue(c.dialect.stateChanged(e)...)
		}
		if !now.Before(e.nextMeter) {
			e.nextMeter = now.Add(c.meterInterval)
			c.queue(c.dialect.meterValues(e, now))
		}
	}
	// Heartbeat, reboot retries, random disconnects.
	if c.conn != nil && c.booted && !now.Before(c.nextBeat) {
		c.nextBeat = now.Add(c.heartbeat)
		c.queue(c.dialect.heartbeatCall())
	}
	if c.conn != nil && !c.booted && !c.bootRetryAt.IsZero() && !now.Before(c.bootRetryAt) {
		c.bootRetryAt = time.Time{}
		c.outbox = append([]outCall{c.dialect.bootCall()}, c.outbox...)
	}
	if every := c.quirks.DisconnectEvery.D(); every > 0 && c.conn != nil {
		if c.nextDrop.IsZero() {
			c.nextDrop = now.Add(expGap(c.rng, every))
		} else if !now.Before(c.nextDrop) {
			c.nextDrop = time.Time{}
			c.offlineUntil = now.Add(c.quirks.DisconnectFor.D())
			_ = c.conn.CloseNow()
		}
	}
	c.lastSample = sample
	return sample
}

func expGap(r *rand.Rand, mean time.Duration) time.Duration {
	return time.Duration(r.ExpFloat64() * float64(mean))
}

// roundDown1 floors x to one decimal (OCPP 1.6 limits are multiples of 0.1).
func roundDown1(x float64) float64 { return math.Floor(x*10+1e-9) / 10 }

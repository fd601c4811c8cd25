package sim

import "errors"

// Sentinel errors; match with errors.Is.
var (
	// ErrScenario: the scenario file is malformed or breaks a rule. The
	// error text names every bad field.
	ErrScenario = errors.New("sim: invalid scenario")
	// ErrUnknownCharger: no charger with that identity in the fleet.
	ErrUnknownCharger = errors.New("sim: unknown charger")
	// ErrBadFrame: a WebSocket message is not an OCPP-J frame.
	ErrBadFrame = errors.New("sim: bad OCPP-J frame")
	// ErrEVSEBusy: a car is already plugged into that EVSE.
	ErrEVSEBusy = errors.New("sim: EVSE occupied")
	// ErrNoCar: no car is plugged into that EVSE.
	ErrNoCar = errors.New("sim: no car plugged in")
	// ErrOptions: the Options given to New are invalid.
	ErrOptions = errors.New("sim: invalid options")
)

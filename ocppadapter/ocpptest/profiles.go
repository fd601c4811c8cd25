package ocpptest

import (
	"encoding/json"
	"slices"
	"sync"
	"time"

	"github.com/smartcharge/smartcharge/ocppadapter"
)

// Profile is a charging profile a Profiles charger holds (first period
// only).
type Profile struct {
	ID, StackLevel, EVSE int
	Purpose              string
	Limit                float64
}

// Profiles is a test charger's charging-profile store. Its Handler
// answers SetChargingProfile, ClearChargingProfile and
// GetCompositeSchedule as a charger does: a profile replaces one with its
// id or with its purpose and stack level on the EVSE; within a purpose
// the highest stack level wins, TxProfile over TxDefaultProfile (the
// EVSE's, then the station's), and the composite is the lower of that
// and the station maximum. Everything else goes to the next handler.
type Profiles struct {
	v16 bool
	mu  sync.Mutex
	ps  []Profile
	// clears lists every ClearChargingProfile payload received.
	clears []json.RawMessage
}

// NewProfiles returns an empty store for a charger speaking protocol.
func NewProfiles(protocol string) *Profiles {
	return &Profiles{v16: protocol == ocppadapter.Subprotocol16}
}

// List returns the profiles held, by id.
func (p *Profiles) List() []Profile {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := slices.Clone(p.ps)
	slices.SortFunc(out, func(a, b Profile) int { return a.ID - b.ID })
	return out
}

// Clears returns the ClearChargingProfile payloads received.
func (p *Profiles) Clears() []json.RawMessage {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.clears)
}

// Composite returns the limit in force on evse (A), ok false without one.
func (p *Profiles) Composite(evse int) (float64, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	top := func(purpose string, evse int) (Profile, bool) {
		var best Profile
		found := false
		for _, q := range p.ps {
			if q.Purpose == purpose && q.EVSE == evse && (!found || q.StackLevel > best.StackLevel) {
				best, found = q, true
			}
		}
		return best, found
	}
	station := "ChargingStationMaxProfile"
	if p.v16 {
		station = "ChargePointMaxProfile"
	}
	var lim float64
	ok := false
	take := func(q Profile, found bool) {
		if found && (!ok || q.Limit < lim) {
			lim, ok = q.Limit, true
		}
	}
	take(top(station, 0))
	if q, found := top("TxProfile", evse); found {
		take(q, true)
	} else if q, found := top("TxDefaultProfile", evse); found {
		take(q, true)
	} else {
		take(top("TxDefaultProfile", 0))
	}
	return lim, ok
}

type wireProfile struct {
	ID16       int    `json:"chargingProfileId"`
	StackLevel int    `json:"stackLevel"`
	Purpose    string `json:"chargingProfilePurpose"`
	Schedule16 struct {
		Periods []struct {
			Limit float64 `json:"limit"`
		} `json:"chargingSchedulePeriod"`
	} `json:"chargingSchedule"`
}

type wireProfile201 struct {
	ID         int    `json:"id"`
	StackLevel int    `json:"stackLevel"`
	Purpose    string `json:"chargingProfilePurpose"`
	Schedules  []struct {
		Periods []struct {
			Limit float64 `json:"limit"`
		} `json:"chargingSchedulePeriod"`
	} `json:"chargingSchedule"`
}

// Handler answers the smart-charging CALLs and passes the others to next.
func (p *Profiles) Handler(next Handler) Handler {
	return func(action string, payload json.RawMessage) (any, error) {
		switch action {
		case "SetChargingProfile":
			return p.set(payload)
		case "ClearChargingProfile":
			return p.clear(payload)
		case "GetCompositeSchedule":
			return p.composite(payload)
		}
		return next(action, payload)
	}
}

func (p *Profiles) set(payload json.RawMessage) (any, error) {
	var q Profile
	if p.v16 {
		var m struct {
			ConnectorID int         `json:"connectorId"`
			Profile     wireProfile `json:"csChargingProfiles"`
		}
		if err := json.Unmarshal(payload, &m); err != nil {
			return nil, err
		}
		q = Profile{ID: m.Profile.ID16, StackLevel: m.Profile.StackLevel, EVSE: m.ConnectorID, Purpose: m.Profile.Purpose}
		if ps := m.Profile.Schedule16.Periods; len(ps) > 0 {
			q.Limit = ps[0].Limit
		}
	} else {
		var m struct {
			EvseID  int             `json:"evseId"`
			Profile json.RawMessage `json:"chargingProfile"`
		}
		if err := json.Unmarshal(payload, &m); err != nil {
			return nil, err
		}
		var w wireProfile201
		if err := json.Unmarshal(m.Profile, &w); err != nil {
			return nil, err
		}
		q = Profile{ID: w.ID, StackLevel: w.StackLevel, EVSE: m.EvseID, Purpose: w.Purpose}
		if len(w.Schedules) > 0 && len(w.Schedules[0].Periods) > 0 {
			q.Limit = w.Schedules[0].Periods[0].Limit
		}
	}
	p.mu.Lock()
	p.ps = slices.DeleteFunc(p.ps, func(o Profile) bool {
		return o.ID == q.ID || (o.EVSE == q.EVSE && o.Purpose == q.Purpose && o.StackLevel == q.StackLevel)
	})
	p.ps = append(p.ps, q)
	p.mu.Unlock()
	return map[string]string{"status": "Accepted"}, nil
}

func (p *Profiles) clear(payload json.RawMessage) (any, error) {
	var id, evse, stack *int
	purpose := ""
	if p.v16 {
		var m struct {
			ID          *int   `json:"id"`
			ConnectorID *int   `json:"connectorId"`
			Purpose     string `json:"chargingProfilePurpose"`
			StackLevel  *int   `json:"stackLevel"`
		}
		if err := json.Unmarshal(payload, &m); err != nil {
			return nil, err
		}
		id, evse, stack, purpose = m.ID, m.ConnectorID, m.StackLevel, m.Purpose
	} else {
		var m struct {
			ID       *int `json:"chargingProfileId"`
			Criteria *struct {
				EvseID     *int   `json:"evseId"`
				Purpose    string `json:"chargingProfilePurpose"`
				StackLevel *int   `json:"stackLevel"`
			} `json:"chargingProfileCriteria"`
		}
		if err := json.Unmarshal(payload, &m); err != nil {
			return nil, err
		}
		id = m.ID
		if m.Criteria != nil {
			evse, stack, purpose = m.Criteria.EvseID, m.Criteria.StackLevel, m.Criteria.Purpose
		}
	}
	p.mu.Lock()
	p.clears = append(p.clears, append(json.RawMessage(nil), payload...))
	n := len(p.ps)
	p.ps = slices.DeleteFunc(p.ps, func(o Profile) bool {
		if id != nil {
			return o.ID == *id
		}
		return (evse == nil || *evse == o.EVSE) && (stack == nil || *stack == o.StackLevel) && (purpose == "" || purpose == o.Purpose)
	})
	removed := n != len(p.ps)
	p.mu.Unlock()
	if removed {
		return map[string]string{"status": "Accepted"}, nil
	}
	return map[string]string{"status": "Unknown"}, nil
}

func (p *Profiles) composite(payload json.RawMessage) (any, error) {
	var m struct {
		ConnectorID int `json:"connectorId"`
		EvseID      int `json:"evseId"`
		Duration    int `json:"duration"`
	}
	if err := json.Unmarshal(payload, &m); err != nil {
		return nil, err
	}
	evse := m.EvseID
	if p.v16 {
		evse = m.ConnectorID
	}
	lim, ok := p.Composite(evse)
	if !ok {
		return map[string]string{"status": "Rejected"}, nil
	}
	start := time.Now().UTC().Truncate(time.Second).Format(time.RFC3339)
	periods := []any{map[string]any{"startPeriod": 0, "limit": lim}}
	if p.v16 {
		return map[string]any{"status": "Accepted", "connectorId": evse, "scheduleStart": start,
			"chargingSchedule": map[string]any{"chargingRateUnit": "A", "chargingSchedulePeriod": periods}}, nil
	}
	return map[string]any{"status": "Accepted", "schedule": map[string]any{"evseId": evse, "duration": m.Duration, "scheduleStart": start,
		"chargingRateUnit": "A", "chargingSchedulePeriod": periods}}, nil
}

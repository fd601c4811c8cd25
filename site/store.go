package site

import (
	"context"
	"time"
)

// Store keeps the configuration and live state of sites. Implementations
// must be safe for concurrent use; every method that changes state is atomic
// (all or nothing) and never overwrites a concurrent writer's change
// silently.
//
// Values returned are owned by the caller. Errors: ErrNotFound,
// ErrAlreadyExists, ErrConflict, ErrFailedPrecondition, a *ValidationError
// (ErrInvalid) and ErrUnavailable, wrapped with context; match with
// errors.Is.
type Store interface {
	// CreateSite stores a new site with its circuits, chargers and limits,
	// validated whole. Generations start at 1.
	CreateSite(ctx context.Context, c Config) (Config, error)
	// Config reads everything configured for one site.
	Config(ctx context.Context, siteID string) (Config, error)
	// UpdateConfig reads the site's configuration, lets fn change it, then
	// validates the result and writes it atomically, if nothing changed
	// it in between (else it retries fn on the new state a few times and
	// then returns ErrConflict). fn may return an error to abort; that
	// error is returned as is. Resources fn changed get Generation+1 and a
	// new UpdateTime; added ones Generation 1. Returns the stored result.
	UpdateConfig(ctx context.Context, siteID string, fn func(*Config) error) (Config, error)
	// DeleteSite removes a site and all its state. expectGeneration 0 skips
	// the etag check.
	DeleteSite(ctx context.Context, siteID string, expectGeneration int64) error
	// ListSites returns up to limit sites with an ID greater than after,
	// sorted by ID.
	ListSites(ctx context.Context, after string, limit int) ([]Site, error)
	// ChargerByIdentity finds the charger registered with an OCPP identity.
	ChargerByIdentity(ctx context.Context, identity string) (ChargerRef, error)

	// ChargerState reads a charger's live state; a charger never seen has
	// a zero state (not ErrNotFound) as long as it is configured.
	ChargerState(ctx context.Context, ref ChargerRef) (ChargerState, error)
	// UpdateChargerState changes a charger's live state atomically.
	UpdateChargerState(ctx context.Context, ref ChargerRef, fn func(*ChargerState) error) (ChargerState, error)

	// Close releases the store's connections.
	Close() error
}

// ChargerRef names one charger: "sites/{SiteID}/chargers/{ChargerID}".
type ChargerRef struct {
	SiteID    string
	ChargerID string
}

func (r ChargerRef) String() string { return "sites/" + r.SiteID + "/chargers/" + r.ChargerID }

// Clock tells the time. Stores and loops take one so tests can use a fake.
type Clock interface {
	Now() time.Time
}

// SystemClock is the real clock.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

package redisstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/smartcharge/smartcharge/site"
)

// Options configure a Store; the zero value (or nil) gives the defaults.
type Options struct {
	// KeyPrefix starts every key; default "sc". Two stores with different
	// prefixes on one Redis do not see each other.
	KeyPrefix string
	// Clock stamps CreateTime and UpdateTime; default site.SystemClock.
	Clock site.Clock
	// Logger gets repairs and migrations; default slog.Default().
	Logger *slog.Logger
	// Migrations upgrade stored data; see [Store.Migrate].
	Migrations []Migration
	// ClusterSafe makes the store keep every transaction within one site's
	// hash slot and maintain the global index keys outside it (see the
	// package documentation). It is on by itself for any client other
	// than a *redis.Client; set it to test that protocol on one node.
	ClusterSafe bool
	// MaxAttempts is how often an optimistic transaction is tried before
	// ErrConflict; default 10.
	MaxAttempts int
	// ClaimTimeout is how long an unfinished claim on an OCPP identity
	// (cluster-safe mode) blocks other sites from taking it; default 1m.
	ClaimTimeout time.Duration
}

// Store is a site.Store on Redis. It is safe for concurrent use.
type Store struct {
	rdb          redis.UniversalClient
	prefix       string
	clock        site.Clock
	log          *slog.Logger
	migrations   []Migration
	cluster      bool
	attempts     int
	claimTimeout time.Duration
	onClose      []func() error
}

var _ site.Store = (*Store)(nil)

// New returns a store on client; opts may be nil. The store owns client:
// Close closes it. Call [Store.Migrate] once before serving.
func New(client redis.UniversalClient, opts *Options) *Store {
	var o Options
	if opts != nil {
		o = *opts
	}
	s := &Store{
		rdb: client, prefix: o.KeyPrefix, clock: o.Clock, log: o.Logger,
		migrations: append([]Migration(nil), o.Migrations...), cluster: o.ClusterSafe,
		attempts: o.MaxAttempts, claimTimeout: o.ClaimTimeout,
	}
	if s.prefix == "" {
		s.prefix = "sc"
	}
	if s.clock == nil {
		s.clock = site.SystemClock{}
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if _, single := client.(*redis.Client); !single {
		s.cluster = true
	}
	if s.attempts <= 0 {
		s.attempts = 10
	}
	if s.claimTimeout <= 0 {
		s.claimTimeout = time.Minute
	}
	return s
}

// Close closes the Redis client (and an embedded server started with
// [NewEmbedded]).
func (s *Store) Close() error {
	err := s.rdb.Close()
	for _, f := range s.onClose {
		err = errors.Join(err, f())
	}
	s.onClose = nil
	return err
}

// Client returns the Redis client, for health checks.
func (s *Store) Client() redis.UniversalClient { return s.rdb }

// Key layout; see doc.go.

func (s *Store) siteTag(siteID string) string   { return s.prefix + ":{site:" + siteID + "}" }
func (s *Store) configKey(siteID string) string { return s.siteTag(siteID) + ":config" }
func (s *Store) revKey(siteID string) string    { return s.siteTag(siteID) + ":rev" }
func (s *Store) stateKey(ref site.ChargerRef) string {
	return s.siteTag(ref.SiteID) + ":charger:" + ref.ChargerID + ":state"
}
func (s *Store) sitesKey() string                   { return s.prefix + ":sites" }
func (s *Store) identityKey(identity string) string { return s.prefix + ":ocpp:" + identity }
func (s *Store) schemaKey() string                  { return s.prefix + ":schema_version" }
func (s *Store) migrateLockKey() string             { return s.prefix + ":migrate_lock" }

// Hash fields of the config key.
const (
	fieldSite          = "site"
	fieldCircuitPrefix = "circuit:"
	fieldChargerPrefix = "charger:"
	fieldLimitPrefix   = "limit:"
)

// now is the clock's time in UTC without a monotonic reading, so that a
// value read back from Redis equals the one returned.
func (s *Store) now() time.Time { return s.clock.Now().UTC().Round(0) }

// userError carries an error returned by a caller's fn through go-redis.
type userError struct{ err error }

func (e userError) Error() string { return e.err.Error() }

// errRetry asks the retry loop for another attempt, as a lost WATCH does.
var errRetry = errors.New("redisstore: retry")

// retry runs attempt until it succeeds, fails for a reason other than a
// concurrent writer, or runs out of attempts (ErrConflict).
func (s *Store) retry(ctx context.Context, op string, attempt func() error) error {
	for i := range s.attempts {
		err := attempt()
		if err == nil {
			return nil
		}
		if ue, ok := err.(userError); ok {
			return ue.err
		}
		if !errors.Is(err, redis.TxFailedErr) && !errors.Is(err, errRetry) {
			return s.fail(op, err)
		}
		// Back off a random while, growing, so racing writers spread out.
		d := time.Duration(rand.Int64N(int64(time.Millisecond) << min(i, 5)))
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("redisstore: %s: %w", op, ctx.Err())
		case <-t.C:
		}
	}
	return fmt.Errorf("redisstore: %s: lost to concurrent writers %d times: %w", op, s.attempts, site.ErrConflict)
}

// fail wraps err for op: domain errors pass as they are, connection
// trouble becomes ErrUnavailable.
func (s *Store) fail(op string, err error) error {
	if err == nil {
		return nil
	}
	for _, domain := range []error{site.ErrNotFound, site.ErrAlreadyExists, site.ErrConflict, site.ErrInvalid,
		site.ErrFailedPrecondition, site.ErrUnavailable} {
		if errors.Is(err, domain) {
			return err
		}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("redisstore: %s: %w", op, err)
	}
	if unavailable(err) {
		return fmt.Errorf("redisstore: %s: %w: %w", op, site.ErrUnavailable, err)
	}
	return fmt.Errorf("redisstore: %s: %w", op, err)
}

// unavailable reports whether err means Redis cannot serve now: no
// connection, a closed client, or a server that is loading, read-only or
// has no quorum.
func unavailable(err error) bool {
	var rerr redis.Error
	if !errors.As(err, &rerr) || errors.Is(err, redis.ErrClosed) {
		return true // network, pool, closed client
	}
	for _, p := range []string{"LOADING", "READONLY", "CLUSTERDOWN", "TRYAGAIN", "MASTERDOWN", "BUSY", "NOREPLICAS"} {
		if redis.HasErrorPrefix(err, p) {
			return true
		}
	}
	return false
}

// cleanupCtx is for undoing a half-done change after ctx ended: the undo
// must still run, briefly.
func cleanupCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
}

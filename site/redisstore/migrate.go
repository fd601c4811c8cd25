package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/smartcharge/smartcharge/site"
)

// SchemaVersion is the version of the key layout and encoding this code
// reads and writes.
const SchemaVersion = 1

// ErrSchemaTooNew: the data was written by a newer smartcharge; this one
// must not touch it.
var ErrSchemaTooNew = errors.New("redisstore: stored schema is newer than this program")

// Migration upgrades stored data from version To-1 to To. Up must be safe
// to run again after a crash part-way (Migrate records the version only
// when Up returns nil). It gets the client and the key prefix.
type Migration struct {
	To   int
	Name string
	Up   func(ctx context.Context, rdb redis.UniversalClient, keyPrefix string) error
}

// TargetVersion is the schema version Migrate brings the data to: the
// highest of SchemaVersion and the options' migrations.
func (s *Store) TargetVersion() int {
	v := SchemaVersion
	for _, m := range s.migrations {
		v = max(v, m.To)
	}
	return v
}

// Migrate brings the stored data to TargetVersion and must run before the
// store serves. On an empty database it just records the version; data
// without a version is version 1. It runs every migration from the stored
// version up, recording each step, and refuses data newer than it knows
// (ErrSchemaTooNew). A lock key keeps two processes from migrating at once
// (the second gets ErrUnavailable and should retry). It returns the
// version the data is at.
func (s *Store) Migrate(ctx context.Context) (int, error) {
	const op = "migrate"
	target := s.TargetVersion()
	token := strconv.FormatInt(s.now().UnixNano(), 36)
	ok, err := s.rdb.SetNX(ctx, s.migrateLockKey(), token, 10*time.Minute).Result()
	if err != nil {
		return 0, s.fail(op, err)
	}
	if !ok {
		return 0, fmt.Errorf("redisstore: another process is migrating (lock %s): %w", s.migrateLockKey(), site.ErrUnavailable)
	}
	defer func() {
		cctx, cancel := cleanupCtx(ctx)
		defer cancel()
		_, _ = s.cas(cctx, s.migrateLockKey(), token, "")
	}()

	stored, err := s.rdb.Get(ctx, s.schemaKey()).Int()
	switch {
	case errors.Is(err, redis.Nil):
		n, err := s.rdb.ZCard(ctx, s.sitesKey()).Result()
		if err != nil {
			return 0, s.fail(op, err)
		}
		if n == 0 {
			if err := s.rdb.Set(ctx, s.schemaKey(), target, 0).Err(); err != nil {
				return 0, s.fail(op, err)
			}
			return target, nil
		}
		stored = 1
	case err != nil:
		return 0, s.fail(op, err)
	}
	if stored > target {
		return stored, fmt.Errorf("redisstore: stored schema version %d, this program knows up to %d: %w", stored, target, ErrSchemaTooNew)
	}
	for v := stored + 1; v <= target; v++ {
		var m *Migration
		for i := range s.migrations {
			if s.migrations[i].To == v {
				m = &s.migrations[i]
			}
		}
		if m == nil || m.Up == nil {
			return v - 1, fmt.Errorf("redisstore: no migration to schema version %d", v)
		}
		s.log.InfoContext(ctx, "redisstore: migrating", "from", v-1, "to", v, "name", m.Name)
		if err := m.Up(ctx, s.rdb, s.prefix); err != nil {
			return v - 1, fmt.Errorf("redisstore: migration to %d (%s): %w", v, m.Name, err)
		}
		if err := s.rdb.Set(ctx, s.schemaKey(), v, 0).Err(); err != nil {
			return v - 1, s.fail(op, err)
		}
	}
	return target, nil
}

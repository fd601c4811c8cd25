package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/smartcharge/smartcharge/site"
)

func (s *Store) checkRef(ref site.ChargerRef) error {
	if !site.ValidResourceID(ref.SiteID) || !site.ValidResourceID(ref.ChargerID) {
		return fmt.Errorf("redisstore: charger %s: %w", ref, site.ErrNotFound)
	}
	return nil
}

// readState reads a configured charger's state: in one MULTI (one slot),
// or inside a WATCH as plain reads (an EXEC there would end the WATCH).
func (s *Store) readState(ctx context.Context, c redis.Cmdable, ref site.ChargerRef) (site.ChargerState, error) {
	var (
		exists *redis.BoolCmd
		state  *redis.StringCmd
	)
	run := c.TxPipelined
	if _, inWatch := c.(*redis.Tx); inWatch {
		run = c.Pipelined
	}
	_, err := run(ctx, func(pipe redis.Pipeliner) error {
		exists = pipe.HExists(ctx, s.configKey(ref.SiteID), fieldChargerPrefix+ref.ChargerID)
		state = pipe.Get(ctx, s.stateKey(ref))
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return site.ChargerState{}, err
	}
	if !exists.Val() {
		return site.ChargerState{}, fmt.Errorf("redisstore: charger %s: %w", ref, site.ErrNotFound)
	}
	var st site.ChargerState
	v, err := state.Result()
	if errors.Is(err, redis.Nil) {
		return st, nil // configured, never seen
	}
	if err != nil {
		return site.ChargerState{}, err
	}
	if err := json.Unmarshal([]byte(v), &st); err != nil {
		return site.ChargerState{}, fmt.Errorf("redisstore: charger %s: corrupt state: %w", ref, err)
	}
	return st, nil
}

// ChargerState reads a charger's live state; a configured charger never
// seen has the zero state.
func (s *Store) ChargerState(ctx context.Context, ref site.ChargerRef) (site.ChargerState, error) {
	if err := s.checkRef(ref); err != nil {
		return site.ChargerState{}, err
	}
	st, err := s.readState(ctx, s.rdb, ref)
	return st, s.fail("read charger state", err)
}

// UpdateChargerState changes a charger's live state atomically. It fails
// with ErrNotFound for a charger that is not configured, also when the
// charger is removed while fn runs.
func (s *Store) UpdateChargerState(ctx context.Context, ref site.ChargerRef, fn func(*site.ChargerState) error) (site.ChargerState, error) {
	if err := s.checkRef(ref); err != nil {
		return site.ChargerState{}, err
	}
	var out site.ChargerState
	err := s.retry(ctx, "update charger state", func() error {
		return s.rdb.Watch(ctx, func(tx *redis.Tx) error {
			st, err := s.readState(ctx, tx, ref)
			if err != nil {
				return err
			}
			if err := fn(&st); err != nil {
				return userError{err}
			}
			b, err := json.Marshal(st)
			if err != nil {
				return fmt.Errorf("redisstore: charger %s: encode state: %w: %w", ref, site.ErrInvalid, err)
			}
			_, err = tx.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
				pipe.Set(ctx, s.stateKey(ref), b, 0)
				return nil
			})
			out = st
			return err
		}, s.configKey(ref.SiteID), s.stateKey(ref))
	})
	if err != nil {
		return site.ChargerState{}, err
	}
	return out, nil
}

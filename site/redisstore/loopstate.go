package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/smartcharge/smartcharge/site"
)

// The control loop's per-site state lives in one key next to the site's
// configuration, in the site's hash slot:
//
//	sc:{site:<id>}:loop    JSON site.LoopState
//
// It is changed by read-modify-write under WATCH, like charger state.

var _ site.LoopStateStore = (*Store)(nil)

func (s *Store) loopKey(siteID string) string { return s.siteTag(siteID) + ":loop" }

// LoopState reads a site's loop state; a site never written has the zero
// state.
func (s *Store) LoopState(ctx context.Context, siteID string) (site.LoopState, error) {
	if !site.ValidResourceID(siteID) {
		return site.LoopState{}, fmt.Errorf("redisstore: loop state of site %q: %w", siteID, site.ErrNotFound)
	}
	st, err := s.readLoop(ctx, s.rdb, siteID)
	return st, s.fail("read loop state", err)
}

func (s *Store) readLoop(ctx context.Context, c redis.Cmdable, siteID string) (site.LoopState, error) {
	var st site.LoopState
	v, err := c.Get(ctx, s.loopKey(siteID)).Result()
	if errors.Is(err, redis.Nil) {
		return st, nil
	}
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal([]byte(v), &st); err != nil {
		return site.LoopState{}, fmt.Errorf("redisstore: site %s: corrupt loop state: %w", siteID, err)
	}
	return st, nil
}

// UpdateLoopState changes a site's loop state atomically; fn's error is
// returned as it is and nothing is written.
func (s *Store) UpdateLoopState(ctx context.Context, siteID string, fn func(*site.LoopState) error) (site.LoopState, error) {
	if !site.ValidResourceID(siteID) {
		return site.LoopState{}, fmt.Errorf("redisstore: loop state of site %q: %w", siteID, site.ErrNotFound)
	}
	key := s.loopKey(siteID)
	var out site.LoopState
	err := s.retry(ctx, "update loop state", func() error {
		return s.rdb.Watch(ctx, func(tx *redis.Tx) error {
			st, err := s.readLoop(ctx, tx, siteID)
			if err != nil {
				return err
			}
			if err := fn(&st); err != nil {
				return userError{err}
			}
			b, err := json.Marshal(st)
			if err != nil {
				return fmt.Errorf("redisstore: site %s: encode loop state: %w: %w", siteID, site.ErrInvalid, err)
			}
			_, err = tx.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
				pipe.Set(ctx, key, b, 0)
				return nil
			})
			out = st
			return err
		}, key)
	})
	if err != nil {
		return site.LoopState{}, err
	}
	return out, nil
}

package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/smartcharge/smartcharge/site"
)

// A site's planning ([site.PlanStore]) lives in two keys of the site's
// hash slot:
//
//	sc:{site:<id>}:plan:inputs   JSON site.PlanInputs (prices, limit schedule, forecasts, settings, SoC targets)
//	sc:{site:<id>}:plan          hash: "seq"  -> integer, the Seq of the newest plan
//	                                   "plan" -> JSON site.Plan (its Seq field is the hash's seq)
//
// Inputs are changed by read-modify-write under WATCH like the loop state;
// PutPlan increments the seq and writes the plan in one Lua script. Both
// keys go with the site ([Store.DeleteSite]; [Store.DeletePlanning] alone).

var _ site.PlanStore = (*Store)(nil)

func (s *Store) planInputsKey(siteID string) string { return s.siteTag(siteID) + ":plan:inputs" }
func (s *Store) planKey(siteID string) string       { return s.siteTag(siteID) + ":plan" }

// planKeys are every planning key of a site, for DeleteSite.
func (s *Store) planKeys(siteID string) []string {
	return []string{s.planInputsKey(siteID), s.planKey(siteID)}
}

// Hash fields of the plan key.
const (
	fieldPlanSeq  = "seq"
	fieldPlanBody = "plan"
)

// PlanInputs reads a site's plan inputs; a site never written has zero
// inputs.
func (s *Store) PlanInputs(ctx context.Context, siteID string) (site.PlanInputs, error) {
	if !site.ValidResourceID(siteID) {
		return site.PlanInputs{}, fmt.Errorf("redisstore: plan inputs of site %q: %w", siteID, site.ErrNotFound)
	}
	in, err := s.readPlanInputs(ctx, s.rdb, siteID)
	return in, s.fail("read plan inputs", err)
}

func (s *Store) readPlanInputs(ctx context.Context, c redis.Cmdable, siteID string) (site.PlanInputs, error) {
	var in site.PlanInputs
	v, err := c.Get(ctx, s.planInputsKey(siteID)).Result()
	if errors.Is(err, redis.Nil) {
		return in, nil
	}
	if err != nil {
		return in, err
	}
	if err := json.Unmarshal([]byte(v), &in); err != nil {
		return site.PlanInputs{}, fmt.Errorf("redisstore: site %s: corrupt plan inputs: %w", siteID, err)
	}
	return in, nil
}

// UpdatePlanInputs changes a site's plan inputs atomically: fn's error is
// returned as it is and nothing is written; a result that fails
// [site.PlanInputs.Validate] is not written either. Seq goes up by one and
// UpdateTime is set from the store's clock.
func (s *Store) UpdatePlanInputs(ctx context.Context, siteID string, fn func(*site.PlanInputs) error) (site.PlanInputs, error) {
	if !site.ValidResourceID(siteID) {
		return site.PlanInputs{}, fmt.Errorf("redisstore: plan inputs of site %q: %w", siteID, site.ErrNotFound)
	}
	key := s.planInputsKey(siteID)
	var out site.PlanInputs
	err := s.retry(ctx, "update plan inputs", func() error {
		return s.rdb.Watch(ctx, func(tx *redis.Tx) error {
			in, err := s.readPlanInputs(ctx, tx, siteID)
			if err != nil {
				return err
			}
			seq := in.Seq
			if err := fn(&in); err != nil {
				return userError{err}
			}
			if err := in.Validate(); err != nil {
				return userError{err}
			}
			in.Seq, in.UpdateTime = seq+1, s.now()
			b, err := json.Marshal(in)
			if err != nil {
				return fmt.Errorf("redisstore: site %s: encode plan inputs: %w: %w", siteID, site.ErrInvalid, err)
			}
			_, err = tx.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
				pipe.Set(ctx, key, b, 0)
				return nil
			})
			out = in
			return err
		}, key)
	})
	if err != nil {
		return site.PlanInputs{}, err
	}
	return out, nil
}

// Plan reads a site's newest plan; ErrNotFound when none was stored.
func (s *Store) Plan(ctx context.Context, siteID string) (site.Plan, error) {
	if !site.ValidResourceID(siteID) {
		return site.Plan{}, fmt.Errorf("redisstore: plan of site %q: %w", siteID, site.ErrNotFound)
	}
	vals, err := s.rdb.HMGet(ctx, s.planKey(siteID), fieldPlanSeq, fieldPlanBody).Result()
	if err != nil {
		return site.Plan{}, s.fail("read plan", err)
	}
	body, ok := vals[1].(string)
	if !ok {
		return site.Plan{}, fmt.Errorf("redisstore: plan of site %s: %w", siteID, site.ErrNotFound)
	}
	var p site.Plan
	if err := json.Unmarshal([]byte(body), &p); err != nil {
		return site.Plan{}, fmt.Errorf("redisstore: site %s: corrupt plan: %w", siteID, err)
	}
	if sv, ok := vals[0].(string); ok {
		if p.Seq, err = strconv.ParseUint(sv, 10, 64); err != nil {
			return site.Plan{}, fmt.Errorf("redisstore: site %s: corrupt plan seq %q: %w", siteID, sv, err)
		}
	}
	return p, nil
}

// putPlanScript: KEYS[1] the plan hash, ARGV[1] the plan as JSON without
// its seq. Returns the new seq.
var putPlanScript = redis.NewScript(`
local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
redis.call('HSET', KEYS[1], 'plan', ARGV[1])
return seq
`)

// PutPlan stores p as the site's newest plan with the next Seq and returns
// it with that Seq. p must pass [site.Plan.Validate] and name the site.
func (s *Store) PutPlan(ctx context.Context, siteID string, p site.Plan) (site.Plan, error) {
	if !site.ValidResourceID(siteID) {
		return site.Plan{}, fmt.Errorf("redisstore: plan of site %q: %w", siteID, site.ErrNotFound)
	}
	if p.SiteID != siteID {
		return site.Plan{}, fmt.Errorf("redisstore: plan of site %q names site %q: %w", siteID, p.SiteID, site.ErrInvalid)
	}
	if err := p.Validate(); err != nil {
		return site.Plan{}, err
	}
	p.Seq = 0
	b, err := json.Marshal(p)
	if err != nil {
		return site.Plan{}, fmt.Errorf("redisstore: site %s: encode plan: %w: %w", siteID, site.ErrInvalid, err)
	}
	seq, err := putPlanScript.Run(ctx, s.rdb, []string{s.planKey(siteID)}, string(b)).Int64()
	if err != nil {
		return site.Plan{}, s.fail("store plan", err)
	}
	p.Seq = uint64(seq)
	return p, nil
}

// DeletePlanning removes a site's plan inputs and plan. DeleteSite does it
// with the rest of the site; this is for callers that reset planning alone.
func (s *Store) DeletePlanning(ctx context.Context, siteID string) error {
	if !site.ValidResourceID(siteID) {
		return fmt.Errorf("redisstore: planning of site %q: %w", siteID, site.ErrNotFound)
	}
	return s.fail("delete planning", s.rdb.Del(ctx, s.planKeys(siteID)...).Err())
}

package redisstore

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/smartcharge/smartcharge/site"
)

// CreateSite stores a new site with everything in c, validated whole.
// Resources' SiteID may be empty; generations start at 1.
func (s *Store) CreateSite(ctx context.Context, c site.Config) (site.Config, error) {
	const op = "create site"
	now := s.now()
	next := cloneConfig(c)
	normalize(&next)
	stampNew(&next.Site.Generation, &next.Site.CreateTime, &next.Site.UpdateTime, now)
	for i := range next.Circuits {
		stampNew(&next.Circuits[i].Generation, &next.Circuits[i].CreateTime, &next.Circuits[i].UpdateTime, now)
	}
	for i := range next.Chargers {
		stampNew(&next.Chargers[i].Generation, &next.Chargers[i].CreateTime, &next.Chargers[i].UpdateTime, now)
	}
	for i := range next.Limits {
		stampNew(&next.Limits[i].Generation, &next.Limits[i].CreateTime, &next.Limits[i].UpdateTime, now)
	}
	if err := next.Validate(); err != nil {
		return site.Config{}, fmt.Errorf("redisstore: create site %q: %w", c.Site.ID, err)
	}
	siteID := next.Site.ID
	p, err := diff(site.Config{}, next)
	if err != nil {
		return site.Config{}, s.fail(op, err)
	}

	if s.cluster {
		// List first, so a site that exists is always listed; ListSites
		// skips entries whose site is gone.
		if err := s.rdb.ZAdd(ctx, s.sitesKey(), redis.Z{Member: siteID}).Err(); err != nil {
			return site.Config{}, s.fail(op, err)
		}
	}
	err = s.retry(ctx, op, func() error {
		var claims []claim
		err := s.rdb.Watch(ctx, func(tx *redis.Tx) error {
			n, err := tx.Exists(ctx, s.configKey(siteID)).Result()
			if err != nil {
				return err
			}
			if n > 0 {
				return fmt.Errorf("redisstore: site %q: %w", siteID, site.ErrAlreadyExists)
			}
			if claims, err = s.checkIdentities(ctx, tx, siteID, &p); err != nil {
				return err
			}
			_, err = tx.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
				s.write(ctx, pipe, siteID, p)
				if !s.cluster {
					pipe.ZAdd(ctx, s.sitesKey(), redis.Z{Member: siteID})
				}
				return nil
			})
			return err
		}, s.configKey(siteID), s.revKey(siteID))
		return s.settleClaims(ctx, siteID, claims, p, err)
	})
	if err != nil {
		if s.cluster {
			s.unlistIfGone(ctx, siteID)
		}
		return site.Config{}, err
	}
	if s.cluster {
		if err := s.rdb.ZAdd(ctx, s.sitesKey(), redis.Z{Member: siteID}).Err(); err != nil {
			s.log.WarnContext(ctx, "redisstore: site created but not re-listed", "site", siteID, "err", err)
		}
	}
	sortConfig(&next)
	return next, nil
}

func stampNew(gen *int64, create, update *time.Time, now time.Time) {
	*gen, *create, *update = 1, now, now
}

// Config reads everything configured for one site, each list sorted by ID.
func (s *Store) Config(ctx context.Context, siteID string) (site.Config, error) {
	if !site.ValidResourceID(siteID) {
		return site.Config{}, fmt.Errorf("redisstore: site %q: %w", siteID, site.ErrNotFound)
	}
	c, err := s.readConfig(ctx, s.rdb, siteID)
	return c, s.fail("read config", err)
}

// Revision returns a counter that grows with every change to the site's
// configuration, for cheap polling.
func (s *Store) Revision(ctx context.Context, siteID string) (int64, error) {
	n, err := s.rdb.Get(ctx, s.revKey(siteID)).Int64()
	if errors.Is(err, redis.Nil) {
		return 0, fmt.Errorf("redisstore: site %q: %w", siteID, site.ErrNotFound)
	}
	return n, s.fail("read revision", err)
}

func (s *Store) readConfig(ctx context.Context, c redis.Cmdable, siteID string) (site.Config, error) {
	fields, err := c.HGetAll(ctx, s.configKey(siteID)).Result()
	if err != nil {
		return site.Config{}, err
	}
	if len(fields) == 0 {
		return site.Config{}, fmt.Errorf("redisstore: site %q: %w", siteID, site.ErrNotFound)
	}
	return decodeConfig(siteID, fields)
}

func decodeConfig(siteID string, fields map[string]string) (site.Config, error) {
	var c site.Config
	seenSite := false
	for f, v := range fields {
		var err error
		switch {
		case f == fieldSite:
			seenSite = true
			err = json.Unmarshal([]byte(v), &c.Site)
		case strings.HasPrefix(f, fieldCircuitPrefix):
			var x site.Circuit
			err = json.Unmarshal([]byte(v), &x)
			c.Circuits = append(c.Circuits, x)
		case strings.HasPrefix(f, fieldChargerPrefix):
			var x site.Charger
			err = json.Unmarshal([]byte(v), &x)
			c.Chargers = append(c.Chargers, x)
		case strings.HasPrefix(f, fieldLimitPrefix):
			var x site.GridLimit
			err = json.Unmarshal([]byte(v), &x)
			c.Limits = append(c.Limits, x)
		default:
			err = errors.New("unknown field")
		}
		if err != nil {
			return site.Config{}, fmt.Errorf("redisstore: site %q: corrupt field %q: %w", siteID, f, err)
		}
	}
	if !seenSite {
		return site.Config{}, fmt.Errorf("redisstore: site %q: corrupt: no site field", siteID)
	}
	sortConfig(&c)
	return c, nil
}

func sortConfig(c *site.Config) {
	slices.SortFunc(c.Circuits, func(a, b site.Circuit) int { return cmp.Compare(a.ID, b.ID) })
	slices.SortFunc(c.Chargers, func(a, b site.Charger) int { return cmp.Compare(a.ID, b.ID) })
	slices.SortFunc(c.Limits, func(a, b site.GridLimit) int { return cmp.Compare(a.ID, b.ID) })
}

// cloneConfig deep-copies c, so fn's changes and the caller's later ones
// never reach values the store holds.
func cloneConfig(c site.Config) site.Config {
	out := c
	out.Circuits = slices.Clone(c.Circuits)
	out.Limits = slices.Clone(c.Limits)
	out.Chargers = slices.Clone(c.Chargers)
	for i := range out.Chargers {
		out.Chargers[i].EVSEs = slices.Clone(out.Chargers[i].EVSEs)
	}
	return out
}

// normalize fills in the site ID and puts times in UTC, so that equal
// configurations encode equally.
func normalize(c *site.Config) {
	id := c.Site.ID
	for i := range c.Circuits {
		if c.Circuits[i].SiteID == "" {
			c.Circuits[i].SiteID = id
		}
	}
	for i := range c.Chargers {
		if c.Chargers[i].SiteID == "" {
			c.Chargers[i].SiteID = id
		}
		if len(c.Chargers[i].EVSEs) == 0 {
			c.Chargers[i].EVSEs = nil
		}
	}
	for i := range c.Limits {
		l := &c.Limits[i]
		if l.SiteID == "" {
			l.SiteID = id
		}
		if !l.Start.IsZero() {
			l.Start = l.Start.UTC().Round(0)
		}
		if !l.End.IsZero() {
			l.End = l.End.UTC().Round(0)
		}
	}
}

// UpdateConfig reads the site's configuration, lets fn change it, and
// writes the result if it is valid and nothing changed it in between.
// Deleting a circuit that still has child circuits or chargers gives
// ErrFailedPrecondition; any other broken rule a *site.ValidationError.
func (s *Store) UpdateConfig(ctx context.Context, siteID string, fn func(*site.Config) error) (site.Config, error) {
	const op = "update config"
	if !site.ValidResourceID(siteID) {
		return site.Config{}, fmt.Errorf("redisstore: site %q: %w", siteID, site.ErrNotFound)
	}
	var out site.Config
	err := s.retry(ctx, op, func() error {
		var (
			claims []claim
			p      plan
		)
		err := s.rdb.Watch(ctx, func(tx *redis.Tx) error {
			old, err := s.readConfig(ctx, tx, siteID)
			if err != nil {
				return err
			}
			next := cloneConfig(old)
			if err := fn(&next); err != nil {
				return userError{err}
			}
			if next.Site.ID != siteID {
				var v site.ValidationError
				v.Add("site.id", "cannot be changed from %q", siteID)
				return fmt.Errorf("redisstore: update site %q: %w", siteID, &v)
			}
			normalize(&next)
			if err := checkDeletions(old, next); err != nil {
				return err
			}
			stampChanges(old, &next, s.now())
			if err := next.Validate(); err != nil {
				return fmt.Errorf("redisstore: update site %q: %w", siteID, err)
			}
			if p, err = diff(old, next); err != nil {
				return err
			}
			sortConfig(&next)
			out = next
			if p.empty() {
				return nil
			}
			if claims, err = s.checkIdentities(ctx, tx, siteID, &p); err != nil {
				return err
			}
			_, err = tx.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
				s.write(ctx, pipe, siteID, p)
				return nil
			})
			return err
		}, s.configKey(siteID), s.revKey(siteID))
		return s.settleClaims(ctx, siteID, claims, p, err)
	})
	if err != nil {
		return site.Config{}, err
	}
	return out, nil
}

// checkDeletions refuses to delete a circuit something still hangs on.
func checkDeletions(old, next site.Config) error {
	kept := make(map[string]bool, len(next.Circuits))
	for _, c := range next.Circuits {
		kept[c.ID] = true
	}
	for _, c := range old.Circuits {
		if kept[c.ID] {
			continue
		}
		var users []string
		for _, n := range next.Circuits {
			if n.Parent == c.ID {
				users = append(users, "circuit "+n.ID)
			}
		}
		for _, n := range next.Chargers {
			if n.Circuit == c.ID {
				users = append(users, "charger "+n.ID)
			}
		}
		if len(users) > 0 {
			return fmt.Errorf("redisstore: site %q: cannot delete circuit %q: %s still hang on it: %w",
				old.Site.ID, c.ID, strings.Join(users, ", "), site.ErrFailedPrecondition)
		}
	}
	return nil
}

// stampChanges sets generations and times on next: unchanged resources keep
// old's, changed ones get Generation+1 and UpdateTime now, new ones start
// at 1. What fn wrote into those fields is ignored.
func stampChanges(old site.Config, next *site.Config, now time.Time) {
	stamp(&next.Site, &old.Site, siteMeta, now)
	oldCircuits := byID(old.Circuits, func(c site.Circuit) string { return c.ID })
	for i := range next.Circuits {
		stamp(&next.Circuits[i], oldCircuits[next.Circuits[i].ID], circuitMeta, now)
	}
	oldChargers := byID(old.Chargers, func(c site.Charger) string { return c.ID })
	for i := range next.Chargers {
		stamp(&next.Chargers[i], oldChargers[next.Chargers[i].ID], chargerMeta, now)
	}
	oldLimits := byID(old.Limits, func(l site.GridLimit) string { return l.ID })
	for i := range next.Limits {
		stamp(&next.Limits[i], oldLimits[next.Limits[i].ID], limitMeta, now)
	}
}

func byID[T any](xs []T, id func(T) string) map[string]*T {
	m := make(map[string]*T, len(xs))
	for i := range xs {
		m[id(xs[i])] = &xs[i]
	}
	return m
}

// meta points at a resource's Generation, CreateTime and UpdateTime.
type meta[T any] func(*T) (*int64, *time.Time, *time.Time)

func siteMeta(x *site.Site) (*int64, *time.Time, *time.Time) {
	return &x.Generation, &x.CreateTime, &x.UpdateTime
}
func circuitMeta(x *site.Circuit) (*int64, *time.Time, *time.Time) {
	return &x.Generation, &x.CreateTime, &x.UpdateTime
}
func chargerMeta(x *site.Charger) (*int64, *time.Time, *time.Time) {
	return &x.Generation, &x.CreateTime, &x.UpdateTime
}
func limitMeta(x *site.GridLimit) (*int64, *time.Time, *time.Time) {
	return &x.Generation, &x.CreateTime, &x.UpdateTime
}

func stamp[T any](next, old *T, m meta[T], now time.Time) {
	ng, nc, nu := m(next)
	if old == nil {
		*ng, *nc, *nu = 1, now, now
		return
	}
	og, oc, ou := m(old)
	if sameContent(next, old, m) {
		*ng, *nc, *nu = *og, *oc, *ou
		return
	}
	*ng, *nc, *nu = *og+1, *oc, now
}

// sameContent compares two resources by their encoding, without the meta
// fields.
func sameContent[T any](a, b *T, m meta[T]) bool {
	strip := func(x *T) []byte {
		y := *x
		g, c, u := m(&y)
		*g, *c, *u = 0, time.Time{}, time.Time{}
		out, err := json.Marshal(y)
		if err != nil {
			return nil
		}
		return out
	}
	ea, eb := strip(a), strip(b)
	return ea != nil && bytes.Equal(ea, eb)
}

// plan is what a write changes in Redis.
type plan struct {
	put     map[string]string // config hash field -> JSON
	del     []string          // config hash fields
	delKeys []string          // charger state keys of removed chargers
	// identities that point at another charger (or none) before the write,
	// and identities no charger has after it.
	added, removed map[string]site.ChargerRef
	siteID         string
	removedIDs     []string // charger IDs removed
	// ownedRemovals are removed identities whose key still points at this
	// site (one node only: deleted in the same MULTI).
	ownedRemovals []string
}

func (p plan) empty() bool { return len(p.put) == 0 && len(p.del) == 0 }

// diff computes the plan that turns old into next. old is the zero Config
// for a new site.
func diff(old, next site.Config) (plan, error) {
	p := plan{put: map[string]string{}, added: map[string]site.ChargerRef{}, removed: map[string]site.ChargerRef{}, siteID: next.Site.ID}
	oldFields, err := encodeFields(old)
	if err != nil {
		return plan{}, err
	}
	if old.Site.ID == "" {
		oldFields = nil
	}
	newFields, err := encodeFields(next)
	if err != nil {
		return plan{}, err
	}
	for f, v := range newFields {
		if oldFields[f] != v {
			p.put[f] = v
		}
	}
	for f := range oldFields {
		if _, ok := newFields[f]; !ok {
			p.del = append(p.del, f)
			if id, ok := strings.CutPrefix(f, fieldChargerPrefix); ok {
				p.removedIDs = append(p.removedIDs, id)
			}
		}
	}
	slices.Sort(p.del)
	oldIDs := identities(old)
	newIDs := identities(next)
	for identity, ref := range newIDs {
		if oldIDs[identity] != ref {
			p.added[identity] = ref
		}
	}
	for identity, ref := range oldIDs {
		if _, ok := newIDs[identity]; !ok {
			p.removed[identity] = ref
		}
	}
	return p, nil
}

func identities(c site.Config) map[string]site.ChargerRef {
	m := make(map[string]site.ChargerRef, len(c.Chargers))
	for _, ch := range c.Chargers {
		m[ch.OCPPIdentity] = site.ChargerRef{SiteID: c.Site.ID, ChargerID: ch.ID}
	}
	return m
}

func encodeFields(c site.Config) (map[string]string, error) {
	m := make(map[string]string, 1+len(c.Circuits)+len(c.Chargers)+len(c.Limits))
	put := func(f string, v any) error {
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("encode %s: %w", f, err)
		}
		m[f] = string(b)
		return nil
	}
	if err := put(fieldSite, c.Site); err != nil {
		return nil, err
	}
	for _, x := range c.Circuits {
		if err := put(fieldCircuitPrefix+x.ID, x); err != nil {
			return nil, err
		}
	}
	for _, x := range c.Chargers {
		if err := put(fieldChargerPrefix+x.ID, x); err != nil {
			return nil, err
		}
	}
	for _, x := range c.Limits {
		if err := put(fieldLimitPrefix+x.ID, x); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// write queues the per-site part of p (and, on one node, the identity
// keys) into a MULTI.
func (s *Store) write(ctx context.Context, pipe redis.Pipeliner, siteID string, p plan) {
	key := s.configKey(siteID)
	if len(p.put) > 0 {
		args := make([]any, 0, 2*len(p.put))
		for _, f := range slices.Sorted(mapKeys(p.put)) {
			args = append(args, f, p.put[f])
		}
		pipe.HSet(ctx, key, args...)
	}
	if len(p.del) > 0 {
		pipe.HDel(ctx, key, p.del...)
	}
	for _, id := range p.removedIDs {
		pipe.Del(ctx, s.stateKey(site.ChargerRef{SiteID: siteID, ChargerID: id}))
	}
	pipe.Incr(ctx, s.revKey(siteID))
	if !s.cluster {
		for identity, ref := range p.added {
			pipe.Set(ctx, s.identityKey(identity), finalValue(ref), 0)
		}
		for _, identity := range p.ownedRemovals {
			pipe.Del(ctx, s.identityKey(identity))
		}
	}
}

func mapKeys[K comparable, V any](m map[K]V) func(func(K) bool) {
	return func(yield func(K) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// DeleteSite removes a site, its chargers' state and their identities,
// its plan, the control loop's state (:loop) and the delegation outbox's
// pending commands (:outbox), all in the site's one MULTI/EXEC. The
// outbox's counter (:outbox:seq) is kept so that Seq keeps growing if the
// site is created again: a CSMS resuming after a Seq it acknowledged
// before the delete would otherwise skip the new site's first commands.
func (s *Store) DeleteSite(ctx context.Context, siteID string, expectGeneration int64) error {
	const op = "delete site"
	if !site.ValidResourceID(siteID) {
		return fmt.Errorf("redisstore: site %q: %w", siteID, site.ErrNotFound)
	}
	var removed map[string]site.ChargerRef
	err := s.retry(ctx, op, func() error {
		return s.rdb.Watch(ctx, func(tx *redis.Tx) error {
			old, err := s.readConfig(ctx, tx, siteID)
			if err != nil {
				return err
			}
			if expectGeneration != 0 && old.Site.Generation != expectGeneration {
				return fmt.Errorf("redisstore: site %q has generation %d, not %d: %w",
					siteID, old.Site.Generation, expectGeneration, site.ErrConflict)
			}
			removed = identities(old)
			var owned []string
			if !s.cluster {
				if owned, err = s.ownedIdentities(ctx, tx, removed); err != nil {
					return err
				}
			}
			_, err = tx.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
				keys := append([]string{s.configKey(siteID), s.revKey(siteID), s.loopKey(siteID), s.outboxKey(siteID)}, s.planKeys(siteID)...)
				for _, ch := range old.Chargers {
					keys = append(keys, s.stateKey(site.ChargerRef{SiteID: siteID, ChargerID: ch.ID}))
				}
				pipe.Del(ctx, keys...)
				if !s.cluster {
					pipe.ZRem(ctx, s.sitesKey(), siteID)
					for _, identity := range owned {
						pipe.Del(ctx, s.identityKey(identity))
					}
				}
				return nil
			})
			return err
		}, s.configKey(siteID), s.revKey(siteID))
	})
	if err != nil {
		return err
	}
	if s.cluster {
		s.releaseIdentities(ctx, removed)
		s.unlistIfGone(ctx, siteID)
	}
	return nil
}

// unlistIfGone removes a site from the listing unless it exists; the
// listing is re-added when it appeared meanwhile, so a racing CreateSite
// is never left unlisted.
func (s *Store) unlistIfGone(ctx context.Context, siteID string) {
	ctx, cancel := cleanupCtx(ctx)
	defer cancel()
	n, err := s.rdb.Exists(ctx, s.configKey(siteID)).Result()
	if err != nil || n > 0 {
		return
	}
	if err := s.rdb.ZRem(ctx, s.sitesKey(), siteID).Err(); err != nil {
		s.log.WarnContext(ctx, "redisstore: stale site listing left (ListSites skips it)", "site", siteID, "err", err)
		return
	}
	if n, err := s.rdb.Exists(ctx, s.configKey(siteID)).Result(); err == nil && n > 0 {
		_ = s.rdb.ZAdd(ctx, s.sitesKey(), redis.Z{Member: siteID}).Err()
	}
}

// ListSites returns up to limit sites with IDs above after, by ID. A limit
// of 0 or less means 100.
func (s *Store) ListSites(ctx context.Context, after string, limit int) ([]site.Site, error) {
	const op = "list sites"
	if limit <= 0 {
		limit = 100
	}
	min := "-"
	if after != "" {
		min = "(" + after
	}
	var out []site.Site
	for len(out) < limit {
		want := limit - len(out)
		ids, err := s.rdb.ZRangeByLex(ctx, s.sitesKey(), &redis.ZRangeBy{Min: min, Max: "+", Count: int64(want)}).Result()
		if err != nil {
			return nil, s.fail(op, err)
		}
		if len(ids) == 0 {
			break
		}
		cmds, err := s.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
			for _, id := range ids {
				pipe.HGet(ctx, s.configKey(id), fieldSite)
			}
			return nil
		})
		if err != nil && !errors.Is(err, redis.Nil) {
			return nil, s.fail(op, err)
		}
		for i, cmd := range cmds {
			v, err := cmd.(*redis.StringCmd).Result()
			if errors.Is(err, redis.Nil) {
				continue // listed before it was written, or deleted: skip
			}
			if err != nil {
				return nil, s.fail(op, err)
			}
			var st site.Site
			if err := json.Unmarshal([]byte(v), &st); err != nil {
				return nil, fmt.Errorf("redisstore: site %q: corrupt: %w", ids[i], err)
			}
			out = append(out, st)
		}
		min = "(" + ids[len(ids)-1]
		if len(ids) < want {
			break
		}
	}
	return out, nil
}

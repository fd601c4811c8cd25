package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/smartcharge/smartcharge/site"
)

// Values of identity keys: "site/charger" once the charger is stored, or
// "site/charger@<unix ms>@<nonce>" while a cluster-safe write that adds it
// is in flight (a claim). IDs contain neither '/' nor '@'.

func finalValue(ref site.ChargerRef) string { return ref.SiteID + "/" + ref.ChargerID }

func pendingValue(ref site.ChargerRef, now time.Time) string {
	return finalValue(ref) + "@" + strconv.FormatInt(now.UnixMilli(), 10) + "@" + strconv.FormatUint(rand.Uint64(), 36)
}

type identityValue struct {
	ref     site.ChargerRef
	pending bool
	since   time.Time
}

func parseIdentityValue(v string) (identityValue, bool) {
	refPart, rest, pending := strings.Cut(v, "@")
	siteID, chargerID, ok := strings.Cut(refPart, "/")
	if !ok || !site.ValidResourceID(siteID) || !site.ValidResourceID(chargerID) {
		return identityValue{}, false
	}
	iv := identityValue{ref: site.ChargerRef{SiteID: siteID, ChargerID: chargerID}, pending: pending}
	if pending {
		ms, _, _ := strings.Cut(rest, "@")
		n, err := strconv.ParseInt(ms, 10, 64)
		if err != nil {
			return identityValue{}, false
		}
		iv.since = time.UnixMilli(n)
	}
	return iv, true
}

// casScript sets KEYS[1] to ARGV[2] ("" deletes it) if its value is
// ARGV[1] ("" means absent). It touches one key, so it runs on a cluster.
var casScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v == false then v = '' end
if v ~= ARGV[1] then return 0 end
if ARGV[2] == '' then redis.call('DEL', KEYS[1]) else redis.call('SET', KEYS[1], ARGV[2]) end
return 1
`)

func (s *Store) cas(ctx context.Context, key, from, to string) (bool, error) {
	n, err := casScript.Run(ctx, s.rdb, []string{key}, from, to).Int()
	return n == 1, err
}

// claim is an identity key a cluster-safe write set to its pending value.
type claim struct {
	key, pending, final string
}

// holds reports whether ref's stored charger has the identity: the site's
// configuration is the truth, identity keys only an index.
func (s *Store) holds(ctx context.Context, c redis.Cmdable, ref site.ChargerRef, identity string) (bool, error) {
	v, err := c.HGet(ctx, s.configKey(ref.SiteID), fieldChargerPrefix+ref.ChargerID).Result()
	if errors.Is(err, redis.Nil) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	var ch site.Charger
	if err := json.Unmarshal([]byte(v), &ch); err != nil {
		return false, fmt.Errorf("redisstore: charger %s: corrupt: %w", ref, err)
	}
	return ch.OCPPIdentity == identity, nil
}

// taken decides whether an existing identity key blocks siteID from using
// the identity. c reads other sites' configuration.
func (s *Store) taken(ctx context.Context, c redis.Cmdable, siteID, identity, cur string) error {
	iv, ok := parseIdentityValue(cur)
	if !ok {
		s.log.WarnContext(ctx, "redisstore: replacing corrupt OCPP identity key", "identity", identity, "value", cur)
		return nil
	}
	fresh := iv.pending && s.now().Sub(iv.since) < s.claimTimeout
	if iv.ref.SiteID == siteID {
		if fresh {
			// A concurrent write to this site is claiming it; one of us
			// loses the WATCH. Try again once it settled.
			return errRetry
		}
		return nil // our own (we hold the site's WATCH)
	}
	held, err := s.holds(ctx, c, iv.ref, identity)
	if err != nil {
		return err
	}
	if held || fresh {
		return fmt.Errorf("redisstore: OCPP identity %q is registered to %s: %w", identity, iv.ref, site.ErrAlreadyExists)
	}
	s.log.InfoContext(ctx, "redisstore: taking over stale OCPP identity key", "identity", identity, "was", cur)
	return nil
}

// checkIdentities makes sure the identities p adds are free. On one node it
// watches their keys (and the owners' configurations) in tx, so the MULTI
// writes them atomically with the site. In cluster-safe mode it claims
// them now; the caller settles the claims with settleClaims.
func (s *Store) checkIdentities(ctx context.Context, tx *redis.Tx, siteID string, p *plan) ([]claim, error) {
	added := slices.Sorted(mapKeys(p.added))
	if !s.cluster {
		for _, identity := range added {
			key := s.identityKey(identity)
			if err := tx.Watch(ctx, key).Err(); err != nil {
				return nil, err
			}
			cur, err := tx.Get(ctx, key).Result()
			if errors.Is(err, redis.Nil) {
				continue
			}
			if err != nil {
				return nil, err
			}
			if iv, ok := parseIdentityValue(cur); ok && iv.ref.SiteID != siteID {
				if err := tx.Watch(ctx, s.configKey(iv.ref.SiteID)).Err(); err != nil {
					return nil, err
				}
			}
			if err := s.taken(ctx, tx, siteID, identity, cur); err != nil {
				return nil, err
			}
		}
		owned, err := s.ownedIdentities(ctx, tx, p.removed)
		p.ownedRemovals = owned
		return nil, err
	}

	var claims []claim
	for _, identity := range added {
		key := s.identityKey(identity)
		cur, err := s.rdb.Get(ctx, key).Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			s.release(ctx, claims)
			return nil, err
		}
		if cur != "" {
			if err := s.taken(ctx, s.rdb, siteID, identity, cur); err != nil {
				s.release(ctx, claims)
				return nil, err
			}
		}
		ref := p.added[identity]
		c := claim{key: key, pending: pendingValue(ref, s.now()), final: finalValue(ref)}
		ok, err := s.cas(ctx, key, cur, c.pending)
		if err != nil || !ok {
			s.release(ctx, claims)
			if err != nil {
				return nil, err
			}
			return nil, errRetry // someone changed the key since we read it
		}
		claims = append(claims, c)
	}
	return claims, nil
}

// ownedIdentities returns the identities in removed whose keys still point
// at their charger, watching the keys (one node only).
func (s *Store) ownedIdentities(ctx context.Context, tx *redis.Tx, removed map[string]site.ChargerRef) ([]string, error) {
	var owned []string
	for _, identity := range slices.Sorted(mapKeys(removed)) {
		key := s.identityKey(identity)
		if err := tx.Watch(ctx, key).Err(); err != nil {
			return nil, err
		}
		cur, err := tx.Get(ctx, key).Result()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if cur == finalValue(removed[identity]) {
			owned = append(owned, identity)
		}
	}
	return owned, nil
}

// settleClaims finishes a cluster-safe write: after a failure it releases
// the claims; after success it makes them final and drops the keys of
// removed identities. A crash in between leaves keys that readers repair:
// see the package documentation.
func (s *Store) settleClaims(ctx context.Context, siteID string, claims []claim, p plan, err error) error {
	if !s.cluster {
		return err
	}
	if err != nil {
		s.release(ctx, claims)
		return err
	}
	cctx, cancel := cleanupCtx(ctx)
	defer cancel()
	for _, c := range claims {
		if ok, err := s.cas(cctx, c.key, c.pending, c.final); err != nil || !ok {
			s.log.ErrorContext(ctx, "redisstore: could not finish OCPP identity claim", "site", siteID, "key", c.key, "err", err)
		}
	}
	s.releaseIdentities(ctx, p.removed)
	return nil
}

// release drops claims that were not used.
func (s *Store) release(ctx context.Context, claims []claim) {
	if len(claims) == 0 {
		return
	}
	ctx, cancel := cleanupCtx(ctx)
	defer cancel()
	for _, c := range claims {
		if _, err := s.cas(ctx, c.key, c.pending, ""); err != nil {
			s.log.WarnContext(ctx, "redisstore: could not release OCPP identity claim (it expires)", "key", c.key, "err", err)
		}
	}
}

// releaseIdentities deletes identity keys that still point at the charger
// that no longer has them.
func (s *Store) releaseIdentities(ctx context.Context, removed map[string]site.ChargerRef) {
	if len(removed) == 0 {
		return
	}
	ctx, cancel := cleanupCtx(ctx)
	defer cancel()
	for identity, ref := range removed {
		if _, err := s.cas(ctx, s.identityKey(identity), finalValue(ref), ""); err != nil {
			s.log.WarnContext(ctx, "redisstore: stale OCPP identity key left (readers skip it)", "identity", identity, "err", err)
		}
	}
}

// ChargerByIdentity finds the charger registered with an OCPP identity.
// The identity key is only an index: the answer is checked against the
// site's configuration, so stale keys give ErrNotFound.
func (s *Store) ChargerByIdentity(ctx context.Context, identity string) (site.ChargerRef, error) {
	const op = "charger by identity"
	notFound := fmt.Errorf("redisstore: OCPP identity %q: %w", identity, site.ErrNotFound)
	if !site.ValidOCPPIdentity(identity) {
		return site.ChargerRef{}, notFound
	}
	key := s.identityKey(identity)
	cur, err := s.rdb.Get(ctx, key).Result()
	if errors.Is(err, redis.Nil) {
		return site.ChargerRef{}, notFound
	}
	if err != nil {
		return site.ChargerRef{}, s.fail(op, err)
	}
	iv, ok := parseIdentityValue(cur)
	if !ok {
		return site.ChargerRef{}, notFound
	}
	held, err := s.holds(ctx, s.rdb, iv.ref, identity)
	if err != nil {
		return site.ChargerRef{}, s.fail(op, err)
	}
	if !held {
		return site.ChargerRef{}, notFound
	}
	if iv.pending && s.now().Sub(iv.since) >= s.claimTimeout {
		// The writer stored the charger but died before finishing its
		// claim: finish it.
		if _, err := s.cas(ctx, key, cur, finalValue(iv.ref)); err != nil {
			s.log.WarnContext(ctx, "redisstore: could not repair OCPP identity key", "identity", identity, "err", err)
		}
	}
	return iv.ref, nil
}

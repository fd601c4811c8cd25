package redisstore

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/smartcharge/smartcharge/site"
)

// The delegation outbox ([site.OutboxStore]) of a site lives in two keys of
// the site's hash slot:
//
//	sc:{site:<id>}:outbox:seq   integer, the last Seq handed out
//	sc:{site:<id>}:outbox       sorted set, score Seq, member "<seq>|<JSON site.DelegatedCommand>"
//
// Enqueue increments the counter and adds the command in one Lua script,
// so a reader never sees Seq n without every pending Seq below it.

var _ site.OutboxStore = (*Store)(nil)

func (s *Store) outboxKey(siteID string) string    { return s.siteTag(siteID) + ":outbox" }
func (s *Store) outboxSeqKey(siteID string) string { return s.siteTag(siteID) + ":outbox:seq" }

// enqueueScript: KEYS[1] counter, KEYS[2] sorted set, ARGV[1] the command
// as JSON without its Seq. Returns the Seq.
var enqueueScript = redis.NewScript(`
local seq = redis.call('INCR', KEYS[1])
redis.call('ZADD', KEYS[2], seq, seq .. '|' .. ARGV[1])
return seq
`)

// Enqueue stores cmd with the site's next Seq.
func (s *Store) Enqueue(ctx context.Context, siteID string, cmd site.DelegatedCommand) (site.DelegatedCommand, error) {
	cmd.Seq = 0
	if cmd.Created.IsZero() {
		cmd.Created = s.clock.Now()
	}
	b, err := json.Marshal(cmd)
	if err != nil {
		return cmd, fmt.Errorf("redisstore: outbox: encode command: %w", err)
	}
	seq, err := enqueueScript.Run(ctx, s.rdb, []string{s.outboxSeqKey(siteID), s.outboxKey(siteID)}, string(b)).Int64()
	if err != nil {
		return cmd, s.fail("outbox enqueue", err)
	}
	cmd.Seq = uint64(seq)
	return cmd, nil
}

// Pending returns up to limit unacknowledged commands above after.
func (s *Store) Pending(ctx context.Context, siteID string, after uint64, limit int) ([]site.DelegatedCommand, error) {
	if limit <= 0 {
		return nil, nil
	}
	members, err := s.rdb.ZRangeByScore(ctx, s.outboxKey(siteID), &redis.ZRangeBy{
		Min: "(" + strconv.FormatUint(after, 10), Max: "+inf", Count: int64(limit),
	}).Result()
	if err != nil {
		return nil, s.fail("outbox pending", err)
	}
	out := make([]site.DelegatedCommand, 0, len(members))
	for _, m := range members {
		head, body, ok := strings.Cut(m, "|")
		seq, perr := strconv.ParseUint(head, 10, 64)
		if !ok || perr != nil {
			return nil, fmt.Errorf("redisstore: outbox of site %q: malformed entry %.40q", siteID, m)
		}
		var cmd site.DelegatedCommand
		if err := json.Unmarshal([]byte(body), &cmd); err != nil {
			return nil, fmt.Errorf("redisstore: outbox of site %q: entry %d: %w", siteID, seq, err)
		}
		cmd.Seq = seq
		out = append(out, cmd)
	}
	return out, nil
}

// Acknowledge removes the command with seq.
func (s *Store) Acknowledge(ctx context.Context, siteID string, seq uint64) (bool, error) {
	n := strconv.FormatUint(seq, 10)
	removed, err := s.rdb.ZRemRangeByScore(ctx, s.outboxKey(siteID), n, n).Result()
	if err != nil {
		return false, s.fail("outbox acknowledge", err)
	}
	return removed > 0, nil
}

// LastSeq is the highest Seq handed out for the site.
func (s *Store) LastSeq(ctx context.Context, siteID string) (uint64, error) {
	v, err := s.rdb.Get(ctx, s.outboxSeqKey(siteID)).Uint64()
	if err == redis.Nil {
		return 0, nil
	}
	if err != nil {
		return 0, s.fail("outbox last seq", err)
	}
	return v, nil
}

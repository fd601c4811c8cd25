package apiserver

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/smartcharge/smartcharge/site"
	"github.com/smartcharge/smartcharge/site/redisstore"
	"github.com/smartcharge/smartcharge/site/storetest/redistest"
)

// factories lists the stores every end-to-end test runs on: the in-memory
// fake, the Redis store on miniredis and on a real redis-server (skipped
// when redis-server is missing, failed when CI=true). Each Redis server is
// started once for the calling test; every env gets its own key prefix.
func factories(t *testing.T) []storeFactory {
	t.Helper()
	mini := miniredis.RunT(t)
	real := redistest.Start(t)
	return []storeFactory{
		memFactory,
		redisFactory("miniredis", mini.Addr()),
		redisFactory("redis-server", real),
	}
}

func redisFactory(name, addr string) storeFactory {
	var n atomic.Int64
	return storeFactory{name, func(t *testing.T, clock site.Clock) site.Store {
		t.Helper()
		s := redisstore.New(redis.NewClient(&redis.Options{Addr: addr}), &redisstore.Options{
			KeyPrefix: fmt.Sprintf("t%d", n.Add(1)),
			Clock:     clock,
		})
		if _, err := s.Migrate(t.Context()); err != nil {
			t.Fatalf("migrate: %v", err)
		}
		return s
	}}
}

package redisstore

import (
	"fmt"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// StartEmbedded starts an in-process Redis (miniredis) on 127.0.0.1 on a
// free port, for running without a Redis server. It keeps data in memory
// only: everything is lost when the process ends. The caller closes it.
func StartEmbedded() (*miniredis.Miniredis, error) {
	m := miniredis.NewMiniRedis()
	if err := m.StartAddr("127.0.0.1:0"); err != nil {
		return nil, fmt.Errorf("redisstore: start embedded redis: %w", err)
	}
	return m, nil
}

// NewEmbedded returns a store on a fresh embedded Redis; Close stops it.
func NewEmbedded(opts *Options) (*Store, error) {
	m, err := StartEmbedded()
	if err != nil {
		return nil, err
	}
	s := New(redis.NewClient(&redis.Options{Addr: m.Addr()}), opts)
	s.onClose = append(s.onClose, func() error { m.Close(); return nil })
	return s, nil
}

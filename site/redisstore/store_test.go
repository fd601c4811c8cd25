package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/smartcharge/smartcharge/site"
	"github.com/smartcharge/smartcharge/site/redisstore"
	"github.com/smartcharge/smartcharge/site/storetest"
	"github.com/smartcharge/smartcharge/site/storetest/redistest"
)

// prefixes gives every store in a test its own key space on a shared server.
var prefixes atomic.Int64

func newPrefix() string { return fmt.Sprintf("t%d", prefixes.Add(1)) }

func TestConformanceRedisServer(t *testing.T) {
	addr := redistest.Start(t)
	for _, mode := range []struct {
		desc        string
		clusterSafe bool
	}{{"single node", false}, {"cluster-safe protocol", true}} {
		t.Run(mode.desc, func(t *testing.T) {
			storetest.Run(t, func(t *testing.T) site.Store {
				return redisstore.New(redis.NewClient(&redis.Options{Addr: addr}),
					&redisstore.Options{KeyPrefix: newPrefix(), ClusterSafe: mode.clusterSafe})
			})
		})
	}
}

func TestConformanceRedisCluster(t *testing.T) {
	srv := redistest.StartServer(t, &redistest.Options{Cluster: true})
	storetest.Run(t, func(t *testing.T) site.Store {
		return redisstore.New(redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{srv.Addr}}),
			&redisstore.Options{KeyPrefix: newPrefix()})
	})
}

func TestConformanceMiniredis(t *testing.T) {
	m, err := redisstore.StartEmbedded()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	for _, mode := range []struct {
		desc        string
		clusterSafe bool
	}{{"single node", false}, {"cluster-safe protocol", true}} {
		t.Run(mode.desc, func(t *testing.T) {
			storetest.Run(t, func(t *testing.T) site.Store {
				return redisstore.New(redis.NewClient(&redis.Options{Addr: m.Addr()}),
					&redisstore.Options{KeyPrefix: newPrefix(), ClusterSafe: mode.clusterSafe})
			})
		})
	}
}

func TestNewEmbedded(t *testing.T) {
	s, err := redisstore.NewEmbedded(nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateSite(t.Context(), storetest.Config("alpha")); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	_, err = s.Config(context.Background(), "alpha")
	if !errors.Is(err, site.ErrUnavailable) {
		t.Errorf("Config on a closed store: %v, want ErrUnavailable", err)
	}
}

// fakeClock is a settable clock.
type fakeClock struct{ t atomic.Pointer[time.Time] }

func newFakeClock(t time.Time) *fakeClock { c := &fakeClock{}; c.Set(t); return c }
func (c *fakeClock) Now() time.Time       { return *c.t.Load() }
func (c *fakeClock) Set(t time.Time)      { c.t.Store(&t) }

func TestKeyLayout(t *testing.T) {
	m := miniredis.RunT(t)
	clock := newFakeClock(time.Date(2026, 4, 1, 10, 0, 0, 0, time.UTC))
	s := redisstore.New(redis.NewClient(&redis.Options{Addr: m.Addr()}), &redisstore.Options{Clock: clock})
	defer s.Close()
	ctx := t.Context()
	if v, err := s.Migrate(ctx); err != nil || v != redisstore.SchemaVersion {
		t.Fatalf("Migrate = %d, %v", v, err)
	}
	c, err := s.CreateSite(ctx, storetest.Config("alpha"))
	if err != nil {
		t.Fatal(err)
	}
	if !c.Site.CreateTime.Equal(clock.Now()) {
		t.Errorf("CreateTime %v, want the injected clock's %v", c.Site.CreateTime, clock.Now())
	}
	if _, err := s.UpdateChargerState(ctx, site.ChargerRef{SiteID: "alpha", ChargerID: "cp-1"}, func(st *site.ChargerState) error { st.Connected = true; return nil }); err != nil {
		t.Fatal(err)
	}
	keys := m.Keys()
	want := []string{"sc:ocpp:alpha-CP1", "sc:ocpp:alpha-CP2", "sc:schema_version", "sc:sites",
		"sc:{site:alpha}:charger:cp-1:state", "sc:{site:alpha}:config", "sc:{site:alpha}:rev"}
	if !slices.Equal(keys, want) {
		t.Errorf("keys %q, want %q", keys, want)
	}
	fields, _ := m.HKeys("sc:{site:alpha}:config")
	wantFields := []string{"charger:cp-1", "charger:cp-2", "circuit:main", "circuit:sub", "limit:dso", "site"}
	if !slices.Equal(fields, wantFields) {
		t.Errorf("config fields %q, want %q", fields, wantFields)
	}
	if v, _ := m.Get("sc:ocpp:alpha-CP1"); v != "alpha/cp-1" {
		t.Errorf("identity key = %q", v)
	}
	if rev, err := s.Revision(ctx, "alpha"); err != nil || rev != 1 {
		t.Errorf("Revision = %d, %v", rev, err)
	}
	clock.Set(clock.Now().Add(time.Hour))
	c2, err := s.UpdateConfig(ctx, "alpha", func(c *site.Config) error { c.Limits[0].Reason = "new"; return nil })
	if err != nil {
		t.Fatal(err)
	}
	if !c2.Limits[0].UpdateTime.Equal(clock.Now()) || !c2.Limits[0].CreateTime.Equal(c.Limits[0].CreateTime) {
		t.Errorf("limit times after update: %v / %v", c2.Limits[0].CreateTime, c2.Limits[0].UpdateTime)
	}
	if rev, _ := s.Revision(ctx, "alpha"); rev != 2 {
		t.Errorf("Revision after update = %d, want 2", rev)
	}
	if err := s.DeleteSite(ctx, "alpha", 0); err != nil {
		t.Fatal(err)
	}
	if keys := m.Keys(); !slices.Equal(keys, []string{"sc:schema_version"}) {
		t.Errorf("keys after delete: %q", keys)
	}
}

func TestMigrate(t *testing.T) {
	var ran []int
	step := func(v int) redisstore.Migration {
		return redisstore.Migration{To: v, Name: fmt.Sprintf("to-%d", v), Up: func(ctx context.Context, rdb redis.UniversalClient, prefix string) error {
			ran = append(ran, v)
			return rdb.Set(ctx, prefix+":migrated", v, 0).Err()
		}}
	}
	tests := []struct {
		desc       string
		stored     string // "" means no version key
		withSites  bool
		migrations []redisstore.Migration
		wantRan    []int
		wantVer    int
		wantErr    error
	}{
		{desc: "empty database gets the current version", wantVer: 1},
		{desc: "empty database skips migrations", migrations: []redisstore.Migration{step(2)}, wantVer: 2},
		{desc: "data without version is version 1", withSites: true, migrations: []redisstore.Migration{step(3), step(2)}, wantRan: []int{2, 3}, wantVer: 3},
		{desc: "runs from the stored version", stored: "2", migrations: []redisstore.Migration{step(2), step(3)}, wantRan: []int{3}, wantVer: 3},
		{desc: "up to date", stored: "1", wantVer: 1},
		{desc: "newer data is refused", stored: "7", wantVer: 7, wantErr: redisstore.ErrSchemaTooNew},
		{desc: "missing step", stored: "1", migrations: []redisstore.Migration{step(3)}, wantVer: 1, wantErr: errAny},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			ran = nil
			m := miniredis.RunT(t)
			if tt.stored != "" {
				m.Set("sc:schema_version", tt.stored)
			}
			if tt.withSites {
				m.ZAdd("sc:sites", 0, "alpha")
			}
			s := redisstore.New(redis.NewClient(&redis.Options{Addr: m.Addr()}), &redisstore.Options{Migrations: tt.migrations})
			defer s.Close()
			v, err := s.Migrate(t.Context())
			switch {
			case tt.wantErr == errAny && err == nil, tt.wantErr != errAny && !errors.Is(err, tt.wantErr):
				t.Fatalf("Migrate error %v, want %v", err, tt.wantErr)
			}
			if v != tt.wantVer || !slices.Equal(ran, tt.wantRan) {
				t.Errorf("Migrate = %d, ran %v; want %d, %v", v, ran, tt.wantVer, tt.wantRan)
			}
			if got, _ := m.Get("sc:schema_version"); tt.wantErr == nil && got != fmt.Sprint(tt.wantVer) {
				t.Errorf("stored version %q, want %d", got, tt.wantVer)
			}
			if m.Exists("sc:migrate_lock") {
				t.Errorf("migration lock left behind")
			}
		})
	}
}

var errAny = errors.New("any error")

func TestMigrateLocked(t *testing.T) {
	m := miniredis.RunT(t)
	m.Set("sc:migrate_lock", "someone")
	s := redisstore.New(redis.NewClient(&redis.Options{Addr: m.Addr()}), nil)
	defer s.Close()
	if _, err := s.Migrate(t.Context()); !errors.Is(err, site.ErrUnavailable) {
		t.Errorf("Migrate while locked: %v, want ErrUnavailable", err)
	}
}

// TestStaleIdentityKeys covers the repair of identity keys a crashed
// cluster-safe writer leaves behind (see doc.go).
func TestStaleIdentityKeys(t *testing.T) {
	now := time.Date(2026, 4, 1, 10, 0, 0, 0, time.UTC)
	pending := func(ref string, at time.Time) string { return fmt.Sprintf("%s@%d@x", ref, at.UnixMilli()) }
	tests := []struct {
		desc      string
		key       string // value of sc:ocpp:X before beta takes X
		wantErr   error
		wantOwner string // ChargerByIdentity(X) before beta's attempt: "" = not found
	}{
		{desc: "key of a deleted site", key: "gone/cp-1", wantOwner: ""},
		{desc: "key of a charger that changed identity", key: "alpha/cp-1", wantOwner: ""},
		{desc: "corrupt key", key: "garbage", wantOwner: ""},
		{desc: "fresh claim of a writer in flight", key: pending("gone/cp-1", now.Add(-time.Second)), wantErr: site.ErrAlreadyExists},
		{desc: "expired claim of a crashed writer", key: pending("gone/cp-1", now.Add(-2*time.Minute))},
		{desc: "real owner", key: "alpha/cp-2", wantErr: site.ErrAlreadyExists, wantOwner: "alpha/cp-2"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			m := miniredis.RunT(t)
			s := redisstore.New(redis.NewClient(&redis.Options{Addr: m.Addr()}),
				&redisstore.Options{ClusterSafe: true, Clock: newFakeClock(now)})
			defer s.Close()
			ctx := t.Context()
			alpha := storetest.Config("alpha")
			alpha.Chargers[1].OCPPIdentity = "X"
			if _, err := s.CreateSite(ctx, alpha); err != nil {
				t.Fatal(err)
			}
			if tt.wantOwner != "alpha/cp-2" {
				if _, err := s.UpdateConfig(ctx, "alpha", func(c *site.Config) error { c.Chargers[1].OCPPIdentity = "Y"; return nil }); err != nil {
					t.Fatal(err)
				}
			}
			m.Set("sc:ocpp:X", tt.key)
			ref, err := s.ChargerByIdentity(ctx, "X")
			if got := ""; err == nil {
				got = ref.SiteID + "/" + ref.ChargerID
				if got != tt.wantOwner {
					t.Errorf("ChargerByIdentity = %s, want %q", got, tt.wantOwner)
				}
			} else if !errors.Is(err, site.ErrNotFound) || tt.wantOwner != "" {
				t.Errorf("ChargerByIdentity: %v, want owner %q", err, tt.wantOwner)
			}
			beta := storetest.Config("beta")
			beta.Chargers[0].OCPPIdentity = "X"
			_, err = s.CreateSite(ctx, beta)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("CreateSite(beta with X): %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr != nil {
				return
			}
			if ref, err := s.ChargerByIdentity(ctx, "X"); err != nil || ref.SiteID != "beta" {
				t.Errorf("after take-over ChargerByIdentity = %v, %v", ref, err)
			}
			if v, _ := m.Get("sc:ocpp:X"); v != "beta/cp-1" {
				t.Errorf("identity key %q after take-over", v)
			}
		})
	}
}

// TestUnfinishedClaimRepaired: a writer stored the charger but died before
// making its claim final; a reader finishes it once the claim expired.
func TestUnfinishedClaimRepaired(t *testing.T) {
	now := time.Date(2026, 4, 1, 10, 0, 0, 0, time.UTC)
	m := miniredis.RunT(t)
	clock := newFakeClock(now)
	s := redisstore.New(redis.NewClient(&redis.Options{Addr: m.Addr()}), &redisstore.Options{ClusterSafe: true, Clock: clock})
	defer s.Close()
	if _, err := s.CreateSite(t.Context(), storetest.Config("alpha")); err != nil {
		t.Fatal(err)
	}
	m.Set("sc:ocpp:alpha-CP1", fmt.Sprintf("alpha/cp-1@%d@x", now.UnixMilli()))
	for _, advance := range []time.Duration{0, 2 * time.Minute} {
		clock.Set(now.Add(advance))
		if ref, err := s.ChargerByIdentity(t.Context(), "alpha-CP1"); err != nil || ref.ChargerID != "cp-1" {
			t.Fatalf("ChargerByIdentity after %v = %v, %v", advance, ref, err)
		}
	}
	if v, _ := m.Get("sc:ocpp:alpha-CP1"); v != "alpha/cp-1" {
		t.Errorf("identity key %q, want it finished", v)
	}
	// Another site cannot take it.
	beta := storetest.Config("beta")
	beta.Chargers[0].OCPPIdentity = "alpha-CP1"
	if _, err := s.CreateSite(t.Context(), beta); !errors.Is(err, site.ErrAlreadyExists) {
		t.Errorf("CreateSite with alpha's identity: %v", err)
	}
}

func TestListSkipsStaleEntries(t *testing.T) {
	m := miniredis.RunT(t)
	s := redisstore.New(redis.NewClient(&redis.Options{Addr: m.Addr()}), &redisstore.Options{ClusterSafe: true})
	defer s.Close()
	for _, id := range []string{"a", "c", "e"} {
		if _, err := s.CreateSite(t.Context(), storetest.Config(id)); err != nil {
			t.Fatal(err)
		}
	}
	m.ZAdd("sc:sites", 0, "b") // listed by a writer that died before writing
	m.ZAdd("sc:sites", 0, "d")
	got, err := s.ListSites(t.Context(), "", 2)
	if err != nil || len(got) != 2 || got[0].ID != "a" || got[1].ID != "c" {
		t.Errorf("ListSites(2) = %v, %v; want a, c", got, err)
	}
	got, err = s.ListSites(t.Context(), "c", 2)
	if err != nil || len(got) != 1 || got[0].ID != "e" {
		t.Errorf("ListSites(after c, 2) = %v, %v; want e", got, err)
	}
}

func TestRestartKeepsData(t *testing.T) {
	srv := redistest.StartServer(t, &redistest.Options{Persistent: true})
	open := func() *redisstore.Store {
		return redisstore.New(redis.NewClient(&redis.Options{Addr: srv.Addr}), nil)
	}
	ctx := t.Context()
	s := open()
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	want, err := s.CreateSite(ctx, storetest.Config("alpha"))
	if err != nil {
		t.Fatal(err)
	}
	ref := site.ChargerRef{SiteID: "alpha", ChargerID: "cp-1"}
	if _, err := s.UpdateChargerState(ctx, ref, func(st *site.ChargerState) error { st.NextTransactionID = 7; return nil }); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	srv.Restart()

	s = open()
	defer s.Close()
	if v, err := s.Migrate(ctx); err != nil || v != redisstore.SchemaVersion {
		t.Fatalf("Migrate after restart = %d, %v", v, err)
	}
	got, err := s.Config(ctx, "alpha")
	if err != nil {
		t.Fatalf("Config after restart: %v", err)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("after restart:\n got %+v\nwant %+v", got, want)
	}
	if st, err := s.ChargerState(ctx, ref); err != nil || st.NextTransactionID != 7 {
		t.Errorf("state after restart = %+v, %v", st, err)
	}
	if r, err := s.ChargerByIdentity(ctx, "alpha-CP1"); err != nil || r != ref {
		t.Errorf("identity after restart = %v, %v", r, err)
	}
}

func TestUnavailableAndReconnect(t *testing.T) {
	srv := redistest.StartServer(t, &redistest.Options{Persistent: true})
	s := redisstore.New(redis.NewClient(&redis.Options{Addr: srv.Addr, DialTimeout: time.Second, MaxRetries: -1}), nil)
	defer s.Close()
	ctx := t.Context()
	if _, err := s.CreateSite(ctx, storetest.Config("alpha")); err != nil {
		t.Fatal(err)
	}
	srv.Kill()

	ref := site.ChargerRef{SiteID: "alpha", ChargerID: "cp-1"}
	calls := []struct {
		desc string
		call func() error
	}{
		{"Config", func() error { _, err := s.Config(ctx, "alpha"); return err }},
		{"CreateSite", func() error { _, err := s.CreateSite(ctx, storetest.Config("beta")); return err }},
		{"UpdateConfig", func() error {
			_, err := s.UpdateConfig(ctx, "alpha", func(*site.Config) error { return nil })
			return err
		}},
		{"DeleteSite", func() error { return s.DeleteSite(ctx, "alpha", 0) }},
		{"ListSites", func() error { _, err := s.ListSites(ctx, "", 10); return err }},
		{"ChargerByIdentity", func() error { _, err := s.ChargerByIdentity(ctx, "alpha-CP1"); return err }},
		{"ChargerState", func() error { _, err := s.ChargerState(ctx, ref); return err }},
		{"UpdateChargerState", func() error {
			_, err := s.UpdateChargerState(ctx, ref, func(*site.ChargerState) error { return nil })
			return err
		}},
		{"Migrate", func() error { _, err := s.Migrate(ctx); return err }},
	}
	for _, c := range calls {
		if err := c.call(); !errors.Is(err, site.ErrUnavailable) {
			t.Errorf("%s with Redis down: %v, want ErrUnavailable", c.desc, err)
		}
	}

	srv.Restart()
	// go-redis redials by itself; the first call may still meet a dead
	// pooled connection, so allow a few tries (bounded).
	var err error
	for range 20 {
		if _, err = s.Config(ctx, "alpha"); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("store did not recover after restart: %v", err)
	}
	if _, err := s.UpdateConfig(ctx, "alpha", func(c *site.Config) error { c.Site.DisplayName = "back"; return nil }); err != nil {
		t.Errorf("UpdateConfig after restart: %v", err)
	}
}

package redisstore_test

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/smartcharge/smartcharge/site"
	"github.com/smartcharge/smartcharge/site/redisstore"
	"github.com/smartcharge/smartcharge/site/storetest"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// TestStoredEncoding pins what is stored. If it fails because a field of
// the site types changed, stored data no longer reads back the same: bump
// SchemaVersion, add a migration, then rewrite with -update.
func TestStoredEncoding(t *testing.T) {
	m := miniredis.RunT(t)
	clock := newFakeClock(time.Date(2026, 4, 1, 10, 0, 0, 0, time.UTC))
	s := redisstore.New(redis.NewClient(&redis.Options{Addr: m.Addr()}), &redisstore.Options{Clock: clock})
	defer s.Close()
	if _, err := s.CreateSite(t.Context(), storetest.Config("alpha")); err != nil {
		t.Fatal(err)
	}
	at := clock.Now()
	power := site.Watts(11000)
	if _, err := s.UpdateChargerState(t.Context(), site.ChargerRef{SiteID: "alpha", ChargerID: "cp-1"}, func(st *site.ChargerState) error {
		*st = site.ChargerState{Connected: true, Protocol: "ocpp1.6", LastSeen: at, NextTransactionID: 3,
			EVSEs: map[int]site.EVSEState{1: {Status: site.StatusCharging, StatusTime: at,
				Transaction: &site.Transaction{ID: "3", EVSE: 1, Start: at}, LastSample: &site.MeterSample{Time: at, Power: &power}}}}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, key := range m.Keys() {
		b.WriteString(key + "\n")
		switch {
		case strings.HasSuffix(key, ":config"):
			fields, _ := m.HKeys(key)
			for _, f := range fields {
				b.WriteString("  " + f + " = " + m.HGet(key, f) + "\n")
			}
		case strings.HasSuffix(key, ":sites"):
			members, _ := m.ZMembers(key)
			b.WriteString("  " + strings.Join(members, " ") + "\n")
		default:
			v, _ := m.Get(key)
			b.WriteString("  " + v + "\n")
		}
	}
	path := filepath.Join("testdata", "stored.golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got := b.String(); got != string(want) {
		t.Errorf("stored encoding changed (see the test's comment):\n got:\n%s\nwant:\n%s", got, want)
	}
}

package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/smartcharge/smartcharge/apiserver"
	"github.com/smartcharge/smartcharge/planning"
	"github.com/smartcharge/smartcharge/site"
	"github.com/smartcharge/smartcharge/site/redisstore"
)

// planT0 is 17:00 UTC: an expensive evening before a cheap night.
var planT0 = time.Date(2026, 11, 25, 17, 0, 0, 0, time.UTC)

// startPlanServer serves the API with PlanService on an embedded store
// holding site alpha with a car on c1/1 that needs 20 kWh by 06:00 and
// prices that are cheap from 21:00. withRunner runs the real planning
// runner (which plans at once); without it the server has no plan.
func startPlanServer(t *testing.T, withRunner bool) string {
	t.Helper()
	clock := &fixedClock{t: planT0}
	log := slog.New(slog.DiscardHandler)
	store, err := redisstore.NewEmbedded(&redisstore.Options{Clock: clock, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	ctx := context.Background()
	if _, err := store.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := store.CreateSite(ctx, site.Config{
		Site: site.Site{ID: "alpha", TimeZone: "UTC", GridLimit: site.Uniform(63)},
		Circuits: []site.Circuit{
			{SiteID: "alpha", ID: "main", Limit: site.Uniform(63)},
			{SiteID: "alpha", ID: "sub", Parent: "main", Limit: site.Uniform(32)},
		},
		Chargers: []site.Charger{{SiteID: "alpha", ID: "c1", OCPPIdentity: "CP-1", Circuit: "sub",
			EVSEs: []site.EVSE{{ID: 1, MaxCurrent: 16, Phases: 3}, {ID: 2, MaxCurrent: 16, Phases: 3}}}},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := store.UpdateChargerState(ctx, site.ChargerRef{SiteID: "alpha", ChargerID: "c1"}, func(st *site.ChargerState) error {
		st.Connected = true
		st.EVSEs = map[int]site.EVSEState{1: {Status: site.StatusCharging, Transaction: &site.Transaction{ID: "42", EVSE: 1}}}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := store.UpdateLoopState(ctx, "alpha", func(ls *site.LoopState) error {
		ls.Needs = map[string]site.ChargingNeeds{"c1/1": {Energy: 20000, Departure: planT0.Add(13 * time.Hour)}}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := store.UpdatePlanInputs(ctx, "alpha", func(in *site.PlanInputs) error {
		in.Prices = site.PriceSeries{Currency: "EUR", Import: []site.SeriesPoint{{Start: planT0, Value: 0.40}, {Start: planT0.Add(4 * time.Hour), Value: 0.10}}}
		in.Settings.Slot = time.Hour
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	backend := &apiserver.PlanBackend{Inputs: store}
	if withRunner {
		r, err := planning.New(planning.Config{Store: store, LoopState: store, Plans: store, Clock: clock, Tick: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(r.Stop)
		if _, err := r.PlanNow(ctx, "alpha", "test"); err != nil {
			t.Fatal(err)
		}
		backend.Plans, backend.Trigger = r, r
	}
	srv := apiserver.New(store, &apiserver.Options{
		Clock: clock, Logger: log,
		Auth: apiserver.AuthConfig{Tokens: []apiserver.TokenEntry{{
			Name: "e2e-admin", SHA256: apiserver.HashToken(testToken), Role: apiserver.RoleAdmin, Sites: []string{apiserver.AllSites},
		}}},
	})
	gs := grpc.NewServer(srv.ServerOptions()...)
	srv.Register(gs)
	srv.RegisterPlanService(gs, backend)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = gs.Serve(lis)
	}()
	t.Cleanup(func() {
		gs.Stop()
		<-done
	})
	return lis.Addr().String()
}

func TestPlanCommand(t *testing.T) {
	c := ctl{t: t, addr: startPlanServer(t, true)}

	out := c.ok("plan", "--site", "alpha")
	mustContain(t, "plan table", out,
		"sites/alpha/plan  seq ",
		"24 slots of 1h0m0s from 2026-11-25T17:00:00Z",
		"EVSE", "DEPARTURE", "NEED", "EXPECTED", "MET", "PERIODS",
		"c1/1", "06:00", "20.0 kWh", "energy", "yes", "17:00 0 A", "21:00 16 A",
		"Why not more:",
		"SLOT", "START", "c1/1 A", "grid A (planned/total/limit)", "main A", "sub A",
	)
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	var slotRows []string
	for i, l := range lines {
		if strings.HasPrefix(l, "SLOT") {
			slotRows = lines[i:]
		}
	}
	if len(slotRows) != 25 {
		t.Fatalf("per-slot table has %d lines, want a header and 24 slots:\n%s", len(slotRows), out)
	}
	checkAligned(t, slotRows)
	if f := strings.Fields(slotRows[5]); f[1] != "21:00" || f[2] != "16" || f[3] != "16/16/63" || f[5] != "16/16/32" {
		t.Fatalf("slot 4 row %q: want 21:00, 16 A, grid 16/16/63, sub 16/16/32", slotRows[5])
	}
	if f := strings.Fields(slotRows[1]); f[2] != "-" {
		t.Fatalf("slot 0 row %q: the car should wait for the cheap night", slotRows[1])
	}

	short := c.ok("plan", "--site", "sites/alpha", "--slots", "3")
	mustContain(t, "--slots", short, "(21 more slots; --slots 0 shows all)")

	file := filepath.Join(t.TempDir(), "plan.csv")
	c.ok("plan", "--site", "alpha", "--csv", file)
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 25 {
		t.Fatalf("CSV has %d records, want header + 24", len(recs))
	}
	head := recs[0]
	if head[0] != "slot" || head[1] != "start" || head[2] != "end" || head[3] != "c1/1 A" || head[4] != "grid planned L1" || len(head) != 4+4*9 {
		t.Fatalf("CSV header %q", head)
	}
	energy := 0.0
	for _, r := range recs[1:] {
		if len(r) != len(head) {
			t.Fatalf("CSV row %q has %d fields, header %d", r, len(r), len(head))
		}
		a, err := strconv.ParseFloat(r[3], 64)
		if err != nil {
			t.Fatalf("CSV row %q: %v", r, err)
		}
		energy += a * 3 * 230 // Wh in a one-hour slot
		start, err1 := time.Parse(time.RFC3339, r[1])
		end, err2 := time.Parse(time.RFC3339, r[2])
		if err1 != nil || err2 != nil || end.Sub(start) != time.Hour {
			t.Fatalf("CSV row %q: slot times", r)
		}
	}
	if energy < 19900 || energy > 21000 {
		t.Fatalf("CSV currents give %.0f Wh, want about the 20 kWh need", energy)
	}
	if recs[5][3] != "16" || recs[5][4+2*3] != "63" {
		t.Fatalf("CSV slot 4: %q", recs[5])
	}

	stdoutCSV := c.ok("plan", "--site", "alpha", "--csv", "-")
	if !strings.HasPrefix(stdoutCSV, "slot,start,end,c1/1 A,") || strings.Count(stdoutCSV, "\n") != 25 {
		t.Fatalf("--csv - wrote:\n%s", stdoutCSV)
	}

	js := c.ok("plan", "--site", "alpha", "-o", "json")
	var v struct {
		Plan struct {
			Seq      string `json:"seq"`
			Sessions []struct {
				Evse    string `json:"evse"`
				NeedMet bool   `json:"need_met"`
			} `json:"sessions"`
		} `json:"plan"`
	}
	if err := json.Unmarshal([]byte(js), &v); err != nil || len(v.Plan.Sessions) != 1 || !v.Plan.Sessions[0].NeedMet || v.Plan.Sessions[0].Evse != "sites/alpha/chargers/c1/evses/1" {
		t.Fatalf("-o json: %v\n%s", err, js)
	}

	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no site", []string{"plan"}, "--site is required"},
		{"negative slots", []string{"plan", "--site", "alpha", "--slots", "-1"}, "--slots must be >= 0"},
		{"extra argument", []string{"plan", "--site", "alpha", "now"}, "unexpected argument"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mustContain(t, "usage error", c.fails(2, tc.args...), tc.want)
		})
	}
	mustContain(t, "unknown site", c.fails(1, "plan", "--site", "nope"), "NOT_FOUND")
	if err := os.WriteFile(filepath.Join(t.TempDir(), "x"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	mustContain(t, "unwritable CSV", c.fails(1, "plan", "--site", "alpha", "--csv", filepath.Join(t.TempDir(), "no", "such", "dir.csv")), "--csv")
}

func TestPlanCommandNoPlan(t *testing.T) {
	c := ctl{t: t, addr: startPlanServer(t, false)}
	mustContain(t, "no plan", c.ok("plan", "--site", "alpha"), "sites/alpha/plan: no plan yet")
}

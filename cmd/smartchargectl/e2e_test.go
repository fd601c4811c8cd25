package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc"

	"github.com/smartcharge/smartcharge/apiserver"
	"github.com/smartcharge/smartcharge/site"
	"github.com/smartcharge/smartcharge/site/redisstore"
	"github.com/smartcharge/smartcharge/site/sitefile"
)

type fixedClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fixedClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

const testToken = "tok-admin-e2e"

// evening is inside the demo depot's grid-operator window (17:00 to 21:00
// on 2026-12-01, +01:00).
var evening = time.Date(2026, 12, 1, 18, 0, 0, 0, time.FixedZone("CET", 3600))

// startRedis runs a real redis-server on a free loopback port for the
// test, without persistence, and returns a client for it.
func startRedis(t *testing.T) *redis.Client {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server is not installed (apt-get install redis-server)")
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(lis.Addr().(*net.TCPAddr).Port)
	lis.Close()
	cmd := exec.Command(bin, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", t.TempDir())
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + port})
	deadline := time.Now().Add(5 * time.Second)
	for rdb.Ping(context.Background()).Err() != nil {
		if time.Now().After(deadline) {
			t.Fatalf("redis-server on port %s did not start", port)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return rdb
}

// startServer runs the real gRPC API server on the Redis store on
// 127.0.0.1, and returns its address. The store is on a real redis-server,
// or with embedded on an in-process miniredis.
func startServer(t *testing.T, embedded bool) string {
	t.Helper()
	ctx := context.Background()
	clock := &fixedClock{t: evening}
	log := slog.New(slog.DiscardHandler)
	opts := &redisstore.Options{Clock: clock, Logger: log}
	var store *redisstore.Store
	if embedded {
		var err error
		if store, err = redisstore.NewEmbedded(opts); err != nil {
			t.Fatal(err)
		}
	} else {
		store = redisstore.New(startRedis(t), opts)
	}
	t.Cleanup(func() { store.Close() })
	if _, err := store.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	srv := apiserver.New(store, &apiserver.Options{
		Clock:  clock,
		Logger: log,
		Auth: apiserver.AuthConfig{Tokens: []apiserver.TokenEntry{{
			Name: "e2e-admin", SHA256: apiserver.HashToken(testToken), Role: apiserver.RoleAdmin, Sites: []string{apiserver.AllSites},
		}}},
	})
	gs := grpc.NewServer(srv.ServerOptions()...)
	srv.Register(gs)
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

// ctl runs the CLI against a server with the token in the environment.
type ctl struct {
	t    *testing.T
	addr string
}

func (c ctl) run(args ...string) (stdout, stderr string, code int) {
	c.t.Helper()
	var out, errb bytes.Buffer
	env := func(k string) string {
		switch k {
		case "SMARTCHARGE_SERVER":
			return c.addr
		case "SMARTCHARGE_TOKEN":
			return testToken
		}
		return ""
	}
	code = run(context.Background(), args, &out, &errb, env)
	return out.String(), errb.String(), code
}

// ok runs the CLI and fails the test unless it exits 0.
func (c ctl) ok(args ...string) string {
	c.t.Helper()
	out, errOut, code := c.run(args...)
	if code != 0 {
		c.t.Fatalf("smartchargectl %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// fails runs the CLI and fails the test unless it exits with code.
func (c ctl) fails(code int, args ...string) string {
	c.t.Helper()
	out, errOut, got := c.run(args...)
	if got != code {
		c.t.Fatalf("smartchargectl %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), got, code, out, errOut)
	}
	return errOut
}

func mustContain(t *testing.T, what, got string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(got, w) {
			t.Errorf("%s: missing %q in:\n%s", what, w, got)
		}
	}
}

// writeFile writes a site file into the test's directory.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

const demo = "../../examples/demo-depot.yaml"

// TestEndToEnd drives the CLI against the real gRPC server and Redis
// store: apply (twice, idempotent), get, describe, limit set/show,
// delete, JSON and YAML output, and refused site files.
func TestEndToEnd(t *testing.T) {
	for _, tt := range []struct {
		name     string
		embedded bool
	}{{"redis-server", false}, {"miniredis", true}} {
		t.Run(tt.name, func(t *testing.T) {
			endToEnd(t, ctl{t: t, addr: startServer(t, tt.embedded)})
		})
	}
}

func endToEnd(t *testing.T, c ctl) {

	t.Run("apply creates everything", func(t *testing.T) {
		out := c.ok("apply", "-f", demo)
		mustContain(t, "apply", out, "sites/demo-depot ", "sites/demo-depot/circuits/hall-a ", "sites/demo-depot/chargers/cp12 ",
			"sites/demo-depot/gridLimits/dso-evening-peak ", "16 created, 0 updated, 0 deleted, 0 unchanged")
	})

	t.Run("second apply changes nothing", func(t *testing.T) {
		out := c.ok("apply", "-f", demo)
		mustContain(t, "apply", out, "0 created, 0 updated, 0 deleted, 16 unchanged")
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			if strings.HasPrefix(line, "sites/") && !strings.HasSuffix(line, "unchanged") {
				t.Errorf("not unchanged: %q", line)
			}
		}
	})

	data, err := os.ReadFile(demo)
	if err != nil {
		t.Fatal(err)
	}
	changed := strings.Replace(string(data), "  - id: hall-b\n    display_name: Hall B\n    limit_a: 63", "  - id: hall-b\n    display_name: Hall B\n    limit_a: 50", 1)
	if changed == string(data) {
		t.Fatal("could not edit the demo file")
	}
	changedFile := writeFile(t, "changed.yaml", changed)

	t.Run("dry run shows the change and stores nothing", func(t *testing.T) {
		out := c.ok("apply", "-f", changedFile, "--dry-run")
		mustContain(t, "dry run", out, "updated (dry run): limit", "would be 0 created, 1 updated, 0 deleted, 15 unchanged")
		get := c.ok("get", "circuit", "hall-b", "--site", "demo-depot")
		mustContain(t, "after dry run", get, "63")
	})

	t.Run("apply updates", func(t *testing.T) {
		out := c.ok("apply", "-f", changedFile)
		mustContain(t, "apply", out, "sites/demo-depot/circuits/hall-b", "updated: limit", "0 created, 1 updated, 0 deleted, 15 unchanged")
	})

	t.Run("get sites", func(t *testing.T) {
		out := c.ok("get", "sites")
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 2 {
			t.Fatalf("want a header and one site:\n%s", out)
		}
		checkAligned(t, lines)
		mustContain(t, "get sites", out, "sites/demo-depot", "Demo depot", "Europe/Berlin", "100", "69")
	})

	t.Run("get chargers", func(t *testing.T) {
		out := c.ok("get", "chargers", "--site", "demo-depot")
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 13 {
			t.Fatalf("want a header and 12 chargers, got %d lines:\n%s", len(lines), out)
		}
		checkAligned(t, lines)
		mustContain(t, "get chargers", out, "DEPOT-CP01", "DEPOT-CP12", "hall-a", "STR", "32x3,16x1")
	})

	t.Run("get circuits and grid limits", func(t *testing.T) {
		out := c.ok("get", "circuits", "--site", "sites/demo-depot")
		mustContain(t, "get circuits", out, "hall-a", "hall-b", "(grid)", "50")
		out = c.ok("get", "gridlimits", "--site", "demo-depot")
		// Times are shown in the site's time zone.
		mustContain(t, "get gridlimits", out, "dso-evening-peak", "grid-operator", "2026-12-01T17:00:00+01:00", "yes")
	})

	t.Run("get -o json", func(t *testing.T) {
		out := c.ok("get", "chargers", "--site", "demo-depot", "-o", "json")
		var resp struct {
			Chargers []struct {
				Name         string `json:"name"`
				OCPPIdentity string `json:"ocpp_identity"`
				Evses        []struct {
					MaxCurrent float64 `json:"max_current"`
				} `json:"evses"`
			} `json:"chargers"`
		}
		if err := json.Unmarshal([]byte(out), &resp); err != nil {
			t.Fatalf("%v:\n%s", err, out)
		}
		if len(resp.Chargers) != 12 || resp.Chargers[0].OCPPIdentity != "DEPOT-CP01" || resp.Chargers[0].Evses[0].MaxCurrent != 32 {
			t.Errorf("json = %+v", resp)
		}
	})

	t.Run("get site -o yaml is a site file", func(t *testing.T) {
		out := c.ok("-o", "yaml", "get", "site", "demo-depot")
		got, err := sitefile.Parse("got.yaml", []byte(out))
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		want, err := sitefile.Parse("changed.yaml", []byte(changed))
		if err != nil {
			t.Fatal(err)
		}
		mustContain(t, "times in the site's zone", out, "start: 2026-12-01T17:00:00+01:00")
		if !reflect.DeepEqual(inUTC(got), inUTC(want)) {
			t.Errorf("round trip through the server changed the site file:\n%s", out)
		}
		again := c.ok("apply", "-f", writeFile(t, "again.yaml", out))
		mustContain(t, "re-apply", again, "16 unchanged")
	})

	t.Run("describe site", func(t *testing.T) {
		out := c.ok("describe", "site", "sites/demo-depot")
		mustContain(t, "describe site", out, "Demo depot", "100 A per phase", "69 kW", "Limit in force",
			"L1     63 A", "dso-evening-peak", "grid-operator", "hall-a: 63 A (6 chargers)", "hall-b: 50 A (6 chargers)", "DEPOT-CP07")
	})

	t.Run("describe charger", func(t *testing.T) {
		out := c.ok("describe", "charger", "cp07", "--site", "demo-depot")
		mustContain(t, "describe charger", out, "sites/demo-depot/chargers/cp07", "DEPOT-CP07", "sites/demo-depot/circuits/hall-b",
			"Connected:", "no", "EVSEs:", "6 (default)")
	})

	t.Run("describe circuit shows the binding limit", func(t *testing.T) {
		out := c.ok("describe", "circuit", "sites/demo-depot/circuits/hall-b")
		mustContain(t, "describe circuit", out, "L1     50 A   circuit hall-b", "power  69 kW", "Chargers on it (6)")
	})

	t.Run("limit set and show", func(t *testing.T) {
		out := c.ok("limit", "set", "--site", "demo-depot", "--id", "ems-peak", "--source", "ems", "--limit-a", "40",
			"--l2", "45", "--l3", "45", "--until", "2026-12-01T20:00:00+01:00", "--reason", "heat pumps")
		mustContain(t, "limit set", out, "sites/demo-depot/gridLimits/ems-peak created", "40/45/45", "heat pumps")
		out = c.ok("limit", "show", "--site", "demo-depot")
		mustContain(t, "limit show", out, "  L1     40 A   ems-peak", "  L2     45 A   ems-peak", "heat pumps",
			"2026-12-01T20:00:00+01:00", "Active grid limits", "dso-evening-peak")
		out = c.ok("limit", "set", "--site", "demo-depot", "--id", "ems-peak", "--source", "ems", "--limit-a", "30")
		mustContain(t, "limit set again", out, "ems-peak replaced")
		out = c.ok("limit", "show", "--site", "demo-depot", "--at", "2026-12-02T12:00:00+01:00", "-o", "json")
		var eff struct {
			Limit struct{ L1, L2, L3 float64 } `json:"limit"`
		}
		if err := json.Unmarshal([]byte(out), &eff); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if eff.Limit.L1 != 30 || eff.Limit.L3 != 30 {
			t.Errorf("next day the open-ended EMS limit of 30 A binds, got %+v", eff.Limit)
		}
	})

	t.Run("delete", func(t *testing.T) {
		out := c.ok("delete", "gridlimit", "ems-peak", "--site", "demo-depot")
		mustContain(t, "delete", out, "sites/demo-depot/gridLimits/ems-peak deleted")
		out = c.ok("limit", "show", "--site", "demo-depot")
		mustContain(t, "limit show after delete", out, "L1     63 A   dso-evening-peak")
		errOut := c.fails(1, "delete", "charger", "cp12", "--site", "demo-depot", "--etag", "999")
		mustContain(t, "stale etag", errOut, "ABORTED")
		out = c.ok("delete", "charger", "sites/demo-depot/chargers/cp12")
		mustContain(t, "delete charger", out, "deleted")
		errOut = c.fails(1, "get", "charger", "cp12", "--site", "demo-depot")
		mustContain(t, "get deleted", errOut, "NOT_FOUND")
	})

	t.Run("apply with prune deletes what the file does not list", func(t *testing.T) {
		trimmed := strings.Replace(changed, "grid_limits:", "grid_limits: []\nunused:", 1)
		trimmed = trimmed[:strings.Index(trimmed, "unused:")]
		out := c.ok("apply", "-f", writeFile(t, "trimmed.yaml", trimmed), "--prune")
		mustContain(t, "prune", out, "sites/demo-depot/chargers/cp12", "created", "sites/demo-depot/gridLimits/dso-evening-peak", "deleted")
	})

	t.Run("a bad site file is refused with every error by line", func(t *testing.T) {
		bad := writeFile(t, "bad.yaml", "site:\n  id: demo-depot\n  grid_limit_a: 100\ncircuits:\n  - id: hall-a\n    limit_a: 120\n"+
			"chargers:\n  - id: cp1\n    ocpp_identity: X\n    circuit: hall-c\n    evse_count: 1\n    max_current_a: 32\n    phases: 2\n")
		errOut := c.fails(1, "apply", "-f", bad)
		mustContain(t, "bad file", errOut, "3 problems; nothing was applied",
			"bad.yaml:6:14: circuits[0].limit_a: must not exceed",
			"bad.yaml:10:14: chargers[0].circuit:",
			"bad.yaml:13:13: chargers[0].evses[0].phases: must be 1 or 3")
		if n := len(regexp.MustCompile(`bad\.yaml:\d+:\d+: `).FindAllString(errOut, -1)); n != 3 {
			t.Errorf("want 3 positioned errors, got %d:\n%s", n, errOut)
		}
	})

	t.Run("a refusal by the server is shown readably", func(t *testing.T) {
		// Valid on its own, but DEPOT-CP01 is taken by the demo depot.
		other := writeFile(t, "other.yaml", "site:\n  id: other\n  grid_limit_a: 32\nchargers:\n  - id: a\n"+
			"    ocpp_identity: DEPOT-CP01\n    evse_count: 1\n    max_current_a: 16\n    phases: 1\n")
		errOut := c.fails(1, "apply", "-f", other)
		mustContain(t, "identity taken", errOut, "error: ALREADY_EXISTS: ", `"DEPOT-CP01"`, "reason: RESOURCE_ALREADY_EXISTS")
		if strings.Contains(errOut, "rpc error:") {
			t.Errorf("the code is said twice:\n%s", errOut)
		}
	})

	t.Run("without a token the server refuses", func(t *testing.T) {
		var out, errb bytes.Buffer
		code := run(context.Background(), []string{"--server", c.addr, "get", "sites"}, &out, &errb, func(string) string { return "" })
		if code != 1 {
			t.Fatalf("exit %d, want 1", code)
		}
		mustContain(t, "no token", errb.String(), "UNAUTHENTICATED", "--token")
	})
}

// checkAligned checks that every column starts at the same place in each
// line of a table (tabwriter output).
func checkAligned(t *testing.T, lines []string) {
	t.Helper()
	header := lines[0]
	starts := []int{0}
	for i := 1; i < len(header); i++ {
		if header[i] != ' ' && header[i-1] == ' ' && i >= 2 && header[i-2] == ' ' {
			starts = append(starts, i)
		}
	}
	for _, l := range lines[1:] {
		for _, s := range starts[1:] {
			if s >= len(l) || l[s-1] != ' ' || l[s] == ' ' {
				t.Errorf("column at %d not aligned in %q (header %q)", s, l, header)
				break
			}
		}
	}
}

var _ site.Clock = (*fixedClock)(nil)

// inUTC puts a config's times in UTC, for comparing the instants.
func inUTC(c site.Config) site.Config {
	for i := range c.Limits {
		c.Limits[i].Start = c.Limits[i].Start.UTC()
		c.Limits[i].End = c.Limits[i].End.UTC()
	}
	return c
}

package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/smartcharge/smartcharge/proto/smartcharge/v1"
	"github.com/smartcharge/smartcharge/site/sitefile"
)

func noEnv(string) string { return "" }

// TestUsage: bad usage exits 2 before any call is made (the server
// address points nowhere).
func TestUsage(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no command", nil, exitUsage, "usage: smartchargectl"},
		{"help", []string{"help"}, exitOK, "commands:"},
		{"-h", []string{"-h"}, exitOK, "global flags"},
		{"unknown command", []string{"frobnicate"}, exitUsage, `unknown command "frobnicate"`},
		{"unknown global flag", []string{"--nope", "get", "sites"}, exitUsage, "flag provided but not defined: -nope"},
		{"bad output format", []string{"get", "sites", "-o", "xml"}, exitUsage, `-o "xml": want table, json or yaml`},
		{"insecure with tls", []string{"--insecure", "--tls", "get", "sites"}, exitUsage, "--insecure contradicts"},
		{"apply without file", []string{"apply"}, exitUsage, "-f FILE is required"},
		{"apply extra argument", []string{"apply", "-f", "x.yaml", "y.yaml"}, exitUsage, `unexpected argument "y.yaml"`},
		{"get nothing", []string{"get"}, exitUsage, "what to get"},
		{"get chargers without site", []string{"get", "chargers"}, exitUsage, "chargers needs --site"},
		{"get unknown kind", []string{"get", "cars", "--site", "s"}, exitUsage, `unknown kind "cars"`},
		{"describe without name", []string{"describe", "site"}, exitUsage, "want a kind"},
		{"describe charger without site", []string{"describe", "charger", "cp1"}, exitUsage, "needs --site"},
		{"delete circuit without site", []string{"delete", "circuit", "c"}, exitUsage, "needs --site"},
		{"delete force on charger", []string{"delete", "charger", "c", "--site", "s", "--force"}, exitUsage, "--force is for sites only"},
		{"limit without subcommand", []string{"limit"}, exitUsage, "want set or show"},
		{"limit set without source", []string{"limit", "set", "--site", "s", "--id", "x", "--limit-a", "3"}, exitUsage, "--source is required"},
		{"limit set bad source", []string{"limit", "set", "--site", "s", "--id", "x", "--source", "dso", "--limit-a", "3"}, exitUsage, `--source "dso"`},
		{"limit set without a limit", []string{"limit", "set", "--site", "s", "--id", "x", "--source", "ems"}, exitUsage, "give a limit"},
		{"limit set one phase only", []string{"limit", "set", "--site", "s", "--id", "x", "--source", "ems", "--l1", "3"}, exitUsage, "all of --l1, --l2 and --l3"},
		{"limit set bad number", []string{"limit", "set", "--limit-a", "lots"}, exitUsage, "not a number"},
		{"limit set bad time", []string{"limit", "set", "--site", "s", "--id", "x", "--source", "ems", "--limit-a", "3", "--until", "tomorrow"}, exitUsage, "RFC 3339"},
		{"limit show without site", []string{"limit", "show"}, exitUsage, "--site is required"},
		{"apply missing file", []string{"apply", "-f", "/nonexistent/site.yaml"}, exitError, "read site file"},
		{"status without site", []string{"status", "--once"}, exitUsage, "--site is required"},
		{"watch negative count", []string{"watch", "--site", "s", "--count", "-1"}, exitUsage, "--count must not be negative"},
		{"bad timeout", []string{"watch", "--site", "s", "--timeout", "soon"}, exitUsage, "not a duration"},
		{"needs without set", []string{"needs"}, exitUsage, "needs: want set"},
		{"needs without evse", []string{"needs", "set", "--site", "s", "--charger", "c", "--energy-kwh", "3"}, exitUsage, "--evse is required"},
		{"needs without needs", []string{"needs", "set", "--site", "s", "--charger", "c", "--evse", "1"}, exitUsage, "or --clear"},
		{"needs clear and more", []string{"needs", "set", "--site", "s", "--charger", "c", "--evse", "1", "--clear", "--max-current", "3"}, exitUsage, "--clear takes no other"},
		{"needs bad departure", []string{"needs", "set", "--site", "s", "--charger", "c", "--evse", "1", "--departure", "later"}, exitUsage, "RFC 3339"},
		{"priority without priority", []string{"priority", "set", "--site", "s", "--charger", "c"}, exitUsage, "--priority is required"},
		{"priority wrong subcommand", []string{"priority", "get"}, exitUsage, `want set, got "get"`},
		{"meter without reading", []string{"meter", "report", "--site", "s"}, exitUsage, "give a reading"},
		{"meter one phase", []string{"meter", "report", "--site", "s", "--l2", "4"}, exitUsage, "give all of --l1, --l2 and --l3"},
		{"meter current and power", []string{"meter", "report", "--site", "s", "--current-a", "4", "--power-kw", "1"}, exitUsage, "not both"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(context.Background(), append([]string{"--server", "127.0.0.1:1"}, tt.args...), &out, &errb, noEnv)
			if code != tt.code {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tt.code, out.String(), errb.String())
			}
			if got := out.String() + errb.String(); !strings.Contains(got, tt.want) {
				t.Errorf("output lacks %q:\n%s", tt.want, got)
			}
		})
	}
}

func TestGlobalFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want globals
		pos  []string
	}{
		{"defaults", []string{"get", "sites"}, nil,
			globals{output: "table", server: "127.0.0.1:7443", timeout: 30 * time.Second}, []string{"sites"}},
		{"environment", []string{"get", "sites"}, map[string]string{"SMARTCHARGE_SERVER": "h:1", "SMARTCHARGE_TOKEN": "t"},
			globals{output: "table", server: "h:1", token: "t", timeout: 30 * time.Second}, []string{"sites"}},
		{"flags beat environment, before the command", []string{"--server", "a:2", "--token", "u", "-o", "json", "get", "sites"},
			map[string]string{"SMARTCHARGE_SERVER": "h:1", "SMARTCHARGE_TOKEN": "t"},
			globals{output: "json", server: "a:2", token: "u", timeout: 30 * time.Second}, []string{"sites"}},
		{"flags after the command and between arguments", []string{"get", "site", "--tls", "demo", "-o", "yaml", "--ca-file", "ca.pem", "--timeout", "5s"}, nil,
			globals{output: "yaml", server: "127.0.0.1:7443", tls: true, caFile: "ca.pem", timeout: 5 * time.Second, timeoutSet: true}, []string{"site", "demo"}},
		{"double dash ends flags", []string{"get", "--", "site", "-o"}, nil,
			globals{output: "table", server: "127.0.0.1:7443", timeout: 30 * time.Second}, []string{"site", "-o"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := func(k string) string { return tt.env[k] }
			a := &app{stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}}
			a.g = globals{output: "table", server: defaultServer, token: env("SMARTCHARGE_TOKEN"), timeout: 30 * time.Second}
			if s := env("SMARTCHARGE_SERVER"); s != "" {
				a.g.server = s
			}
			top := a.flags("smartchargectl", "")
			if err := top.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			rest := top.Args()
			fs := a.flags(rest[0], "")
			pos, err := fs.parse(rest[1:])
			if err != nil {
				t.Fatal(err)
			}
			if a.g != tt.want {
				t.Errorf("globals %+v, want %+v", a.g, tt.want)
			}
			if strings.Join(pos, " ") != strings.Join(tt.pos, " ") {
				t.Errorf("positional %q, want %q", pos, tt.pos)
			}
		})
	}
}

func TestTransport(t *testing.T) {
	tests := []struct {
		name string
		g    globals
		tls  bool
	}{
		{"loopback IPv4 is plaintext", globals{server: "127.0.0.1:7443"}, false},
		{"loopback IPv6 is plaintext", globals{server: "[::1]:7443"}, false},
		{"localhost is plaintext", globals{server: "localhost:7443"}, false},
		{"a remote server gets TLS", globals{server: "smartcharge.example.com:443"}, true},
		{"a remote IP gets TLS", globals{server: "10.0.0.5:7443"}, true},
		{"--tls on loopback", globals{server: "127.0.0.1:7443", tls: true}, true},
		{"--ca-file means TLS", globals{server: "127.0.0.1:7443", caFile: "ca.pem"}, true},
		{"--insecure to a remote server", globals{server: "10.0.0.5:7443", insecure: true}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.g.useTLS()
			if err != nil || got != tt.tls {
				t.Errorf("useTLS = %v, %v; want %v", got, err, tt.tls)
			}
		})
	}
}

func TestLimitSetRequest(t *testing.T) {
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	set := func(v float64) optFloat { return optFloat{v, true} }
	tests := []struct {
		name string
		args limitSetArgs
		want *pb.GridLimit
	}{
		{"one value for all phases", limitSetArgs{site: "demo", id: "x", source: "ems", all: set(40)},
			&pb.GridLimit{Name: "sites/demo/gridLimits/x", Source: pb.GridLimitSource_GRID_LIMIT_SOURCE_EMS, Limit: &pb.PhaseCurrents{L1: 40, L2: 40, L3: 40}}},
		{"phases override", limitSetArgs{site: "sites/demo", id: "x", source: "owner", all: set(40), l2: set(20)},
			&pb.GridLimit{Name: "sites/demo/gridLimits/x", Source: pb.GridLimitSource_GRID_LIMIT_SOURCE_OWNER, Limit: &pb.PhaseCurrents{L1: 40, L2: 20, L3: 40}}},
		{"power only with times", limitSetArgs{site: "demo", id: "x", source: "grid-operator", power: set(11), from: "2026-12-01T17:00:00+01:00", until: "2h", reason: "r"},
			&pb.GridLimit{Name: "sites/demo/gridLimits/x", Source: pb.GridLimitSource_GRID_LIMIT_SOURCE_GRID_OPERATOR, PowerLimitKw: 11,
				StartTime: timestamppb.New(time.Date(2026, 12, 1, 16, 0, 0, 0, time.UTC)), EndTime: timestamppb.New(now.Add(2 * time.Hour)), Reason: "r"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.args.gridLimit(now)
			if err != nil {
				t.Fatal(err)
			}
			if got.String() != tt.want.String() {
				t.Errorf("got  %v\nwant %v", got, tt.want)
			}
		})
	}
}

func TestFormatting(t *testing.T) {
	tests := []struct {
		name, got, want string
	}{
		{"uniform amps", amps(&pb.PhaseCurrents{L1: 63, L2: 63, L3: 63}), "63"},
		{"per-phase amps", amps(&pb.PhaseCurrents{L1: 63, L2: 50.5, L3: 40}), "63/50.5/40"},
		{"no amps", amps(nil), "-"},
		{"no power", kW(0), "-"},
		{"power", kW(69.3), "69.3"},
		{"rotation", rotationName(pb.PhaseRotation_PHASE_ROTATION_STR), "STR"},
		{"unknown rotation", rotationName(pb.PhaseRotation_PHASE_ROTATION_UNSPECIFIED), "-"},
		{"state", stateName(pb.EvseState_EVSE_STATE_SUSPENDED_EV), "suspended-ev"},
		{"code", codeName(codes.InvalidArgument), "INVALID_ARGUMENT"},
		{"time in the site's zone", when(timestamppb.New(time.Date(2026, 12, 1, 16, 0, 0, 0, time.UTC)), location("Europe/Berlin")), "2026-12-01T17:00:00+01:00"},
		{"no time", when(nil, nil), "-"},
		{"evse list", evseMax([]*pb.Evse{{MaxCurrent: 32, Phases: 3}, {MaxCurrent: 16, Phases: 1}}), "32x3,16x1"},
		{"evse states", evseStates(&pb.ChargerStatus{Evses: []*pb.EvseStatus{{EvseId: 0}, {EvseId: 1, State: pb.EvseState_EVSE_STATE_CHARGING}, {EvseId: 2}}}), "1:charging 2:unknown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %q, want %q", tt.got, tt.want)
			}
		})
	}
}

func TestPrintChanges(t *testing.T) {
	var b bytes.Buffer
	err := printChanges(&b, []*pb.ConfigChange{
		{Name: "sites/d", Type: pb.ChangeType_CHANGE_TYPE_UNCHANGED},
		{Name: "sites/d/circuits/hall-a", Type: pb.ChangeType_CHANGE_TYPE_UPDATED, Fields: []string{"limit", "display_name"}},
		{Name: "sites/d/chargers/cp1", Type: pb.ChangeType_CHANGE_TYPE_CREATED},
		{Name: "sites/d/gridLimits/x", Type: pb.ChangeType_CHANGE_TYPE_DELETED},
	}, false)
	if err != nil {
		t.Fatal(err)
	}
	want := "sites/d                  unchanged\n" +
		"sites/d/circuits/hall-a  updated: limit, display_name\n" +
		"sites/d/chargers/cp1     created\n" +
		"sites/d/gridLimits/x     deleted\n" +
		"1 created, 1 updated, 1 deleted, 1 unchanged\n"
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestPrintError(t *testing.T) {
	badRequest := func(fields ...string) *status.Status {
		st := status.New(codes.InvalidArgument, "invalid site configuration")
		br := &errdetails.BadRequest{}
		for _, f := range fields {
			br.FieldViolations = append(br.FieldViolations, &errdetails.BadRequest_FieldViolation{Field: f, Description: "bad " + f})
		}
		st, err := st.WithDetails(br, &errdetails.ErrorInfo{Reason: "INVALID_ARGUMENT", Domain: "smartcharge.dev"})
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	file, err := sitefile.ParseFile("demo.yaml", []byte("site:\n  id: demo\n  grid_limit_a: 50\nchargers:\n  - id: a\n    ocpp_identity: A\n"+
		"    evse_count: 1\n    max_current_a: 16\n    phases: 3\n  - id: b\n    ocpp_identity: B\n    evse_count: 1\n    max_current_a: 16\n    phases: 3\n"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"each field violation on its own line", badRequest("site.grid_limit.l1", "circuits[0].parent").Err(),
			"error: INVALID_ARGUMENT: invalid site configuration\n  site.grid_limit.l1: bad site.grid_limit.l1\n  circuits[0].parent: bad circuits[0].parent\n  reason: INVALID_ARGUMENT\n"},
		{"violations about a site file at its lines", &fileStatusError{st: badRequest("config.chargers[1].ocpp_identity", "config.site.grid_limit.l2"), file: file},
			"error: INVALID_ARGUMENT: invalid site configuration\n  demo.yaml:11:20: chargers[1].ocpp_identity: bad config.chargers[1].ocpp_identity\n" +
				"  demo.yaml:3:17: site.grid_limit.l2_a: bad config.site.grid_limit.l2\n  reason: INVALID_ARGUMENT\n"},
		{"wrapped status", errors.Join(status.Error(codes.NotFound, "sites/x: not found")),
			"error: NOT_FOUND: sites/x: not found\n"},
		{"unreachable server", status.Error(codes.Unavailable, "connection refused"),
			"error: UNAVAILABLE: connection refused\n  (is smartcharged running at --server, and is --tls/--insecure right?)\n"},
		{"code said twice", status.Error(codes.AlreadyExists, "rpc error: code = AlreadyExists desc = taken"),
			"error: ALREADY_EXISTS: taken\n"},
		{"site file", &sitefile.Error{Errors: []sitefile.FieldError{{File: "f.yaml", Line: 2, Column: 3, Field: "site.id", Msg: "bad"}}},
			"error: the site file has 1 problem; nothing was applied:\n  f.yaml:2:3: site.id: bad\n"},
		{"other", errors.New("boom"), "error: boom\n"},
		{"precondition said once", func() error {
			st, _ := status.New(codes.FailedPrecondition, "sites/x: the site still has 5 chargers").WithDetails(&errdetails.PreconditionFailure{
				Violations: []*errdetails.PreconditionFailure_Violation{{Subject: "sites/x", Description: "the site still has 5 chargers"}}})
			return st.Err()
		}(), "error: FAILED_PRECONDITION: sites/x: the site still has 5 chargers\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			printError(&b, tt.err)
			if b.String() != tt.want {
				t.Errorf("got:\n%s\nwant:\n%s", b.String(), tt.want)
			}
		})
	}
}

func TestPrintProtoYAML(t *testing.T) {
	var b bytes.Buffer
	err := printProto(&b, "yaml", &pb.Site{Name: "sites/d", DisplayName: "123", GridLimit: &pb.PhaseCurrents{L1: 63, L2: 63, L3: 63}, GridPowerLimitKw: 69.3})
	if err != nil {
		t.Fatal(err)
	}
	want := "name: sites/d\ndisplay_name: \"123\"\ngrid_limit:\n  l1: 63\n  l2: 63\n  l3: 63\ngrid_power_limit_kw: 69.3\n"
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
}

package apiserver

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/smartcharge/smartcharge/proto/smartcharge/v1"
	"github.com/smartcharge/smartcharge/site"
)

func pc(a float64) *pb.PhaseCurrents { return &pb.PhaseCurrents{L1: a, L2: a, L3: a} }

func TestCircuitService(t *testing.T) {
	runCases(t, []callCase{
		{name: "get/ok", call: func(ctx context.Context, e *env) error {
			c, err := e.circuits.GetCircuit(ctx, &pb.GetCircuitRequest{Name: "sites/alpha/circuits/sub"})
			if err == nil && (c.Circuit.Parent != "sites/alpha/circuits/main" || c.Circuit.Limit.L1 != 32 || c.Circuit.Etag == "") {
				t.Errorf("GetCircuit = %v", c.Circuit)
			}
			return err
		}, code: codes.OK},
		{name: "get/wrong collection", call: func(ctx context.Context, e *env) error {
			_, err := e.circuits.GetCircuit(ctx, &pb.GetCircuitRequest{Name: "sites/alpha/chargers/sub"})
			return err
		}, code: codes.InvalidArgument, field: "name"},
		{name: "get/unknown", call: func(ctx context.Context, e *env) error {
			_, err := e.circuits.GetCircuit(ctx, &pb.GetCircuitRequest{Name: "sites/alpha/circuits/nope"})
			return err
		}, code: codes.NotFound},
		{name: "get/unknown site", call: func(ctx context.Context, e *env) error {
			_, err := e.circuits.GetCircuit(ctx, &pb.GetCircuitRequest{Name: "sites/gamma/circuits/main"})
			return err
		}, code: codes.NotFound},
		{name: "list/bad parent", call: func(ctx context.Context, e *env) error {
			_, err := e.circuits.ListCircuits(ctx, &pb.ListCircuitsRequest{Parent: "alpha"})
			return err
		}, code: codes.InvalidArgument, field: "parent"},
		{name: "list/bad token", call: func(ctx context.Context, e *env) error {
			_, err := e.circuits.ListCircuits(ctx, &pb.ListCircuitsRequest{Parent: "sites/alpha", PageToken: encodePageToken("UPPER")})
			return err
		}, code: codes.InvalidArgument, field: "page_token"},
		{name: "list/paged", call: func(ctx context.Context, e *env) error {
			r1, err := e.circuits.ListCircuits(ctx, &pb.ListCircuitsRequest{Parent: "sites/alpha", PageSize: 1})
			if err != nil {
				return err
			}
			r2, err := e.circuits.ListCircuits(ctx, &pb.ListCircuitsRequest{Parent: "sites/alpha", PageSize: 1, PageToken: r1.NextPageToken})
			if err != nil {
				return err
			}
			if len(r1.Circuits) != 1 || r1.Circuits[0].Name != "sites/alpha/circuits/main" || r1.NextPageToken == "" ||
				len(r2.Circuits) != 1 || r2.Circuits[0].Name != "sites/alpha/circuits/sub" || r2.NextPageToken != "" {
				t.Errorf("pages: %v / %v", r1, r2)
			}
			return nil
		}, code: codes.OK},
		{name: "create/ok", call: func(ctx context.Context, e *env) error {
			c, err := e.circuits.CreateCircuit(ctx, &pb.CreateCircuitRequest{Parent: "sites/alpha", CircuitId: "wallbox-row",
				Circuit: &pb.Circuit{Parent: "sites/alpha/circuits/main", Limit: pc(40), PowerLimitKw: 22}})
			if err == nil && (c.Circuit.Name != "sites/alpha/circuits/wallbox-row" || c.Circuit.PowerLimitKw != 22) {
				t.Errorf("CreateCircuit = %v", c.Circuit)
			}
			return err
		}, code: codes.OK},
		{name: "create/bad id", call: func(ctx context.Context, e *env) error {
			_, err := e.circuits.CreateCircuit(ctx, &pb.CreateCircuitRequest{Parent: "sites/alpha", CircuitId: "a_b", Circuit: &pb.Circuit{Limit: pc(1)}})
			return err
		}, code: codes.InvalidArgument, field: "circuit_id"},
		{name: "create/no circuit", call: func(ctx context.Context, e *env) error {
			_, err := e.circuits.CreateCircuit(ctx, &pb.CreateCircuitRequest{Parent: "sites/alpha", CircuitId: "x"})
			return err
		}, code: codes.InvalidArgument, field: "circuit"},
		{name: "create/parent in another site", call: func(ctx context.Context, e *env) error {
			_, err := e.circuits.CreateCircuit(ctx, &pb.CreateCircuitRequest{Parent: "sites/alpha", CircuitId: "x",
				Circuit: &pb.Circuit{Parent: "sites/beta/circuits/main", Limit: pc(1)}})
			return err
		}, code: codes.InvalidArgument, field: "circuit.parent"},
		{name: "create/unknown parent", call: func(ctx context.Context, e *env) error {
			_, err := e.circuits.CreateCircuit(ctx, &pb.CreateCircuitRequest{Parent: "sites/alpha", CircuitId: "x",
				Circuit: &pb.Circuit{Parent: "sites/alpha/circuits/nope", Limit: pc(1)}})
			return err
		}, code: codes.InvalidArgument, field: "circuit.parent"},
		{name: "create/above parent", call: func(ctx context.Context, e *env) error {
			_, err := e.circuits.CreateCircuit(ctx, &pb.CreateCircuitRequest{Parent: "sites/alpha", CircuitId: "x",
				Circuit: &pb.Circuit{Parent: "sites/alpha/circuits/sub", Limit: &pb.PhaseCurrents{L1: 32, L2: 33, L3: 32}}})
			return err
		}, code: codes.InvalidArgument, field: "circuit.limit.l2"},
		{name: "create/above parent, oversubscribed", call: func(ctx context.Context, e *env) error {
			_, err := e.circuits.CreateCircuit(ctx, &pb.CreateCircuitRequest{Parent: "sites/alpha", CircuitId: "over",
				Circuit: &pb.Circuit{Parent: "sites/alpha/circuits/sub", Limit: pc(40), Oversubscribed: true}})
			return err
		}, code: codes.OK},
		{name: "create/duplicate", call: func(ctx context.Context, e *env) error {
			_, err := e.circuits.CreateCircuit(ctx, &pb.CreateCircuitRequest{Parent: "sites/alpha", CircuitId: "main", Circuit: &pb.Circuit{Limit: pc(1)}})
			return err
		}, code: codes.AlreadyExists},
		{name: "create/unknown site", call: func(ctx context.Context, e *env) error {
			_, err := e.circuits.CreateCircuit(ctx, &pb.CreateCircuitRequest{Parent: "sites/gamma", CircuitId: "main", Circuit: &pb.Circuit{Limit: pc(1)}})
			return err
		}, code: codes.NotFound},
		{name: "update/ok", call: func(ctx context.Context, e *env) error {
			c, err := e.circuits.UpdateCircuit(ctx, &pb.UpdateCircuitRequest{
				Circuit: &pb.Circuit{Name: "sites/alpha/circuits/sub", DisplayName: "Sub-board", Limit: pc(1)}, UpdateMask: mask("display_name")})
			if err == nil && (c.Circuit.DisplayName != "Sub-board" || c.Circuit.Limit.L1 != 32) {
				t.Errorf("UpdateCircuit = %v", c.Circuit)
			}
			return err
		}, code: codes.OK},
		{name: "update/cycle", call: func(ctx context.Context, e *env) error {
			_, err := e.circuits.UpdateCircuit(ctx, &pb.UpdateCircuitRequest{
				Circuit: &pb.Circuit{Name: "sites/alpha/circuits/main", Parent: "sites/alpha/circuits/sub"}, UpdateMask: mask("parent")})
			return err
		}, code: codes.InvalidArgument, field: "circuit.parent"},
		{name: "update/limit below child", call: func(ctx context.Context, e *env) error {
			_, err := e.circuits.UpdateCircuit(ctx, &pb.UpdateCircuitRequest{
				Circuit: &pb.Circuit{Name: "sites/alpha/circuits/main", Limit: pc(20)}, UpdateMask: mask("limit")})
			return err
		}, code: codes.InvalidArgument, field: "circuit"}, // sub (32 A) no longer fits
		{name: "update/zero phase", call: func(ctx context.Context, e *env) error {
			_, err := e.circuits.UpdateCircuit(ctx, &pb.UpdateCircuitRequest{
				Circuit: &pb.Circuit{Name: "sites/alpha/circuits/sub"}, UpdateMask: mask("limit.l3")})
			return err
		}, code: codes.InvalidArgument, field: "circuit.limit.l3"},
		{name: "update/bad mask", call: func(ctx context.Context, e *env) error {
			_, err := e.circuits.UpdateCircuit(ctx, &pb.UpdateCircuitRequest{
				Circuit: &pb.Circuit{Name: "sites/alpha/circuits/sub"}, UpdateMask: mask("limit.l4")})
			return err
		}, code: codes.InvalidArgument, field: "update_mask"},
		{name: "update/stale etag", call: func(ctx context.Context, e *env) error {
			_, err := e.circuits.UpdateCircuit(ctx, &pb.UpdateCircuitRequest{
				Circuit: &pb.Circuit{Name: "sites/alpha/circuits/sub", Etag: "50", DisplayName: "x"}})
			return err
		}, code: codes.Aborted},
		{name: "update/unknown", call: func(ctx context.Context, e *env) error {
			_, err := e.circuits.UpdateCircuit(ctx, &pb.UpdateCircuitRequest{Circuit: &pb.Circuit{Name: "sites/alpha/circuits/nope", DisplayName: "x"}})
			return err
		}, code: codes.NotFound},
		{name: "delete/has children", call: func(ctx context.Context, e *env) error {
			_, err := e.circuits.DeleteCircuit(ctx, &pb.DeleteCircuitRequest{Name: "sites/alpha/circuits/main"})
			return err
		}, code: codes.FailedPrecondition},
		{name: "delete/has chargers", call: func(ctx context.Context, e *env) error {
			_, err := e.circuits.DeleteCircuit(ctx, &pb.DeleteCircuitRequest{Name: "sites/alpha/circuits/sub"})
			return err
		}, code: codes.FailedPrecondition},
		{name: "delete/bad etag", call: func(ctx context.Context, e *env) error {
			_, err := e.circuits.DeleteCircuit(ctx, &pb.DeleteCircuitRequest{Name: "sites/alpha/circuits/sub", Etag: "-1"})
			return err
		}, code: codes.InvalidArgument, field: "etag"},
		{name: "delete/ok", call: func(ctx context.Context, e *env) error {
			c := must(e.circuits.CreateCircuit(ctx, &pb.CreateCircuitRequest{Parent: "sites/alpha", CircuitId: "temp", Circuit: &pb.Circuit{Limit: pc(10)}}))(t)
			_, err := e.circuits.DeleteCircuit(ctx, &pb.DeleteCircuitRequest{Name: "sites/alpha/circuits/temp", Etag: c.Circuit.Etag})
			if err == nil {
				_, gerr := e.circuits.GetCircuit(ctx, &pb.GetCircuitRequest{Name: "sites/alpha/circuits/temp"})
				want(t, gerr, codes.NotFound, "")
			}
			return err
		}, code: codes.OK},
		{name: "delete/unknown", call: func(ctx context.Context, e *env) error {
			_, err := e.circuits.DeleteCircuit(ctx, &pb.DeleteCircuitRequest{Name: "sites/alpha/circuits/temp"})
			return err
		}, code: codes.NotFound},
	})
}

func evses(max ...float64) []*pb.Evse {
	var out []*pb.Evse
	for _, m := range max {
		out = append(out, &pb.Evse{MaxCurrent: m, Phases: 3})
	}
	return out
}

func TestChargerService(t *testing.T) {
	runCases(t, []callCase{
		{name: "get/ok with status", call: func(ctx context.Context, e *env) error {
			ref := site.ChargerRef{SiteID: "alpha", ChargerID: "c1"}
			if _, err := e.store.UpdateChargerState(ctx, ref, func(s *site.ChargerState) error {
				s.Connected, s.Protocol, s.LastSeen = true, "ocpp2.0.1", t0
				s.Boot = site.BootInfo{Vendor: "ACME", Model: "Wallbox", FirmwareVersion: "1.2.3"}
				s.EVSEs = map[int]site.EVSEState{2: {Status: site.StatusCharging, StatusTime: t0, Transaction: &site.Transaction{ID: "tx9"}}, 1: {Status: site.StatusAvailable}}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			c, err := e.chargers.GetCharger(ctx, &pb.GetChargerRequest{Name: "sites/alpha/chargers/c1"})
			if err != nil {
				return err
			}
			ch, st := c.Charger, c.Charger.Status
			if ch.OcppIdentity != "CP-001" || ch.Circuit != "sites/alpha/circuits/sub" || ch.PhaseRotation != pb.PhaseRotation_PHASE_ROTATION_RST ||
				len(ch.Evses) != 2 || ch.Evses[1].MinCurrent != 8 || !ch.Evses[1].CanSwitchPhases || !ch.HasOcppPassword || ch.OcppPassword != "" {
				t.Errorf("GetCharger = %v", ch)
			}
			if !st.GetConnected() || st.Protocol != "ocpp2.0.1" || st.Vendor != "ACME" || st.FirmwareVersion != "1.2.3" ||
				!st.LastSeenTime.AsTime().Equal(t0) || len(st.Evses) != 2 || st.Evses[1].State != pb.EvseState_EVSE_STATE_CHARGING || st.Evses[1].TransactionId != "tx9" {
				t.Errorf("status = %v", st)
			}
			return nil
		}, code: codes.OK},
		{name: "get/unknown", call: func(ctx context.Context, e *env) error {
			_, err := e.chargers.GetCharger(ctx, &pb.GetChargerRequest{Name: "sites/alpha/chargers/c9"})
			return err
		}, code: codes.NotFound},
		{name: "get/bad name", call: func(ctx context.Context, e *env) error {
			_, err := e.chargers.GetCharger(ctx, &pb.GetChargerRequest{Name: "sites/alpha/chargers/"})
			return err
		}, code: codes.InvalidArgument, field: "name"},
		{name: "list/ok", call: func(ctx context.Context, e *env) error {
			r, err := e.chargers.ListChargers(ctx, &pb.ListChargersRequest{Parent: "sites/alpha"})
			if err == nil && (len(r.Chargers) != 1 || r.Chargers[0].Status == nil || r.NextPageToken != "") {
				t.Errorf("ListChargers = %v", r)
			}
			return err
		}, code: codes.OK},
		{name: "list/bad page size", call: func(ctx context.Context, e *env) error {
			_, err := e.chargers.ListChargers(ctx, &pb.ListChargersRequest{Parent: "sites/alpha", PageSize: -5})
			return err
		}, code: codes.InvalidArgument, field: "page_size"},
		{name: "create/ok", call: func(ctx context.Context, e *env) error {
			c, err := e.chargers.CreateCharger(ctx, &pb.CreateChargerRequest{Parent: "sites/alpha", ChargerId: "c2",
				Charger: &pb.Charger{OcppIdentity: "CP-002", Circuit: "sites/alpha/circuits/main", PhaseRotation: pb.PhaseRotation_PHASE_ROTATION_STR,
					Evses: evses(16, 16), OcppPassword: "0123456789abcdef0123"}})
			if err != nil {
				return err
			}
			if c.Charger.Evses[1].EvseId != 2 || c.Charger.PhaseRotation != pb.PhaseRotation_PHASE_ROTATION_STR || !c.Charger.HasOcppPassword {
				t.Errorf("CreateCharger = %v", c.Charger)
			}
			checkStoredPassword(t, e.store, site.ChargerRef{SiteID: "alpha", ChargerID: "c2"}, "0123456789abcdef0123")
			ref, err := e.store.ChargerByIdentity(ctx, "CP-002")
			if err != nil || ref != (site.ChargerRef{SiteID: "alpha", ChargerID: "c2"}) {
				t.Errorf("ChargerByIdentity = %v, %v", ref, err)
			}
			return nil
		}, code: codes.OK},
		{name: "create/identity taken here", call: func(ctx context.Context, e *env) error {
			_, err := e.chargers.CreateCharger(ctx, &pb.CreateChargerRequest{Parent: "sites/alpha", ChargerId: "c3",
				Charger: &pb.Charger{OcppIdentity: "CP-001", Evses: evses(16)}})
			return err
		}, code: codes.AlreadyExists},
		{name: "create/identity taken in another site", call: func(ctx context.Context, e *env) error {
			_, err := e.chargers.CreateCharger(ctx, &pb.CreateChargerRequest{Parent: "sites/beta", ChargerId: "c1",
				Charger: &pb.Charger{OcppIdentity: "CP-001", Evses: evses(16)}})
			return err
		}, code: codes.AlreadyExists},
		{name: "create/bad identity", call: func(ctx context.Context, e *env) error {
			_, err := e.chargers.CreateCharger(ctx, &pb.CreateChargerRequest{Parent: "sites/alpha", ChargerId: "c3",
				Charger: &pb.Charger{OcppIdentity: "CP:3", Evses: evses(16)}})
			return err
		}, code: codes.InvalidArgument, field: "charger.ocpp_identity"},
		{name: "create/no evses", call: func(ctx context.Context, e *env) error {
			_, err := e.chargers.CreateCharger(ctx, &pb.CreateChargerRequest{Parent: "sites/alpha", ChargerId: "c3",
				Charger: &pb.Charger{OcppIdentity: "CP-003"}})
			return err
		}, code: codes.InvalidArgument, field: "charger.evses"},
		{name: "create/evse max current", call: func(ctx context.Context, e *env) error {
			_, err := e.chargers.CreateCharger(ctx, &pb.CreateChargerRequest{Parent: "sites/alpha", ChargerId: "c3",
				Charger: &pb.Charger{OcppIdentity: "CP-003", Evses: evses(16, 0)}})
			return err
		}, code: codes.InvalidArgument, field: "charger.evses[1].max_current"},
		{name: "create/unknown circuit", call: func(ctx context.Context, e *env) error {
			_, err := e.chargers.CreateCharger(ctx, &pb.CreateChargerRequest{Parent: "sites/alpha", ChargerId: "c3",
				Charger: &pb.Charger{OcppIdentity: "CP-003", Circuit: "sites/alpha/circuits/nope", Evses: evses(16)}})
			return err
		}, code: codes.InvalidArgument, field: "charger.circuit"},
		{name: "create/bad password", call: func(ctx context.Context, e *env) error {
			_, err := e.chargers.CreateCharger(ctx, &pb.CreateChargerRequest{Parent: "sites/alpha", ChargerId: "c3",
				Charger: &pb.Charger{OcppIdentity: "CP-003", Evses: evses(16), OcppPassword: "sixteen chars !!"}})
			return err
		}, code: codes.InvalidArgument, field: "charger.ocpp_password"},
		{name: "create/bad id", call: func(ctx context.Context, e *env) error {
			_, err := e.chargers.CreateCharger(ctx, &pb.CreateChargerRequest{Parent: "sites/alpha", ChargerId: "",
				Charger: &pb.Charger{OcppIdentity: "CP-003", Evses: evses(16)}})
			return err
		}, code: codes.InvalidArgument, field: "charger_id"},
		{name: "update/ok evses and rotation", call: func(ctx context.Context, e *env) error {
			c, err := e.chargers.UpdateCharger(ctx, &pb.UpdateChargerRequest{
				Charger:    &pb.Charger{Name: "sites/alpha/chargers/c1", Evses: evses(11), PhaseRotation: pb.PhaseRotation_PHASE_ROTATION_TSR, DisplayName: "ignored"},
				UpdateMask: mask("evses", "phase_rotation")})
			if err == nil && (len(c.Charger.Evses) != 1 || c.Charger.PhaseRotation != pb.PhaseRotation_PHASE_ROTATION_TSR || c.Charger.DisplayName != "Bay 1" || !c.Charger.HasOcppPassword) {
				t.Errorf("UpdateCharger = %v", c.Charger)
			}
			return err
		}, code: codes.OK},
		{name: "update/new password", call: func(ctx context.Context, e *env) error {
			_, err := e.chargers.UpdateCharger(ctx, &pb.UpdateChargerRequest{
				Charger: &pb.Charger{Name: "sites/alpha/chargers/c1", OcppPassword: "another-password-0001"}})
			if err == nil {
				checkStoredPassword(t, e.store, site.ChargerRef{SiteID: "alpha", ChargerID: "c1"}, "another-password-0001")
			}
			return err
		}, code: codes.OK},
		{name: "update/clear password", call: func(ctx context.Context, e *env) error {
			c, err := e.chargers.UpdateCharger(ctx, &pb.UpdateChargerRequest{
				Charger: &pb.Charger{Name: "sites/alpha/chargers/c1"}, UpdateMask: mask("ocpp_password")})
			if err == nil && c.Charger.HasOcppPassword {
				t.Error("password still set")
			}
			return err
		}, code: codes.OK},
		{name: "update/output-only status", call: func(ctx context.Context, e *env) error {
			_, err := e.chargers.UpdateCharger(ctx, &pb.UpdateChargerRequest{
				Charger: &pb.Charger{Name: "sites/alpha/chargers/c1"}, UpdateMask: mask("status")})
			return err
		}, code: codes.InvalidArgument, field: "update_mask"},
		{name: "update/bad rotation", call: func(ctx context.Context, e *env) error {
			_, err := e.chargers.UpdateCharger(ctx, &pb.UpdateChargerRequest{
				Charger: &pb.Charger{Name: "sites/alpha/chargers/c1", PhaseRotation: 99}, UpdateMask: mask("phase_rotation")})
			return err
		}, code: codes.InvalidArgument, field: "charger.phase_rotation"},
		{name: "update/evse min above max", call: func(ctx context.Context, e *env) error {
			_, err := e.chargers.UpdateCharger(ctx, &pb.UpdateChargerRequest{
				Charger: &pb.Charger{Name: "sites/alpha/chargers/c1", Evses: []*pb.Evse{{MaxCurrent: 10, MinCurrent: 12, Phases: 1}}}, UpdateMask: mask("evses")})
			return err
		}, code: codes.InvalidArgument, field: "charger.evses[0].min_current"},
		{name: "update/identity of another site's charger", call: func(ctx context.Context, e *env) error {
			must(e.chargers.CreateCharger(ctx, &pb.CreateChargerRequest{Parent: "sites/beta", ChargerId: "b1",
				Charger: &pb.Charger{OcppIdentity: "CP-B1", Evses: evses(16)}}))(t)
			_, err := e.chargers.UpdateCharger(ctx, &pb.UpdateChargerRequest{
				Charger: &pb.Charger{Name: "sites/alpha/chargers/c1", OcppIdentity: "CP-B1"}, UpdateMask: mask("ocpp_identity")})
			return err
		}, code: codes.AlreadyExists},
		{name: "update/stale etag", call: func(ctx context.Context, e *env) error {
			_, err := e.chargers.UpdateCharger(ctx, &pb.UpdateChargerRequest{Charger: &pb.Charger{Name: "sites/alpha/chargers/c1", Etag: "1000", DisplayName: "x"}})
			return err
		}, code: codes.Aborted},
		{name: "delete/stale etag", call: func(ctx context.Context, e *env) error {
			_, err := e.chargers.DeleteCharger(ctx, &pb.DeleteChargerRequest{Name: "sites/alpha/chargers/c1", Etag: "1000"})
			return err
		}, code: codes.Aborted},
		{name: "delete/ok", call: func(ctx context.Context, e *env) error {
			_, err := e.chargers.DeleteCharger(ctx, &pb.DeleteChargerRequest{Name: "sites/alpha/chargers/c1"})
			if err == nil {
				if _, ierr := e.store.ChargerByIdentity(ctx, "CP-001"); ierr == nil {
					t.Error("identity still registered after delete")
				}
			}
			return err
		}, code: codes.OK},
		{name: "delete/unknown", call: func(ctx context.Context, e *env) error {
			_, err := e.chargers.DeleteCharger(ctx, &pb.DeleteChargerRequest{Name: "sites/alpha/chargers/c1"})
			return err
		}, code: codes.NotFound},
	})
}

func TestGridLimitService(t *testing.T) {
	runCases(t, []callCase{
		{name: "get/ok", call: func(ctx context.Context, e *env) error {
			g, err := e.limits.GetGridLimit(ctx, &pb.GetGridLimitRequest{Name: "sites/alpha/gridLimits/ems1"})
			if err == nil && (g.GridLimit.Source != pb.GridLimitSource_GRID_LIMIT_SOURCE_EMS || g.GridLimit.Active || g.GridLimit.Limit.L1 != 40) {
				t.Errorf("GetGridLimit = %v (not active before its start)", g.GridLimit)
			}
			return err
		}, code: codes.OK},
		{name: "get/wrong collection case", call: func(ctx context.Context, e *env) error {
			_, err := e.limits.GetGridLimit(ctx, &pb.GetGridLimitRequest{Name: "sites/alpha/gridlimits/ems1"})
			return err
		}, code: codes.InvalidArgument, field: "name"},
		{name: "list/ok", call: func(ctx context.Context, e *env) error {
			r, err := e.limits.ListGridLimits(ctx, &pb.ListGridLimitsRequest{Parent: "sites/alpha", PageSize: 10})
			if err == nil && (len(r.GridLimits) != 2 || !r.GridLimits[0].Active) {
				t.Errorf("ListGridLimits = %v", r)
			}
			return err
		}, code: codes.OK},
		{name: "list/bad parent", call: func(ctx context.Context, e *env) error {
			_, err := e.limits.ListGridLimits(ctx, &pb.ListGridLimitsRequest{Parent: "sites/"})
			return err
		}, code: codes.InvalidArgument, field: "parent"},
		{name: "create/ok power only", call: func(ctx context.Context, e *env) error {
			g, err := e.limits.CreateGridLimit(ctx, &pb.CreateGridLimitRequest{Parent: "sites/alpha", GridLimitId: "peak",
				GridLimit: &pb.GridLimit{Source: pb.GridLimitSource_GRID_LIMIT_SOURCE_OWNER, PowerLimitKw: 30}})
			if err == nil && (g.GridLimit.PowerLimitKw != 30 || !g.GridLimit.Active) {
				t.Errorf("CreateGridLimit = %v", g.GridLimit)
			}
			return err
		}, code: codes.OK},
		{name: "create/no source", call: func(ctx context.Context, e *env) error {
			_, err := e.limits.CreateGridLimit(ctx, &pb.CreateGridLimitRequest{Parent: "sites/alpha", GridLimitId: "x", GridLimit: &pb.GridLimit{PowerLimitKw: 30}})
			return err
		}, code: codes.InvalidArgument, field: "grid_limit.source"},
		{name: "create/connection source", call: func(ctx context.Context, e *env) error {
			_, err := e.limits.CreateGridLimit(ctx, &pb.CreateGridLimitRequest{Parent: "sites/alpha", GridLimitId: "x",
				GridLimit: &pb.GridLimit{Source: pb.GridLimitSource_GRID_LIMIT_SOURCE_CONNECTION, PowerLimitKw: 30}})
			return err
		}, code: codes.InvalidArgument, field: "grid_limit.source"},
		{name: "create/empty limit", call: func(ctx context.Context, e *env) error {
			_, err := e.limits.CreateGridLimit(ctx, &pb.CreateGridLimitRequest{Parent: "sites/alpha", GridLimitId: "x",
				GridLimit: &pb.GridLimit{Source: pb.GridLimitSource_GRID_LIMIT_SOURCE_OWNER}})
			return err
		}, code: codes.InvalidArgument, field: "grid_limit.limit"},
		{name: "create/one phase only", call: func(ctx context.Context, e *env) error {
			_, err := e.limits.CreateGridLimit(ctx, &pb.CreateGridLimitRequest{Parent: "sites/alpha", GridLimitId: "x",
				GridLimit: &pb.GridLimit{Source: pb.GridLimitSource_GRID_LIMIT_SOURCE_OWNER, Limit: &pb.PhaseCurrents{L1: 20}}})
			return err
		}, code: codes.InvalidArgument, field: "grid_limit.limit.l2"},
		{name: "create/end before start", call: func(ctx context.Context, e *env) error {
			_, err := e.limits.CreateGridLimit(ctx, &pb.CreateGridLimitRequest{Parent: "sites/alpha", GridLimitId: "x",
				GridLimit: &pb.GridLimit{Source: pb.GridLimitSource_GRID_LIMIT_SOURCE_OWNER, PowerLimitKw: 1,
					StartTime: timestamppb.New(t0), EndTime: timestamppb.New(t0.Add(-time.Second))}})
			return err
		}, code: codes.InvalidArgument, field: "grid_limit.end_time"},
		{name: "create/invalid timestamp", call: func(ctx context.Context, e *env) error {
			_, err := e.limits.CreateGridLimit(ctx, &pb.CreateGridLimitRequest{Parent: "sites/alpha", GridLimitId: "x",
				GridLimit: &pb.GridLimit{Source: pb.GridLimitSource_GRID_LIMIT_SOURCE_OWNER, PowerLimitKw: 1, StartTime: &timestamppb.Timestamp{Nanos: -1}}})
			return err
		}, code: codes.InvalidArgument, field: "grid_limit.start_time"},
		{name: "create/duplicate", call: func(ctx context.Context, e *env) error {
			_, err := e.limits.CreateGridLimit(ctx, &pb.CreateGridLimitRequest{Parent: "sites/alpha", GridLimitId: "dso",
				GridLimit: &pb.GridLimit{Source: pb.GridLimitSource_GRID_LIMIT_SOURCE_OWNER, PowerLimitKw: 1}})
			return err
		}, code: codes.AlreadyExists},
		{name: "update/ok", call: func(ctx context.Context, e *env) error {
			g, err := e.limits.UpdateGridLimit(ctx, &pb.UpdateGridLimitRequest{
				GridLimit:  &pb.GridLimit{Name: "sites/alpha/gridLimits/dso", Reason: "new reason", EndTime: timestamppb.New(t0.Add(time.Minute))},
				UpdateMask: mask("reason", "end_time")})
			if err == nil && (g.GridLimit.Reason != "new reason" || g.GridLimit.Limit.L1 != 50 || !g.GridLimit.Active) {
				t.Errorf("UpdateGridLimit = %v", g.GridLimit)
			}
			return err
		}, code: codes.OK},
		{name: "update/unknown path", call: func(ctx context.Context, e *env) error {
			_, err := e.limits.UpdateGridLimit(ctx, &pb.UpdateGridLimitRequest{GridLimit: &pb.GridLimit{Name: "sites/alpha/gridLimits/dso"}, UpdateMask: mask("until")})
			return err
		}, code: codes.InvalidArgument, field: "update_mask"},
		{name: "update/negative", call: func(ctx context.Context, e *env) error {
			_, err := e.limits.UpdateGridLimit(ctx, &pb.UpdateGridLimitRequest{
				GridLimit: &pb.GridLimit{Name: "sites/alpha/gridLimits/dso", Limit: &pb.PhaseCurrents{L1: -3}}, UpdateMask: mask("limit.l1")})
			return err
		}, code: codes.InvalidArgument, field: "grid_limit.limit.l1"},
		{name: "update/unknown", call: func(ctx context.Context, e *env) error {
			_, err := e.limits.UpdateGridLimit(ctx, &pb.UpdateGridLimitRequest{GridLimit: &pb.GridLimit{Name: "sites/alpha/gridLimits/zzz", Reason: "x"}})
			return err
		}, code: codes.NotFound},
		{name: "set/creates", call: func(ctx context.Context, e *env) error {
			g, err := e.limits.SetGridLimit(ctx, &pb.SetGridLimitRequest{GridLimit: &pb.GridLimit{Name: "sites/alpha/gridLimits/ems2",
				Source: pb.GridLimitSource_GRID_LIMIT_SOURCE_EMS, Limit: pc(20)}})
			if err == nil && (!g.Created || g.GridLimit.Etag == "") {
				t.Errorf("SetGridLimit = %v", g)
			}
			return err
		}, code: codes.OK},
		{name: "set/replaces", call: func(ctx context.Context, e *env) error {
			old := must(e.limits.GetGridLimit(ctx, &pb.GetGridLimitRequest{Name: "sites/alpha/gridLimits/ems2"}))(t).GridLimit
			g, err := e.limits.SetGridLimit(ctx, &pb.SetGridLimitRequest{GridLimit: &pb.GridLimit{Name: "sites/alpha/gridLimits/ems2",
				Source: pb.GridLimitSource_GRID_LIMIT_SOURCE_EMS, Limit: pc(25), Etag: old.Etag}})
			if err == nil && (g.Created || g.GridLimit.Limit.L1 != 25 || g.GridLimit.Etag == old.Etag) {
				t.Errorf("SetGridLimit = %v", g)
			}
			return err
		}, code: codes.OK},
		{name: "set/same again keeps etag", call: func(ctx context.Context, e *env) error {
			old := must(e.limits.GetGridLimit(ctx, &pb.GetGridLimitRequest{Name: "sites/alpha/gridLimits/ems2"}))(t).GridLimit
			g, err := e.limits.SetGridLimit(ctx, &pb.SetGridLimitRequest{GridLimit: &pb.GridLimit{Name: "sites/alpha/gridLimits/ems2",
				Source: pb.GridLimitSource_GRID_LIMIT_SOURCE_EMS, Limit: pc(25)}})
			if err == nil && g.GridLimit.Etag != old.Etag {
				t.Errorf("unchanged SetGridLimit changed the etag %s -> %s", old.Etag, g.GridLimit.Etag)
			}
			return err
		}, code: codes.OK},
		{name: "set/stale etag", call: func(ctx context.Context, e *env) error {
			_, err := e.limits.SetGridLimit(ctx, &pb.SetGridLimitRequest{GridLimit: &pb.GridLimit{Name: "sites/alpha/gridLimits/ems2",
				Source: pb.GridLimitSource_GRID_LIMIT_SOURCE_EMS, Limit: pc(25), Etag: "1234"}})
			return err
		}, code: codes.Aborted},
		{name: "set/etag on missing", call: func(ctx context.Context, e *env) error {
			_, err := e.limits.SetGridLimit(ctx, &pb.SetGridLimitRequest{GridLimit: &pb.GridLimit{Name: "sites/alpha/gridLimits/ems3",
				Source: pb.GridLimitSource_GRID_LIMIT_SOURCE_EMS, Limit: pc(25), Etag: "1"}})
			return err
		}, code: codes.NotFound},
		{name: "set/no name", call: func(ctx context.Context, e *env) error {
			_, err := e.limits.SetGridLimit(ctx, &pb.SetGridLimitRequest{GridLimit: &pb.GridLimit{Source: pb.GridLimitSource_GRID_LIMIT_SOURCE_EMS, Limit: pc(25)}})
			return err
		}, code: codes.InvalidArgument, field: "grid_limit.name"},
		{name: "set/nil", call: func(ctx context.Context, e *env) error {
			_, err := e.limits.SetGridLimit(ctx, &pb.SetGridLimitRequest{})
			return err
		}, code: codes.InvalidArgument, field: "grid_limit"},
		{name: "delete/ok", call: func(ctx context.Context, e *env) error {
			_, err := e.limits.DeleteGridLimit(ctx, &pb.DeleteGridLimitRequest{Name: "sites/alpha/gridLimits/ems2"})
			return err
		}, code: codes.OK},
		{name: "delete/unknown", call: func(ctx context.Context, e *env) error {
			_, err := e.limits.DeleteGridLimit(ctx, &pb.DeleteGridLimitRequest{Name: "sites/alpha/gridLimits/ems2"})
			return err
		}, code: codes.NotFound},
		{name: "effective/bad name", call: func(ctx context.Context, e *env) error {
			_, err := e.limits.GetEffectiveGridLimit(ctx, &pb.GetEffectiveGridLimitRequest{Name: "sites/alpha/effectiveGridLimits"})
			return err
		}, code: codes.InvalidArgument, field: "name"},
		{name: "effective/bad time", call: func(ctx context.Context, e *env) error {
			_, err := e.limits.GetEffectiveGridLimit(ctx, &pb.GetEffectiveGridLimitRequest{Name: "sites/alpha/effectiveGridLimit",
				EvaluateTime: &timestamppb.Timestamp{Seconds: 1 << 62}})
			return err
		}, code: codes.InvalidArgument, field: "evaluate_time"},
		{name: "effective/unknown site", call: func(ctx context.Context, e *env) error {
			_, err := e.limits.GetEffectiveGridLimit(ctx, &pb.GetEffectiveGridLimitRequest{Name: "sites/gamma/effectiveGridLimit"})
			return err
		}, code: codes.NotFound},
	})
}

// TestEffectiveGridLimit: the lowest active limit per phase wins, and the
// answer says which limit it is and why.
func TestEffectiveGridLimit(t *testing.T) {
	for _, f := range factories(t) {
		t.Run(f.name, func(t *testing.T) {
			e := newEnv(t, f, envOpts{})
			ctx := as("viewer")
			eff := func(at time.Time) *pb.EffectiveGridLimit {
				req := &pb.GetEffectiveGridLimitRequest{Name: "sites/alpha/effectiveGridLimit"}
				if !at.IsZero() {
					req.EvaluateTime = timestamppb.New(at)
				}
				return must(e.limits.GetEffectiveGridLimit(ctx, req))(t).EffectiveGridLimit
			}
			cases := []struct {
				name      string
				at        time.Time
				wantL1    float64
				wantL1By  string
				wantL2By  string
				wantPower float64
				wantPwrBy pb.GridLimitSource
				active    int
			}{
				{name: "now (clock): dso only", wantL1: 50, wantL1By: "sites/alpha/gridLimits/dso", wantL2By: "sites/alpha/gridLimits/dso",
					wantPower: 43, wantPwrBy: pb.GridLimitSource_GRID_LIMIT_SOURCE_CONNECTION, active: 1},
				{name: "after ems1 starts: ems1 on L1", at: t0.Add(2 * time.Hour), wantL1: 40, wantL1By: "sites/alpha/gridLimits/ems1",
					wantL2By: "sites/alpha/gridLimits/dso", wantPower: 43, wantPwrBy: pb.GridLimitSource_GRID_LIMIT_SOURCE_CONNECTION, active: 2},
			}
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					got := eff(c.at)
					if got.Limit.L1 != c.wantL1 || got.Phases[0].Origin.GridLimit != c.wantL1By || got.Phases[1].Origin.GridLimit != c.wantL2By ||
						got.PowerLimitKw != c.wantPower || got.PowerLimitOrigin.GetSource() != c.wantPwrBy || len(got.ActiveGridLimits) != c.active {
						t.Errorf("effective = %v", got)
					}
					if got.Phases[0].Phase != pb.Phase_PHASE_L1 || got.Phases[0].Origin.Reason == "" {
						t.Errorf("phase L1 origin = %v", got.Phases[0])
					}
				})
			}
			// Without grid limits the connection itself is in force.
			for _, n := range []string{"dso", "ems1"} {
				must(e.limits.DeleteGridLimit(as("admin"), &pb.DeleteGridLimitRequest{Name: "sites/alpha/gridLimits/" + n}))(t)
			}
			got := eff(time.Time{})
			if got.Limit.L1 != 63 || got.Phases[2].Origin.Source != pb.GridLimitSource_GRID_LIMIT_SOURCE_CONNECTION || got.Phases[2].Origin.GridLimit != "" {
				t.Errorf("effective without limits = %v", got)
			}
		})
	}
}

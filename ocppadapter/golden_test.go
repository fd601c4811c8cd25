package ocppadapter

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/smartcharge/smartcharge/site"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// Every frame the adapter sends, compared byte for byte with
// testdata/<name>.golden (go test -run TestGolden -update rewrites them)
// and validated against the OCA schema of its action.
func TestGoldenOutgoing(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 600_000_000, time.UTC)
	tx := site.LimitRequest{EVSE: 1, Purpose: site.PurposeTx, TransactionID: "42", ProfileID: 7, StackLevel: 2, Unit: site.UnitAmps, Duration: 2 * time.Hour,
		Periods: []site.Period{{Limit: 16}, {Offset: 30 * time.Minute, Limit: 9.99, Phases: 1}}}
	stationMax := site.LimitRequest{Purpose: site.PurposeStationMax, ProfileID: 1, Unit: site.UnitAmps, Periods: []site.Period{{Limit: 32}}}
	txDefaultW := site.LimitRequest{EVSE: 2, Purpose: site.PurposeTxDefault, ProfileID: 2, StackLevel: 1, Unit: site.UnitWatts, Start: now.Add(time.Hour),
		Periods: []site.Period{{Limit: 11000.05, Phases: 3}, {Offset: time.Hour, Limit: 4140}}}
	clearAll := site.ClearRequest{}
	clearSome := site.ClearRequest{ProfileID: 3, EVSE: 1, Purpose: site.PurposeTx, StackLevel: 2}
	tests := []struct {
		name   string
		v      Version
		action string
		dir    msgDir
		msg    any
	}{
		{"v16_setchargingprofile_stationmax", V16, "SetChargingProfile", dirReq, must(setProfile16(stationMax, now))},
		{"v16_setchargingprofile_tx", V16, "SetChargingProfile", dirReq, must(setProfile16(tx, now))},
		{"v16_setchargingprofile_txdefault_watts", V16, "SetChargingProfile", dirReq, must(setProfile16(txDefaultW, now))},
		{"v201_setchargingprofile_stationmax", V201, "SetChargingProfile", dirReq, setProfile201(stationMax, now)},
		{"v201_setchargingprofile_tx", V201, "SetChargingProfile", dirReq, setProfile201(tx, now)},
		{"v201_setchargingprofile_txdefault_watts", V201, "SetChargingProfile", dirReq, setProfile201(txDefaultW, now)},
		{"v16_clearchargingprofile_all", V16, "ClearChargingProfile", dirReq, clearProfile16(clearAll)},
		{"v16_clearchargingprofile_fields", V16, "ClearChargingProfile", dirReq, clearProfile16(clearSome)},
		{"v201_clearchargingprofile_all", V201, "ClearChargingProfile", dirReq, clearProfile201(clearAll)},
		{"v201_clearchargingprofile_fields", V201, "ClearChargingProfile", dirReq, clearProfile201(clearSome)},
		{"v16_getcompositeschedule", V16, "GetCompositeSchedule", dirReq, compositeReq16{ConnectorID: 1, Duration: 3600, RateUnit: "A"}},
		{"v201_getcompositeschedule", V201, "GetCompositeSchedule", dirReq, compositeReq201{Duration: 3600, RateUnit: "A", EvseID: 1}},
		{"v16_triggermessage_status", V16, "TriggerMessage", dirReq, triggerReq16{RequestedMessage: "StatusNotification", ConnectorID: optInt(1)}},
		{"v201_triggermessage_status", V201, "TriggerMessage", dirReq, triggerReq201{RequestedMessage: "StatusNotification", Evse: &evse201{ID: 1}}},
		{"v16_getconfiguration_capabilities", V16, "GetConfiguration", dirReq, getConfigReq16{Key: capabilityKeys16[:]}},
		{"v16_changeconfiguration_sampleddata", V16, "ChangeConfiguration", dirReq, changeConfigReq16{Key: "MeterValuesSampledData", Value: sampledMeasurands}},
		{"v201_getvariables_capabilities", V201, "GetVariables", dirReq, capabilityVariables201()},
		{"v201_setvariables_sampling", V201, "SetVariables", dirReq, samplingVariables201(sampledMeasurands, time.Minute)},
		{"v201_getbasereport", V201, "GetBaseReport", dirReq, getBaseReportReq201{RequestID: 1, ReportBase: "FullInventory"}},
		{"v201_getchargingprofiles", V201, "GetChargingProfiles", dirReq, getChargingProfiles201(1, 1, site.PurposeTx)},
		{"v16_bootnotification_conf", V16, "BootNotification", dirConf, bootConf16{Status: "Accepted", CurrentTime: now, Interval: 300}},
		{"v201_bootnotification_conf", V201, "BootNotification", dirConf, bootConf201{Status: "Accepted", CurrentTime: now, Interval: 300}},
		{"v16_heartbeat_conf", V16, "Heartbeat", dirConf, heartbeatConf{CurrentTime: now}},
		{"v16_starttransaction_conf", V16, "StartTransaction", dirConf, startTxConf16{IDTagInfo: idTagInfo16{Status: "Accepted"}, TransactionID: 42}},
		{"v16_stoptransaction_conf", V16, "StopTransaction", dirConf, stopTxConf16{IDTagInfo: &idTagInfo16{Status: "Accepted"}}},
		{"v16_datatransfer_conf", V16, "DataTransfer", dirConf, dataTransferConf{Status: "UnknownVendorId"}},
		{"v201_transactionevent_conf", V201, "TransactionEvent", dirConf, txEventConf201{IDTokenInfo: &idTokenInfo201{Status: "Accepted"}}},
		{"v201_notifyevchargingneeds_conf", V201, "NotifyEVChargingNeeds", dirConf, evNeedsConf201{Status: "Accepted"}},
		{"v201_authorize_conf", V201, "Authorize", dirConf, authorizeConf201{IDTokenInfo: idTokenInfo201{Status: "Accepted"}}},
	}
	sets := map[Version]*schemaSet{V16: mustSchemas(t, V16), V201: mustSchemas(t, V201)}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			payload, err := json.Marshal(tc.msg)
			if err != nil {
				t.Fatal(err)
			}
			if cerr := sets[tc.v].validate(tc.action, tc.dir, payload); cerr != nil {
				t.Errorf("breaks the %s schema of %s: %v", tc.v, tc.action, cerr)
			}
			var frame []byte
			if tc.dir == dirReq {
				frame = AppendCall(nil, "golden-1", tc.action, payload)
			} else {
				frame = AppendCallResult(nil, "golden-1", payload)
			}
			var pretty bytes.Buffer
			if err := json.Indent(&pretty, frame, "", "  "); err != nil {
				t.Fatal(err)
			}
			pretty.WriteByte('\n')
			path := filepath.Join("testdata", tc.name+".golden")
			if *update {
				if err := os.WriteFile(path, pretty.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create)", err)
			}
			if !bytes.Equal(pretty.Bytes(), want) {
				t.Errorf("frame differs from %s:\ngot:\n%s\nwant:\n%s", path, pretty.Bytes(), want)
			}
		})
	}
}

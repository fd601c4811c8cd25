package ocppadapter

import (
	"strings"
	"testing"
)

func mustSchemas(t testing.TB, v Version) *schemaSet {
	t.Helper()
	s, err := newSchemaSet(v)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Payload validation against the OCA schemas and the CALLERROR each kind
// of violation gets (OCPP-J 1.6 section 4.2.3, 2.0.1 Part 4 section 4.3).
func TestValidatePayload(t *testing.T) {
	long := strings.Repeat("x", 21)
	tests := []struct {
		desc    string
		v       Version
		action  string
		payload string
		code    ErrorCode // 0: valid
		wire    string
	}{
		{"1.6 valid BootNotification", V16, "BootNotification", `{"chargePointVendor":"A","chargePointModel":"B"}`, 0, ""},
		{"1.6 OccurenceConstraintViolation: missing chargePointModel", V16, "BootNotification", `{"chargePointVendor":"A"}`, CodeOccurrenceConstraintViolation, "OccurenceConstraintViolation"},
		{"1.6 TypeConstraintViolation: vendor is a number", V16, "BootNotification", `{"chargePointVendor":1,"chargePointModel":"B"}`, CodeTypeConstraintViolation, "TypeConstraintViolation"},
		{"1.6 PropertyConstraintViolation: vendor longer than 20", V16, "BootNotification", `{"chargePointVendor":"` + long + `","chargePointModel":"B"}`, CodePropertyConstraintViolation, "PropertyConstraintViolation"},
		{"1.6 PropertyConstraintViolation: unknown status", V16, "StatusNotification", `{"connectorId":1,"errorCode":"NoError","status":"Dancing"}`, CodePropertyConstraintViolation, "PropertyConstraintViolation"},
		{"1.6 PropertyConstraintViolation: bad date-time", V16, "StartTransaction", `{"connectorId":1,"idTag":"T","meterStart":0,"timestamp":"yesterday"}`, CodePropertyConstraintViolation, "PropertyConstraintViolation"},
		{"1.6 TypeConstraintViolation: meterStart is a string", V16, "StartTransaction", `{"connectorId":1,"idTag":"T","meterStart":"0","timestamp":"2026-01-01T00:00:00Z"}`, CodeTypeConstraintViolation, "TypeConstraintViolation"},
		{"1.6 TypeConstraintViolation: connectorId is fractional", V16, "StatusNotification", `{"connectorId":1.5,"errorCode":"NoError","status":"Available"}`, CodeTypeConstraintViolation, "TypeConstraintViolation"},
		{"1.6 FormationViolation: unknown field", V16, "Heartbeat", `{"extra":1}`, CodeFormatViolation, "FormationViolation"},
		{"1.6 NotImplemented: unknown action", V16, "TransactionEvent", `{}`, CodeNotImplemented, "NotImplemented"},
		{"2.0.1 valid BootNotification", V201, "BootNotification", `{"reason":"PowerUp","chargingStation":{"model":"M","vendorName":"V"}}`, 0, ""},
		{"2.0.1 valid with customData", V201, "Heartbeat", `{"customData":{"vendorId":"x","more":1}}`, 0, ""},
		{"2.0.1 OccurrenceConstraintViolation: missing reason", V201, "BootNotification", `{"chargingStation":{"model":"M","vendorName":"V"}}`, CodeOccurrenceConstraintViolation, "OccurrenceConstraintViolation"},
		{"2.0.1 OccurrenceConstraintViolation: empty meterValue array", V201, "MeterValues", `{"evseId":1,"meterValue":[]}`, CodeOccurrenceConstraintViolation, "OccurrenceConstraintViolation"},
		{"2.0.1 TypeConstraintViolation: seqNo is a string", V201, "TransactionEvent", `{"eventType":"Started","timestamp":"2026-01-01T00:00:00Z","triggerReason":"CablePluggedIn","seqNo":"1","transactionInfo":{"transactionId":"t"}}`, CodeTypeConstraintViolation, "TypeConstraintViolation"},
		{"2.0.1 PropertyConstraintViolation: unknown connectorStatus", V201, "StatusNotification", `{"timestamp":"2026-01-01T00:00:00Z","connectorStatus":"Busy","evseId":1,"connectorId":1}`, CodePropertyConstraintViolation, "PropertyConstraintViolation"},
		{"2.0.1 PropertyConstraintViolation: transactionId longer than 36", V201, "TransactionEvent", `{"eventType":"Started","timestamp":"2026-01-01T00:00:00Z","triggerReason":"CablePluggedIn","seqNo":1,"transactionInfo":{"transactionId":"` + strings.Repeat("t", 37) + `"}}`, CodePropertyConstraintViolation, "PropertyConstraintViolation"},
		{"2.0.1 FormatViolation: unknown field", V201, "Heartbeat", `{"extra":1}`, CodeFormatViolation, "FormatViolation"},
		{"2.0.1 FormatViolation: payload not JSON", V201, "Heartbeat", `{"a":`, CodeFormatViolation, "FormatViolation"},
		{"2.0.1 NotImplemented: 1.6-only action", V201, "StartTransaction", `{}`, CodeNotImplemented, "NotImplemented"},
	}
	sets := map[Version]*schemaSet{V16: mustSchemas(t, V16), V201: mustSchemas(t, V201)}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			cerr := sets[tc.v].validate(tc.action, dirReq, []byte(tc.payload))
			if tc.code == 0 {
				if cerr != nil {
					t.Fatalf("unexpected %v", cerr)
				}
				return
			}
			if cerr == nil {
				t.Fatalf("valid, want %v", tc.code)
			}
			if cerr.Code != tc.code || cerr.Code.Wire(tc.v) != tc.wire {
				t.Fatalf("got %v (%s): %s; want %v (%s)", cerr.Code, cerr.Code.Wire(tc.v), cerr.Description, tc.code, tc.wire)
			}
		})
	}
}

// Every schema of both versions compiles.
func TestAllSchemasCompile(t *testing.T) {
	for _, v := range []Version{V16, V201} {
		s := mustSchemas(t, v)
		for id := range s.known {
			action, dir := strings.TrimPrefix(id, "urn:"), dirReq
			if a, ok := strings.CutSuffix(action, ".conf"); ok {
				action, dir = a, dirConf
			} else {
				action = strings.TrimSuffix(action, ".req")
			}
			if _, err := s.schema(action, dir); err != nil {
				t.Errorf("%s %s: %v", v, id, err)
			}
		}
	}
}

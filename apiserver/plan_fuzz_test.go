package apiserver

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	pb "github.com/smartcharge/smartcharge/proto/smartcharge/v1"
	"github.com/smartcharge/smartcharge/site"
)

// FuzzPlanInputsFromProto: plan inputs from the wire (prices, limit
// schedule, forecasts, settings as protobuf) never panic the conversion;
// whatever the handlers accept is valid as a whole (the store takes it),
// survives the store's JSON encoding, and converts back to the same proto
// and again to the same value.
func FuzzPlanInputsFromProto(f *testing.F) {
	seeds := []proto.Message{
		&pb.Prices{Name: "sites/alpha/prices", CurrencyCode: "EUR", ImportPrices: points(0.4, 0.1), ExportPrices: points(0.05), Co2Intensity: points(300)},
		&pb.LimitSchedule{Name: "sites/alpha/limitSchedule", Windows: []*pb.LimitWindow{
			{Node: "sites/alpha", StartTime: tsAt(1), EndTime: tsAt(2), Limit: &pb.PhaseCurrents{L1: 40}, Source: pb.GridLimitSource_GRID_LIMIT_SOURCE_EMS},
			{Node: "sites/alpha/circuits/sub", StartTime: tsAt(0), EndTime: tsAt(3), PowerLimitKw: 11.5}}},
		&pb.Forecasts{Name: "sites/alpha/forecasts", Forecasts: []*pb.Forecast{{Node: "sites/alpha/circuits/main", Kind: pb.ForecastKind_FORECAST_KIND_PV,
			EndTime: tsAt(4), Points: []*pb.PhaseSeriesPoint{{StartTime: tsAt(2), Current: &pb.PhaseCurrents{L1: 20, L2: 20, L3: 20}}}}}},
		&pb.PlanSettings{Name: "sites/alpha/planSettings", Slot: durationpb.New(30 * time.Minute), Horizon: durationpb.New(36 * time.Hour), DefaultEnergyKwh: 12.5},
	}
	for i, m := range seeds {
		b, err := proto.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint8(i), b)
	}
	f.Add(uint8(0), []byte{0x1a, 0x00})
	cfg, err := ConfigFromProto(alphaConfig())
	if err != nil {
		f.Fatal(err)
	}
	cfg.Site.ID = "alpha"
	f.Fuzz(func(t *testing.T, kind uint8, data []byte) {
		var in site.PlanInputs
		v := &site.ValidationError{}
		var back func() proto.Message
		switch kind % 4 {
		case 0:
			m := &pb.Prices{}
			if proto.Unmarshal(data, m) != nil {
				return
			}
			in.Prices = pricesFromProto(m, "prices", v)
			back = func() proto.Message { return pricesToProto("alpha", in.Prices) }
		case 1:
			m := &pb.LimitSchedule{}
			if proto.Unmarshal(data, m) != nil {
				return
			}
			for _, w := range m.GetWindows() {
				in.Limits.Windows = append(in.Limits.Windows, windowFromProto(w, &cfg, "w", v))
			}
			back = func() proto.Message { return scheduleToProto("alpha", in.Limits) }
		case 2:
			m := &pb.Forecasts{}
			if proto.Unmarshal(data, m) != nil {
				return
			}
			for _, fc := range m.GetForecasts() {
				in.Forecasts.Forecasts = append(in.Forecasts.Forecasts, forecastFromProto(fc, &cfg, "f", v))
			}
			back = func() proto.Message { return forecastsToProto("alpha", in.Forecasts) }
		case 3:
			m := &pb.PlanSettings{}
			if proto.Unmarshal(data, m) != nil {
				return
			}
			in.Settings = settingsFromProto(m, "s", v)
			back = func() proto.Message { return settingsToProto("alpha", in.Settings) }
		}
		if v.Err() != nil {
			return
		}
		if in.Validate() != nil {
			return
		}
		b, err := json.Marshal(in)
		if err != nil {
			t.Fatalf("accepted inputs do not encode for the store: %v (%+v)", err, in)
		}
		var stored site.PlanInputs
		if err := json.Unmarshal(b, &stored); err != nil || stored.Validate() != nil {
			t.Fatalf("stored inputs do not read back valid: %v", err)
		}
		// proto -> domain -> proto -> domain is stable
		p1 := back()
		first := in
		in = site.PlanInputs{}
		v = &site.ValidationError{}
		switch m := p1.(type) {
		case *pb.Prices:
			in.Prices = pricesFromProto(m, "prices", v)
		case *pb.LimitSchedule:
			for _, w := range m.GetWindows() {
				in.Limits.Windows = append(in.Limits.Windows, windowFromProto(w, &cfg, "w", v))
			}
		case *pb.Forecasts:
			for _, fc := range m.GetForecasts() {
				in.Forecasts.Forecasts = append(in.Forecasts.Forecasts, forecastFromProto(fc, &cfg, "f", v))
			}
		case *pb.PlanSettings:
			in.Settings = settingsFromProto(m, "s", v)
		}
		if v.Err() != nil {
			t.Fatalf("converted back, the inputs are refused: %v", v)
		}
		if !reflect.DeepEqual(normalize(first), normalize(in)) {
			t.Fatalf("round trip changed the inputs:\n%+v\n%+v", first, in)
		}
		if !proto.Equal(p1, back()) {
			t.Fatalf("round trip changed the proto:\n%v\n%v", p1, back())
		}
	})
}

// normalize drops monotonic clock readings and locations so times compare
// by instant.
func normalize(in site.PlanInputs) site.PlanInputs {
	b, _ := json.Marshal(in)
	var out site.PlanInputs
	_ = json.Unmarshal(b, &out)
	return out
}

package apiserver

import (
	"fmt"
	"math"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	pb "github.com/smartcharge/smartcharge/proto/smartcharge/v1"
	"github.com/smartcharge/smartcharge/site"
)

// Resource names of planning singletons.
const (
	patternPlan          = "sites/{site}/plan"
	patternPrices        = "sites/{site}/prices"
	patternLimitSchedule = "sites/{site}/limitSchedule"
	patternForecasts     = "sites/{site}/forecasts"
	patternPlanSettings  = "sites/{site}/planSettings"
)

func planName(siteID string) string          { return siteName(siteID) + "/plan" }
func pricesName(siteID string) string        { return siteName(siteID) + "/prices" }
func limitScheduleName(siteID string) string { return siteName(siteID) + "/limitSchedule" }
func forecastsName(siteID string) string     { return siteName(siteID) + "/forecasts" }
func planSettingsName(siteID string) string  { return siteName(siteID) + "/planSettings" }

func dur(d time.Duration) *durationpb.Duration {
	if d == 0 {
		return nil
	}
	return durationpb.New(d)
}

func fromDur(p *durationpb.Duration, field string, v *site.ValidationError) time.Duration {
	if p == nil {
		return 0
	}
	if err := p.CheckValid(); err != nil {
		v.Add(field, "not a valid duration: %v", err)
		return 0
	}
	return p.AsDuration()
}

// ---- prices ----

func seriesToProto(pts []site.SeriesPoint) []*pb.TimeSeriesPoint {
	out := make([]*pb.TimeSeriesPoint, len(pts))
	for i, p := range pts {
		out[i] = &pb.TimeSeriesPoint{StartTime: ts(p.Start), Value: p.Value}
	}
	return out
}

func seriesFromProto(ps []*pb.TimeSeriesPoint, field string, v *site.ValidationError) []site.SeriesPoint {
	if len(ps) == 0 {
		return nil
	}
	out := make([]site.SeriesPoint, len(ps))
	for i, p := range ps {
		out[i] = site.SeriesPoint{Start: fromTS(p.GetStartTime(), fmt.Sprintf("%s[%d].start_time", field, i), v), Value: p.GetValue()}
	}
	return out
}

func pricesToProto(siteID string, p site.PriceSeries) *pb.Prices {
	return &pb.Prices{
		Name: pricesName(siteID), CurrencyCode: p.Currency,
		ImportPrices: seriesToProto(p.Import), ExportPrices: seriesToProto(p.Export), Co2Intensity: seriesToProto(p.CO2),
		EndTime: ts(p.End), UpdateTime: ts(p.UpdateTime),
	}
}

func pricesFromProto(p *pb.Prices, prefix string, v *site.ValidationError) site.PriceSeries {
	return site.PriceSeries{
		Currency: p.GetCurrencyCode(),
		Import:   seriesFromProto(p.GetImportPrices(), prefix+".import_prices", v),
		Export:   seriesFromProto(p.GetExportPrices(), prefix+".export_prices", v),
		CO2:      seriesFromProto(p.GetCo2Intensity(), prefix+".co2_intensity", v),
		End:      fromTS(p.GetEndTime(), prefix+".end_time", v),
	}
}

// pricesField maps site.PriceSeries.Validate's fields to the request's.
func pricesField(prefix string) func(string) string {
	return func(f string) string {
		for from, to := range map[string]string{"import": "import_prices", "export": "export_prices", "co2": "co2_intensity", "currency": "currency_code"} {
			if f == from || strings.HasPrefix(f, from+"[") || strings.HasPrefix(f, from+".") {
				return joinField(prefix, to+f[len(from):])
			}
		}
		return joinField(prefix, f)
	}
}

// ---- nodes of windows and forecasts ----

// planNodeName is the resource name of a node ("" the grid connection).
func planNodeName(siteID, node string) string {
	if node == "" {
		return siteName(siteID)
	}
	return childName(siteID, collCircuits, node)
}

// planNodeFromName reads "sites/{site}" or "sites/{site}/circuits/{c}"
// ("" means the grid connection) of the site and checks that the circuit
// exists.
func planNodeFromName(name string, cfg *site.Config, field string, v *site.ValidationError) string {
	sid := cfg.Site.ID
	if name == "" || name == siteName(sid) {
		return ""
	}
	s, id, err := parseChildName(name, patternCircuit)
	if err != nil {
		v.Add(field, "must be %q (the grid connection) or a circuit of the site: %v", siteName(sid), err)
		return ""
	}
	if s != sid {
		v.Add(field, "%q is not in site %q", name, sid)
		return ""
	}
	if indexByID(cfg.Circuits, circuitID, id) < 0 {
		v.Add(field, "the site has no circuit %q", id)
	}
	return id
}

// ---- limit schedule ----

func windowToProto(siteID string, w site.LimitWindow) *pb.LimitWindow {
	return &pb.LimitWindow{
		Node: planNodeName(siteID, w.Node), StartTime: ts(w.From), EndTime: ts(w.Until),
		Limit: currentsToProto(w.Limit), PowerLimitKw: kw(w.PowerLimit), Source: sourceToProto(w.Source), Reason: w.Reason,
	}
}

func scheduleToProto(siteID string, s site.LimitSchedule) *pb.LimitSchedule {
	out := &pb.LimitSchedule{Name: limitScheduleName(siteID), UpdateTime: ts(s.UpdateTime)}
	for _, w := range s.Windows {
		out.Windows = append(out.Windows, windowToProto(siteID, w))
	}
	return out
}

func windowFromProto(p *pb.LimitWindow, cfg *site.Config, prefix string, v *site.ValidationError) site.LimitWindow {
	return site.LimitWindow{
		Node:       planNodeFromName(p.GetNode(), cfg, prefix+".node", v),
		From:       fromTS(p.GetStartTime(), prefix+".start_time", v),
		Until:      fromTS(p.GetEndTime(), prefix+".end_time", v),
		Limit:      currentsFromProto(p.GetLimit()),
		PowerLimit: watts(p.GetPowerLimitKw()),
		Source:     sourceFromProto(p.GetSource(), prefix+".source", v),
		Reason:     p.GetReason(),
	}
}

// ---- forecasts ----

var forecastKinds = map[site.ForecastKind]pb.ForecastKind{
	site.ForecastLoad: pb.ForecastKind_FORECAST_KIND_LOAD,
	site.ForecastPV:   pb.ForecastKind_FORECAST_KIND_PV,
}

func forecastToProto(siteID string, f site.Forecast) *pb.Forecast {
	out := &pb.Forecast{Node: planNodeName(siteID, f.Node), Kind: forecastKinds[f.Kind], EndTime: ts(f.End)}
	for _, p := range f.Points {
		out.Points = append(out.Points, &pb.PhaseSeriesPoint{StartTime: ts(p.Start), Current: currentsToProto(p.Current)})
	}
	return out
}

func forecastsToProto(siteID string, fs site.Forecasts) *pb.Forecasts {
	out := &pb.Forecasts{Name: forecastsName(siteID), UpdateTime: ts(fs.UpdateTime)}
	for _, f := range fs.Forecasts {
		out.Forecasts = append(out.Forecasts, forecastToProto(siteID, f))
	}
	return out
}

func forecastFromProto(p *pb.Forecast, cfg *site.Config, prefix string, v *site.ValidationError) site.Forecast {
	f := site.Forecast{Node: planNodeFromName(p.GetNode(), cfg, prefix+".node", v), End: fromTS(p.GetEndTime(), prefix+".end_time", v)}
	switch p.GetKind() {
	case pb.ForecastKind_FORECAST_KIND_LOAD:
		f.Kind = site.ForecastLoad
	case pb.ForecastKind_FORECAST_KIND_PV:
		f.Kind = site.ForecastPV
	default:
		v.Add(prefix+".kind", "required: FORECAST_KIND_LOAD or FORECAST_KIND_PV")
	}
	for i, pt := range p.GetPoints() {
		f.Points = append(f.Points, site.PhaseSeriesPoint{
			Start:   fromTS(pt.GetStartTime(), fmt.Sprintf("%s.points[%d].start_time", prefix, i), v),
			Current: currentsFromProto(pt.GetCurrent()),
		})
	}
	return f
}

// ---- settings ----

func settingsToProto(siteID string, s site.PlanSettings) *pb.PlanSettings {
	return &pb.PlanSettings{
		Name: planSettingsName(siteID), Slot: dur(s.Slot), Horizon: dur(s.Horizon),
		DefaultEnergyKwh: float64(s.DefaultEnergy) / 1000, DefaultStay: dur(s.DefaultStay),
		Disabled: s.Disabled, UpdateTime: ts(s.UpdateTime),
	}
}

func settingsFromProto(p *pb.PlanSettings, prefix string, v *site.ValidationError) site.PlanSettings {
	return site.PlanSettings{
		Slot:          fromDur(p.GetSlot(), prefix+".slot", v),
		Horizon:       fromDur(p.GetHorizon(), prefix+".horizon", v),
		DefaultEnergy: site.WattHours(math.Round(p.GetDefaultEnergyKwh() * 1000)),
		DefaultStay:   fromDur(p.GetDefaultStay(), prefix+".default_stay", v),
		Disabled:      p.GetDisabled(),
	}
}

// ---- plan ----

var needSources = map[site.NeedSource]pb.NeedSource{
	site.NeedEnergy:  pb.NeedSource_NEED_SOURCE_ENERGY,
	site.NeedSoC:     pb.NeedSource_NEED_SOURCE_SOC,
	site.NeedDefault: pb.NeedSource_NEED_SOURCE_DEFAULT,
}

func unitToProto(u site.RateUnit) pb.ChargingRateUnit {
	switch u {
	case site.UnitAmps:
		return pb.ChargingRateUnit_CHARGING_RATE_UNIT_A
	case site.UnitWatts:
		return pb.ChargingRateUnit_CHARGING_RATE_UNIT_W
	}
	return pb.ChargingRateUnit_CHARGING_RATE_UNIT_UNSPECIFIED
}

func planToProto(siteID string, p site.Plan) *pb.Plan {
	out := &pb.Plan{Name: planName(siteID), Seq: p.Seq}
	if p.Seq == 0 && p.Start.IsZero() {
		return out
	}
	out.ComputeTime, out.Trigger, out.StartTime = ts(p.ComputedAt), p.Trigger, ts(p.Start)
	out.Slot, out.SlotCount, out.CurrencyCode = dur(p.Slot), int32(p.Slots), p.Currency
	out.ExpectedEnergyKwh, out.ExpectedCost, out.ExpectedCo2Grams = float64(p.Energy)/1000, p.Cost, p.CO2
	out.Exact, out.Warnings = p.Exact, p.Warnings
	for _, s := range p.Sessions {
		sp := &pb.SessionPlan{
			Evse:          evseName(site.ChargerRef{SiteID: siteID, ChargerID: s.ChargerID}, s.EVSE),
			TransactionId: s.TransactionID, DepartureTime: ts(s.Departure),
			NeedKwh: float64(s.Need) / 1000, NeedSource: needSources[s.Source],
			ExpectedEnergyKwh: float64(s.Energy) / 1000, NeedMet: s.Met, ExpectedCost: s.Cost,
			Duration: dur(s.Duration),
		}
		for _, per := range s.Periods {
			sp.Periods = append(sp.Periods, &pb.PlanPeriod{StartTime: ts(per.Start), Limit: per.Limit, Unit: unitToProto(per.Unit), Phases: int32(per.Phases)})
		}
		sp.SlotCurrents = make([]float64, len(s.Current))
		for k, a := range s.Current {
			sp.SlotCurrents[k] = float64(a)
		}
		for _, w := range s.WhyNot {
			wn := &pb.PlanWhyNot{FirstSlot: int32(w.From), LastSlot: int32(w.To), Code: w.Code, Reason: w.Reason}
			if w.NodeKind != "" {
				wn.Node = nodeName(siteID, w.NodeKind, w.Node)
			}
			sp.WhyNot = append(sp.WhyNot, wn)
		}
		out.Sessions = append(out.Sessions, sp)
	}
	for _, n := range p.Nodes {
		np := &pb.NodePlan{Node: nodeName(siteID, n.Kind, n.ID), Kind: nodeKinds[n.Kind]}
		for _, c := range n.Ours {
			np.Planned = append(np.Planned, currentsToProto(c))
		}
		for _, c := range n.Total {
			np.Total = append(np.Total, currentsToProto(c))
		}
		for _, c := range n.Limit {
			np.Limit = append(np.Limit, currentsToProto(c))
		}
		out.Nodes = append(out.Nodes, np)
	}
	return out
}

package apiserver

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"google.golang.org/grpc"

	pb "github.com/smartcharge/smartcharge/proto/smartcharge/v1"
	"github.com/smartcharge/smartcharge/site"
)

// PlanBackend is what PlanService sits on: the store of plan inputs (and
// plans), and the planning runner (package planning's Runner) that makes
// plans, shows them and is told when inputs change.
type PlanBackend struct {
	// Inputs keeps prices, limit schedules, forecasts, settings and
	// state-of-charge targets; required.
	Inputs site.PlanStore
	// Plans gives plans and their changes; nil reads the stored plan from
	// Inputs and makes WatchPlan fail with FAILED_PRECONDITION.
	Plans site.PlanReader
	// Trigger is told after every change (nil: plans are made on the
	// runner's own schedule).
	Trigger site.PlanTrigger
}

// ErrNoPlanning: the server runs without planning (no PlanBackend); it
// matches site.ErrFailedPrecondition.
var ErrNoPlanning = fmt.Errorf("apiserver: no planning: %w", site.ErrFailedPrecondition)

// RegisterPlanService registers PlanService on gs with backend b (nil:
// every method fails with FAILED_PRECONDITION). Its methods are admitted
// by the same interceptors ([Server.ServerOptions]).
func (s *Server) RegisterPlanService(gs *grpc.Server, b *PlanBackend) {
	pb.RegisterPlanServiceServer(gs, &planService{Server: s, b: b})
}

var _ pb.PlanServiceServer = (*planService)(nil)

// planMethodActions is the role table of PlanService (see methodActions).
var planMethodActions = map[string]action{
	pb.PlanService_GetPlan_FullMethodName:          actRead,
	pb.PlanService_WatchPlan_FullMethodName:        actRead,
	pb.PlanService_GetPrices_FullMethodName:        actRead,
	pb.PlanService_SetPrices_FullMethodName:        actWriteLimits,
	pb.PlanService_GetLimitSchedule_FullMethodName: actRead,
	pb.PlanService_SetLimitSchedule_FullMethodName: actWriteLimits,
	pb.PlanService_GetForecasts_FullMethodName:     actRead,
	pb.PlanService_SetForecasts_FullMethodName:     actWriteLimits,
	pb.PlanService_GetPlanSettings_FullMethodName:  actRead,
	pb.PlanService_SetPlanSettings_FullMethodName:  actWriteConfig,
	pb.PlanService_SetSessionNeeds_FullMethodName:  actSetNeeds,
}

type planService struct {
	pb.UnimplementedPlanServiceServer
	*Server
	b *PlanBackend
}

func (s *planService) need() error {
	if s.b == nil || s.b.Inputs == nil {
		return fmt.Errorf("%w: this server does not plan", ErrNoPlanning)
	}
	return nil
}

func (s *planService) replan(siteID, reason string) {
	if s.b.Trigger != nil {
		s.b.Trigger.Replan(siteID, reason)
	}
}

// singleton parses the name of a planning singleton, admits the caller
// for act and checks that the site exists. field names the name in the
// request.
func (s *planService) singleton(ctx context.Context, name, pattern, field string, act action) (site.Config, error) {
	vars, err := parseName(name, pattern)
	if err != nil {
		return site.Config{}, badField(field, "%v", err)
	}
	sid := vars[0]
	if _, err := authorize(ctx, act, sid); err != nil {
		return site.Config{}, err
	}
	if err := s.need(); err != nil {
		return site.Config{}, err
	}
	return s.read(ctx, sid)
}

func (s *planService) inputs(ctx context.Context, siteID, name string) (site.PlanInputs, error) {
	in, err := s.b.Inputs.PlanInputs(ctx, siteID)
	return in, about(name, err)
}

// update changes the site's plan inputs, relocating violations with
// rename, and triggers a plan.
func (s *planService) update(ctx context.Context, siteID, name, reason string, rename func(string) string, fn func(*site.PlanInputs) error) (site.PlanInputs, error) {
	in, err := s.b.Inputs.UpdatePlanInputs(ctx, siteID, fn)
	if err != nil {
		return in, about(name, renameFields(err, rename))
	}
	s.replan(siteID, reason)
	return in, nil
}

// ---- plan ----

func (s *planService) GetPlan(ctx context.Context, req *pb.GetPlanRequest) (*pb.GetPlanResponse, error) {
	resp, err := s.getPlan(ctx, req)
	return resp, s.status(ctx, err)
}

func (s *planService) getPlan(ctx context.Context, req *pb.GetPlanRequest) (*pb.GetPlanResponse, error) {
	cfg, err := s.singleton(ctx, req.GetName(), patternPlan, "name", actRead)
	if err != nil {
		return nil, err
	}
	sid := cfg.Site.ID
	var p site.Plan
	if s.b.Plans != nil {
		p, err = s.b.Plans.Plan(ctx, sid)
	} else {
		p, err = s.b.Inputs.Plan(ctx, sid)
	}
	if errors.Is(err, site.ErrNotFound) {
		return &pb.GetPlanResponse{Plan: &pb.Plan{Name: planName(sid)}}, nil
	}
	if err != nil {
		return nil, about(planName(sid), err)
	}
	return &pb.GetPlanResponse{Plan: planToProto(sid, p)}, nil
}

func (s *planService) WatchPlan(req *pb.WatchPlanRequest, stream grpc.ServerStreamingServer[pb.WatchPlanResponse]) error {
	ctx := stream.Context()
	return s.status(ctx, s.watchPlan(ctx, req, stream))
}

func (s *planService) watchPlan(ctx context.Context, req *pb.WatchPlanRequest, stream grpc.ServerStreamingServer[pb.WatchPlanResponse]) error {
	cfg, err := s.singleton(ctx, req.GetName(), patternPlan, "name", actRead)
	if err != nil {
		return err
	}
	sid := cfg.Site.ID
	if s.b.Plans == nil {
		return fmt.Errorf("%w: this server does not run planning; plans cannot be watched", ErrNoPlanning)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	updates, err := s.b.Plans.WatchPlan(ctx, sid)
	if err != nil {
		return about(planName(sid), err)
	}
	var last uint64
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case u, ok := <-updates:
			if !ok {
				if err := ctx.Err(); err != nil {
					return err
				}
				return about(planName(sid), fmt.Errorf("%w: planning ended the watch; watch again", site.ErrUnavailable))
			}
			if u.Seq <= last {
				continue
			}
			p := u.Plan
			p.Seq = u.Seq
			if err := stream.Send(&pb.WatchPlanResponse{Plan: planToProto(sid, p)}); err != nil {
				return err
			}
			last = u.Seq
		}
	}
}

// ---- prices ----

func (s *planService) GetPrices(ctx context.Context, req *pb.GetPricesRequest) (*pb.GetPricesResponse, error) {
	resp, err := s.getPrices(ctx, req)
	return resp, s.status(ctx, err)
}

func (s *planService) getPrices(ctx context.Context, req *pb.GetPricesRequest) (*pb.GetPricesResponse, error) {
	cfg, err := s.singleton(ctx, req.GetName(), patternPrices, "name", actRead)
	if err != nil {
		return nil, err
	}
	in, err := s.inputs(ctx, cfg.Site.ID, req.GetName())
	if err != nil {
		return nil, err
	}
	return &pb.GetPricesResponse{Prices: pricesToProto(cfg.Site.ID, in.Prices)}, nil
}

func (s *planService) SetPrices(ctx context.Context, req *pb.SetPricesRequest) (*pb.SetPricesResponse, error) {
	resp, err := s.setPrices(ctx, req)
	return resp, s.status(ctx, err)
}

func (s *planService) setPrices(ctx context.Context, req *pb.SetPricesRequest) (*pb.SetPricesResponse, error) {
	if req.GetPrices() == nil {
		return nil, badField("prices", "required")
	}
	v := &site.ValidationError{}
	ps := pricesFromProto(req.GetPrices(), "prices", v)
	if _, nerr := parseName(req.GetPrices().GetName(), patternPrices); nerr != nil {
		v.Add("prices.name", "%v", nerr)
	}
	if v.Err() == nil {
		if err := ps.Validate(); err != nil {
			return nil, renameFields(err, pricesField("prices"))
		}
	}
	if v.Err() != nil {
		return nil, v
	}
	cfg, err := s.singleton(ctx, req.GetPrices().GetName(), patternPrices, "prices.name", actWriteLimits)
	if err != nil {
		return nil, err
	}
	in, err := s.update(ctx, cfg.Site.ID, pricesName(cfg.Site.ID), "prices", func(f string) string {
		if len(f) > 7 && f[:7] == "prices." {
			return pricesField("prices")(f[7:])
		}
		return f
	}, func(in *site.PlanInputs) error {
		in.Prices = ps
		in.Prices.UpdateTime = s.clock.Now().UTC()
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &pb.SetPricesResponse{Prices: pricesToProto(cfg.Site.ID, in.Prices)}, nil
}

// ---- limit schedule ----

func (s *planService) GetLimitSchedule(ctx context.Context, req *pb.GetLimitScheduleRequest) (*pb.GetLimitScheduleResponse, error) {
	resp, err := s.getLimitSchedule(ctx, req)
	return resp, s.status(ctx, err)
}

func (s *planService) getLimitSchedule(ctx context.Context, req *pb.GetLimitScheduleRequest) (*pb.GetLimitScheduleResponse, error) {
	cfg, err := s.singleton(ctx, req.GetName(), patternLimitSchedule, "name", actRead)
	if err != nil {
		return nil, err
	}
	in, err := s.inputs(ctx, cfg.Site.ID, req.GetName())
	if err != nil {
		return nil, err
	}
	return &pb.GetLimitScheduleResponse{LimitSchedule: scheduleToProto(cfg.Site.ID, in.Limits)}, nil
}

func (s *planService) SetLimitSchedule(ctx context.Context, req *pb.SetLimitScheduleRequest) (*pb.SetLimitScheduleResponse, error) {
	resp, err := s.setLimitSchedule(ctx, req)
	return resp, s.status(ctx, err)
}

// callerSource is the source of a window given without one.
func callerSource(p *Principal) site.LimitSource {
	if p.Role == RoleEMS {
		return site.SourceEMS
	}
	return site.SourceOwner
}

// setLimitSchedule replaces the windows of the sources the caller may
// write; windows of other sources (an EMS's, for a site owner) are kept.
func (s *planService) setLimitSchedule(ctx context.Context, req *pb.SetLimitScheduleRequest) (*pb.SetLimitScheduleResponse, error) {
	sch := req.GetLimitSchedule()
	if sch == nil {
		return nil, badField("limit_schedule", "required")
	}
	cfg, err := s.singleton(ctx, sch.GetName(), patternLimitSchedule, "limit_schedule.name", actWriteLimits)
	if err != nil {
		return nil, err
	}
	p, _ := PrincipalFrom(ctx)
	v := &site.ValidationError{}
	var windows []site.LimitWindow
	for i, pw := range sch.GetWindows() {
		f := fmt.Sprintf("limit_schedule.windows[%d]", i)
		w := windowFromProto(pw, &cfg, f, v)
		if w.Source == site.SourceUnspecified {
			w.Source = callerSource(p)
		}
		windows = append(windows, w)
	}
	if v.Err() == nil {
		if err := (site.LimitSchedule{Windows: windows}).Validate(); err != nil {
			return nil, renameFields(err, func(f string) string { return joinField("limit_schedule", f) })
		}
	}
	if v.Err() != nil {
		return nil, v
	}
	for i, w := range windows {
		if err := authorizeSource(p, fmt.Sprintf("limit_schedule.windows[%d]", i), w.Source); err != nil {
			return nil, err
		}
	}
	sid := cfg.Site.ID
	in, err := s.update(ctx, sid, limitScheduleName(sid), "limits", func(f string) string {
		if len(f) > 7 && f[:7] == "limits." {
			return "limit_schedule." + f[7:]
		}
		return f
	}, func(in *site.PlanInputs) error {
		var keep []site.LimitWindow
		for _, w := range in.Limits.Windows {
			if !sourceAllowed(p.Role, w.Source) {
				keep = append(keep, w)
			}
		}
		in.Limits = site.LimitSchedule{Windows: append(keep, windows...), UpdateTime: s.clock.Now().UTC()}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &pb.SetLimitScheduleResponse{LimitSchedule: scheduleToProto(sid, in.Limits)}, nil
}

// ---- forecasts ----

func (s *planService) GetForecasts(ctx context.Context, req *pb.GetForecastsRequest) (*pb.GetForecastsResponse, error) {
	resp, err := s.getForecasts(ctx, req)
	return resp, s.status(ctx, err)
}

func (s *planService) getForecasts(ctx context.Context, req *pb.GetForecastsRequest) (*pb.GetForecastsResponse, error) {
	cfg, err := s.singleton(ctx, req.GetName(), patternForecasts, "name", actRead)
	if err != nil {
		return nil, err
	}
	in, err := s.inputs(ctx, cfg.Site.ID, req.GetName())
	if err != nil {
		return nil, err
	}
	return &pb.GetForecastsResponse{Forecasts: forecastsToProto(cfg.Site.ID, in.Forecasts)}, nil
}

func (s *planService) SetForecasts(ctx context.Context, req *pb.SetForecastsRequest) (*pb.SetForecastsResponse, error) {
	resp, err := s.setForecasts(ctx, req)
	return resp, s.status(ctx, err)
}

func (s *planService) setForecasts(ctx context.Context, req *pb.SetForecastsRequest) (*pb.SetForecastsResponse, error) {
	fsp := req.GetForecasts()
	if fsp == nil {
		return nil, badField("forecasts", "required")
	}
	cfg, err := s.singleton(ctx, fsp.GetName(), patternForecasts, "forecasts.name", actWriteLimits)
	if err != nil {
		return nil, err
	}
	v := &site.ValidationError{}
	var given []site.Forecast
	for i, pf := range fsp.GetForecasts() {
		given = append(given, forecastFromProto(pf, &cfg, fmt.Sprintf("forecasts.forecasts[%d]", i), v))
	}
	if v.Err() == nil {
		if err := (site.Forecasts{Forecasts: given}).Validate(); err != nil {
			return nil, renameFields(err, func(f string) string { return joinField("forecasts", f) })
		}
	}
	if v.Err() != nil {
		return nil, v
	}
	sid := cfg.Site.ID
	in, err := s.update(ctx, sid, forecastsName(sid), "forecasts", func(f string) string { return joinField("forecasts", f) },
		func(in *site.PlanInputs) error {
			var out []site.Forecast
			if !req.GetReplaceAll() {
				for _, old := range in.Forecasts.Forecasts {
					replaced := false
					for _, g := range given {
						replaced = replaced || (g.Node == old.Node && g.Kind == old.Kind)
					}
					if !replaced {
						out = append(out, old)
					}
				}
			}
			in.Forecasts = site.Forecasts{Forecasts: append(out, given...), UpdateTime: s.clock.Now().UTC()}
			return nil
		})
	if err != nil {
		return nil, err
	}
	return &pb.SetForecastsResponse{Forecasts: forecastsToProto(sid, in.Forecasts)}, nil
}

// ---- settings ----

func (s *planService) GetPlanSettings(ctx context.Context, req *pb.GetPlanSettingsRequest) (*pb.GetPlanSettingsResponse, error) {
	resp, err := s.getPlanSettings(ctx, req)
	return resp, s.status(ctx, err)
}

func (s *planService) getPlanSettings(ctx context.Context, req *pb.GetPlanSettingsRequest) (*pb.GetPlanSettingsResponse, error) {
	cfg, err := s.singleton(ctx, req.GetName(), patternPlanSettings, "name", actRead)
	if err != nil {
		return nil, err
	}
	in, err := s.inputs(ctx, cfg.Site.ID, req.GetName())
	if err != nil {
		return nil, err
	}
	return &pb.GetPlanSettingsResponse{PlanSettings: settingsToProto(cfg.Site.ID, in.Settings)}, nil
}

func (s *planService) SetPlanSettings(ctx context.Context, req *pb.SetPlanSettingsRequest) (*pb.SetPlanSettingsResponse, error) {
	resp, err := s.setPlanSettings(ctx, req)
	return resp, s.status(ctx, err)
}

func (s *planService) setPlanSettings(ctx context.Context, req *pb.SetPlanSettingsRequest) (*pb.SetPlanSettingsResponse, error) {
	ps := req.GetPlanSettings()
	if ps == nil {
		return nil, badField("plan_settings", "required")
	}
	v := &site.ValidationError{}
	st := settingsFromProto(ps, "plan_settings", v)
	if _, err := parseName(ps.GetName(), patternPlanSettings); err != nil {
		v.Add("plan_settings.name", "%v", err)
	}
	if e := ps.GetDefaultEnergyKwh(); math.IsNaN(e) || math.IsInf(e, 0) {
		v.Add("plan_settings.default_energy_kwh", "must be a finite number")
	}
	if v.Err() == nil {
		if err := st.Validate(); err != nil {
			return nil, renameFields(err, func(f string) string { return joinField("plan_settings", f) })
		}
	}
	if v.Err() != nil {
		return nil, v
	}
	cfg, err := s.singleton(ctx, ps.GetName(), patternPlanSettings, "plan_settings.name", actWriteConfig)
	if err != nil {
		return nil, err
	}
	sid := cfg.Site.ID
	in, err := s.update(ctx, sid, planSettingsName(sid), "settings", func(f string) string {
		if len(f) > 9 && f[:9] == "settings." {
			return "plan_settings." + f[9:]
		}
		return f
	}, func(in *site.PlanInputs) error {
		st.UpdateTime = s.clock.Now().UTC()
		in.Settings = st
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &pb.SetPlanSettingsResponse{PlanSettings: settingsToProto(sid, in.Settings)}, nil
}

// ---- needs ----

func (s *planService) SetSessionNeeds(ctx context.Context, req *pb.SetSessionNeedsRequest) (*pb.SetSessionNeedsResponse, error) {
	resp, err := s.setSessionNeeds(ctx, req)
	return resp, s.status(ctx, err)
}

// setSessionNeeds records the energy need, departure and car currents
// with the control loop (as SetChargingNeeds does) and a state-of-charge
// target with the plan inputs, then asks for a plan.
func (s *planService) setSessionNeeds(ctx context.Context, req *pb.SetSessionNeedsRequest) (*pb.SetSessionNeedsResponse, error) {
	v := &site.ValidationError{}
	ref, evse, err := parseEVSEName(req.GetName())
	if err != nil {
		v.Add("name", "%v", err)
	}
	now := s.clock.Now()
	var n site.ChargingNeeds
	e := req.GetEnergyKwh()
	if math.IsNaN(e) || e < 0 || e > maxNeedsEnergyKWh {
		v.Add("energy_kwh", "must be 0 to %d kWh", maxNeedsEnergyKWh)
	} else {
		n.Energy = site.WattHours(math.Round(e * 1000))
	}
	var target *site.SoCTarget
	soc, capKWh := req.GetTargetSocPercent(), req.GetBatteryCapacityKwh()
	switch {
	case soc == 0 && capKWh == 0:
	case soc != 0 && e > 0:
		v.Add("target_soc_percent", "give energy_kwh or target_soc_percent, not both")
	default:
		t := site.SoCTarget{TargetSoC: soc, BatteryCapacity: site.WattHours(math.Round(capKWh * 1000))}
		if soc == 0 {
			v.Add("target_soc_percent", "required with battery_capacity_kwh")
		} else if err := t.Validate(); err != nil {
			var ve *site.ValidationError
			if errors.As(err, &ve) {
				v.Violations = append(v.Violations, ve.Violations...)
			}
		}
		target = &t
	}
	if req.GetDepartureTime() != nil {
		n.Departure = fromTS(req.GetDepartureTime(), "departure_time", v)
		if !n.Departure.IsZero() && !n.Departure.After(now) {
			v.Add("departure_time", "must be in the future (the server's clock says %s)", now.UTC().Format(time.RFC3339))
		}
	}
	maxA, minA := req.GetMaxCurrent(), req.GetMinCurrent()
	okMax := !math.IsNaN(maxA) && maxA >= 0 && maxA <= float64(site.MaxEVSECurrent)
	okMin := !math.IsNaN(minA) && minA >= 0 && minA <= float64(site.MaxEVSECurrent)
	if !okMax {
		v.Add("max_current", "must be 0 (unknown) to %g A", float64(site.MaxEVSECurrent))
	}
	if !okMin {
		v.Add("min_current", "must be 0 (unknown) to %g A", float64(site.MaxEVSECurrent))
	}
	if okMax && okMin && maxA > 0 && minA > maxA {
		v.Add("min_current", "must not be above max_current (%g A)", maxA)
	}
	n.MaxCurrent, n.MinCurrent = site.Amps(maxA), site.Amps(minA)
	if v.Err() != nil {
		return nil, v
	}
	if _, err := authorize(ctx, actSetNeeds, ref.SiteID); err != nil {
		return nil, err
	}
	if err := s.need(); err != nil {
		return nil, err
	}
	if s.loop == nil {
		return nil, fmt.Errorf("%w: this server takes no charging needs", ErrNoControlLoop)
	}
	cfg, err := s.read(ctx, ref.SiteID)
	if err != nil {
		return nil, err
	}
	if _, err := findEVSE(cfg, ref, evse, req.GetName()); err != nil {
		return nil, err
	}
	txID := ""
	if target != nil {
		st, err := s.store.ChargerState(ctx, ref)
		if err != nil {
			return nil, about(ref.String(), err)
		}
		if es, ok := st.EVSEs[evse]; ok && es.Transaction != nil {
			txID = es.Transaction.ID
		}
	}
	if err := s.loop.SetNeeds(ctx, ref, evse, n); err != nil {
		return nil, about(req.GetName(), renameFields(fromLoop(err), func(f string) string {
			if f == "needs.energy" {
				return "energy_kwh"
			}
			return "name"
		}))
	}
	key := site.EVSEKey(ref.ChargerID, evse)
	_, err = s.b.Inputs.UpdatePlanInputs(ctx, ref.SiteID, func(in *site.PlanInputs) error {
		if target == nil {
			delete(in.Targets, key)
			return nil
		}
		if in.Targets == nil {
			in.Targets = map[string]site.SoCTarget{}
		}
		t := *target
		t.TransactionID, t.UpdateTime = txID, now.UTC()
		in.Targets[key] = t
		return nil
	})
	if err != nil {
		return nil, about(req.GetName(), err)
	}
	s.replan(ref.SiteID, "needs")
	resp := &pb.SetSessionNeedsResponse{Name: req.GetName(), EnergyKwh: float64(n.Energy) / 1000, DepartureTime: ts(n.Departure)}
	if target != nil {
		resp.TargetSocPercent, resp.BatteryCapacityKwh, resp.TransactionId = target.TargetSoC, float64(target.BatteryCapacity)/1000, txID
	}
	return resp, nil
}

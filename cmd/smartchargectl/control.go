package main

import (
	"context"
	"fmt"
	"strconv"
	"time"

	pb "github.com/smartcharge/smartcharge/proto/smartcharge/v1"
)

const (
	needsSetUsage    = "smartchargectl needs set --site S --charger C --evse N [--energy-kwh E] [--departure TIME] [--max-current A] [--min-current A] | --clear"
	prioritySetUsage = "smartchargectl priority set --site S --charger C [--evse N] --priority P"
	meterReportUsage = "smartchargectl meter report --site S [--circuit C] (--current-a A | --l1 A --l2 A --l3 A | --power-kw P | --l1-kw P --l2-kw P --l3-kw P) [--at TIME]"
)

// subcommand checks that args start with the one subcommand a command has
// ("needs set").
func subcommand(cmd, sub, usage string, args []string) ([]string, error) {
	if len(args) == 0 || args[0] != sub {
		got := "nothing"
		if len(args) > 0 {
			got = strconv.Quote(args[0])
		}
		return nil, &usageError{msg: fmt.Sprintf("%s: want %s, got %s", cmd, sub, got), usage: usage}
	}
	return args[1:], nil
}

func runNeeds(ctx context.Context, a *app, args []string) error {
	args, err := subcommand("needs", "set", needsSetUsage, args)
	if err != nil {
		return err
	}
	fs := a.flags("needs set", needsSetUsage)
	var na needsArgs
	fs.StringVar(&na.site, "site", "", "the site (ID or sites/ID)")
	fs.StringVar(&na.charger, "charger", "", "the charger's ID")
	fs.IntVar(&na.evse, "evse", 0, "the EVSE id (1, 2, ...)")
	fs.Var(&na.energy, "energy-kwh", "energy the car still wants, in kWh")
	fs.StringVar(&na.departure, "departure", "", "when the car leaves, RFC 3339 or a duration from now (3h)")
	fs.Var(&na.maxA, "max-current", "the most the car takes per phase, in A")
	fs.Var(&na.minA, "min-current", "the least the car charges with per phase, in A")
	fs.BoolVar(&na.clear, "clear", false, "clear the needs (all unknown)")
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fs.fail("unexpected argument %q", pos[0])
	}
	req, err := na.request(a.now())
	if err != nil {
		return fs.fail("%v", err)
	}
	return a.connect(ctx, func(ctx context.Context, c *client) error {
		resp, err := c.alloc.SetChargingNeeds(ctx, req)
		if err != nil {
			return err
		}
		if a.g.output != "table" {
			return printProto(a.stdout, a.g.output, resp)
		}
		n := resp.GetNeeds()
		_, err = fmt.Fprintf(a.stdout, "%s needs set: energy %s kWh, departure %s, current %s to %s A\n", resp.GetName(),
			zeroDash(n.GetEnergyKwh()), when(n.GetDepartureTime(), siteLocation(ctx, c, siteID(na.site))), zeroDash(n.GetMinCurrent()), zeroDash(n.GetMaxCurrent()))
		return err
	})
}

// needsArgs are the flags of "needs set".
type needsArgs struct {
	site, charger, departure string
	evse                     int
	energy, maxA, minA       optFloat
	clear                    bool
}

func (na *needsArgs) request(now time.Time) (*pb.SetChargingNeedsRequest, error) {
	if err := evseFlags(na.site, na.charger, na.evse, true); err != nil {
		return nil, err
	}
	given := na.energy.set || na.maxA.set || na.minA.set || na.departure != ""
	switch {
	case na.clear && given:
		return nil, fmt.Errorf("--clear takes no other needs")
	case !na.clear && !given:
		return nil, fmt.Errorf("give --energy-kwh, --departure, --max-current or --min-current, or --clear")
	}
	dep, err := timeFlag("--departure", na.departure, now)
	if err != nil {
		return nil, err
	}
	return &pb.SetChargingNeedsRequest{
		Name: evseResource(na.site, na.charger, na.evse),
		Needs: &pb.ChargingNeeds{
			EnergyKwh: na.energy.v, DepartureTime: dep, MaxCurrent: na.maxA.v, MinCurrent: na.minA.v,
		},
	}, nil
}

func evseFlags(site, charger string, evse int, evseRequired bool) error {
	switch {
	case site == "":
		return fmt.Errorf("--site is required")
	case charger == "":
		return fmt.Errorf("--charger is required")
	case evseRequired && evse == 0:
		return fmt.Errorf("--evse is required")
	case evse < 0:
		return fmt.Errorf("--evse must be an EVSE id (1, 2, ...)")
	}
	return nil
}

func evseResource(site, charger string, evse int) string {
	name := childName(siteID(site), "chargers", charger)
	if evse > 0 {
		name += "/evses/" + strconv.Itoa(evse)
	}
	return name
}

func zeroDash(f float64) string {
	if f == 0 {
		return "-"
	}
	return num(f)
}

func runPriority(ctx context.Context, a *app, args []string) error {
	args, err := subcommand("priority", "set", prioritySetUsage, args)
	if err != nil {
		return err
	}
	fs := a.flags("priority set", prioritySetUsage)
	site := fs.String("site", "", "the site (ID or sites/ID)")
	charger := fs.String("charger", "", "the charger's ID")
	evse := fs.Int("evse", 0, "the EVSE id; default: every EVSE of the charger")
	var prio optFloat
	fs.Var(&prio, "priority", "the weight, 0 to 100 (0: the default, 1); 2 gets twice the share of 1")
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fs.fail("unexpected argument %q", pos[0])
	}
	if err := evseFlags(*site, *charger, *evse, false); err != nil {
		return fs.fail("%v", err)
	}
	if !prio.set {
		return fs.fail("--priority is required")
	}
	return a.connect(ctx, func(ctx context.Context, c *client) error {
		resp, err := c.alloc.SetPriority(ctx, &pb.SetPriorityRequest{Name: evseResource(*site, *charger, *evse), Priority: prio.v})
		if err != nil {
			return err
		}
		if a.g.output != "table" {
			return printProto(a.stdout, a.g.output, resp)
		}
		for _, n := range resp.GetEvses() {
			fmt.Fprintf(a.stdout, "%s priority %s\n", n, num(resp.GetPriority()))
		}
		return nil
	})
}

func runMeter(ctx context.Context, a *app, args []string) error {
	args, err := subcommand("meter", "report", meterReportUsage, args)
	if err != nil {
		return err
	}
	fs := a.flags("meter report", meterReportUsage)
	var ma meterArgs
	fs.StringVar(&ma.site, "site", "", "the site (ID or sites/ID)")
	fs.StringVar(&ma.circuit, "circuit", "", "the circuit the meter measures; default the grid connection")
	fs.Var(&ma.all, "current-a", "current in A on every phase (import positive)")
	fs.Var(&ma.l1, "l1", "current in A on L1")
	fs.Var(&ma.l2, "l2", "current in A on L2")
	fs.Var(&ma.l3, "l3", "current in A on L3")
	fs.Var(&ma.power, "power-kw", "power in kW on every phase (the server derives the current)")
	fs.Var(&ma.p1, "l1-kw", "power in kW on L1")
	fs.Var(&ma.p2, "l2-kw", "power in kW on L2")
	fs.Var(&ma.p3, "l3-kw", "power in kW on L3")
	fs.StringVar(&ma.at, "at", "", "when it was measured, RFC 3339 or a duration from now (-10s); default now")
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fs.fail("unexpected argument %q", pos[0])
	}
	req, err := ma.request(a.now())
	if err != nil {
		return fs.fail("%v", err)
	}
	return a.connect(ctx, func(ctx context.Context, c *client) error {
		resp, err := c.alloc.ReportMeterReading(ctx, req)
		if err != nil {
			return err
		}
		if a.g.output != "table" {
			return printProto(a.stdout, a.g.output, resp)
		}
		r := resp.GetReading()
		where := "grid connection"
		if r.GetCircuit() != "" {
			where = r.GetCircuit()
		}
		_, err = fmt.Fprintf(a.stdout, "%s: %s reading recorded: %s A at %s\n", req.GetName(), where,
			num(r.GetCurrent().GetL1())+"/"+num(r.GetCurrent().GetL2())+"/"+num(r.GetCurrent().GetL3()), when(r.GetReadTime(), siteLocation(ctx, c, siteID(ma.site))))
		return err
	})
}

// meterArgs are the flags of "meter report".
type meterArgs struct {
	site, circuit, at                  string
	all, l1, l2, l3, power, p1, p2, p3 optFloat
}

// perPhase gives the three values from a flag for all phases and one
// per phase; ok is false when none was given, an error when only some
// phases were.
func perPhase(all, a, b, c optFloat, names string) (v [3]float64, ok bool, err error) {
	if !all.set && !a.set && !b.set && !c.set {
		return v, false, nil
	}
	v = [3]float64{all.v, all.v, all.v}
	for i, f := range []optFloat{a, b, c} {
		if f.set {
			v[i] = f.v
		}
	}
	if !all.set && !(a.set && b.set && c.set) {
		return v, false, fmt.Errorf("give all of %s (or the flag for every phase)", names)
	}
	return v, true, nil
}

func (ma *meterArgs) request(now time.Time) (*pb.ReportMeterReadingRequest, error) {
	if ma.site == "" {
		return nil, fmt.Errorf("--site is required")
	}
	r := &pb.MeterReading{}
	if ma.circuit != "" {
		r.Circuit = childName(siteID(ma.site), "circuits", ma.circuit)
	}
	cur, okCur, err := perPhase(ma.all, ma.l1, ma.l2, ma.l3, "--l1, --l2 and --l3")
	if err != nil {
		return nil, err
	}
	pw, okPw, err := perPhase(ma.power, ma.p1, ma.p2, ma.p3, "--l1-kw, --l2-kw and --l3-kw")
	if err != nil {
		return nil, err
	}
	switch {
	case okCur && okPw:
		return nil, fmt.Errorf("give current or power, not both")
	case okCur:
		r.Current = &pb.PhaseCurrents{L1: cur[0], L2: cur[1], L3: cur[2]}
	case okPw:
		r.Power = &pb.PhasePowers{L1Kw: pw[0], L2Kw: pw[1], L3Kw: pw[2]}
	default:
		return nil, fmt.Errorf("give a reading: --current-a, --l1/--l2/--l3, --power-kw or --l1-kw/--l2-kw/--l3-kw")
	}
	if r.ReadTime, err = timeFlag("--at", ma.at, now); err != nil {
		return nil, err
	}
	return &pb.ReportMeterReadingRequest{Name: "sites/" + siteID(ma.site), Reading: r}, nil
}

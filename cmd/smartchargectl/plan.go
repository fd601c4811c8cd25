package main

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	pb "github.com/smartcharge/smartcharge/proto/smartcharge/v1"
)

const planUsage = "smartchargectl plan [show] --site S [--csv FILE] [--slots N] [-o table|json|yaml]\n       " + planPricesUsage

// runPlan prints a site's plan: per session its EVSE, departure, need,
// expected energy, whether the need is met, its periods and why it gets
// no more; per node the planned load per slot. --csv writes the per-slot
// table as CSV (one row per slot) to FILE ("-" for standard output).
func runPlan(ctx context.Context, a *app, args []string) error {
	if len(args) > 0 {
		switch args[0] {
		case "prices":
			return runPlanPrices(ctx, a, args[1:])
		case "show":
			args = args[1:]
		}
	}
	fs := a.flags("plan", planUsage)
	var siteFlag, csvFile string
	var slots int
	fs.StringVar(&siteFlag, "site", "", "the site (ID or sites/ID)")
	fs.StringVar(&csvFile, "csv", "", "also write the plan per slot as CSV to this file (- for standard output)")
	fs.IntVar(&slots, "slots", 0, "show at most this many slots in the table (0: all)")
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fs.fail("unexpected argument %q", pos[0])
	}
	if siteFlag == "" {
		return fs.fail("--site is required")
	}
	if slots < 0 {
		return fs.fail("--slots must be >= 0")
	}
	sid := siteID(siteFlag)
	return a.connect(ctx, func(ctx context.Context, c *client) error {
		resp, err := c.plans.GetPlan(ctx, &pb.GetPlanRequest{Name: "sites/" + sid + "/plan"})
		if err != nil {
			return err
		}
		p := resp.GetPlan()
		loc := siteLocation(ctx, c, sid)
		if csvFile != "" {
			if err := writePlanCSVFile(a, csvFile, p, loc); err != nil {
				return err
			}
			if csvFile == "-" {
				return nil
			}
		}
		if a.g.output != "table" {
			return printProto(a.stdout, a.g.output, resp)
		}
		return planTable(a.stdout, p, loc, slots)
	})
}

func writePlanCSVFile(a *app, name string, p *pb.Plan, loc *time.Location) error {
	if name == "-" {
		return writePlanCSV(a.stdout, p, loc)
	}
	f, err := os.Create(name)
	if err != nil {
		return fmt.Errorf("--csv: %w", err)
	}
	if err := writePlanCSV(f, p, loc); err != nil {
		f.Close()
		return fmt.Errorf("--csv %s: %w", name, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("--csv %s: %w", name, err)
	}
	return nil
}

// short drops "sites/{site}/" from a resource name: "chargers/c1/evses/1"
// becomes "c1/1", "circuits/main" "main", the site itself "grid".
func short(name string) string {
	parts := strings.Split(name, "/")
	switch {
	case len(parts) == 2:
		return "grid"
	case len(parts) == 6 && parts[2] == "chargers":
		return parts[3] + "/" + parts[5]
	case len(parts) == 4:
		return parts[3]
	}
	return name
}

func slotStart(p *pb.Plan, k int) time.Time {
	return p.GetStartTime().AsTime().Add(time.Duration(k) * p.GetSlot().AsDuration())
}

// clock formats a time of the plan: the time of day when within a day
// of the plan's start, else date and time.
func clock(t time.Time, p *pb.Plan, loc *time.Location) string {
	t = t.In(loc)
	start := p.GetStartTime().AsTime().In(loc)
	if t.Year() == start.Year() && t.YearDay() == start.YearDay() {
		return t.Format("15:04")
	}
	return t.Format("Mon 15:04")
}

func kwh(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) + " kWh" }

func money(f float64, cur string) string {
	s := strconv.FormatFloat(f, 'f', 2, 64)
	if cur != "" {
		s += " " + cur
	}
	return s
}

var needSourceNames = map[pb.NeedSource]string{
	pb.NeedSource_NEED_SOURCE_ENERGY:  "energy",
	pb.NeedSource_NEED_SOURCE_SOC:     "soc",
	pb.NeedSource_NEED_SOURCE_DEFAULT: "default",
}

func unitName(u pb.ChargingRateUnit) string {
	if u == pb.ChargingRateUnit_CHARGING_RATE_UNIT_W {
		return "W"
	}
	return "A"
}

func planTable(w io.Writer, p *pb.Plan, loc *time.Location, maxSlots int) error {
	if p.GetSeq() == 0 {
		_, err := fmt.Fprintf(w, "%s: no plan yet\n", p.GetName())
		return err
	}
	slot := p.GetSlot().AsDuration()
	fmt.Fprintf(w, "%s  seq %d  computed %s (%s)\n", p.GetName(), p.GetSeq(), when(p.GetComputeTime(), loc), orDash(p.GetTrigger()))
	fmt.Fprintf(w, "%d slots of %v from %s; expected %s, cost %s", p.GetSlotCount(), slot, when(p.GetStartTime(), loc),
		kwh(p.GetExpectedEnergyKwh()), money(p.GetExpectedCost(), p.GetCurrencyCode()))
	if p.GetExpectedCo2Grams() > 0 {
		fmt.Fprintf(w, ", %s kg CO2", strconv.FormatFloat(p.GetExpectedCo2Grams()/1000, 'f', 1, 64))
	}
	fmt.Fprintf(w, "; exact: %s\n", yesNo(p.GetExact()))
	for _, warn := range p.GetWarnings() {
		fmt.Fprintf(w, "warning: %s\n", warn)
	}
	fmt.Fprintln(w)

	if len(p.GetSessions()) == 0 {
		fmt.Fprintln(w, "No sessions.")
	} else {
		tw := newTable(w)
		row(tw, "EVSE", "DEPARTURE", "NEED", "FROM", "EXPECTED", "MET", "COST", "PERIODS")
		for _, s := range p.GetSessions() {
			var periods []string
			for _, per := range s.GetPeriods() {
				periods = append(periods, clock(per.GetStartTime().AsTime(), p, loc)+" "+num(per.GetLimit())+" "+unitName(per.GetUnit()))
			}
			dep := "-"
			if s.GetDepartureTime() != nil {
				dep = clock(s.GetDepartureTime().AsTime(), p, loc)
			}
			row(tw, short(s.GetEvse()), dep, kwh(s.GetNeedKwh()), needSourceNames[s.GetNeedSource()],
				kwh(s.GetExpectedEnergyKwh()), yesNo(s.GetNeedMet()), money(s.GetExpectedCost(), ""), strings.Join(periods, ", "))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintln(w)
		fmt.Fprintln(w, "Why not more:")
		tw = newTable(w)
		for _, s := range p.GetSessions() {
			for _, wn := range s.GetWhyNot() {
				if wn.GetCode() == "departed" || wn.GetCode() == "max-current" {
					continue
				}
				span := clock(slotStart(p, int(wn.GetFirstSlot())), p, loc) + "-" + clock(slotStart(p, int(wn.GetLastSlot())+1), p, loc)
				row(tw, "  "+short(s.GetEvse()), span, wn.GetCode(), wn.GetReason())
			}
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	fmt.Fprintln(w)

	// Per slot: each session's current, each node's planned load / limit
	// (highest phase of our load, lowest phase of the limit).
	n := int(p.GetSlotCount())
	if maxSlots > 0 && maxSlots < n {
		n = maxSlots
	}
	tw := newTable(w)
	head := []string{"SLOT", "START"}
	for _, s := range p.GetSessions() {
		head = append(head, short(s.GetEvse())+" A")
	}
	for _, nd := range p.GetNodes() {
		if nd.GetKind() == pb.NodeKind_NODE_KIND_CHARGER {
			continue
		}
		head = append(head, short(nd.GetNode())+" A (planned/total/limit)")
	}
	row(tw, head...)
	for k := range n {
		cells := []string{strconv.Itoa(k), clock(slotStart(p, k), p, loc)}
		for _, s := range p.GetSessions() {
			c := "-"
			if k < len(s.GetSlotCurrents()) && s.GetSlotCurrents()[k] > 0 {
				c = num(s.GetSlotCurrents()[k])
			}
			cells = append(cells, c)
		}
		for _, nd := range p.GetNodes() {
			if nd.GetKind() == pb.NodeKind_NODE_KIND_CHARGER {
				continue
			}
			cells = append(cells, nodeCell(nd, k))
		}
		row(tw, cells...)
	}
	if n < int(p.GetSlotCount()) {
		row(tw, "...", fmt.Sprintf("(%d more slots; --slots 0 shows all)", int(p.GetSlotCount())-n))
	}
	return tw.Flush()
}

func at(cs []*pb.PhaseCurrents, k int) *pb.PhaseCurrents {
	if k < len(cs) {
		return cs[k]
	}
	return nil
}

func maxPhase(c *pb.PhaseCurrents) float64 { return max(c.GetL1(), c.GetL2(), c.GetL3()) }

// nodeCell is "planned/total/limit" in A on the most loaded phase (limit:
// the lowest phase; "-" for none).
func nodeCell(nd *pb.NodePlan, k int) string {
	lim := "-"
	if l := at(nd.GetLimit(), k); l != nil {
		m := 0.0
		for _, v := range []float64{l.GetL1(), l.GetL2(), l.GetL3()} {
			if v > 0 && (m == 0 || v < m) {
				m = v
			}
		}
		if m > 0 {
			lim = num(m)
		}
	}
	return num(maxPhase(at(nd.GetPlanned(), k))) + "/" + num(maxPhase(at(nd.GetTotal(), k))) + "/" + lim
}

// writePlanCSV writes one row per slot: its start and end (RFC 3339 in
// the site's zone), each session's limit in A, and per node the planned,
// total and limit currents per phase.
func writePlanCSV(w io.Writer, p *pb.Plan, loc *time.Location) error {
	cw := csv.NewWriter(w)
	head := []string{"slot", "start", "end"}
	for _, s := range p.GetSessions() {
		head = append(head, short(s.GetEvse())+" A")
	}
	for _, nd := range p.GetNodes() {
		id := short(nd.GetNode())
		for _, what := range []string{"planned", "total", "limit"} {
			for _, ph := range []string{"L1", "L2", "L3"} {
				head = append(head, id+" "+what+" "+ph)
			}
		}
	}
	if err := cw.Write(head); err != nil {
		return err
	}
	for k := range int(p.GetSlotCount()) {
		rec := []string{strconv.Itoa(k), slotStart(p, k).In(loc).Format(time.RFC3339), slotStart(p, k+1).In(loc).Format(time.RFC3339)}
		for _, s := range p.GetSessions() {
			v := 0.0
			if k < len(s.GetSlotCurrents()) {
				v = s.GetSlotCurrents()[k]
			}
			rec = append(rec, num(v))
		}
		for _, nd := range p.GetNodes() {
			for _, cs := range [][]*pb.PhaseCurrents{nd.GetPlanned(), nd.GetTotal(), nd.GetLimit()} {
				c := at(cs, k)
				rec = append(rec, num(c.GetL1()), num(c.GetL2()), num(c.GetL3()))
			}
		}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

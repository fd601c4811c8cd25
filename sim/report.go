package sim

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/smartcharge/smartcharge/site"
)

// Report is what a run produced; it marshals to the JSON report.
type Report struct {
	Scenario           string          `json:"scenario"`
	Seed               uint64          `json:"seed"`
	Start              time.Time       `json:"start"`
	End                time.Time       `json:"end"`
	WallTime           Duration        `json:"wall_time"`
	SimTime            Duration        `json:"sim_time"`
	Speed              float64         `json:"speed"`
	Samples            int             `json:"ledger_samples"`
	EnergyWh           site.WattHours  `json:"energy_wh"`
	Chargers           []ChargerReport `json:"chargers"`
	Nodes              []NodeReport    `json:"nodes"`
	Violations         []Violation     `json:"violations"`
	DrawViolations     int             `json:"draw_violations"`
	AcceptedViolations int             `json:"accepted_violations"`
	MeterErrors        int             `json:"meter_errors"`
}

// ChargerReport sums up one charger.
type ChargerReport struct {
	ID              string         `json:"id"`
	OCPP            string         `json:"ocpp"`
	EnergyWh        site.WattHours `json:"energy_wh"`
	ProfileMessages int            `json:"profile_messages"`
	// ProfilesPerHour is ProfileMessages per hour of wall time.
	ProfilesPerHour float64        `json:"profile_messages_per_hour"`
	Received        map[string]int `json:"received"`
	Connects        int            `json:"connects"`
	Booted          bool           `json:"booted"`
}

// NodeReport is one node's limit and peaks.
type NodeReport struct {
	Node         string             `json:"node"`
	Limit        site.PhaseCurrents `json:"limit"`
	PeakDraw     site.PhaseCurrents `json:"peak_draw"`
	PeakAccepted site.PhaseCurrents `json:"peak_accepted"`
}

// Report sums up the run so far.
func (f *Fleet) Report() Report {
	f.stepMu.Lock()
	start, end := f.start, f.end
	meterErrs := f.meterErrs
	f.stepMu.Unlock()
	if end.IsZero() {
		end = f.clock.Now()
	}
	wall := max(end.Sub(start), 0)
	r := Report{
		Scenario: f.scenario.Name, Seed: f.opts.Seed, Start: start, End: end,
		WallTime: Duration(wall), SimTime: Duration(f.simElapsed()), Speed: f.opts.Speed,
		Samples: f.ledger.Samples(), Violations: f.ledger.Violations(), MeterErrors: meterErrs,
	}
	hours := wall.Hours()
	for _, c := range f.chargers {
		st := c.State()
		cr := ChargerReport{ID: st.ID, OCPP: c.spec.OCPP, EnergyWh: st.Energy, ProfileMessages: st.ProfileMessages, Received: st.Received, Connects: st.Connects, Booted: st.Booted}
		if hours > 0 {
			cr.ProfilesPerHour = float64(st.ProfileMessages) / hours
		}
		r.EnergyWh += st.Energy
		r.Chargers = append(r.Chargers, cr)
	}
	for _, n := range f.ledger.Nodes() {
		r.Nodes = append(r.Nodes, NodeReport{Node: n.Node, Limit: n.Limit, PeakDraw: n.PeakDraw, PeakAccepted: n.PeakAccepted})
	}
	for _, v := range r.Violations {
		if v.Kind == ViolationDraw {
			r.DrawViolations++
		} else {
			r.AcceptedViolations++
		}
	}
	if r.Violations == nil {
		r.Violations = []Violation{}
	}
	return r
}

// WriteSummary prints the report for people: totals, nodes, violations and
// the chargers (the busiest 20 when there are many).
func (r Report) WriteSummary(w io.Writer) {
	fmt.Fprintf(w, "scenario %q seed %d: %s wall, %s simulated, %d ledger samples\n", r.Scenario, r.Seed, r.WallTime, r.SimTime, r.Samples)
	fmt.Fprintf(w, "energy delivered: %.3f kWh by %d chargers\n", float64(r.EnergyWh)/1000, len(r.Chargers))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tLIMIT\tPEAK DRAW\tPEAK ACCEPTED")
	for _, n := range r.Nodes {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", n.Node, phases(n.Limit), phases(n.PeakDraw), phases(n.PeakAccepted))
	}
	_ = tw.Flush()
	fmt.Fprintf(w, "violations: %d draw, %d accepted-limit\n", r.DrawViolations, r.AcceptedViolations)
	for i, v := range r.Violations {
		if i == 20 {
			fmt.Fprintf(w, "  ... %d more in the JSON report\n", len(r.Violations)-i)
			break
		}
		fmt.Fprintf(w, "  %s\n", v)
		for j, o := range v.Offenders {
			if j == 5 {
				fmt.Fprintf(w, "      ... %d more\n", len(v.Offenders)-j)
				break
			}
			fmt.Fprintf(w, "      %s %.2f A profiles %s\n", o.Charger, float64(o.Amps), sources(o.Sources))
		}
	}
	cs := slices.Clone(r.Chargers)
	slices.SortStableFunc(cs, func(a, b ChargerReport) int { return b.ProfileMessages - a.ProfileMessages })
	if len(cs) > 20 {
		fmt.Fprintf(w, "chargers (20 of %d with the most profile messages):\n", len(cs))
		cs = cs[:20]
	}
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CHARGER\tOCPP\tKWH\tPROFILE MSGS\tPER HOUR\tCONNECTS")
	for _, c := range cs {
		fmt.Fprintf(tw, "%s\t%s\t%.3f\t%d\t%.1f\t%d\n", c.ID, c.OCPP, float64(c.EnergyWh)/1000, c.ProfileMessages, c.ProfilesPerHour, c.Connects)
	}
	_ = tw.Flush()
}

func phases(c site.PhaseCurrents) string {
	return fmt.Sprintf("%.1f/%.1f/%.1f", float64(c[0]), float64(c[1]), float64(c[2]))
}

func sources(ss []LimitSource) string {
	var parts []string
	for i, s := range ss {
		if !s.Valid() {
			parts = append(parts, fmt.Sprintf("evse%d:none", i+1))
			continue
		}
		parts = append(parts, fmt.Sprintf("evse%d:#%d(%s,L%d)", i+1, s.ProfileID, s.Purpose, s.StackLevel))
	}
	return strings.Join(parts, " ")
}

// WriteView prints the live table: every node's limit and use per phase,
// then each charger's EVSEs (limit, offer, draw, SoC, status), at most
// maxChargers of them (0: all).
func (f *Fleet) WriteView(w io.Writer, maxChargers int) {
	f.WriteViewWithReasons(w, maxChargers, nil)
}

// Reasons tells, for a charger identity and EVSE, why the server gave the
// limit it gave (e.g. read from smartcharge's allocation); "" if unknown.
type Reasons func(identity string, evse int) string

// WriteViewWithReasons is WriteView with a REASON column from reasons
// (nil: no column).
func (f *Fleet) WriteViewWithReasons(w io.Writer, maxChargers int, reasons Reasons) {
	fmt.Fprintf(w, "simulated %s\n", f.simElapsed().Truncate(time.Second))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tLIMIT\tDRAW\tACCEPTED\tACCEPTED(ACTIVE)")
	for _, n := range f.ledger.Nodes() {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", n.Node, phases(n.Limit), phases(n.Draw), phases(n.Accepted), phases(n.AcceptedActive))
	}
	_ = tw.Flush()
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	header := "CHARGER\tEVSE\tONLINE\tSTATUS\tLIMIT A\tOFFER A\tDRAW A\tPH\tSOC %\tPROFILE"
	if reasons != nil {
		header += "\tREASON"
	}
	fmt.Fprintln(tw, header)
	for i, c := range f.chargers {
		if maxChargers > 0 && i >= maxChargers {
			fmt.Fprintf(tw, "... %d more\n", len(f.chargers)-i)
			break
		}
		st := c.State()
		for _, e := range st.EVSEs {
			soc := "-"
			if e.Car {
				soc = fmt.Sprintf("%.1f", e.SoC*100)
			}
			src := "max"
			if e.Source.Valid() {
				src = fmt.Sprintf("#%d %s L%d", e.Source.ProfileID, e.Source.Purpose, e.Source.StackLevel)
			}
			status := e.Status
			if e.ChargingState != "" && e.ChargingState != status {
				status += "/" + e.ChargingState
			}
			fmt.Fprintf(tw, "%s\t%d\t%v\t%s\t%.1f\t%.1f\t%.1f\t%d\t%s\t%s", st.ID, e.EVSE, st.Connected, status, float64(e.Limit), float64(e.Offer), float64(e.Draw), e.Phases, soc, src)
			if reasons != nil {
				fmt.Fprintf(tw, "\t%s", reasons(st.ID, e.EVSE))
			}
			fmt.Fprintln(tw)
		}
	}
	_ = tw.Flush()
}

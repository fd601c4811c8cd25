package main

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	pb "github.com/smartcharge/smartcharge/proto/smartcharge/v1"
)

const describeUsage = "smartchargectl describe site NAME | charger NAME --site S | circuit NAME --site S"

// runDescribe shows one resource in detail, with the limit in force and
// the chargers' live status.
func runDescribe(ctx context.Context, a *app, args []string) error {
	fs := a.flags("describe", describeUsage)
	siteFlag := fs.String("site", "", "the site (ID or sites/ID); not needed with full resource names")
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return fs.fail("want a kind (site, charger or circuit) and a NAME")
	}
	kind, name := pos[0], pos[1]
	site := siteID(*siteFlag)
	if strings.HasPrefix(name, "sites/") {
		site = strings.SplitN(strings.TrimPrefix(name, "sites/"), "/", 2)[0]
	}
	return a.connect(ctx, func(ctx context.Context, c *client) error {
		switch kind {
		case "site":
			return describeSite(ctx, a, c, siteID(name))
		case "charger":
			if site == "" {
				return fs.fail("describe charger needs --site or a full name sites/S/chargers/C")
			}
			return describeCharger(ctx, a, c, site, childName(site, "chargers", name))
		case "circuit":
			if site == "" {
				return fs.fail("describe circuit needs --site or a full name sites/S/circuits/C")
			}
			return describeCircuit(ctx, a, c, site, childName(site, "circuits", name))
		}
		return fs.fail("unknown kind %q: want site, charger or circuit", kind)
	})
}

// field writes "Label:  value" lines aligned by a tabwriter.
func field(w io.Writer, label, value string) { fmt.Fprintf(w, "%s:\t%s\n", label, value) }

func effectiveLimit(ctx context.Context, c *client, site string) (*pb.EffectiveGridLimit, error) {
	resp, err := c.limits.GetEffectiveGridLimit(ctx, &pb.GetEffectiveGridLimitRequest{Name: "sites/" + site + "/effectiveGridLimit"})
	if err != nil {
		return nil, err
	}
	return resp.GetEffectiveGridLimit(), nil
}

func describeSite(ctx context.Context, a *app, c *client, site string) error {
	cfgResp, err := c.sites.GetSiteConfig(ctx, &pb.GetSiteConfigRequest{Name: "sites/" + site + "/config"})
	if err != nil {
		return err
	}
	cfg := cfgResp.GetConfig()
	if a.g.output != "table" {
		return printProto(a.stdout, a.g.output, cfg)
	}
	eff, err := effectiveLimit(ctx, c, site)
	if err != nil {
		return err
	}
	chargers, err := listChargers(ctx, c, site)
	if err != nil {
		return err
	}
	s := cfg.GetSite()
	loc := location(s.GetTimeZone())
	w := a.stdout
	t := newTable(w)
	field(t, "Name", s.GetName())
	field(t, "Display name", orDash(s.GetDisplayName()))
	field(t, "Time zone", orDash(s.GetTimeZone()))
	field(t, "Nominal voltage", num(s.GetNominalVoltage())+" V")
	field(t, "Grid limit", amps(s.GetGridLimit())+" A per phase")
	field(t, "Grid power limit", kWUnit(s.GetGridPowerLimitKw()))
	field(t, "Created", when(s.GetCreateTime(), loc))
	field(t, "Updated", when(s.GetUpdateTime(), loc))
	field(t, "Etag", orDash(s.GetEtag()))
	if err := t.Flush(); err != nil {
		return err
	}

	fmt.Fprintf(w, "\nLimit in force (%s):\n", when(eff.GetEvaluateTime(), loc))
	if err := effectiveTable(indent(w), eff, loc); err != nil {
		return err
	}

	fmt.Fprintln(w, "\nCircuits:")
	if len(cfg.GetCircuits()) == 0 {
		fmt.Fprintln(w, "  none: every charger hangs on the grid connection")
	} else {
		circuitTree(indent(w), cfg.GetCircuits(), chargers)
	}

	fmt.Fprintln(w, "\nChargers:")
	if err := chargerTable(indent(w), chargers); err != nil {
		return err
	}
	fmt.Fprintln(w, "\nGrid limits:")
	if len(cfg.GetGridLimits()) == 0 {
		fmt.Fprintln(w, "  none")
		return nil
	}
	return gridLimitTable(indent(w), cfg.GetGridLimits(), loc)
}

// circuitTree prints the circuit tree below the grid connection, each
// circuit with its limit and the number of chargers on it.
func circuitTree(w io.Writer, circuits []*pb.Circuit, chargers []*pb.Charger) {
	children := map[string][]*pb.Circuit{}
	for _, ci := range circuits {
		children[ci.GetParent()] = append(children[ci.GetParent()], ci)
	}
	onCircuit := map[string]int{}
	for _, ch := range chargers {
		onCircuit[ch.GetCircuit()]++
	}
	fmt.Fprintf(w, "grid connection (%d charger%s directly)\n", onCircuit[""], plural(onCircuit[""]))
	seen := map[string]bool{}
	var walk func(parent, prefix string)
	walk = func(parent, prefix string) {
		kids := children[parent]
		sort.Slice(kids, func(i, j int) bool { return kids[i].GetName() < kids[j].GetName() })
		for i, ci := range kids {
			if seen[ci.GetName()] {
				continue // a cycle cannot be stored, but do not loop on one
			}
			seen[ci.GetName()] = true
			branch, next := "├─ ", "│  "
			if i == len(kids)-1 {
				branch, next = "└─ ", "   "
			}
			extra := ""
			if ci.GetOversubscribed() {
				extra = ", oversubscribed"
			}
			if ci.GetPowerLimitKw() > 0 {
				extra += ", " + num(ci.GetPowerLimitKw()) + " kW"
			}
			n := onCircuit[ci.GetName()]
			fmt.Fprintf(w, "%s%s%s: %s A%s (%d charger%s)\n", prefix, branch, lastSegment(ci.GetName()),
				amps(ci.GetLimit()), extra, n, plural(n))
			walk(ci.GetName(), prefix+next)
		}
	}
	walk("", "")
}

// effectiveTable shows, per phase, the limit in force and what sets it.
func effectiveTable(w io.Writer, eff *pb.EffectiveGridLimit, loc *time.Location) error {
	t := newTable(w)
	row(t, "PHASE", "LIMIT", "SET BY", "SOURCE", "REASON", "UNTIL")
	for _, p := range eff.GetPhases() {
		o := p.GetOrigin()
		row(t, strings.TrimPrefix(p.GetPhase().String(), "PHASE_"), num(p.GetLimit())+" A", originName(o),
			sourceName(o.GetSource()), orDash(o.GetReason()), when(o.GetEndTime(), loc))
	}
	if eff.GetPowerLimitKw() > 0 {
		o := eff.GetPowerLimitOrigin()
		row(t, "power", num(eff.GetPowerLimitKw())+" kW", originName(o), sourceName(o.GetSource()),
			orDash(o.GetReason()), when(o.GetEndTime(), loc))
	} else {
		row(t, "power", "none", "-", "-", "-", "-")
	}
	return t.Flush()
}

func originName(o *pb.LimitOrigin) string {
	if o.GetGridLimit() == "" {
		return "grid connection"
	}
	return lastSegment(o.GetGridLimit())
}

func kWUnit(f float64) string {
	if f == 0 {
		return "none"
	}
	return num(f) + " kW"
}

func describeCharger(ctx context.Context, a *app, c *client, site, name string) error {
	resp, err := c.chargers.GetCharger(ctx, &pb.GetChargerRequest{Name: name})
	if err != nil {
		return err
	}
	ch := resp.GetCharger()
	if a.g.output != "table" {
		return printProto(a.stdout, a.g.output, ch)
	}
	loc := siteLocation(ctx, c, site)
	st := ch.GetStatus()
	w := a.stdout
	t := newTable(w)
	field(t, "Name", ch.GetName())
	field(t, "Display name", orDash(ch.GetDisplayName()))
	field(t, "OCPP identity", ch.GetOcppIdentity())
	circuit := "(grid connection)"
	if ch.GetCircuit() != "" {
		circuit = ch.GetCircuit()
	}
	field(t, "Circuit", circuit)
	field(t, "Phase rotation", rotationName(ch.GetPhaseRotation()))
	field(t, "OCPP password", map[bool]string{true: "set", false: "not set"}[ch.GetHasOcppPassword()])
	field(t, "Connected", yesNo(st.GetConnected()))
	field(t, "Protocol", orDash(st.GetProtocol()))
	field(t, "Last seen", when(st.GetLastSeenTime(), loc))
	field(t, "Last boot", when(st.GetLastBootTime(), loc))
	field(t, "Vendor / model", orDash(strings.TrimSpace(st.GetVendor()+" "+st.GetModel())))
	field(t, "Serial number", orDash(st.GetSerialNumber()))
	field(t, "Firmware", orDash(st.GetFirmwareVersion()))
	field(t, "Etag", orDash(ch.GetEtag()))
	if err := t.Flush(); err != nil {
		return err
	}
	states := map[int32]*pb.EvseStatus{}
	for _, e := range st.GetEvses() {
		states[e.GetEvseId()] = e
	}
	fmt.Fprintln(w, "\nEVSEs:")
	t = newTable(indent(w))
	row(t, "EVSE", "MAX (A)", "MIN (A)", "PHASES", "1/3 SWITCH", "STATE", "SINCE", "TRANSACTION")
	for _, e := range ch.GetEvses() {
		s := states[e.GetEvseId()]
		min := "6 (default)"
		if e.GetMinCurrent() > 0 {
			min = num(e.GetMinCurrent())
		}
		state := "-"
		if s != nil {
			state = stateName(s.GetState())
		}
		row(t, strconv.Itoa(int(e.GetEvseId())), num(e.GetMaxCurrent()), min, strconv.Itoa(int(e.GetPhases())),
			yesNo(e.GetCanSwitchPhases()), state, when(s.GetStateTime(), loc), orDash(s.GetTransactionId()))
	}
	return t.Flush()
}

// describeCircuit shows a circuit with the limit that really binds it: per
// phase the lowest of its own limit, its ancestors' and the grid limit in
// force.
func describeCircuit(ctx context.Context, a *app, c *client, site, name string) error {
	resp, err := c.circuits.GetCircuit(ctx, &pb.GetCircuitRequest{Name: name})
	if err != nil {
		return err
	}
	ci := resp.GetCircuit()
	if a.g.output != "table" {
		return printProto(a.stdout, a.g.output, ci)
	}
	circuits, err := listCircuits(ctx, c, site)
	if err != nil {
		return err
	}
	eff, err := effectiveLimit(ctx, c, site)
	if err != nil {
		return err
	}
	chargers, err := listChargers(ctx, c, site)
	if err != nil {
		return err
	}
	w := a.stdout
	t := newTable(w)
	field(t, "Name", ci.GetName())
	field(t, "Display name", orDash(ci.GetDisplayName()))
	parent := "(grid connection)"
	if ci.GetParent() != "" {
		parent = ci.GetParent()
	}
	field(t, "Parent", parent)
	field(t, "Limit", amps(ci.GetLimit())+" A per phase")
	field(t, "Power limit", kWUnit(ci.GetPowerLimitKw()))
	field(t, "Oversubscribed", yesNo(ci.GetOversubscribed()))
	field(t, "Etag", orDash(ci.GetEtag()))
	if err := t.Flush(); err != nil {
		return err
	}

	fmt.Fprintln(w, "\nEffective limit (the lowest on the way to the grid):")
	t = newTable(indent(w))
	row(t, "PHASE", "LIMIT", "SET BY")
	limits, power := circuitEffective(ci, circuits, eff)
	for i, l := range limits {
		row(t, "L"+strconv.Itoa(i+1), num(l.value)+" A", l.by)
	}
	if power.value > 0 {
		row(t, "power", num(power.value)+" kW", power.by)
	} else {
		row(t, "power", "none", "-")
	}
	if err := t.Flush(); err != nil {
		return err
	}

	var on []*pb.Charger
	for _, ch := range chargers {
		if ch.GetCircuit() == ci.GetName() {
			on = append(on, ch)
		}
	}
	fmt.Fprintf(w, "\nChargers on it (%d):\n", len(on))
	if len(on) == 0 {
		return nil
	}
	return chargerTable(indent(w), on)
}

type bound struct {
	value float64
	by    string
}

// circuitEffective walks from ci up to the grid and keeps, per phase, the
// lowest limit and who sets it.
func circuitEffective(ci *pb.Circuit, circuits []*pb.Circuit, eff *pb.EffectiveGridLimit) ([3]bound, bound) {
	byName := map[string]*pb.Circuit{}
	for _, x := range circuits {
		byName[x.GetName()] = x
	}
	var limits [3]bound
	var power bound
	lower := func(b *bound, v float64, by string) {
		if v > 0 && (b.value == 0 || v < b.value) {
			*b = bound{v, by}
		}
	}
	seen := map[string]bool{}
	for cur := ci; cur != nil && !seen[cur.GetName()]; cur = byName[cur.GetParent()] {
		seen[cur.GetName()] = true
		l := cur.GetLimit()
		by := "circuit " + lastSegment(cur.GetName())
		for i, v := range []float64{l.GetL1(), l.GetL2(), l.GetL3()} {
			lower(&limits[i], v, by)
		}
		lower(&power, cur.GetPowerLimitKw(), by)
		if cur.GetParent() == "" {
			break
		}
	}
	for i, p := range eff.GetPhases() {
		if i < 3 {
			lower(&limits[i], p.GetLimit(), "site: "+originName(p.GetOrigin()))
		}
	}
	lower(&power, eff.GetPowerLimitKw(), "site: "+originName(eff.GetPowerLimitOrigin()))
	return limits, power
}

// indent prefixes every line written to w with two spaces.
func indent(w io.Writer) io.Writer { return &indenter{w: w, bol: true} }

type indenter struct {
	w   io.Writer
	bol bool
}

func (d *indenter) Write(p []byte) (int, error) {
	var out []byte
	for _, b := range p {
		if d.bol {
			out = append(out, ' ', ' ')
		}
		out = append(out, b)
		d.bol = b == '\n'
	}
	if _, err := d.w.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}

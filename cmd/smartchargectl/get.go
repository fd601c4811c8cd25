package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/smartcharge/smartcharge/apiserver"
	pb "github.com/smartcharge/smartcharge/proto/smartcharge/v1"
	"github.com/smartcharge/smartcharge/site/sitefile"
)

const getUsage = "smartchargectl get sites | site NAME | circuits|chargers|gridlimits --site S | circuit|charger|gridlimit NAME --site S [-o table|json|yaml]"

const pageSize = 1000

// runGet lists resources as a table, or prints them as JSON or YAML.
// "get site NAME -o yaml" prints the site's whole configuration as a site
// file that "apply -f" takes back.
func runGet(ctx context.Context, a *app, args []string) error {
	fs := a.flags("get", getUsage)
	siteFlag := fs.String("site", "", "the site (ID or sites/ID)")
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return fs.fail("what to get: sites, site NAME, circuits, chargers or gridlimits")
	}
	kind, rest := pos[0], pos[1:]
	one := ""
	switch len(rest) {
	case 0:
	case 1:
		one = rest[0]
	default:
		return fs.fail("unexpected argument %q", rest[1])
	}
	needSite := func() (string, error) {
		if *siteFlag == "" {
			return "", fs.fail("%s needs --site", kind)
		}
		return siteID(*siteFlag), nil
	}
	return a.connect(ctx, func(ctx context.Context, c *client) error {
		switch kind {
		case "sites":
			if one != "" {
				return getSite(ctx, a, c, one)
			}
			return getSites(ctx, a, c)
		case "site":
			if one == "" {
				one = *siteFlag
			}
			if one == "" {
				return fs.fail("get site needs a NAME")
			}
			return getSite(ctx, a, c, one)
		case "circuits", "circuit":
			s, err := needSite()
			if err != nil {
				return err
			}
			return getCircuits(ctx, a, c, s, one)
		case "chargers", "charger":
			s, err := needSite()
			if err != nil {
				return err
			}
			return getChargers(ctx, a, c, s, one)
		case "gridlimits", "gridlimit", "limits":
			s, err := needSite()
			if err != nil {
				return err
			}
			return getGridLimits(ctx, a, c, s, one)
		}
		return fs.fail("unknown kind %q: want sites, site, circuits, chargers or gridlimits", kind)
	})
}

func getSites(ctx context.Context, a *app, c *client) error {
	all := &pb.ListSitesResponse{}
	token := ""
	for {
		resp, err := c.sites.ListSites(ctx, &pb.ListSitesRequest{PageSize: pageSize, PageToken: token})
		if err != nil {
			return err
		}
		all.Sites = append(all.Sites, resp.GetSites()...)
		if token = resp.GetNextPageToken(); token == "" {
			break
		}
	}
	if a.g.output != "table" {
		return printProto(a.stdout, a.g.output, all)
	}
	return siteTable(a.stdout, all.GetSites())
}

func siteTable(w io.Writer, sites []*pb.Site) error {
	t := newTable(w)
	row(t, "NAME", "DISPLAY NAME", "TIME ZONE", "VOLTAGE (V)", "GRID LIMIT (A)", "POWER LIMIT (kW)")
	for _, s := range sites {
		row(t, s.GetName(), orDash(s.GetDisplayName()), orDash(s.GetTimeZone()), num(s.GetNominalVoltage()),
			amps(s.GetGridLimit()), kW(s.GetGridPowerLimitKw()))
	}
	return t.Flush()
}

// getSite prints a site; as YAML, its whole configuration as a site file.
func getSite(ctx context.Context, a *app, c *client, name string) error {
	id := siteID(name)
	resp, err := c.sites.GetSiteConfig(ctx, &pb.GetSiteConfigRequest{Name: "sites/" + id + "/config"})
	if err != nil {
		return err
	}
	switch a.g.output {
	case "json":
		return printProto(a.stdout, "json", resp.GetConfig())
	case "yaml":
		cfg, err := apiserver.ConfigFromProto(resp.GetConfig())
		if err != nil {
			return fmt.Errorf("convert the site's configuration: %w", err)
		}
		// Times as the site sees them, as a site file would give them.
		loc := location(cfg.Site.TimeZone)
		for i := range cfg.Limits {
			l := &cfg.Limits[i]
			if !l.Start.IsZero() {
				l.Start = l.Start.In(loc)
			}
			if !l.End.IsZero() {
				l.End = l.End.In(loc)
			}
		}
		data, err := sitefile.Marshal(cfg)
		if err != nil {
			return err
		}
		_, err = a.stdout.Write(data)
		return err
	}
	return siteTable(a.stdout, []*pb.Site{resp.GetConfig().GetSite()})
}

func getCircuits(ctx context.Context, a *app, c *client, site, one string) error {
	var circuits []*pb.Circuit
	if one != "" {
		resp, err := c.circuits.GetCircuit(ctx, &pb.GetCircuitRequest{Name: childName(site, "circuits", one)})
		if err != nil {
			return err
		}
		if a.g.output != "table" {
			return printProto(a.stdout, a.g.output, resp.GetCircuit())
		}
		circuits = []*pb.Circuit{resp.GetCircuit()}
	} else {
		all, err := listCircuits(ctx, c, site)
		if err != nil {
			return err
		}
		if a.g.output != "table" {
			return printProto(a.stdout, a.g.output, &pb.ListCircuitsResponse{Circuits: all})
		}
		circuits = all
	}
	t := newTable(a.stdout)
	row(t, "NAME", "DISPLAY NAME", "PARENT", "LIMIT (A)", "POWER LIMIT (kW)", "OVERSUBSCRIBED")
	for _, ci := range circuits {
		parent := "(grid)"
		if ci.GetParent() != "" {
			parent = lastSegment(ci.GetParent())
		}
		row(t, lastSegment(ci.GetName()), orDash(ci.GetDisplayName()), parent, amps(ci.GetLimit()),
			kW(ci.GetPowerLimitKw()), yesNo(ci.GetOversubscribed()))
	}
	return t.Flush()
}

func listCircuits(ctx context.Context, c *client, site string) ([]*pb.Circuit, error) {
	var all []*pb.Circuit
	token := ""
	for {
		resp, err := c.circuits.ListCircuits(ctx, &pb.ListCircuitsRequest{Parent: "sites/" + site, PageSize: pageSize, PageToken: token})
		if err != nil {
			return nil, err
		}
		all = append(all, resp.GetCircuits()...)
		if token = resp.GetNextPageToken(); token == "" {
			return all, nil
		}
	}
}

func getChargers(ctx context.Context, a *app, c *client, site, one string) error {
	var chargers []*pb.Charger
	if one != "" {
		resp, err := c.chargers.GetCharger(ctx, &pb.GetChargerRequest{Name: childName(site, "chargers", one)})
		if err != nil {
			return err
		}
		if a.g.output != "table" {
			return printProto(a.stdout, a.g.output, resp.GetCharger())
		}
		chargers = []*pb.Charger{resp.GetCharger()}
	} else {
		all, err := listChargers(ctx, c, site)
		if err != nil {
			return err
		}
		if a.g.output != "table" {
			return printProto(a.stdout, a.g.output, &pb.ListChargersResponse{Chargers: all})
		}
		chargers = all
	}
	return chargerTable(a.stdout, chargers)
}

func chargerTable(w io.Writer, chargers []*pb.Charger) error {
	t := newTable(w)
	row(t, "NAME", "OCPP IDENTITY", "CIRCUIT", "ROTATION", "EVSES", "MAX (A)", "CONNECTED", "STATUS")
	for _, ch := range chargers {
		circuit := "(grid)"
		if ch.GetCircuit() != "" {
			circuit = lastSegment(ch.GetCircuit())
		}
		row(t, lastSegment(ch.GetName()), ch.GetOcppIdentity(), circuit, rotationName(ch.GetPhaseRotation()),
			strconv.Itoa(len(ch.GetEvses())), evseMax(ch.GetEvses()), yesNo(ch.GetStatus().GetConnected()),
			evseStates(ch.GetStatus()))
	}
	return t.Flush()
}

// evseMax lists the EVSEs' maximum currents with their phases: "32x3,16x1".
func evseMax(evses []*pb.Evse) string {
	parts := make([]string, len(evses))
	for i, e := range evses {
		parts[i] = num(e.GetMaxCurrent()) + "x" + strconv.Itoa(int(e.GetPhases()))
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ",")
}

// evseStates gives the reported state of each EVSE: "1:charging 2:available".
func evseStates(st *pb.ChargerStatus) string {
	var parts []string
	for _, e := range st.GetEvses() {
		if e.GetEvseId() == 0 {
			continue
		}
		parts = append(parts, strconv.Itoa(int(e.GetEvseId()))+":"+stateName(e.GetState()))
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, " ")
}

func listChargers(ctx context.Context, c *client, site string) ([]*pb.Charger, error) {
	var all []*pb.Charger
	token := ""
	for {
		resp, err := c.chargers.ListChargers(ctx, &pb.ListChargersRequest{Parent: "sites/" + site, PageSize: pageSize, PageToken: token})
		if err != nil {
			return nil, err
		}
		all = append(all, resp.GetChargers()...)
		if token = resp.GetNextPageToken(); token == "" {
			return all, nil
		}
	}
}

func getGridLimits(ctx context.Context, a *app, c *client, site, one string) error {
	var limits []*pb.GridLimit
	if one != "" {
		resp, err := c.limits.GetGridLimit(ctx, &pb.GetGridLimitRequest{Name: childName(site, "gridLimits", one)})
		if err != nil {
			return err
		}
		if a.g.output != "table" {
			return printProto(a.stdout, a.g.output, resp.GetGridLimit())
		}
		limits = []*pb.GridLimit{resp.GetGridLimit()}
	} else {
		all, err := listGridLimits(ctx, c, site)
		if err != nil {
			return err
		}
		if a.g.output != "table" {
			return printProto(a.stdout, a.g.output, &pb.ListGridLimitsResponse{GridLimits: all})
		}
		limits = all
	}
	return gridLimitTable(a.stdout, limits, siteLocation(ctx, c, site))
}

func gridLimitTable(w io.Writer, limits []*pb.GridLimit, loc *time.Location) error {
	t := newTable(w)
	row(t, "NAME", "SOURCE", "LIMIT (A)", "POWER (kW)", "START", "END", "ACTIVE", "REASON")
	for _, l := range limits {
		row(t, lastSegment(l.GetName()), sourceName(l.GetSource()), amps(l.GetLimit()), kW(l.GetPowerLimitKw()),
			when(l.GetStartTime(), loc), when(l.GetEndTime(), loc), yesNo(l.GetActive()), orDash(l.GetReason()))
	}
	return t.Flush()
}

func listGridLimits(ctx context.Context, c *client, site string) ([]*pb.GridLimit, error) {
	var all []*pb.GridLimit
	token := ""
	for {
		resp, err := c.limits.ListGridLimits(ctx, &pb.ListGridLimitsRequest{Parent: "sites/" + site, PageSize: pageSize, PageToken: token})
		if err != nil {
			return nil, err
		}
		all = append(all, resp.GetGridLimits()...)
		if token = resp.GetNextPageToken(); token == "" {
			return all, nil
		}
	}
}

// siteLocation is the site's time zone, for showing times as the site
// sees them; UTC if it cannot be read.
func siteLocation(ctx context.Context, c *client, site string) *time.Location {
	resp, err := c.sites.GetSite(ctx, &pb.GetSiteRequest{Name: "sites/" + site})
	if err != nil {
		return time.UTC
	}
	return location(resp.GetSite().GetTimeZone())
}

func location(tz string) *time.Location {
	if tz == "" {
		return time.UTC
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return time.UTC
	}
	return loc
}

// childName builds "sites/{site}/{collection}/{id}"; a full name given as
// id is taken as is.
func childName(site, collection, id string) string {
	if strings.HasPrefix(id, "sites/") {
		return id
	}
	return "sites/" + site + "/" + collection + "/" + id
}

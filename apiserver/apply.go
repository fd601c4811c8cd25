package apiserver

import (
	"context"
	"errors"
	"fmt"

	pb "github.com/smartcharge/smartcharge/proto/smartcharge/v1"
	"github.com/smartcharge/smartcharge/site"
)

// applyPlan is a parsed ApplySiteConfig request.
type applyPlan struct {
	siteID  string
	desired site.Config
	// etags per resource as given (0: none), indexed like desired.
	siteEtag                             int64
	circuitEtags, chargerEtags, limEtags []int64
	// passwords by charger index; absent: keep the stored one.
	passwords map[int]string
	prune     bool
	caller    *Principal
}

func (s *siteService) apply(ctx context.Context, req *pb.ApplySiteConfigRequest) (*pb.ApplySiteConfigResponse, error) {
	v := &site.ValidationError{}
	id, err := parseSiteName(req.GetName())
	if err != nil {
		return nil, badField("name", "%v", err)
	}
	plan := &applyPlan{siteID: id, prune: req.GetPrune(), passwords: map[int]string{}}
	plan.desired = configFromProto(req.GetConfig(), id, "config", v)
	cfgp := req.GetConfig()
	etag := func(s, field string) int64 {
		g, err := parseEtag(s)
		if err != nil {
			v.Add(field, "%v", err)
		}
		return g
	}
	plan.siteEtag = etag(cfgp.GetSite().GetEtag(), "config.site.etag")
	for i, x := range cfgp.GetCircuits() {
		plan.circuitEtags = append(plan.circuitEtags, etag(x.GetEtag(), fmt.Sprintf("config.circuits[%d].etag", i)))
	}
	for i, x := range cfgp.GetChargers() {
		plan.chargerEtags = append(plan.chargerEtags, etag(x.GetEtag(), fmt.Sprintf("config.chargers[%d].etag", i)))
		if pw := x.GetOcppPassword(); pw != "" {
			if rule := checkPassword(pw); rule != "" {
				v.Add(fmt.Sprintf("config.chargers[%d].ocpp_password", i), "%s", rule)
			}
			plan.passwords[i] = pw
		}
	}
	for i, x := range cfgp.GetGridLimits() {
		plan.limEtags = append(plan.limEtags, etag(x.GetEtag(), fmt.Sprintf("config.grid_limits[%d].etag", i)))
	}
	if v.Err() != nil {
		return nil, v
	}
	if plan.caller, err = authorize(ctx, actWriteConfig, id); err != nil {
		return nil, err
	}
	// Request-order indices: violations name the request's fields.
	loc := applyLocator(&plan.desired)
	if err := validateConfig(&plan.desired).Err(); err != nil {
		return nil, relocate(err, &plan.desired, loc, "config")
	}

	// Identities must be free in other sites; the store checks again on
	// commit, this catches it on a dry run too.
	for i, x := range plan.desired.Chargers {
		other, err := s.store.ChargerByIdentity(ctx, x.OCPPIdentity)
		switch {
		case errors.Is(err, site.ErrNotFound):
		case err != nil:
			return nil, about(siteName(id), err)
		case other.SiteID != id:
			return nil, about(childName(id, collChargers, x.ID), fmt.Errorf("%w: config.chargers[%d].ocpp_identity %q belongs to a charger of another site",
				site.ErrAlreadyExists, i, x.OCPPIdentity))
		}
	}

	if _, err := s.store.Config(ctx, id); errors.Is(err, site.ErrNotFound) {
		return s.applyCreate(ctx, plan, req.GetDryRun())
	} else if err != nil {
		return nil, about(siteName(id), err)
	}

	var result site.Config
	var changes []*pb.ConfigChange
	cfg, err := s.update(ctx, id, loc, "config", func(c *site.Config) error {
		merged, ch, err := plan.merge(c)
		if err != nil {
			return err
		}
		result, changes = merged, ch
		if req.GetDryRun() {
			if v := validateConfig(&merged); v.Err() != nil {
				return v
			}
			return errDryRun
		}
		*c = merged
		return nil
	})
	switch {
	case errors.Is(err, errDryRun):
		cfg = result
	case err != nil:
		return nil, err
	}
	return &pb.ApplySiteConfigResponse{
		Config:  configToProto(sortedConfig(cfg), s.clock.Now()),
		Changes: sortChanges(changes),
	}, nil
}

// applyCreate creates a new site from the plan (admin only).
func (s *siteService) applyCreate(ctx context.Context, plan *applyPlan, dryRun bool) (*pb.ApplySiteConfigResponse, error) {
	if _, err := authorize(ctx, actAdmin, plan.siteID); err != nil {
		return nil, err
	}
	d := plan.desired
	name := siteName(plan.siteID)
	changes := []*pb.ConfigChange{{Name: name, Type: pb.ChangeType_CHANGE_TYPE_CREATED}}
	if plan.siteEtag != 0 {
		return nil, etagMismatch(name)
	}
	for i, x := range d.Circuits {
		n := childName(plan.siteID, collCircuits, x.ID)
		if plan.circuitEtags[i] != 0 {
			return nil, etagMismatch(n)
		}
		changes = append(changes, &pb.ConfigChange{Name: n, Type: pb.ChangeType_CHANGE_TYPE_CREATED})
	}
	for i := range d.Chargers {
		n := childName(plan.siteID, collChargers, d.Chargers[i].ID)
		if plan.chargerEtags[i] != 0 {
			return nil, etagMismatch(n)
		}
		if pw, ok := plan.passwords[i]; ok {
			h, err := site.HashPassword(pw)
			if err != nil {
				return nil, err
			}
			d.Chargers[i].PasswordHash = h
		}
		changes = append(changes, &pb.ConfigChange{Name: n, Type: pb.ChangeType_CHANGE_TYPE_CREATED})
	}
	for i, x := range d.Limits {
		n := childName(plan.siteID, collGridLimits, x.ID)
		if plan.limEtags[i] != 0 {
			return nil, etagMismatch(n)
		}
		if err := authorizeSource(plan.caller, n, x.Source); err != nil {
			return nil, err
		}
		changes = append(changes, &pb.ConfigChange{Name: n, Type: pb.ChangeType_CHANGE_TYPE_CREATED})
	}
	got := d
	if !dryRun {
		var err error
		if got, err = s.store.CreateSite(ctx, d); err != nil {
			return nil, about(name, relocate(err, &d, applyLocator(&d), "config"))
		}
		s.trigger(plan.siteID)
	}
	return &pb.ApplySiteConfigResponse{
		Config:  configToProto(sortedConfig(got), s.clock.Now()),
		Changes: sortChanges(changes),
	}, nil
}

// applyLocator maps the desired config's resources (listed first, in
// request order) to the request's fields.
func applyLocator(d *site.Config) locator {
	n := map[string]int{"circuits": len(d.Circuits), "chargers": len(d.Chargers), "grid_limits": len(d.Limits)}
	return func(kind string, i int) (string, bool) {
		if kind == "site" {
			return "config.site", true
		}
		if i < n[kind] {
			return fmt.Sprintf("config.%s[%d]", kind, i), true
		}
		return "", false
	}
}

// merge computes the configuration the plan asks for from the stored one:
// listed resources first in request order, then (without prune) the
// unlisted ones. Stored resources keep their generation and times, so the
// store sees which ones changed.
func (plan *applyPlan) merge(cur *site.Config) (site.Config, []*pb.ConfigChange, error) {
	d := plan.desired
	sid := plan.siteID
	out := site.Config{}
	var changes []*pb.ConfigChange
	record := func(name string, existed bool, fields []string) {
		t := pb.ChangeType_CHANGE_TYPE_UNCHANGED
		switch {
		case !existed:
			t, fields = pb.ChangeType_CHANGE_TYPE_CREATED, nil
		case len(fields) > 0:
			t = pb.ChangeType_CHANGE_TYPE_UPDATED
		}
		changes = append(changes, &pb.ConfigChange{Name: name, Type: t, Fields: fields})
	}

	// The site.
	name := siteName(sid)
	if err := checkEtag(name, plan.siteEtag, cur.Site.Generation); err != nil {
		return out, nil, err
	}
	out.Site = cur.Site
	if f := diffSite(cur.Site, d.Site); len(f) > 0 {
		out.Site = d.Site
		out.Site.Generation, out.Site.CreateTime, out.Site.UpdateTime = cur.Site.Generation, cur.Site.CreateTime, cur.Site.UpdateTime
		record(name, true, f)
	} else {
		record(name, true, nil)
	}

	// Circuits.
	listed := map[string]bool{}
	for i, x := range d.Circuits {
		n := childName(sid, collCircuits, x.ID)
		listed[x.ID] = true
		j := indexByID(cur.Circuits, circuitID, x.ID)
		if j < 0 {
			if plan.circuitEtags[i] != 0 {
				return out, nil, etagMismatch(n)
			}
			out.Circuits = append(out.Circuits, x)
			record(n, false, nil)
			continue
		}
		old := cur.Circuits[j]
		if err := checkEtag(n, plan.circuitEtags[i], old.Generation); err != nil {
			return out, nil, err
		}
		f := diffCircuit(old, x)
		if len(f) > 0 {
			x.Generation, x.CreateTime, x.UpdateTime = old.Generation, old.CreateTime, old.UpdateTime
			out.Circuits = append(out.Circuits, x)
		} else {
			out.Circuits = append(out.Circuits, old)
		}
		record(n, true, f)
	}
	for _, old := range cur.Circuits {
		if listed[old.ID] {
			continue
		}
		n := childName(sid, collCircuits, old.ID)
		if plan.prune {
			changes = append(changes, &pb.ConfigChange{Name: n, Type: pb.ChangeType_CHANGE_TYPE_DELETED})
			continue
		}
		out.Circuits = append(out.Circuits, old)
		record(n, true, nil)
	}

	// Chargers.
	listed = map[string]bool{}
	for i, x := range d.Chargers {
		n := childName(sid, collChargers, x.ID)
		listed[x.ID] = true
		pw, setPW := plan.passwords[i]
		j := indexByID(cur.Chargers, chargerID, x.ID)
		if j < 0 {
			if plan.chargerEtags[i] != 0 {
				return out, nil, etagMismatch(n)
			}
			if setPW {
				h, err := site.HashPassword(pw)
				if err != nil {
					return out, nil, err
				}
				x.PasswordHash = h
			}
			out.Chargers = append(out.Chargers, x)
			record(n, false, nil)
			continue
		}
		old := cur.Chargers[j]
		if err := checkEtag(n, plan.chargerEtags[i], old.Generation); err != nil {
			return out, nil, err
		}
		x.PasswordHash = old.PasswordHash
		f := diffCharger(old, x)
		if setPW {
			if ok, _ := site.CheckPassword(old.PasswordHash, pw); !ok {
				h, err := site.HashPassword(pw)
				if err != nil {
					return out, nil, err
				}
				x.PasswordHash = h
				f = append(f, "ocpp_password")
			}
		}
		if len(f) > 0 {
			x.Generation, x.CreateTime, x.UpdateTime = old.Generation, old.CreateTime, old.UpdateTime
			out.Chargers = append(out.Chargers, x)
		} else {
			out.Chargers = append(out.Chargers, old)
		}
		record(n, true, f)
	}
	for _, old := range cur.Chargers {
		if listed[old.ID] {
			continue
		}
		n := childName(sid, collChargers, old.ID)
		if plan.prune {
			changes = append(changes, &pb.ConfigChange{Name: n, Type: pb.ChangeType_CHANGE_TYPE_DELETED})
			continue
		}
		out.Chargers = append(out.Chargers, old)
		record(n, true, nil)
	}

	// Grid limits: a caller changes only limits of sources it may write.
	listed = map[string]bool{}
	for i, x := range d.Limits {
		n := childName(sid, collGridLimits, x.ID)
		listed[x.ID] = true
		j := indexByID(cur.Limits, limitID, x.ID)
		if j < 0 {
			if plan.limEtags[i] != 0 {
				return out, nil, etagMismatch(n)
			}
			if err := authorizeSource(plan.caller, n, x.Source); err != nil {
				return out, nil, err
			}
			out.Limits = append(out.Limits, x)
			record(n, false, nil)
			continue
		}
		old := cur.Limits[j]
		if err := checkEtag(n, plan.limEtags[i], old.Generation); err != nil {
			return out, nil, err
		}
		f := diffLimit(old, x)
		if len(f) > 0 {
			if err := authorizeSource(plan.caller, n, old.Source); err != nil {
				return out, nil, err
			}
			if err := authorizeSource(plan.caller, n, x.Source); err != nil {
				return out, nil, err
			}
			x.Generation, x.CreateTime, x.UpdateTime = old.Generation, old.CreateTime, old.UpdateTime
			out.Limits = append(out.Limits, x)
		} else {
			out.Limits = append(out.Limits, old)
		}
		record(n, true, f)
	}
	for _, old := range cur.Limits {
		if listed[old.ID] {
			continue
		}
		n := childName(sid, collGridLimits, old.ID)
		if plan.prune && sourceAllowed(plan.caller.Role, old.Source) {
			changes = append(changes, &pb.ConfigChange{Name: n, Type: pb.ChangeType_CHANGE_TYPE_DELETED})
			continue
		}
		out.Limits = append(out.Limits, old)
		record(n, true, nil)
	}
	return out, changes, nil
}

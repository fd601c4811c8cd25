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
	changes := changeList{{Name: name, Type: pb.ChangeType_CHANGE_TYPE_CREATED}}
	if plan.siteEtag != 0 {
		return nil, etagMismatch(name)
	}
	if err := circuitResource.createAll(plan.siteID, d.Circuits, plan.circuitEtags, itemHooks[site.Circuit]{}, &changes); err != nil {
		return nil, err
	}
	if err := chargerResource.createAll(plan.siteID, d.Chargers, plan.chargerEtags, plan.chargerHooks(), &changes); err != nil {
		return nil, err
	}
	if err := gridLimitResource.createAll(plan.siteID, d.Limits, plan.limEtags, plan.limitHooks(), &changes); err != nil {
		return nil, err
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
	out := site.Config{}
	var changes changeList

	// The site.
	name := siteName(plan.siteID)
	if err := checkEtag(name, plan.siteEtag, cur.Site.Generation); err != nil {
		return out, nil, err
	}
	out.Site = cur.Site
	f := diffSite(cur.Site, d.Site)
	if len(f) > 0 {
		out.Site = d.Site
		siteResource.carry(&out.Site, cur.Site)
	}
	changes.record(name, true, f)

	var err error
	if out.Circuits, err = circuitResource.merge(plan, cur.Circuits, d.Circuits, plan.circuitEtags, itemHooks[site.Circuit]{}, &changes); err != nil {
		return out, nil, err
	}
	if out.Chargers, err = chargerResource.merge(plan, cur.Chargers, d.Chargers, plan.chargerEtags, plan.chargerHooks(), &changes); err != nil {
		return out, nil, err
	}
	if out.Limits, err = gridLimitResource.merge(plan, cur.Limits, d.Limits, plan.limEtags, plan.limitHooks(), &changes); err != nil {
		return out, nil, err
	}
	return out, changes, nil
}

// changeList collects the changes of an apply.
type changeList []*pb.ConfigChange

// record adds the change of a resource that is listed or kept: created
// (it did not exist), updated (fields differ) or unchanged.
func (c *changeList) record(name string, existed bool, fields []string) {
	t := pb.ChangeType_CHANGE_TYPE_UNCHANGED
	switch {
	case !existed:
		t, fields = pb.ChangeType_CHANGE_TYPE_CREATED, nil
	case len(fields) > 0:
		t = pb.ChangeType_CHANGE_TYPE_UPDATED
	}
	*c = append(*c, &pb.ConfigChange{Name: name, Type: t, Fields: fields})
}

// itemHooks are a kind's own steps of an apply; nil ones are skipped.
type itemHooks[D any] struct {
	// created runs for a resource to create, the request's i-th.
	created func(i int, name string, x *D) error
	// changed runs for a stored resource old listed as x, the request's
	// i-th, once its etag matched; f names the fields that differ and it
	// returns them.
	changed func(i int, name string, old D, x *D, f []string) ([]string, error)
	// prunable says whether prune deletes an unlisted resource (nil:
	// all).
	prunable func(old D) bool
}

// createAll checks the resources of a new site (no etags) and records
// their creation.
func (r *resource[D, P]) createAll(siteID string, items []D, etags []int64, h itemHooks[D], changes *changeList) error {
	for i := range items {
		n := childName(siteID, r.coll, r.id(items[i]))
		if etags[i] != 0 {
			return etagMismatch(n)
		}
		if h.created != nil {
			if err := h.created(i, n, &items[i]); err != nil {
				return err
			}
		}
		changes.record(n, false, nil)
	}
	return nil
}

// merge merges the listed resources of one kind (desired, with their
// etags) into the stored ones (cur).
func (r *resource[D, P]) merge(plan *applyPlan, cur, desired []D, etags []int64, h itemHooks[D], changes *changeList) ([]D, error) {
	var out []D
	listed := map[string]bool{}
	for i, x := range desired {
		n := childName(plan.siteID, r.coll, r.id(x))
		listed[r.id(x)] = true
		j := indexByID(cur, r.id, r.id(x))
		if j < 0 {
			if etags[i] != 0 {
				return out, etagMismatch(n)
			}
			if h.created != nil {
				if err := h.created(i, n, &x); err != nil {
					return out, err
				}
			}
			out = append(out, x)
			changes.record(n, false, nil)
			continue
		}
		old := cur[j]
		if err := checkEtag(n, etags[i], r.generation(old)); err != nil {
			return out, err
		}
		f := r.diff(old, x)
		if h.changed != nil {
			var err error
			if f, err = h.changed(i, n, old, &x, f); err != nil {
				return out, err
			}
		}
		if len(f) > 0 {
			r.carry(&x, old)
			out = append(out, x)
		} else {
			out = append(out, old)
		}
		changes.record(n, true, f)
	}
	for _, old := range cur {
		if listed[r.id(old)] {
			continue
		}
		n := childName(plan.siteID, r.coll, r.id(old))
		if plan.prune && (h.prunable == nil || h.prunable(old)) {
			*changes = append(*changes, &pb.ConfigChange{Name: n, Type: pb.ChangeType_CHANGE_TYPE_DELETED})
			continue
		}
		out = append(out, old)
		changes.record(n, true, nil)
	}
	return out, nil
}

// chargerHooks hash new passwords; a stored charger keeps its hash unless
// the request gives another password.
func (plan *applyPlan) chargerHooks() itemHooks[site.Charger] {
	return itemHooks[site.Charger]{
		created: func(i int, _ string, x *site.Charger) error {
			pw, ok := plan.passwords[i]
			if !ok {
				return nil
			}
			h, err := site.HashPassword(pw)
			x.PasswordHash = h
			return err
		},
		changed: func(i int, _ string, old site.Charger, x *site.Charger, f []string) ([]string, error) {
			x.PasswordHash = old.PasswordHash
			pw, ok := plan.passwords[i]
			if !ok {
				return f, nil
			}
			if same, _ := site.CheckPassword(old.PasswordHash, pw); same {
				return f, nil
			}
			h, err := site.HashPassword(pw)
			x.PasswordHash = h
			return append(f, "ocpp_password"), err
		},
	}
}

// limitHooks: a caller creates, changes and prunes only limits of
// sources it may write.
func (plan *applyPlan) limitHooks() itemHooks[site.GridLimit] {
	return itemHooks[site.GridLimit]{
		created: func(_ int, n string, x *site.GridLimit) error { return authorizeSource(plan.caller, n, x.Source) },
		changed: func(_ int, n string, old site.GridLimit, x *site.GridLimit, f []string) ([]string, error) {
			if len(f) == 0 {
				return f, nil
			}
			if err := authorizeSource(plan.caller, n, old.Source); err != nil {
				return f, err
			}
			return f, authorizeSource(plan.caller, n, x.Source)
		},
		prunable: func(old site.GridLimit) bool { return sourceAllowed(plan.caller.Role, old.Source) },
	}
}

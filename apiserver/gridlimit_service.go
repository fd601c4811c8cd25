package apiserver

import (
	"context"
	"slices"

	pb "github.com/smartcharge/smartcharge/proto/smartcharge/v1"
	"github.com/smartcharge/smartcharge/site"
)

type gridLimitService struct {
	pb.UnimplementedGridLimitServiceServer
	*Server
}

func limitLocator(idx *int) locator {
	return func(k string, i int) (string, bool) { return "grid_limit", k == "grid_limits" && i == *idx }
}

func (s *gridLimitService) GetGridLimit(ctx context.Context, req *pb.GetGridLimitRequest) (*pb.GetGridLimitResponse, error) {
	resp, err := s.getGridLimit(ctx, req)
	return resp, s.status(ctx, err)
}

func (s *gridLimitService) getGridLimit(ctx context.Context, req *pb.GetGridLimitRequest) (*pb.GetGridLimitResponse, error) {
	sid, id, err := parseChildName(req.GetName(), patternGridLimit)
	if err != nil {
		return nil, badField("name", "%v", err)
	}
	if _, err := authorize(ctx, actRead, sid); err != nil {
		return nil, err
	}
	cfg, err := s.read(ctx, sid)
	if err != nil {
		return nil, err
	}
	i := indexByID(cfg.Limits, limitID, id)
	if i < 0 {
		return nil, notFound(req.GetName())
	}
	return &pb.GetGridLimitResponse{GridLimit: gridLimitToProto(cfg.Limits[i], s.clock.Now())}, nil
}

func (s *gridLimitService) ListGridLimits(ctx context.Context, req *pb.ListGridLimitsRequest) (*pb.ListGridLimitsResponse, error) {
	resp, err := s.listGridLimits(ctx, req)
	return resp, s.status(ctx, err)
}

func (s *gridLimitService) listGridLimits(ctx context.Context, req *pb.ListGridLimitsRequest) (*pb.ListGridLimitsResponse, error) {
	v := &site.ValidationError{}
	sid, err := parseSiteName(req.GetParent())
	if err != nil {
		v.Add("parent", "%v", err)
	}
	size, after := listArgs(req.GetPageSize(), req.GetPageToken(), v)
	if v.Err() != nil {
		return nil, v
	}
	if _, err := authorize(ctx, actRead, sid); err != nil {
		return nil, err
	}
	cfg, err := s.read(ctx, sid)
	if err != nil {
		return nil, err
	}
	now := s.clock.Now()
	page, next := pageOf(sortedConfig(cfg).Limits, limitID, after, size)
	resp := &pb.ListGridLimitsResponse{NextPageToken: next}
	for _, x := range page {
		resp.GridLimits = append(resp.GridLimits, gridLimitToProto(x, now))
	}
	return resp, nil
}

func (s *gridLimitService) CreateGridLimit(ctx context.Context, req *pb.CreateGridLimitRequest) (*pb.CreateGridLimitResponse, error) {
	resp, err := s.createGridLimit(ctx, req)
	return resp, s.status(ctx, err)
}

func (s *gridLimitService) createGridLimit(ctx context.Context, req *pb.CreateGridLimitRequest) (*pb.CreateGridLimitResponse, error) {
	v := &site.ValidationError{}
	sid, err := parseSiteName(req.GetParent())
	if err != nil {
		v.Add("parent", "%v", err)
	}
	id := req.GetGridLimitId()
	if !validID(id) {
		v.Add("grid_limit_id", "%q %s", id, idRule)
	}
	if req.GetGridLimit() == nil {
		v.Add("grid_limit", "required")
	}
	if v.Err() != nil {
		return nil, v
	}
	x := gridLimitFromProto(req.GetGridLimit(), sid, id, "grid_limit", v)
	if v.Err() != nil {
		return nil, v
	}
	caller, err := authorize(ctx, actWriteLimits, sid)
	if err != nil {
		return nil, err
	}
	name := childName(sid, collGridLimits, id)
	if x.Source != site.SourceUnspecified {
		if err := authorizeSource(caller, name, x.Source); err != nil {
			return nil, err
		}
	}
	var idx int
	cfg, err := s.update(ctx, sid, limitLocator(&idx), "grid_limit", func(c *site.Config) error {
		if indexByID(c.Limits, limitID, id) >= 0 {
			return alreadyExists(name)
		}
		idx = len(c.Limits)
		c.Limits = append(c.Limits, x)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &pb.CreateGridLimitResponse{GridLimit: gridLimitToProto(cfg.Limits[indexByID(cfg.Limits, limitID, id)], s.clock.Now())}, nil
}

func (s *gridLimitService) UpdateGridLimit(ctx context.Context, req *pb.UpdateGridLimitRequest) (*pb.UpdateGridLimitResponse, error) {
	resp, err := s.updateGridLimit(ctx, req)
	return resp, s.status(ctx, err)
}

func (s *gridLimitService) updateGridLimit(ctx context.Context, req *pb.UpdateGridLimitRequest) (*pb.UpdateGridLimitResponse, error) {
	v := &site.ValidationError{}
	p := req.GetGridLimit()
	if p == nil {
		return nil, badField("grid_limit", "required")
	}
	sid, id, err := parseChildName(p.GetName(), patternGridLimit)
	if err != nil {
		v.Add("grid_limit.name", "%v", err)
	}
	gen, err := parseEtag(p.GetEtag())
	if err != nil {
		v.Add("grid_limit.etag", "%v", err)
	}
	paths := gridLimitMask.resolve(req.GetUpdateMask(), p, v)
	gridLimitMask.apply(&site.GridLimit{SiteID: sid}, p, paths, "grid_limit", v)
	if v.Err() != nil {
		return nil, v
	}
	caller, err := authorize(ctx, actWriteLimits, sid)
	if err != nil {
		return nil, err
	}
	name := p.GetName()
	var idx int
	cfg, err := s.update(ctx, sid, limitLocator(&idx), "grid_limit", func(c *site.Config) error {
		idx = indexByID(c.Limits, limitID, id)
		if idx < 0 {
			return notFound(name)
		}
		l := &c.Limits[idx]
		if err := checkEtag(name, gen, l.Generation); err != nil {
			return err
		}
		if err := authorizeSource(caller, name, l.Source); err != nil {
			return err
		}
		gridLimitMask.apply(l, p, paths, "grid_limit", &site.ValidationError{})
		if l.Source != site.SourceUnspecified {
			return authorizeSource(caller, name, l.Source)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &pb.UpdateGridLimitResponse{GridLimit: gridLimitToProto(cfg.Limits[indexByID(cfg.Limits, limitID, id)], s.clock.Now())}, nil
}

func (s *gridLimitService) DeleteGridLimit(ctx context.Context, req *pb.DeleteGridLimitRequest) (*pb.DeleteGridLimitResponse, error) {
	resp, err := s.deleteGridLimit(ctx, req)
	return resp, s.status(ctx, err)
}

func (s *gridLimitService) deleteGridLimit(ctx context.Context, req *pb.DeleteGridLimitRequest) (*pb.DeleteGridLimitResponse, error) {
	v := &site.ValidationError{}
	sid, id, err := parseChildName(req.GetName(), patternGridLimit)
	if err != nil {
		v.Add("name", "%v", err)
	}
	gen, err := parseEtag(req.GetEtag())
	if err != nil {
		v.Add("etag", "%v", err)
	}
	if v.Err() != nil {
		return nil, v
	}
	caller, err := authorize(ctx, actWriteLimits, sid)
	if err != nil {
		return nil, err
	}
	name := req.GetName()
	_, err = s.update(ctx, sid, func(string, int) (string, bool) { return "", false }, "name", func(c *site.Config) error {
		i := indexByID(c.Limits, limitID, id)
		if i < 0 {
			return notFound(name)
		}
		if err := checkEtag(name, gen, c.Limits[i].Generation); err != nil {
			return err
		}
		if err := authorizeSource(caller, name, c.Limits[i].Source); err != nil {
			return err
		}
		c.Limits = slices.Delete(c.Limits, i, i+1)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &pb.DeleteGridLimitResponse{}, nil
}

func (s *gridLimitService) SetGridLimit(ctx context.Context, req *pb.SetGridLimitRequest) (*pb.SetGridLimitResponse, error) {
	resp, err := s.setGridLimit(ctx, req)
	return resp, s.status(ctx, err)
}

func (s *gridLimitService) setGridLimit(ctx context.Context, req *pb.SetGridLimitRequest) (*pb.SetGridLimitResponse, error) {
	v := &site.ValidationError{}
	p := req.GetGridLimit()
	if p == nil {
		return nil, badField("grid_limit", "required")
	}
	sid, id, err := parseChildName(p.GetName(), patternGridLimit)
	if err != nil {
		v.Add("grid_limit.name", "%v", err)
	}
	gen, err := parseEtag(p.GetEtag())
	if err != nil {
		v.Add("grid_limit.etag", "%v", err)
	}
	x := gridLimitFromProto(p, sid, id, "grid_limit", v)
	if v.Err() != nil {
		return nil, v
	}
	caller, err := authorize(ctx, actWriteLimits, sid)
	if err != nil {
		return nil, err
	}
	name := p.GetName()
	if x.Source != site.SourceUnspecified {
		if err := authorizeSource(caller, name, x.Source); err != nil {
			return nil, err
		}
	}
	var idx int
	created := false
	cfg, err := s.update(ctx, sid, limitLocator(&idx), "grid_limit", func(c *site.Config) error {
		idx = indexByID(c.Limits, limitID, id)
		if idx < 0 {
			if gen != 0 {
				return notFound(name)
			}
			created = true
			idx = len(c.Limits)
			c.Limits = append(c.Limits, x)
			return nil
		}
		created = false
		old := c.Limits[idx]
		if err := checkEtag(name, gen, old.Generation); err != nil {
			return err
		}
		if err := authorizeSource(caller, name, old.Source); err != nil {
			return err
		}
		if len(diffLimit(old, x)) == 0 {
			return nil // unchanged: keep the etag
		}
		n := x
		n.Generation, n.CreateTime, n.UpdateTime = old.Generation, old.CreateTime, old.UpdateTime
		c.Limits[idx] = n
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &pb.SetGridLimitResponse{
		GridLimit: gridLimitToProto(cfg.Limits[indexByID(cfg.Limits, limitID, id)], s.clock.Now()),
		Created:   created,
	}, nil
}

func (s *gridLimitService) GetEffectiveGridLimit(ctx context.Context, req *pb.GetEffectiveGridLimitRequest) (*pb.GetEffectiveGridLimitResponse, error) {
	resp, err := s.getEffective(ctx, req)
	return resp, s.status(ctx, err)
}

func (s *gridLimitService) getEffective(ctx context.Context, req *pb.GetEffectiveGridLimitRequest) (*pb.GetEffectiveGridLimitResponse, error) {
	v := &site.ValidationError{}
	vars, err := parseName(req.GetName(), patternEffectiveGridLimit)
	if err != nil {
		v.Add("name", "%v", err)
	}
	t := fromTS(req.GetEvaluateTime(), "evaluate_time", v)
	if v.Err() != nil {
		return nil, v
	}
	sid := vars[0]
	if _, err := authorize(ctx, actRead, sid); err != nil {
		return nil, err
	}
	cfg, err := s.read(ctx, sid)
	if err != nil {
		return nil, err
	}
	if t.IsZero() {
		t = s.clock.Now()
	}
	e := site.Effective(cfg.Site, cfg.Limits, t)
	out := &pb.EffectiveGridLimit{
		Name:         req.GetName(),
		EvaluateTime: ts(t),
		Limit:        currentsToProto(e.Limit),
		PowerLimitKw: kw(e.PowerLimit),
	}
	origin := func(id string) *pb.LimitOrigin {
		if id == "" {
			return &pb.LimitOrigin{Source: pb.GridLimitSource_GRID_LIMIT_SOURCE_CONNECTION, Reason: "grid connection limit"}
		}
		i := indexByID(e.Active, limitID, id)
		if i < 0 {
			return &pb.LimitOrigin{GridLimit: childName(sid, collGridLimits, id)}
		}
		l := e.Active[i]
		return &pb.LimitOrigin{
			GridLimit: childName(sid, collGridLimits, id),
			Source:    sourceToProto(l.Source),
			Reason:    l.Reason,
			EndTime:   ts(l.End),
		}
	}
	for k, ph := range []pb.Phase{pb.Phase_PHASE_L1, pb.Phase_PHASE_L2, pb.Phase_PHASE_L3} {
		out.Phases = append(out.Phases, &pb.EffectivePhaseLimit{Phase: ph, Limit: float64(e.Limit[k]), Origin: origin(e.PhaseSetBy[k])})
	}
	if e.PowerLimit > 0 {
		out.PowerLimitOrigin = origin(e.PowerSetBy)
	}
	for _, l := range e.Active {
		out.ActiveGridLimits = append(out.ActiveGridLimits, gridLimitToProto(l, t))
	}
	return &pb.GetEffectiveGridLimitResponse{EffectiveGridLimit: out}, nil
}

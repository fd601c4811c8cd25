package apiserver

import (
	"context"
	"time"

	pb "github.com/smartcharge/smartcharge/proto/smartcharge/v1"
	"github.com/smartcharge/smartcharge/site"
)

type gridLimitService struct {
	pb.UnimplementedGridLimitServiceServer
	*Server
}

// gridLimitResource: "sites/{site}/gridLimits/{grid_limit}", changed with grid
// limit rights (sources checked by the handlers).
var gridLimitResource = &resource[site.GridLimit, *pb.GridLimit]{
	field: "grid_limit", kind: "grid_limits", pattern: patternGridLimit, coll: collGridLimits, write: actWriteLimits,
	mask:  &gridLimitMask,
	items: func(c *site.Config) *[]site.GridLimit { return &c.Limits },
	id:    limitID,
	stamps: func(l *site.GridLimit) (*int64, *time.Time, *time.Time) {
		return &l.Generation, &l.CreateTime, &l.UpdateTime
	},
	blank:     func(siteID string) site.GridLimit { return site.GridLimit{SiteID: siteID} },
	diff:      diffLimit,
	fromProto: gridLimitFromProto,
	toProto: func(_ context.Context, _ *Server, l site.GridLimit, now time.Time) (*pb.GridLimit, error) {
		return gridLimitToProto(l, now), nil
	},
}

func (s *gridLimitService) GetGridLimit(ctx context.Context, req *pb.GetGridLimitRequest) (*pb.GetGridLimitResponse, error) {
	l, err := gridLimitResource.get(ctx, s.Server, req.GetName())
	if err != nil {
		return nil, s.status(ctx, err)
	}
	return &pb.GetGridLimitResponse{GridLimit: l}, nil
}

func (s *gridLimitService) ListGridLimits(ctx context.Context, req *pb.ListGridLimitsRequest) (*pb.ListGridLimitsResponse, error) {
	page, next, err := gridLimitResource.list(ctx, s.Server, req.GetParent(), req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, s.status(ctx, err)
	}
	return &pb.ListGridLimitsResponse{GridLimits: page, NextPageToken: next}, nil
}

// CreateGridLimit: the caller must be allowed to write the limit's source.
func (s *gridLimitService) CreateGridLimit(ctx context.Context, req *pb.CreateGridLimitRequest) (*pb.CreateGridLimitResponse, error) {
	l, err := gridLimitResource.create(ctx, s.Server, req.GetParent(), req.GetGridLimitId(), req.GetGridLimit(), createHooks[site.GridLimit]{
		prepare: func(caller *Principal, name string, x *site.GridLimit) error {
			if x.Source != site.SourceUnspecified {
				return authorizeSource(caller, name, x.Source)
			}
			return nil
		},
	})
	if err != nil {
		return nil, s.status(ctx, err)
	}
	return &pb.CreateGridLimitResponse{GridLimit: l}, nil
}

// UpdateGridLimit: the caller must be allowed to write the old and the new
// source.
func (s *gridLimitService) UpdateGridLimit(ctx context.Context, req *pb.UpdateGridLimitRequest) (*pb.UpdateGridLimitResponse, error) {
	l, err := gridLimitResource.update(ctx, s.Server, req.GetGridLimit(), req.GetUpdateMask(), updateHooks[site.GridLimit, *pb.GridLimit]{
		store: func(caller *Principal, name string, l *site.GridLimit, apply func()) error {
			if err := authorizeSource(caller, name, l.Source); err != nil {
				return err
			}
			apply()
			if l.Source != site.SourceUnspecified {
				return authorizeSource(caller, name, l.Source)
			}
			return nil
		},
	})
	if err != nil {
		return nil, s.status(ctx, err)
	}
	return &pb.UpdateGridLimitResponse{GridLimit: l}, nil
}

// DeleteGridLimit: the caller must be allowed to write the limit's source.
func (s *gridLimitService) DeleteGridLimit(ctx context.Context, req *pb.DeleteGridLimitRequest) (*pb.DeleteGridLimitResponse, error) {
	name := req.GetName()
	err := gridLimitResource.delete(ctx, s.Server, name, req.GetEtag(), func(caller *Principal, _ *site.Config, l site.GridLimit) error {
		return authorizeSource(caller, name, l.Source)
	})
	if err != nil {
		return nil, s.status(ctx, err)
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
	sid, id, gen, err := gridLimitResource.target(p, v)
	if err != nil {
		return nil, err
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
	cfg, err := s.update(ctx, sid, gridLimitResource.locator(&idx), "grid_limit", func(c *site.Config) error {
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
		n := x // x again if the store retries
		gridLimitResource.carry(&n, old)
		c.Limits[idx] = n
		return nil
	})
	if err != nil {
		return nil, err
	}
	l, err := gridLimitResource.answer(ctx, s.Server, cfg, id)
	if err != nil {
		return nil, err
	}
	return &pb.SetGridLimitResponse{GridLimit: l, Created: created}, nil
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

package apiserver

import (
	"context"
	"time"

	pb "github.com/smartcharge/smartcharge/proto/smartcharge/v1"
	"github.com/smartcharge/smartcharge/site"
)

type siteService struct {
	pb.UnimplementedSiteServiceServer
	*Server
}

// siteResource: the site itself, "sites/{site}" (Get and Update).
var siteResource = &resource[site.Site, *pb.Site]{
	field: "site", kind: "site", pattern: patternSite, write: actWriteConfig,
	mask: &siteMask,
	one:  func(c *site.Config) *site.Site { return &c.Site },
	stamps: func(s *site.Site) (*int64, *time.Time, *time.Time) {
		return &s.Generation, &s.CreateTime, &s.UpdateTime
	},
	blank:   func(id string) site.Site { return site.Site{ID: id} },
	toProto: plainProto(siteToProto),
}

func (s *siteService) GetSite(ctx context.Context, req *pb.GetSiteRequest) (*pb.GetSiteResponse, error) {
	x, err := siteResource.get(ctx, s.Server, req.GetName())
	if err != nil {
		return nil, s.status(ctx, err)
	}
	return &pb.GetSiteResponse{Site: x}, nil
}

func (s *siteService) ListSites(ctx context.Context, req *pb.ListSitesRequest) (*pb.ListSitesResponse, error) {
	resp, err := s.listSites(ctx, req)
	return resp, s.status(ctx, err)
}

func (s *siteService) listSites(ctx context.Context, req *pb.ListSitesRequest) (*pb.ListSitesResponse, error) {
	v := &site.ValidationError{}
	size, after := listArgs(req.GetPageSize(), req.GetPageToken(), v)
	if v.Err() != nil {
		return nil, v
	}
	p, ok := PrincipalFrom(ctx)
	if !ok {
		return nil, unauthenticated("server has no authentication installed")
	}
	// Read in batches until a page of sites the caller may see is full;
	// one more tells whether there is a next page.
	var out []site.Site
	for len(out) <= size {
		batch, err := s.store.ListSites(ctx, after, size+1)
		if err != nil {
			return nil, err
		}
		for _, x := range batch {
			if p.MaySite(x.ID) {
				out = append(out, x)
			}
		}
		if len(batch) < size+1 {
			break
		}
		after = batch[len(batch)-1].ID
	}
	resp := &pb.ListSitesResponse{}
	if len(out) > size {
		out = out[:size]
		resp.NextPageToken = encodePageToken(out[size-1].ID)
	}
	for _, x := range out {
		resp.Sites = append(resp.Sites, siteToProto(x))
	}
	return resp, nil
}

func (s *siteService) CreateSite(ctx context.Context, req *pb.CreateSiteRequest) (*pb.CreateSiteResponse, error) {
	resp, err := s.createSite(ctx, req)
	return resp, s.status(ctx, err)
}

func (s *siteService) createSite(ctx context.Context, req *pb.CreateSiteRequest) (*pb.CreateSiteResponse, error) {
	v := &site.ValidationError{}
	id := req.GetSiteId()
	if !validID(id) {
		v.Add("site_id", "%q %s", id, idRule)
	}
	if req.GetSite() == nil {
		v.Add("site", "required")
	}
	if v.Err() != nil {
		return nil, v
	}
	if _, err := authorize(ctx, actAdmin, id); err != nil {
		return nil, err
	}
	cfg := site.Config{Site: siteFromProto(req.GetSite(), id)}
	loc := only("site", 0, "site")
	if err := validateConfig(&cfg).Err(); err != nil {
		return nil, relocate(err, &cfg, loc, "site")
	}
	got, err := s.store.CreateSite(ctx, cfg)
	if err != nil {
		return nil, about(siteName(id), relocate(err, &cfg, loc, "site"))
	}
	s.trigger(id)
	return &pb.CreateSiteResponse{Site: siteToProto(got.Site)}, nil
}

func (s *siteService) UpdateSite(ctx context.Context, req *pb.UpdateSiteRequest) (*pb.UpdateSiteResponse, error) {
	x, err := siteResource.update(ctx, s.Server, req.GetSite(), req.GetUpdateMask(), updateHooks[site.Site, *pb.Site]{})
	if err != nil {
		return nil, s.status(ctx, err)
	}
	return &pb.UpdateSiteResponse{Site: x}, nil
}

func (s *siteService) DeleteSite(ctx context.Context, req *pb.DeleteSiteRequest) (*pb.DeleteSiteResponse, error) {
	resp, err := s.deleteSite(ctx, req)
	return resp, s.status(ctx, err)
}

func (s *siteService) deleteSite(ctx context.Context, req *pb.DeleteSiteRequest) (*pb.DeleteSiteResponse, error) {
	id, _, gen, err := siteResource.deleteArgs(req.GetName(), req.GetEtag())
	if err != nil {
		return nil, err
	}
	if _, err := authorize(ctx, actAdmin, id); err != nil {
		return nil, err
	}
	name := siteName(id)
	if !req.GetForce() {
		cfg, err := s.read(ctx, id)
		if err != nil {
			return nil, err
		}
		if n := len(cfg.Circuits) + len(cfg.Chargers) + len(cfg.Limits); n > 0 {
			return nil, precondition(name, "the site still has %d circuits, chargers or grid limits; set force to delete them too", n)
		}
	}
	if err := s.store.DeleteSite(ctx, id, gen); err != nil {
		return nil, about(name, err)
	}
	return &pb.DeleteSiteResponse{}, nil
}

func (s *siteService) GetSiteConfig(ctx context.Context, req *pb.GetSiteConfigRequest) (*pb.GetSiteConfigResponse, error) {
	resp, err := s.getSiteConfig(ctx, req)
	return resp, s.status(ctx, err)
}

func (s *siteService) getSiteConfig(ctx context.Context, req *pb.GetSiteConfigRequest) (*pb.GetSiteConfigResponse, error) {
	vars, err := parseName(req.GetName(), patternSiteConfig)
	if err != nil {
		return nil, badField("name", "%v", err)
	}
	id := vars[0]
	if _, err := authorize(ctx, actRead, id); err != nil {
		return nil, err
	}
	cfg, err := s.read(ctx, id)
	if err != nil {
		return nil, err
	}
	return &pb.GetSiteConfigResponse{Config: configToProto(sortedConfig(cfg), s.clock.Now())}, nil
}

func (s *siteService) ApplySiteConfig(ctx context.Context, req *pb.ApplySiteConfigRequest) (*pb.ApplySiteConfigResponse, error) {
	resp, err := s.apply(ctx, req)
	return resp, s.status(ctx, err)
}

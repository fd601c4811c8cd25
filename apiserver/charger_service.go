package apiserver

import (
	"context"
	"errors"
	"slices"

	pb "github.com/smartcharge/smartcharge/proto/smartcharge/v1"
	"github.com/smartcharge/smartcharge/site"
)

type chargerService struct {
	pb.UnimplementedChargerServiceServer
	*Server
}

// withStatus converts a charger with its live status.
func (s *chargerService) withStatus(ctx context.Context, c site.Charger) (*pb.Charger, error) {
	st, err := s.store.ChargerState(ctx, site.ChargerRef{SiteID: c.SiteID, ChargerID: c.ID})
	switch {
	case errors.Is(err, site.ErrNotFound):
		// deleted since the config was read: no status
		return chargerToProto(c, nil), nil
	case err != nil:
		return nil, about(childName(c.SiteID, collChargers, c.ID), err)
	}
	return chargerToProto(c, &st), nil
}

func (s *chargerService) GetCharger(ctx context.Context, req *pb.GetChargerRequest) (*pb.GetChargerResponse, error) {
	resp, err := s.getCharger(ctx, req)
	return resp, s.status(ctx, err)
}

func (s *chargerService) getCharger(ctx context.Context, req *pb.GetChargerRequest) (*pb.GetChargerResponse, error) {
	sid, id, err := parseChildName(req.GetName(), patternCharger)
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
	i := indexByID(cfg.Chargers, chargerID, id)
	if i < 0 {
		return nil, notFound(req.GetName())
	}
	p, err := s.withStatus(ctx, cfg.Chargers[i])
	if err != nil {
		return nil, err
	}
	return &pb.GetChargerResponse{Charger: p}, nil
}

func (s *chargerService) ListChargers(ctx context.Context, req *pb.ListChargersRequest) (*pb.ListChargersResponse, error) {
	resp, err := s.listChargers(ctx, req)
	return resp, s.status(ctx, err)
}

func (s *chargerService) listChargers(ctx context.Context, req *pb.ListChargersRequest) (*pb.ListChargersResponse, error) {
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
	page, next := pageOf(sortedConfig(cfg).Chargers, chargerID, after, size)
	resp := &pb.ListChargersResponse{NextPageToken: next}
	for _, x := range page {
		p, err := s.withStatus(ctx, x)
		if err != nil {
			return nil, err
		}
		resp.Chargers = append(resp.Chargers, p)
	}
	return resp, nil
}

// checkIdentityFree fails with ALREADY_EXISTS when another charger (in any
// site) has the identity. The store checks again atomically; this gives
// the clearer error.
func (s *chargerService) checkIdentityFree(ctx context.Context, ref site.ChargerRef, identity string) error {
	other, err := s.store.ChargerByIdentity(ctx, identity)
	switch {
	case errors.Is(err, site.ErrNotFound):
		return nil
	case err != nil:
		return about(ref.String(), err)
	case other != ref:
		return about(ref.String(), errors.Join(site.ErrAlreadyExists, errors.New("ocpp_identity "+identity+" belongs to another charger")))
	}
	return nil
}

func (s *chargerService) CreateCharger(ctx context.Context, req *pb.CreateChargerRequest) (*pb.CreateChargerResponse, error) {
	resp, err := s.createCharger(ctx, req)
	return resp, s.status(ctx, err)
}

func (s *chargerService) createCharger(ctx context.Context, req *pb.CreateChargerRequest) (*pb.CreateChargerResponse, error) {
	v := &site.ValidationError{}
	sid, err := parseSiteName(req.GetParent())
	if err != nil {
		v.Add("parent", "%v", err)
	}
	id := req.GetChargerId()
	if !validID(id) {
		v.Add("charger_id", "%q %s", id, idRule)
	}
	p := req.GetCharger()
	if p == nil {
		v.Add("charger", "required")
	}
	if v.Err() != nil {
		return nil, v
	}
	x := chargerFromProto(p, sid, id, "charger", v)
	if pw := p.GetOcppPassword(); pw != "" {
		if rule := checkPassword(pw); rule != "" {
			v.Add("charger.ocpp_password", "%s", rule)
		}
	}
	if v.Err() != nil {
		return nil, v
	}
	if _, err := authorize(ctx, actWriteConfig, sid); err != nil {
		return nil, err
	}
	if pw := p.GetOcppPassword(); pw != "" {
		if x.PasswordHash, err = site.HashPassword(pw); err != nil {
			return nil, err
		}
	}
	ref := site.ChargerRef{SiteID: sid, ChargerID: id}
	if x.OCPPIdentity != "" {
		if err := s.checkIdentityFree(ctx, ref, x.OCPPIdentity); err != nil {
			return nil, err
		}
	}
	name := ref.String()
	var idx int
	cfg, err := s.update(ctx, sid, func(k string, i int) (string, bool) { return "charger", k == "chargers" && i == idx }, "charger",
		func(c *site.Config) error {
			if indexByID(c.Chargers, chargerID, id) >= 0 {
				return alreadyExists(name)
			}
			idx = len(c.Chargers)
			c.Chargers = append(c.Chargers, x)
			return nil
		})
	if err != nil {
		return nil, err
	}
	out, err := s.withStatus(ctx, cfg.Chargers[indexByID(cfg.Chargers, chargerID, id)])
	if err != nil {
		return nil, err
	}
	return &pb.CreateChargerResponse{Charger: out}, nil
}

func (s *chargerService) UpdateCharger(ctx context.Context, req *pb.UpdateChargerRequest) (*pb.UpdateChargerResponse, error) {
	resp, err := s.updateCharger(ctx, req)
	return resp, s.status(ctx, err)
}

func hasPath(paths []*maskPath[site.Charger, *pb.Charger], name string) bool {
	return slices.ContainsFunc(paths, func(p *maskPath[site.Charger, *pb.Charger]) bool { return p.path == name })
}

func (s *chargerService) updateCharger(ctx context.Context, req *pb.UpdateChargerRequest) (*pb.UpdateChargerResponse, error) {
	v := &site.ValidationError{}
	p := req.GetCharger()
	if p == nil {
		return nil, badField("charger", "required")
	}
	sid, id, err := parseChildName(p.GetName(), patternCharger)
	if err != nil {
		v.Add("charger.name", "%v", err)
	}
	gen, err := parseEtag(p.GetEtag())
	if err != nil {
		v.Add("charger.etag", "%v", err)
	}
	paths := chargerMask.resolve(req.GetUpdateMask(), p, v)
	chargerMask.apply(&site.Charger{SiteID: sid}, p, paths, "charger", v)
	setPW := hasPath(paths, "ocpp_password")
	if pw := p.GetOcppPassword(); setPW && pw != "" {
		if rule := checkPassword(pw); rule != "" {
			v.Add("charger.ocpp_password", "%s", rule)
		}
	}
	if v.Err() != nil {
		return nil, v
	}
	if _, err := authorize(ctx, actWriteConfig, sid); err != nil {
		return nil, err
	}
	var hash string
	if setPW && p.GetOcppPassword() != "" {
		if hash, err = site.HashPassword(p.GetOcppPassword()); err != nil {
			return nil, err
		}
	}
	ref := site.ChargerRef{SiteID: sid, ChargerID: id}
	if hasPath(paths, "ocpp_identity") && p.GetOcppIdentity() != "" {
		if err := s.checkIdentityFree(ctx, ref, p.GetOcppIdentity()); err != nil {
			return nil, err
		}
	}
	name := p.GetName()
	var idx int
	cfg, err := s.update(ctx, sid, func(k string, i int) (string, bool) { return "charger", k == "chargers" && i == idx }, "charger",
		func(c *site.Config) error {
			idx = indexByID(c.Chargers, chargerID, id)
			if idx < 0 {
				return notFound(name)
			}
			if err := checkEtag(name, gen, c.Chargers[idx].Generation); err != nil {
				return err
			}
			chargerMask.apply(&c.Chargers[idx], p, paths, "charger", &site.ValidationError{})
			if setPW {
				c.Chargers[idx].PasswordHash = hash
			}
			return nil
		})
	if err != nil {
		return nil, err
	}
	out, err := s.withStatus(ctx, cfg.Chargers[indexByID(cfg.Chargers, chargerID, id)])
	if err != nil {
		return nil, err
	}
	return &pb.UpdateChargerResponse{Charger: out}, nil
}

func (s *chargerService) DeleteCharger(ctx context.Context, req *pb.DeleteChargerRequest) (*pb.DeleteChargerResponse, error) {
	resp, err := s.deleteCharger(ctx, req)
	return resp, s.status(ctx, err)
}

func (s *chargerService) deleteCharger(ctx context.Context, req *pb.DeleteChargerRequest) (*pb.DeleteChargerResponse, error) {
	v := &site.ValidationError{}
	sid, id, err := parseChildName(req.GetName(), patternCharger)
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
	if _, err := authorize(ctx, actWriteConfig, sid); err != nil {
		return nil, err
	}
	name := req.GetName()
	_, err = s.update(ctx, sid, func(string, int) (string, bool) { return "", false }, "name", func(c *site.Config) error {
		i := indexByID(c.Chargers, chargerID, id)
		if i < 0 {
			return notFound(name)
		}
		if err := checkEtag(name, gen, c.Chargers[i].Generation); err != nil {
			return err
		}
		c.Chargers = slices.Delete(c.Chargers, i, i+1)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &pb.DeleteChargerResponse{}, nil
}

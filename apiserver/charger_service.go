package apiserver

import (
	"context"
	"errors"
	"slices"
	"time"

	pb "github.com/smartcharge/smartcharge/proto/smartcharge/v1"
	"github.com/smartcharge/smartcharge/site"
)

type chargerService struct {
	pb.UnimplementedChargerServiceServer
	*Server
}

// chargerResource: "sites/{site}/chargers/{charger}", answered with the live
// status.
var chargerResource = &resource[site.Charger, *pb.Charger]{
	field: "charger", kind: "chargers", pattern: patternCharger, coll: collChargers, write: actWriteConfig,
	mask:  &chargerMask,
	items: func(c *site.Config) *[]site.Charger { return &c.Chargers },
	id:    chargerID,
	stamps: func(c *site.Charger) (*int64, *time.Time, *time.Time) {
		return &c.Generation, &c.CreateTime, &c.UpdateTime
	},
	blank:     func(siteID string) site.Charger { return site.Charger{SiteID: siteID} },
	diff:      diffCharger,
	fromProto: chargerFromProto,
	toProto: func(ctx context.Context, s *Server, c site.Charger, _ time.Time) (*pb.Charger, error) {
		return s.withStatus(ctx, c)
	},
}

// withStatus converts a charger with its live status.
func (s *Server) withStatus(ctx context.Context, c site.Charger) (*pb.Charger, error) {
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
	c, err := chargerResource.get(ctx, s.Server, req.GetName())
	if err != nil {
		return nil, s.status(ctx, err)
	}
	return &pb.GetChargerResponse{Charger: c}, nil
}

func (s *chargerService) ListChargers(ctx context.Context, req *pb.ListChargersRequest) (*pb.ListChargersResponse, error) {
	page, next, err := chargerResource.list(ctx, s.Server, req.GetParent(), req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, s.status(ctx, err)
	}
	return &pb.ListChargersResponse{Chargers: page, NextPageToken: next}, nil
}

// checkIdentityFree fails with ALREADY_EXISTS when another charger (in any
// site) has the identity ("" is free). The store checks again atomically;
// this gives the clearer error.
func (s *chargerService) checkIdentityFree(ctx context.Context, ref site.ChargerRef, identity string) error {
	if identity == "" {
		return nil
	}
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

// hashPassword hashes a password to store; "" (none) stays "".
func hashPassword(pw string) (string, error) {
	if pw == "" {
		return "", nil
	}
	return site.HashPassword(pw)
}

// checkNewPassword adds a violation of charger.ocpp_password when pw is
// set and breaks the rules.
func checkNewPassword(pw string, v *site.ValidationError) {
	if pw == "" {
		return
	}
	if rule := checkPassword(pw); rule != "" {
		v.Add("charger.ocpp_password", "%s", rule)
	}
}

// CreateCharger stores the password hashed and checks that the identity
// is free.
func (s *chargerService) CreateCharger(ctx context.Context, req *pb.CreateChargerRequest) (*pb.CreateChargerResponse, error) {
	p := req.GetCharger()
	pw := p.GetOcppPassword()
	c, err := chargerResource.create(ctx, s.Server, req.GetParent(), req.GetChargerId(), p, createHooks[site.Charger]{
		check: func(v *site.ValidationError) { checkNewPassword(pw, v) },
		prepare: func(_ *Principal, _ string, x *site.Charger) error {
			var err error
			if x.PasswordHash, err = hashPassword(pw); err != nil {
				return err
			}
			return s.checkIdentityFree(ctx, site.ChargerRef{SiteID: x.SiteID, ChargerID: x.ID}, x.OCPPIdentity)
		},
	})
	if err != nil {
		return nil, s.status(ctx, err)
	}
	return &pb.CreateChargerResponse{Charger: c}, nil
}

func hasPath(paths []*maskPath[site.Charger, *pb.Charger], name string) bool {
	return slices.ContainsFunc(paths, func(p *maskPath[site.Charger, *pb.Charger]) bool { return p.path == name })
}

// UpdateCharger stores a new password hashed ("" removes it) and checks
// that a new identity is free.
func (s *chargerService) UpdateCharger(ctx context.Context, req *pb.UpdateChargerRequest) (*pb.UpdateChargerResponse, error) {
	p := req.GetCharger()
	var (
		setPW, setID bool
		hash         string
	)
	c, err := chargerResource.update(ctx, s.Server, p, req.GetUpdateMask(), updateHooks[site.Charger, *pb.Charger]{
		check: func(paths []*maskPath[site.Charger, *pb.Charger], v *site.ValidationError) {
			if setPW = hasPath(paths, "ocpp_password"); setPW {
				checkNewPassword(p.GetOcppPassword(), v)
			}
			setID = hasPath(paths, "ocpp_identity")
		},
		prepare: func(_ *Principal, siteID, id string) error {
			if setPW {
				var err error
				if hash, err = hashPassword(p.GetOcppPassword()); err != nil {
					return err
				}
			}
			if setID {
				return s.checkIdentityFree(ctx, site.ChargerRef{SiteID: siteID, ChargerID: id}, p.GetOcppIdentity())
			}
			return nil
		},
		store: func(_ *Principal, _ string, d *site.Charger, apply func()) error {
			apply()
			if setPW {
				d.PasswordHash = hash
			}
			return nil
		},
	})
	if err != nil {
		return nil, s.status(ctx, err)
	}
	return &pb.UpdateChargerResponse{Charger: c}, nil
}

func (s *chargerService) DeleteCharger(ctx context.Context, req *pb.DeleteChargerRequest) (*pb.DeleteChargerResponse, error) {
	if err := chargerResource.delete(ctx, s.Server, req.GetName(), req.GetEtag(), nil); err != nil {
		return nil, s.status(ctx, err)
	}
	return &pb.DeleteChargerResponse{}, nil
}

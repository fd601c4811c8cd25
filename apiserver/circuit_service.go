package apiserver

import (
	"context"
	"time"

	pb "github.com/smartcharge/smartcharge/proto/smartcharge/v1"
	"github.com/smartcharge/smartcharge/site"
)

type circuitService struct {
	pb.UnimplementedCircuitServiceServer
	*Server
}

// circuitResource: "sites/{site}/circuits/{circuit}", changed with config rights.
var circuitResource = &resource[site.Circuit, *pb.Circuit]{
	field: "circuit", kind: "circuits", pattern: patternCircuit, coll: collCircuits, write: actWriteConfig,
	mask:  &circuitMask,
	items: func(c *site.Config) *[]site.Circuit { return &c.Circuits },
	id:    circuitID,
	stamps: func(c *site.Circuit) (*int64, *time.Time, *time.Time) {
		return &c.Generation, &c.CreateTime, &c.UpdateTime
	},
	blank:     func(siteID string) site.Circuit { return site.Circuit{SiteID: siteID} },
	diff:      diffCircuit,
	fromProto: circuitFromProto,
	toProto:   plainProto(circuitToProto),
}

func (s *circuitService) GetCircuit(ctx context.Context, req *pb.GetCircuitRequest) (*pb.GetCircuitResponse, error) {
	c, err := circuitResource.get(ctx, s.Server, req.GetName())
	if err != nil {
		return nil, s.status(ctx, err)
	}
	return &pb.GetCircuitResponse{Circuit: c}, nil
}

func (s *circuitService) ListCircuits(ctx context.Context, req *pb.ListCircuitsRequest) (*pb.ListCircuitsResponse, error) {
	page, next, err := circuitResource.list(ctx, s.Server, req.GetParent(), req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, s.status(ctx, err)
	}
	return &pb.ListCircuitsResponse{Circuits: page, NextPageToken: next}, nil
}

func (s *circuitService) CreateCircuit(ctx context.Context, req *pb.CreateCircuitRequest) (*pb.CreateCircuitResponse, error) {
	c, err := circuitResource.create(ctx, s.Server, req.GetParent(), req.GetCircuitId(), req.GetCircuit(), createHooks[site.Circuit]{})
	if err != nil {
		return nil, s.status(ctx, err)
	}
	return &pb.CreateCircuitResponse{Circuit: c}, nil
}

func (s *circuitService) UpdateCircuit(ctx context.Context, req *pb.UpdateCircuitRequest) (*pb.UpdateCircuitResponse, error) {
	c, err := circuitResource.update(ctx, s.Server, req.GetCircuit(), req.GetUpdateMask(), updateHooks[site.Circuit, *pb.Circuit]{})
	if err != nil {
		return nil, s.status(ctx, err)
	}
	return &pb.UpdateCircuitResponse{Circuit: c}, nil
}

// DeleteCircuit refuses while circuits or chargers hang on the circuit.
func (s *circuitService) DeleteCircuit(ctx context.Context, req *pb.DeleteCircuitRequest) (*pb.DeleteCircuitResponse, error) {
	name := req.GetName()
	err := circuitResource.delete(ctx, s.Server, name, req.GetEtag(), func(_ *Principal, c *site.Config, d site.Circuit) error {
		for _, x := range c.Circuits {
			if x.Parent == d.ID {
				return precondition(name, "circuit %s hangs on it; delete or move it first", x.ID)
			}
		}
		for _, x := range c.Chargers {
			if x.Circuit == d.ID {
				return precondition(name, "charger %s hangs on it; delete or move it first", x.ID)
			}
		}
		return nil
	})
	if err != nil {
		return nil, s.status(ctx, err)
	}
	return &pb.DeleteCircuitResponse{}, nil
}

package apiserver

import (
	"context"
	"slices"

	pb "github.com/smartcharge/smartcharge/proto/smartcharge/v1"
	"github.com/smartcharge/smartcharge/site"
)

type circuitService struct {
	pb.UnimplementedCircuitServiceServer
	*Server
}

func (s *circuitService) GetCircuit(ctx context.Context, req *pb.GetCircuitRequest) (*pb.GetCircuitResponse, error) {
	resp, err := s.getCircuit(ctx, req)
	return resp, s.status(ctx, err)
}

func (s *circuitService) getCircuit(ctx context.Context, req *pb.GetCircuitRequest) (*pb.GetCircuitResponse, error) {
	sid, id, err := parseChildName(req.GetName(), patternCircuit)
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
	i := indexByID(cfg.Circuits, circuitID, id)
	if i < 0 {
		return nil, notFound(req.GetName())
	}
	return &pb.GetCircuitResponse{Circuit: circuitToProto(cfg.Circuits[i])}, nil
}

func (s *circuitService) ListCircuits(ctx context.Context, req *pb.ListCircuitsRequest) (*pb.ListCircuitsResponse, error) {
	resp, err := s.listCircuits(ctx, req)
	return resp, s.status(ctx, err)
}

func (s *circuitService) listCircuits(ctx context.Context, req *pb.ListCircuitsRequest) (*pb.ListCircuitsResponse, error) {
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
	page, next := pageOf(sortedConfig(cfg).Circuits, circuitID, after, size)
	resp := &pb.ListCircuitsResponse{NextPageToken: next}
	for _, x := range page {
		resp.Circuits = append(resp.Circuits, circuitToProto(x))
	}
	return resp, nil
}

func (s *circuitService) CreateCircuit(ctx context.Context, req *pb.CreateCircuitRequest) (*pb.CreateCircuitResponse, error) {
	resp, err := s.createCircuit(ctx, req)
	return resp, s.status(ctx, err)
}

func (s *circuitService) createCircuit(ctx context.Context, req *pb.CreateCircuitRequest) (*pb.CreateCircuitResponse, error) {
	v := &site.ValidationError{}
	sid, err := parseSiteName(req.GetParent())
	if err != nil {
		v.Add("parent", "%v", err)
	}
	id := req.GetCircuitId()
	if !validID(id) {
		v.Add("circuit_id", "%q %s", id, idRule)
	}
	if req.GetCircuit() == nil {
		v.Add("circuit", "required")
	}
	if v.Err() != nil {
		return nil, v
	}
	x := circuitFromProto(req.GetCircuit(), sid, id, "circuit", v)
	if v.Err() != nil {
		return nil, v
	}
	if _, err := authorize(ctx, actWriteConfig, sid); err != nil {
		return nil, err
	}
	name := childName(sid, collCircuits, id)
	var idx int
	cfg, err := s.update(ctx, sid, func(k string, i int) (string, bool) { return "circuit", k == "circuits" && i == idx }, "circuit",
		func(c *site.Config) error {
			if indexByID(c.Circuits, circuitID, id) >= 0 {
				return alreadyExists(name)
			}
			idx = len(c.Circuits)
			c.Circuits = append(c.Circuits, x)
			return nil
		})
	if err != nil {
		return nil, err
	}
	return &pb.CreateCircuitResponse{Circuit: circuitToProto(cfg.Circuits[indexByID(cfg.Circuits, circuitID, id)])}, nil
}

func (s *circuitService) UpdateCircuit(ctx context.Context, req *pb.UpdateCircuitRequest) (*pb.UpdateCircuitResponse, error) {
	resp, err := s.updateCircuit(ctx, req)
	return resp, s.status(ctx, err)
}

func (s *circuitService) updateCircuit(ctx context.Context, req *pb.UpdateCircuitRequest) (*pb.UpdateCircuitResponse, error) {
	v := &site.ValidationError{}
	p := req.GetCircuit()
	if p == nil {
		return nil, badField("circuit", "required")
	}
	sid, id, err := parseChildName(p.GetName(), patternCircuit)
	if err != nil {
		v.Add("circuit.name", "%v", err)
	}
	gen, err := parseEtag(p.GetEtag())
	if err != nil {
		v.Add("circuit.etag", "%v", err)
	}
	paths := circuitMask.resolve(req.GetUpdateMask(), p, v)
	circuitMask.apply(&site.Circuit{SiteID: sid}, p, paths, "circuit", v)
	if v.Err() != nil {
		return nil, v
	}
	if _, err := authorize(ctx, actWriteConfig, sid); err != nil {
		return nil, err
	}
	name := p.GetName()
	var idx int
	cfg, err := s.update(ctx, sid, func(k string, i int) (string, bool) { return "circuit", k == "circuits" && i == idx }, "circuit",
		func(c *site.Config) error {
			idx = indexByID(c.Circuits, circuitID, id)
			if idx < 0 {
				return notFound(name)
			}
			if err := checkEtag(name, gen, c.Circuits[idx].Generation); err != nil {
				return err
			}
			circuitMask.apply(&c.Circuits[idx], p, paths, "circuit", &site.ValidationError{})
			return nil
		})
	if err != nil {
		return nil, err
	}
	return &pb.UpdateCircuitResponse{Circuit: circuitToProto(cfg.Circuits[indexByID(cfg.Circuits, circuitID, id)])}, nil
}

func (s *circuitService) DeleteCircuit(ctx context.Context, req *pb.DeleteCircuitRequest) (*pb.DeleteCircuitResponse, error) {
	resp, err := s.deleteCircuit(ctx, req)
	return resp, s.status(ctx, err)
}

func (s *circuitService) deleteCircuit(ctx context.Context, req *pb.DeleteCircuitRequest) (*pb.DeleteCircuitResponse, error) {
	v := &site.ValidationError{}
	sid, id, err := parseChildName(req.GetName(), patternCircuit)
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
		i := indexByID(c.Circuits, circuitID, id)
		if i < 0 {
			return notFound(name)
		}
		if err := checkEtag(name, gen, c.Circuits[i].Generation); err != nil {
			return err
		}
		for _, x := range c.Circuits {
			if x.Parent == id {
				return precondition(name, "circuit %s hangs on it; delete or move it first", x.ID)
			}
		}
		for _, x := range c.Chargers {
			if x.Circuit == id {
				return precondition(name, "charger %s hangs on it; delete or move it first", x.ID)
			}
		}
		c.Circuits = slices.Delete(c.Circuits, i, i+1)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &pb.DeleteCircuitResponse{}, nil
}

package apiserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"

	"google.golang.org/grpc"

	pb "github.com/smartcharge/smartcharge/proto/smartcharge/v1"
	"github.com/smartcharge/smartcharge/site"
)

// allocationService serves AllocationService on the control loop
// (Server.alloc, Server.loop). Every handler parses the request, checks
// the caller, checks that there is a loop, reads the site's configuration
// (NOT_FOUND for unknown sites, chargers and EVSEs: the loop would start a
// loop for any site ID it is given) and only then calls the loop.
type allocationService struct {
	pb.UnimplementedAllocationServiceServer
	*Server
}

// needAlloc and needLoop refuse calls on a server without a control loop.
func (s *allocationService) needAlloc() error {
	if s.alloc == nil {
		return fmt.Errorf("%w: this server does not show allocations", ErrNoControlLoop)
	}
	return nil
}

func (s *allocationService) needLoop() error {
	if s.loop == nil {
		return fmt.Errorf("%w: this server takes no meter readings, needs or priorities", ErrNoControlLoop)
	}
	return nil
}

// allocation returns the site's newest allocation, or the zero view when
// the loop has computed none yet.
func (s *allocationService) allocation(ctx context.Context, siteID string) (site.AllocationView, error) {
	v, err := s.alloc.Allocation(ctx, siteID)
	if errors.Is(err, site.ErrNotFound) {
		return site.AllocationView{SiteID: siteID}, nil
	}
	if err != nil {
		return v, about(allocationName(siteID), fromLoop(err))
	}
	return v, nil
}

// allocationSite parses "sites/{site}/allocation" and admits the caller.
func (s *allocationService) allocationSite(ctx context.Context, name string) (string, error) {
	vars, err := parseName(name, patternAllocation)
	if err != nil {
		return "", badField("name", "%v", err)
	}
	sid := vars[0]
	if _, err := authorize(ctx, actRead, sid); err != nil {
		return "", err
	}
	if err := s.needAlloc(); err != nil {
		return "", err
	}
	if _, err := s.read(ctx, sid); err != nil {
		return "", err
	}
	return sid, nil
}

func (s *allocationService) GetAllocation(ctx context.Context, req *pb.GetAllocationRequest) (*pb.GetAllocationResponse, error) {
	resp, err := s.getAllocation(ctx, req)
	return resp, s.status(ctx, err)
}

func (s *allocationService) getAllocation(ctx context.Context, req *pb.GetAllocationRequest) (*pb.GetAllocationResponse, error) {
	sid, err := s.allocationSite(ctx, req.GetName())
	if err != nil {
		return nil, err
	}
	v, err := s.allocation(ctx, sid)
	if err != nil {
		return nil, err
	}
	return &pb.GetAllocationResponse{Allocation: allocationToProto(sid, v)}, nil
}

func (s *allocationService) WatchAllocation(req *pb.WatchAllocationRequest, stream grpc.ServerStreamingServer[pb.WatchAllocationResponse]) error {
	ctx := stream.Context()
	return s.status(ctx, s.watchAllocation(ctx, req, stream))
}

func (s *allocationService) watchAllocation(ctx context.Context, req *pb.WatchAllocationRequest, stream grpc.ServerStreamingServer[pb.WatchAllocationResponse]) error {
	sid, err := s.allocationSite(ctx, req.GetName())
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // ends the reader's goroutine when the send fails
	updates, err := s.alloc.Watch(ctx, sid)
	if err != nil {
		return about(allocationName(sid), fromLoop(err))
	}
	var last uint64
	sent := false
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case u, ok := <-updates:
			if !ok {
				if err := ctx.Err(); err != nil {
					return err
				}
				return about(allocationName(sid), fmt.Errorf("%w: the control loop ended the watch; watch again", ErrLoopUnavailable))
			}
			if sent && u.Seq == last {
				continue // the same allocation again: nothing new
			}
			v := u.Allocation
			v.Seq = u.Seq
			if err := stream.Send(&pb.WatchAllocationResponse{Allocation: allocationToProto(sid, v)}); err != nil {
				return err
			}
			last, sent = u.Seq, true
		}
	}
}

func (s *allocationService) ExplainAllocation(ctx context.Context, req *pb.ExplainAllocationRequest) (*pb.ExplainAllocationResponse, error) {
	resp, err := s.explainAllocation(ctx, req)
	return resp, s.status(ctx, err)
}

func (s *allocationService) explainAllocation(ctx context.Context, req *pb.ExplainAllocationRequest) (*pb.ExplainAllocationResponse, error) {
	ref, evse, err := parseChargerOrEVSEName(req.GetName())
	if err != nil {
		return nil, badField("name", "%v", err)
	}
	if _, err := authorize(ctx, actRead, ref.SiteID); err != nil {
		return nil, err
	}
	if err := s.needAlloc(); err != nil {
		return nil, err
	}
	cfg, err := s.read(ctx, ref.SiteID)
	if err != nil {
		return nil, err
	}
	ch, err := findEVSE(cfg, ref, evse, req.GetName())
	if err != nil {
		return nil, err
	}
	v, err := s.allocation(ctx, ref.SiteID)
	if err != nil {
		return nil, err
	}
	resp := &pb.ExplainAllocationResponse{Seq: v.Seq}
	if v.Seq == 0 && len(v.EVSEs) == 0 {
		return resp, nil
	}
	for _, e := range v.EVSEs {
		if e.ChargerID == ref.ChargerID && (evse == 0 || e.EVSE == evse) {
			resp.Evses = append(resp.Evses, evseToProto(ref.SiteID, e))
		}
	}
	// The path from the charger up to the grid connection: every limit
	// the charger's current passes, the binding one among them.
	path := []struct{ kind, id string }{{"charger", ch.ID}}
	seen := map[string]bool{}
	for c := ch.Circuit; c != "" && !seen[c]; {
		seen[c] = true
		path = append(path, struct{ kind, id string }{"circuit", c})
		i := indexByID(cfg.Circuits, circuitID, c)
		if i < 0 {
			break
		}
		c = cfg.Circuits[i].Parent
	}
	path = append(path, struct{ kind, id string }{"grid", ""})
	for _, p := range path {
		for _, n := range v.Nodes {
			if n.Kind == p.kind && n.ID == p.id {
				resp.Nodes = append(resp.Nodes, nodeToProto(ref.SiteID, n))
				break
			}
		}
	}
	return resp, nil
}

// findEVSE returns the configured charger; NOT_FOUND when it or its EVSE
// (evse > 0) does not exist.
func findEVSE(cfg site.Config, ref site.ChargerRef, evse int, name string) (site.Charger, error) {
	i := indexByID(cfg.Chargers, chargerID, ref.ChargerID)
	if i < 0 {
		return site.Charger{}, notFound(ref.String())
	}
	ch := cfg.Chargers[i]
	if evse == 0 {
		return ch, nil
	}
	for _, e := range ch.EVSEs {
		if e.ID == evse {
			return ch, nil
		}
	}
	return site.Charger{}, notFound(name)
}

func (s *allocationService) ReportMeterReading(ctx context.Context, req *pb.ReportMeterReadingRequest) (*pb.ReportMeterReadingResponse, error) {
	r, err := s.reportMeter(ctx, req.GetName(), req.GetReading())
	if err != nil {
		return nil, s.status(ctx, err)
	}
	return &pb.ReportMeterReadingResponse{Reading: r}, nil
}

// reportMeter checks one reading of site name and hands it to the loop.
// Errors name the request's fields ("name", "reading.current.l1").
func (s *allocationService) reportMeter(ctx context.Context, name string, p *pb.MeterReading) (*pb.MeterReading, error) {
	v := &site.ValidationError{}
	sid, err := parseSiteName(name)
	if err != nil {
		v.Add("name", "%v", err)
	}
	var r site.MeterReading
	if p == nil {
		v.Add("reading", "required")
	} else if sid != "" {
		r = meterFromProto(p, sid, s.clock.Now(), "reading", v)
	}
	if v.Err() != nil {
		return nil, v
	}
	if _, err := authorize(ctx, actReportMeter, sid); err != nil {
		return nil, err
	}
	if err := s.needLoop(); err != nil {
		return nil, err
	}
	cfg, err := s.read(ctx, sid)
	if err != nil {
		return nil, err
	}
	if r.Node != "" && indexByID(cfg.Circuits, circuitID, r.Node) < 0 {
		return nil, badField("reading.circuit", "%s has no circuit %q", siteName(sid), r.Node)
	}
	deriveCurrent(&r, p, cfg.Site)
	if err := r.Validate(); err != nil {
		// a power that converts to more than the largest current
		return nil, renameFields(err, meterField("reading"))
	}
	if err := s.loop.ReportMeter(ctx, sid, r); err != nil {
		return nil, about(siteName(sid), renameFields(fromLoop(err), meterField("reading")))
	}
	return meterToProto(sid, r), nil
}

func (s *allocationService) StreamMeterReadings(stream grpc.ClientStreamingServer[pb.StreamMeterReadingsRequest, pb.StreamMeterReadingsResponse]) error {
	ctx := stream.Context()
	var accepted int64
	for i := 0; ; i++ {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return stream.SendAndClose(&pb.StreamMeterReadingsResponse{AcceptedCount: accepted})
		}
		if err != nil {
			return err // the client went away; its status says why
		}
		if _, err := s.reportMeter(ctx, req.GetName(), req.GetReading()); err != nil {
			return s.status(ctx, &streamError{err: err, prefix: "requests[" + strconv.Itoa(i) + "]", accepted: accepted})
		}
		accepted++
	}
}

func (s *allocationService) SetChargingNeeds(ctx context.Context, req *pb.SetChargingNeedsRequest) (*pb.SetChargingNeedsResponse, error) {
	resp, err := s.setChargingNeeds(ctx, req)
	return resp, s.status(ctx, err)
}

func (s *allocationService) setChargingNeeds(ctx context.Context, req *pb.SetChargingNeedsRequest) (*pb.SetChargingNeedsResponse, error) {
	v := &site.ValidationError{}
	ref, evse, err := parseEVSEName(req.GetName())
	if err != nil {
		v.Add("name", "%v", err)
	}
	var n site.ChargingNeeds
	if req.GetNeeds() == nil {
		v.Add("needs", "required (all fields unset clears the needs)")
	} else {
		n = needsFromProto(req.GetNeeds(), s.clock.Now(), "needs", v)
	}
	if v.Err() != nil {
		return nil, v
	}
	if _, err := authorize(ctx, actSetNeeds, ref.SiteID); err != nil {
		return nil, err
	}
	if err := s.needLoop(); err != nil {
		return nil, err
	}
	cfg, err := s.read(ctx, ref.SiteID)
	if err != nil {
		return nil, err
	}
	if _, err := findEVSE(cfg, ref, evse, req.GetName()); err != nil {
		return nil, err
	}
	if err := s.loop.SetNeeds(ctx, ref, evse, n); err != nil {
		return nil, about(req.GetName(), renameFields(fromLoop(err), needsField))
	}
	return &pb.SetChargingNeedsResponse{Name: req.GetName(), Needs: needsToProto(n)}, nil
}

func (s *allocationService) SetPriority(ctx context.Context, req *pb.SetPriorityRequest) (*pb.SetPriorityResponse, error) {
	resp, err := s.setPriority(ctx, req)
	return resp, s.status(ctx, err)
}

func (s *allocationService) setPriority(ctx context.Context, req *pb.SetPriorityRequest) (*pb.SetPriorityResponse, error) {
	v := &site.ValidationError{}
	ref, evse, err := parseChargerOrEVSEName(req.GetName())
	if err != nil {
		v.Add("name", "%v", err)
	}
	prio := req.GetPriority()
	if math.IsNaN(prio) || prio < 0 || prio > maxPriority {
		v.Add("priority", "must be 0 (the default, 1) to %d", maxPriority)
	}
	if v.Err() != nil {
		return nil, v
	}
	if _, err := authorize(ctx, actSetNeeds, ref.SiteID); err != nil {
		return nil, err
	}
	if err := s.needLoop(); err != nil {
		return nil, err
	}
	cfg, err := s.read(ctx, ref.SiteID)
	if err != nil {
		return nil, err
	}
	ch, err := findEVSE(cfg, ref, evse, req.GetName())
	if err != nil {
		return nil, err
	}
	ids := []int{evse}
	if evse == 0 {
		ids = ids[:0]
		for _, e := range ch.EVSEs {
			ids = append(ids, e.ID)
		}
	}
	resp := &pb.SetPriorityResponse{Priority: prio}
	if prio == 0 {
		resp.Priority = 1
	}
	for _, id := range ids {
		name := evseName(ref, id)
		if err := s.loop.SetPriority(ctx, ref, id, prio); err != nil {
			return nil, about(name, fromLoop(err))
		}
		resp.Evses = append(resp.Evses, name)
	}
	return resp, nil
}

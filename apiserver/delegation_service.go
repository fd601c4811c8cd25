package apiserver

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc"

	pb "github.com/smartcharge/smartcharge/proto/smartcharge/v1"
	"github.com/smartcharge/smartcharge/site"
)

// DelegationHub carries out delegated control for DelegationService: it
// stores and publishes what a CSMS reports and hands out the commands for
// its chargers (package delegate's Hub implements it). Errors: a
// *site.ValidationError (ErrInvalid) for bad input, site.ErrNotFound for
// unknown chargers or commands, site.ErrUnavailable when the store
// cannot be reached, site.ErrSuperseded when a newer command stream of the
// site took over; anything else means the hub cannot serve now.
type DelegationHub interface {
	// Report stores and publishes events of the site's chargers in order
	// and returns how many it took before an error.
	Report(ctx context.Context, siteID string, events []site.Event) (int, error)
	// Commands calls send with every unacknowledged command of the site
	// above after, then every new one, in order, until ctx ends, send
	// fails or the stream is superseded.
	Commands(ctx context.Context, siteID string, after uint64, send func(site.DelegatedCommand) error) error
	// Ack hands over the CSMS's answer to one command; found is false
	// for a command acknowledged before.
	Ack(ctx context.Context, siteID string, ack site.DelegatedAck) (found bool, err error)
}

// delegationService serves DelegationService on Server.delegation.
type delegationService struct {
	pb.UnimplementedDelegationServiceServer
	*Server
}

// delegationSite parses the request's "sites/{site}", admits the caller
// and checks that the site exists and the server delegates.
func (s *delegationService) delegationSite(ctx context.Context, name string) (string, error) {
	sid, err := parseSiteName(name)
	if err != nil {
		return "", badField("name", "%v", err)
	}
	if err := s.admitDelegation(ctx, sid); err != nil {
		return "", err
	}
	if _, err := s.read(ctx, sid); err != nil {
		return "", err
	}
	return sid, nil
}

func (s *delegationService) admitDelegation(ctx context.Context, sid string) error {
	if _, err := authorize(ctx, actDelegate, sid); err != nil {
		return err
	}
	if s.delegation == nil {
		return fmt.Errorf("%w: this server does not take delegated chargers", ErrNoDelegation)
	}
	return nil
}

func (s *delegationService) ReportChargerEvents(ctx context.Context, req *pb.ReportChargerEventsRequest) (*pb.ReportChargerEventsResponse, error) {
	resp, err := s.reportChargerEvents(ctx, req)
	return resp, s.status(ctx, err)
}

func (s *delegationService) reportChargerEvents(ctx context.Context, req *pb.ReportChargerEventsRequest) (*pb.ReportChargerEventsResponse, error) {
	v := &site.ValidationError{}
	sid, err := parseSiteName(req.GetName())
	if err != nil {
		v.Add("name", "%v", err)
	}
	n := len(req.GetEvents())
	if n == 0 || n > maxEventsPerReport {
		v.Add("events", "must hold 1 to %d events, got %d", maxEventsPerReport, n)
	}
	var events []site.Event
	if sid != "" && n <= maxEventsPerReport {
		now := s.clock.Now()
		events = make([]site.Event, 0, n)
		for i, p := range req.GetEvents() {
			events = append(events, eventFromProto(p, sid, now, fmt.Sprintf("events[%d]", i), v))
		}
	}
	if v.Err() != nil {
		return nil, v
	}
	if err := s.admitDelegation(ctx, sid); err != nil {
		return nil, err
	}
	cfg, err := s.read(ctx, sid)
	if err != nil {
		return nil, err
	}
	// Unknown chargers and EVSEs fail the whole batch before anything is
	// stored, so a CSMS never has to guess what was taken.
	for i, ev := range events {
		ref := ev.Charger()
		j := indexByID(cfg.Chargers, chargerID, ref.ChargerID)
		if j < 0 {
			return nil, about(ref.String(), fmt.Errorf("events[%d].charger: %w", i, site.ErrNotFound))
		}
		if id, field, ok := eventEVSE(ev); ok && id > len(cfg.Chargers[j].EVSEs) {
			return nil, badField(fmt.Sprintf("events[%d].%s", i, field), "%s has EVSEs 1 to %d, not %d", ref, len(cfg.Chargers[j].EVSEs), id)
		}
	}
	taken, err := s.delegation.Report(ctx, sid, events)
	if err != nil {
		return nil, &streamError{err: about(siteName(sid), fromDelegation(err)), prefix: "", accepted: int64(taken)}
	}
	return &pb.ReportChargerEventsResponse{AcceptedCount: int64(taken)}, nil
}

// eventEVSE returns the EVSE an event names and its request field.
func eventEVSE(ev site.Event) (int, string, bool) {
	switch e := ev.(type) {
	case site.EVSEStatusChanged:
		return e.EVSE, "evse_status.evse_id", true
	case site.TransactionStarted:
		return e.Transaction.EVSE, "transaction_started.evse_id", true
	case site.TransactionUpdated:
		return e.Transaction.EVSE, "transaction_updated.evse_id", true
	case site.TransactionStopped:
		return e.Transaction.EVSE, "transaction_stopped.evse_id", true
	case site.MeterSampled:
		return e.EVSE, "meter_sample.evse_id", true
	case site.ChargingNeedsReported:
		return e.EVSE, "charging_needs.evse_id", true
	case site.ExternalSchedulesReported:
		return e.EVSE, "external_limit.evse_id", true
	}
	return 0, "", false
}

func (s *delegationService) StreamCommands(req *pb.StreamCommandsRequest, stream grpc.ServerStreamingServer[pb.StreamCommandsResponse]) error {
	ctx := stream.Context()
	return s.status(ctx, s.streamCommands(ctx, req, stream))
}

func (s *delegationService) streamCommands(ctx context.Context, req *pb.StreamCommandsRequest, stream grpc.ServerStreamingServer[pb.StreamCommandsResponse]) error {
	sid, err := s.delegationSite(ctx, req.GetName())
	if err != nil {
		return err
	}
	err = s.delegation.Commands(ctx, sid, req.GetResumeAfterSeq(), func(c site.DelegatedCommand) error {
		if err := stream.Send(&pb.StreamCommandsResponse{Command: commandToProto(c)}); err != nil {
			return fmt.Errorf("%w: %w", errSendFailed, err)
		}
		return nil
	})
	if errors.Is(err, errSendFailed) {
		return err // the client went away; its status says why
	}
	return about(siteName(sid), fromDelegation(err))
}

var errSendFailed = errors.New("apiserver: send failed")

func (s *delegationService) AckCommand(ctx context.Context, req *pb.AckCommandRequest) (*pb.AckCommandResponse, error) {
	resp, err := s.ackCommand(ctx, req)
	return resp, s.status(ctx, err)
}

func (s *delegationService) ackCommand(ctx context.Context, req *pb.AckCommandRequest) (*pb.AckCommandResponse, error) {
	v := &site.ValidationError{}
	sid, err := parseSiteName(req.GetName())
	if err != nil {
		v.Add("name", "%v", err)
	}
	ack := ackFromProto(req, v)
	if v.Err() != nil {
		return nil, v
	}
	if err := s.admitDelegation(ctx, sid); err != nil {
		return nil, err
	}
	found, err := s.delegation.Ack(ctx, sid, ack)
	if err != nil {
		return nil, about(fmt.Sprintf("%s/commands/%d", siteName(sid), ack.Seq), fromDelegation(err))
	}
	return &pb.AckCommandResponse{Duplicate: !found}, nil
}

// fromDelegation classifies an error of the delegation hub like fromLoop;
// a superseded stream keeps its meaning.
func fromDelegation(err error) error {
	if err == nil || errors.Is(err, site.ErrSuperseded) {
		return err
	}
	if errors.Is(fromLoop(err), ErrLoopUnavailable) {
		return fmt.Errorf("%w: %w", ErrDelegationUnavailable, err)
	}
	return err
}

// Command csms-client shows a CSMS delegating load management to
// smartcharge while it keeps its chargers: it reports what a charger does
// and carries out the charging profiles smartcharge streams back.
//
//	csms-client -addr 127.0.0.1:9090 -token $TOKEN -site depot -charger cp1
package main

import (
	"context"
	"flag"
	"log"
	"os/signal"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/smartcharge/smartcharge/proto/smartcharge/v1"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9090", "smartcharge gRPC address")
	token := flag.String("token", "", "bearer token of role csms")
	siteID := flag.String("site", "depot", "site ID")
	charger := flag.String("charger", "cp1", "charger ID")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+*token)
	conn, err := grpc.NewClient(*addr, grpc.WithTransportCredentials(insecure.NewCredentials())) // use TLS in production
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	api := pb.NewDelegationServiceClient(conn)
	site := "sites/" + *siteID
	name := site + "/chargers/" + *charger

	// 1. Report what the charger told us over OCPP (here: invented).
	now := timestamppb.Now()
	events := []*pb.ChargerEvent{
		{Charger: name, EventTime: now, Event: &pb.ChargerEvent_Booted{Booted: &pb.ChargerBootedEvent{Vendor: "Acme", Model: "Volt 22"}}},
		{Charger: name, EventTime: now, Event: &pb.ChargerEvent_Capabilities{Capabilities: &pb.ChargerCapabilitiesEvent{
			MaxStackLevel: 8, MaxPeriods: 24, RateUnits: []pb.ChargingRateUnit{pb.ChargingRateUnit_CHARGING_RATE_UNIT_A}}}},
		{Charger: name, EventTime: now, Event: &pb.ChargerEvent_EvseStatus{EvseStatus: &pb.EvseStatusEvent{EvseId: 1, State: pb.EvseState_EVSE_STATE_CHARGING}}},
		{Charger: name, EventTime: now, Event: &pb.ChargerEvent_TransactionStarted{TransactionStarted: &pb.TransactionEvent{TransactionId: "1", EvseId: 1, StartTime: now}}},
	}
	if _, err := api.ReportChargerEvents(ctx, &pb.ReportChargerEventsRequest{Name: site, Events: events}); err != nil {
		log.Fatalf("report: %v", err)
	}
	go reportMeter(ctx, api, site, name)

	// 2. Carry out smartcharge's commands in order; resume after the last
	// acknowledged seq whenever the stream breaks.
	var lastAcked uint64
	for ctx.Err() == nil {
		stream, err := api.StreamCommands(ctx, &pb.StreamCommandsRequest{Name: site, ResumeAfterSeq: lastAcked})
		if err != nil {
			log.Printf("stream: %v; retrying", err)
			time.Sleep(time.Second)
			continue
		}
		for {
			resp, err := stream.Recv()
			if err != nil {
				log.Printf("stream ended: %v", err)
				break
			}
			cmd := resp.GetCommand()
			status := sendToCharger(cmd)
			if _, err := api.AckCommand(ctx, &pb.AckCommandRequest{Name: site, Seq: cmd.GetSeq(), Status: status}); err != nil {
				log.Printf("ack %d: %v", cmd.GetSeq(), err)
				break // reconnect: the command comes again
			}
			lastAcked = cmd.GetSeq()
		}
		time.Sleep(time.Second)
	}
}

// sendToCharger is where a CSMS sends the OCPP message of the charger's
// version and maps its answer. This one only prints.
func sendToCharger(cmd *pb.Command) pb.CommandStatus {
	switch c := cmd.GetCommand().(type) {
	case *pb.Command_SetChargingProfile:
		p := c.SetChargingProfile.GetChargingProfile()
		s := p.GetSchedule()
		log.Printf("#%d %s SetChargingProfile evse %d id %d stack %d %v tx %q: %v for %ds, periods %v",
			cmd.GetSeq(), cmd.GetCharger(), c.SetChargingProfile.GetEvseId(), p.GetProfileId(), p.GetStackLevel(),
			p.GetPurpose(), p.GetTransactionId(), s.GetRateUnit(), s.GetDurationSeconds(), s.GetPeriods())
	case *pb.Command_ClearChargingProfile:
		log.Printf("#%d %s ClearChargingProfile %v", cmd.GetSeq(), cmd.GetCharger(), c.ClearChargingProfile)
	case *pb.Command_TriggerMessage:
		log.Printf("#%d %s TriggerMessage %v", cmd.GetSeq(), cmd.GetCharger(), c.TriggerMessage.GetRequestedMessage())
	default:
		return pb.CommandStatus_COMMAND_STATUS_NOT_SUPPORTED
	}
	return pb.CommandStatus_COMMAND_STATUS_ACCEPTED
}

// reportMeter sends a meter value every 10 s, as MeterValues would.
func reportMeter(ctx context.Context, api pb.DelegationServiceClient, site, name string) {
	energy := 0.0
	for t := time.NewTicker(10 * time.Second); ; {
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		energy += 30
		ev := &pb.ChargerEvent{Charger: name, EventTime: timestamppb.Now(), Event: &pb.ChargerEvent_MeterSample{MeterSample: &pb.MeterSampleEvent{
			EvseId: 1, TransactionId: "1", Current: &pb.PhaseCurrents{L1: 16, L2: 16, L3: 16}, EnergyWh: &energy}}}
		if _, err := api.ReportChargerEvents(ctx, &pb.ReportChargerEventsRequest{Name: site, Events: []*pb.ChargerEvent{ev}}); err != nil {
			log.Printf("meter: %v", err)
		}
	}
}

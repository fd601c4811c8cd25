package main

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	pb "github.com/smartcharge/smartcharge/proto/smartcharge/v1"
	"github.com/smartcharge/smartcharge/sim"
)

// apiLink talks to smartcharge's gRPC API as a site's EMS would: it
// reports the simulated grid meter and reads the allocation's reasons for
// the live view.
type apiLink struct {
	site  string
	token string
	log   *slog.Logger
	alloc pb.AllocationServiceClient
	chg   pb.ChargerServiceClient
	conn  *grpc.ClientConn

	mu      sync.Mutex
	reasons map[string]string // "identity/evse" -> reason
	ids     map[string]string // charger resource name -> OCPP identity
}

var _ sim.MeterReporter = (*apiLink)(nil)

func dialAPI(addr, siteID, token string, log *slog.Logger) (*apiLink, error) {
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, fmt.Errorf("--api %s: %w", addr, err)
	}
	return &apiLink{site: siteID, token: token, log: log, conn: cc,
		alloc: pb.NewAllocationServiceClient(cc), chg: pb.NewChargerServiceClient(cc),
		reasons: map[string]string{}, ids: map[string]string{}}, nil
}

func (a *apiLink) Close() error { return a.conn.Close() }

func (a *apiLink) ctx(ctx context.Context) context.Context {
	if a.token == "" {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+a.token)
}

// ReportMeter sends the grid connection's reading (building load plus EV
// draw) to smartcharge.
func (a *apiLink) ReportMeter(ctx context.Context, r sim.GridReading) error {
	ctx, cancel := context.WithTimeout(a.ctx(ctx), 5*time.Second)
	defer cancel()
	_, err := a.alloc.ReportMeterReading(ctx, &pb.ReportMeterReadingRequest{
		Name: "sites/" + a.site,
		Reading: &pb.MeterReading{
			Current: &pb.PhaseCurrents{L1: float64(r.Total[0]), L2: float64(r.Total[1]), L3: float64(r.Total[2])},
		},
	})
	return err
}

// Reason returns the allocation's reason for an EVSE, for the view.
func (a *apiLink) Reason(identity string, evse int) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.reasons[identity+"/"+strconv.Itoa(evse)]
}

// poll refreshes the reasons every period until ctx ends.
func (a *apiLink) poll(ctx context.Context, period time.Duration) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		if err := a.refresh(ctx); err != nil && ctx.Err() == nil {
			a.log.Debug("chargersim: reading the allocation", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (a *apiLink) refresh(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(a.ctx(ctx), 5*time.Second)
	defer cancel()
	if len(a.ids) == 0 {
		list, err := a.chg.ListChargers(ctx, &pb.ListChargersRequest{Parent: "sites/" + a.site, PageSize: 1000})
		if err != nil {
			return err
		}
		ids := map[string]string{}
		for _, c := range list.GetChargers() {
			ids[c.GetName()] = c.GetOcppIdentity()
		}
		a.mu.Lock()
		a.ids = ids
		a.mu.Unlock()
	}
	resp, err := a.alloc.GetAllocation(ctx, &pb.GetAllocationRequest{Name: "sites/" + a.site + "/allocation"})
	if err != nil {
		return err
	}
	reasons := map[string]string{}
	for _, e := range resp.GetAllocation().GetEvses() {
		// e.Name is "sites/{site}/chargers/{charger}/evses/{evse}".
		name := e.GetName()
		i := strings.LastIndex(name, "/evses/")
		if i < 0 {
			continue
		}
		reason := e.GetReason()
		if e.GetNonCompliant() {
			reason = "NON-COMPLIANT: " + reason
		}
		reasons[a.ids[name[:i]]+"/"+name[i+len("/evses/"):]] = reason
	}
	a.mu.Lock()
	a.reasons = reasons
	a.mu.Unlock()
	return nil
}

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	pb "github.com/smartcharge/smartcharge/proto/smartcharge/v1"
)

const (
	statusUsage = "smartchargectl status --site S [--once | --count N]"
	watchUsage  = "smartchargectl watch --site S [--count N] [-o json]"
)

// clearScreen moves the cursor home and clears the terminal.
const clearScreen = "\x1b[H\x1b[2J"

func runStatus(ctx context.Context, a *app, args []string) error {
	fs := a.flags("status", statusUsage)
	site := fs.String("site", "", "the site (ID or sites/ID)")
	once := fs.Bool("once", false, "print one frame and exit (for scripts)")
	count := fs.Int("count", 0, "exit after this many frames (0: until interrupted)")
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	switch {
	case len(pos) > 0:
		return fs.fail("unexpected argument %q", pos[0])
	case *site == "":
		return fs.fail("--site is required")
	case *count < 0:
		return fs.fail("--count must not be negative")
	}
	if *once {
		*count = 1
	}
	id := siteID(*site)
	clear := *count != 1 && a.g.output == "table" && isTerminal(a.stdout)
	return a.connectFor(ctx, *count > 0, func(ctx context.Context, c *client) error {
		loc := siteLocation(ctx, c, id)
		frames := 0
		var last uint64
		show := func(al *pb.Allocation) (bool, error) {
			if frames > 0 && al.GetSeq() == last {
				return false, nil // the watch starts with the allocation shown already
			}
			frames++
			last = al.GetSeq()
			if a.g.output != "table" {
				return *count > 0 && frames >= *count, printProto(a.stdout, a.g.output, al)
			}
			switch {
			case clear:
				fmt.Fprint(a.stdout, clearScreen)
			case frames > 1:
				fmt.Fprintln(a.stdout)
			}
			return *count > 0 && frames >= *count, statusFrame(a.stdout, al, loc)
		}
		// The current state first, so that one frame never waits for the
		// loop; then a frame per new allocation.
		resp, err := c.alloc.GetAllocation(ctx, &pb.GetAllocationRequest{Name: "sites/" + id + "/allocation"})
		if err != nil {
			return err
		}
		if done, err := show(resp.GetAllocation()); done || err != nil {
			return err
		}
		return watchAllocation(ctx, c, id, show)
	})
}

func runWatch(ctx context.Context, a *app, args []string) error {
	fs := a.flags("watch", watchUsage)
	site := fs.String("site", "", "the site (ID or sites/ID)")
	count := fs.Int("count", 0, "exit after this many updates (0: until interrupted)")
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	switch {
	case len(pos) > 0:
		return fs.fail("unexpected argument %q", pos[0])
	case *site == "":
		return fs.fail("--site is required")
	case *count < 0:
		return fs.fail("--count must not be negative")
	}
	id := siteID(*site)
	return a.connectFor(ctx, *count > 0, func(ctx context.Context, c *client) error {
		n := 0
		return watchAllocation(ctx, c, id, func(al *pb.Allocation) (bool, error) {
			n++
			done := *count > 0 && n >= *count
			switch a.g.output {
			case "json":
				data, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(al)
				if err != nil {
					return done, fmt.Errorf("encode allocation: %w", err)
				}
				_, err = fmt.Fprintf(a.stdout, "%s\n", data)
				return done, err
			case "yaml":
				fmt.Fprintln(a.stdout, "---")
				return done, printProto(a.stdout, "yaml", al)
			}
			_, err := fmt.Fprintln(a.stdout, watchLine(al))
			return done, err
		})
	})
}

// watchAllocation calls fn with each allocation of the site until fn says
// it is done or ctx ends (an interrupted live view is no error).
func watchAllocation(ctx context.Context, c *client, id string, fn func(*pb.Allocation) (done bool, err error)) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	st, err := c.alloc.WatchAllocation(ctx, &pb.WatchAllocationRequest{Name: "sites/" + id + "/allocation"})
	if err != nil {
		return err
	}
	for {
		resp, err := st.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			// interrupted by the user (Ctrl-C): a normal end of a live view
			if status.Code(err) == codes.Canceled && ctx.Err() != nil {
				return nil
			}
			return err
		}
		if done, err := fn(resp.GetAllocation()); done || err != nil {
			return err
		}
	}
}

// statusFrame writes one frame of the live view: every node's use and
// limit per phase, then every EVSE's limit, draw, state and reason.
func statusFrame(w io.Writer, al *pb.Allocation, loc *time.Location) error {
	site := strings.TrimSuffix(al.GetName(), "/allocation")
	if al.GetSeq() == 0 {
		_, err := fmt.Fprintf(w, "%s: the control loop has computed no allocation yet\n", site)
		return err
	}
	fmt.Fprintf(w, "%s  allocation %d at %s (%s)\n\n", site, al.GetSeq(), when(al.GetComputeTime(), loc), orDash(al.GetTrigger()))
	tw := newTable(w)
	row(tw, "NODE", "KIND", "L1 USE/LIMIT", "L2 USE/LIMIT", "L3 USE/LIMIT", "OURS")
	for _, n := range al.GetNodes() {
		use := func(p int) string {
			return useOf(phaseOf(n.GetOtherLoad(), p)+phaseOf(n.GetAllocated(), p), phaseOf(n.GetLimit(), p))
		}
		row(tw, nodeLabel(site, n.GetNode()), kindName(n.GetKind()), use(0), use(1), use(2), amps(n.GetAllocated()))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	tw = newTable(w)
	row(tw, "EVSE", "STATE", "LIMIT", "DRAWN", "REASON")
	for _, e := range al.GetEvses() {
		limit := num(round1(e.GetLimit())) + " A"
		if e.GetPhases() > 0 {
			limit += " x" + strconv.Itoa(int(e.GetPhases()))
		}
		if e.GetPending() {
			limit += " (pending)"
		}
		state := controlStateName(e.GetState())
		if e.GetNonCompliant() {
			state += ", non-compliant"
		}
		if e.GetResumeFailed() {
			state += ", resume failed"
		}
		row(tw, lastSegment(e.GetCharger())+"/"+strconv.Itoa(int(e.GetEvseId())), state, limit, amps(e.GetDrawn()), orDash(e.GetReason()))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if inf := al.GetInfeasibilities(); len(inf) > 0 {
		fmt.Fprintln(w, "\nInfeasible (load we do not control is over the limit):")
		for _, s := range inf {
			fmt.Fprintf(w, "  %s\n", s)
		}
	}
	return nil
}

// watchLine is one update as key=value pairs:
//
//	seq=7 time=2026-03-01T12:00:07Z trigger=tick grid=42/50,44/50,40/50 c1/1=11A:charging:PHASE_LIMIT c1/2=0A:no-car:NO_CAR
func watchLine(al *pb.Allocation) string {
	var b strings.Builder
	fmt.Fprintf(&b, "seq=%d time=%s trigger=%s", al.GetSeq(), when(al.GetComputeTime(), time.UTC), orDash(al.GetTrigger()))
	for _, n := range al.GetNodes() {
		if n.GetKind() != pb.NodeKind_NODE_KIND_GRID {
			continue
		}
		var ph []string
		for p := range 3 {
			ph = append(ph, useOf(phaseOf(n.GetOtherLoad(), p)+phaseOf(n.GetAllocated(), p), phaseOf(n.GetLimit(), p)))
		}
		fmt.Fprintf(&b, " grid=%s", strings.Join(ph, ","))
	}
	for _, e := range al.GetEvses() {
		fmt.Fprintf(&b, " %s/%d=%sA:%s", lastSegment(e.GetCharger()), e.GetEvseId(), num(round1(e.GetLimit())), controlStateName(e.GetState()))
		if e.GetReasonCode() != "" {
			fmt.Fprintf(&b, ":%s", e.GetReasonCode())
		}
	}
	if n := len(al.GetInfeasibilities()); n > 0 {
		fmt.Fprintf(&b, " infeasible=%d", n)
	}
	return b.String()
}

func phaseOf(p *pb.PhaseCurrents, i int) float64 {
	return [3]float64{p.GetL1(), p.GetL2(), p.GetL3()}[i]
}

// useOf formats "use/limit" in A, "use/-" without a limit.
func useOf(use, limit float64) string {
	l := "-"
	if limit > 0 {
		l = num(round1(limit))
	}
	return num(round1(use)) + "/" + l
}

// round1 rounds to 0.1 A for display.
func round1(f float64) float64 { return math.Round(f*10) / 10 }

// nodeLabel shows the grid connection as "grid" and others by their ID.
func nodeLabel(site, node string) string {
	if node == site {
		return "grid"
	}
	return lastSegment(node)
}

func kindName(k pb.NodeKind) string {
	if k == pb.NodeKind_NODE_KIND_UNSPECIFIED {
		return "-"
	}
	return strings.ToLower(strings.TrimPrefix(k.String(), "NODE_KIND_"))
}

// controlStateName gives "no-car" for EVSE_CONTROL_STATE_NO_CAR.
func controlStateName(s pb.EvseControlState) string {
	if s == pb.EvseControlState_EVSE_CONTROL_STATE_UNSPECIFIED {
		return "unknown"
	}
	return strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(s.String(), "EVSE_CONTROL_STATE_")), "_", "-")
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

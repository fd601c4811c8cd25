package main

import (
	"context"
	"flag"
	"fmt"
	"strconv"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/smartcharge/smartcharge/proto/smartcharge/v1"
)

const (
	limitUsage     = "smartchargectl limit set|show ..."
	limitSetUsage  = "smartchargectl limit set --site S --id ID --source owner|ems|grid-operator (--limit-a A | --l1 A --l2 A --l3 A | --power-kw P) [--from TIME] [--until TIME] [--reason TEXT]"
	limitShowUsage = "smartchargectl limit show --site S [--at TIME]"
)

func runLimit(ctx context.Context, a *app, args []string) error {
	if len(args) == 0 {
		return &usageError{msg: "limit: want set or show", usage: limitSetUsage + "\n       " + limitShowUsage}
	}
	switch args[0] {
	case "set":
		return runLimitSet(ctx, a, args[1:])
	case "show":
		return runLimitShow(ctx, a, args[1:])
	}
	return &usageError{msg: fmt.Sprintf("limit: unknown subcommand %q: want set or show", args[0]), usage: limitUsage}
}

// optFloat is a float flag that knows whether it was given.
type optFloat struct {
	v   float64
	set bool
}

func (f *optFloat) String() string {
	if f == nil || !f.set {
		return ""
	}
	return num(f.v)
}

func (f *optFloat) Set(s string) error {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return fmt.Errorf("not a number")
	}
	f.v, f.set = v, true
	return nil
}

var _ flag.Value = (*optFloat)(nil)

// limitSetArgs are the flags of "limit set", parsed into the request.
type limitSetArgs struct {
	site, id, source, from, until, reason string
	all, l1, l2, l3, power                optFloat
}

func runLimitSet(ctx context.Context, a *app, args []string) error {
	fs := a.flags("limit set", limitSetUsage)
	var la limitSetArgs
	fs.StringVar(&la.site, "site", "", "the site (ID or sites/ID)")
	fs.StringVar(&la.id, "id", "", "the grid limit's ID; an existing limit with it is replaced")
	fs.StringVar(&la.source, "source", "", "who sets it: owner, ems or grid-operator")
	fs.Var(&la.all, "limit-a", "limit in A on every phase")
	fs.Var(&la.l1, "l1", "limit in A on L1 (overrides --limit-a)")
	fs.Var(&la.l2, "l2", "limit in A on L2 (overrides --limit-a)")
	fs.Var(&la.l3, "l3", "limit in A on L3 (overrides --limit-a)")
	fs.Var(&la.power, "power-kw", "limit on the total power in kW")
	fs.StringVar(&la.from, "from", "", "start, RFC 3339 (2026-12-01T17:00:00+01:00) or a duration from now (30m); default: in force at once")
	fs.StringVar(&la.until, "until", "", "end, RFC 3339 or a duration from now (2h); default open-ended")
	fs.StringVar(&la.reason, "reason", "", "why, shown with the limit")
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fs.fail("unexpected argument %q", pos[0])
	}
	gl, err := la.gridLimit(a.now())
	if err != nil {
		return fs.fail("%v", err)
	}
	return a.connect(ctx, func(ctx context.Context, c *client) error {
		resp, err := c.limits.SetGridLimit(ctx, &pb.SetGridLimitRequest{GridLimit: gl})
		if err != nil {
			return err
		}
		if a.g.output != "table" {
			return printProto(a.stdout, a.g.output, resp)
		}
		what := "replaced"
		if resp.GetCreated() {
			what = "created"
		}
		fmt.Fprintf(a.stdout, "%s %s\n\n", resp.GetGridLimit().GetName(), what)
		return gridLimitTable(a.stdout, []*pb.GridLimit{resp.GetGridLimit()}, siteLocation(ctx, c, siteID(la.site)))
	})
}

// gridLimit checks the flags and builds the limit to set.
func (la *limitSetArgs) gridLimit(now time.Time) (*pb.GridLimit, error) {
	switch {
	case la.site == "":
		return nil, fmt.Errorf("--site is required")
	case la.id == "":
		return nil, fmt.Errorf("--id is required")
	case la.source == "":
		return nil, fmt.Errorf("--source is required: owner, ems or grid-operator")
	}
	src, ok := parseSource(la.source)
	if !ok {
		return nil, fmt.Errorf("--source %q: want owner, ems or grid-operator", la.source)
	}
	gl := &pb.GridLimit{
		Name:   childName(siteID(la.site), "gridLimits", la.id),
		Source: src,
		Reason: la.reason,
	}
	if la.all.set || la.l1.set || la.l2.set || la.l3.set {
		p := &pb.PhaseCurrents{L1: la.all.v, L2: la.all.v, L3: la.all.v}
		if la.l1.set {
			p.L1 = la.l1.v
		}
		if la.l2.set {
			p.L2 = la.l2.v
		}
		if la.l3.set {
			p.L3 = la.l3.v
		}
		if !la.all.set && !(la.l1.set && la.l2.set && la.l3.set) {
			return nil, fmt.Errorf("give --limit-a, or all of --l1, --l2 and --l3 (a phase cannot be left unlimited alone)")
		}
		gl.Limit = p
	}
	if la.power.set {
		gl.PowerLimitKw = la.power.v
	}
	if gl.Limit == nil && !la.power.set {
		return nil, fmt.Errorf("give a limit: --limit-a, --l1/--l2/--l3 or --power-kw")
	}
	var err error
	if gl.StartTime, err = timeFlag("--from", la.from, now); err != nil {
		return nil, err
	}
	if gl.EndTime, err = timeFlag("--until", la.until, now); err != nil {
		return nil, err
	}
	return gl, nil
}

// timeFlag reads an RFC 3339 time or a duration from now; "" is unset.
func timeFlag(name, s string, now time.Time) (*timestamppb.Timestamp, error) {
	if s == "" {
		return nil, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		return timestamppb.New(now.Add(d)), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return nil, fmt.Errorf("%s %q: want an RFC 3339 time such as 2026-12-01T17:00:00+01:00 or a duration such as 2h", name, s)
	}
	return timestamppb.New(t), nil
}

func runLimitShow(ctx context.Context, a *app, args []string) error {
	fs := a.flags("limit show", limitShowUsage)
	site := fs.String("site", "", "the site (ID or sites/ID)")
	at := fs.String("at", "", "the moment to evaluate, RFC 3339 or a duration from now; default now")
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fs.fail("unexpected argument %q", pos[0])
	}
	if *site == "" {
		return fs.fail("--site is required")
	}
	evalAt, err := timeFlag("--at", *at, a.now())
	if err != nil {
		return fs.fail("%v", err)
	}
	id := siteID(*site)
	return a.connect(ctx, func(ctx context.Context, c *client) error {
		resp, err := c.limits.GetEffectiveGridLimit(ctx, &pb.GetEffectiveGridLimitRequest{
			Name: "sites/" + id + "/effectiveGridLimit", EvaluateTime: evalAt,
		})
		if err != nil {
			return err
		}
		eff := resp.GetEffectiveGridLimit()
		if a.g.output != "table" {
			return printProto(a.stdout, a.g.output, eff)
		}
		loc := siteLocation(ctx, c, id)
		fmt.Fprintf(a.stdout, "Limit in force at sites/%s at %s:\n", id, when(eff.GetEvaluateTime(), loc))
		if err := effectiveTable(indent(a.stdout), eff, loc); err != nil {
			return err
		}
		if len(eff.GetActiveGridLimits()) == 0 {
			_, err := fmt.Fprintln(a.stdout, "\nNo grid limit is active: the grid connection's own limit applies.")
			return err
		}
		fmt.Fprintln(a.stdout, "\nActive grid limits:")
		return gridLimitTable(indent(a.stdout), eff.GetActiveGridLimits(), loc)
	})
}

package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/smartcharge/smartcharge/apiserver"
	pb "github.com/smartcharge/smartcharge/proto/smartcharge/v1"
	"github.com/smartcharge/smartcharge/site/sitefile"
)

const applyUsage = "smartchargectl apply -f FILE [--dry-run] [--prune]"

// runApply reads a site file, refuses it whole if it has any problem, and
// applies it with ApplySiteConfig, printing what changed.
func runApply(ctx context.Context, a *app, args []string) error {
	fs := a.flags("apply", applyUsage)
	file := fs.String("f", "", "site file to apply (- for standard input)")
	fs.StringVar(file, "filename", "", "site file to apply (- for standard input)")
	dryRun := fs.Bool("dry-run", false, "validate and show what would change, change nothing")
	prune := fs.Bool("prune", false, "delete circuits, chargers and grid limits the file does not list")
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fs.fail("unexpected argument %q", pos[0])
	}
	if *file == "" {
		return fs.fail("-f FILE is required")
	}
	sf, err := a.readSiteFile(*file)
	if err != nil {
		return err
	}
	req := &pb.ApplySiteConfigRequest{
		Name:   "sites/" + sf.Config.Site.ID,
		Config: apiserver.ConfigToProto(sf.Config),
		DryRun: *dryRun,
		Prune:  *prune,
	}
	return a.connect(ctx, func(ctx context.Context, c *client) error {
		resp, err := c.sites.ApplySiteConfig(ctx, req)
		if err != nil {
			if st, ok := status.FromError(err); ok && st.Code() == codes.InvalidArgument {
				return &fileStatusError{st: st, file: sf}
			}
			return err
		}
		if a.g.output != "table" {
			return printProto(a.stdout, a.g.output, resp)
		}
		return printChanges(a.stdout, resp.GetChanges(), *dryRun)
	})
}

func (a *app) readSiteFile(name string) (*sitefile.File, error) {
	var data []byte
	var err error
	if name == "-" {
		data, err = io.ReadAll(a.stdin)
		name = "<stdin>"
	} else {
		data, err = os.ReadFile(name)
	}
	if err != nil {
		return nil, fmt.Errorf("read site file: %w", err)
	}
	return sitefile.ParseFile(name, data)
}

var changeNames = map[pb.ChangeType]string{
	pb.ChangeType_CHANGE_TYPE_CREATED:   "created",
	pb.ChangeType_CHANGE_TYPE_UPDATED:   "updated",
	pb.ChangeType_CHANGE_TYPE_DELETED:   "deleted",
	pb.ChangeType_CHANGE_TYPE_UNCHANGED: "unchanged",
}

// printChanges lists each resource with what happened to it, then a
// count per kind of change.
func printChanges(w io.Writer, changes []*pb.ConfigChange, dryRun bool) error {
	t := newTable(w)
	counts := map[pb.ChangeType]int{}
	for _, ch := range changes {
		what := changeNames[ch.GetType()]
		if what == "" {
			what = "?"
		}
		if dryRun && ch.GetType() != pb.ChangeType_CHANGE_TYPE_UNCHANGED {
			what += " (dry run)"
		}
		if len(ch.GetFields()) > 0 {
			what += ": " + strings.Join(ch.GetFields(), ", ")
		}
		row(t, ch.GetName(), what)
		counts[ch.GetType()]++
	}
	if err := t.Flush(); err != nil {
		return err
	}
	verb := ""
	if dryRun {
		verb = "dry run, nothing changed: would be "
	}
	_, err := fmt.Fprintf(w, "%s%d created, %d updated, %d deleted, %d unchanged\n", verb,
		counts[pb.ChangeType_CHANGE_TYPE_CREATED], counts[pb.ChangeType_CHANGE_TYPE_UPDATED],
		counts[pb.ChangeType_CHANGE_TYPE_DELETED], counts[pb.ChangeType_CHANGE_TYPE_UNCHANGED])
	return err
}

package main

import (
	"context"
	"fmt"
	"strings"

	pb "github.com/smartcharge/smartcharge/proto/smartcharge/v1"
)

const deleteUsage = "smartchargectl delete site NAME [--force] | circuit|charger|gridlimit NAME --site S [--etag E]"

// runDelete deletes one resource, guarded by --etag when given.
func runDelete(ctx context.Context, a *app, args []string) error {
	fs := a.flags("delete", deleteUsage)
	siteFlag := fs.String("site", "", "the site (ID or sites/ID); not needed with full resource names")
	etag := fs.String("etag", "", "delete only if the resource's etag is still this (else ABORTED)")
	force := fs.Bool("force", false, "delete a site that still has circuits, chargers or grid limits")
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return fs.fail("want a kind (site, circuit, charger or gridlimit) and a NAME")
	}
	kind, name := pos[0], pos[1]
	site := siteID(*siteFlag)
	if strings.HasPrefix(name, "sites/") {
		site = strings.SplitN(strings.TrimPrefix(name, "sites/"), "/", 2)[0]
	}
	if kind != "site" && site == "" {
		return fs.fail("delete %s needs --site or a full resource name", kind)
	}
	if kind != "site" && *force {
		return fs.fail("--force is for sites only")
	}
	return a.connect(ctx, func(ctx context.Context, c *client) error {
		var full string
		var err error
		switch kind {
		case "site":
			full = "sites/" + siteID(name)
			_, err = c.sites.DeleteSite(ctx, &pb.DeleteSiteRequest{Name: full, Etag: *etag, Force: *force})
		case "circuit":
			full = childName(site, "circuits", name)
			_, err = c.circuits.DeleteCircuit(ctx, &pb.DeleteCircuitRequest{Name: full, Etag: *etag})
		case "charger":
			full = childName(site, "chargers", name)
			_, err = c.chargers.DeleteCharger(ctx, &pb.DeleteChargerRequest{Name: full, Etag: *etag})
		case "gridlimit", "limit":
			full = childName(site, "gridLimits", name)
			_, err = c.limits.DeleteGridLimit(ctx, &pb.DeleteGridLimitRequest{Name: full, Etag: *etag})
		default:
			return fs.fail("unknown kind %q: want site, circuit, charger or gridlimit", kind)
		}
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(a.stdout, "%s deleted\n", full)
		return err
	})
}

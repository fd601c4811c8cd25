package apiserver

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"

	pb "github.com/smartcharge/smartcharge/proto/smartcharge/v1"
	"github.com/smartcharge/smartcharge/site"
)

// Role is what a token may do; see the package documentation for the
// matrix.
type Role string

// Roles.
const (
	// RoleViewer reads its sites.
	RoleViewer Role = "viewer"
	// RoleSiteOwner reads its sites and changes their configuration, their
	// grid limits with source OWNER or GRID_OPERATOR and the charging needs
	// and priorities of their EVSEs. It does not create or delete sites.
	RoleSiteOwner Role = "site-owner"
	// RoleEMS reads its sites, writes grid limits with source EMS and
	// reports meter readings.
	RoleEMS Role = "ems"
	// RoleCSMS reads its sites and, for them, reports its chargers'
	// events and streams and acknowledges their commands
	// (DelegationService).
	RoleCSMS Role = "csms"
	// RoleAdmin may do everything on its sites, including creating and
	// deleting them.
	RoleAdmin Role = "admin"
)

// AllSites in TokenEntry.Sites grants every site.
const AllSites = "*"

// TokenEntry is one bearer token the server accepts.
type TokenEntry struct {
	// Name identifies the token in logs; never the token itself.
	Name string
	// SHA256 is the hex SHA-256 of the token (see HashToken); the token
	// itself is not configured.
	SHA256 string
	Role   Role
	// Sites the token may touch, by ID, or AllSites.
	Sites []string
}

// AuthConfig says who may call the API.
type AuthConfig struct {
	Tokens []TokenEntry
	// InsecureLocal lets calls without an authorization header in as admin
	// when they come from a loopback address or a Unix socket. A call
	// with a bad token is refused all the same.
	InsecureLocal bool
	// PublicMethods are full method names of other services on the same
	// gRPC server that need no credentials, such as
	// "/grpc.health.v1.Health/Check". Methods of smartcharge.v1 cannot be
	// made public. Other services' methods not listed need a valid token
	// (any role).
	PublicMethods []string
}

// HashToken returns the hex SHA-256 of a token, as TokenEntry.SHA256 wants
// it.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// Validate reports every bad entry. Entries that fail it never match a
// token.
func (c *AuthConfig) Validate() error {
	if c == nil {
		return nil
	}
	var errs []error
	seen := map[string]bool{}
	for _, m := range c.PublicMethods {
		if strings.HasPrefix(m, apiPrefix) {
			errs = append(errs, fmt.Errorf("apiserver: public method %s: methods of smartcharge.v1 always need credentials", m))
		}
	}
	for i, t := range c.Tokens {
		if err := t.validate(); err != nil {
			errs = append(errs, fmt.Errorf("apiserver: token %d (%q): %w", i, t.Name, err))
		}
		h := strings.ToLower(t.SHA256)
		if seen[h] {
			errs = append(errs, fmt.Errorf("apiserver: token %d (%q): same hash as an earlier token", i, t.Name))
		}
		seen[h] = true
	}
	return errors.Join(errs...)
}

func (t TokenEntry) validate() error {
	var errs []error
	if t.Name == "" {
		errs = append(errs, errors.New("name is required"))
	}
	if b, err := hex.DecodeString(t.SHA256); err != nil || len(b) != sha256.Size {
		errs = append(errs, errors.New("sha256 must be 64 hex digits"))
	}
	if !t.Role.valid() {
		errs = append(errs, fmt.Errorf("role %q is not one of viewer, site-owner, ems, csms, admin", t.Role))
	}
	if len(t.Sites) == 0 {
		errs = append(errs, errors.New("sites is required (a site ID or \"*\")"))
	}
	for _, s := range t.Sites {
		if s != AllSites && !validID(s) {
			errs = append(errs, fmt.Errorf("site %q: %s", s, idRule))
		}
	}
	return errors.Join(errs...)
}

func (r Role) valid() bool {
	switch r {
	case RoleViewer, RoleSiteOwner, RoleEMS, RoleCSMS, RoleAdmin:
		return true
	}
	return false
}

// Principal is the authenticated caller.
type Principal struct {
	// Name of the token, or "insecure-local".
	Name  string
	Role  Role
	sites []string
	all   bool
}

// MaySite reports whether the caller may touch the site at all.
func (p *Principal) MaySite(siteID string) bool {
	return p.all || slices.Contains(p.sites, siteID)
}

type principalKey struct{}

// PrincipalFrom returns the caller the interceptors authenticated.
func PrincipalFrom(ctx context.Context) (*Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(*Principal)
	return p, ok
}

// action is the kind of thing an RPC does, for the role matrix.
type action int

const (
	actRead        action = iota + 1 // read sites and their resources
	actWriteConfig                   // change a site's configuration
	actWriteLimits                   // change grid limits (sources checked apart)
	actAdmin                         // create and delete sites
	actReportMeter                   // report meter readings to the control loop
	actSetNeeds                      // set charging needs and priorities
	actDelegate                      // report charger events, stream and acknowledge commands
)

func (a action) String() string {
	switch a {
	case actRead:
		return "read"
	case actWriteConfig:
		return "change configuration"
	case actWriteLimits:
		return "change grid limits"
	case actAdmin:
		return "create or delete sites"
	case actReportMeter:
		return "report meter readings"
	case actSetNeeds:
		return "set charging needs or priorities"
	case actDelegate:
		return "carry delegated charger events and commands"
	}
	return "unknown action"
}

// roleAllows is the role matrix.
func roleAllows(r Role, a action) bool {
	switch a {
	case actRead:
		return r.valid()
	case actWriteConfig:
		return r == RoleSiteOwner || r == RoleAdmin
	case actWriteLimits:
		return r == RoleSiteOwner || r == RoleEMS || r == RoleAdmin
	case actAdmin:
		return r == RoleAdmin
	case actReportMeter:
		return r == RoleEMS || r == RoleAdmin
	case actSetNeeds:
		return r == RoleSiteOwner || r == RoleAdmin
	case actDelegate:
		return r == RoleCSMS || r == RoleAdmin
	}
	return false
}

// sourceAllowed says which grid limit sources a role may write.
func sourceAllowed(r Role, s site.LimitSource) bool {
	switch r {
	case RoleAdmin:
		return s != site.SourceConnection
	case RoleSiteOwner:
		return s == site.SourceOwner || s == site.SourceGridOperator
	case RoleEMS:
		return s == site.SourceEMS
	}
	return false
}

// methodActions is the least each method needs; the handler then checks
// the site (and grid limit sources). A method of this API missing here is
// refused: the table fails closed.
var methodActions = map[string]action{
	pb.SiteService_GetSite_FullMethodName:                    actRead,
	pb.SiteService_ListSites_FullMethodName:                  actRead,
	pb.SiteService_CreateSite_FullMethodName:                 actAdmin,
	pb.SiteService_UpdateSite_FullMethodName:                 actWriteConfig,
	pb.SiteService_DeleteSite_FullMethodName:                 actAdmin,
	pb.SiteService_GetSiteConfig_FullMethodName:              actRead,
	pb.SiteService_ApplySiteConfig_FullMethodName:            actWriteConfig,
	pb.CircuitService_GetCircuit_FullMethodName:              actRead,
	pb.CircuitService_ListCircuits_FullMethodName:            actRead,
	pb.CircuitService_CreateCircuit_FullMethodName:           actWriteConfig,
	pb.CircuitService_UpdateCircuit_FullMethodName:           actWriteConfig,
	pb.CircuitService_DeleteCircuit_FullMethodName:           actWriteConfig,
	pb.ChargerService_GetCharger_FullMethodName:              actRead,
	pb.ChargerService_ListChargers_FullMethodName:            actRead,
	pb.ChargerService_CreateCharger_FullMethodName:           actWriteConfig,
	pb.ChargerService_UpdateCharger_FullMethodName:           actWriteConfig,
	pb.ChargerService_DeleteCharger_FullMethodName:           actWriteConfig,
	pb.GridLimitService_GetGridLimit_FullMethodName:          actRead,
	pb.GridLimitService_ListGridLimits_FullMethodName:        actRead,
	pb.GridLimitService_CreateGridLimit_FullMethodName:       actWriteLimits,
	pb.GridLimitService_UpdateGridLimit_FullMethodName:       actWriteLimits,
	pb.GridLimitService_DeleteGridLimit_FullMethodName:       actWriteLimits,
	pb.GridLimitService_SetGridLimit_FullMethodName:          actWriteLimits,
	pb.GridLimitService_GetEffectiveGridLimit_FullMethodName: actRead,
	pb.AllocationService_GetAllocation_FullMethodName:        actRead,
	pb.AllocationService_WatchAllocation_FullMethodName:      actRead,
	pb.AllocationService_ExplainAllocation_FullMethodName:    actRead,
	pb.AllocationService_ReportMeterReading_FullMethodName:   actReportMeter,
	pb.AllocationService_StreamMeterReadings_FullMethodName:  actReportMeter,
	pb.AllocationService_SetChargingNeeds_FullMethodName:     actSetNeeds,
	pb.AllocationService_SetPriority_FullMethodName:          actSetNeeds,
	pb.DelegationService_ReportChargerEvents_FullMethodName:  actDelegate,
	pb.DelegationService_StreamCommands_FullMethodName:       actDelegate,
	pb.DelegationService_AckCommand_FullMethodName:           actDelegate,
}

const apiPrefix = "/smartcharge.v1."

// authenticator checks bearer tokens against the configured hashes.
type authenticator struct {
	tokens        []tokenHash
	insecureLocal bool
	public        []string
}

type tokenHash struct {
	sum       [sha256.Size]byte
	principal *Principal
}

func newAuthenticator(c *AuthConfig) (*authenticator, []error) {
	a := &authenticator{}
	if c == nil {
		return a, nil
	}
	a.insecureLocal = c.InsecureLocal
	for _, m := range c.PublicMethods {
		if !strings.HasPrefix(m, apiPrefix) {
			a.public = append(a.public, m)
		}
	}
	var skipped []error
	for i, t := range c.Tokens {
		if err := t.validate(); err != nil {
			skipped = append(skipped, fmt.Errorf("apiserver: token %d (%q) ignored: %w", i, t.Name, err))
			continue
		}
		var th tokenHash
		b, _ := hex.DecodeString(t.SHA256)
		copy(th.sum[:], b)
		th.principal = &Principal{Name: t.Name, Role: t.Role, sites: slices.Clone(t.Sites), all: slices.Contains(t.Sites, AllSites)}
		a.tokens = append(a.tokens, th)
	}
	return a, skipped
}

// authenticate returns the caller of an incoming call.
func (a *authenticator) authenticate(ctx context.Context) (*Principal, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	vals := md.Get("authorization")
	if len(vals) == 0 {
		if a.insecureLocal && fromLocalPeer(ctx) {
			return &Principal{Name: "insecure-local", Role: RoleAdmin, all: true}, nil
		}
		return nil, unauthenticated("missing \"authorization: Bearer <token>\" metadata")
	}
	if len(vals) > 1 {
		return nil, unauthenticated("more than one authorization header")
	}
	scheme, tok, ok := strings.Cut(vals[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
		return nil, unauthenticated("authorization must be \"Bearer <token>\"")
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(tok)))
	var found *Principal
	// Compare with every entry, in constant time each, so the time taken
	// does not tell which entry matched.
	for i := range a.tokens {
		if subtle.ConstantTimeCompare(sum[:], a.tokens[i].sum[:]) == 1 && found == nil {
			found = a.tokens[i].principal
		}
	}
	if found == nil {
		return nil, unauthenticated("unknown token")
	}
	return found, nil
}

// fromLocalPeer reports whether the call came over loopback or a Unix
// socket.
func fromLocalPeer(ctx context.Context) bool {
	p, ok := peer.FromContext(ctx)
	if !ok || p.Addr == nil {
		return false
	}
	switch addr := p.Addr.(type) {
	case *net.TCPAddr:
		return addr.IP.IsLoopback()
	case *net.UnixAddr:
		return true
	}
	return false
}

// admit authenticates a call and checks the role against the method table.
func (a *authenticator) admit(ctx context.Context, method string) (context.Context, error) {
	if slices.Contains(a.public, method) {
		return ctx, nil
	}
	p, err := a.authenticate(ctx)
	if err != nil {
		return ctx, err
	}
	if strings.HasPrefix(method, apiPrefix) {
		act, ok := methodActions[method]
		if !ok {
			act, ok = planMethodActions[method]
		}
		if !ok {
			return ctx, denied(ReasonRoleNotAllowed, "method %s is not open to any role", method)
		}
		if !roleAllows(p.Role, act) {
			return ctx, denied(ReasonRoleNotAllowed, "role %s may not %s", p.Role, act)
		}
	}
	return context.WithValue(ctx, principalKey{}, p), nil
}

// authorize checks that the caller may do act on the site. Handlers call
// it after parsing the request and before touching the store, so a caller
// learns nothing of sites it was not given.
func authorize(ctx context.Context, act action, siteID string) (*Principal, error) {
	p, ok := PrincipalFrom(ctx)
	if !ok {
		// The interceptors were not installed: refuse rather than serve
		// without access control.
		return nil, unauthenticated("server has no authentication installed")
	}
	if !roleAllows(p.Role, act) {
		return nil, denied(ReasonRoleNotAllowed, "role %s may not %s", p.Role, act)
	}
	if !p.MaySite(siteID) {
		return nil, denied(ReasonSiteNotAllowed, "token %q may not touch site %q", p.Name, siteID)
	}
	return p, nil
}

// authorizeSource checks that the caller may write grid limits of source s.
func authorizeSource(p *Principal, name string, s site.LimitSource) error {
	if sourceAllowed(p.Role, s) {
		return nil
	}
	return denied(ReasonSourceNotAllowed, "%s: role %s may not write grid limits with source %s", name, p.Role, sourceToProto(s))
}

// unaryInterceptor authenticates unary calls and maps errors.
func (s *Server) unaryInterceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	ctx, err := s.auth.admit(ctx, info.FullMethod)
	if err != nil {
		return nil, toStatus(ctx, s.log, info.FullMethod, err)
	}
	return handler(ctx, req)
}

// streamInterceptor authenticates streaming calls.
func (s *Server) streamInterceptor(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	ctx, err := s.auth.admit(ss.Context(), info.FullMethod)
	if err != nil {
		return toStatus(ss.Context(), s.log, info.FullMethod, err)
	}
	return handler(srv, &principalStream{ServerStream: ss, ctx: ctx})
}

type principalStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (p *principalStream) Context() context.Context { return p.ctx }

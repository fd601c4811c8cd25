package apiserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"strings"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"

	"github.com/smartcharge/smartcharge/site"
)

// ErrorDomain is the google.rpc.ErrorInfo domain of every error (AIP-193).
const ErrorDomain = "smartcharge.dev"

// ErrorInfo reasons; clients may switch on them.
const (
	ReasonInvalidArgument    = "INVALID_ARGUMENT"
	ReasonNotFound           = "RESOURCE_NOT_FOUND"
	ReasonAlreadyExists      = "RESOURCE_ALREADY_EXISTS"
	ReasonEtagMismatch       = "ETAG_MISMATCH"
	ReasonFailedPrecondition = "FAILED_PRECONDITION"
	ReasonUnavailable        = "STORE_UNAVAILABLE"
	ReasonUnauthenticated    = "UNAUTHENTICATED"
	ReasonRoleNotAllowed     = "ROLE_NOT_ALLOWED"
	ReasonSiteNotAllowed     = "SITE_NOT_ALLOWED"
	ReasonSourceNotAllowed   = "LIMIT_SOURCE_NOT_ALLOWED"
	ReasonCanceled           = "CANCELED"
	ReasonDeadlineExceeded   = "DEADLINE_EXCEEDED"
	ReasonInternal           = "INTERNAL"
	ReasonNoControlLoop      = "NO_CONTROL_LOOP"
	ReasonLoopUnavailable    = "CONTROL_LOOP_UNAVAILABLE"
	ReasonNoDelegation       = "NO_DELEGATION"
	ReasonDelegationDown     = "DELEGATION_UNAVAILABLE"
	ReasonStreamSuperseded   = "STREAM_SUPERSEDED"
)

// Sentinel errors of this package.
var (
	// ErrUnauthenticated: no valid credentials came with the call.
	ErrUnauthenticated = errors.New("apiserver: unauthenticated")
	// ErrPermissionDenied: the caller may not do this.
	ErrPermissionDenied = errors.New("apiserver: permission denied")
	// ErrNoControlLoop: the server runs without a control loop
	// (Options.Allocations or Options.Loop is nil).
	ErrNoControlLoop = errors.New("apiserver: no control loop")
	// ErrLoopUnavailable: the control loop cannot take the call now (it is
	// stopping, or failed in a way it did not classify); retryable.
	ErrLoopUnavailable = errors.New("apiserver: control loop unavailable")
	// ErrNoDelegation: the server runs without a delegation hub
	// (Options.Delegation is nil).
	ErrNoDelegation = errors.New("apiserver: no delegation")
	// ErrDelegationUnavailable: the delegation hub cannot take the call
	// now (it is closing, or failed in a way it did not classify);
	// retryable.
	ErrDelegationUnavailable = errors.New("apiserver: delegation unavailable")
	// errDryRun aborts a store transaction after computing a dry run.
	errDryRun = errors.New("apiserver: dry run")
)

// accessError is a refused call with its ErrorInfo reason.
type accessError struct {
	err    error // ErrUnauthenticated or ErrPermissionDenied
	reason string
	msg    string
}

func (e *accessError) Error() string { return e.err.Error() + ": " + e.msg }
func (e *accessError) Unwrap() error { return e.err }

func unauthenticated(msg string) error {
	return &accessError{err: ErrUnauthenticated, reason: ReasonUnauthenticated, msg: msg}
}

func denied(reason, format string, args ...any) error {
	return &accessError{err: ErrPermissionDenied, reason: reason, msg: fmt.Sprintf(format, args...)}
}

// resourceError names the resource a store error is about.
type resourceError struct {
	name string
	err  error
}

func (e *resourceError) Error() string { return e.name + ": " + e.err.Error() }
func (e *resourceError) Unwrap() error { return e.err }

// about tags err with the resource name it concerns.
func about(name string, err error) error {
	if err == nil {
		return nil
	}
	var re *resourceError
	if errors.As(err, &re) {
		return err
	}
	return &resourceError{name: name, err: err}
}

func notFound(name string) error { return about(name, site.ErrNotFound) }

func alreadyExists(name string) error { return about(name, site.ErrAlreadyExists) }

func etagMismatch(name string) error {
	return about(name, fmt.Errorf("%w: etag does not match", site.ErrConflict))
}

func precondition(name, format string, args ...any) error {
	return about(name, fmt.Errorf("%w: "+format, append([]any{site.ErrFailedPrecondition}, args...)...))
}

// fromLoop classifies an error of the control loop: the site package's
// sentinels and context errors keep their meaning; anything else (such as
// the loop being stopped) is ErrLoopUnavailable, with its text.
func fromLoop(err error) error {
	if err == nil {
		return nil
	}
	for _, known := range []error{site.ErrInvalid, site.ErrNotFound, site.ErrAlreadyExists, site.ErrConflict,
		site.ErrFailedPrecondition, site.ErrUnavailable, context.Canceled, context.DeadlineExceeded} {
		if errors.Is(err, known) {
			return err
		}
	}
	return fmt.Errorf("%w: %w", ErrLoopUnavailable, err)
}

// streamError is the error that ends a client stream at one message: its
// field violations are prefixed with the message's place and the
// ErrorInfo says how many messages were accepted before.
type streamError struct {
	err      error
	prefix   string // "requests[3]"
	accepted int64
}

func (e *streamError) Error() string { return e.prefix + ": " + e.err.Error() }
func (e *streamError) Unwrap() error { return e.err }

// renameFields rewrites the fields of a *site.ValidationError in err with
// f; other errors are returned as they are.
func renameFields(err error, f func(string) string) error {
	var ve *site.ValidationError
	if !errors.As(err, &ve) {
		return err
	}
	out := &site.ValidationError{}
	for _, v := range ve.Violations {
		out.Violations = append(out.Violations, site.FieldViolation{Field: f(v.Field), Rule: v.Rule})
	}
	return out
}

// badField is a one-violation *site.ValidationError.
func badField(field, rule string, args ...any) error {
	v := &site.ValidationError{}
	v.Add(field, rule, args...)
	return v
}

// toStatus turns any error of this package or of a site.Store into a gRPC
// status with an ErrorInfo and, where one fits, a BadRequest,
// PreconditionFailure or ResourceInfo detail. It is the only place that
// chooses codes. Errors it does not know become INTERNAL without their
// text, which is logged instead.
func toStatus(ctx context.Context, log *slog.Logger, method string, err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	var (
		code     codes.Code
		reason   string
		msg      = err.Error()
		meta     = map[string]string{}
		details  []protoadapt.MessageV1
		resource string
	)
	var re *resourceError
	if errors.As(err, &re) {
		resource = re.name
		meta["resource"] = re.name
	}
	var se *streamError
	if errors.As(err, &se) {
		meta["accepted_count"] = strconv.FormatInt(se.accepted, 10)
		err = renameFields(se.err, func(f string) string { return joinField(se.prefix, f) })
	}
	var ve *site.ValidationError
	var ae *accessError
	switch {
	case errors.As(err, &ae):
		code, reason, msg = codes.PermissionDenied, ae.reason, ae.Error()
		if errors.Is(ae.err, ErrUnauthenticated) {
			code = codes.Unauthenticated
		}
	case errors.As(err, &ve):
		code, reason = codes.InvalidArgument, ReasonInvalidArgument
		br := &errdetails.BadRequest{}
		for _, v := range ve.Violations {
			br.FieldViolations = append(br.FieldViolations, &errdetails.BadRequest_FieldViolation{
				Field: v.Field, Description: v.Rule,
			})
		}
		details = append(details, br)
		msg = ve.Error()
	case errors.Is(err, site.ErrInvalid):
		// ErrInvalid without violations: name no field rather than lose it.
		code, reason = codes.InvalidArgument, ReasonInvalidArgument
		details = append(details, &errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: "", Description: err.Error()}}})
	case errors.Is(err, site.ErrNotFound):
		code, reason = codes.NotFound, ReasonNotFound
		details = append(details, &errdetails.ResourceInfo{ResourceName: resource, Description: "not found"})
	case errors.Is(err, site.ErrAlreadyExists):
		code, reason = codes.AlreadyExists, ReasonAlreadyExists
		details = append(details, &errdetails.ResourceInfo{ResourceName: resource, Description: "already exists"})
	case errors.Is(err, site.ErrConflict):
		code, reason = codes.Aborted, ReasonEtagMismatch
	case errors.Is(err, site.ErrFailedPrecondition):
		code, reason = codes.FailedPrecondition, ReasonFailedPrecondition
		details = append(details, &errdetails.PreconditionFailure{Violations: []*errdetails.PreconditionFailure_Violation{{
			Type: "STATE", Subject: resource, Description: msg,
		}}})
	case errors.Is(err, site.ErrUnavailable):
		code, reason = codes.Unavailable, ReasonUnavailable
	case errors.Is(err, ErrNoControlLoop):
		code, reason = codes.FailedPrecondition, ReasonNoControlLoop
		details = append(details, &errdetails.PreconditionFailure{Violations: []*errdetails.PreconditionFailure_Violation{{
			Type: "CONFIG", Subject: "control loop", Description: "the server runs without a control loop",
		}}})
	case errors.Is(err, ErrLoopUnavailable):
		code, reason = codes.Unavailable, ReasonLoopUnavailable
	case errors.Is(err, ErrNoDelegation):
		code, reason = codes.FailedPrecondition, ReasonNoDelegation
		details = append(details, &errdetails.PreconditionFailure{Violations: []*errdetails.PreconditionFailure_Violation{{
			Type: "CONFIG", Subject: "delegation", Description: "the server takes no delegated chargers",
		}}})
	case errors.Is(err, ErrDelegationUnavailable):
		code, reason = codes.Unavailable, ReasonDelegationDown
	case errors.Is(err, site.ErrSuperseded):
		code, reason = codes.Aborted, ReasonStreamSuperseded
	case errors.Is(err, context.Canceled):
		code, reason = codes.Canceled, ReasonCanceled
	case errors.Is(err, context.DeadlineExceeded):
		code, reason = codes.DeadlineExceeded, ReasonDeadlineExceeded
	default:
		log.LogAttrs(ctx, slog.LevelError, "internal error", slog.String("method", method), slog.Any("err", err))
		code, reason, msg = codes.Internal, ReasonInternal, "internal error"
	}
	if code != codes.Internal {
		log.LogAttrs(ctx, slog.LevelDebug, "call failed", slog.String("method", method),
			slog.String("code", code.String()), slog.Any("err", err))
	}
	st := status.New(code, msg)
	info := &errdetails.ErrorInfo{Reason: reason, Domain: ErrorDomain, Metadata: meta}
	if ds, derr := st.WithDetails(append([]protoadapt.MessageV1{info}, details...)...); derr == nil {
		st = ds
	}
	return st.Err()
}

// Violation paths: the store and the validators here speak of a site.Config
// ("site.grid_limit.l1", "circuits[2].limit.l1"); requests name their own
// fields ("circuit.limit.l1", "config.circuits[2].limit.l1"). A locator
// tells, for a resource of the validated config, which request field holds
// it.
type locator func(kind string, index int) (field string, ok bool)

var violationHead = regexp.MustCompile(`^(site|circuits|chargers|grid_limits|limits)(?:\[(\d+)\])?(?:\.(.*))?$`)

// renameTail turns the domain's "id" of a resource (see the site package's
// Validation section) into the API's "name".
func renameTail(tail string) string {
	head, rest, _ := strings.Cut(tail, ".")
	if head == "id" || head == "site_id" {
		return joinField("name", rest)
	}
	return tail
}

// relocate rewrites the violations of a config-level *site.ValidationError
// in err to request fields: a violation on a resource the request holds
// names its field; one on a resource it does not (a sibling the change
// conflicts with) names fallback and says which resource in the rule.
// Other errors are returned as they are.
func relocate(err error, cfg *site.Config, loc locator, fallback string) error {
	var ve *site.ValidationError
	if !errors.As(err, &ve) {
		return err
	}
	out := &site.ValidationError{}
	for _, v := range ve.Violations {
		kind, idx, tail := splitViolation(v.Field)
		if kind == "" {
			// not about one resource (e.g. "circuits"): name the request
			// field and keep the path in the rule
			rule := v.Rule
			if v.Field != "" {
				rule = v.Field + ": " + rule
			}
			out.Add(fallback, "%s", rule)
			continue
		}
		if f, ok := loc(kind, idx); ok {
			out.Add(joinField(f, renameTail(tail)), "%s", v.Rule)
			continue
		}
		res := resourceNameAt(cfg, kind, idx)
		rule := v.Rule
		if tail != "" {
			rule = renameTail(tail) + ": " + rule
		}
		out.Add(fallback, "%s: %s", res, rule)
	}
	return out
}

// splitViolation splits "circuits[2].limit.l1" into ("circuits", 2,
// "limit.l1"); site fields with or without a "site." prefix give ("site",
// 0, tail). Unknown shapes give kind "".
func splitViolation(field string) (kind string, index int, tail string) {
	m := violationHead.FindStringSubmatch(field)
	if m == nil {
		if field == "" {
			return "", 0, ""
		}
		return "site", 0, field
	}
	kind = m[1]
	if kind == "limits" {
		kind = "grid_limits"
	}
	if kind != "site" && m[2] == "" {
		// the whole collection, e.g. "circuits": not one resource
		return "", 0, field
	}
	if m[2] != "" {
		index, _ = strconv.Atoi(m[2])
	}
	return kind, index, m[3]
}

func joinField(prefix, tail string) string {
	switch {
	case prefix == "":
		return tail
	case tail == "":
		return prefix
	}
	return prefix + "." + tail
}

func resourceNameAt(cfg *site.Config, kind string, i int) string {
	if cfg == nil {
		return kind
	}
	s := cfg.Site.ID
	switch kind {
	case "site":
		return siteName(s)
	case "circuits":
		if i < len(cfg.Circuits) {
			return childName(s, collCircuits, cfg.Circuits[i].ID)
		}
	case "chargers":
		if i < len(cfg.Chargers) {
			return childName(s, collChargers, cfg.Chargers[i].ID)
		}
	case "grid_limits":
		if i < len(cfg.Limits) {
			return childName(s, collGridLimits, cfg.Limits[i].ID)
		}
	}
	return fmt.Sprintf("%s[%d]", kind, i)
}

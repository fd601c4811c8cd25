package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"go.yaml.in/yaml/v3"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/smartcharge/smartcharge/proto/smartcharge/v1"
	"github.com/smartcharge/smartcharge/site/sitefile"
)

// printProto writes m as JSON (protojson with the proto field names) or as
// YAML of that JSON.
func printProto(w io.Writer, format string, m proto.Message) error {
	data, err := protojson.MarshalOptions{Multiline: true, Indent: "  ", UseProtoNames: true}.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode %T: %w", m, err)
	}
	if format == "json" {
		_, err = fmt.Fprintf(w, "%s\n", data)
		return err
	}
	out, err := jsonToYAML(data)
	if err != nil {
		return err
	}
	_, err = w.Write(out)
	return err
}

// jsonToYAML re-encodes JSON as block-style YAML, keeping the key order.
func jsonToYAML(data []byte) ([]byte, error) {
	var n yaml.Node
	if err := yaml.Unmarshal(data, &n); err != nil {
		return nil, fmt.Errorf("convert JSON to YAML: %w", err)
	}
	plain(&n)
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&n); err != nil {
		return nil, fmt.Errorf("convert JSON to YAML: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("convert JSON to YAML: %w", err)
	}
	return buf.Bytes(), nil
}

// plain drops JSON's flow style and quotes; the encoder quotes again where
// YAML needs it.
func plain(n *yaml.Node) {
	n.Style = 0
	for _, c := range n.Content {
		plain(c)
	}
}

// newTable returns an aligned table writer; call Flush when done.
func newTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
}

// row writes one tab-separated table row.
func row(w io.Writer, cells ...string) {
	fmt.Fprintln(w, strings.Join(cells, "\t"))
}

// num formats a number without trailing zeros.
// num formats a number without float noise (83.19999999999999 is 83.2):
// milli-units are the finest any of our values carries.
func num(f float64) string { return strconv.FormatFloat(math.Round(f*1000)/1000, 'f', -1, 64) }

// amps formats a per-phase current: "63" when equal on all phases, else
// "63/50/40"; "-" when unset.
func amps(p *pb.PhaseCurrents) string {
	if p == nil || (p.L1 == 0 && p.L2 == 0 && p.L3 == 0) {
		return "-"
	}
	if p.L1 == p.L2 && p.L2 == p.L3 {
		return num(p.L1)
	}
	return num(p.L1) + "/" + num(p.L2) + "/" + num(p.L3)
}

// kW formats an optional power limit.
func kW(f float64) string {
	if f == 0 {
		return "-"
	}
	return num(f)
}

// when formats a time in loc (UTC if nil); "-" when unset.
func when(t *timestamppb.Timestamp, loc *time.Location) string {
	if t == nil {
		return "-"
	}
	if loc == nil {
		loc = time.UTC
	}
	return t.AsTime().In(loc).Format(time.RFC3339)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// lastSegment gives the ID of a resource name: "sites/a/chargers/b" -> "b".
func lastSegment(name string) string {
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		return name[i+1:]
	}
	return name
}

var sourceNames = map[pb.GridLimitSource]string{
	pb.GridLimitSource_GRID_LIMIT_SOURCE_OWNER:         "owner",
	pb.GridLimitSource_GRID_LIMIT_SOURCE_EMS:           "ems",
	pb.GridLimitSource_GRID_LIMIT_SOURCE_GRID_OPERATOR: "grid-operator",
	pb.GridLimitSource_GRID_LIMIT_SOURCE_CONNECTION:    "connection",
}

func sourceName(s pb.GridLimitSource) string {
	if n, ok := sourceNames[s]; ok {
		return n
	}
	return "unspecified"
}

func parseSource(s string) (pb.GridLimitSource, bool) {
	for v, n := range sourceNames {
		if n == s && v != pb.GridLimitSource_GRID_LIMIT_SOURCE_CONNECTION {
			return v, true
		}
	}
	return 0, false
}

// rotationName gives "RST" for PHASE_ROTATION_RST, "-" when unspecified.
func rotationName(r pb.PhaseRotation) string {
	if r == pb.PhaseRotation_PHASE_ROTATION_UNSPECIFIED {
		return "-"
	}
	return strings.TrimPrefix(r.String(), "PHASE_ROTATION_")
}

// stateName gives "charging" for EVSE_STATE_CHARGING.
func stateName(s pb.EvseState) string {
	if s == pb.EvseState_EVSE_STATE_UNSPECIFIED {
		return "unknown"
	}
	return strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(s.String(), "EVSE_STATE_")), "_", "-")
}

// printError writes err readably: each problem of a site file or each
// field of a refused request on its own line.
func printError(w io.Writer, err error) {
	var fe *sitefile.Error
	if errors.As(err, &fe) {
		fmt.Fprintf(w, "error: the site file has %d problem%s; nothing was applied:\n", len(fe.Errors), plural(len(fe.Errors)))
		for _, e := range fe.Errors {
			fmt.Fprintf(w, "  %s\n", e)
		}
		return
	}
	var fileErr *fileStatusError
	if errors.As(err, &fileErr) {
		printStatus(w, fileErr.st, fileErr.file)
		return
	}
	if st, ok := status.FromError(unwrapStatus(err)); ok && st.Code() != codes.OK {
		printStatus(w, st, nil)
		return
	}
	fmt.Fprintf(w, "error: %v\n", err)
}

// unwrapStatus finds a gRPC status error inside err.
func unwrapStatus(err error) error {
	for e := err; e != nil; e = errors.Unwrap(e) {
		if _, ok := e.(interface{ GRPCStatus() *status.Status }); ok {
			return e
		}
	}
	return err
}

// fileStatusError is a server error about a request made from a site
// file: its field violations are reported at the file's lines.
type fileStatusError struct {
	st   *status.Status
	file *sitefile.File
}

func (e *fileStatusError) Error() string { return e.st.Err().Error() }

func printStatus(w io.Writer, st *status.Status, file *sitefile.File) {
	msg := st.Message()
	// A message that is itself a status error's text says its code twice.
	if rest, ok := strings.CutPrefix(msg, "rpc error: code = "); ok {
		if _, after, found := strings.Cut(rest, " desc = "); found {
			msg = after
		}
	}
	fmt.Fprintf(w, "error: %s: %s\n", codeName(st.Code()), msg)
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *errdetails.BadRequest:
			for _, v := range d.GetFieldViolations() {
				if file != nil && strings.HasPrefix(v.GetField(), "config.") {
					fmt.Fprintf(w, "  %s\n", file.At(strings.TrimPrefix(v.GetField(), "config."), v.GetDescription()))
					continue
				}
				if v.GetField() == "" {
					fmt.Fprintf(w, "  %s\n", v.GetDescription())
					continue
				}
				fmt.Fprintf(w, "  %s: %s\n", v.GetField(), v.GetDescription())
			}
		case *errdetails.PreconditionFailure:
			for _, v := range d.GetViolations() {
				if !strings.Contains(msg, v.GetDescription()) {
					fmt.Fprintf(w, "  %s: %s\n", v.GetSubject(), v.GetDescription())
				}
			}
		case *errdetails.ErrorInfo:
			if d.GetReason() != "" {
				fmt.Fprintf(w, "  reason: %s\n", d.GetReason())
			}
		}
	}
	switch st.Code() {
	case codes.Unavailable:
		fmt.Fprintln(w, "  (is smartcharged running at --server, and is --tls/--insecure right?)")
	case codes.Unauthenticated:
		fmt.Fprintln(w, "  (pass a token with --token or SMARTCHARGE_TOKEN)")
	case codes.Aborted:
		fmt.Fprintln(w, "  (someone changed it meanwhile: read it again and retry)")
	}
}

// codeName spells a code the way the API documentation does.
func codeName(c codes.Code) string {
	var b strings.Builder
	for i, r := range c.String() {
		if i > 0 && r >= 'A' && r <= 'Z' {
			b.WriteByte('_')
		}
		b.WriteRune(r)
	}
	return strings.ToUpper(b.String())
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

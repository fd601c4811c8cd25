// Package sitefile reads and writes the declarative YAML site file: one
// site with its grid connection, circuit tree, chargers and grid limits,
// the input of "smartchargectl apply -f".
//
// # Format
//
// The file is a YAML mapping with the keys site, circuits, chargers and
// grid_limits. Field names are the snake_case names of the gRPC API, with
// the unit as a suffix (limit_a, nominal_voltage_v, power_limit_kw). A
// per-phase limit is written either as a mapping {l1_a, l2_a, l3_a} or as a
// scalar shorthand (grid_limit_a, limit_a) meaning the same value on all
// three phases. A charger lists its EVSEs under evses, or gives evse_count
// together with per-EVSE defaults (max_current_a, min_current_a, phases,
// can_switch_phases) at charger level; those defaults also fill fields an
// entry of evses leaves out. EVSEs are numbered from 1 in order. The
// format is described for users in docs/site-file.md.
//
// # Errors
//
// [Parse] refuses a file whole: unknown keys, values of the wrong type,
// values given twice or in the wrong place, YAML aliases, and every rule
// [site.Config.Validate] enforces. It reports all of them at once in an
// [*Error], each as file:line:col, the field path and what was expected.
// Validation errors name fields by path; Parse keeps an index from path to
// the position of the node it read, so each is reported at its line.
//
// Three equal errors about l1_a, l2_a and l3_a of a limit given as one
// value are reported once, about that value.
//
// # Use
//
// Call [Parse] on the file's bytes and pass the result to the store or the
// API; it has passed validation. [ParseFile] also keeps the positions, so
// that errors found later about the same configuration (a server's field
// violations) can be reported at their line with [File.At]. Generations, times and password hashes are
// not part of the file and are left zero. [Marshal] writes a Config back in
// the same format, so that Parse(Marshal(c)) gives c again (apart from those
// fields).
package sitefile

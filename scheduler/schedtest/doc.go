// Package schedtest is a test harness for package scheduler and for the
// code that drives it (the control loop).
//
// It offers random inputs (a rapid generator for property tests and a
// seeded site builder for benchmarks and load tests) and invariant checkers
// that look only at the input and the output, written independently of the
// scheduler's internals:
//
//   - [CheckLimits]: rule 1, every node and phase within its limits (phase,
//     power, imbalance), uncontrolled EVSEs counted, infeasible nodes
//     reported.
//   - [CheckBounds]: every limit is 0 or within the EVSE's [min, max], and
//     counted on the phases the car draws on.
//
// Use it only from tests.
package schedtest

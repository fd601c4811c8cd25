//go:build race

package e2e

// raceEnabled: the daemon under test is built with -race too.
const raceEnabled = true

package main

import (
	"io"
	"strings"
	"testing"
	"time"

	"github.com/smartcharge/smartcharge/scheduler"
)

// TestSafetyMarginSetting: loop.safety_margin_a in the config file,
// --safety-margin and its environment twin reach the scheduler
// configuration the loop is given; the flag wins over the file; bad values
// are named.
func TestSafetyMarginSetting(t *testing.T) {
	dir := t.TempDir()
	file := func(name, body string) string { return writeFile(t, dir, name, body) }
	margin3 := file("m3.yaml", "loop:\n  safety_margin_a: 3\n")
	zero := file("zero.yaml", "loop:\n  safety_margin_a: 0\n")
	negative := file("neg.yaml", "loop:\n  safety_margin_a: -1\n")
	huge := file("huge.yaml", "loop:\n  safety_margin_a: 50\n")
	withDwell := file("dwell.yaml", "loop:\n  safety_margin_a: 2.5\n  min_dwell: 5m\n")
	def := scheduler.DefaultConfig()
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		want    *scheduler.Amps // nil: the loop keeps its default configuration
		dwell   time.Duration   // wanted MinDwell when want is set (0: default)
		wantErr string
	}{
		{name: "unset keeps the loop default", want: nil},
		{name: "config file", args: []string{"--config", margin3}, want: amps(3)},
		{name: "zero is a setting, not unset", args: []string{"--config", zero}, want: amps(0)},
		{name: "flag", args: []string{"--safety-margin", "4.5"}, want: amps(4.5)},
		{name: "environment twin", env: map[string]string{"SMARTCHARGE_SAFETY_MARGIN": "2"}, want: amps(2)},
		{name: "flag wins over environment", args: []string{"--safety-margin", "1"}, env: map[string]string{"SMARTCHARGE_SAFETY_MARGIN": "2"}, want: amps(1)},
		{name: "flag wins over config file", args: []string{"--config", margin3, "--safety-margin", "1.5"}, want: amps(1.5)},
		{name: "other loop settings kept", args: []string{"--config", withDwell}, want: amps(2.5), dwell: 5 * time.Minute},
		{name: "negative in file named", args: []string{"--config", negative}, wantErr: "loop.safety_margin_a"},
		{name: "too large in file named", args: []string{"--config", huge}, wantErr: "want 0 to 20 A"},
		{name: "negative flag named", args: []string{"--safety-margin", "-2"}, wantErr: "--safety-margin"},
		{name: "not a number", args: []string{"--safety-margin", "lots"}, wantErr: "safety-margin"},
		{name: "bad environment value named", env: map[string]string{"SMARTCHARGE_SAFETY_MARGIN": "NaN"}, wantErr: "SMARTCHARGE_SAFETY_MARGIN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseConfig(tt.args, func(k string) string { return tt.env[k] }, io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			sc := c.File.Loop.schedulerConfig()
			if tt.want == nil {
				if sc != nil {
					t.Fatalf("scheduler config = %+v, want nil (loop default)", *sc)
				}
				return
			}
			if sc == nil {
				t.Fatalf("scheduler config nil, want margin %v", *tt.want)
			}
			if sc.SafetyMargin != *tt.want {
				t.Errorf("SafetyMargin = %v, want %v", sc.SafetyMargin, *tt.want)
			}
			wantDwell := def.MinDwell
			if tt.dwell > 0 {
				wantDwell = tt.dwell
			}
			if sc.MinDwell != wantDwell || sc.DeadBand != def.DeadBand || sc.Step != def.Step {
				t.Errorf("other settings changed: %+v, want defaults with MinDwell %v", *sc, wantDwell)
			}
		})
	}
}

func amps(a float64) *scheduler.Amps { v := scheduler.Amps(a); return &v }

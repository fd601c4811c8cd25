package main

import "testing"

func TestNumHasNoFloatNoise(t *testing.T) {
	tests := []struct {
		desc string
		in   float64
		want string
	}{
		{desc: "integer", in: 63, want: "63"},
		{desc: "one decimal", in: 69.3, want: "69.3"},
		{desc: "sum with float noise", in: 83.19999999999999, want: "83.2"},
		{desc: "milli-amps kept", in: 0.125, want: "0.125"},
		{desc: "negative", in: -4.000000000001, want: "-4"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			if got := num(tt.in); got != tt.want {
				t.Errorf("num(%v) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

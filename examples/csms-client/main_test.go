package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestBuilds builds the example as a user would and keeps it short: a
// CSMS integrates in under 150 lines.
func TestBuilds(t *testing.T) {
	src, err := os.ReadFile("main.go")
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(src, []byte("\n")); n >= 150 {
		t.Errorf("main.go has %d lines, want under 150", n)
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("go tool not in PATH: %v", err)
	}
	out := filepath.Join(t.TempDir(), "csms-client")
	cmd := exec.Command(gobin, "build", "-o", out, ".")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	if b, err := exec.Command(out, "-h").CombinedOutput(); !bytes.Contains(b, []byte("-token")) {
		t.Errorf("csms-client -h: %v\n%s", err, b)
	}
}

package scheduler_test

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The scheduler is pure: it imports only the standard library (no package
// of this module, not even site/), nothing that does I/O, runs goroutines
// or reads randomness, and never reads the clock.
func TestSchedulerIsPure(t *testing.T) {
	forbidden := map[string]bool{
		"os": true, "io": true, "net": true, "net/http": true, "log": true, "log/slog": true,
		"sync": true, "math/rand": true, "math/rand/v2": true, "crypto/rand": true, "unsafe": true,
	}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if strings.Contains(strings.SplitN(p, "/", 2)[0], ".") {
				t.Errorf("%s imports %s: only the standard library is allowed", name, p)
			}
			if forbidden[p] {
				t.Errorf("%s imports %s: the scheduler does no I/O, runs no goroutines, draws no randomness", name, p)
			}
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, bad := range []string{"time.Now(", "time.Since(", "time.Until(", "go func", "init()"} {
			if strings.Contains(string(src), bad) {
				t.Errorf("%s uses %s: time comes in the input, no goroutines, no init", name, bad)
			}
		}
	}
}

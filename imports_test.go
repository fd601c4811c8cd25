// Package smartcharge_test holds repository-wide checks. The module root has
// no code of its own.
package smartcharge_test

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/smartcharge/smartcharge"

// allowed lists, for each top-level package tree, the trees of this module
// it may import. Imports point one way: cmd wires everything; the loop uses
// scheduler and site; ocppadapter and the gRPC layer use site; scheduler
// uses nothing of ours. A new top-level package must be added here.
var allowed = map[string][]string{
	"scheduler":   {"scheduler"},
	"site":        {"site"},
	"proto":       {"proto"},
	"ocppadapter": {"ocppadapter", "site"},
	"apiserver":   {"apiserver", "site", "proto"},
	"loop":        {"loop", "scheduler", "site"},
	"sim":         {"sim", "site"},
	"cmd":         {"*"},
	"examples":    {"proto", "examples"},
	"e2e":         {"*"},
	"delegate":    {"delegate", "site"},
	"planning":    {"planning", "scheduler", "site"},
}

// testAllowed lists what the test files of a tree may import on top of
// allowed: integration tests that wire the real parts together, as
// cmd does (delegate's tests run the real control loop behind the real
// gRPC server, configured with a scheduler.Config).
var testAllowed = map[string][]string{
	"delegate": {"apiserver", "proto", "loop", "scheduler"},
}

func TestImportDirection(t *testing.T) {
	fset := token.NewFileSet()
	checked := 0
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			name := d.Name()
			// tmp/ and bin/ are scratch space, ignored by git.
			if path != "." && (strings.HasPrefix(name, ".") || name == "testdata" || name == "node_modules" || name == "vendor" || path == "tmp" || path == "bin") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || filepath.Dir(path) == "." {
			return nil
		}
		top := strings.Split(filepath.ToSlash(path), "/")[0]
		rules, ok := allowed[top]
		if !ok {
			t.Errorf("%s: top-level package %q has no import rule; add one to allowed in imports_test.go", path, top)
			return nil
		}
		if strings.HasSuffix(path, "_test.go") {
			rules = append(append([]string(nil), rules...), testAllowed[top]...)
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		checked++
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if p != module && !strings.HasPrefix(p, module+"/") {
				continue
			}
			target := strings.Split(strings.TrimPrefix(strings.TrimPrefix(p, module), "/"), "/")[0]
			if !permits(rules, target) {
				t.Errorf("%s imports %s: %s may import only %v", path, p, top, rules)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked == 0 {
		t.Fatal("no Go files checked: the walk is broken")
	}
}

func permits(rules []string, target string) bool {
	for _, r := range rules {
		if r == "*" || r == target {
			return true
		}
	}
	return false
}

// TestImportRuleCatchesViolation makes sure the rule table can fail.
func TestImportRuleCatchesViolation(t *testing.T) {
	if permits(allowed["scheduler"], "site") {
		t.Error("scheduler may import site: the rule table lost its purity rule")
	}
	if permits(allowed["delegate"], "loop") || permits(allowed["delegate"], "apiserver") {
		t.Error("delegate may import loop or apiserver outside its tests")
	}
	if permits(allowed["ocppadapter"], "apiserver") {
		t.Error("ocppadapter may import apiserver")
	}
	if _, err := os.Stat("go.mod"); err != nil {
		t.Fatalf("run from the module root: %v", err)
	}
}

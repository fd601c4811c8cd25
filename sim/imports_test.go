package sim

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestImportsOnlySite keeps the simulator an independent OCPP client: of
// this module it may import package site and nothing else (in particular
// not ocppadapter, whose behaviour it is meant to check).
func TestImportsOnlySite(t *testing.T) {
	const module = "github.com/smartcharge/smartcharge"
	files, err := filepath.Glob("*.go")
	if err != nil || len(files) == 0 {
		t.Fatalf("no files: %v", err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		f, err := parser.ParseFile(fset, name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if strings.HasPrefix(p, module+"/") && p != module+"/site" {
				t.Errorf("%s imports %s: sim may import only %s/site", name, p, module)
			}
		}
	}
}

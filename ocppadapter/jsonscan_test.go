package ocppadapter

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// FuzzJSONScanner checks the fast JSON reader against encoding/json (as
// the schema library's own UnmarshalJSON uses it): the same inputs are
// valid and give the same value tree.
func FuzzJSONScanner(f *testing.F) {
	for _, s := range []string{`{}`, `[]`, `{"a":[1,2.5e3,-0,"x\u00e9\ud83d\ude00",true,false,null]}`, `"\ud800"`, `"\ud800\u0041"`,
		"\"bad \xff utf8\"", `01`, `1.`, `{"a":1,}`, `[1 2]`, ` {"k" : "v"} `, `"\u0000"`, `{"a":{"a":{"a":{}}}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := parseJSONValue(data)
		if err != nil && strings.Contains(err.Error(), "nested too deep") {
			return
		}
		want, werr := jsonschema.UnmarshalJSON(bytes.NewReader(data))
		if (err == nil) != (werr == nil) {
			t.Fatalf("%q: fast reader error %v, encoding/json error %v", data, err, werr)
		}
		if verr := validJSON(data); (verr == nil) != (err == nil) {
			t.Fatalf("%q: validJSON %v, parse %v", data, verr, err)
		}
		if err == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: got %#v, want %#v", data, got, want)
		}
		if err == nil && json.Valid(data) != true {
			t.Fatalf("%q accepted but json.Valid says no", data)
		}
	})
}

package main

import (
	"bytes"
	"encoding/csv"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	pb "github.com/smartcharge/smartcharge/proto/smartcharge/v1"
)

func TestParsePriceCSV(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in      string
		imports []float64
		exports int
		co2     int
		err     string
	}{
		{"import only", "start,import\n2026-11-25T17:00:00Z,0.38\n2026-11-25T19:00:00+01:00,0.12\n", []float64{0.38, 0.12}, 0, 0, ""},
		{"all columns, any order, gaps", "co2,start,import,export\n400,2026-11-25T17:00:00Z,0.38,0.07\n,2026-11-25T18:00:00Z,0.2,\n", []float64{0.38, 0.2}, 1, 1, ""},
		{"spaces, BOM and upper case header", "\ufeffStart, Import\n2026-11-25T17:00:00Z, -0.01\n", []float64{-0.01}, 0, 0, ""},
		{"empty", "", nil, 0, 0, "empty file"},
		{"header only", "start,import\n", nil, 0, 0, "no rows"},
		{"unknown column", "start,import,price\n", nil, 0, 0, `line 1: unknown column "price"`},
		{"no import column", "start,export\n", nil, 0, 0, "no import column"},
		{"no start column", "import\n0.1\n", nil, 0, 0, "no start column"},
		{"duplicate column", "start,import,import\n", nil, 0, 0, `column "import" twice`},
		{"bad time", "start,import\n25.11.2026 17:00,0.3\n", nil, 0, 0, "line 2: start"},
		{"out of order", "start,import\n2026-11-25T18:00:00Z,0.3\n2026-11-25T17:00:00Z,0.3\n", nil, 0, 0, "line 3: start"},
		{"not a number", "start,import\n2026-11-25T17:00:00Z,cheap\n", nil, 0, 0, `line 2: import "cheap"`},
		{"NaN", "start,import\n2026-11-25T17:00:00Z,NaN\n", nil, 0, 0, "not a number"},
		{"empty import", "start,import,export\n2026-11-25T17:00:00Z,,0.1\n", nil, 0, 0, "line 2: import is empty"},
		{"short row", "start,import,export\n2026-11-25T17:00:00Z,0.1\n", nil, 0, 0, "line 2: 2 fields"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := parsePriceCSV(strings.NewReader(tc.in))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []float64
			for _, pt := range p.GetImportPrices() {
				got = append(got, pt.GetValue())
			}
			if len(got) != len(tc.imports) || len(p.GetExportPrices()) != tc.exports || len(p.GetCo2Intensity()) != tc.co2 {
				t.Fatalf("import %v export %d co2 %d", got, len(p.GetExportPrices()), len(p.GetCo2Intensity()))
			}
			for i := range got {
				if got[i] != tc.imports[i] {
					t.Fatalf("import %v, want %v", got, tc.imports)
				}
			}
		})
	}
}

// writePriceCSV writes p in the format parsePriceCSV reads.
func writePriceCSV(p *pb.Prices) string {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	_ = w.Write([]string{"start", "import", "export", "co2"})
	find := func(pts []*pb.TimeSeriesPoint, at time.Time) string {
		for _, x := range pts {
			if x.GetStartTime().AsTime().Equal(at) {
				return strconv.FormatFloat(x.GetValue(), 'g', -1, 64)
			}
		}
		return ""
	}
	for _, x := range p.GetImportPrices() {
		at := x.GetStartTime().AsTime()
		_ = w.Write([]string{at.Format(time.RFC3339Nano), find(p.GetImportPrices(), at), find(p.GetExportPrices(), at), find(p.GetCo2Intensity(), at)})
	}
	w.Flush()
	return b.String()
}

// FuzzParsePriceCSV: a price file never panics the parser; what it
// accepts has finite values, strictly increasing starts, an import price
// on every row, and reads back the same when written out again.
func FuzzParsePriceCSV(f *testing.F) {
	for _, s := range []string{
		"start,import\n2026-11-25T17:00:00Z,0.38\n2026-11-25T18:00:00Z,0.12\n",
		"co2,start,import,export\n400,2026-11-25T17:00:00Z,0.38,0.07\n,2026-11-25T18:00:00Z,0.2,\n",
		"start,import\n\"2026-11-25T17:00:00Z\",1e3\n", "start,import\n", "", "\ufeffstart,import\n2026-11-25T17:00:00.5+02:00,-0\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		p, err := parsePriceCSV(strings.NewReader(in))
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		var last time.Time
		for i, x := range p.GetImportPrices() {
			at := x.GetStartTime().AsTime()
			if i > 0 && !at.After(last) {
				t.Fatalf("starts not increasing at %d", i)
			}
			last = at
		}
		for _, s := range [][]*pb.TimeSeriesPoint{p.GetImportPrices(), p.GetExportPrices(), p.GetCo2Intensity()} {
			for _, x := range s {
				if math.IsNaN(x.GetValue()) || math.IsInf(x.GetValue(), 0) || x.GetStartTime().CheckValid() != nil {
					t.Fatalf("bad point %v", x)
				}
			}
		}
		again, err := parsePriceCSV(strings.NewReader(writePriceCSV(p)))
		if err != nil {
			t.Fatalf("written out, it does not parse: %v\n%s", err, writePriceCSV(p))
		}
		if len(again.GetImportPrices()) != len(p.GetImportPrices()) || len(again.GetExportPrices()) != len(p.GetExportPrices()) || len(again.GetCo2Intensity()) != len(p.GetCo2Intensity()) {
			t.Fatalf("round trip changed the series:\n%v\n%v", p, again)
		}
		for i, x := range again.GetImportPrices() {
			if x.GetValue() != p.GetImportPrices()[i].GetValue() || !x.GetStartTime().AsTime().Equal(p.GetImportPrices()[i].GetStartTime().AsTime()) {
				t.Fatalf("round trip changed point %d", i)
			}
		}
	})
}

func TestPlanPricesCommand(t *testing.T) {
	c := ctl{t: t, addr: startPlanServer(t, true)}
	file := writeFile(t, "prices.csv",
		"start,import,export,co2\n2026-11-25T17:00:00Z,0.38,0.07,420\n2026-11-25T21:00:00Z,0.12,,300\n2026-11-26T06:00:00Z,0.31,,\n")
	out := c.ok("plan", "prices", "--site", "alpha", "--file", file, "--currency", "EUR")
	mustContain(t, "plan prices", out, "sites/alpha/prices set: 3 import, 1 export, 2 CO2 points")
	js := c.ok("plan", "prices", "--site", "alpha", "--file", file, "-o", "json")
	mustContain(t, "plan prices -o json", js, `"import_prices"`, `"2026-11-25T21:00:00Z"`)
	bad := writeFile(t, "bad.csv", "start,import\n2026-11-25T17:00:00Z,2000\n")
	mustContain(t, "price out of range", c.fails(1, "plan", "prices", "--site", "alpha", "--file", bad), "prices.import_prices[0].value")
	mustContain(t, "bad file", c.fails(1, "plan", "prices", "--site", "alpha", "--file", writeFile(t, "x.csv", "when,import\n")), "unknown column")
	mustContain(t, "no file flag", c.fails(2, "plan", "prices", "--site", "alpha"), "--site and --file are required")
	mustContain(t, "show still works", c.ok("plan", "show", "--site", "alpha", "--slots", "1"), "sites/alpha/plan  seq")
}

package main

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/smartcharge/smartcharge/proto/smartcharge/v1"
)

const planPricesUsage = "smartchargectl plan prices --site S --file FILE.csv [--currency EUR]"

// runPlanPrices sets a site's prices from a CSV file (PlanService.SetPrices):
//
//	start,import,export,co2
//	2026-11-25T17:00:00+01:00,0.38,0.07,420
//	2026-11-25T18:00:00+01:00,0.41,,
//
// start (RFC 3339) and import (per kWh) are required columns; export (per
// kWh) and co2 (g/kWh) are optional, and an empty cell means no point of
// that series at that time. Rows are in order of start.
func runPlanPrices(ctx context.Context, a *app, args []string) error {
	fs := a.flags("plan prices", planPricesUsage)
	var siteFlag, file, currency string
	fs.StringVar(&siteFlag, "site", "", "the site (ID or sites/ID)")
	fs.StringVar(&file, "file", "", "CSV with columns start,import[,export][,co2] (- for standard input)")
	fs.StringVar(&currency, "currency", "", "ISO 4217 code of the prices, e.g. EUR")
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fs.fail("unexpected argument %q", pos[0])
	}
	if siteFlag == "" || file == "" {
		return fs.fail("--site and --file are required")
	}
	var r io.Reader = a.stdin
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return fmt.Errorf("--file: %w", err)
		}
		defer f.Close()
		r = f
	}
	prices, err := parsePriceCSV(r)
	if err != nil {
		return fmt.Errorf("--file %s: %w", file, err)
	}
	prices.Name = "sites/" + siteID(siteFlag) + "/prices"
	prices.CurrencyCode = currency
	return a.connect(ctx, func(ctx context.Context, c *client) error {
		resp, err := c.plans.SetPrices(ctx, &pb.SetPricesRequest{Prices: prices})
		if err != nil {
			return err
		}
		if a.g.output != "table" {
			return printProto(a.stdout, a.g.output, resp)
		}
		p := resp.GetPrices()
		_, err = fmt.Fprintf(a.stdout, "%s set: %d import, %d export, %d CO2 points\n", p.GetName(),
			len(p.GetImportPrices()), len(p.GetExportPrices()), len(p.GetCo2Intensity()))
		return err
	})
}

// maxPriceRows bounds a price file (the server takes 10,000 points per
// series).
const maxPriceRows = 10_000

// parsePriceCSV reads a price file (see runPlanPrices). Errors name the
// line and column.
func parsePriceCSV(r io.Reader) (*pb.Prices, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	head, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, errors.New("empty file: want a header start,import[,export][,co2]")
	}
	if err != nil {
		return nil, err
	}
	col := map[string]int{}
	for i, h := range head {
		h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		switch h {
		case "start", "import", "export", "co2":
		default:
			return nil, fmt.Errorf("line 1: unknown column %q: want start, import, export, co2", h)
		}
		if _, dup := col[h]; dup {
			return nil, fmt.Errorf("line 1: column %q twice", h)
		}
		col[h] = i
	}
	if _, ok := col["start"]; !ok {
		return nil, errors.New("line 1: no start column")
	}
	if _, ok := col["import"]; !ok {
		return nil, errors.New("line 1: no import column")
	}
	p := &pb.Prices{}
	var last time.Time
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		if line-1 > maxPriceRows {
			return nil, fmt.Errorf("line %d: more than %d rows", line, maxPriceRows)
		}
		if len(rec) != len(head) {
			return nil, fmt.Errorf("line %d: %d fields, the header has %d", line, len(rec), len(head))
		}
		start, err := time.Parse(time.RFC3339, strings.TrimSpace(rec[col["start"]]))
		if err == nil {
			err = timestamppb.New(start).CheckValid() // years 1 to 9999
		}
		if err != nil {
			return nil, fmt.Errorf("line %d: start %q: want RFC 3339 such as 2026-11-25T17:00:00+01:00", line, rec[col["start"]])
		}
		if !last.IsZero() && !start.After(last) {
			return nil, fmt.Errorf("line %d: start %s is not after the previous row's", line, rec[col["start"]])
		}
		last = start
		ts := timestamppb.New(start)
		for _, c := range []struct {
			name string
			dst  *[]*pb.TimeSeriesPoint
		}{{"import", &p.ImportPrices}, {"export", &p.ExportPrices}, {"co2", &p.Co2Intensity}} {
			i, ok := col[c.name]
			if !ok {
				continue
			}
			cell := strings.TrimSpace(rec[i])
			if cell == "" {
				if c.name == "import" {
					return nil, fmt.Errorf("line %d: import is empty", line)
				}
				continue
			}
			v, err := strconv.ParseFloat(cell, 64)
			if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, fmt.Errorf("line %d: %s %q: not a number", line, c.name, cell)
			}
			*c.dst = append(*c.dst, &pb.TimeSeriesPoint{StartTime: ts, Value: v})
		}
	}
	if len(p.ImportPrices) == 0 {
		return nil, errors.New("no rows")
	}
	return p, nil
}

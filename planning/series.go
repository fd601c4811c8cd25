package planning

import (
	"time"

	"github.com/smartcharge/smartcharge/site"
)

// Resampling of step-function time series to the planner's slots. A slot
// takes the time-weighted mean of the series over the slot.

// resample returns one value per slot of series pts (a step function:
// each point holds until the next; the last until end). Outside
// [pts[0].Start, end) the value is before (left of the first point) and
// after (from end on).
func resample(pts []site.SeriesPoint, end time.Time, start time.Time, slot time.Duration, n int, before, after func(first, last float64) float64) []float64 {
	if len(pts) == 0 {
		return nil
	}
	first, last := pts[0].Value, pts[len(pts)-1].Value
	out := make([]float64, n)
	j := 0 // the point in force at the slot's start (or -1 before the first)
	for k := range n {
		a := start.Add(time.Duration(k) * slot)
		b := a.Add(slot)
		sum := 0.0
		t := a
		for t.Before(b) {
			// value at t and until when it holds
			for j+1 < len(pts) && !pts[j+1].Start.After(t) {
				j++
			}
			var v float64
			var until time.Time
			switch {
			case t.Before(pts[0].Start):
				v, until = before(first, last), pts[0].Start
			case !end.IsZero() && !t.Before(end):
				v, until = after(first, last), b
			default:
				v = pts[j].Value
				until = b
				if j+1 < len(pts) {
					until = minTime(until, pts[j+1].Start)
				}
				if !end.IsZero() {
					until = minTime(until, end)
				}
			}
			until = minTime(until, b)
			sum += v * until.Sub(t).Seconds()
			t = until
		}
		out[k] = sum / slot.Seconds()
	}
	return out
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// priceSlots resamples a price or CO2 series: before its first point it
// has its first value, after its end its last.
func priceSlots(pts []site.SeriesPoint, end time.Time, start time.Time, slot time.Duration, n int) []float64 {
	return resample(pts, end, start, slot, n,
		func(first, _ float64) float64 { return first },
		func(_, last float64) float64 { return last })
}

// forecastSlots resamples one forecast per phase: 0 outside its points;
// with End zero the last point holds for an hour.
func forecastSlots(f site.Forecast, start time.Time, slot time.Duration, n int) [][3]float64 {
	end := f.End
	if end.IsZero() && len(f.Points) > 0 {
		end = f.Points[len(f.Points)-1].Start.Add(time.Hour)
	}
	zero := func(_, _ float64) float64 { return 0 }
	out := make([][3]float64, n)
	for p := range 3 {
		pts := make([]site.SeriesPoint, len(f.Points))
		for i, x := range f.Points {
			pts[i] = site.SeriesPoint{Start: x.Start, Value: float64(x.Current[p])}
		}
		for k, v := range resample(pts, end, start, slot, n, zero, zero) {
			out[k][p] = v
		}
	}
	return out
}

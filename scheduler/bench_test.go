package scheduler_test

import (
	"fmt"
	"testing"

	"github.com/smartcharge/smartcharge/scheduler"
	"github.com/smartcharge/smartcharge/scheduler/schedtest"
)

// BenchmarkAllocate runs Allocate on schedtest.Site: a three-level tree
// (grid, circuits of ten chargers, chargers of two EVSEs), oversubscribed,
// with mixed single/two/three-phase cars, offline and suspended EVSEs,
// power and imbalance limits. Targets: 100 EVSEs < 100 us, 10,000 < 20 ms.
func BenchmarkAllocate(b *testing.B) {
	for _, n := range []int{10, 100, 1000, 10000} {
		in := schedtest.Site(n, 1)
		b.Run(fmt.Sprintf("evses=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := scheduler.Allocate(in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkAllocateFloors is BenchmarkAllocate with a floor on every EVSE
// (as the control loop sets fallbacks): 6.2 A on every other EVSE, 0 on
// the rest, so some cars are admitted for free and the rest pay above it.
func BenchmarkAllocateFloors(b *testing.B) {
	for _, n := range []int{100, 10000} {
		in := schedtest.Site(n, 1)
		for i := range in.EVSEs {
			if i%2 == 0 {
				in.EVSEs[i].Floor = 6.2
			}
		}
		b.Run(fmt.Sprintf("evses=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := scheduler.Allocate(in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

package apiserver

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/smartcharge/smartcharge/proto/smartcharge/v1"
)

// TestEtagNoLostUpdate: writers race to increment a counter kept in a
// site's display name with read-modify-write under etags (AIP-154). A
// stale write must fail with ABORTED and be retried, so the final count is
// exactly the number of increments: no update is lost. Bounded: 4 writers
// x 15 increments.
func TestEtagNoLostUpdate(t *testing.T) {
	const writers, each = 4, 15
	for _, f := range factories(t) {
		t.Run(f.name, func(t *testing.T) {
			e := newEnv(t, f, envOpts{})
			ctx := as("owner")
			must(e.sites.UpdateSite(ctx, &pb.UpdateSiteRequest{Site: &pb.Site{Name: "sites/alpha", DisplayName: "n=0"}}))(t)

			var wg sync.WaitGroup
			var mu sync.Mutex
			aborted := 0
			errs := make(chan error, writers)
			for w := range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; i < each; {
						s, err := e.sites.GetSite(ctx, &pb.GetSiteRequest{Name: "sites/alpha"})
						if err != nil {
							errs <- err
							return
						}
						n, err := strconv.Atoi(strings.TrimPrefix(s.Site.DisplayName, "n="))
						if err != nil {
							errs <- err
							return
						}
						_, err = e.sites.UpdateSite(ctx, &pb.UpdateSiteRequest{
							Site:       &pb.Site{Name: "sites/alpha", DisplayName: fmt.Sprintf("n=%d", n+1), Etag: s.Site.Etag},
							UpdateMask: mask("display_name"),
						})
						switch status.Code(err) {
						case codes.OK:
							i++
						case codes.Aborted:
							mu.Lock()
							aborted++
							mu.Unlock()
						default:
							errs <- fmt.Errorf("writer %d: %w", w, err)
							return
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			s := must(e.sites.GetSite(ctx, &pb.GetSiteRequest{Name: "sites/alpha"}))(t)
			if want := fmt.Sprintf("n=%d", writers*each); s.Site.DisplayName != want {
				t.Fatalf("final %q, want %q: an update was lost", s.Site.DisplayName, want)
			}
			t.Logf("%d stale writes were refused with ABORTED", aborted)
		})
	}
}

// TestConcurrentDistinctWrites: writers adding different circuits to one
// site at once (no etags). Every write that returned OK is stored and every
// write refused with ABORTED (the store gave up under contention) is not:
// the server re-applies its change when the store retries, so nothing
// acknowledged is lost.
func TestConcurrentDistinctWrites(t *testing.T) {
	const writers = 6
	for _, f := range factories(t) {
		t.Run(f.name, func(t *testing.T) {
			e := newEnv(t, f, envOpts{})
			ctx := as("owner")
			codesOf := make([]codes.Code, writers)
			var wg sync.WaitGroup
			for w := range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, err := e.circuits.CreateCircuit(ctx, &pb.CreateCircuitRequest{Parent: "sites/alpha", CircuitId: fmt.Sprintf("w%d", w),
						Circuit: &pb.Circuit{Parent: "sites/alpha/circuits/main", Limit: pc(10)}})
					codesOf[w] = status.Code(err)
				}()
			}
			wg.Wait()
			list := must(e.circuits.ListCircuits(ctx, &pb.ListCircuitsRequest{Parent: "sites/alpha", PageSize: 100}))(t)
			got := map[string]bool{}
			for _, c := range list.Circuits {
				got[c.Name] = true
			}
			ok := 0
			for w, code := range codesOf {
				n := fmt.Sprintf("sites/alpha/circuits/w%d", w)
				switch code {
				case codes.OK:
					ok++
					if !got[n] {
						t.Errorf("%s was acknowledged but is gone", n)
					}
				case codes.Aborted:
					if got[n] {
						t.Errorf("%s was refused but is stored", n)
					}
				default:
					t.Errorf("writer %d: %v", w, code)
				}
			}
			if ok == 0 {
				t.Fatal("no writer succeeded")
			}
		})
	}
}

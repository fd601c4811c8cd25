package main

import (
	"io"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/smartcharge/smartcharge/loop"
	"github.com/smartcharge/smartcharge/site"
	"github.com/smartcharge/smartcharge/site/redisstore"
)

// TestProxyLoopLevels: in local controller mode the loop's profiles go
// into the stack levels and profile ids ocpp.proxy reserves (defaults
// 4..5 and 1000..3999), the loop accepts the result, and ranges that
// cannot hold them are named.
func TestProxyLoopLevels(t *testing.T) {
	dir := t.TempDir()
	up := "ocpp:\n  proxy:\n    upstreams:\n      depot: {url: \"ws://127.0.0.1:9/ocpp\"}\n"
	st := redisstore.New(redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}), nil) // never dialled
	t.Cleanup(func() { st.Close() })
	for _, tc := range []struct {
		name                 string
		extra                string
		fb, dyn, top, idBase int
		wantErr              string
	}{
		{name: "defaults", fb: 4, dyn: 5, top: 5, idBase: 1000},
		{name: "higher band", extra: "    reserved_stack_levels: [6, 8]\n", fb: 6, dyn: 7, top: 8, idBase: 1000},
		{name: "other ids", extra: "    reserved_profile_ids: [50000, 59999]\n", fb: 4, dyn: 5, top: 5, idBase: 50000},
		{name: "direct-mode levels still possible", extra: "    reserved_stack_levels: [0, 1]\n", fb: 0, dyn: 1, top: 1, idBase: 1000},
		{name: "one stack level", extra: "    reserved_stack_levels: [4, 4]\n", wantErr: "reserved_stack_levels"},
		{name: "id range too small", extra: "    reserved_profile_ids: [1000, 2999]\n", wantErr: "reserved_profile_ids [1000 2999]: must hold the loop's profile ids 1001..3032"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := writeFile(t, dir, strings.ReplaceAll(tc.name, " ", "_")+".yaml", up+tc.extra)
			c, err := parseConfig([]string{"--config", file}, func(string) string { return "" }, io.Discard)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			px, err := c.File.OCPP.Proxy.adapterConfig()
			if err != nil {
				t.Fatal(err)
			}
			lc := loop.Config{Store: st, LoopState: st, Control: &site.ControlRouter{}}
			if err := proxyLoopLevels(px, &lc); err != nil {
				t.Fatal(err)
			}
			if lc.FallbackStackLevel != tc.fb || lc.StackLevel != tc.dyn || lc.MaxStackLevel != tc.top || lc.ProfileIDBase != tc.idBase {
				t.Errorf("loop levels %d/%d/%d ids from %d, want %d/%d/%d from %d", lc.FallbackStackLevel, lc.StackLevel, lc.MaxStackLevel,
					lc.ProfileIDBase, tc.fb, tc.dyn, tc.top, tc.idBase)
			}
			if _, err := loop.New(lc); err != nil {
				t.Errorf("the loop refuses the wired levels: %v", err)
			}
			stack, ids := px.Reserved()
			if lo, hi := lc.ProfileIDs(); !ids.Contains(lo) || !ids.Contains(hi) || !stack.Contains(lc.FallbackStackLevel) || !stack.Contains(lc.MaxStackLevel) {
				t.Errorf("loop outside the reserved ranges: ids %d..%d in %v, levels %d..%d in %v", lo, hi, ids, lc.FallbackStackLevel, lc.MaxStackLevel, stack)
			}
		})
	}
}

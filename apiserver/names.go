package apiserver

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"

	"github.com/smartcharge/smartcharge/site"
)

// Resource-name patterns (AIP-122). Variables are written {var}.
const (
	patternSite               = "sites/{site}"
	patternCircuit            = "sites/{site}/circuits/{circuit}"
	patternCharger            = "sites/{site}/chargers/{charger}"
	patternGridLimit          = "sites/{site}/gridLimits/{grid_limit}"
	patternEffectiveGridLimit = "sites/{site}/effectiveGridLimit"
	patternSiteConfig         = "sites/{site}/config"
	patternAllocation         = "sites/{site}/allocation"
	patternEVSE               = "sites/{site}/chargers/{charger}/evses/{evse}"
)

// Collection segments of child resources.
const (
	collCircuits   = "circuits"
	collChargers   = "chargers"
	collGridLimits = "gridLimits"
	collEVSEs      = "evses"
)

// validID reports whether id may be a resource ID ([site.ValidResourceID]):
// IDs end up in store keys and URLs, so nothing else is allowed.
func validID(id string) bool { return site.ValidResourceID(id) }

// idRule is the rule text for a bad resource ID.
const idRule = "must be 1 to 63 characters of a-z, 0-9 and '-', start with a letter and not end with '-' (AIP-122)"

// parseName matches name against pattern and returns the values of its
// variables in order. The error says what is wrong in plain words.
func parseName(name, pattern string) ([]string, error) {
	if name == "" {
		return nil, fmt.Errorf("required, in the form %q", pattern)
	}
	got := strings.Split(name, "/")
	want := strings.Split(pattern, "/")
	if len(got) != len(want) {
		return nil, fmt.Errorf("%q is not of the form %q", name, pattern)
	}
	var vars []string
	for i, w := range want {
		if strings.HasPrefix(w, "{") {
			if !validID(got[i]) {
				return nil, fmt.Errorf("%q: %s %q %s", name, strings.Trim(w, "{}"), got[i], idRule)
			}
			vars = append(vars, got[i])
			continue
		}
		if got[i] != w {
			return nil, fmt.Errorf("%q is not of the form %q", name, pattern)
		}
	}
	return vars, nil
}

// parseSiteName reads "sites/{site}".
func parseSiteName(name string) (string, error) {
	v, err := parseName(name, patternSite)
	if err != nil {
		return "", err
	}
	return v[0], nil
}

// parseChildName reads "sites/{site}/{collection}/{id}".
func parseChildName(name, pattern string) (siteID, id string, err error) {
	v, err := parseName(name, pattern)
	if err != nil {
		return "", "", err
	}
	return v[0], v[1], nil
}

func siteName(siteID string) string { return "sites/" + siteID }

// parseEVSEName reads "sites/{site}/chargers/{charger}/evses/{evse}":
// {evse} is the EVSE id, a decimal 1 to site.MaxEVSEs without sign or
// leading zeros, so that every EVSE has one name.
func parseEVSEName(name string) (site.ChargerRef, int, error) {
	parts := strings.Split(name, "/")
	if name == "" || len(parts) != 6 || parts[4] != collEVSEs {
		return site.ChargerRef{}, 0, fmt.Errorf("%q is not of the form %q", name, patternEVSE)
	}
	sid, cid, err := parseChildName(strings.Join(parts[:4], "/"), patternCharger)
	if err != nil {
		return site.ChargerRef{}, 0, fmt.Errorf("%q is not of the form %q: %w", name, patternEVSE, err)
	}
	n, err := parseEVSEID(parts[5])
	if err != nil {
		return site.ChargerRef{}, 0, fmt.Errorf("%q: evse %q %v", name, parts[5], err)
	}
	return site.ChargerRef{SiteID: sid, ChargerID: cid}, n, nil
}

// parseEVSEID reads the {evse} segment of an EVSE name.
func parseEVSEID(s string) (int, error) {
	if s == "" || len(s) > 2 || s[0] == '0' {
		return 0, fmt.Errorf("must be an EVSE id from 1 to %d without leading zeros", site.MaxEVSEs)
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("must be an EVSE id from 1 to %d without leading zeros", site.MaxEVSEs)
		}
		n = n*10 + int(s[i]-'0')
	}
	if n > site.MaxEVSEs {
		return 0, fmt.Errorf("must be an EVSE id from 1 to %d without leading zeros", site.MaxEVSEs)
	}
	return n, nil
}

// parseChargerOrEVSEName reads a charger's or an EVSE's name; evse is 0
// for a charger.
func parseChargerOrEVSEName(name string) (ref site.ChargerRef, evse int, err error) {
	if strings.Count(name, "/") == 5 {
		return parseEVSEName(name)
	}
	sid, cid, err := parseChildName(name, patternCharger)
	if err != nil {
		return site.ChargerRef{}, 0, fmt.Errorf("%q is not of the form %q or %q", name, patternCharger, patternEVSE)
	}
	return site.ChargerRef{SiteID: sid, ChargerID: cid}, 0, nil
}

func evseName(ref site.ChargerRef, evse int) string {
	return childName(ref.SiteID, collChargers, ref.ChargerID) + "/" + collEVSEs + "/" + strconv.Itoa(evse)
}

func childName(siteID, collection, id string) string {
	return "sites/" + siteID + "/" + collection + "/" + id
}

// encodePageToken makes the opaque token that continues a list after id.
func encodePageToken(id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(id))
}

// decodePageToken reads a token from encodePageToken; "" means the start.
func decodePageToken(tok string) (string, error) {
	if tok == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || !validID(string(b)) {
		return "", fmt.Errorf("not a token from a previous response")
	}
	return string(b), nil
}

// Page sizes (AIP-158).
const (
	defaultPageSize = 50
	maxPageSize     = 1000
)

// pageSize returns the effective page size, or an error for a negative one.
func pageSize(n int32) (int, error) {
	switch {
	case n < 0:
		return 0, fmt.Errorf("must not be negative")
	case n == 0:
		return defaultPageSize, nil
	case n > maxPageSize:
		return maxPageSize, nil
	}
	return int(n), nil
}

// pageOf returns the items after `after` (items sorted by id), at most size
// of them, and the next page token.
func pageOf[T any](items []T, id func(T) string, after string, size int) ([]T, string) {
	start := 0
	for start < len(items) && id(items[start]) <= after {
		start++
	}
	rest := items[start:]
	if len(rest) <= size {
		return rest, ""
	}
	return rest[:size], encodePageToken(id(rest[size-1]))
}

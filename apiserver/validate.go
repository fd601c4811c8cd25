package apiserver

import (
	"errors"
	"fmt"
	"strings"

	"github.com/smartcharge/smartcharge/site"
)

// Password rules (OCPP 2.0.1 A00.FR.205 and passwordString; 1.6
// AuthorizationKeys of 32 to 40 hex digits fit them too).
const (
	minPasswordLen   = 16
	maxPasswordLen   = 64
	passwordAlphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789*-_=:+|@."
)

// validateConfig checks a whole site configuration: the domain's rules
// ([site.Config.Validate], the same the store applies) plus what the API
// asks on top (a grid limit names its source). Paths are config-level
// ("site.grid_limit.l1", "circuits[2].parent"; see relocate).
func validateConfig(c *site.Config) *site.ValidationError {
	v := &site.ValidationError{}
	if err := c.Validate(); err != nil {
		var ve *site.ValidationError
		if errors.As(err, &ve) {
			v.Violations = append(v.Violations, ve.Violations...)
		} else {
			v.Add("site", "%v", err)
		}
	}
	for i, l := range c.Limits {
		if l.Source == site.SourceUnspecified {
			v.Add(fmt.Sprintf("grid_limits[%d].source", i), "required: GRID_LIMIT_SOURCE_OWNER, _EMS or _GRID_OPERATOR")
		}
	}
	return v
}

// checkPassword returns what is wrong with an OCPP Basic auth password, or
// "".
func checkPassword(pw string) string {
	if len(pw) < minPasswordLen || len(pw) > maxPasswordLen {
		return fmt.Sprintf("must be %d to %d characters (OCPP A00.FR.205), got %d", minPasswordLen, maxPasswordLen, len(pw))
	}
	for _, r := range pw {
		if !strings.ContainsRune(passwordAlphabet, r) {
			return "may hold only a-z A-Z 0-9 * - _ = : + | @ . (OCPP passwordString)"
		}
	}
	return ""
}

package ocppadapter

// Version is an OCPP version the adapter speaks. Only this package sees
// it; the rest of smartcharge gets version-neutral site values.
type Version uint8

// Supported versions.
const (
	V16  Version = 1 // OCPP 1.6 (OCPP-J 1.6)
	V201 Version = 2 // OCPP 2.0.1
)

// WebSocket subprotocols of the supported versions.
const (
	Subprotocol16  = "ocpp1.6"
	Subprotocol201 = "ocpp2.0.1"
)

// Subprotocol returns the WebSocket subprotocol of v.
func (v Version) Subprotocol() string {
	switch v {
	case V16:
		return Subprotocol16
	case V201:
		return Subprotocol201
	}
	return ""
}

func (v Version) String() string {
	switch v {
	case V16:
		return "1.6"
	case V201:
		return "2.0.1"
	}
	return "unknown"
}

// negotiate picks the newest version among the offered subprotocols, in
// the order of preference 2.0.1, 1.6; ok is false if none is supported.
func negotiate(offered []string) (Version, bool) {
	best := Version(0)
	for _, p := range offered {
		switch p {
		case Subprotocol201:
			best = V201
		case Subprotocol16:
			if best == 0 {
				best = V16
			}
		}
	}
	return best, best != 0
}

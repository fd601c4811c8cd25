package site

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// ErrBadPasswordHash: a stored password hash is not in a known format.
var ErrBadPasswordHash = errors.New("site: malformed password hash")

// HashPassword returns a salted hash of a charger's HTTP Basic password
// (OCPP security profiles 1 and 2) in the form "sha256$<salt-hex>$<hash-hex>".
// OCPP passwords are 16 to 40 random characters set by the operator, so one
// round of a salted SHA-256 is enough; the salt keeps equal passwords apart.
func HashPassword(password string) (string, error) {
	var salt [16]byte
	if _, err := rand.Read(salt[:]); err != nil {
		return "", fmt.Errorf("site: hash password: %w", err)
	}
	return "sha256$" + hex.EncodeToString(salt[:]) + "$" + hex.EncodeToString(passwordDigest(salt[:], password)), nil
}

// CheckPassword reports whether password matches hash, in constant time for
// a given hash.
func CheckPassword(hash, password string) (bool, error) {
	parts := strings.Split(hash, "$")
	if len(parts) != 3 || parts[0] != "sha256" {
		return false, ErrBadPasswordHash
	}
	salt, err := hex.DecodeString(parts[1])
	if err != nil {
		return false, fmt.Errorf("%w: salt: %w", ErrBadPasswordHash, err)
	}
	want, err := hex.DecodeString(parts[2])
	if err != nil || len(want) != sha256.Size {
		return false, fmt.Errorf("%w: digest", ErrBadPasswordHash)
	}
	return subtle.ConstantTimeCompare(want, passwordDigest(salt, password)) == 1, nil
}

func passwordDigest(salt []byte, password string) []byte {
	h := sha256.New()
	h.Write(salt)
	h.Write([]byte(password))
	return h.Sum(nil)
}

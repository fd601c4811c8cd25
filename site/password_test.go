package site

import (
	"errors"
	"testing"
)

func TestPasswordHash(t *testing.T) {
	h, err := HashPassword("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	h2, _ := HashPassword("correct horse battery")
	if h == h2 {
		t.Errorf("two hashes of one password are equal (%q): salt missing", h)
	}
	tests := []struct {
		desc     string
		hash     string
		password string
		want     bool
		wantErr  error
	}{
		{desc: "right password", hash: h, password: "correct horse battery", want: true},
		{desc: "wrong password", hash: h, password: "correct horse batterz"},
		{desc: "empty password", hash: h, password: ""},
		{desc: "unknown scheme", hash: "md5$00$00", password: "x", wantErr: ErrBadPasswordHash},
		{desc: "bad salt", hash: "sha256$zz$00", password: "x", wantErr: ErrBadPasswordHash},
		{desc: "short digest", hash: "sha256$00$0000", password: "x", wantErr: ErrBadPasswordHash},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			got, err := CheckPassword(tt.hash, tt.password)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("CheckPassword = %v, want %v", got, tt.want)
			}
		})
	}
}

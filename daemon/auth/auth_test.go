package auth

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/canopy-dev/canopy/daemon/config"
)

func TestToken(t *testing.T) {
	tests := []struct {
		header, url, want string
	}{
		{"Bearer abc", "/", "abc"},
		{"bearer  abc ", "/", "abc"},
		{"", "/x?access_token=q", "q"},
		{"Bearer abc", "/x?access_token=q", "abc"},
		{"Basic dXNlcg==", "/x?access_token=q", ""}, // not a bearer token: none
		{"", "/", ""},
	}
	for _, tc := range tests {
		r := httptest.NewRequest(http.MethodGet, tc.url, nil)
		if tc.header != "" {
			r.Header.Set("Authorization", tc.header)
		}
		if got := Token(r); got != tc.want {
			t.Errorf("Authorization %q, URL %s: token %q, want %q", tc.header, tc.url, got, tc.want)
		}
	}
}

func TestCheckRequest(t *testing.T) {
	c := New([]config.Token{{Name: "w", Token: "wtok", Scopes: []string{"write"}}, {Name: "r", Token: "rtok", Scopes: []string{"read"}}})
	tests := []struct {
		method, token string
		code          int // 0: allowed
	}{
		{http.MethodGet, "rtok", 0},
		{http.MethodPost, "wtok", 0},
		{http.MethodPost, "rtok", http.StatusForbidden},
		{http.MethodGet, "", http.StatusUnauthorized},
		{http.MethodGet, "nope", http.StatusUnauthorized},
	}
	for _, tc := range tests {
		r := httptest.NewRequest(tc.method, "/get/", nil)
		if tc.token != "" {
			r.Header.Set("Authorization", "Bearer "+tc.token)
		}
		err := c.CheckRequest(r)
		if code := 0; err != nil {
			code = err.Code
			if code != tc.code {
				t.Errorf("%s with %q: %d %s, want %d", tc.method, tc.token, code, err.Msg, tc.code)
			}
		} else if tc.code != 0 {
			t.Errorf("%s with %q: allowed, want %d", tc.method, tc.token, tc.code)
		}
	}
	if err := (*Checker)(nil).CheckRequest(httptest.NewRequest(http.MethodPost, "/push", nil)); err != nil {
		t.Errorf("nil checker refused: %v", err)
	}
}

package httpserver

import (
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestClientKey(t *testing.T) {
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	tests := []struct {
		name, remote, header string
		values               []string
		want                 string
	}{
		{"peer only", "192.0.2.1:5000", "", nil, "192.0.2.1"},
		{"IPv4-mapped peer", "[::ffff:192.0.2.1]:5000", "", nil, "192.0.2.1"},
		{"IPv6 peer by /64", "[2001:db8:a:b:1:2:3:4]:5000", "", nil, "2001:db8:a:b::/64"},
		{"not an IP address", "@unix", "", nil, "@unix"},
		{"header from an untrusted peer", "192.0.2.1:5000", "X-Forwarded-For", []string{"198.51.100.7"}, "192.0.2.1"},
		{"header from a proxy", "10.1.2.3:5000", "X-Forwarded-For", []string{"198.51.100.7"}, "198.51.100.7"},
		{"chain of proxies", "10.1.2.3:5000", "X-Forwarded-For", []string{"203.0.113.9, 198.51.100.7, 10.9.9.9"}, "198.51.100.7"},
		{"several lines", "10.1.2.3:5000", "X-Forwarded-For", []string{"203.0.113.9", "198.51.100.7"}, "198.51.100.7"},
		{"only proxies", "10.1.2.3:5000", "X-Forwarded-For", []string{"10.0.0.1, 10.0.0.2"}, "10.0.0.1"},
		{"garbage stops the walk", "10.1.2.3:5000", "X-Forwarded-For", []string{"198.51.100.7, junk, 10.0.0.2"}, "10.0.0.2"},
		{"missing header", "10.1.2.3:5000", "X-Forwarded-For", nil, "10.1.2.3"},
		{"address with a port", "10.1.2.3:5000", "X-Real-Ip", []string{"198.51.100.7:1234"}, "198.51.100.7"},
		{"Forwarded", "[fd00::1]:443", "Forwarded", []string{`for=192.0.2.60;proto=http;by=203.0.113.43, for="[2001:db8:cafe::17]:4711"`}, "2001:db8:cafe::/64"},
		{"Forwarded without for", "[fd00::1]:443", "Forwarded", []string{"proto=https"}, "fd00::/64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := &failureLimits{header: tt.header, trustedProxies: proxies}
			r := httptest.NewRequest("GET", "/accounts", nil)
			r.RemoteAddr = tt.remote
			for _, v := range tt.values {
				r.Header.Add(tt.header, v)
			}
			assert.Equal(t, tt.want, l.clientKey(r))
		})
	}
}

package httpserver_test

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"

	"golang.org/x/time/rate"

	"github.com/pspconnect/pspconnect/httpserver"
)

// A middleware behind a load balancer on 10.0.0.0/8 counts the failed authentications of each client
// by the address its load balancer writes in X-Forwarded-For, three per client before 429s, while
// the right key is always served.
func ExampleWithClientAddressHeader() {
	h, err := httpserver.New(oneAccountPSP{},
		httpserver.WithAPIKey("sk_live_formance"),
		httpserver.WithAuthFailureLimit(rate.Limit(0.1), 3), // after 3 failures, one every ten seconds
		httpserver.WithClientAddressHeader("X-Forwarded-For", netip.MustParsePrefix("10.0.0.0/8")),
		httpserver.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		panic(err)
	}
	get := func(key string) int {
		r := httptest.NewRequest(http.MethodGet, "/accounts", nil)
		r.RemoteAddr = "10.1.2.3:40000" // the load balancer
		r.Header.Set("X-Forwarded-For", "203.0.113.7")
		r.Header.Set("Authorization", "Bearer "+key)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code
	}
	for range 4 {
		fmt.Print(get("guess"), " ")
	}
	fmt.Println(get("sk_live_formance"))
	// Output: 401 401 401 429 200
}

package connectortest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"time"
)

// Target is the middleware under test.
//
// Set Handler to test an http.Handler in-process: it is served with httptest.NewServer for the
// duration of the test, so every request goes through real HTTP the way Formance's do. That server
// logs nothing; the handler's own request log is the handler's (give an httpserver.Handler a quiet
// logger in tests: httpserver.WithLogger(slog.New(slog.DiscardHandler))). Otherwise set
// BaseURL to the endpoint Formance would be configured with, such as
// "https://psp-bridge.example.com/formance" or "http://localhost:8080". With Handler set, only the
// path of BaseURL is used, as a prefix in front of every route (for a handler mounted under a prefix).
type Target struct {
	// Handler, when set, is the middleware, served on a local test server.
	Handler http.Handler
	// BaseURL is the endpoint the routes are appended to; it may carry a path prefix. With Handler
	// set, only its path is used.
	BaseURL string
	// APIKey is sent as "Authorization: Bearer <APIKey>", as Formance does. It must be accepted.
	APIKey string
	// Client sends the requests; nil means a client with a 30-second timeout.
	Client *http.Client
}

// ErrTarget is wrapped by errors about the Target itself: neither Handler nor BaseURL set, a
// BaseURL that is not an absolute http(s) URL, or (Check and Run) a target that does not answer at
// all.
var ErrTarget = errors.New("connectortest: invalid target")

// conn is a Target ready to send requests: a base URL (a test server's when Target.Handler is set)
// and a client.
type conn struct {
	base   string // scheme://host[/prefix], without a trailing slash
	key    string
	client *http.Client
	server *httptest.Server // the server started for Target.Handler, or nil
	// tolerateStale lets a walk go on through a few pages holding only items already seen, which
	// moving data can produce (Options.Live).
	tolerateStale bool
}

func dial(target Target) (*conn, error) {
	c := &conn{key: target.APIKey, client: target.Client}
	if c.client == nil {
		c.client = &http.Client{Timeout: 30 * time.Second}
	}
	var prefix string
	if target.BaseURL != "" {
		u, err := url.Parse(target.BaseURL)
		if err != nil {
			return nil, fmt.Errorf("%w: BaseURL %q: %v", ErrTarget, target.BaseURL, err)
		}
		if target.Handler == nil && (u.Scheme != "http" && u.Scheme != "https" || u.Host == "") {
			return nil, fmt.Errorf("%w: BaseURL %q is not an absolute http or https URL", ErrTarget, target.BaseURL)
		}
		if u.RawQuery != "" || u.Fragment != "" {
			return nil, fmt.Errorf("%w: BaseURL %q carries a query or fragment", ErrTarget, target.BaseURL)
		}
		prefix = strings.TrimSuffix(u.EscapedPath(), "/")
		if target.Handler == nil {
			c.base = u.Scheme + "://" + u.Host + prefix
		}
	}
	switch {
	case target.Handler != nil:
		c.server = httptest.NewUnstartedServer(target.Handler)
		c.server.Config.ErrorLog = log.New(io.Discard, "", 0) // Run's test server logs nothing
		c.server.Start()
		c.base = c.server.URL + prefix
		if target.Client == nil {
			c.client = c.server.Client()
			c.client.Timeout = 30 * time.Second
		}
	case target.BaseURL == "":
		return nil, fmt.Errorf("%w: set Target.Handler or Target.BaseURL", ErrTarget)
	}
	return c, nil
}

func (c *conn) close() {
	if c.server != nil {
		c.server.Close()
	}
}

// param is one query parameter, kept in the order Formance writes them.
type param struct{ name, value string }

// request describes one request for sending and for messages.
type request struct {
	method string
	path   string // the route, e.g. "/accounts/acc_1/balances", unescaped
	params []param
	body   []byte // JSON body of a POST, or nil
	auth   authMode
	key    string   // the key sent with authWrongKey
	header []string // the Authorization headers sent with authRaw, in order
}

type authMode int

const (
	authValid    authMode = iota
	authNone              // no Authorization header
	authWrongKey          // "Bearer <key>"
	authRaw               // the headers of request.header, verbatim
)

// String returns the request as the messages show it: "GET /transactions?page=2&pageSize=25&sort=updatedAt:asc".
func (r request) String() string {
	var b strings.Builder
	b.WriteString(r.method)
	b.WriteByte(' ')
	b.WriteString(r.path)
	for i, p := range r.params {
		if i == 0 {
			b.WriteByte('?')
		} else {
			b.WriteByte('&')
		}
		b.WriteString(p.name)
		b.WriteByte('=')
		b.WriteString(p.value)
	}
	return b.String()
}

func (r request) query() string {
	var b strings.Builder
	for i, p := range r.params {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(url.QueryEscape(p.name))
		b.WriteByte('=')
		b.WriteString(url.QueryEscape(p.value))
	}
	return b.String()
}

func (r request) displayQuery() string {
	s := r.String()
	if _, q, ok := strings.Cut(s, "?"); ok {
		return q
	}
	return ""
}

// response is what came back.
type response struct {
	status int
	header http.Header
	body   []byte
}

// maxBody bounds how much of an answer is read: a page of 1000 large transactions fits easily.
const maxBody = 64 << 20

// do sends r and reads the whole answer. An error means no HTTP answer (transport failure, context
// cancelled, body too large).
func (c *conn) do(ctx context.Context, r request) (response, error) {
	u := c.base + escapePath(r.path)
	if q := r.query(); q != "" {
		u += "?" + q
	}
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, u, body)
	if err != nil {
		return response{}, err
	}
	req.Header.Set("Accept", "application/json")
	if r.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	switch r.auth {
	case authValid:
		req.Header.Set("Authorization", "Bearer "+c.key)
	case authWrongKey:
		req.Header.Set("Authorization", "Bearer "+r.key)
	case authRaw:
		for _, h := range r.header {
			req.Header.Add("Authorization", h)
		}
	}
	res, err := c.client.Do(req)
	if err != nil {
		return response{}, err
	}
	defer res.Body.Close()
	data, err := readBody(res)
	if err != nil {
		return response{}, fmt.Errorf("reading the answer: %w", err)
	}
	if len(data) > maxBody {
		return response{}, fmt.Errorf("answer larger than %d bytes", maxBody)
	}
	return response{status: res.StatusCode, header: res.Header, body: data}, nil
}

// readBody reads at most maxBody+1 bytes of the answer, in one allocation when the length is known.
func readBody(res *http.Response) ([]byte, error) {
	if n := res.ContentLength; n >= 0 && n <= maxBody {
		data := make([]byte, n)
		if _, err := io.ReadFull(res.Body, data); err != nil {
			return nil, err
		}
		// Anything past the announced length is an error of the server; read it like ReadAll would.
		rest, err := io.ReadAll(io.LimitReader(res.Body, maxBody+1-n))
		return append(data, rest...), err
	}
	return io.ReadAll(io.LimitReader(res.Body, maxBody+1))
}

// escapePath escapes each segment of an unescaped route path.
func escapePath(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}

// bodySnippet returns the start of a body for messages.
func bodySnippet(b []byte) string {
	const max = 200
	s := strings.TrimSpace(string(b))
	if len(s) > max {
		s = s[:max] + "…"
	}
	if s == "" {
		return "(empty body)"
	}
	return s
}

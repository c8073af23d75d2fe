package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/pspconnect/pspconnect/connector"
)

// Client calls the upstream API for one middleware, on behalf of every tenant: each call names the
// secret key of the tenant's upstream account. It maps the upstream's answers to the connector error
// kinds the Syncer and the handler act on: a 429 is connector.ErrRateLimited with the upstream's
// Retry-After (the Syncer waits that long; a balances request passes it on to Formance), a 5xx or a
// transport error connector.ErrUnavailable (retried with backoff).
//
// It does not pace its calls: the Provider does, with one connector.Limiter per secret key shared by
// the tenant's Syncer (ingest.WithLimiter, one wait per pull) and its balances requests.
type Client struct {
	base string
	http *http.Client
}

// NewClient returns a client of the upstream at baseURL (e.g. "https://api.psp.example"); a nil
// httpClient means one with a 30 s timeout.
func NewClient(baseURL string, httpClient *http.Client) *Client {
	if httpClient == nil {
		httpClient = &http.Client{Timeout: 30 * time.Second}
	}
	return &Client{base: baseURL, http: httpClient}
}

// list is one page of a listing.
type list[T any] struct {
	Data     []T     `json:"data"`
	HasMore  bool    `json:"has_more"`
	NextPage *string `json:"next_page"`
}

// get calls GET path?query with the secret key and decodes the JSON answer into a T.
func get[T any](ctx context.Context, c *Client, secretKey, path string, query url.Values) (T, error) {
	var out T
	u := c.base + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return out, err
	}
	req.Header.Set("Authorization", "Bearer "+secretKey)
	res, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return out, ctx.Err()
		}
		return out, connector.Unavailable(err, "upstream %s: %v", path, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, 16<<20))
	if err != nil {
		return out, connector.Unavailable(err, "upstream %s: reading the answer: %v", path, err)
	}
	switch {
	case res.StatusCode == http.StatusTooManyRequests:
		return out, connector.RateLimited(connector.RetryAfterFromResponse(res), "upstream %s: rate limited", path)
	case res.StatusCode == http.StatusNotFound:
		return out, connector.NotFound("upstream %s: %s", path, upstreamMessage(body))
	case res.StatusCode >= 500:
		return out, connector.Unavailable(nil, "upstream %s: status %d", path, res.StatusCode)
	case res.StatusCode != http.StatusOK:
		// A 400 or 401 from the upstream is this middleware's bug or misconfiguration: a 500.
		return out, fmt.Errorf("upstream %s: status %d: %s", path, res.StatusCode, upstreamMessage(body))
	}
	if err := json.Unmarshal(body, &out); err != nil {
		return out, fmt.Errorf("upstream %s: undecodable answer: %w", path, err)
	}
	return out, nil
}

func upstreamMessage(body []byte) string {
	var e struct {
		Error struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil && e.Error.Message != "" {
		return e.Error.Message
	}
	return string(body)
}

// listQuery builds the query of a listing call.
func listQuery(limit int, sinceParam string, since int64, cursorParam, cursor string) url.Values {
	q := url.Values{"limit": {strconv.Itoa(min(limit, 100))}}
	if since > 0 {
		q.Set(sinceParam, strconv.FormatInt(since, 10))
	}
	if cursor != "" {
		q.Set(cursorParam, cursor)
	}
	return q
}

// Accounts lists accounts created at or after since (Unix seconds), after the account startingAfter.
func (c *Client) Accounts(ctx context.Context, secretKey string, limit int, since int64, startingAfter string) (list[UpstreamAccount], error) {
	return get[list[UpstreamAccount]](ctx, c, secretKey, "/v1/accounts", listQuery(limit, "created[gte]", since, "starting_after", startingAfter))
}

// Beneficiaries lists beneficiaries like Accounts.
func (c *Client) Beneficiaries(ctx context.Context, secretKey string, limit int, since int64, startingAfter string) (list[UpstreamBeneficiary], error) {
	return get[list[UpstreamBeneficiary]](ctx, c, secretKey, "/v1/beneficiaries", listQuery(limit, "created[gte]", since, "starting_after", startingAfter))
}

// Transactions lists transactions updated at or after since, from the position token page.
func (c *Client) Transactions(ctx context.Context, secretKey string, limit int, since int64, page string) (list[UpstreamTransaction], error) {
	return get[list[UpstreamTransaction]](ctx, c, secretKey, "/v1/transactions", listQuery(limit, "updated[gte]", since, "page", page))
}

// Events lists events newest first: the limit events just before the event startingAfter (older),
// or just after the event endingBefore (newer), or the newest ones when both are empty.
func (c *Client) Events(ctx context.Context, secretKey string, limit int, startingAfter, endingBefore string) (list[UpstreamEvent], error) {
	q := url.Values{"limit": {strconv.Itoa(min(limit, 100))}}
	if startingAfter != "" {
		q.Set("starting_after", startingAfter)
	}
	if endingBefore != "" {
		q.Set("ending_before", endingBefore)
	}
	return get[list[UpstreamEvent]](ctx, c, secretKey, "/v1/events", q)
}

// Balance returns the balance of an account.
func (c *Client) Balance(ctx context.Context, secretKey, accountID string) (UpstreamBalance, error) {
	return get[UpstreamBalance](ctx, c, secretKey, "/v1/accounts/"+url.PathEscape(accountID)+"/balance", nil)
}

package connector_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/pspconnect/pspconnect/connector"
	"github.com/pspconnect/pspconnect/models"
	"github.com/pspconnect/pspconnect/pagination"
)

func TestHTTPStatus(t *testing.T) {
	cause := errors.New("dial tcp: connection refused")
	tests := []struct {
		name      string
		err       error
		status    int
		retryable bool
	}{
		{"not found", connector.NotFound("account %q", "acc_1"), http.StatusNotFound, false},
		{"invalid", connector.InvalidRequest("insufficient funds"), http.StatusBadRequest, false},
		{"conflict", connector.Conflict("key reused"), http.StatusConflict, false},
		{"unavailable", connector.Unavailable(cause, "PSP down"), http.StatusServiceUnavailable, true},
		{"rate limited", connector.RateLimited(3*time.Second, "slow down"), http.StatusTooManyRequests, true},
		{"not implemented", connector.ErrNotImplemented, http.StatusNotImplemented, false},
		{"wrapped sentinel", fmt.Errorf("lookup: %w", connector.ErrNotFound), http.StatusNotFound, false},
		{"unknown", errors.New("boom"), http.StatusInternalServerError, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.status, connector.HTTPStatus(tt.err))
			assert.Equal(t, tt.retryable, connector.IsRetryable(tt.err))
		})
	}
}

func TestErrorKeepsKindAndCause(t *testing.T) {
	cause := context.DeadlineExceeded
	err := connector.Unavailable(cause, "PSP timed out after %s", "5s")
	assert.ErrorIs(t, err, connector.ErrUnavailable)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Equal(t, "upstream unavailable: PSP timed out after 5s", err.Error())

	var perr *connector.Error
	assert.ErrorAs(t, err, &perr)
	assert.Equal(t, connector.ErrUnavailable, perr.Kind)

	assert.Equal(t, 3*time.Second, connector.RetryAfter(connector.RateLimited(3*time.Second, "x")))
	assert.Zero(t, connector.RetryAfter(errors.New("plain")))
}

func TestTenant(t *testing.T) {
	_, ok := connector.TenantFrom(context.Background())
	assert.False(t, ok)
	tenant, ok := connector.TenantFrom(connector.WithTenant(context.Background(), "acme"))
	assert.True(t, ok)
	assert.Equal(t, "acme", tenant)
}

func TestListRequest(t *testing.T) {
	from := time.Date(2024, 1, 1, 10, 0, 0, 0, time.UTC)
	req := connector.ListRequest{Page: 3, PageSize: 25, From: from,
		Sort: pagination.Sort{Field: pagination.FieldUpdatedAt, Direction: pagination.Ascending}}
	assert.Equal(t, 50, req.Offset())
	assert.Equal(t, 25, req.Limit())
	assert.Equal(t, pagination.Query{Page: 3, PageSize: 25, From: from, Sort: req.Sort}, req.Query())

	// What a page-numbered provider is given holds no cursor: cursors belong to CursorProvider.
	_, hasCursor := reflect.TypeFor[connector.ListRequest]().FieldByName("Cursor")
	assert.False(t, hasCursor, "ListRequest has a Cursor field")
	_, hasNext := reflect.TypeFor[connector.Page[models.Account]]().FieldByName("NextCursor")
	assert.False(t, hasNext, "Page has a NextCursor field")
}

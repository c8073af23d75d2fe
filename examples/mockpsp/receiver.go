package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/pspconnect/pspconnect/connector"
	"github.com/pspconnect/pspconnect/feed"
	"github.com/pspconnect/pspconnect/httpserver"
	"github.com/pspconnect/pspconnect/ingest"
	"github.com/pspconnect/pspconnect/models"
)

// This file is the receiving side of the mock's webhooks (-webhook-receiver): the half of a
// middleware that learns of its PSP's changes from webhooks. It holds a transactions feed that
// ingest.NewWebhookHandler fills from the signed events POSTed to /webhooks, and serves the Generic
// Connector's routes from it with a pspconnect handler. Run it beside a mock started with
// -webhook-url pointing at it, and the lifecycle actions clicked in the mock's panel show up in this
// process's GET /transactions, without any polling of the PSP.
//
// A real middleware mounts the same webhook handler next to its connector handler, over the feed
// its Syncer fills (webhooks are fast but can be missed: the PSP drops them when its queue is full
// or the receiver stays down, so keep polling too):
//
//	hook, err := ingest.NewWebhookHandler(ingest.WebhookConfig[models.Transaction]{
//		Verifier: ingest.TimestampHMAC{Header: "PSP-Signature", Secrets: [][]byte{secret}},
//		Parse:    parseWebhookEvent,
//		Feed:     transactions, // the feed the provider's ListTransactions reads
//		DefaultTenant: httpserver.DefaultTenant,
//	})
//	mux.Handle("POST /webhooks", hook)
//	mux.Handle("/", connectorHandler)

// webhookPath is where the receiver takes webhooks.
const webhookPath = "/webhooks"

// maxWebhookBody bounds a webhook's body (the handler's default).
const maxWebhookBody = 1 << 20

// newReceiverHandler returns the handler of -webhook-receiver: POST /webhooks verifies each event
// with secret (401 and nothing stored when the signature is bad or older than 5 minutes), stores it
// idempotently and in order per transaction (ingest's memory event log: a replayed event is
// acknowledged again, an older one never rolls a status back); every other path is the Generic
// Connector, any API key the mock accepts naming its tenant as in the mock (TenantOf), with the
// transactions received for that tenant. Accounts and beneficiaries are empty lists (the mock sends
// events for transactions only) and balances are 404s.
func newReceiverHandler(secret []byte, logger *slog.Logger) (http.Handler, error) {
	transactions := feed.NewMemoryTransactions()
	hook, err := ingest.NewWebhookHandler(ingest.WebhookConfig[models.Transaction]{
		Verifier: ingest.TimestampHMAC{Header: webhookSignatureHeader, Secrets: [][]byte{secret}},
		Parse:    parseWebhookEvent,
		Tenant:   eventAccount,
		Feed:     transactions,
		Logger:   logger,
	})
	if err != nil {
		return nil, err
	}
	api, err := httpserver.New(receiverProvider{transactions: transactions},
		httpserver.WithAuthenticator(authenticate), httpserver.WithLogger(logger))
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("POST "+webhookPath, logWebhooks(logger, withEventAccount(hook)))
	mux.Handle("/", api)
	return mux, nil
}

// parseWebhookEvent reads the mock's event (see webhookEvent): its id, its time, the transaction's
// id and the transaction itself.
func parseWebhookEvent(body []byte) (ingest.Event[models.Transaction], error) {
	var ev webhookEvent
	if err := json.Unmarshal(body, &ev); err != nil {
		return ingest.Event[models.Transaction]{}, err
	}
	switch ev.Type {
	case eventTransactionCreated, eventTransactionUpdated:
	default:
		return ingest.Event[models.Transaction]{}, errors.New("unknown event type " + ev.Type)
	}
	if ev.Data.ID != ev.ObjectID {
		return ingest.Event[models.Transaction]{}, errors.New("the event's object_id is not its transaction's id")
	}
	return ingest.Event[models.Transaction]{ID: ev.ID, Time: ev.Created, ObjectID: ev.ObjectID, Object: &ev.Data}, nil
}

// accountKey carries the tenant named in a webhook's body through the request's context.
type accountKey struct{}

// withEventAccount reads the "account" of the event in the body (the tenant) into the request's
// context, for eventAccount, and hands the body on unchanged. WebhookConfig.Tenant sees only the
// request, after the handler has read the body; the account must come from the body because the
// signature covers the body, not the URL or the headers. The handler verifies the signature before
// it asks for the tenant, so an unsigned body never picks one.
func withEventAccount(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxWebhookBody))
		if err != nil {
			httpserver.WriteError(w, http.StatusBadRequest, "Bad Request", "cannot read the body")
			return
		}
		var ev struct {
			Account string `json:"account"`
		}
		ctx := r.Context()
		if json.Unmarshal(body, &ev) == nil && ev.Account != "" {
			ctx = context.WithValue(ctx, accountKey{}, ev.Account)
		}
		r = r.WithContext(ctx)
		r.Body = io.NopCloser(bytes.NewReader(body))
		next.ServeHTTP(w, r)
	})
}

// logWebhooks logs each webhook request with its answer, so that a person trying the mock sees
// them arrive (the handler itself logs only refusals and failures).
func logWebhooks(logger *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r)
		logger.LogAttrs(r.Context(), slog.LevelInfo, "webhook", slog.String("path", r.URL.Path),
			slog.Int("status", sw.status), slog.Duration("duration", time.Since(start)))
	})
}

// eventAccount is the WebhookConfig.Tenant of the receiver: the account withEventAccount read.
func eventAccount(r *http.Request) (string, error) {
	if a, ok := r.Context().Value(accountKey{}).(string); ok {
		return a, nil
	}
	return "", errors.New("the event names no account")
}

// receiverProvider serves the transactions received by webhook.
type receiverProvider struct {
	transactions feed.Feed[models.Transaction]
}

func (receiverProvider) ListAccounts(context.Context, connector.ListRequest) (connector.Page[models.Account], error) {
	return connector.Page[models.Account]{Items: []models.Account{}}, nil
}

func (receiverProvider) ListBeneficiaries(context.Context, connector.ListRequest) (connector.Page[models.Beneficiary], error) {
	return connector.Page[models.Beneficiary]{Items: []models.Beneficiary{}}, nil
}

func (p receiverProvider) ListTransactions(ctx context.Context, req connector.ListRequest) (connector.Page[models.Transaction], error) {
	return feed.List(ctx, p.transactions, req)
}

func (receiverProvider) GetBalances(_ context.Context, accountID string) (models.Balances, error) {
	return models.Balances{}, connector.NotFound("account %q: the webhook receiver knows transactions only", accountID)
}

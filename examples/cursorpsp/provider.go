package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/metric"
	"golang.org/x/time/rate"

	"github.com/pspconnect/pspconnect/connector"
	"github.com/pspconnect/pspconnect/feed"
	"github.com/pspconnect/pspconnect/ingest"
	"github.com/pspconnect/pspconnect/models"
)

// Provider serves Formance from a Stripe-like upstream PSP (see Upstream): cursor-paged lists,
// timestamps to the second, and transactions whose changes are reported as events. It is the
// template for the common real-world case; to adapt it to your PSP, replace Client's routes, the
// three Sources in sources.go and the conversions at the end of this file, and keep the rest.
//
// # Formance never waits for the PSP
//
// Formance's list requests (accounts, beneficiaries, transactions) are answered from three feeds
// (package feed), never from the upstream: no upstream call is made inside them. A Syncer per
// tenant (package ingest), started with the process (Run), keeps the feeds in step with the
// upstream in the background: it pulls each route's changes since its checkpoint, writes them into
// the route's feed, and pulls again at once while the upstream has more, otherwise every
// Options.Interval. So a poll costs Formance no upstream latency (its client gives up after 10 s),
// a rate-limited or failing upstream never slows or fails a poll (it only delays when changes
// arrive), and the feed's rules make the lists lossless under Formance's poller: unique served times
// that never move, a change served after everything Formance may have read, earlier versions kept in
// place while Formance pages through a busy second. Serving straight from the upstream, even with
// tie-breaking, loses changes (TestTieBreakingCannotFollowChanges shows how): that is what a
// connector.CursorProvider served through httpserver.CursorPaged does, one upstream call per page,
// which suits only an upstream whose listings never reorder, answered well within Formance's 10 s.
//
// The three routes use the adapter of package ingest that fits the upstream's API:
//
//   - accounts and beneficiaries: ingest.Since over "created[gte]" with starting_after cursors.
//     Each pass reads every object created at or after the second of the latest one seen
//     (Precision: time.Second), so objects created later in that second are not missed; the re-read
//     ones are no-ops in the feed.
//   - transactions: ingest.Events over the events endpoint, the one record of changes that every
//     Stripe-like PSP offers (their object lists are newest first with no "updated since" filter;
//     this upstream's listing by updated is a search API, and a search index lags behind). Each
//     event carries the transaction as it was after one change, and the events are read in the
//     order they happened, so the feed receives every change in order, with no lookback. Event lists
//     are newest first with no cursor for "the oldest": the first pulls walk back to the oldest
//     event, one page per pull, then read forward with ending_before (see transactionSource).
//
// Balances are not a list: GetBalances reads them from the upstream in the request, paced by the
// same limiter as the tenant's sync.
//
// # Rate limits and failures
//
// Each tenant (upstream secret key) has one connector.Limiter at Options.Rate, a margin below the
// upstream's published limit: its Syncer waits on it before every pull (ingest.WithLimiter; each
// pull is one upstream call) and GetBalances before every call. A 429 that still comes back is
// connector.ErrRateLimited with the upstream's Retry-After, which the Syncer waits before it
// retries the same checkpoint; a 5xx or a transport error is connector.ErrUnavailable, retried with
// backoff (Options.BackoffMin doubling up to BackoffMax). The Syncer logs its progress (items
// ingested, lag behind the PSP) and failures with Options.Logger.
//
// # Restarts and replicas
//
// This template keeps everything in memory: ingest.NewFeedSink keeps the checkpoints in memory and
// ingest.NewLocalElector runs every job in this process, so a restart pulls the upstream's history
// again into new feeds (Formance then receives items it already holds, which it ignores; see the
// package doc of feed for what a restart of a memory feed can miss). For several replicas and
// lossless restarts, use feed/pgfeed's feeds with package ingest/pgingest's sink (it stores each
// batch and its checkpoint in one transaction) and elector (one replica runs each job, another takes
// over when it dies): only the wiring in NewProvider changes.
//
// The provider is safe for concurrent use.
type Provider struct {
	client  *Client
	tenants map[string]*tenant // by tenant name
	opts    Options

	accounts      feed.Feed[models.Account]
	beneficiaries feed.Feed[models.Beneficiary]
	transactions  feed.Feed[models.Transaction]

	running sync.Mutex // held by Run
}

var _ connector.Provider = (*Provider)(nil)

// tenant is one upstream account: its secret key, the limiter its calls share, its Syncer and the
// progress of each of its jobs.
type tenant struct {
	name, secretKey string
	limiter         *connector.Limiter
	syncer          *ingest.Syncer
	progress        []*progress // one per job
}

// Options tune a Provider. The zero value is valid.
type Options struct {
	// Rate and Burst pace each tenant's upstream calls, sync and balances together: keep them a
	// margin below the upstream's published limit per secret key, since calls that leave evenly
	// spaced may arrive bunched together (default: no pacing).
	Rate  rate.Limit
	Burst int
	// Interval is how long a job waits, once it has caught up, before it asks the upstream again
	// (default DefaultInterval): the delay before a change reaches the feed, at most.
	Interval time.Duration
	// BackoffMin and BackoffMax bound the wait after a failed pull (defaults
	// ingest.DefaultBackoffMin and ingest.DefaultBackoffMax); a longer Retry-After wins.
	BackoffMin, BackoffMax time.Duration
	// PageSize is the upstream's page size (default and maximum 100).
	PageSize int
	// Logger receives the Syncers' progress and failures (default slog.Default()).
	Logger *slog.Logger
	// MeterProvider, when set, records the feeds' metrics (feed.WithMetrics) and the Syncers'
	// (ingest.WithMeterProvider); see docs/operations.md.
	MeterProvider metric.MeterProvider
}

// DefaultInterval is the default of Options.Interval.
const DefaultInterval = 2 * time.Second

// The job names of the three routes, after the Generic Connector's routes.
const (
	routeAccounts      = "accounts"
	routeBeneficiaries = "beneficiaries"
	routeTransactions  = "transactions"
)

// NewProvider returns a provider mirroring, for each tenant of secrets (tenant name → the upstream
// secret key of its account; the tenants are those given to httpserver.WithAPIKeys), the upstream's
// accounts, beneficiaries and transactions into feed.Memory feeds. Nothing is pulled until Run.
func NewProvider(client *Client, secrets map[string]string, opts Options) (*Provider, error) {
	if opts.Rate == 0 {
		opts.Rate = rate.Inf
	}
	opts.Burst = max(opts.Burst, 1)
	if opts.Interval <= 0 {
		opts.Interval = DefaultInterval
	}
	if opts.BackoffMin <= 0 {
		opts.BackoffMin = ingest.DefaultBackoffMin
	}
	if opts.BackoffMax < opts.BackoffMin {
		opts.BackoffMax = max(ingest.DefaultBackoffMax, opts.BackoffMin)
	}
	if opts.PageSize <= 0 || opts.PageSize > 100 {
		opts.PageSize = 100
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	feedOptions := func(route string) []feed.Option {
		if opts.MeterProvider == nil {
			return nil
		}
		return []feed.Option{feed.WithMetrics(opts.MeterProvider, route)}
	}
	syncerOptions := []ingest.SyncerOption{ingest.WithIntervals(opts.Interval, 0, 0),
		ingest.WithBackoff(opts.BackoffMin, opts.BackoffMax), ingest.WithLogger(opts.Logger)}
	if opts.MeterProvider != nil {
		syncerOptions = append(syncerOptions, ingest.WithMeterProvider(opts.MeterProvider))
	}
	accounts, err := feed.NewMemory(feed.AccountKeys(), feedOptions(routeAccounts)...)
	if err != nil {
		return nil, err
	}
	beneficiaries, err := feed.NewMemory(feed.BeneficiaryKeys(), feedOptions(routeBeneficiaries)...)
	if err != nil {
		return nil, err
	}
	transactions, err := feed.NewMemory(feed.TransactionKeys(), feedOptions(routeTransactions)...)
	if err != nil {
		return nil, err
	}
	p := &Provider{client: client, tenants: map[string]*tenant{}, opts: opts,
		accounts: accounts, beneficiaries: beneficiaries, transactions: transactions}

	// One sink per route for every tenant (checkpoints are kept per tenant and job), and one elector
	// for the process: with pgingest, its sinks and elector instead.
	accountSink := ingest.NewFeedSink[models.Account](accounts)
	beneficiarySink := ingest.NewFeedSink[models.Beneficiary](beneficiaries)
	transactionSink := ingest.NewFeedSink[models.Transaction](transactions)
	elector := ingest.NewLocalElector("cursorpsp")
	for _, name := range slices.Sorted(maps.Keys(secrets)) {
		t := &tenant{name: name, secretKey: secrets[name], limiter: connector.NewLimiter(opts.Rate, opts.Burst)}
		// One Syncer per tenant: the upstream's rate limit is per secret key, and WithLimiter bounds
		// the calls of all the jobs of one Syncer together.
		t.syncer, err = ingest.NewSyncer(elector, append([]ingest.SyncerOption{ingest.WithLimiter(t.limiter)}, syncerOptions...)...)
		if err != nil {
			return nil, err
		}
		t.syncer.Add(
			trackedJob(t, routeAccounts, accountSource(client, t.secretKey, opts.PageSize), accountSink),
			trackedJob(t, routeBeneficiaries, beneficiarySource(client, t.secretKey, opts.PageSize), beneficiarySink),
			trackedJob(t, routeTransactions, transactionSource(client, t.secretKey, opts.PageSize), transactionSink),
		)
		p.tenants[name] = t
	}
	return p, nil
}

// Run keeps the feeds in step with the upstream until ctx ends: it runs every tenant's Syncer and
// prunes the transactions feed hourly, then waits for them to stop and returns nil. Start it with
// the process (go p.Run(ctx)) and cancel ctx on shutdown: a pull in progress is cancelled and not
// committed. It returns an error at once when it is already running.
func (p *Provider) Run(ctx context.Context) error {
	if !p.running.TryLock() {
		return errors.New("cursorpsp: Provider.Run is already running")
	}
	defer p.running.Unlock()
	var wg sync.WaitGroup
	// Changed transactions leave their earlier states in the feed until they are pruned.
	wg.Go(func() { feed.PruneEvery(ctx, time.Hour, p.opts.Logger, p.transactions) })
	for _, t := range p.tenants {
		wg.Go(func() {
			if err := t.syncer.Run(ctx); err != nil {
				p.opts.Logger.Error("syncer stopped", slog.String("tenant", t.name), slog.String("error", err.Error()))
			}
		})
	}
	wg.Wait()
	return nil
}

// WaitSynced waits until every job of every tenant has caught up with the upstream as it was when
// WaitSynced was called: each has committed a pull, started after the call, that reported nothing
// more. Tests call it after changing the upstream; a readiness probe may too. It needs Run.
func (p *Provider) WaitSynced(ctx context.Context) error {
	since := time.Now()
	for _, t := range p.tenants {
		for _, pr := range t.progress {
			if err := pr.wait(ctx, since); err != nil {
				return fmt.Errorf("cursorpsp: waiting for %s/%s to catch up: %w", t.name, pr.route, err)
			}
		}
	}
	return nil
}

// tenantOf returns the tenant of a request.
func (p *Provider) tenantOf(ctx context.Context) (*tenant, error) {
	name, _ := connector.TenantFrom(ctx)
	t, ok := p.tenants[name]
	if !ok {
		return nil, fmt.Errorf("cursorpsp: no upstream secret key for tenant %q", name)
	}
	return t, nil
}

// ListAccounts implements connector.Provider from the accounts feed: no upstream call.
func (p *Provider) ListAccounts(ctx context.Context, req connector.ListRequest) (connector.Page[models.Account], error) {
	if _, err := p.tenantOf(ctx); err != nil {
		return connector.Page[models.Account]{}, err
	}
	return feed.List(ctx, p.accounts, req)
}

// ListBeneficiaries implements connector.Provider from the beneficiaries feed: no upstream call.
func (p *Provider) ListBeneficiaries(ctx context.Context, req connector.ListRequest) (connector.Page[models.Beneficiary], error) {
	if _, err := p.tenantOf(ctx); err != nil {
		return connector.Page[models.Beneficiary]{}, err
	}
	return feed.List(ctx, p.beneficiaries, req)
}

// ListTransactions implements connector.Provider from the transactions feed: no upstream call.
func (p *Provider) ListTransactions(ctx context.Context, req connector.ListRequest) (connector.Page[models.Transaction], error) {
	if _, err := p.tenantOf(ctx); err != nil {
		return connector.Page[models.Transaction]{}, err
	}
	return feed.List(ctx, p.transactions, req)
}

// GetBalances implements connector.Provider with one upstream call, paced by the tenant's limiter:
// when the limiter cannot allow the call before the request's deadline, the error is
// connector.ErrRateLimited and Formance gets a 429 with Retry-After, as it does for the upstream's
// own 429.
func (p *Provider) GetBalances(ctx context.Context, accountID string) (models.Balances, error) {
	t, err := p.tenantOf(ctx)
	if err != nil {
		return models.Balances{}, err
	}
	if err := t.limiter.Wait(ctx); err != nil {
		return models.Balances{}, err
	}
	b, err := p.client.Balance(ctx, t.secretKey, accountID)
	if err != nil {
		return models.Balances{}, err
	}
	out := models.Balances{ID: "bal_" + accountID, AccountID: accountID, At: time.Now().UTC(), Balances: []models.Balance{}}
	for _, m := range b.Available {
		out.Balances = append(out.Balances, models.Balance{Amount: models.AmountFromInt64(m.Amount), Currency: asset(m.Currency)})
	}
	return out, nil
}

// Prune deletes the earlier states of changed transactions that no poller can read any more (see
// feed.Feed.Prune). Run does it hourly.
func (p *Provider) Prune(ctx context.Context) (int, error) {
	return p.transactions.Prune(ctx)
}

// ---------------------------------------------------------------------------------------------------
// Conversions from the upstream's objects to the contract's.

func toAccount(a UpstreamAccount) models.Account {
	return models.Account{ID: a.ID, AccountName: a.Name, CreatedAt: fromUnix(a.Created), Metadata: a.Metadata}
}

func toBeneficiary(b UpstreamBeneficiary) models.Beneficiary {
	return models.Beneficiary{ID: b.ID, OwnerName: b.Name, CreatedAt: fromUnix(b.Created)}
}

func toTransaction(t UpstreamTransaction) models.Transaction {
	tx := models.Transaction{
		ID: t.ID, CreatedAt: fromUnix(t.Created), UpdatedAt: fromUnix(t.Updated), Currency: asset(t.Currency),
		Type: transactionType(t.Type), Status: transactionStatus(t.Status), Amount: models.AmountFromInt64(t.Amount),
		SourceAccountID: t.Source, DestinationAccountID: t.Destination,
	}
	if len(t.Metadata) > 0 {
		tx.Metadata = t.Metadata
	}
	return tx
}

// asset turns an ISO 4217 code ("eur") into a UMN asset ("EUR/2"), with the number of decimals of
// the currency's minor unit.
func asset(currency string) models.Asset {
	code := strings.ToUpper(currency)
	switch code {
	case "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF":
		return models.Asset(code + "/0")
	case "BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND":
		return models.Asset(code + "/3")
	}
	return models.Asset(code + "/2")
}

func transactionType(t string) models.TransactionType {
	switch t {
	case "payin":
		return models.TransactionTypePayin
	case "payout":
		return models.TransactionTypePayout
	case "transfer":
		return models.TransactionTypeTransfer
	}
	return models.TransactionTypeOther
}

func transactionStatus(s string) models.TransactionStatus {
	switch s {
	case "pending":
		return models.TransactionStatusPending
	case "succeeded":
		return models.TransactionStatusSucceeded
	case "failed":
		return models.TransactionStatusFailed
	case "canceled":
		return models.TransactionStatusCancelled
	case "refunded":
		return models.TransactionStatusRefunded
	case "disputed":
		return models.TransactionStatusDispute
	}
	return models.TransactionStatusOther
}

func fromUnix(s int64) time.Time { return time.Unix(s, 0).UTC() }

// unixSeconds returns the Unix second of t, or 0 (no bound) for the zero time.
func unixSeconds(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

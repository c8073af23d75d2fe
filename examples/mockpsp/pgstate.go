package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pspconnect/pspconnect/feed/pgfeed"
	"github.com/pspconnect/pspconnect/models"
)

// This file keeps the PSP in PostgreSQL (-postgres): the tenants' states in the table
// mockpsp_tenants, the feeds in pgfeed's tables. Several mockpsp processes on one database are then
// one PSP behind several middleware replicas.
//
// An update is one database transaction: it locks the tenant's row (SELECT … FOR UPDATE), runs the
// simulation on the decoded state, writes the state back, and puts the feed items with pgfeed's
// PutTx in the same transaction. So the state and the feeds change together or not at all, and the
// updates of one tenant run one at a time across every process: the counters never give one id
// twice, a payout's balance moves once, and the feeds receive each tenant's changes in the order the
// PSP made them.

// stateTable is the table of the tenants' states: one row per tenant, the state as JSON.
const stateTable = "mockpsp_tenants"

// stateMigrationLock is the key of the advisory lock the migration holds, so that processes
// starting together do not race to create the table.
const stateMigrationLock int64 = 0x6d6f_636b_7073_7001

// pgFeeds are the three feeds in PostgreSQL, typed for PutTx.
type pgFeeds struct {
	accounts      *pgfeed.Feed[models.Account]
	beneficiaries *pgfeed.Feed[models.Beneficiary]
	transactions  *pgfeed.Feed[models.Transaction]
}

func newPGFeeds(pool *pgxpool.Pool) (pgFeeds, error) {
	accounts, err := pgfeed.Accounts(pool)
	if err != nil {
		return pgFeeds{}, err
	}
	beneficiaries, err := pgfeed.Beneficiaries(pool)
	if err != nil {
		return pgFeeds{}, err
	}
	transactions, err := pgfeed.Transactions(pool)
	if err != nil {
		return pgFeeds{}, err
	}
	return pgFeeds{accounts: accounts, beneficiaries: beneficiaries, transactions: transactions}, nil
}

func (f pgFeeds) feeds() feeds {
	return feeds{accounts: f.accounts, beneficiaries: f.beneficiaries, transactions: f.transactions}
}

// putTx puts the changes of one update inside tx.
func (f pgFeeds) putTx(ctx context.Context, tx pgx.Tx, tenant string, ch changes) error {
	if len(ch.accounts) > 0 {
		if err := f.accounts.PutTx(ctx, tx, tenant, ch.accounts...); err != nil {
			return fmt.Errorf("mockpsp: feeding accounts: %w", err)
		}
	}
	if len(ch.beneficiaries) > 0 {
		if err := f.beneficiaries.PutTx(ctx, tx, tenant, ch.beneficiaries...); err != nil {
			return fmt.Errorf("mockpsp: feeding beneficiaries: %w", err)
		}
	}
	if len(ch.transactions) > 0 {
		if err := f.transactions.PutTx(ctx, tx, tenant, ch.transactions...); err != nil {
			return fmt.Errorf("mockpsp: feeding transactions: %w", err)
		}
	}
	return nil
}

// pgStore is the stateStore of -postgres.
type pgStore struct {
	pool       *pgxpool.Pool
	feeds      pgFeeds
	maxTenants int
	owned      bool // close the pool with the store
}

// newPGStore returns a store on pool holding at most maxTenants tenants; migrate creates its tables.
func newPGStore(pool *pgxpool.Pool, f pgFeeds, maxTenants int) *pgStore {
	return &pgStore{pool: pool, feeds: f, maxTenants: maxTenants}
}

// migrate creates the state table and the feeds' tables when they do not exist. It is safe at every
// start, from several processes at once.
func (s *pgStore) migrate(ctx context.Context) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, stateMigrationLock); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+stateTable+` (
			tenant     text        PRIMARY KEY,
			state      jsonb       NOT NULL,
			updated_at timestamptz NOT NULL DEFAULT now()
		)`)
		return err
	})
	if err != nil {
		return fmt.Errorf("mockpsp: migrating %s: %w", stateTable, err)
	}
	// The three feeds share pgfeed's tables: one Migrate creates them for all.
	return s.feeds.accounts.Migrate(ctx)
}

func (s *pgStore) update(ctx context.Context, tenant string, fn func(*tenantState) (changes, error)) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		fresh, err := newTenantState(tenant).encode()
		if err != nil {
			return err
		}
		// A new tenant only while the table holds fewer than maxTenants (processes creating tenants at
		// the same moment may pass the bound by a few: it bounds growth, it is no quota).
		if _, err := tx.Exec(ctx, `INSERT INTO `+stateTable+` (tenant, state)
			SELECT $1, $2 WHERE (SELECT count(*) FROM `+stateTable+`) < $3
			ON CONFLICT (tenant) DO NOTHING`, tenant, fresh, s.maxTenants); err != nil {
			return fmt.Errorf("mockpsp: creating the state of %s: %w", tenant, err)
		}
		var raw []byte
		err = tx.QueryRow(ctx, `SELECT state FROM `+stateTable+` WHERE tenant = $1 FOR UPDATE`, tenant).Scan(&raw)
		if errors.Is(err, pgx.ErrNoRows) {
			return tooManyTenants(s.maxTenants)
		}
		if err != nil {
			return fmt.Errorf("mockpsp: locking the state of %s: %w", tenant, err)
		}
		st, err := decodeTenantState(tenant, raw)
		if err != nil {
			return err
		}
		ch, err := fn(st)
		if err != nil {
			return err
		}
		data, err := st.encode()
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE `+stateTable+` SET state = $2, updated_at = now() WHERE tenant = $1`, tenant, data); err != nil {
			return fmt.Errorf("mockpsp: writing the state of %s: %w", tenant, err)
		}
		return s.feeds.putTx(ctx, tx, tenant, ch)
	})
}

func (s *pgStore) view(ctx context.Context, tenant string, fn func(*tenantState) error) error {
	var raw []byte
	err := s.pool.QueryRow(ctx, `SELECT state FROM `+stateTable+` WHERE tenant = $1`, tenant).Scan(&raw)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return fn(newTenantState(tenant))
	case err != nil:
		return fmt.Errorf("mockpsp: reading the state of %s: %w", tenant, err)
	}
	st, err := decodeTenantState(tenant, raw)
	if err != nil {
		return err
	}
	return fn(st)
}

func (s *pgStore) close() {
	if s.owned {
		s.pool.Close()
	}
}

package connector

import "context"

type tenantKey struct{}

// WithTenant returns a context carrying the authenticated tenant. The HTTP handler calls it after
// authentication; tests of a provider can call it directly.
func WithTenant(ctx context.Context, tenant string) context.Context {
	return context.WithValue(ctx, tenantKey{}, tenant)
}

// TenantFrom returns the tenant the request was authenticated as: the name mapped to its API key, or
// the value a custom authenticator returned. A provider serving several datasets (one per API key)
// uses it to pick the dataset. ok is false outside an authenticated request.
func TenantFrom(ctx context.Context) (tenant string, ok bool) {
	tenant, ok = ctx.Value(tenantKey{}).(string)
	return tenant, ok
}

package connector

import "context"

type tenantKey struct{}

// tenantContext carries the tenant: one allocation, where context.WithValue would make two (the
// context and the string boxed in an interface). Its Value for tenantKey is itself.
type tenantContext struct {
	context.Context
	tenant string
}

func (c *tenantContext) Value(key any) any {
	if _, ok := key.(tenantKey); ok {
		return c
	}
	return c.Context.Value(key)
}

func (c *tenantContext) String() string { return "connector.WithTenant" }

// WithTenant returns a context carrying the authenticated tenant. The HTTP handler calls it after
// authentication; tests of a provider can call it directly.
func WithTenant(ctx context.Context, tenant string) context.Context {
	if ctx == nil {
		panic("connector.WithTenant: nil parent context")
	}
	return &tenantContext{Context: ctx, tenant: tenant}
}

// TenantFrom returns the tenant the request was authenticated as: the name mapped to its API key, or
// the value a custom authenticator returned. A provider serving several datasets (one per API key)
// uses it to pick the dataset. ok is false outside an authenticated request.
func TenantFrom(ctx context.Context) (tenant string, ok bool) {
	c, ok := ctx.Value(tenantKey{}).(*tenantContext)
	if !ok {
		return "", false
	}
	return c.tenant, true
}

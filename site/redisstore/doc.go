// Package redisstore is a [site.Store] on Redis (go-redis v9): a single
// node, a Redis Cluster, or an embedded in-process Redis (miniredis) when
// no server is configured.
//
// # Use
//
//	store := redisstore.New(client, &redisstore.Options{Clock: clock, Logger: log})
//	defer store.Close() // closes client
//	if _, err := store.Migrate(ctx); err != nil { ... } // once, before serving
//
// Without a Redis server, [StartEmbedded] starts miniredis on 127.0.0.1 (or
// [NewEmbedded] returns a store on one); its data lives in memory only and
// is lost when the process ends.
//
// # Key layout
//
// Every key starts with Options.KeyPrefix (default "sc"). One site's keys
// carry the hash tag {site:<id>}, so they share a Redis Cluster slot and can
// be changed in one MULTI/EXEC:
//
//	sc:{site:<id>}:config                  hash, every value JSON (encoding/json of the site types):
//	                                         "site"          -> site.Site
//	                                         "circuit:<id>"  -> site.Circuit
//	                                         "charger:<id>"  -> site.Charger
//	                                         "limit:<id>"    -> site.GridLimit
//	sc:{site:<id>}:rev                     integer, +1 on every configuration change (Store.Revision)
//	sc:{site:<id>}:charger:<id>:state      JSON site.ChargerState of a configured charger
//	sc:{site:<id>}:loop                    JSON site.LoopState (loopstate.go)
//	sc:{site:<id>}:outbox, :outbox:seq     delegation outbox and its counter (outbox.go)
//	sc:{site:<id>}:plan, :plan:inputs      plan and its inputs (plan.go)
//	sc:sites                               sorted set of site IDs, all scores 0 (ListSites pages with ZRANGEBYLEX)
//	sc:ocpp:<identity>                     "<site>/<charger>": the charger registered with an OCPP identity
//	sc:schema_version                      integer, see Migrate
//	sc:migrate_lock                        held while Migrate runs
//
// The site's config hash is the truth; sc:sites and sc:ocpp:* are indexes.
// Config returns circuits, chargers and limits sorted by ID.
//
// # Transactions
//
// Every change is optimistic: WATCH the site's config and rev keys, read,
// compute, then write in one MULTI/EXEC; when another writer got there first
// (redis.TxFailedErr) the whole step, including the caller's fn, is retried
// after a short random back-off, up to Options.MaxAttempts times, then
// [site.ErrConflict]. UpdateConfig gives Generation+1 and a new UpdateTime
// (from Options.Clock) only to resources whose content changed (compared
// without Generation and times); new ones get 1. It validates the whole
// result with [site.Config.Validate]. Deleting a circuit that still has
// child circuits or chargers gives [site.ErrFailedPrecondition] (checked
// before validation); other broken rules a *[site.ValidationError]. A
// removed charger's state and identity go with it. DeleteSite removes every
// key of the site but :outbox:seq (kept so delegated Seqs keep growing
// across a delete and re-create) in one MULTI/EXEC. A control loop or
// delegation hub still running for the site may write its :loop or
// :outbox again right after (the loop stops at its next reload, within
// its SiteRescan); such a key is removed by the next DeleteSite of the ID. fn's own errors are
// returned as they are, so callers do etag checks inside fn.
//
// Charger state is a read-modify-write of one JSON value under WATCH of the
// state key and the site's config key, so state is never written for a
// charger that is being removed.
//
// # Global keys on one node and on a cluster
//
// With a *redis.Client (one node) the global keys join the site's MULTI:
// identity keys and the owners' config keys are WATCHed too, and sc:sites
// and sc:ocpp:* are written in the same EXEC. Everything is atomic.
//
// On a cluster (any other client, or Options.ClusterSafe) a MULTI cannot
// span slots, so global keys are kept by claims before and clean-up after,
// and readers check them against the site's configuration:
//   - An identity a write adds is claimed before the site's EXEC by a
//     compare-and-set (a one-key Lua script) to "<site>/<charger>@<ms>@<nonce>";
//     after the EXEC the claim is made final ("<site>/<charger>"), after a
//     failure released. Keys of identities a write removes are deleted
//     after the EXEC, only if they still point at the old charger.
//   - A key pointing at a charger that no longer has the identity (a writer
//     died after its EXEC) is stale: ChargerByIdentity answers ErrNotFound
//     and the next site that wants the identity takes it over. A claim older
//     than Options.ClaimTimeout (default 1 minute) whose charger was stored
//     is made final by the next ChargerByIdentity; one whose charger was not
//     stored is taken over. A fresh claim blocks other sites
//     (ErrAlreadyExists), and writers of the same site retry.
//   - CreateSite adds the site to sc:sites before its EXEC and again after;
//     DeleteSite and a failed CreateSite remove it only if the site does not
//     exist, re-adding it if it appeared meanwhile. ListSites skips listed
//     IDs whose site does not exist.
//
// The one case the cluster protocol does not cover: a writer that stalls
// for longer than ClaimTimeout between its claim and its EXEC may lose the
// claim to another site and still commit, giving two chargers one identity.
// Keep ClaimTimeout far above any expected stall.
//
// # Errors
//
// Errors wrap the site sentinels with %w. Connection failures, a closed
// client and server replies such as LOADING, READONLY or CLUSTERDOWN become
// [site.ErrUnavailable] (wrapping the cause); go-redis reconnects by itself,
// so callers just retry later. Context errors are returned wrapped as they
// are. Malformed site or charger IDs give ErrNotFound (no such key can
// exist).
//
// # Schema and migrations
//
// sc:schema_version holds the layout version. [Store.Migrate] records
// [SchemaVersion] on an empty database, treats data without a version as
// version 1, runs Options.Migrations from the stored version up (each
// recorded as it finishes, so a crash resumes) and refuses data from a newer
// program with [ErrSchemaTooNew]. Renaming a field of the site types changes
// the stored JSON: bump the version and add a migration (a test pins the
// encoding).
package redisstore

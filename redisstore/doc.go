// Package redisstore keeps a deskie Client's shared state in Redis, so that the
// replicas of a bridge act as one client: one case per customer burst, one rate
// budget for the account, each agent reply handed to the application once.
//
//	rdb := redis.NewClient(&redis.Options{Addr: "redis:6379", ContextTimeoutEnabled: true})
//	store := redisstore.New(rdb)
//	client, err := deskie.NewClient(subdomain, email, apiKey, deskie.WithStore(store))
//	…
//	http.Handle("/deskie/", client.NewWebhookHandler(fn, deskie.WithWebhookToken(secret)))
//
// Give every replica a Store on the same Redis with the same prefix. [*Store]
// implements [deskie.Store], and also the legacy deskie.DedupStore; given to
// deskie.WithDedupStore (for the package-level deskie.NewWebhookHandler), it is
// used through its atomic claims. See
// docs/replicas.md in the repository for what is shared and how to size the
// leases.
//
// # Clients
//
// Any redis.UniversalClient works: a *redis.Client (one node, or a Sentinel
// failover client), a *redis.ClusterClient, a *redis.Ring. Every conditional step
// is one Lua script on one customer's keys, and the SDK writes a customer's keys
// with the customer in braces ("turn:{cch1:u-42}"): in Redis Cluster they share a
// hash slot, so each script runs on one node. Scripts are sent with EVALSHA and
// sent whole when Redis answers NOSCRIPT (after a restart or a failover), so a
// Redis that comes back needs no action.
//
// Build the client with ContextTimeoutEnabled: true so a call's context (and
// [WithTimeout]) bounds its socket reads; without it the store still stops
// waiting when the context ends, but the command itself is bounded only by the
// client's ReadTimeout.
//
// # Errors and programming mistakes
//
// Every method returns Redis's error wrapped with the store and the step, e.g.
// "redisstore: acquire turn: dial tcp 10.0.0.5:6379: connect: connection
// refused"; the SDK wraps it in turn in a *deskie.StoreError. The store never
// falls back to state of its own. [New] panics, naming the mistake, when given a
// nil client or an invalid option (an empty prefix, one with a brace, a negative
// timeout): these are programming errors caught at start-up, as net/http panics
// on a bad pattern.
//
// # Key layout
//
// Every key is the prefix (default "deskie:", see [WithPrefix]) followed by the
// key the SDK built. Times are unix milliseconds; a TTL the SDK gives as 0 means
// no expiry.
//
//	KEY                              TYPE    HOLDS                                     TTL
//	turn:{CHANNEL:USER}              string  the token of the Send holding the         the lease (15 s by default,
//	                                         customer's turn                           renewed while the Send runs)
//	turn:{CHANNEL:USER}:state        string  what the last Send of the customer left   24 h after the release
//	                                         for the next one (opaque bytes)
//	idem:{CHANNEL:USER}:KEY          string  the outcome of a Send with an             48 h
//	                                         IdempotencyKey (opaque bytes)
//	user:ID, apimsg:ID, …            string  the SDK's small caches (opaque bytes)     as the SDK sets
//	reply:MESSAGE_ID                 string  "held:TOKEN" while a replica hands the    1 min while held (renewed);
//	                                         reply to the application, then "done"     7 days once done
//	MESSAGE_ID                       string  "done" after Done (the legacy             7 days
//	                                         deskie.DedupStore methods)
//	budget:HOST/PATH                 hash    limit, left (units of the current         a day past the window's end,
//	                                         window), end (unix ms), gen (bumped at    refreshed by every call
//	                                         each new window), told (1 when the
//	                                         server reported the end)
//
// CHANNEL, USER and KEY are query-escaped by the SDK, so no user id can reach
// into another key or break the braces. A turn's state key is its lock's key plus
// ":state", so both share the customer's hash slot; on Cluster a turn key must
// hold a hash tag for the pair to be written in one script (the SDK's always
// do). Keys the SDK writes without braces (reply:…, user:…, budget:…) are
// single-key and may live on any node.
//
// The budget scripts are [deskie.BudgetSpend] and [deskie.BudgetObserve] in Lua,
// checked against them step by step on random sequences. The store keeps times
// to the millisecond: a window's end is rounded up, so a request never goes
// earlier than the Go reference would let it, and waits at most a millisecond
// longer.
//
// # Tests
//
// The tests need a real Redis: from the repository root,
//
//	source .ci/redis.sh && redis_start   # exports DESKIE_TEST_REDIS=127.0.0.1:PORT
//	(cd redisstore && go test -race ./...)
//	redis_stop
//
// Without DESKIE_TEST_REDIS they skip, except in CI (CI set), where they fail.
package redisstore

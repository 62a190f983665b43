package redisstore

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/deskie-go/deskie"
	"github.com/redis/go-redis/v9"
)

// DefaultPrefix is the prefix of every key the store writes, unless [WithPrefix]
// sets another.
const DefaultPrefix = "deskie:"

// dedupDoneTTL is how long [Store.Done] remembers a delivery: a week, like the
// SDK's own delivered-reply claims.
const dedupDoneTTL = 7 * 24 * time.Hour

// Store is a [deskie.Store] (and a [deskie.DedupStore]) on Redis. Create it with
// [New]; it is safe for concurrent use, and every replica of a bridge gives its
// Client a Store on the same Redis (and the same prefix) so they act as one.
type Store struct {
	rdb      redis.UniversalClient
	prefix   string
	timeout  time.Duration
	ctxAware bool // rdb bounds a command by its context (ContextTimeoutEnabled)
}

// Option configures [New].
type Option func(*Store)

// WithPrefix sets the prefix of every key (default "deskie:"), to keep several
// bridges, or tests, apart on one Redis. Stores with different prefixes share
// nothing. New panics when p is empty or holds a brace ('{' or '}'): a brace
// would change the hash slot Redis Cluster picks for a customer's keys.
func WithPrefix(p string) Option {
	return func(s *Store) {
		if p == "" {
			panic("redisstore: WithPrefix: empty prefix (keys would mix with the database's other keys; the default is \"deskie:\")")
		}
		if strings.ContainsAny(p, "{}") {
			panic(fmt.Sprintf("redisstore: WithPrefix: prefix %q holds a brace, which would change the hash slot of a customer's keys in Redis Cluster", p))
		}
		s.prefix = p
	}
}

// WithTimeout bounds each call to Redis by d, on top of the caller's context
// (0, the default: only the context and the client's own read/write timeouts
// bound it). A slow or unreachable Redis then fails the call after d with an
// error, instead of holding a Send or a webhook delivery. A few seconds is
// typical: well below the SDK's turn lease (15 s), so a slow call cannot outlast
// a lease it is renewing. New panics when d is negative.
func WithTimeout(d time.Duration) Option {
	return func(s *Store) {
		if d < 0 {
			panic(fmt.Sprintf("redisstore: WithTimeout: negative timeout %v", d))
		}
		s.timeout = d
	}
}

// New returns a Store on rdb: a *redis.Client (one node), a failover client
// (Sentinel) or a *redis.ClusterClient — anything that implements
// redis.UniversalClient. The Store does not close rdb.
//
// New panics when rdb is nil or an option is invalid: these are programming
// errors, caught at start-up (as net/http does for a bad pattern) rather than on
// the first message.
func New(rdb redis.UniversalClient, opts ...Option) *Store {
	if rdb == nil || isNilPointer(rdb) {
		panic("redisstore: New: nil redis client (pass redis.NewClient(&redis.Options{Addr: …}) or another redis.UniversalClient)")
	}
	s := &Store{rdb: rdb, prefix: DefaultPrefix, ctxAware: honoursContext(rdb)}
	for _, opt := range opts {
		if opt != nil {
			opt(s)
		}
	}
	return s
}

// honoursContext reports whether rdb ends a command when its context is done.
func honoursContext(rdb redis.UniversalClient) bool {
	switch c := rdb.(type) {
	case *redis.Client:
		return c.Options().ContextTimeoutEnabled
	case *redis.ClusterClient:
		return c.Options().ContextTimeoutEnabled
	case *redis.Ring:
		return c.Options().ContextTimeoutEnabled
	}
	return false
}

func isNilPointer(v any) bool {
	rv := reflect.ValueOf(v)
	return rv.Kind() == reflect.Pointer && rv.IsNil()
}

// Prefix returns the prefix of the store's keys.
func (s *Store) Prefix() string { return s.prefix }

// key is the Redis key for a store key: the prefix, then the key as the SDK built
// it (the braced customer part, if any, stays the hash tag).
func (s *Store) key(k string) string { return s.prefix + k }

// stateKey is where a turn's state is kept: beside its lock, with the same hash
// tag.
func (s *Store) stateKey(k string) string { return s.prefix + k + ":state" }

func (s *Store) ctx(ctx context.Context) (context.Context, context.CancelFunc) {
	if s.timeout > 0 {
		return context.WithTimeout(ctx, s.timeout)
	}
	return ctx, func() {}
}

// wrap names the store and the step in an error: "redisstore: acquire turn: …".
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("redisstore: %s: %w", op, err)
}

// millis is d in whole milliseconds, rounded up (a lease is never shorter than
// asked); "0" (no expiry) for d <= 0.
func millis(d time.Duration) string {
	if d <= 0 {
		return "0"
	}
	return strconv.FormatInt(int64((d+time.Millisecond-1)/time.Millisecond), 10)
}

// ceilMillis is t in unix milliseconds, rounded up: a window's end is kept no
// earlier than the reference computes it.
func ceilMillis(t time.Time) int64 {
	ms := t.UnixMilli()
	if time.UnixMilli(ms).Before(t) {
		ms++
	}
	return ms
}

func toInt(v any) (int64, bool) {
	n, ok := v.(int64)
	return n, ok
}

func unexpected(v any) error { return fmt.Errorf("unexpected reply %v (%T)", v, v) }

// run calls fn with ctx bounded by the store's timeout, and returns when fn does
// or ctx is done, whichever is first. go-redis bounds a command by its context
// only when the client was built with ContextTimeoutEnabled; otherwise run stops
// waiting itself when ctx is done (the command may still complete in Redis, as
// with any timeout) and fn finishes in the background within the client's
// ReadTimeout.
func (s *Store) run(ctx context.Context, op string, fn func(context.Context) error) error {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	var err error
	switch {
	case s.ctxAware || ctx.Done() == nil:
		err = fn(ctx)
	case ctx.Err() != nil:
		err = ctx.Err()
	default:
		done := make(chan error, 1)
		go func() { done <- fn(ctx) }()
		select {
		case err = <-done:
		case <-ctx.Done():
			err = ctx.Err()
		}
	}
	if err == nil {
		return nil
	}
	if cerr := ctxErr(ctx); cerr != nil && !errors.Is(err, cerr) {
		// go-redis reports a deadline it applied to the socket as "i/o timeout":
		// say which context ended too, so errors.Is(err, context.DeadlineExceeded)
		// holds.
		return fmt.Errorf("redisstore: %s: %w (%w)", op, err, cerr)
	}
	return wrap(op, err)
}

// ctxErr is ctx.Err(), and DeadlineExceeded once ctx's deadline has passed even
// if its timer has not fired yet (a socket deadline set to it can fire first).
func ctxErr(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) {
		return context.DeadlineExceeded
	}
	return nil
}

// AcquireTurn implements [deskie.TurnStore]: SET NX PX in one script that also
// returns the state the last holder left.
func (s *Store) AcquireTurn(ctx context.Context, key, token string, lease time.Duration) (bool, []byte, error) {
	var ok bool
	var state []byte
	err := s.run(ctx, "acquire turn", func(ctx context.Context) error {
		res, err := acquireTurn.Run(ctx, s.rdb, []string{s.key(key), s.stateKey(key)}, token, millis(lease)).Slice()
		if err != nil {
			return err
		}
		if len(res) == 0 || len(res) > 2 {
			return unexpected(res)
		}
		if n, isInt := toInt(res[0]); !isInt || n < 0 || n > 1 {
			return unexpected(res)
		} else if n == 0 {
			return nil
		}
		ok = true
		if len(res) == 2 {
			st, isStr := res[1].(string)
			if !isStr {
				ok = false
				return unexpected(res)
			}
			state = []byte(st)
		}
		return nil
	})
	if err != nil {
		return false, nil, err
	}
	return ok, state, nil
}

// RenewTurn implements [deskie.TurnStore]: PEXPIRE when token still holds key.
func (s *Store) RenewTurn(ctx context.Context, key, token string, lease time.Duration) (bool, error) {
	var n int64
	err := s.run(ctx, "renew turn", func(ctx context.Context) (err error) {
		n, err = renewTurn.Run(ctx, s.rdb, []string{s.key(key)}, token, millis(lease)).Int64()
		return err
	})
	if err != nil {
		return false, err
	}
	return n == 1, nil
}

// ReleaseTurn implements [deskie.TurnStore]: when token holds key, it deletes the
// lock and saves state (unless nil) in one script; otherwise it writes nothing
// and returns [deskie.ErrTurnLost].
func (s *Store) ReleaseTurn(ctx context.Context, key, token string, state []byte, stateTTL time.Duration) error {
	has := "0"
	if state != nil {
		has = "1"
	}
	var n int64
	err := s.run(ctx, "release turn", func(ctx context.Context) (err error) {
		n, err = releaseTurn.Run(ctx, s.rdb, []string{s.key(key), s.stateKey(key)}, token, has, state, millis(stateTTL)).Int64()
		return err
	})
	if err != nil {
		return err
	}
	if n != 1 {
		return deskie.ErrTurnLost
	}
	return nil
}

// GetRecord implements [deskie.RecordStore] with GET.
func (s *Store) GetRecord(ctx context.Context, key string) ([]byte, error) {
	return s.get(ctx, "get record", key)
}

// get is GET; nil, nil when the key is missing.
func (s *Store) get(ctx context.Context, op, key string) ([]byte, error) {
	var v []byte
	err := s.run(ctx, op, func(ctx context.Context) (err error) {
		v, err = s.rdb.Get(ctx, s.key(key)).Bytes()
		if errors.Is(err, redis.Nil) {
			v, err = nil, nil
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return v, nil
}

// PutRecord implements [deskie.RecordStore] with SET PX.
func (s *Store) PutRecord(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	return s.set(ctx, "put record", key, value, ttl)
}

// set is SET key value [PX ttl]; a TTL <= 0 keeps the value without expiry.
func (s *Store) set(ctx context.Context, op, key string, value any, ttl time.Duration) error {
	return s.run(ctx, op, func(ctx context.Context) error {
		if ttl <= 0 {
			return s.rdb.Set(ctx, s.key(key), value, 0).Err()
		}
		return s.rdb.Do(ctx, "SET", s.key(key), value, "PX", millis(ttl)).Err()
	})
}

// Claim implements [deskie.ClaimStore] in one script: done, held by another, or
// now token's for ttl.
func (s *Store) Claim(ctx context.Context, key, token string, ttl time.Duration) (deskie.ClaimState, error) {
	var n int64
	err := s.run(ctx, "claim", func(ctx context.Context) (err error) {
		n, err = claim.Run(ctx, s.rdb, []string{s.key(key)}, token, millis(ttl)).Int64()
		return err
	})
	if err != nil {
		return 0, err
	}
	switch st := deskie.ClaimState(n); st {
	case deskie.ClaimAcquired, deskie.ClaimBusy, deskie.ClaimDone:
		return st, nil
	}
	return 0, wrap("claim", unexpected(n))
}

// ReleaseClaim implements [deskie.ClaimStore]: the claim is deleted only when
// token holds it and it is not done.
func (s *Store) ReleaseClaim(ctx context.Context, key, token string) error {
	return s.run(ctx, "release claim", func(ctx context.Context) error {
		return releaseClaim.Run(ctx, s.rdb, []string{s.key(key)}, token).Err()
	})
}

// CompleteClaim implements [deskie.ClaimStore]: key is done for doneTTL, whoever
// held it (one SET).
func (s *Store) CompleteClaim(ctx context.Context, key, _ string, doneTTL time.Duration) error {
	return s.set(ctx, "complete claim", key, claimDoneValue, doneTTL)
}

// Seen implements [deskie.DedupStore] (deprecated in the core, still accepted):
// whether key was completed (by [Store.Done] or [Store.CompleteClaim]). Given to
// deskie.WithDedupStore, the Store is used through its claims instead.
func (s *Store) Seen(ctx context.Context, key string) (bool, error) {
	v, err := s.get(ctx, "seen", key)
	if err != nil {
		return false, err
	}
	return string(v) == claimDoneValue, nil
}

// Done implements [deskie.DedupStore]: key is completed, remembered for 7 days.
func (s *Store) Done(ctx context.Context, key string) error {
	return s.set(ctx, "done", key, claimDoneValue, dedupDoneTTL)
}

// Interface checks.
var (
	_ deskie.Store      = (*Store)(nil)
	_ deskie.DedupStore = (*Store)(nil) //nolint:staticcheck // SA1019: still accepted by deskie.WithDedupStore
)

package deskie

import (
	"context"
	"errors"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Store holds the state a Client keeps between calls, and that its replicas share
// when they run as several processes:
//
//   - customer turns: Chats.Send for one customer (channel, user_custom_id) runs one
//     at a time, so a burst opens one case, not one per message ([TurnStore]);
//   - records: idempotency records of Chats.Send (CustomerMessage.IdempotencyKey),
//     and small caches (which user id belongs to which customer, which messages the
//     integration wrote itself, the reply watcher's position) ([RecordStore]);
//   - claims: which agent replies were delivered, so the webhook handler and
//     Replies.Watch hand each reply to the application once ([ClaimStore]);
//   - the account's rate budget, so the replicas together stay under the account's
//     limit ([BudgetStore]).
//
// The default, [NewMemoryStore], keeps all of it in the process. Replicas share a
// Store on a database they all reach: package redisstore implements one on Redis.
//
// # Implementing a Store
//
// Every method must be atomic with respect to every other call on the same key, from
// any process; each one is a single conditional write in most databases (a Lua
// script in Redis, an UPDATE … WHERE in SQL). Keys are built by the SDK: printable
// ASCII without spaces, at most a few hundred bytes, each variable part escaped. A
// part written in braces ("turn:{cch1:u-42}") is the customer: a store that shards
// (Redis Cluster) should keep keys with the same braced part together. Values are
// opaque bytes; a TTL of 0 means the value never expires, but the SDK always sets
// one. An implementation returns errors as they are (wrapping is welcome); the SDK
// wraps them in a [*StoreError] and never falls back to state of its own.
//
// Times passed in (now) come from the caller's clock; an implementation compares
// them with what it stored, never with its own clock, so that replicas agree.
type Store interface {
	TurnStore
	RecordStore
	ClaimStore
	BudgetStore
}

// TurnStore gives one customer's Sends turns across processes: a lease-based lock
// that carries a small state from one holder to the next.
type TurnStore interface {
	// AcquireTurn takes the lock key for token when nobody holds it (or its lease
	// ran out), for lease; it returns false when another token holds it (the SDK
	// then waits and tries again). On success it returns the state the last holder
	// left with ReleaseTurn (nil if none, or expired).
	AcquireTurn(ctx context.Context, key, token string, lease time.Duration) (ok bool, state []byte, err error)
	// RenewTurn extends token's lease; false when token no longer holds key (the
	// lease ran out and another holder may have taken it).
	RenewTurn(ctx context.Context, key, token string, lease time.Duration) (bool, error)
	// ReleaseTurn frees key if token holds it and, in the same atomic step, saves
	// state for the next holder (kept for stateTTL; a nil state keeps the state
	// saved before). When token no longer holds key, nothing is written (fencing:
	// an expired holder never overwrites the state of the next) and ErrTurnLost is
	// returned.
	ReleaseTurn(ctx context.Context, key, token string, state []byte, stateTTL time.Duration) error
}

// RecordStore keeps small values with a lifetime.
type RecordStore interface {
	// GetRecord returns the value stored at key, or nil, nil when there is none
	// (or it expired).
	GetRecord(ctx context.Context, key string) ([]byte, error)
	// PutRecord stores value at key for ttl, replacing any value.
	PutRecord(ctx context.Context, key string, value []byte, ttl time.Duration) error
}

// ClaimStore records which deliveries were handled, with an atomic claim so two
// processes never both run the handler for one reply.
type ClaimStore interface {
	// Claim reserves key for token for ttl (the longest a handler may run) unless
	// it is held or done: ClaimAcquired when it is now token's, ClaimBusy when
	// another token holds it, ClaimDone when it was completed.
	Claim(ctx context.Context, key, token string, ttl time.Duration) (ClaimState, error)
	// ReleaseClaim drops token's claim (the handler failed: the next copy or poll
	// may claim it). A claim held by another token is left alone.
	ReleaseClaim(ctx context.Context, key, token string) error
	// CompleteClaim marks key done for doneTTL, whoever holds it: the reply was
	// handled and must not be handled again.
	CompleteClaim(ctx context.Context, key, token string, doneTTL time.Duration) error
}

// ClaimState is the outcome of [ClaimStore.Claim].
type ClaimState int

// The claim outcomes.
const (
	// ClaimAcquired: the caller holds the claim and must complete or release it.
	ClaimAcquired ClaimState = iota + 1
	// ClaimBusy: another holder is handling it now.
	ClaimBusy
	// ClaimDone: it was handled already.
	ClaimDone
)

// String returns "acquired", "busy" or "done".
func (s ClaimState) String() string {
	switch s {
	case ClaimAcquired:
		return "acquired"
	case ClaimBusy:
		return "busy"
	case ClaimDone:
		return "done"
	}
	return "ClaimState(" + strconv.Itoa(int(s)) + ")"
}

// BudgetStore holds the account's rate window, spent by every process.
//
// The state under a key is (limit, left, end, gen): the account's calls per
// window, the units left in the current window, when it ends, and a generation
// number bumped each time a window starts. [BudgetSpend] and [BudgetObserve]
// define both operations as plain Go, so an implementation in another language
// (a Lua script, SQL) can be checked against them; [MemoryStore] runs them under a
// mutex.
type BudgetStore interface {
	// SpendBudget runs [BudgetSpend] atomically on the state at key.
	SpendBudget(ctx context.Context, key string, req BudgetRequest) (BudgetGrant, error)
	// ObserveBudget runs [BudgetObserve] atomically on the state at key.
	ObserveBudget(ctx context.Context, key string, obs BudgetObservation) error
}

// BudgetState is the shared rate window ([BudgetStore]).
type BudgetState struct {
	Limit int       // units per window; 0 while unknown
	Left  int       // units left in the window
	End   time.Time // when the window ends
	Gen   int64     // bumped at each new window
	Told  bool      // End was told by the server (retry_after), not estimated
}

// BudgetRequest asks [BudgetSpend] for Cost units at Now; a window lasts Window.
type BudgetRequest struct {
	Cost   int
	Now    time.Time
	Window time.Duration
}

// BudgetGrant is [BudgetSpend]'s answer: OK, or how long to Wait before asking
// again. Gen is the window the units were spent in (for [BudgetObservation]); Left
// is what is left after spending.
type BudgetGrant struct {
	OK   bool
	Wait time.Duration
	Gen  int64
	Left int
}

// BudgetObservation is what one answer said about the account's budget: Limit and
// Left are -1 when the answer did not carry them, RetryAfter is -1 when absent;
// Limited is true for a 429. Gen is the grant's generation of the request it
// answers. MaxWait caps how long a 429 parks the budget.
type BudgetObservation struct {
	Now        time.Time
	Window     time.Duration
	Limit      int
	Left       int
	RetryAfter time.Duration
	Limited    bool
	Gen        int64
	MaxWait    time.Duration
}

// BudgetSpend is the spend step of the shared budget, the reference for
// [BudgetStore] implementations:
//   - while the limit is unknown (0), every request may go (the first answer tells
//     the limit);
//   - at or after the window's end a new window starts: left = limit, end = now +
//     window, gen + 1;
//   - when left pays the cost it is spent; a limit below the cost (a server that
//     reports 1 per minute) lets one request go per window, so writes are never
//     blocked forever;
//   - otherwise the caller waits until the window ends.
func BudgetSpend(st BudgetState, req BudgetRequest) (BudgetState, BudgetGrant) {
	if st.Limit <= 0 {
		return st, BudgetGrant{OK: true, Gen: st.Gen, Left: -1}
	}
	if !req.Now.Before(st.End) {
		st.Left, st.End, st.Gen, st.Told = st.Limit, req.Now.Add(req.Window), st.Gen+1, false
	}
	switch {
	case st.Left >= req.Cost:
		st.Left -= req.Cost
	case st.Limit < req.Cost && st.Left == st.Limit:
		st.Left = 0
	default:
		return st, BudgetGrant{Wait: st.End.Sub(req.Now), Gen: st.Gen, Left: st.Left}
	}
	return st, BudgetGrant{OK: true, Gen: st.Gen, Left: st.Left}
}

// budgetMargin (10 ms) is added to a server-reported window end so a rounded
// retry_after never lets a request reach the server just before its window
// turns. A store that keeps times more coarsely (milliseconds) rounds window ends
// up, never down: a request may then wait a little longer, never go early.
const budgetMargin = 10 * time.Millisecond

// BudgetObserve is the learn step of the shared budget, the reference for
// [BudgetStore] implementations:
//   - a reported limit replaces the known one; the first one starts a window
//     (left = limit, end = now + retry_after when the answer has one, else now +
//     window) to which this answer belongs;
//   - an answer to a request of the current window (same gen) lowers left to what
//     the server reported, never raises it (answers arrive out of order; the
//     server's count only goes down within a window);
//   - a retry_after of the current window replaces the end the SDK estimated (a
//     window seen first is assumed to last a whole window from then); once told,
//     the end only moves later, never earlier (within a window the end only moves
//     forward, so an answer that arrives out of order cannot open the next window
//     early);
//   - a retry_after is bounded by the window, and 10 ms (budgetMargin) is added
//     to every end the server tells;
//   - a 429 empties the window and ends it after min(retry_after, MaxWait), or
//     after min(window, MaxWait) when the answer gave no retry_after: the next
//     window then starts fresh (left = limit).
func BudgetObserve(st BudgetState, o BudgetObservation) BudgetState {
	if o.Limit > 0 {
		if st.Limit <= 0 {
			// The first limit heard of starts a window; this answer belongs to it.
			end := o.Now.Add(o.Window)
			if o.RetryAfter >= 0 && !o.Limited {
				end = o.Now.Add(min(o.RetryAfter, o.Window) + budgetMargin)
			}
			st.Left, st.End, st.Gen, st.Told = o.Limit, end, st.Gen+1, false
			o.Gen = st.Gen
		}
		st.Limit = o.Limit
	}
	if st.Limit <= 0 {
		return st
	}
	current := o.Gen == st.Gen
	if current && o.Left >= 0 && o.Left < st.Left {
		st.Left = o.Left
	}
	if o.Limited {
		wait := o.Window
		if o.RetryAfter >= 0 {
			wait = o.RetryAfter + budgetMargin
		}
		if o.MaxWait > 0 {
			wait = min(wait, o.MaxWait)
		}
		st.Left, st.End, st.Told = 0, o.Now.Add(wait), true
		return st
	}
	if current && o.RetryAfter >= 0 {
		if end := o.Now.Add(min(o.RetryAfter, o.Window) + budgetMargin); !st.Told || end.After(st.End) {
			st.End, st.Told = end, true
		}
	}
	return st
}

// ErrTurnLost is returned by [TurnStore.ReleaseTurn] when the lease ran out and
// the turn is no longer the caller's.
var ErrTurnLost = errors.New("deskie: customer turn lost (its lease ran out)")

// StoreError is returned when the Store a call needs failed (unreachable, timed
// out, or answered something unreadable). Nothing was written to Deskie after the
// failure; the call is safe to repeat (with the same IdempotencyKey) once the
// store is back. errors.As(err, &se) finds it; Unwrap gives the store's error.
type StoreError struct {
	// Op is what the SDK asked the store, e.g. "acquire turn" or "claim reply".
	Op string
	// Err is the store's error.
	Err error
}

func (e *StoreError) Error() string { return "deskie: store: " + e.Op + ": " + e.Err.Error() }

// Unwrap returns the store's error.
func (e *StoreError) Unwrap() error { return e.Err }

func storeErr(op string, err error) error {
	if err == nil {
		return nil
	}
	var se *StoreError
	if errors.As(err, &se) {
		return err
	}
	return &StoreError{Op: op, Err: err}
}

// storeKey joins a key's parts, each escaped so that no part can reach into the
// next (a user_custom_id holding ":" or "{" cannot collide with another's).
func storeKey(kind string, parts ...string) string {
	var b strings.Builder
	b.WriteString(kind)
	for _, p := range parts {
		b.WriteByte(':')
		b.WriteString(url.QueryEscape(p))
	}
	return b.String()
}

// customerKey is the braced part that names one customer in a store key, so a
// sharded store keeps one customer's keys together.
func customerKey(channel, userCustomID string) string {
	return "{" + url.QueryEscape(channel) + ":" + url.QueryEscape(userCustomID) + "}"
}

// The store keys the SDK uses.
func turnKey(channel, customID string) string { return "turn:" + customerKey(channel, customID) }

func idemKey(channel, customID, key string) string {
	return "idem:" + customerKey(channel, customID) + ":" + url.QueryEscape(key)
}

func replyClaimKey(messageID int64) string { return "reply:" + strconv.FormatInt(messageID, 10) }

func userKey(userID int64) string { return "user:" + strconv.FormatInt(userID, 10) }

func apiMessageKey(messageID int64) string { return "apimsg:" + strconv.FormatInt(messageID, 10) }

func budgetKey(c *Client) string { return storeKey("budget", c.baseURL.Host+c.baseURL.Path) }

// How long the SDK keeps what it records in a Store.
const (
	// defaultReplyDoneTTL: a delivered reply is remembered a week, far longer than
	// any redelivery or Watch lookback.
	defaultReplyDoneTTL = 7 * 24 * time.Hour
	// defaultIdempotencyTTL: an IdempotencyKey's outcome is kept at least 24 h.
	defaultIdempotencyTTL = 48 * time.Hour
	// defaultTurnLease: a Send's turn, renewed while it runs.
	defaultTurnLease = 15 * time.Second
	// defaultTurnStateTTL: what the previous Send of a customer left for the next.
	defaultTurnStateTTL = 24 * time.Hour
)

package redisstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deskie-go/deskie"
	"github.com/redis/go-redis/v9"
)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// eventually polls cond until it holds, failing the test after 10 s. It is used
// only to wait for a lease or TTL to run out in Redis.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10 s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func mustPanic(t *testing.T, want string, fn func()) {
	t.Helper()
	defer func() {
		t.Helper()
		p := recover()
		if p == nil {
			t.Fatalf("no panic; want one mentioning %q", want)
		}
		if msg := fmt.Sprint(p); !strings.Contains(msg, want) {
			t.Fatalf("panic %q does not mention %q", msg, want)
		}
	}()
	fn()
}

func TestNewRejectsProgrammingErrors(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer func() { _ = rdb.Close() }()
	mustPanic(t, "redisstore: New: nil redis client", func() { New(nil) })
	mustPanic(t, "redisstore: New: nil redis client", func() { New((*redis.Client)(nil)) })
	mustPanic(t, "redisstore: New: nil redis client", func() { New((*redis.ClusterClient)(nil)) })
	mustPanic(t, "WithPrefix: empty prefix", func() { New(rdb, WithPrefix("")) })
	mustPanic(t, "WithPrefix: prefix \"app{1}:\" holds a brace", func() { New(rdb, WithPrefix("app{1}:")) })
	mustPanic(t, "WithPrefix: prefix \"a}\" holds a brace", func() { New(rdb, WithPrefix("a}")) })
	mustPanic(t, "WithTimeout: negative timeout -1s", func() { New(rdb, WithTimeout(-time.Second)) })

	s := New(rdb, nil, WithPrefix("bridge-a:"), WithTimeout(0))
	if s.Prefix() != "bridge-a:" {
		t.Errorf("Prefix() = %q", s.Prefix())
	}
	if New(rdb).Prefix() != DefaultPrefix {
		t.Errorf("default prefix = %q, want %q", New(rdb).Prefix(), DefaultPrefix)
	}
}

func TestMillisRoundsUp(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0", -time.Second: "0", time.Nanosecond: "1", time.Millisecond: "1",
		time.Millisecond + 1: "2", 15 * time.Second: "15000",
	} {
		if got := millis(d); got != want {
			t.Errorf("millis(%v) = %s, want %s", d, got, want)
		}
	}
	base := time.UnixMilli(1_700_000_000_123)
	if got := ceilMillis(base); got != 1_700_000_000_123 {
		t.Errorf("ceilMillis(aligned) = %d", got)
	}
	if got := ceilMillis(base.Add(1)); got != 1_700_000_000_124 {
		t.Errorf("ceilMillis(aligned+1ns) = %d", got)
	}
}

// hashTag is the part of a key Redis Cluster hashes: the first {…} with
// something inside, else the whole key.
func hashTag(key string) string {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			return key[i+1 : i+1+j]
		}
	}
	return key
}

func TestTurnTakesTurnsAndCarriesState(t *testing.T) {
	s, rdb := NewTestStore(t)
	ctx := ctxT(t)
	const key = "turn:{cch1:u-42}"

	ok, st, err := s.AcquireTurn(ctx, key, "a", time.Minute)
	if err != nil || !ok || st != nil {
		t.Fatalf("first acquire = %v, %q, %v; want true, nil, nil", ok, st, err)
	}
	if pttl := rdb.PTTL(ctx, s.Prefix()+key).Val(); pttl <= 0 || pttl > time.Minute {
		t.Errorf("lease PTTL = %v, want (0, 1m]", pttl)
	}
	if ok, _, err := s.AcquireTurn(ctx, key, "b", time.Minute); err != nil || ok {
		t.Fatalf("contended acquire = %v, %v; want false", ok, err)
	}
	if ok, _, err := s.AcquireTurn(ctx, key, "a", time.Minute); err != nil || !ok {
		t.Fatalf("holder re-acquires = %v, %v; want true", ok, err)
	}
	if ok, err := s.RenewTurn(ctx, key, "a", 2*time.Minute); err != nil || !ok {
		t.Fatalf("holder renews = %v, %v", ok, err)
	}
	if pttl := rdb.PTTL(ctx, s.Prefix()+key).Val(); pttl <= time.Minute {
		t.Errorf("renewed lease PTTL = %v, want > 1m", pttl)
	}
	if ok, err := s.RenewTurn(ctx, key, "b", time.Minute); err != nil || ok {
		t.Fatalf("non-holder renews = %v, %v; want false", ok, err)
	}
	if err := s.ReleaseTurn(ctx, key, "b", []byte("b's"), time.Hour); !errors.Is(err, deskie.ErrTurnLost) {
		t.Fatalf("non-holder release = %v, want ErrTurnLost", err)
	}
	if n := rdb.Exists(ctx, s.Prefix()+key+":state").Val(); n != 0 {
		t.Fatal("a non-holder's release wrote the state")
	}
	if err := s.ReleaseTurn(ctx, key, "a", []byte("case 2001"), time.Hour); err != nil {
		t.Fatalf("holder release: %v", err)
	}
	if n := rdb.Exists(ctx, s.Prefix()+key).Val(); n != 0 {
		t.Fatal("release left the lock")
	}
	if pttl := rdb.PTTL(ctx, s.Prefix()+key+":state").Val(); pttl <= 0 || pttl > time.Hour {
		t.Errorf("state PTTL = %v, want (0, 1h]", pttl)
	}
	ok, st, err = s.AcquireTurn(ctx, key, "b", time.Minute)
	if err != nil || !ok || string(st) != "case 2001" {
		t.Fatalf("next holder acquires = %v, %q, %v; want the state a left", ok, st, err)
	}
	// a release without state leaves the last one (as MemoryStore does)
	if err := s.ReleaseTurn(ctx, key, "b", nil, time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, st, _ := s.AcquireTurn(ctx, key, "c", time.Minute); string(st) != "case 2001" {
		t.Fatalf("after a release without state, state = %q", st)
	}
	// an empty state is a state
	if err := s.ReleaseTurn(ctx, key, "c", []byte{}, time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, st, _ := s.AcquireTurn(ctx, key, "d", time.Minute); st == nil || len(st) != 0 {
		t.Fatalf("empty state came back as %#v", st)
	}
	// binary state round-trips
	bin := []byte{0, 1, 2, 255, '\r', '\n'}
	if err := s.ReleaseTurn(ctx, key, "d", bin, time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, st, _ := s.AcquireTurn(ctx, key, "e", time.Minute); !bytes.Equal(st, bin) {
		t.Fatalf("binary state = %v", st)
	}
	// a lease of 0 never expires
	if err := s.ReleaseTurn(ctx, key, "e", nil, 0); err != nil {
		t.Fatal(err)
	}
	if ok, _, _ := s.AcquireTurn(ctx, key, "f", 0); !ok {
		t.Fatal("acquire with lease 0 failed")
	}
	if pttl := rdb.PTTL(ctx, s.Prefix()+key).Val(); pttl != -1 {
		t.Errorf("lease 0: PTTL = %v, want -1 (no expiry)", pttl)
	}
}

func TestTurnExpiredHolderIsFenced(t *testing.T) {
	s, rdb := NewTestStore(t)
	ctx := ctxT(t)
	const key = "turn:{cch1:dies}"

	if ok, _, err := s.AcquireTurn(ctx, key, "a", 50*time.Millisecond); err != nil || !ok {
		t.Fatal(ok, err)
	}
	// the holder "dies": b gets the turn once the lease ran out
	eventually(t, "b acquires after a's lease", func() bool {
		ok, _, err := s.AcquireTurn(ctx, key, "b", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	})
	// a wakes up: it cannot renew, and its release writes nothing
	if ok, err := s.RenewTurn(ctx, key, "a", time.Minute); err != nil || ok {
		t.Fatalf("expired holder renews = %v, %v", ok, err)
	}
	if err := s.ReleaseTurn(ctx, key, "a", []byte("stale"), time.Hour); !errors.Is(err, deskie.ErrTurnLost) {
		t.Fatalf("expired holder's release = %v, want ErrTurnLost", err)
	}
	if v := rdb.Get(ctx, s.Prefix()+key).Val(); v != "b" {
		t.Fatalf("lock holds %q after the stale release, want b", v)
	}
	if n := rdb.Exists(ctx, s.Prefix()+key+":state").Val(); n != 0 {
		t.Fatal("the stale holder's state was written")
	}
	if err := s.ReleaseTurn(ctx, key, "b", []byte("b's"), time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, st, _ := s.AcquireTurn(ctx, key, "c", time.Minute); string(st) != "b's" {
		t.Fatalf("state after the fenced release = %q, want b's", st)
	}
}

func TestTurnStateExpires(t *testing.T) {
	s, _ := NewTestStore(t)
	ctx := ctxT(t)
	const key = "turn:{cch1:ttl}"
	if ok, _, _ := s.AcquireTurn(ctx, key, "a", time.Minute); !ok {
		t.Fatal("acquire")
	}
	if err := s.ReleaseTurn(ctx, key, "a", []byte("x"), 30*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	eventually(t, "state expires", func() bool {
		ok, st, err := s.AcquireTurn(ctx, key, "b", time.Minute)
		if err != nil || !ok {
			t.Fatal(ok, err)
		}
		return st == nil
	})
}

func TestRecords(t *testing.T) {
	s, rdb := NewTestStore(t)
	ctx := ctxT(t)
	if v, err := s.GetRecord(ctx, "idem:{cch1:u}:k1"); v != nil || err != nil {
		t.Fatalf("missing record = %q, %v; want nil, nil", v, err)
	}
	if err := s.PutRecord(ctx, "idem:{cch1:u}:k1", []byte("one"), time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := s.PutRecord(ctx, "idem:{cch1:u}:k1", []byte("two"), 2*time.Hour); err != nil {
		t.Fatal(err)
	}
	if v, err := s.GetRecord(ctx, "idem:{cch1:u}:k1"); string(v) != "two" || err != nil {
		t.Fatalf("record = %q, %v", v, err)
	}
	if pttl := rdb.PTTL(ctx, s.Prefix()+"idem:{cch1:u}:k1").Val(); pttl <= time.Hour || pttl > 2*time.Hour {
		t.Errorf("PTTL = %v, want (1h, 2h]", pttl)
	}
	if err := s.PutRecord(ctx, "user:5", []byte("forever"), 0); err != nil {
		t.Fatal(err)
	}
	if pttl := rdb.PTTL(ctx, s.Prefix()+"user:5").Val(); pttl != -1 {
		t.Errorf("TTL 0: PTTL = %v, want -1 (no expiry)", pttl)
	}
	if err := s.PutRecord(ctx, "user:6", []byte{}, time.Hour); err != nil {
		t.Fatal(err)
	}
	if v, err := s.GetRecord(ctx, "user:6"); v == nil || len(v) != 0 || err != nil {
		t.Fatalf("empty record = %#v, %v", v, err)
	}
	if err := s.PutRecord(ctx, "apimsg:7", []byte("short"), 30*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	eventually(t, "record expires", func() bool {
		v, err := s.GetRecord(ctx, "apimsg:7")
		if err != nil {
			t.Fatal(err)
		}
		return v == nil
	})
}

func TestClaims(t *testing.T) {
	s, rdb := NewTestStore(t)
	ctx := ctxT(t)
	const key = "reply:42577888"
	claim := func(token string, want deskie.ClaimState) {
		t.Helper()
		got, err := s.Claim(ctx, key, token, time.Minute)
		if err != nil || got != want {
			t.Fatalf("Claim(%s) = %v, %v; want %v", token, got, err, want)
		}
	}
	claim("a", deskie.ClaimAcquired)
	if pttl := rdb.PTTL(ctx, s.Prefix()+key).Val(); pttl <= 0 || pttl > time.Minute {
		t.Errorf("claim PTTL = %v", pttl)
	}
	claim("b", deskie.ClaimBusy)
	claim("a", deskie.ClaimAcquired) // the holder again
	if err := s.ReleaseClaim(ctx, key, "b"); err != nil {
		t.Fatal(err)
	}
	claim("b", deskie.ClaimBusy) // b's release did not drop a's claim
	if err := s.ReleaseClaim(ctx, key, "a"); err != nil {
		t.Fatal(err)
	}
	claim("b", deskie.ClaimAcquired)
	if seen, err := s.Seen(ctx, key); seen || err != nil {
		t.Fatalf("Seen(held) = %v, %v", seen, err)
	}
	if err := s.CompleteClaim(ctx, key, "b", time.Hour); err != nil {
		t.Fatal(err)
	}
	claim("a", deskie.ClaimDone)
	claim("b", deskie.ClaimDone)
	if err := s.ReleaseClaim(ctx, key, "b"); err != nil {
		t.Fatal(err)
	}
	claim("c", deskie.ClaimDone) // a release never undoes done
	if pttl := rdb.PTTL(ctx, s.Prefix()+key).Val(); pttl <= time.Minute || pttl > time.Hour {
		t.Errorf("done PTTL = %v, want (1m, 1h]", pttl)
	}
	// completing a claim nobody held
	if err := s.CompleteClaim(ctx, "reply:1", "x", time.Hour); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Claim(ctx, "reply:1", "y", time.Minute); got != deskie.ClaimDone {
		t.Fatalf("Claim after an unheld complete = %v", got)
	}
	// a claim whose holder died runs out
	if got, _ := s.Claim(ctx, "reply:2", "dead", 30*time.Millisecond); got != deskie.ClaimAcquired {
		t.Fatal(got)
	}
	eventually(t, "claim expires", func() bool {
		got, err := s.Claim(ctx, "reply:2", "next", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		return got == deskie.ClaimAcquired
	})
	// a done marker with TTL 0 stays
	if err := s.CompleteClaim(ctx, "reply:3", "", 0); err != nil {
		t.Fatal(err)
	}
	if pttl := rdb.PTTL(ctx, s.Prefix()+"reply:3").Val(); pttl != -1 {
		t.Errorf("done TTL 0: PTTL = %v", pttl)
	}
}

func TestDedupStore(t *testing.T) {
	s, rdb := NewTestStore(t)
	ctx := ctxT(t)
	var d deskie.DedupStore = s //nolint:staticcheck // SA1019: the legacy interface is still implemented
	if seen, err := d.Seen(ctx, "42577888"); seen || err != nil {
		t.Fatalf("Seen before Done = %v, %v", seen, err)
	}
	if err := d.Done(ctx, "42577888"); err != nil {
		t.Fatal(err)
	}
	if seen, err := d.Seen(ctx, "42577888"); !seen || err != nil {
		t.Fatalf("Seen after Done = %v, %v", seen, err)
	}
	if pttl := rdb.PTTL(ctx, s.Prefix()+"42577888").Val(); pttl <= 7*24*time.Hour-time.Minute || pttl > 7*24*time.Hour {
		t.Errorf("Done PTTL = %v, want 7 days", pttl)
	}
	// Done is CompleteClaim: a claim on the key is done
	if got, _ := s.Claim(ctx, "42577888", "t", time.Minute); got != deskie.ClaimDone {
		t.Fatalf("Claim after Done = %v", got)
	}
	// and a claim completed through ClaimStore is Seen
	_ = s.CompleteClaim(ctx, "42577889", "t", time.Hour)
	if seen, _ := d.Seen(ctx, "42577889"); !seen {
		t.Fatal("a completed claim is not Seen")
	}
	// a record that is not a claim is not Seen
	_ = s.PutRecord(ctx, "42577890", []byte("something"), time.Hour)
	if seen, _ := d.Seen(ctx, "42577890"); seen {
		t.Fatal("a record is Seen")
	}
}

func TestPrefixesIsolateAndKeysShareTheCustomersSlot(t *testing.T) {
	addr := RedisAddr(t)
	rdb := DialRedis(t, addr)
	ctx := ctxT(t)
	pa, pb := UniquePrefix(t), UniquePrefix(t)
	t.Cleanup(func() { DeletePrefix(t, rdb, pa); DeletePrefix(t, rdb, pb) })
	a, b := New(rdb, WithPrefix(pa)), New(rdb, WithPrefix(pb))

	// an escaped user_custom_id, as the SDK builds it
	const key = "turn:{cch1:a%3Ab%7Bc%7D}"
	for _, s := range []*Store{a, b} {
		if ok, _, err := s.AcquireTurn(ctx, key, "tok-"+s.Prefix(), time.Minute); err != nil || !ok {
			t.Fatalf("%s: acquire = %v, %v (the other prefix's turn must not count)", s.Prefix(), ok, err)
		}
		if err := s.ReleaseTurn(ctx, key, "tok-"+s.Prefix(), []byte(s.Prefix()), time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	if _, st, _ := a.AcquireTurn(ctx, key, "x", time.Minute); string(st) != pa {
		t.Fatalf("a's state = %q", st)
	}
	_ = a.PutRecord(ctx, "user:1", []byte("a"), time.Hour)
	if v, _ := b.GetRecord(ctx, "user:1"); v != nil {
		t.Fatalf("b sees a's record %q", v)
	}
	_ = a.CompleteClaim(ctx, "reply:1", "", time.Hour)
	if got, _ := b.Claim(ctx, "reply:1", "t", time.Minute); got != deskie.ClaimAcquired {
		t.Fatalf("b's claim = %v, want acquired", got)
	}

	keys, err := rdb.Keys(ctx, pa+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 4 {
		t.Fatalf("a's keys = %q, want the lock, its state, the record and the claim", keys)
	}
	for _, k := range []string{a.key(key), a.stateKey(key)} {
		if tag := hashTag(k); tag != "cch1:a%3Ab%7Bc%7D" {
			t.Errorf("hash tag of %q = %q, want the customer", k, tag)
		}
	}
}

func TestConcurrentClaimsAndTurns(t *testing.T) {
	s, _ := NewTestStore(t)
	ctx := ctxT(t)
	const n = 64
	var wg sync.WaitGroup
	var mu sync.Mutex
	claims := map[deskie.ClaimState]int{}
	turns := 0
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			tok := fmt.Sprintf("replica-%d", i)
			st, err := s.Claim(ctx, "reply:777", tok, time.Minute)
			ok, _, err2 := s.AcquireTurn(ctx, "turn:{cch1:race}", tok, time.Minute)
			mu.Lock()
			defer mu.Unlock()
			if err != nil || err2 != nil {
				t.Error(err, err2)
			}
			claims[st]++
			if ok {
				turns++
			}
		})
	}
	close(start)
	wg.Wait()
	if claims[deskie.ClaimAcquired] != 1 || claims[deskie.ClaimBusy] != n-1 {
		t.Errorf("claims = %v, want exactly one acquired", claims)
	}
	if turns != 1 {
		t.Errorf("%d goroutines got the turn, want 1", turns)
	}
}

// TestScriptsSurviveFlush: after SCRIPT FLUSH (what a restart does), EVALSHA
// answers NOSCRIPT and the store loads the script again.
func TestScriptsSurviveFlush(t *testing.T) {
	s, rdb := NewTestStore(t)
	ctx := ctxT(t)
	if got, err := s.Claim(ctx, "reply:1", "a", time.Minute); err != nil || got != deskie.ClaimAcquired {
		t.Fatal(got, err)
	}
	if err := rdb.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Claim(ctx, "reply:1", "b", time.Minute); err != nil || got != deskie.ClaimBusy {
		t.Fatalf("after SCRIPT FLUSH: %v, %v", got, err)
	}
}

// allCalls calls every method of the store once and returns their errors by name.
func allCalls(ctx context.Context, s *Store) map[string]error {
	errs := map[string]error{}
	_, _, errs["acquire turn"] = s.AcquireTurn(ctx, "turn:{c:u}", "t", time.Second)
	_, errs["renew turn"] = s.RenewTurn(ctx, "turn:{c:u}", "t", time.Second)
	errs["release turn"] = s.ReleaseTurn(ctx, "turn:{c:u}", "t", []byte("s"), time.Second)
	_, errs["get record"] = s.GetRecord(ctx, "user:1")
	errs["put record"] = s.PutRecord(ctx, "user:1", []byte("v"), time.Second)
	_, errs["claim"] = s.Claim(ctx, "reply:1", "t", time.Second)
	errs["release claim"] = s.ReleaseClaim(ctx, "reply:1", "t")
	errs["complete claim"] = s.CompleteClaim(ctx, "reply:1", "t", time.Second)
	_, errs["spend budget"] = s.SpendBudget(ctx, "budget:x", deskie.BudgetRequest{Cost: 2, Now: time.Now(), Window: time.Minute})
	errs["observe budget"] = s.ObserveBudget(ctx, "budget:x", deskie.BudgetObservation{Now: time.Now(), Window: time.Minute, Limit: 10, Left: 5, RetryAfter: -1})
	_, errs["seen"] = s.Seen(ctx, "1")
	errs["done"] = s.Done(ctx, "1")
	return errs
}

func TestRedisDownThenRestarted(t *testing.T) {
	srv := StartRedisServer(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr, MaxRetries: 1, DialerRetries: 1, DialTimeout: time.Second})
	t.Cleanup(func() { _ = rdb.Close() })
	s := New(rdb, WithTimeout(5*time.Second))
	ctx := ctxT(t)
	for op, err := range allCalls(ctx, s) {
		if err != nil && !errors.Is(err, deskie.ErrTurnLost) {
			t.Fatalf("%s with Redis up: %v", op, err)
		}
	}
	if got, _ := s.Claim(ctx, "reply:9", "a", time.Minute); got != deskie.ClaimAcquired {
		t.Fatal(got)
	}

	srv.Stop()
	for op, err := range allCalls(ctx, s) {
		if err == nil {
			t.Errorf("%s with Redis down: no error", op)
			continue
		}
		if want := "redisstore: " + op + ": "; !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%s: error %q does not start with %q", op, err, want)
		}
		var opErr *net.OpError
		if !errors.As(err, &opErr) {
			t.Errorf("%s: error %q does not wrap the network error", op, err)
		}
	}

	srv.Restart() // empty, and without the scripts
	// go-redis's dial circuit breaker re-probes a refused address once a second:
	// the first calls may still fail; then every call works.
	eventually(t, "calls succeed after the restart", func() bool {
		_, err := s.GetRecord(ctx, "user:1")
		return err == nil
	})
	for op, err := range allCalls(ctx, s) {
		if err != nil && !errors.Is(err, deskie.ErrTurnLost) {
			t.Errorf("%s after the restart: %v", op, err)
		}
	}
	// the restart lost the claim (persistence off): it can be taken again
	if got, err := s.Claim(ctx, "reply:9", "b", time.Minute); err != nil || got != deskie.ClaimAcquired {
		t.Fatalf("claim after restart = %v, %v", got, err)
	}
}

// blackHole accepts connections and never answers: a Redis that hangs.
func blackHole(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return l.Addr().String()
}

// A Redis that does not answer is bounded by WithTimeout and by the caller's
// context, whether or not the client has ContextTimeoutEnabled.
func TestSlowRedisIsBounded(t *testing.T) {
	addr := blackHole(t)
	for _, ctxAware := range []bool{false, true} {
		rdb := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: ctxAware, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second, MaxRetries: -1})
		t.Cleanup(func() { _ = rdb.Close() })

		s := New(rdb, WithTimeout(100*time.Millisecond))
		start := time.Now()
		_, err := s.Claim(t.Context(), "reply:1", "a", time.Minute)
		if !errors.Is(err, context.DeadlineExceeded) || !strings.HasPrefix(err.Error(), "redisstore: claim: ") {
			t.Errorf("ctxAware=%v: WithTimeout: err = %v, want a wrapped deadline", ctxAware, err)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("ctxAware=%v: WithTimeout(100ms) returned after %v", ctxAware, d)
		}

		s = New(rdb)
		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		_, err = s.GetRecord(ctx, "user:1")
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) || !strings.HasPrefix(err.Error(), "redisstore: get record: ") {
			t.Errorf("ctxAware=%v: ctx deadline: err = %v, want a wrapped deadline", ctxAware, err)
		}
		if d := time.Since(start); d > 20*time.Second {
			t.Errorf("ctxAware=%v: ctx deadline returned after %v", ctxAware, d)
		}
	}
}

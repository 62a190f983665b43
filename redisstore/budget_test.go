package redisstore

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/deskie-go/deskie"
)

// budgetSeq drives random sequences of spends and observations, the kind a
// few replicas produce: clocks that step forward (sometimes past a window,
// sometimes a little back: replicas' clocks differ), answers with and without
// the rate headers, 429s, answers to requests of older windows.
type budgetSeq struct {
	r       *rand.Rand
	now     time.Time
	window  time.Duration
	gens    []int64
	jitter  bool // durations off the millisecond grid
	lastGen int64
}

func (q *budgetSeq) dur(ms int64) time.Duration {
	d := time.Duration(ms) * time.Millisecond
	if q.jitter {
		d += time.Duration(q.r.Int64N(int64(time.Millisecond)))
	}
	return d
}

func (q *budgetSeq) step() {
	w := q.window.Milliseconds()
	switch x := q.r.IntN(20); {
	case x < 12:
		q.now = q.now.Add(time.Duration(q.r.Int64N(w/4+1)) * time.Millisecond)
	case x < 15:
		q.now = q.now.Add(time.Duration(w+q.r.Int64N(w)) * time.Millisecond)
	case x < 17:
		q.now = q.now.Add(-time.Duration(q.r.Int64N(100)) * time.Millisecond)
	}
}

func (q *budgetSeq) request() deskie.BudgetRequest {
	return deskie.BudgetRequest{Cost: 1 + q.r.IntN(3), Now: q.now, Window: q.window}
}

func (q *budgetSeq) observation() deskie.BudgetObservation {
	o := deskie.BudgetObservation{Now: q.now, Window: q.window, Limit: -1, Left: -1, RetryAfter: -1, Gen: q.lastGen}
	w := q.window.Milliseconds()
	if q.r.IntN(3) > 0 {
		o.Limit = 1 + q.r.IntN(8)
		if q.r.IntN(10) == 0 {
			o.Limit = 0 // a header that says 0: not a limit
		}
	}
	if q.r.IntN(3) > 0 {
		o.Left = q.r.IntN(10)
	}
	if q.r.IntN(2) == 0 {
		o.RetryAfter = q.dur(q.r.Int64N(2 * w))
	}
	o.Limited = q.r.IntN(6) == 0
	if q.r.IntN(3) == 0 {
		o.MaxWait = q.dur(1 + q.r.Int64N(w))
	}
	if len(q.gens) > 0 && q.r.IntN(3) == 0 {
		o.Gen = q.gens[q.r.IntN(len(q.gens))] // an answer to an older request
	}
	if q.r.IntN(30) == 0 {
		o.Gen = q.r.Int64N(100)
	}
	return o
}

// runBudgetSeq runs one sequence against the reference and the store, calling
// check after every step.
func runBudgetSeq(t *testing.T, s *Store, seed uint64, jitter bool,
	check func(step int, what string, ref, got deskie.BudgetState, rg, gg *deskie.BudgetGrant)) {
	t.Helper()
	ctx := ctxT(t)
	r := rand.New(rand.NewPCG(seed, 0xde5c1e))
	windows := []time.Duration{time.Second, 5 * time.Second, time.Minute}
	q := &budgetSeq{r: r, now: time.UnixMilli(1_700_000_000_000 + r.Int64N(1e9)), window: windows[r.IntN(len(windows))], jitter: jitter}
	if jitter {
		q.window += time.Duration(r.Int64N(int64(time.Millisecond)))
	}
	key := fmt.Sprintf("budget:%d", seed)
	var ref deskie.BudgetState
	for step := range 150 {
		q.step()
		var what string
		var rg, gg *deskie.BudgetGrant
		if r.IntN(2) == 0 {
			req := q.request()
			what = fmt.Sprintf("spend %+v", req)
			var g deskie.BudgetGrant
			ref, g = deskie.BudgetSpend(ref, req)
			got, err := s.SpendBudget(ctx, key, req)
			if err != nil {
				t.Fatal(err)
			}
			rg, gg = &g, &got
			q.lastGen = g.Gen
			q.gens = append(q.gens, g.Gen)
		} else {
			o := q.observation()
			what = fmt.Sprintf("observe %+v", o)
			ref = deskie.BudgetObserve(ref, o)
			if err := s.ObserveBudget(ctx, key, o); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.budgetState(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		check(step, what, ref, got, rg, gg)
		if t.Failed() {
			t.Fatalf("seed %d: stopped at step %d", seed, step)
		}
	}
}

// TestBudgetMatchesReference: on the millisecond grid (where the store keeps
// times), the scripts equal deskie.BudgetSpend and deskie.BudgetObserve exactly:
// every grant and every state after every step.
func TestBudgetMatchesReference(t *testing.T) {
	s, _ := NewTestStore(t)
	for seed := range uint64(60) {
		runBudgetSeq(t, s, seed, false, func(step int, what string, ref, got deskie.BudgetState, rg, gg *deskie.BudgetGrant) {
			if ref.Limit != got.Limit || ref.Left != got.Left || ref.Gen != got.Gen || ref.Told != got.Told || (ref.Limit > 0 && !ref.End.Equal(got.End)) {
				t.Errorf("seed %d step %d %s:\n state %+v\n want  %+v", seed, step, what, got, ref)
			}
			if rg != nil && *rg != *gg {
				t.Errorf("seed %d step %d %s:\n grant %+v\n want  %+v", seed, step, what, *gg, *rg)
			}
		})
	}
}

// TestBudgetRoundsEndsUp: with durations off the millisecond grid, the store
// keeps each window's end rounded up to the millisecond and otherwise decides
// as the reference: it never lets a request go earlier than the reference, and
// makes it wait less than a millisecond longer.
func TestBudgetRoundsEndsUp(t *testing.T) {
	s, _ := NewTestStore(t)
	for seed := range uint64(30) {
		runBudgetSeq(t, s, 1000+seed, true, func(step int, what string, ref, got deskie.BudgetState, rg, gg *deskie.BudgetGrant) {
			if ref.Limit != got.Limit || ref.Left != got.Left || ref.Gen != got.Gen || ref.Told != got.Told || (ref.Limit > 0 && got.End.UnixMilli() != ceilMillis(ref.End)) {
				t.Errorf("seed %d step %d %s:\n state %+v\n want  %+v (end rounded up)", seed, step, what, got, ref)
			}
			if rg == nil {
				return
			}
			if rg.OK != gg.OK || rg.Gen != gg.Gen || rg.Left != gg.Left || gg.Wait < rg.Wait || gg.Wait >= rg.Wait+time.Millisecond {
				t.Errorf("seed %d step %d %s:\n grant %+v\n want  %+v (wait up to 1ms longer)", seed, step, what, *gg, *rg)
			}
		})
	}
}

// The branches the random sequences must reach, spelled out.
func TestBudgetCases(t *testing.T) {
	s, _ := NewTestStore(t)
	ctx := ctxT(t)
	t0 := time.UnixMilli(1_700_000_000_000)
	spend := func(key string, cost int, at time.Duration) deskie.BudgetGrant {
		t.Helper()
		g, err := s.SpendBudget(ctx, key, deskie.BudgetRequest{Cost: cost, Now: t0.Add(at), Window: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		return g
	}
	observe := func(key string, o deskie.BudgetObservation) {
		t.Helper()
		if o.Now.IsZero() {
			o.Now = t0
		}
		o.Window = time.Minute
		if err := s.ObserveBudget(ctx, key, o); err != nil {
			t.Fatal(err)
		}
	}
	// unknown limit: everything goes
	if g := spend("budget:a", 2, 0); !g.OK || g.Left != -1 || g.Gen != 0 {
		t.Fatalf("unknown limit: %+v", g)
	}
	// the first limit starts a window; spends pay from it, then wait for its end
	observe("budget:a", deskie.BudgetObservation{Limit: 5, Left: -1, RetryAfter: -1})
	if g := spend("budget:a", 2, time.Second); !g.OK || g.Left != 3 || g.Gen != 1 {
		t.Fatalf("spend: %+v", g)
	}
	observe("budget:a", deskie.BudgetObservation{Limit: 5, Left: 1, RetryAfter: -1, Gen: 1})
	if g := spend("budget:a", 2, 2*time.Second); g.OK || g.Wait != 58*time.Second || g.Left != 1 {
		t.Fatalf("spend over the server's left: %+v", g)
	}
	// a 429 parks the budget for retry_after + margin, capped by MaxWait
	observe("budget:a", deskie.BudgetObservation{Now: t0.Add(3 * time.Second), Limit: -1, Left: -1, RetryAfter: 7 * time.Second, Limited: true, Gen: 1, MaxWait: 5 * time.Second})
	if st, _ := s.budgetState(ctx, "budget:a"); !st.End.Equal(t0.Add(8*time.Second)) || st.Left != 0 {
		t.Fatalf("after a capped 429: %+v", st)
	}
	// the next window starts fresh
	if g := spend("budget:a", 2, 8*time.Second); !g.OK || g.Gen != 2 || g.Left != 3 {
		t.Fatalf("next window: %+v", g)
	}
	// a limit below the cost lets one request go per window
	observe("budget:b", deskie.BudgetObservation{Limit: 1, Left: -1, RetryAfter: -1})
	if g := spend("budget:b", 2, 0); !g.OK || g.Left != 0 {
		t.Fatalf("cost over the limit, first: %+v", g)
	}
	if g := spend("budget:b", 2, time.Second); g.OK {
		t.Fatalf("cost over the limit, second in the window: %+v", g)
	}
	if g := spend("budget:b", 2, time.Minute); !g.OK {
		t.Fatalf("cost over the limit, next window: %+v", g)
	}
	// the budget key expires a day after its window's end at the latest
	if pttl := s.rdb.PTTL(ctx, s.key("budget:a")).Val(); pttl <= 23*time.Hour || pttl > 25*time.Hour {
		t.Errorf("budget PTTL = %v, want about a day", pttl)
	}
}

package redisstore

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/deskie-go/deskie"
)

// The account's rate budget, shared by every replica: deskie.BudgetSpend and
// deskie.BudgetObserve, each as one script (scripts.go).

// budgetKeep is the least time an account's budget state outlives its window's
// end, refreshed by every spend and observation: an account nobody calls for a
// day starts over (the first answer tells the limit again).
const budgetKeep = 24 * time.Hour

// budgetMargin mirrors the core's margin added to a server-reported window end
// (deskie.BudgetObserve); the equivalence tests catch a drift.
const budgetMargin = 10 * time.Millisecond

// SpendBudget implements [deskie.BudgetStore]: [deskie.BudgetSpend] as one
// script. Times are kept in unix milliseconds: now is rounded down, a new
// window's end up, so the store never lets a request go earlier than the
// reference would (it may make one wait up to a millisecond longer).
func (s *Store) SpendBudget(ctx context.Context, key string, req deskie.BudgetRequest) (deskie.BudgetGrant, error) {
	var n [4]int64
	err := s.run(ctx, "spend budget", func(ctx context.Context) error {
		res, err := spendBudget.Run(ctx, s.rdb, []string{s.key(key)},
			req.Cost, req.Now.UnixMilli(), ceilMillis(req.Now.Add(req.Window)), budgetKeep.Milliseconds()).Slice()
		if err != nil {
			return err
		}
		if len(res) != len(n) {
			return unexpected(res)
		}
		for i, v := range res {
			var ok bool
			if n[i], ok = toInt(v); !ok {
				return unexpected(res)
			}
		}
		return nil
	})
	if err != nil {
		return deskie.BudgetGrant{}, err
	}
	g := deskie.BudgetGrant{OK: n[0] == 1, Gen: n[2], Left: int(n[3])}
	if !g.OK {
		g.Wait = time.UnixMilli(n[1]).Sub(req.Now)
	}
	return g, nil
}

// ObserveBudget implements [deskie.BudgetStore]: [deskie.BudgetObserve] as one
// script (times in unix milliseconds, ends rounded up).
func (s *Store) ObserveBudget(ctx context.Context, key string, o deskie.BudgetObservation) error {
	// Every end the reference may set depends on now and the observation alone:
	// compute them here, to the same rule, and let the script pick.
	wait := o.Window
	if o.RetryAfter >= 0 {
		wait = o.RetryAfter + budgetMargin
	}
	if o.MaxWait > 0 {
		wait = min(wait, o.MaxWait)
	}
	raEnd := ""
	if o.RetryAfter >= 0 {
		raEnd = strconv.FormatInt(ceilMillis(o.Now.Add(min(o.RetryAfter, o.Window)+budgetMargin)), 10)
	}
	limited := "0"
	if o.Limited {
		limited = "1"
	}
	return s.run(ctx, "observe budget", func(ctx context.Context) error {
		return observeBudget.Run(ctx, s.rdb, []string{s.key(key)},
			o.Limit, o.Left, limited, o.Gen, o.Now.UnixMilli(),
			ceilMillis(o.Now.Add(o.Window)), ceilMillis(o.Now.Add(wait)), raEnd, budgetKeep.Milliseconds()).Err()
	})
}

// budgetState reads the budget at key as a [deskie.BudgetState] (for tests and
// debugging).
func (s *Store) budgetState(ctx context.Context, key string) (deskie.BudgetState, error) {
	h, err := s.rdb.HGetAll(ctx, s.key(key)).Result()
	if err != nil {
		return deskie.BudgetState{}, wrap("read budget", err)
	}
	var st deskie.BudgetState
	if len(h) == 0 {
		return st, nil
	}
	num := func(f string) int64 {
		n, perr := strconv.ParseInt(h[f], 10, 64)
		if perr != nil && err == nil {
			err = fmt.Errorf("field %s: %w", f, perr)
		}
		return n
	}
	st.Limit, st.Left, st.Gen = int(num("limit")), int(num("left")), num("gen")
	st.End = time.UnixMilli(num("end"))
	st.Told = h["told"] == "1"
	return st, wrap("read budget", err)
}

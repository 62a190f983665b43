package deskie

import (
	"context"
	"errors"
	"fmt"
	"iter"
)

// listEnvelope decodes a list answer through decodeList when used as the v of
// Client.Do.
type listEnvelope[T any] struct {
	root  string
	items []*T
	total int
}

func (l *listEnvelope[T]) UnmarshalJSON(b []byte) error {
	var err error
	l.items, l.total, err = decodeList[T](b, l.root)
	return err
}

// count is the list's total_count, or the number of items when it was not sent.
func (l *listEnvelope[T]) count() int {
	if l.total < 0 {
		return len(l.items)
	}
	return l.total
}

// getList fetches one page of a list endpoint.
func getList[T any](ctx context.Context, c *Client, path, root string, q any) (*listEnvelope[T], error) {
	env := &listEnvelope[T]{root: root}
	if err := c.call(ctx, "GET", path, q, nil, env); err != nil {
		return nil, err
	}
	return env, nil
}

// allPages is every All iterator: it walks path's pages lazily through paginate,
// query pointing the caller's (copied) options at one page. The total it goes by
// is the answer's total_count; when that is not sent (an array answer), a short
// page ends the walk.
func allPages[T any](ctx context.Context, c *Client, path, root string, page, limit int, query func(page, limit int) any) iter.Seq2[*T, error] {
	return paginate(ctx, page, limit, func(page, limit int) ([]*T, int, error) {
		env, err := getList[T](ctx, c, path, root, query(page, limit))
		if err != nil {
			return nil, 0, err
		}
		return env.items, env.total, nil
	})
}

// failedSeq yields err once: an All iterator given bad options.
func failedSeq[T any](err error) iter.Seq2[*T, error] {
	return func(yield func(*T, error) bool) { yield(nil, err) }
}

// The API serves at most page 500 of at most 100 items.
const (
	maxPage  = 500
	maxLimit = 100
)

// ErrTooManyResults is yielded by the All iterators when a filter matches more
// items than the API can page through (500 pages of 100): narrow the filter.
var ErrTooManyResults = errors.New("deskie: more results than the API can page through (500 pages × 100); narrow the filter")

// paginate walks pages lazily: fetch(page, limit) is called for each page only
// when the caller has consumed the previous one, so memory holds one page at a
// time. It stops on the first error, at the end, or when the consumer stops.
func paginate[T any](ctx context.Context, page, limit int, fetch func(page, limit int) ([]*T, int, error)) iter.Seq2[*T, error] {
	if page <= 0 {
		page = 1
	}
	if limit <= 0 || limit > maxLimit {
		limit = maxLimit
	}
	return func(yield func(*T, error) bool) {
		seen := (page - 1) * limit
		for ; ; page++ {
			if err := ctx.Err(); err != nil {
				yield(nil, err)
				return
			}
			if page > maxPage {
				yield(nil, ErrTooManyResults)
				return
			}
			items, total, err := fetch(page, limit)
			if err != nil {
				yield(nil, err)
				return
			}
			for _, it := range items {
				if !yield(it, nil) {
					return
				}
			}
			seen += len(items)
			if len(items) < limit || (total >= 0 && seen >= total) {
				return
			}
		}
	}
}

// checkPaging validates the page/limit pair every list endpoint takes.
func checkPaging(page, limit int) error {
	if page < 0 {
		return &ArgumentError{Field: "Page", Reason: fmt.Sprintf("%d is negative", page)}
	}
	if page > maxPage {
		return &ArgumentError{Field: "Page", Reason: fmt.Sprintf("%d is past the API's last page %d", page, maxPage)}
	}
	if limit < 0 || limit > maxLimit {
		return &ArgumentError{Field: "Limit", Reason: fmt.Sprintf("%d is outside 0..%d", limit, maxLimit)}
	}
	return nil
}

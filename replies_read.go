package deskie

import (
	"cmp"
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"time"
)

// watchQuery is the case list query of a poll.
type watchQuery struct {
	CaseListOptions
	// FromUpdatedTime (unix seconds) asks for the cases updated since then; Watch
	// also checks updated_at itself, in case the API ignores it.
	FromUpdatedTime int64 `url:"from_updated_time,omitempty"`
}

// listChanged returns the channel's cases updated at or after from, oldest update
// first. On the first poll fresh computes from out of the first answer's time.
func (w *watcher) listChanged(ctx context.Context, from time.Time, fresh func(time.Time) time.Time) ([]*Case, error) {
	var out []*Case
	q := watchQuery{CaseListOptions: CaseListOptions{Limit: watchPageLimit, Channel: []string{w.channel}, Sort: "updated_at_desc", ShowActiveChats: true}}
	for page := 1; ; page++ {
		q.Page, q.FromUpdatedTime = page, 0
		if fresh == nil {
			q.FromUpdatedTime = from.Unix()
		}
		env := &listEnvelope[Case]{root: "case"}
		resp, err := w.get(ctx, "cases.json", &q, env)
		if err != nil {
			return nil, err
		}
		if fresh != nil {
			now := serverTime(resp)
			if now.IsZero() {
				now = time.Now()
			}
			from, fresh = fresh(now), nil
		}
		older, sorted := false, true
		for i, c := range env.items {
			if i > 0 && c.UpdatedAt.After(env.items[i-1].UpdatedAt) {
				sorted = false // the API ignored the sort: read every page
			}
			switch {
			case c.UpdatedAt.Before(from):
				older = true
			case c.Channel == w.channel:
				out = append(out, c)
			}
		}
		full := len(env.items) == watchPageLimit && (env.total < 0 || page*watchPageLimit < env.total)
		if !full || (older && sorted) {
			break
		}
		if page == maxWatchPages {
			w.log.Warn("deskie: watch: more changed cases than one poll reads; the rest wait for the next poll",
				"channel", w.channel, "pages", page)
			break
		}
	}
	slices.SortStableFunc(out, func(a, b *Case) int { return cmp.Or(a.UpdatedAt.Compare(b.UpdatedAt), cmp.Compare(a.ID, b.ID)) })
	return slices.CompactFunc(out, func(a, b *Case) bool { return a.ID == b.ID }), nil
}

// userRecord is what the Store caches at userKey: the custom-channel identity of
// a Deskie user.
type userRecord struct {
	Channel  string `json:"channel,omitempty"`
	CustomID string `json:"custom_id"`
}

// customID returns the user's user_custom_id: from the Store, else from the API
// (then cached). A user the API no longer knows gives "".
func (w *watcher) customID(ctx context.Context, userID int64) (string, error) {
	if userID <= 0 {
		return "", nil
	}
	data, err := w.c.store.GetRecord(ctx, userKey(userID))
	if err != nil {
		return "", storeErr("read user record", err)
	}
	var rec userRecord
	if data != nil && json.Unmarshal(data, &rec) == nil {
		return rec.CustomID, nil
	}
	if err := w.pace(ctx); err != nil {
		return "", err
	}
	u, err := w.c.Users.Get(ctx, userID)
	if IsNotFound(err) {
		w.log.Warn("deskie: watch: the reply's user is gone; delivered without UserCustomID", "user_id", userID)
		return "", nil
	}
	if err != nil {
		return "", err
	}
	data, _ = json.Marshal(userRecord{Channel: u.CustomChannel, CustomID: u.CustomID})
	if err := w.c.store.PutRecord(ctx, userKey(userID), data, userRecordTTL); err != nil {
		w.log.Warn("deskie: watch: user not cached", "user_id", userID, "error", storeErr("save user record", err))
	}
	return u.CustomID, nil
}

// newestMessages returns a case's messages created at or after since (and
// perhaps some older ones), oldest first, and the service's time of the first
// answer (zero without a Date header). It asks for the newest first but does not
// rely on it: the order is not documented, so it is read from the answer.
func (w *watcher) newestMessages(ctx context.Context, caseID int64, since time.Time) ([]*Message, time.Time, error) {
	first, total, at, err := w.messagePage(ctx, caseID, 1)
	if err != nil {
		return nil, time.Time{}, err
	}
	out := first
	more := func(page int, items []*Message) bool {
		return len(items) == watchPageLimit && (total < 0 || page*watchPageLimit < total)
	}
	switch {
	case !more(1, first):
		// every message is on the first page
	case messageLess(first[len(first)-1], first[0]):
		// newest first: read on while the pages are not older than since
		for page := 2; page <= maxWatchPages && !out[len(out)-1].CreatedAt.Before(since); page++ {
			items, _, _, err := w.messagePage(ctx, caseID, page)
			if err != nil {
				return nil, time.Time{}, err
			}
			out = append(out, items...)
			if !more(page, items) {
				break
			}
		}
	case total >= 0:
		// oldest first (the API ignored order): read back from the last page
		out = nil
		for page, n := (total+watchPageLimit-1)/watchPageLimit, 0; page >= 1 && n < maxWatchPages; page, n = page-1, n+1 {
			items := first
			if page > 1 {
				if items, _, _, err = w.messagePage(ctx, caseID, page); err != nil {
					return nil, time.Time{}, err
				}
			}
			out = append(out, items...)
			if len(items) == 0 || items[0].CreatedAt.Before(since) {
				break
			}
		}
	default:
		// oldest first with no total_count: read on to the end
		for page := 2; page <= maxWatchPages; page++ {
			items, _, _, err := w.messagePage(ctx, caseID, page)
			if err != nil {
				return nil, time.Time{}, err
			}
			out = append(out, items...)
			if !more(page, items) {
				break
			}
		}
	}
	slices.SortFunc(out, func(a, b *Message) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	return slices.CompactFunc(out, func(a, b *Message) bool { return a.ID == b.ID }), at, nil
}

// messagePage reads one page of a case's messages, asking for the newest first.
func (w *watcher) messagePage(ctx context.Context, caseID int64, page int) ([]*Message, int, time.Time, error) {
	env := &listEnvelope[Message]{root: "message"}
	resp, err := w.get(ctx, messagesPath(caseID), &MessageListOptions{Page: page, Limit: watchPageLimit, Order: "desc"}, env)
	if err != nil {
		return nil, 0, time.Time{}, err
	}
	return env.items, env.total, serverTime(resp), nil
}

// messageLess orders messages by creation, then id.
func messageLess(a, b *Message) bool {
	if !a.CreatedAt.Equal(b.CreatedAt) {
		return a.CreatedAt.Before(b.CreatedAt)
	}
	return a.ID < b.ID
}

// get sends one of Watch's reads, paced.
func (w *watcher) get(ctx context.Context, path string, q, v any) (*Response, error) {
	if err := w.pace(ctx); err != nil {
		return nil, err
	}
	req, err := w.c.NewRequest(ctx, http.MethodGet, path, q, nil)
	if err != nil {
		return nil, err
	}
	return w.c.Do(req, v)
}

// pace waits until Watch may send (see paceWait).
func (w *watcher) pace(ctx context.Context) error {
	if err := sleepCtx(ctx, paceWait(w.c.Rate(), w.cfg.budgetShare, w.lastReq, time.Now())); err != nil {
		return err
	}
	w.lastReq = time.Now()
	return nil
}

// paceWait is how long Watch waits at now before its next request, its last one
// sent at last, given the account's rate state r: requests are spaced so that
// Watch spends at most share of the limit (one per minute/(share*limit)), and
// while the account has less than a quarter of its window left Watch waits for
// the window to turn, leaving the rest to Send. Nothing is paced while the limit
// is unknown (0: no answer yet, or a server that reports none).
func paceWait(r Rate, share float64, last, now time.Time) time.Duration {
	if r.Limit <= 0 {
		return 0
	}
	gap := time.Duration(float64(time.Minute) / (share * float64(r.Limit)))
	wait := last.Add(gap).Sub(now)
	if r.Remaining < r.Limit/yieldBelow && now.Sub(r.Observed) < time.Minute {
		refresh := time.Minute
		if r.RetryAfter > 0 {
			refresh = min(r.RetryAfter, time.Minute)
		}
		wait = max(wait, r.Observed.Add(refresh).Sub(now))
	}
	return max(wait, 0)
}

// serverTime is the answer's Date (the service's clock), or zero when it has none.
func serverTime(resp *Response) time.Time {
	if resp != nil && resp.Response != nil {
		if t, err := http.ParseTime(resp.Header.Get("Date")); err == nil {
			return t
		}
	}
	return time.Time{}
}

// sleepCtx waits for d, or until ctx ends (its error).
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

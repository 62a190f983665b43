package deskie

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPaceWait(t *testing.T) {
	now := time.Date(2025, 5, 5, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name  string
		rate  Rate
		share float64
		last  time.Time
		want  time.Duration
	}{
		{"limit unknown", Rate{}, 0.1, now, 0},
		{"a tenth of 600 a minute: one each second", Rate{Limit: 600, Remaining: 600, Observed: now}, 0.1, now, time.Second},
		{"the gap already passed", Rate{Limit: 600, Remaining: 600, Observed: now}, 0.1, now.Add(-3 * time.Second), 0},
		{"part of the gap left", Rate{Limit: 600, Remaining: 600, Observed: now}, 0.1, now.Add(-400 * time.Millisecond), 600 * time.Millisecond},
		{"all of 60 a minute", Rate{Limit: 60, Remaining: 60, Observed: now}, 1, now, time.Second},
		{"the account nearly spent: wait for its window", Rate{Limit: 600, Remaining: 100, Observed: now.Add(-10 * time.Second)}, 0.1, now.Add(-time.Hour), 50 * time.Second},
		{"nearly spent, retry_after known", Rate{Limit: 600, Remaining: 100, RetryAfter: 20 * time.Second, Observed: now.Add(-10 * time.Second)}, 0.1, now.Add(-time.Hour), 10 * time.Second},
		{"nearly spent a minute ago: the window turned", Rate{Limit: 600, Remaining: 100, Observed: now.Add(-time.Minute)}, 0.1, now.Add(-time.Hour), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, paceWait(tt.rate, tt.share, tt.last, now))
		})
	}
}

// oddAPI is an API that ignores what Watch asks of its lists: the case list comes
// in id order whatever the sort and from_updated_time, and messages oldest first
// whatever the order. Watch must still find exactly the new replies.
type oddAPI struct {
	mu       sync.Mutex
	now      time.Time
	cases    []map[string]any
	messages map[int64][]map[string]any
	nextMsg  int64
	pages    []string // the message pages asked for, "case/page"
	lists    atomic.Int32
}

func (a *oddAPI) date(t time.Time) string { return t.Format(time.RFC1123Z) }

func (a *oddAPI) addCase(id, userID int64, channel string) {
	a.cases = append(a.cases, map[string]any{"case_id": id, "user_id": userID, "channel": channel, "status": "open", "updated_at": a.date(a.now)})
}

func (a *oddAPI) addMessage(caseID, userID, staffID int64, text string) int64 {
	a.nextMsg++
	a.messages[caseID] = append(a.messages[caseID], map[string]any{"message_id": a.nextMsg, "user_id": userID, "staff_id": staffID,
		"content": text, "note": false, "sent_via_rule": false, "created_at": a.date(a.now)})
	for _, c := range a.cases {
		if c["case_id"] == caseID {
			c["updated_at"] = a.date(a.now)
		}
	}
	return a.nextMsg
}

// reply adds an agent's reply at now + d.
func (a *oddAPI) reply(d time.Duration, caseID int64, text string) int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.now = a.now.Add(d)
	return a.addMessage(caseID, 0, 7, text)
}

func (a *oddAPI) list(items []map[string]any, root string, total int) *http.Response {
	body := map[string]any{"total_count": total}
	for i, it := range items {
		body[strconv.Itoa(i)] = map[string]any{root: it}
	}
	resp, _ := httpmock.NewJsonResponse(200, body)
	resp.Header.Set("Date", a.now.UTC().Format(http.TimeFormat))
	return resp
}

func (a *oddAPI) register(mt *httpmock.MockTransport) {
	mt.RegisterResponder("GET", testBase+"/api/cases.json", func(*http.Request) (*http.Response, error) {
		a.mu.Lock()
		defer a.mu.Unlock()
		a.lists.Add(1)
		return a.list(a.cases, "case", len(a.cases)), nil
	})
	mt.RegisterRegexpResponder("GET", regexp.MustCompile(`/api/cases/(\d+)/messages\.json`), func(req *http.Request) (*http.Response, error) {
		a.mu.Lock()
		defer a.mu.Unlock()
		id, _ := strconv.ParseInt(httpmock.MustGetSubmatch(req, 1), 10, 64)
		page, _ := strconv.Atoi(req.URL.Query().Get("page"))
		limit, _ := strconv.Atoi(req.URL.Query().Get("limit"))
		a.pages = append(a.pages, fmt.Sprintf("%d/%d", id, page))
		all := a.messages[id]
		lo, hi := min((page-1)*limit, len(all)), min(page*limit, len(all))
		return a.list(all[lo:hi], "message", len(all)), nil
	})
	mt.RegisterRegexpResponder("GET", regexp.MustCompile(`/api/users/(\d+)\.json`), func(req *http.Request) (*http.Response, error) {
		id := httpmock.MustGetSubmatch(req, 1)
		return httpmock.NewJsonResponse(200, map[string]any{"user": map[string]any{"user_id": id, "user_custom_id": "u-" + id, "user_custom_channel": "cch1"}})
	})
}

func TestWatchToleratesAnAPIThatIgnoresSortFilterAndOrder(t *testing.T) {
	c, mt := setup(t)
	t0 := time.Date(2025, 5, 5, 12, 0, 0, 0, time.UTC)
	api := &oddAPI{now: t0.Add(-time.Hour), messages: map[int64][]map[string]any{}, nextMsg: 1000}
	// history: a case answered an hour ago, a long one (150 messages) half an hour
	// ago, and a case of another channel
	api.addCase(1, 10, "cch1")
	api.addMessage(1, 10, 0, "question")
	api.addMessage(1, 0, 7, "old answer")
	api.now = t0.Add(-30 * time.Minute)
	api.addCase(2, 11, "cch1")
	for i := range 150 {
		if i%2 == 0 {
			api.addMessage(2, 11, 0, "customer")
		} else {
			api.addMessage(2, 0, 7, "agent")
		}
	}
	api.now = t0.Add(-10 * time.Minute)
	api.addCase(3, 12, "cch2")
	api.now = t0
	api.register(mt)

	got := make(chan *AgentReply, 10)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- c.Replies.Watch(ctx, "cch1", func(_ context.Context, r *AgentReply) error {
			got <- r
			return nil
		}, WithPollInterval(time.Millisecond), WithBudgetShare(1))
	}()
	waitLists := func(n int32) {
		start := api.lists.Load()
		require.Eventually(t, func() bool { return api.lists.Load() >= start+n }, 10*time.Second, time.Millisecond)
	}
	waitLists(2)

	long := api.reply(10*time.Second, 2, "new in the long case")
	api.reply(time.Second, 3, "in the other channel")
	short := api.reply(time.Second, 1, "new in the short case")
	api.reply(15*time.Second, 3, "older than the grace Watch gives a fresh reply")
	for _, want := range []struct {
		id     int64
		caseID int64
		user   int64
	}{{long, 2, 11}, {short, 1, 10}} {
		select {
		case r := <-got:
			assert.Equal(t, &AgentReply{Type: EventMessageNew, MessageID: want.id, CaseID: want.caseID, StaffID: 7, UserID: want.user,
				UserCustomID: "u-" + strconv.FormatInt(want.user, 10), Content: r.Content}, r)
		case <-time.After(10 * time.Second):
			t.Fatal("reply not delivered")
		}
	}
	api.mu.Lock()
	api.now = api.now.Add(time.Minute)
	api.mu.Unlock()
	waitLists(3)
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)
	assert.Empty(t, got, "nothing else: no history, no other channel")
	api.mu.Lock()
	defer api.mu.Unlock()
	assert.Contains(t, api.pages, "2/2", "the newest of an oldest-first case are on its last page")
}

// messageAPI serves one case's n messages (ids 1..n, a second apart), honoring
// order when honor is set, with total_count unless noTotal.
func messageAPI(t *testing.T, mt *httpmock.MockTransport, n int, honor, noTotal bool) *[]string {
	t0 := time.Date(2025, 5, 5, 12, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	var asked []string
	mt.RegisterResponder("GET", testBase+"/api/cases/5/messages.json", func(req *http.Request) (*http.Response, error) {
		q := req.URL.Query()
		page, _ := strconv.Atoi(q.Get("page"))
		limit, _ := strconv.Atoi(q.Get("limit"))
		mu.Lock()
		asked = append(asked, q.Get("page"))
		mu.Unlock()
		var items []any
		for i := (page - 1) * limit; i < min(page*limit, n); i++ {
			id := i + 1
			if honor && q.Get("order") == "desc" {
				id = n - i
			}
			items = append(items, map[string]any{"message": map[string]any{"message_id": id, "staff_id": 7,
				"created_at": t0.Add(time.Duration(id) * time.Second).Format(time.RFC1123Z)}})
		}
		if noTotal {
			return httpmock.NewJsonResponse(200, items)
		}
		body := map[string]any{"total_count": n}
		for i, it := range items {
			body[strconv.Itoa(i)] = it
		}
		return httpmock.NewJsonResponse(200, body)
	})
	return &asked
}

func TestWatchReadsTheNewestMessagesInEitherOrder(t *testing.T) {
	t0 := time.Date(2025, 5, 5, 12, 0, 0, 0, time.UTC)
	ids := func(msgs []*Message) []int64 {
		var out []int64
		for _, m := range msgs {
			out = append(out, m.ID)
		}
		return out
	}
	tests := []struct {
		name           string
		n              int
		honor, noTotal bool
		since          time.Duration // since t0
		pages          []string
		first, last    int64 // of what is returned, oldest first
	}{
		{"newest first, one page is enough", 250, true, false, 200 * time.Second, []string{"1"}, 151, 250},
		{"newest first, read on to since", 250, true, false, 120 * time.Second, []string{"1", "2"}, 51, 250},
		{"oldest first: back from the last page", 250, false, false, 120 * time.Second, []string{"1", "3", "2"}, 101, 250},
		{"oldest first, no total: to the end", 250, false, true, 240 * time.Second, []string{"1", "2", "3"}, 1, 250},
		{"all on one page", 40, false, false, 0, []string{"1"}, 1, 40},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, mt := setup(t)
			asked := messageAPI(t, mt, tt.n, tt.honor, tt.noTotal)
			w := &watcher{c: c, cfg: newWebhookConfig(nil)}
			msgs, _, err := w.newestMessages(context.Background(), 5, t0.Add(tt.since))
			require.NoError(t, err)
			got := ids(msgs)
			require.NotEmpty(t, got)
			assert.Equal(t, tt.first, got[0])
			assert.Equal(t, tt.last, got[len(got)-1])
			assert.IsIncreasing(t, got)
			assert.Equal(t, tt.pages, *asked)
		})
	}
}

func TestWatchLooksUpEachUserOnce(t *testing.T) {
	c, mt := setup(t)
	rec := &recorder{}
	rec.on(mt, "GET", "/api/users/11.json", ok(`{"user":{"user_id":11,"user_custom_id":"u-11","user_custom_channel":"cch1"}}`))
	rec.on(mt, "GET", "/api/users/12.json", reply{status: 404, body: `{"error":"user_not_found"}`})
	var logs syncBuffer
	w := &watcher{c: c, cfg: newWebhookConfig(nil), log: slog.New(slog.NewTextHandler(&logs, nil))}
	ctx := context.Background()
	for range 3 {
		id, err := w.customID(ctx, 11)
		require.NoError(t, err)
		assert.Equal(t, "u-11", id)
	}
	assert.Len(t, rec.all(), 1, "then from the Store")
	data, err := c.store.GetRecord(ctx, userKey(11))
	require.NoError(t, err)
	assert.JSONEq(t, `{"channel":"cch1","custom_id":"u-11"}`, string(data))

	id, err := w.customID(ctx, 12)
	require.NoError(t, err)
	assert.Empty(t, id, "a user the API no longer knows")
	assert.Contains(t, logs.String(), "user is gone")
	id, err = w.customID(ctx, 0)
	require.NoError(t, err)
	assert.Empty(t, id)
}

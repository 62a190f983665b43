package deskie_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/deskie-go/deskie"
	"github.com/deskie-go/deskie/deskietest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWatchRecoversRepliesAfterAnOutage(t *testing.T) {
	r := newWatchRig(t)
	// the app: its webhook handler and Watch share the client's Store
	app := httptest.NewServer(http.StripPrefix("/deskie", r.client.NewWebhookHandler(r.fn, deskie.WithWebhookToken(watchToken))))
	require.NoError(t, r.srv.SetWebhookURL(r.ch, app.URL+"/deskie/"+watchToken))
	cases := r.customers(10)
	r.watch(r.client)
	r.waitPolls(2)

	// the app fails for 50 replies (the webhook answers 500), then its server is
	// gone for 50 more (the webhook cannot connect); the fake sends each once
	r.setFail(errors.New("database down"))
	want := map[int64]*deskie.AgentReply{}
	for i := range 100 {
		if i == 50 {
			app.Close()
		}
		c := i % 10
		text := fmt.Sprintf("answer %d", i)
		r.tick()
		id, err := r.srv.AgentReply(cases[c], 7, text)
		require.Error(t, err, "the delivery failed")
		want[id] = r.wantReply(id, cases[c], fmt.Sprintf("app-user-%d", c), text)
	}
	r.waitPolls(3) // Watch tried, and failed, while the app was down
	assert.Empty(t, r.received())

	r.setFail(nil) // the app is back
	r.waitReplies(100)
	r.waitPolls(3)
	got := r.received()
	require.Len(t, got, 100, "every reply, once")
	for _, reply := range got {
		assert.Equal(t, want[reply.MessageID], reply)
	}
	for id, n := range r.calls {
		assert.Equal(t, 1, n, "message %d", id)
	}
	for _, d := range r.srv.Deliveries() {
		assert.Equal(t, 1, d.Attempt, "the fake sent no webhook twice: Watch found them")
	}
}

func TestWatchBesideTheHandlerDeliversEachReplyOnce(t *testing.T) {
	r := newWatchRig(t)
	app := httptest.NewServer(http.StripPrefix("/deskie", r.client.NewWebhookHandler(r.fn, deskie.WithWebhookToken(watchToken))))
	t.Cleanup(app.Close)
	require.NoError(t, r.srv.SetWebhookURL(r.ch, app.URL+"/deskie/"+watchToken))
	cases := r.customers(5)
	r.watch(r.client)
	// a second replica on the same Store, polling too
	r.watch(r.newClient(r.store))
	for i := range 30 {
		r.reply(cases[i%5], fmt.Sprintf("answer %d", i))
	}
	r.waitReplies(30)
	r.waitPolls(4)
	assert.Len(t, r.received(), 30)
	for id, n := range r.calls {
		assert.Equal(t, 1, n, "message %d", id)
	}
}

func TestWatchDropRules(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		name       string
		opts       []deskie.WebhookOption
		notes, api bool
	}{
		{"default", nil, false, false},
		{"WithNotes", []deskie.WebhookOption{deskie.WithNotes()}, true, false},
		{"WithAPIReplies", []deskie.WebhookOption{deskie.WithAPIReplies()}, false, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := newWatchRig(t)
			caseID := r.customers(1)[0]
			r.watch(r.client, tt.opts...)
			r.waitPolls(2)

			r.tick()
			note, err := r.srv.AgentNote(caseID, 7, "internal: VIP")
			require.NoError(t, err)
			r.tick()
			bot, err := r.client.Messages.Create(ctx, caseID, &deskie.MessageCreate{StaffID: 9, Content: "sent by our bot"})
			require.NoError(t, err)
			r.tick()
			rule, err := r.srv.RuleReply(caseID, "We answer within a day")
			require.NoError(t, err)
			r.tick()
			_, err = r.client.Messages.Create(ctx, caseID, &deskie.MessageCreate{UserID: r.received0User(caseID), Content: "a customer's own message"})
			require.NoError(t, err)
			agent := r.reply(caseID, "Hello")

			want := 2 // the rule's and the agent's
			if tt.notes {
				want++
			}
			if tt.api {
				want++
			}
			r.waitReplies(want)
			r.waitPolls(3)
			got := map[int64]*deskie.AgentReply{}
			for _, reply := range r.received() {
				got[reply.MessageID] = reply
			}
			require.Len(t, got, want)
			require.Contains(t, got, rule)
			assert.True(t, got[rule].SentViaRule)
			assert.Zero(t, got[rule].StaffID)
			assert.Equal(t, "We answer within a day", got[rule].Content)
			require.Contains(t, got, agent)
			assert.False(t, got[agent].SentViaRule || got[agent].Note || got[agent].FromAPI)
			if tt.notes {
				require.Contains(t, got, note)
				assert.True(t, got[note].Note)
			} else {
				assert.NotContains(t, got, note, "a note never reaches the customer")
			}
			if tt.api {
				require.Contains(t, got, bot.ID)
				assert.True(t, got[bot.ID].FromAPI)
				assert.Equal(t, int64(9), got[bot.ID].StaffID)
			} else {
				assert.NotContains(t, got, bot.ID, "the integration's own replies are not handed back")
			}
		})
	}
}

func TestWatchLeavesAFreshReplyForALaterPoll(t *testing.T) {
	r := newWatchRig(t)
	caseID := r.customers(1)[0]
	r.watch(r.client)
	r.waitPolls(2)
	id := r.reply(caseID, "just written")
	r.clock.Advance(4 * time.Second)
	r.waitPolls(3)
	assert.Empty(t, r.received(), "it may still be the integration's own, not yet recorded by Messages.Create")
	got := r.waitReplies(1)
	assert.Equal(t, id, got[0].MessageID)
}

func TestWatchDeliversAReplyFollowedByAClosure(t *testing.T) {
	r := newWatchRig(t)
	caseID := r.customers(1)[0]
	r.watch(r.client)
	r.waitPolls(2)
	id := r.reply(caseID, "Done, closing")
	require.NoError(t, r.srv.CloseCase(caseID))
	got := r.waitReplies(1)
	assert.Equal(t, r.wantReply(id, caseID, "app-user-0", "Done, closing"), got[0])
}

func TestWatchRestartsFromTheSharedStore(t *testing.T) {
	for _, lookback := range []time.Duration{0, time.Hour} {
		t.Run(fmt.Sprint("lookback ", lookback), func(t *testing.T) {
			r := newWatchRig(t)
			cases := r.customers(3)
			stop := r.watch(r.client)
			r.waitPolls(2)
			for i := range 3 {
				r.reply(cases[i], fmt.Sprintf("before %d", i))
			}
			r.waitReplies(3)
			require.ErrorIs(t, stop(), context.Canceled)

			// the process is down for ten minutes; five replies arrive meanwhile
			var missed []int64
			for i := range 5 {
				r.clock.Advance(2 * time.Minute)
				missed = append(missed, r.reply(cases[i%3], fmt.Sprintf("while down %d", i)))
			}
			// a new process, on the same (durable) Store
			var opts []deskie.WebhookOption
			if lookback > 0 {
				opts = append(opts, deskie.WithLookback(lookback))
			}
			r.watch(r.newClient(r.store), opts...)
			r.waitReplies(8)
			r.waitPolls(3)
			got := r.received()
			require.Len(t, got, 8, "what arrived while down, and nothing twice")
			for i, id := range missed {
				assert.Equal(t, id, got[3+i].MessageID, "in order")
			}
			for id, n := range r.calls {
				assert.Equal(t, 1, n, "message %d", id)
			}
		})
	}
}

func TestWatchFreshStartDoesNotReplayHistory(t *testing.T) {
	r := newWatchRig(t)
	cases := r.customers(3)
	for i := range 6 {
		r.reply(cases[i%3], fmt.Sprintf("old %d", i))
	}
	r.clock.Advance(5 * time.Minute)
	r.watch(r.client)
	r.waitPolls(2)
	id := r.reply(cases[1], "new")
	got := r.waitReplies(1)
	r.waitPolls(3)
	require.Len(t, r.received(), 1, "only what came after the start")
	assert.Equal(t, id, got[0].MessageID)

	t.Run("with a lookback", func(t *testing.T) {
		r := newWatchRig(t)
		cases := r.customers(2)
		old := r.reply(cases[0], "two hours ago")
		r.clock.Advance(2 * time.Hour)
		recent := r.reply(cases[1], "ten minutes ago")
		r.clock.Advance(10 * time.Minute)
		r.watch(r.client, deskie.WithLookback(time.Hour))
		got := r.waitReplies(1)
		r.waitPolls(3)
		require.Len(t, r.received(), 1)
		assert.Equal(t, recent, got[0].MessageID)
		assert.NotEqual(t, old, got[0].MessageID)
	})
}

func TestWatchOnlyTheWatchedChannel(t *testing.T) {
	r := newWatchRig(t)
	mine := r.customers(1)[0]
	other := r.srv.AddChannel("Forum", deskietest.ChannelAsync, "")
	r.tick()
	theirs, err := r.srv.SeedCases(other, "forum-user", 1)
	require.NoError(t, err)
	r.watch(r.client)
	r.waitPolls(2)
	r.reply(theirs[0], "for the forum")
	id := r.reply(mine, "for the app")
	got := r.waitReplies(1)
	r.waitPolls(3)
	require.Len(t, r.received(), 1)
	assert.Equal(t, id, got[0].MessageID)
	for _, req := range r.srv.Requests() {
		if req.Path == "/api/cases.json" {
			assert.Contains(t, req.Query, "channel", "the list asks for the channel")
		}
	}
}

func TestWatchPollCost(t *testing.T) {
	r := newWatchRig(t)
	cases := r.customers(4)
	r.watch(r.client)
	r.waitPolls(2)
	for _, c := range cases {
		r.reply(c, "warm up") // each customer's user is looked up once
	}
	r.waitReplies(4)
	r.clock.Advance(time.Minute) // what was read settles
	r.waitPolls(3)

	before := len(r.srv.Requests())
	r.waitPolls(5)
	polls := pollRequests(r.srv.Requests()[before:])
	require.GreaterOrEqual(t, len(polls), 4)
	for _, p := range polls[:len(polls)-1] {
		assert.Len(t, p, 1, "an idle poll costs one request: %v", p)
	}
	q := polls[0][0].Query
	assert.Contains(t, q, "sort=updated_at_desc")
	assert.Contains(t, q, "from_updated_time=")

	// k cases change: the poll that sees them costs 1 + k
	const k = 3
	mark := len(r.srv.Requests())
	for _, c := range cases[:k] {
		r.reply(c, "again")
	}
	r.clock.Advance(time.Minute)
	r.waitReplies(4 + k)
	r.waitPolls(3)
	var costs []int
	for _, p := range pollRequests(r.srv.Requests()[mark:]) {
		costs = append(costs, len(p))
	}
	assert.Contains(t, costs, 1+k, "the poll that saw the changes: %v", costs)
	for _, c := range costs {
		assert.LessOrEqual(t, c, 1+k, "no poll costs more: %v", costs)
	}
	users := 0
	for _, req := range r.srv.Requests() {
		if strings.HasPrefix(req.Path, "/api/users/") {
			users++
		}
	}
	assert.Equal(t, 4, users, "one user look-up per customer, not per reply")
}

func TestWatchSurvivesFaults(t *testing.T) {
	r := newWatchRig(t)
	store := &flakyStore{MemoryStore: r.store}
	var logs deskie.SyncBuffer
	client := r.newClient(store, deskie.WithMaxRetries(0), deskie.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	caseID := r.customers(1)[0]
	store.down.Store(true) // unreachable from the start
	r.watch(client)
	require.Eventually(t, func() bool { return strings.Count(logs.String(), "store unreachable") >= 2 }, 10*time.Second, time.Millisecond)
	assert.Zero(t, r.srv.CountRequests("", ""), "nothing is read before the position")
	store.down.Store(false)
	r.waitPolls(2)

	// the API fails the next case lists
	r.srv.Fail("GET /api/cases.json", 3, deskietest.FaultServerError)
	first := r.reply(caseID, "through API errors")
	assert.Equal(t, first, r.waitReplies(1)[0].MessageID)

	// the message read fails
	r.srv.Fail(fmt.Sprintf("GET /api/cases/%d/messages.json", caseID), 2, deskietest.FaultServerError)
	second := r.reply(caseID, "through a failed read")
	assert.Equal(t, second, r.waitReplies(2)[1].MessageID)

	// fn panics once: the reply comes again at a later poll
	r.mu.Lock()
	r.panic = true
	r.mu.Unlock()
	third := r.reply(caseID, "through a panic")
	assert.Equal(t, third, r.waitReplies(3)[2].MessageID)

	// the store is down for a while
	store.down.Store(true)
	fourth := r.reply(caseID, "through a store outage")
	r.clock.Advance(15 * time.Second)
	r.waitPolls(2)
	assert.Len(t, r.received(), 3, "nothing is delivered without its claim")
	store.down.Store(false)
	assert.Equal(t, fourth, r.waitReplies(4)[3].MessageID)

	r.waitPolls(3)
	assert.Len(t, r.received(), 4)
	text := logs.String()
	for _, want := range []string{"poll left replies undelivered", "store unreachable", "500", "panic: app bug"} {
		assert.Contains(t, text, want)
	}
}

func TestWatchStopsWithItsContext(t *testing.T) {
	r := newWatchRig(t)
	r.customers(1)
	hc := &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	client, err := deskie.NewClient("", r.srv.StaffEmail(), r.srv.APIKey(), deskie.WithBaseURL(r.srv.URL), deskie.WithHTTPClient(hc))
	require.NoError(t, err)
	baseline := goroutines()

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- client.Replies.Watch(ctx, r.ch, r.fn, deskie.WithPollInterval(time.Hour)) }()
	// the first poll ran; Watch now waits an hour
	require.Eventually(t, func() bool { return r.srv.CountRequests("GET", "/api/cases.json") == 1 }, 10*time.Second, time.Millisecond)
	cancel()
	select {
	case err := <-done:
		require.ErrorIs(t, err, context.Canceled)
	case <-time.After(10 * time.Second):
		t.Fatal("Watch did not return when its context ended")
	}
	hc.CloseIdleConnections()
	// polled here, not with assert.Eventually, whose own goroutines would count
	deadline := time.Now().Add(10 * time.Second)
	for goroutines() > baseline && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	assert.LessOrEqual(t, goroutines(), baseline, "no goroutine left behind")
}

func TestWatchRejectsBadArguments(t *testing.T) {
	r := newWatchRig(t)
	fn := func(context.Context, *deskie.AgentReply) error { return nil }
	for name, call := range map[string]func() error{
		"not a custom channel": func() error { return r.client.Replies.Watch(context.Background(), "email", fn) },
		"empty channel":        func() error { return r.client.Replies.Watch(context.Background(), "", fn) },
		"nil fn":               func() error { return r.client.Replies.Watch(context.Background(), r.ch, nil) },
		"zero interval": func() error {
			return r.client.Replies.Watch(context.Background(), r.ch, fn, deskie.WithPollInterval(0))
		},
		"negative lookback": func() error { return r.client.Replies.Watch(context.Background(), r.ch, fn, deskie.WithLookback(-1)) },
		"lookback of a month": func() error {
			return r.client.Replies.Watch(context.Background(), r.ch, fn, deskie.WithLookback(30*24*time.Hour))
		},
		"zero budget share": func() error { return r.client.Replies.Watch(context.Background(), r.ch, fn, deskie.WithBudgetShare(0)) },
		"budget share over 1": func() error {
			return r.client.Replies.Watch(context.Background(), r.ch, fn, deskie.WithBudgetShare(1.5))
		},
		"nil logger": func() error {
			return r.client.Replies.Watch(context.Background(), r.ch, fn, deskie.WithWebhookLogger(nil))
		},
	} {
		err := call()
		var argErr *deskie.ArgumentError
		require.ErrorAs(t, err, &argErr, name)
		assert.ErrorIs(t, err, deskie.ErrInvalidArgument, name)
	}
	assert.Zero(t, r.srv.CountRequests("", ""), "rejected before any request")
}

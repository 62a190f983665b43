package deskie_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/deskie-go/deskie"
	"github.com/deskie-go/deskie/deskietest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// bridge is a minimal integrator: a client on the fake and a mounted webhook
// handler that records what reaches the app.
type bridge struct {
	srv    *deskietest.Server
	client *deskie.Client
	hook   *httptest.Server
	ch     string

	mu      sync.Mutex
	replies []*deskie.AgentReply
}

const e2eToken = "e2e-webhook-token"

func newBridge(t *testing.T, typ deskietest.ChannelType, srvOpts []deskietest.Option, opts ...deskie.Option) *bridge {
	t.Helper()
	b := &bridge{srv: deskietest.NewServer(srvOpts...)}
	t.Cleanup(b.srv.Close)
	mux := http.NewServeMux()
	mux.Handle("/deskie/", deskie.NewWebhookHandler(func(_ context.Context, r *deskie.AgentReply) error {
		b.mu.Lock()
		defer b.mu.Unlock()
		b.replies = append(b.replies, r)
		return nil
	}, deskie.WithWebhookToken(e2eToken)))
	b.hook = httptest.NewServer(mux)
	t.Cleanup(b.hook.Close)
	b.ch = b.srv.AddChannel("App", typ, b.hook.URL+"/deskie/"+e2eToken)
	base := []deskie.Option{deskie.WithBaseURL(b.srv.URL), deskie.WithRetryWait(time.Millisecond, 10*time.Millisecond), deskie.WithMaxRetryAfter(50 * time.Millisecond)}
	c, err := deskie.NewClient("", b.srv.StaffEmail(), b.srv.APIKey(), append(base, opts...)...)
	require.NoError(t, err)
	b.client = c
	return b
}

func (b *bridge) received() []*deskie.AgentReply {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]*deskie.AgentReply(nil), b.replies...)
}

func TestE2EConversation(t *testing.T) {
	for _, typ := range []deskietest.ChannelType{deskietest.ChannelAsync, deskietest.ChannelSync} {
		t.Run(string(typ), func(t *testing.T) {
			b := newBridge(t, typ, nil)
			ctx := context.Background()
			msg := func(userID, lastCase int64, text string) *deskie.CustomerMessage {
				return &deskie.CustomerMessage{Channel: b.ch, UserCustomID: "app-user-1", UserFullName: "Alice",
					UserID: userID, LastCaseID: lastCase, Content: text}
			}

			// 1. first contact
			res, err := b.client.Chats.Send(ctx, msg(0, 0, "Hi, my order is late"))
			require.NoError(t, err)
			assert.Equal(t, deskie.ActionCreatedCase, res.Action)
			userID, caseID := res.UserID, res.CaseID
			assert.Greater(t, userID, int64(1<<31))

			// 2. an agent answers: the webhook delivers it once, typed
			replyID, err := b.srv.AgentReply(caseID, 7, "Looking into it")
			require.NoError(t, err)
			got := b.received()
			require.Len(t, got, 1)
			assert.Equal(t, &deskie.AgentReply{Type: "message_new", MessageID: replyID, CaseID: caseID, StaffID: 7,
				UserID: userID, UserCustomID: "app-user-1", Content: "Looking into it"}, got[0])
			require.NoError(t, b.srv.Redeliver(replyID))
			assert.Len(t, b.received(), 1, "a redelivery reaches the app once")

			// notes and our own API replies never reach the customer
			_, err = b.srv.AgentNote(caseID, 7, "internal: VIP")
			require.NoError(t, err)
			_, err = b.client.Messages.Create(ctx, caseID, &deskie.MessageCreate{StaffID: 7, Content: "sent by our bot"})
			require.NoError(t, err)
			b.srv.WaitDeliveries()
			_, err = b.srv.RuleReply(caseID, "We answer within a day")
			require.NoError(t, err)
			got = b.received()
			require.Len(t, got, 2)
			assert.True(t, got[1].SentViaRule)

			// 3. follow-up goes into the same (waiting) case and reopens it
			res, err = b.client.Chats.Send(ctx, msg(userID, caseID, "Thanks!"))
			require.NoError(t, err)
			assert.Equal(t, deskie.ActionReplied, res.Action)
			assert.Equal(t, caseID, res.CaseID)
			c, _ := b.srv.Case(caseID)
			assert.Equal(t, deskietest.StatusOpen, c.Status)

			// 4. closed → a new case
			require.NoError(t, b.srv.CloseCase(caseID))
			res, err = b.client.Chats.Send(ctx, msg(userID, caseID, "One more thing"))
			require.NoError(t, err)
			assert.Equal(t, deskie.ActionCreatedCase, res.Action)
			assert.NotEqual(t, caseID, res.CaseID)
			assert.Equal(t, userID, res.UserID)
			older := res.CaseID

			// 5. a second chat appears; the agent merges it into the previous one
			newer, err := b.client.Cases.Create(ctx, &deskie.CaseCreate{Channel: b.ch, UserCustomID: "app-user-1", Subject: "other", Content: "from the web form"})
			require.NoError(t, err)
			require.NoError(t, b.srv.MergeCases(newer.ID, older))
			res, err = b.client.Chats.Send(ctx, msg(userID, newer.ID, "Did you get it?"))
			require.NoError(t, err)
			assert.Equal(t, deskie.ActionFollowedMerge, res.Action)
			assert.Equal(t, older, res.CaseID)

			// 6. a lost mapping does not split the history
			res, err = b.client.Chats.Send(ctx, msg(0, 0, "I reinstalled the app"))
			require.NoError(t, err)
			assert.Equal(t, deskie.ActionReplied, res.Action)
			assert.Equal(t, older, res.CaseID)
			assert.Equal(t, userID, res.UserID)

			// what the helpdesk holds: every customer message exactly once
			var texts []string
			for _, m := range b.srv.AllMessages() {
				if m.UserID != 0 {
					texts = append(texts, m.Content)
				}
			}
			assert.ElementsMatch(t, []string{"Hi, my order is late", "Thanks!", "One more thing", "from the web form", "Did you get it?", "I reinstalled the app"}, texts)
		})
	}
}

// TestE2ENoLossNoDuplicatesUnderFaults runs 200 customer messages while the
// server fails in every way it can: each message is stored exactly once.
func TestE2ENoLossNoDuplicatesUnderFaults(t *testing.T) {
	b := newBridge(t, deskietest.ChannelAsync, nil)
	ctx := context.Background()
	// Each fault is matched by the next request of its method, so it hits the
	// message being sent: its first write, or one of its reads.
	faults := []struct {
		match string
		fault deskietest.Fault
	}{
		{"POST", deskietest.FaultServerErrorAfter},
		{"POST", deskietest.FaultDropAfter},
		{"POST", deskietest.FaultServerError},
		{"POST", deskietest.FaultDropBefore},
		{"POST", deskietest.FaultRateLimit},
		{"GET", deskietest.FaultServerError},
		{"GET", deskietest.FaultDropBefore},
		{"GET", deskietest.FaultRateLimit},
	}
	type user struct{ id, lastCase int64 }
	users := make([]user, 20)
	want := map[string]bool{}
	for i := range 200 {
		if i%3 == 0 {
			f := faults[(i/3)%len(faults)]
			b.srv.Fail(f.match, 1, f.fault)
		}
		if i%50 == 49 { // now and then an agent closes a chat
			for _, c := range b.srv.Cases() {
				if c.Status != deskietest.StatusClosed {
					require.NoError(t, b.srv.CloseCase(c.ID))
					break
				}
			}
		}
		u := &users[i%len(users)]
		text := fmt.Sprintf("user %d message %d", i%len(users), i)
		want[text] = true
		res, err := b.client.Chats.Send(ctx, &deskie.CustomerMessage{Channel: b.ch, UserCustomID: fmt.Sprintf("u-%d", i%len(users)),
			UserID: u.id, LastCaseID: u.lastCase, Content: text})
		require.NoError(t, err, text)
		u.id, u.lastCase = res.UserID, res.CaseID
	}
	got := map[string]int{}
	for _, m := range b.srv.AllMessages() {
		if m.UserID != 0 {
			got[m.Content]++
		}
	}
	assert.Len(t, got, 200, "none lost")
	for text, n := range got {
		assert.True(t, want[text], text)
		assert.Equal(t, 1, n, "duplicated: %s", text)
	}
	assert.Len(t, b.srv.Users(), 20, "one user per custom id")
}

// TestE2EBurstWithinBudget sends 300 concurrent writes against a small rate
// budget (200 units a second, a write costs 2): the client-side budget paces
// them so the server refuses none. The window is a second long so that a write
// delayed by a loaded machine does not cross into the next one.
func TestE2EBurstWithinBudget(t *testing.T) {
	b := newBridge(t, deskietest.ChannelAsync, []deskietest.Option{deskietest.WithRateLimit(200, time.Second)},
		deskie.WithMaxRetries(0))
	ctx := context.Background()
	res, err := b.client.Chats.Send(ctx, &deskie.CustomerMessage{Channel: b.ch, UserCustomID: "u", Content: "start"})
	require.NoError(t, err)

	var wg sync.WaitGroup
	errs := make(chan error, 300)
	for i := range 300 {
		wg.Go(func() {
			_, err := b.client.Messages.Create(ctx, res.CaseID, &deskie.MessageCreate{UserID: res.UserID, Content: fmt.Sprint("burst ", i)})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	refused := 0
	for _, r := range b.srv.Requests() {
		if r.Status == http.StatusTooManyRequests {
			refused++
		}
	}
	assert.Zero(t, refused, "no 429 at all, not even a retried one")
	assert.Len(t, b.srv.Messages(res.CaseID), 301)
	rate := b.client.Rate()
	assert.Equal(t, 200, rate.Limit)
}

// TestE2EBurstFromOneCustomer sends a burst of one customer's messages at once,
// as a chat app does when a user types fast: on first contact, and again after
// their chat was closed. Each burst opens one case, not one per message.
func TestE2EBurstFromOneCustomer(t *testing.T) {
	b := newBridge(t, deskietest.ChannelSync, nil)
	ctx := context.Background()
	burst := func(round string, userID, lastCase int64) []*deskie.SendResult {
		results := make([]*deskie.SendResult, 8)
		var wg sync.WaitGroup
		for i := range results {
			wg.Go(func() {
				res, err := b.client.Chats.Send(ctx, &deskie.CustomerMessage{Channel: b.ch, UserCustomID: "fast-typer",
					UserID: userID, LastCaseID: lastCase, Content: fmt.Sprintf("%s %d", round, i)})
				assert.NoError(t, err)
				results[i] = res
			})
		}
		wg.Wait()
		return results
	}
	casesOf := func(results []*deskie.SendResult) map[int64]bool {
		ids := map[int64]bool{}
		for _, r := range results {
			require.NotNil(t, r)
			ids[r.CaseID] = true
		}
		return ids
	}

	actions := func(results []*deskie.SendResult) map[deskie.Action]int {
		n := map[deskie.Action]int{}
		for _, r := range results {
			n[r.Action]++
		}
		return n
	}

	first := burst("first", 0, 0)
	require.Len(t, casesOf(first), 1, "one case for the first burst")
	assert.Equal(t, map[deskie.Action]int{deskie.ActionCreatedCase: 1, deskie.ActionReplied: 7}, actions(first))
	require.Len(t, b.srv.Cases(), 1)
	require.Len(t, b.srv.Users(), 1)
	assert.Len(t, b.srv.Messages(first[0].CaseID), 8)

	require.NoError(t, b.srv.CloseCase(first[0].CaseID))
	again := burst("again", first[0].UserID, first[0].CaseID)
	require.Len(t, casesOf(again), 1, "one new case after the chat was closed")
	assert.Equal(t, map[deskie.Action]int{deskie.ActionCreatedCase: 1, deskie.ActionReplied: 7}, actions(again))
	assert.Len(t, b.srv.Cases(), 2)
	assert.Len(t, b.srv.Messages(again[0].CaseID), 8)
}

package deskie_test

// Tests for the defects of issue 11 in Chats.Send: each one drives the fake server
// into the sequence that broke v0.1 (the comment on each says why it did) and
// asserts what the helpdesk ends up holding.
//
// Events "between the write and the look" are injected with hookTransport: when
// the hooked request's answer comes back, the hook acts on the fake (merges a
// case, starts another replica's Send) before the client sees the answer. Nothing
// here sleeps to synchronize.

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deskie-go/deskie"
	"github.com/deskie-go/deskie/deskietest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// hookTransport forwards requests to a real transport. A hook armed with onAnswer
// is tied to the next request that matches it (when that request is sent) and runs
// when its answer (or transport error) comes back, before the client sees it.
type hookTransport struct {
	next http.RoundTripper

	mu    sync.Mutex
	hooks []*answerHook
}

type answerHook struct {
	method, path string // path ending in "*" matches by prefix
	fn           func(req *http.Request, resp *http.Response, err error) (*http.Response, error)
}

func newHookTransport(t testing.TB) *hookTransport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(tr.CloseIdleConnections)
	return &hookTransport{next: tr}
}

// onAnswer arms fn for the next request "METHOD /path" (a path ending in "*"
// matches by prefix). fn may replace the answer.
func (h *hookTransport) onAnswer(match string, fn func(req *http.Request, resp *http.Response, err error) (*http.Response, error)) {
	method, path, _ := strings.Cut(match, " ")
	h.mu.Lock()
	defer h.mu.Unlock()
	h.hooks = append(h.hooks, &answerHook{method: method, path: path, fn: fn})
}

// afterAnswer arms fn, which acts on the world and leaves the answer as it is.
func (h *hookTransport) afterAnswer(match string, fn func()) {
	h.onAnswer(match, func(_ *http.Request, resp *http.Response, err error) (*http.Response, error) {
		fn()
		return resp, err
	})
}

func (h *hookTransport) take(req *http.Request) *answerHook {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i, hk := range h.hooks {
		if hk.method != req.Method {
			continue
		}
		if p, ok := strings.CutSuffix(hk.path, "*"); ok && strings.HasPrefix(req.URL.Path, p) || hk.path == req.URL.Path {
			h.hooks = append(h.hooks[:i], h.hooks[i+1:]...)
			return hk
		}
	}
	return nil
}

func (h *hookTransport) pending() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.hooks)
}

func (h *hookTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	hk := h.take(req)
	resp, err := h.next.RoundTrip(req)
	if hk != nil {
		return hk.fn(req, resp, err)
	}
	return resp, err
}

// sendRig is a fake Deskie with one channel, and a Client on it whose transport
// can be hooked.
type sendRig struct {
	t      testing.TB
	srv    *deskietest.Server
	ch     string
	store  *deskie.MemoryStore
	hook   *hookTransport
	client *deskie.Client
}

func newSendRig(t testing.TB, srvOpts []deskietest.Option, opts ...deskie.Option) *sendRig {
	t.Helper()
	srv := deskietest.NewServer(srvOpts...)
	t.Cleanup(srv.Close)
	r := &sendRig{t: t, srv: srv, ch: srv.AddChannel("App", deskietest.ChannelSync, ""), store: deskie.NewMemoryStore()}
	r.client, r.hook = r.newClient(r.store, opts...)
	return r
}

// newClient makes another Client on the same fake (another replica, or the process
// after a restart) with its own hookable transport, keeping its state in store.
func (r *sendRig) newClient(store deskie.Store, opts ...deskie.Option) (*deskie.Client, *hookTransport) {
	r.t.Helper()
	hook := newHookTransport(r.t)
	base := []deskie.Option{
		deskie.WithBaseURL(r.srv.URL), deskie.WithHTTPClient(&http.Client{Transport: hook, Timeout: 30 * time.Second}),
		deskie.WithRetryWait(time.Millisecond, 5*time.Millisecond), deskie.WithMaxRetryAfter(50 * time.Millisecond),
		deskie.WithStore(store),
	}
	c, err := deskie.NewClient("", r.srv.StaffEmail(), r.srv.APIKey(), append(base, opts...)...)
	require.NoError(r.t, err)
	return c, hook
}

func (r *sendRig) msg(customID string, userID, lastCase int64, text string) *deskie.CustomerMessage {
	return &deskie.CustomerMessage{Channel: r.ch, UserCustomID: customID, UserID: userID, LastCaseID: lastCase, Content: text}
}

func (r *sendRig) send(m *deskie.CustomerMessage) *deskie.SendResult {
	r.t.Helper()
	res, err := r.client.Chats.Send(context.Background(), m)
	require.NoError(r.t, err, "send %q", m.Content)
	require.NotNil(r.t, res)
	return res
}

// texts is the content of a case's messages, in the fake's order.
func (r *sendRig) texts(caseID int64) []string {
	var out []string
	for _, m := range r.srv.Messages(caseID) {
		out = append(out, m.Content)
	}
	return out
}

// customerTexts counts the customer messages of every case by content.
func (r *sendRig) customerTexts() map[string]int {
	n := map[string]int{}
	for _, m := range r.srv.AllMessages() {
		if m.UserID != 0 && m.StaffID == 0 {
			n[m.Content]++
		}
	}
	return n
}

// requestsSince returns the API requests the fake logged after the first n.
func (r *sendRig) requestsSince(n int) []deskietest.Request {
	return r.srv.Requests()[n:]
}

// Issue 11.1a. v0.1 remembered the message the previous Send of a burst added (to
// tell "ok" from "ok"), but the first "ok" opened the case, so there was no such
// message: the look after the second "ok"'s ambiguous write found the case's
// opening "ok" as the newest customer message and reported the second as sent.
// The helpdesk held one "ok".
func TestSendFaultBurstOfIdenticalTextsAtFirstContact(t *testing.T) {
	r := newSendRig(t, nil)
	// The second "ok" is a message: its POST reaches the server, which closes the
	// connection without acting — ambiguous, and it did not land.
	r.srv.Fail("POST /api/cases/*", 1, deskietest.FaultDropBefore)

	results := make([]*deskie.SendResult, 2)
	var wg sync.WaitGroup
	for i := range results {
		wg.Go(func() {
			res, err := r.client.Chats.Send(context.Background(), r.msg("u", 0, 0, "ok"))
			assert.NoError(t, err)
			results[i] = res
		})
	}
	wg.Wait()
	require.NotNil(t, results[0])
	require.NotNil(t, results[1])
	assert.Empty(t, r.srv.PendingFaults(), "the fault hit the second ok's write")

	cases := r.srv.Cases()
	require.Len(t, cases, 1, "one case for the burst")
	assert.Equal(t, []string{"ok", "ok"}, r.texts(cases[0].ID), "both oks are kept, once each")
	actions := map[deskie.Action]int{results[0].Action: 1}
	actions[results[1].Action]++
	assert.Equal(t, map[deskie.Action]int{deskie.ActionCreatedCase: 1, deskie.ActionReplied: 1}, actions)
	for _, res := range results {
		assert.Equal(t, cases[0].ID, res.CaseID)
		if res.Action == deskie.ActionReplied {
			require.NotNil(t, res.Message)
			assert.Equal(t, r.srv.Messages(cases[0].ID)[1].ID, res.Message.ID, "the second ok's result is the re-sent message")
		}
	}
}

// Issue 11.1b. v0.1 compared attachment-only messages by how many files they had:
// after photo B's write failed ambiguously, the newest customer message (photo A,
// one file) counted as B, and B was never sent. "restarted" sends B from a new
// process (a fresh MemoryStore, the default), which does not remember writing A:
// only the comparison by file tells A from B there.
func TestSendFaultAttachmentsComparedByFile(t *testing.T) {
	for _, restarted := range []bool{false, true} {
		t.Run(fmt.Sprint("restarted=", restarted), func(t *testing.T) {
			r := newSendRig(t, nil)
			photo := func(name string) string { return "https://files.example.com/photos/" + name }
			first := r.send(r.msg("u", 0, 0, "here are my photos"))
			a := r.send(&deskie.CustomerMessage{Channel: r.ch, UserCustomID: "u", UserID: first.UserID, LastCaseID: first.CaseID,
				AttachmentURLs: []string{photo("a.jpg")}})
			require.Equal(t, deskie.ActionReplied, a.Action)
			client := r.client
			if restarted {
				client, _ = r.newClient(deskie.NewMemoryStore())
			}

			// B's POST reaches the server, which closes the connection without acting.
			r.srv.Fail("POST /api/cases/*", 1, deskietest.FaultDropBefore)
			b, err := client.Chats.Send(context.Background(), &deskie.CustomerMessage{Channel: r.ch, UserCustomID: "u",
				UserID: a.UserID, LastCaseID: a.CaseID, AttachmentURLs: []string{photo("b.jpg")}})
			require.NoError(t, err)
			assert.Empty(t, r.srv.PendingFaults())

			files := map[string]int{}
			for _, m := range r.srv.AllMessages() {
				for _, f := range m.Attachments {
					files[f.URL]++
				}
			}
			assert.Equal(t, map[string]int{photo("a.jpg"): 1, photo("b.jpg"): 1}, files, "each photo stored once")
			require.NotNil(t, b.Message)
			assert.NotEqual(t, a.Message.ID, b.Message.ID, "B is not reported as A")
			msgs := r.srv.Messages(first.CaseID)
			require.Len(t, msgs, 3)
			require.Len(t, msgs[2].Attachments, 1)
			assert.Equal(t, "b.jpg", msgs[2].Attachments[0].Name)
			assert.Equal(t, msgs[2].ID, b.Message.ID)
		})
	}
}

// Issue 11.1c. v0.1 looked only in the user's last chat and, for a reply, gave up
// when that was no longer the case it wrote to ("the chat changed under us"):
// after the case was merged between the write and the look, it re-sent the
// message into the merge target, which then held it twice.
func TestSendFaultReplyLandedThenMerged(t *testing.T) {
	for _, tc := range []struct {
		fault   deskietest.Fault
		newChat bool // after the merge, a newer chat opens: the message is not in the last chat
	}{
		{deskietest.FaultServerErrorAfter, false},
		{deskietest.FaultDropAfter, false},
		{deskietest.FaultServerErrorAfter, true},
	} {
		fault := tc.fault
		t.Run(fmt.Sprintf("%s newChat=%v", fault, tc.newChat), func(t *testing.T) {
			r := newSendRig(t, nil)
			ctx := context.Background()
			first := r.send(r.msg("u", 0, 0, "first"))
			target := first.CaseID
			// A second chat of the customer's (from a web form): the last chat now.
			other, err := r.client.Cases.Create(ctx, &deskie.CaseCreate{Channel: r.ch, UserCustomID: "u", Subject: "form", Content: "from the web form"})
			require.NoError(t, err)

			// The reply lands in the newer case, the answer is lost, and an agent merges
			// that case into the older one before the look.
			r.srv.Fail("POST /api/cases/*", 1, fault)
			var newer *deskie.Case
			r.hook.afterAnswer("POST /api/cases/"+strconv.FormatInt(other.ID, 10)+"/messages.json", func() {
				require.NoError(t, r.srv.MergeCases(other.ID, target))
				if tc.newChat {
					var cerr error
					newer, cerr = r.client.Cases.Create(ctx, &deskie.CaseCreate{Channel: r.ch, UserCustomID: "u", Subject: "form 2", Content: "from the web form again"})
					require.NoError(t, cerr)
				}
			})
			res, err := r.client.Chats.Send(ctx, r.msg("u", first.UserID, other.ID, "did you get it?"))
			require.NoError(t, err)
			assert.Zero(t, r.hook.pending(), "the merge ran between the write and the look")
			assert.Empty(t, r.srv.PendingFaults())

			assert.Equal(t, target, res.CaseID, "the message is in the merge target now")
			require.NotNil(t, res.Message)
			assert.Equal(t, "did you get it?", res.Message.Content)
			assert.Equal(t, 1, r.customerTexts()["did you get it?"], "one copy")
			assert.Equal(t, []string{"first", "from the web form", "did you get it?"}, r.texts(target))
			if tc.newChat {
				require.NotNil(t, newer)
				assert.Equal(t, []string{"from the web form again"}, r.texts(newer.ID))
				require.Len(t, r.srv.Cases(), 2)
			} else {
				require.Len(t, r.srv.Cases(), 1)
			}
		})
	}
}

// Issue 11.1d. v0.1's look after an ambiguous create took "the last chat is still
// the one I saw before" as "no case was created": when the new case had been
// merged into the older, closed one, the last chat was that closed case again, so
// it created a second case with a second copy.
func TestSendFaultCreateLandedThenMergedIntoClosedCase(t *testing.T) {
	r := newSendRig(t, nil)
	ctx := context.Background()
	first := r.send(r.msg("u", 0, 0, "first"))
	older := first.CaseID
	require.NoError(t, r.srv.CloseCase(older))

	// The new case is created, the connection drops before the answer, and an agent
	// merges the new case into the older, closed one before the look.
	r.srv.Fail("POST /api/cases.json", 1, deskietest.FaultDropAfter)
	r.hook.afterAnswer("POST /api/cases.json", func() {
		var created int64
		for _, c := range r.srv.Cases() {
			if c.ID != older {
				created = c.ID
			}
		}
		require.NotZero(t, created, "the create landed")
		require.NoError(t, r.srv.MergeCases(created, older))
	})
	res, err := r.client.Chats.Send(ctx, r.msg("u", first.UserID, older, "back again"))
	require.NoError(t, err)
	assert.Zero(t, r.hook.pending())
	assert.Empty(t, r.srv.PendingFaults())

	cases := r.srv.Cases()
	require.Len(t, cases, 1, "no second case")
	assert.Equal(t, older, cases[0].ID)
	assert.Equal(t, []string{"first", "back again"}, r.texts(older), "no second copy")
	assert.Equal(t, deskie.ActionCreatedCase, res.Action)
	assert.Equal(t, older, res.CaseID, "the message is where the merge put it")
	assert.Equal(t, first.UserID, res.UserID)
}

// Issue 11.1e. v0.1 read a long case's last page for its newest messages. When
// the API lists messages newest first, the last page holds the oldest: the message
// that landed was not seen and was sent again.
func TestSendFaultLongCaseNewestFirst(t *testing.T) {
	for _, order := range []deskietest.MessageOrder{deskietest.NewestFirst, deskietest.OldestFirst} {
		t.Run(string(order), func(t *testing.T) {
			r := newSendRig(t, nil)
			r.srv.SetMessageOrder(order)
			ctx := context.Background()
			first := r.send(r.msg("u", 0, 0, "message 0"))
			for i := 1; i < 120; i++ {
				_, err := r.client.Messages.Create(ctx, first.CaseID, &deskie.MessageCreate{UserID: first.UserID, Content: fmt.Sprint("message ", i)})
				require.NoError(t, err)
			}
			require.Len(t, r.srv.Messages(first.CaseID), 120)

			r.srv.Fail("POST /api/cases/*", 1, deskietest.FaultServerErrorAfter)
			res, err := r.client.Chats.Send(ctx, r.msg("u", first.UserID, first.CaseID, "the 121st"))
			require.NoError(t, err)
			assert.Empty(t, r.srv.PendingFaults())
			msgs := r.srv.Messages(first.CaseID)
			require.Len(t, msgs, 121, "found where it landed: no duplicate")
			assert.Equal(t, "the 121st", msgs[120].Content)
			require.NotNil(t, res.Message)
			assert.Equal(t, msgs[120].ID, res.Message.ID)
			assert.Equal(t, deskie.ActionReplied, res.Action)
		})
	}
}

// turnWatchStore is a MemoryStore that reports when a Send found its customer's
// turn held by another (AcquireTurn returned false).
type turnWatchStore struct {
	*deskie.MemoryStore
	once    sync.Once
	blocked chan struct{}
}

func newTurnWatchStore() *turnWatchStore {
	return &turnWatchStore{MemoryStore: deskie.NewMemoryStore(), blocked: make(chan struct{})}
}

func (s *turnWatchStore) AcquireTurn(ctx context.Context, key, token string, lease time.Duration) (bool, []byte, error) {
	ok, state, err := s.MemoryStore.AcquireTurn(ctx, key, token, lease)
	if err == nil && !ok {
		s.once.Do(func() { close(s.blocked) })
	}
	return ok, state, err
}

// Issue 11.1f. v0.1 gave a customer's Sends turns within one Client only: replica B
// wrote the customer's next message while replica A was between its ambiguous
// write and its look, so A's look saw B's message as the newest, decided its own
// had not landed, and wrote it again — twice, and after B's.
func TestSendFaultTwoReplicasBetweenWriteAndLook(t *testing.T) {
	r := newSendRig(t, nil)
	store := newTurnWatchStore()
	clientA, hookA := r.newClient(store)
	clientB, _ := r.newClient(store)
	ctx := context.Background()
	hello, err := clientA.Chats.Send(ctx, r.msg("u", 0, 0, "hello"))
	require.NoError(t, err)

	// A's write is applied but answered 500. Before A sees that answer, B sends the
	// customer's next message; A goes on once B is waiting for the turn (or, were
	// there no turns across replicas, once B is done).
	r.srv.Fail("POST /api/cases/*", 1, deskietest.FaultServerErrorAfter)
	var resB *deskie.SendResult
	var errB error
	doneB := make(chan struct{})
	hookA.afterAnswer("POST /api/cases/*", func() {
		go func() {
			defer close(doneB)
			resB, errB = clientB.Chats.Send(ctx, r.msg("u", hello.UserID, hello.CaseID, "second"))
		}()
		select {
		case <-store.blocked:
		case <-doneB:
		}
	})
	resA, err := clientA.Chats.Send(ctx, r.msg("u", hello.UserID, hello.CaseID, "first"))
	require.NoError(t, err)
	<-doneB
	require.NoError(t, errB)
	assert.Equal(t, []string{"hello", "first", "second"}, r.texts(hello.CaseID), "each once, in order")
	select {
	case <-store.blocked:
	default:
		t.Error("B did not wait for A's turn")
	}
	require.NotNil(t, resA.Message)
	require.NotNil(t, resB.Message)
	msgs := r.srv.Messages(hello.CaseID)
	assert.Equal(t, msgs[1].ID, resA.Message.ID)
	assert.Equal(t, msgs[2].ID, resB.Message.ID)
	assert.Equal(t, deskie.ActionReplied, resA.Action)
	assert.Equal(t, deskie.ActionReplied, resB.Action)
}

// Issue 11.2. v0.1 reported an unreadable 2xx answer to a write as a plain decoding
// error: not ErrAmbiguous, so Send returned it without looking, and a caller who
// retried wrote the message twice.
func TestSendFaultMalformedAnswerIsAmbiguous(t *testing.T) {
	t.Run("Messages.Create", func(t *testing.T) {
		r := newSendRig(t, nil)
		ctx := context.Background()
		first := r.send(r.msg("u", 0, 0, "hello"))
		r.srv.Fail("POST /api/cases/*", 1, deskietest.FaultMalformedJSON)
		_, err := r.client.Messages.Create(ctx, first.CaseID, &deskie.MessageCreate{UserID: first.UserID, Content: "direct"})
		require.Error(t, err)
		assert.ErrorIs(t, err, deskie.ErrAmbiguous)
		var de *deskie.DecodeError
		require.ErrorAs(t, err, &de)
		assert.True(t, de.Ambiguous)
		assert.Equal(t, http.MethodPost, de.Method)
		assert.Equal(t, []string{"hello", "direct"}, r.texts(first.CaseID), "the server acted")
	})
	t.Run("Send reply", func(t *testing.T) {
		r := newSendRig(t, nil)
		first := r.send(r.msg("u", 0, 0, "hello"))
		r.srv.Fail("POST /api/cases/*", 1, deskietest.FaultMalformedJSON)
		res := r.send(r.msg("u", first.UserID, first.CaseID, "are you there?"))
		assert.Empty(t, r.srv.PendingFaults())
		assert.Equal(t, deskie.ActionReplied, res.Action)
		assert.Equal(t, []string{"hello", "are you there?"}, r.texts(first.CaseID), "one copy")
		require.NotNil(t, res.Message)
		assert.Equal(t, r.srv.Messages(first.CaseID)[1].ID, res.Message.ID)
	})
	t.Run("Send create", func(t *testing.T) {
		r := newSendRig(t, nil)
		r.srv.Fail("POST /api/cases.json", 1, deskietest.FaultMalformedJSON)
		res := r.send(r.msg("u", 0, 0, "first words"))
		assert.Empty(t, r.srv.PendingFaults())
		cases := r.srv.Cases()
		require.Len(t, cases, 1, "one case")
		assert.Equal(t, []string{"first words"}, r.texts(cases[0].ID))
		assert.Equal(t, deskie.ActionCreatedCase, res.Action)
		assert.Equal(t, cases[0].ID, res.CaseID)
		assert.Equal(t, cases[0].UserID, res.UserID)
	})
}

// Issue 11.5. v0.1 called any last chat other than the saved one a merge: after a
// closure, a second Send given the same stale LastCaseID (the first's result not
// saved yet) reported ActionFollowedMerge although nothing was merged (its burst
// memory lasted only while Sends overlapped). Now it is ActionReplied whenever the
// saved case still exists, and ActionFollowedMerge only when it is gone.
func TestSendFaultStaleCaseAfterClosure(t *testing.T) {
	setup := func(t *testing.T) (*sendRig, *deskie.SendResult) {
		r := newSendRig(t, nil)
		first := r.send(r.msg("u", 0, 0, "hi"))
		require.NoError(t, r.srv.CloseCase(first.CaseID))
		return r, first
	}
	t.Run("separate calls", func(t *testing.T) {
		r, first := setup(t)
		a := r.send(r.msg("u", first.UserID, first.CaseID, "a"))
		b := r.send(r.msg("u", first.UserID, first.CaseID, "b"))
		assert.Equal(t, deskie.ActionCreatedCase, a.Action)
		assert.Equal(t, deskie.ActionReplied, b.Action)
		assert.Equal(t, a.CaseID, b.CaseID)
		assert.Equal(t, []string{"a", "b"}, r.texts(a.CaseID))
	})
	t.Run("burst", func(t *testing.T) {
		r, first := setup(t)
		results := make([]*deskie.SendResult, 2)
		var wg sync.WaitGroup
		for i, text := range []string{"a", "b"} {
			wg.Go(func() {
				res, err := r.client.Chats.Send(context.Background(), r.msg("u", first.UserID, first.CaseID, text))
				assert.NoError(t, err)
				results[i] = res
			})
		}
		wg.Wait()
		require.NotNil(t, results[0])
		require.NotNil(t, results[1])
		actions := map[deskie.Action]int{results[0].Action: 1}
		actions[results[1].Action]++
		assert.Equal(t, map[deskie.Action]int{deskie.ActionCreatedCase: 1, deskie.ActionReplied: 1}, actions)
		assert.Equal(t, results[0].CaseID, results[1].CaseID)
		assert.ElementsMatch(t, []string{"a", "b"}, r.texts(results[0].CaseID))
		assert.Len(t, r.srv.Cases(), 2)
	})
	t.Run("another process", func(t *testing.T) {
		// A Client that has no memory of the first Send (a restart with a fresh
		// store): the saved case still exists, merely closed.
		r, first := setup(t)
		a := r.send(r.msg("u", first.UserID, first.CaseID, "a"))
		fresh, _ := r.newClient(deskie.NewMemoryStore())
		b, err := fresh.Chats.Send(context.Background(), r.msg("u", first.UserID, first.CaseID, "b"))
		require.NoError(t, err)
		assert.Equal(t, deskie.ActionCreatedCase, a.Action)
		assert.Equal(t, deskie.ActionReplied, b.Action)
		assert.Equal(t, a.CaseID, b.CaseID)
	})
	t.Run("merged away", func(t *testing.T) {
		r, first := setup(t)
		ctx := context.Background()
		a := r.send(r.msg("u", first.UserID, first.CaseID, "a"))
		// A newer chat the app saved, which an agent then merged into a's case.
		gone, err := r.client.Cases.Create(ctx, &deskie.CaseCreate{Channel: r.ch, UserCustomID: "u", Subject: "x", Content: "from the web form"})
		require.NoError(t, err)
		require.NoError(t, r.srv.MergeCases(gone.ID, a.CaseID))
		for name, c := range map[string]*deskie.Client{"same client": r.client, "fresh client": func() *deskie.Client {
			c, _ := r.newClient(deskie.NewMemoryStore())
			return c
		}()} {
			res, err := c.Chats.Send(ctx, r.msg("u", first.UserID, gone.ID, "after the merge "+name))
			require.NoError(t, err)
			assert.Equal(t, deskie.ActionFollowedMerge, res.Action, name)
			assert.Equal(t, a.CaseID, res.CaseID, name)
		}
	})
}

// Issue 11.6. v0.1 trusted CustomerMessage.UserID: a UserID that belongs to another
// customer (a mixed-up mapping) made Send write into that customer's chat.
func TestSendFaultUserIDOfAnotherCustomer(t *testing.T) {
	r := newSendRig(t, nil)
	ann := r.send(r.msg("ann", 0, 0, "I am Ann"))
	bob := r.send(r.msg("bob", 0, 0, "I am Bob"))
	require.NotEqual(t, ann.UserID, bob.UserID)

	casesBefore, msgsBefore, reqsBefore := len(r.srv.Cases()), len(r.srv.AllMessages()), len(r.srv.Requests())
	for name, c := range map[string]*deskie.Client{"same client": r.client, "fresh client": func() *deskie.Client {
		c, _ := r.newClient(deskie.NewMemoryStore())
		return c
	}()} {
		_, err := c.Chats.Send(context.Background(), r.msg("bob", ann.UserID, ann.CaseID, "Bob, with Ann's id"))
		require.Error(t, err, name)
		var ae *deskie.ArgumentError
		require.ErrorAs(t, err, &ae, name)
		assert.Equal(t, "CustomerMessage.UserID", ae.Field, name)
		msg := err.Error()
		for _, part := range []string{strconv.FormatInt(ann.UserID, 10), r.ch, "bob"} {
			assert.Contains(t, msg, part, name)
		}
	}
	assert.Len(t, r.srv.Cases(), casesBefore, "no case written")
	assert.Len(t, r.srv.AllMessages(), msgsBefore, "no message written")
	for _, req := range r.requestsSince(reqsBefore) {
		assert.Equal(t, http.MethodGet, req.Method, "only reads: %s %s", req.Method, req.Path)
	}

	// With the right id: checked once per customer, then a steady Send is one read
	// (the last chat) and one write.
	fresh, _ := r.newClient(deskie.NewMemoryStore())
	n := len(r.srv.Requests())
	res, err := fresh.Chats.Send(context.Background(), r.msg("bob", bob.UserID, bob.CaseID, "the check"))
	require.NoError(t, err)
	assert.Equal(t, deskie.ActionReplied, res.Action)
	checked := r.requestsSince(n)
	assert.Contains(t, paths(checked), "GET /api/users.json", "the first Send checks the id")
	n = len(r.srv.Requests())
	res, err = fresh.Chats.Send(context.Background(), r.msg("bob", bob.UserID, bob.CaseID, "steady"))
	require.NoError(t, err)
	assert.Equal(t, deskie.ActionReplied, res.Action)
	steady := r.requestsSince(n)
	assert.Equal(t, []string{"GET /api/cases.json", fmt.Sprintf("POST /api/cases/%d/messages.json", bob.CaseID)}, paths(steady),
		"a steady Send: one read, one write")
	assert.Equal(t, []string{"I am Bob", "the check", "steady"}, r.texts(bob.CaseID))
	assert.Equal(t, []string{"I am Ann"}, r.texts(ann.CaseID))
}

func paths(reqs []deskietest.Request) []string {
	out := make([]string, len(reqs))
	for i, r := range reqs {
		out[i] = r.Method + " " + r.Path
	}
	return out
}

// Issue 11.7. v0.1 created a case with the content of an attachment-only message,
// which is empty; the API refuses a case without text, so an attachment-only first
// contact could not be sent at all.
func TestSendFaultAttachmentOnlyFirstContact(t *testing.T) {
	r := newSendRig(t, nil)
	urls := []string{"https://files.example.com/u/photo.jpg", "https://files.example.com/u/invoice.pdf"}
	res, err := r.client.Chats.Send(context.Background(), &deskie.CustomerMessage{Channel: r.ch, UserCustomID: "u", AttachmentURLs: urls})
	require.NoError(t, err)
	assert.Equal(t, deskie.ActionCreatedCase, res.Action)
	cases := r.srv.Cases()
	require.Len(t, cases, 1)
	assert.Equal(t, res.CaseID, cases[0].ID)
	msgs := r.srv.Messages(res.CaseID)
	require.Len(t, msgs, 1)
	assert.Equal(t, "Attachment: photo.jpg, invoice.pdf", msgs[0].Content)
	var got []string
	for _, f := range msgs[0].Attachments {
		got = append(got, f.URL)
	}
	assert.Equal(t, urls, got)

	// And the same after an ambiguous create that landed: found by its files.
	r.srv.Fail("POST /api/cases.json", 1, deskietest.FaultServerErrorAfter)
	again, err := r.client.Chats.Send(context.Background(), &deskie.CustomerMessage{Channel: r.ch, UserCustomID: "v", AttachmentURLs: urls[:1]})
	require.NoError(t, err)
	assert.Empty(t, r.srv.PendingFaults())
	assert.Equal(t, deskie.ActionCreatedCase, again.Action)
	assert.Len(t, r.srv.Cases(), 2, "one case for v")
	assert.Equal(t, []string{"Attachment: photo.jpg"}, r.texts(again.CaseID))
}

package deskie_test

// Issue 11.11: CustomerMessage.IdempotencyKey. v0.1 had no key at all: a caller
// that retried a Send after an error, a timeout or a crash could only send the
// message again, and a write that had landed was then stored twice. These tests
// (which do not compile against v0.1) pin what the key promises: a repeat returns
// the first outcome without writing, a repeat after an unknown outcome looks
// before it writes, across replicas and restarts that share the Store.

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/deskie-go/deskie"
	"github.com/deskie-go/deskie/deskietest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func keyed(m *deskie.CustomerMessage, key string) *deskie.CustomerMessage {
	m.IdempotencyKey = key
	return m
}

// (a) A repeat after success returns the first outcome and sends nothing.
func TestSendIdempotencyRepeatAfterSuccess(t *testing.T) {
	r := newSendRig(t, nil)
	ctx := context.Background()
	created, err := r.client.Chats.Send(ctx, keyed(r.msg("u", 0, 0, "hello"), "row-1"))
	require.NoError(t, err)
	replied, err := r.client.Chats.Send(ctx, keyed(r.msg("u", created.UserID, created.CaseID, "again"), "row-2"))
	require.NoError(t, err)

	n := len(r.srv.Requests())
	for _, tc := range []struct {
		first *deskie.SendResult
		m     *deskie.CustomerMessage
	}{
		{created, keyed(r.msg("u", 0, 0, "hello"), "row-1")},
		{replied, keyed(r.msg("u", created.UserID, created.CaseID, "again"), "row-2")},
	} {
		res, err := r.client.Chats.Send(ctx, tc.m)
		require.NoError(t, err)
		assert.Equal(t, tc.first.Action, res.Action)
		assert.Equal(t, tc.first.CaseID, res.CaseID)
		assert.Equal(t, tc.first.UserID, res.UserID)
		if tc.first.Message != nil {
			require.NotNil(t, res.Message)
			assert.Equal(t, tc.first.Message.ID, res.Message.ID)
			assert.Equal(t, tc.first.Message.Content, res.Message.Content)
		} else {
			assert.Nil(t, res.Message)
		}
		require.NotNil(t, res.Case)
		assert.Equal(t, tc.first.Case.ID, res.Case.ID)
	}
	assert.Empty(t, r.requestsSince(n), "a repeat sends no request at all")
	assert.Equal(t, []string{"hello", "again"}, r.texts(created.CaseID))

	// Another Client on the same Store (another replica, or after a restart) too.
	other, _ := r.newClient(r.store)
	res, err := other.Chats.Send(ctx, keyed(r.msg("u", created.UserID, created.CaseID, "again"), "row-2"))
	require.NoError(t, err)
	assert.Equal(t, replied.Message.ID, res.Message.ID)
	assert.Empty(t, r.requestsSince(n))
}

// (b) The write landed but was answered 500 and the look failed too, so Send
// returned an error: the repeat with the same key looks, finds it, and succeeds
// without a second copy. And when the write had not landed, the repeat writes it
// once.
func TestSendIdempotencyRepeatAfterAmbiguousError(t *testing.T) {
	for _, tc := range []struct {
		fault  deskietest.Fault
		landed bool
	}{
		{deskietest.FaultServerErrorAfter, true},
		{deskietest.FaultDropAfter, true},
		{deskietest.FaultDropBefore, false},
	} {
		t.Run(string(tc.fault), func(t *testing.T) {
			r := newSendRig(t, nil)
			ctx := context.Background()
			first := r.send(r.msg("u", 0, 0, "hello"))

			// The write fails ambiguously; from its answer on, every read fails too
			// (more times than the client retries), so the look cannot tell.
			r.srv.Fail("POST /api/cases/*", 1, tc.fault)
			r.hook.afterAnswer("POST /api/cases/*", func() { r.srv.Fail("GET", 1000, deskietest.FaultServerError) })
			m := keyed(r.msg("u", first.UserID, first.CaseID, "did it land?"), "row-7")
			_, err := r.client.Chats.Send(ctx, m)
			require.Error(t, err)
			assert.ErrorIs(t, err, deskie.ErrAmbiguous)
			r.srv.ClearFaults()
			if tc.landed {
				require.Equal(t, []string{"hello", "did it land?"}, r.texts(first.CaseID))
			} else {
				require.Equal(t, []string{"hello"}, r.texts(first.CaseID))
			}

			res, err := r.client.Chats.Send(ctx, keyed(r.msg("u", first.UserID, first.CaseID, "did it land?"), "row-7"))
			require.NoError(t, err)
			assert.Equal(t, []string{"hello", "did it land?"}, r.texts(first.CaseID), "exactly one copy")
			assert.Equal(t, deskie.ActionReplied, res.Action)
			assert.Equal(t, first.CaseID, res.CaseID)
			require.NotNil(t, res.Message)
			assert.Equal(t, r.srv.Messages(first.CaseID)[1].ID, res.Message.ID)

			// and now it is done: a third repeat writes nothing
			n := len(r.srv.Requests())
			again, err := r.client.Chats.Send(ctx, keyed(r.msg("u", first.UserID, first.CaseID, "did it land?"), "row-7"))
			require.NoError(t, err)
			assert.Equal(t, res.Message.ID, again.Message.ID)
			assert.Empty(t, r.requestsSince(n))
		})
	}
}

// (b') The same for a first contact whose create landed.
func TestSendIdempotencyRepeatAfterAmbiguousCreate(t *testing.T) {
	r := newSendRig(t, nil)
	ctx := context.Background()
	r.srv.Fail("POST /api/cases.json", 1, deskietest.FaultServerErrorAfter)
	r.hook.afterAnswer("POST /api/cases.json", func() { r.srv.Fail("GET", 1000, deskietest.FaultServerError) })
	_, err := r.client.Chats.Send(ctx, keyed(r.msg("u", 0, 0, "first words"), "row-1"))
	require.ErrorIs(t, err, deskie.ErrAmbiguous)
	r.srv.ClearFaults()
	require.Len(t, r.srv.Cases(), 1)

	res, err := r.client.Chats.Send(ctx, keyed(r.msg("u", 0, 0, "first words"), "row-1"))
	require.NoError(t, err)
	cases := r.srv.Cases()
	require.Len(t, cases, 1, "no second case")
	assert.Equal(t, []string{"first words"}, r.texts(cases[0].ID))
	assert.Equal(t, deskie.ActionCreatedCase, res.Action, "the earlier attempt created the case")
	assert.Equal(t, cases[0].ID, res.CaseID)
	assert.Equal(t, cases[0].UserID, res.UserID)
	assert.Nil(t, res.Message)
}

// (c) A crash mid-Send: the write is applied and the process goes away before it
// learns so (here: its context ends as the answer comes back). A new Client on the
// same Store — the process after a restart — repeats with the same key: one copy.
func TestSendIdempotencyRestartAfterCrash(t *testing.T) {
	for _, path := range []string{"POST /api/cases/*", "POST /api/cases.json"} {
		t.Run(path, func(t *testing.T) {
			r := newSendRig(t, nil)
			var first *deskie.SendResult
			m := keyed(r.msg("u", 0, 0, "first words"), "row-1")
			if path == "POST /api/cases/*" {
				first = r.send(r.msg("u", 0, 0, "hello"))
				m = keyed(r.msg("u", first.UserID, first.CaseID, "sent as we crashed"), "row-2")
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			r.hook.onAnswer(path, func(_ *http.Request, resp *http.Response, err error) (*http.Response, error) {
				require.NoError(t, err)
				assert.Equal(t, http.StatusCreated, resp.StatusCode, "the write was applied")
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
				cancel()
				return nil, context.Canceled
			})
			_, err := r.client.Chats.Send(ctx, m)
			require.Error(t, err)
			assert.ErrorIs(t, err, context.Canceled)
			assert.Zero(t, r.hook.pending())
			n := len(r.srv.AllMessages())

			restarted, _ := r.newClient(r.store)
			again := *m
			res, err := restarted.Chats.Send(context.Background(), &again)
			require.NoError(t, err)
			assert.Len(t, r.srv.AllMessages(), n, "nothing written again")
			assert.Equal(t, 1, r.customerTexts()[m.Content], "exactly one copy")
			cases := r.srv.Cases()
			require.Len(t, cases, 1)
			assert.Equal(t, cases[0].ID, res.CaseID)
			if first != nil {
				assert.Equal(t, deskie.ActionReplied, res.Action)
				require.NotNil(t, res.Message)
				assert.Equal(t, m.Content, res.Message.Content)
			} else {
				assert.Equal(t, deskie.ActionCreatedCase, res.Action)
			}
		})
	}
}

// (d) The same key from two replicas at once (a queue that delivered the message
// twice): one copy, and both get the same outcome.
func TestSendIdempotencySameKeyTwoReplicas(t *testing.T) {
	r := newSendRig(t, nil)
	ctx := context.Background()
	first := r.send(r.msg("u", 0, 0, "hello"))
	replicas := make([]*deskie.Client, 4)
	for i := range replicas {
		replicas[i], _ = r.newClient(r.store)
	}
	// The first write of the message is applied but answered 500.
	r.srv.Fail("POST /api/cases/*", 1, deskietest.FaultServerErrorAfter)
	results := make([]*deskie.SendResult, len(replicas))
	var wg sync.WaitGroup
	for i, c := range replicas {
		wg.Go(func() {
			res, err := c.Chats.Send(ctx, keyed(r.msg("u", first.UserID, first.CaseID, "only once"), "row-2"))
			assert.NoError(t, err)
			results[i] = res
		})
	}
	wg.Wait()
	assert.Equal(t, []string{"hello", "only once"}, r.texts(first.CaseID))
	want := r.srv.Messages(first.CaseID)[1].ID
	for _, res := range results {
		require.NotNil(t, res)
		require.NotNil(t, res.Message)
		assert.Equal(t, want, res.Message.ID)
		assert.Equal(t, deskie.ActionReplied, res.Action)
	}
}

// (e) Keys are per customer: two customers using the same key do not collide.
func TestSendIdempotencyKeysArePerCustomer(t *testing.T) {
	r := newSendRig(t, nil)
	ctx := context.Background()
	ann, err := r.client.Chats.Send(ctx, keyed(r.msg("ann", 0, 0, "from Ann"), "1"))
	require.NoError(t, err)
	bob, err := r.client.Chats.Send(ctx, keyed(r.msg("bob", 0, 0, "from Bob"), "1"))
	require.NoError(t, err)
	// A custom id that would collide with a naive "channel:custom:key" join.
	tricky, err := r.client.Chats.Send(ctx, keyed(r.msg("ann:1", 0, 0, "from ann:1"), "1"))
	require.NoError(t, err)
	assert.Len(t, r.srv.Cases(), 3)
	assert.Len(t, r.srv.Users(), 3)
	assert.Equal(t, map[string]int{"from Ann": 1, "from Bob": 1, "from ann:1": 1}, r.customerTexts())
	assert.NotEqual(t, ann.CaseID, bob.CaseID)
	assert.NotEqual(t, ann.UserID, bob.UserID)
	assert.NotEqual(t, ann.CaseID, tricky.CaseID)

	// the same key on another channel is another message too
	ch2 := r.srv.AddChannel("Other", deskietest.ChannelAsync, "")
	m := keyed(r.msg("ann", 0, 0, "Ann elsewhere"), "1")
	m.Channel = ch2
	other, err := r.client.Chats.Send(ctx, m)
	require.NoError(t, err)
	assert.Equal(t, deskie.ActionCreatedCase, other.Action)
	assert.NotEqual(t, ann.CaseID, other.CaseID)
	assert.Len(t, r.srv.Cases(), 4)
}

// A key that is too long or has control characters is refused before anything
// is sent.
func TestSendIdempotencyKeyValidated(t *testing.T) {
	r := newSendRig(t, nil)
	for _, key := range []string{strings.Repeat("k", 256), "a\nb"} {
		_, err := r.client.Chats.Send(context.Background(), keyed(r.msg("u", 0, 0, "x"), key))
		var ae *deskie.ArgumentError
		require.True(t, errors.As(err, &ae), "%v", err)
		assert.Equal(t, "CustomerMessage.IdempotencyKey", ae.Field)
	}
	assert.Empty(t, r.srv.Requests())
}

// A key reused for a different message of the customer is refused (nothing is
// sent): returning the first message's outcome would silently drop the second.
func TestSendIdempotencyKeyReusedForAnotherMessage(t *testing.T) {
	r := newSendRig(t, nil)
	ctx := context.Background()
	first, err := r.client.Chats.Send(ctx, keyed(r.msg("u", 0, 0, "hello"), "row-1"))
	require.NoError(t, err)
	n := len(r.srv.Requests())
	_, err = r.client.Chats.Send(ctx, keyed(r.msg("u", first.UserID, first.CaseID, "something else"), "row-1"))
	var ae *deskie.ArgumentError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, "CustomerMessage.IdempotencyKey", ae.Field)
	assert.Empty(t, r.requestsSince(n), "nothing sent")
	assert.Equal(t, []string{"hello"}, r.texts(first.CaseID))
}

package deskie

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deskie-go/deskie/deskietest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDecide(t *testing.T) {
	open := &Case{ID: 50, Status: StatusOpen}
	waiting := &Case{ID: 50, Status: StatusWaiting}
	pending := &Case{ID: 50, Status: "pending"}
	closed := &Case{ID: 50, Status: StatusClosed}
	closedUpper := &Case{ID: 50, Status: "Closed"}
	tests := []struct {
		saved int64
		last  *Case
		want  Action
	}{
		{0, nil, ActionCreatedCase},
		{40, nil, ActionCreatedCase},
		{0, closed, ActionCreatedCase},
		{50, closed, ActionCreatedCase},
		{40, closed, ActionCreatedCase},
		{50, closedUpper, ActionCreatedCase},
		{0, open, ActionReplied},
		{50, open, ActionReplied},
		{50, waiting, ActionReplied},
		{50, pending, ActionReplied},
		{0, waiting, ActionReplied},
		{40, open, ActionFollowedMerge},
		{40, waiting, ActionFollowedMerge},
		{40, pending, ActionFollowedMerge},
	}
	for _, tt := range tests {
		name := "nil"
		if tt.last != nil {
			name = string(tt.last.Status)
		}
		t.Run(fmt.Sprintf("saved=%d last=%s", tt.saved, name), func(t *testing.T) {
			assert.Equal(t, tt.want, Decide(tt.saved, tt.last))
		})
	}
}

func caseItem(id, userID int64, status, channel, created string, extra string) string {
	return fmt.Sprintf(`{"case":{"case_id":%d,"user_id":%d,"status":%q,"channel":%q,"created_at":%q%s}}`, id, userID, status, channel, created, extra)
}

func listOf(items ...string) string {
	var b strings.Builder
	b.WriteString("{")
	for i, it := range items {
		fmt.Fprintf(&b, "%q:%s,", fmt.Sprint(i), it)
	}
	fmt.Fprintf(&b, `"total_count":%d}`, len(items))
	return b.String()
}

const (
	d1 = "Mon, 05 May 2025 10:00:00 +0300"
	d2 = "Tue, 06 May 2025 10:00:00 +0300"
	d3 = "Wed, 07 May 2025 10:00:00 +0300"
)

func TestLastChat(t *testing.T) {
	c, mt := setup(t)
	rec := &recorder{}
	rec.on(mt, "GET", "/api/cases.json", ok(listOf(
		caseItem(10, 9, "closed", "cch1", d1, ""),
		caseItem(13, 9, "open", "cch1", d3, `,"deleted":true`),
		caseItem(14, 9, "open", "cch1", d3, `,"spam":"1"`),
		caseItem(15, 8, "open", "cch1", d3, ""), // another user's case: never chosen
		caseItem(11, 9, "waiting", "cch1", d2, ""),
		caseItem(12, 9, "open", "cch1", d2, ""), // same time as 11, higher id
	)))
	got, err := c.Chats.LastChat(context.Background(), 9)
	require.NoError(t, err)
	require.NotNil(t, got)
	assert.Equal(t, int64(12), got.ID)
	q := rec.last(t).Query
	assert.Equal(t, map[string][]string{"user_id[]": {"9"}, "show_active_chats": {"true"}, "sort": {"created_at_desc"}, "limit": {"5"}, "page": {"1"}}, map[string][]string(q),
		"a small page: the newest chat is first")

	rec2 := &recorder{}
	rec2.on(mt, "GET", "/api/cases.json", ok(`{"total_count":0}`))
	got, err = c.Chats.LastChatIn(context.Background(), 9, "cch1")
	require.NoError(t, err)
	assert.Nil(t, got)
	assert.Equal(t, []string{"cch1"}, rec2.last(t).Query["channel[]"])

	_, err = c.Chats.LastChat(context.Background(), 0)
	assert.ErrorIs(t, err, ErrInvalidArgument)
}

func TestLastChatWhenTheSortIsIgnored(t *testing.T) {
	c, mt := setup(t)
	rec := &recorder{}
	first := make([]string, 0, 100)
	for i := range 100 {
		first = append(first, caseItem(int64(100+i), 9, "closed", "cch1", time.Date(2024, 1, 1, 0, i, 0, 0, time.UTC).Format(time.RFC1123Z), ""))
	}
	page1 := strings.Replace(listOf(first...), `"total_count":100`, `"total_count":150`, 1)
	rec.on(mt, "GET", "/api/cases.json", ok(page1), ok(`{"0":`+caseItem(250, 9, "open", "cch1", d3, "")+`,"total_count":150}`))
	got, err := c.Chats.LastChat(context.Background(), 9)
	require.NoError(t, err)
	require.NotNil(t, got)
	assert.Equal(t, int64(250), got.ID, "the newest case was on the last page")
	reqs := rec.all()
	require.Len(t, reqs, 2)
	assert.Equal(t, "2", reqs[1].Query.Get("page"))
}

func TestLastChatSkipsOtherChannels(t *testing.T) {
	c, mt := setup(t)
	rec := &recorder{}
	rec.on(mt, "GET", "/api/cases.json", ok(listOf(caseItem(20, 9, "open", "email", d3, ""), caseItem(21, 9, "open", "cch1", d1, ""))))
	got, err := c.Chats.LastChatIn(context.Background(), 9, "cch1")
	require.NoError(t, err)
	assert.Equal(t, int64(21), got.ID)
}

// path lists "METHOD /path" of each request, in order.
func paths(rec *recorder) []string {
	var out []string
	for _, s := range rec.all() {
		out = append(out, s.Method+" "+s.Path)
	}
	return out
}

func TestSendFirstContactCreatesCase(t *testing.T) {
	c, mt := setup(t)
	rec := &recorder{}
	rec.on(mt, "GET", "/api/users.json", ok(`{"total_count":0}`))
	rec.on(mt, "POST", "/api/cases.json", created(`{"case":{"case_id":70,"user_id":5654846848,"status":"open","channel":"cch12"}}`))
	res, err := c.Chats.Send(context.Background(), &CustomerMessage{
		Channel: "cch12", UserCustomID: "u-42", UserFullName: "Alice", UserEmail: "alice@example.com",
		Content: "My order is late\nOrder #1",
	})
	require.NoError(t, err)
	assert.Equal(t, ActionCreatedCase, res.Action)
	assert.Equal(t, int64(70), res.CaseID)
	assert.Equal(t, int64(5654846848), res.UserID)
	assert.Equal(t, int64(70), res.Case.ID)
	assert.Nil(t, res.Message)
	assert.Equal(t, []string{"GET /api/users.json", "GET /api/users.json", "POST /api/cases.json"}, paths(rec))
	reqs := rec.all()
	assert.Equal(t, "^u-42^", reqs[0].Query.Get("user_custom_id"))
	assert.Equal(t, "cch12", reqs[0].Query.Get("user_custom_channel"))
	assert.JSONEq(t, `{"case":{"channel":"cch12","user_custom_id":"u-42","user_full_name":"Alice","user_email":"alice@example.com",
		"subject":"My order is late","content":"My order is late\nOrder #1"}}`, string(reqs[2].Body))
}

func TestSendFirstContactFindsExistingUser(t *testing.T) {
	c, mt := setup(t)
	rec := &recorder{}
	rec.on(mt, "GET", "/api/users.json", ok(`{"0":{"user":{"user_id":9,"user_custom_id":"u-42","user_custom_channel":"cch12"}},"total_count":1}`))
	rec.on(mt, "GET", "/api/cases.json", ok(listOf(caseItem(50, 9, "waiting", "cch12", d2, ""))))
	rec.on(mt, "POST", "/api/cases/50/messages.json", created(`{"message":{"message_id":500,"user_id":9,"content":"again"}}`))
	res, err := c.Chats.Send(context.Background(), &CustomerMessage{Channel: "cch12", UserCustomID: "u-42", Content: "again"})
	require.NoError(t, err)
	assert.Equal(t, &SendResult{Action: ActionReplied, CaseID: 50, UserID: 9, Message: &Message{ID: 500, UserID: 9, Content: "again"}, Case: res.Case}, res)
	assert.Equal(t, []string{"GET /api/users.json", "GET /api/cases.json", "POST /api/cases/50/messages.json"}, paths(rec))
	assert.JSONEq(t, `{"message":{"user_id":9,"content":"again"}}`, string(rec.last(t).Body))
	assert.Equal(t, []string{"cch12"}, rec.all()[1].Query["channel[]"])
}

func TestSendRepliesToSavedChat(t *testing.T) {
	c, mt := setup(t)
	rec := &recorder{}
	rec.on(mt, "GET", "/api/users.json", ok(user9))
	rec.on(mt, "GET", "/api/cases.json", ok(listOf(caseItem(50, 9, "open", "cch12", d2, ""))))
	rec.on(mt, "POST", "/api/cases/50/messages.json", created(`{"message":{"message_id":501}}`))
	res, err := c.Chats.Send(context.Background(), &CustomerMessage{Channel: "cch12", UserCustomID: "u-42", UserID: 9, LastCaseID: 50, Content: "more"})
	require.NoError(t, err)
	assert.Equal(t, ActionReplied, res.Action)
	assert.Equal(t, int64(50), res.CaseID)
	assert.Equal(t, []string{"GET /api/users.json", "GET /api/cases.json", "POST /api/cases/50/messages.json"}, paths(rec),
		"the user id is checked once against the custom id")
	rec.reset()
	_, err = c.Chats.Send(context.Background(), &CustomerMessage{Channel: "cch12", UserCustomID: "u-42", UserID: 9, LastCaseID: 50, Content: "more"})
	require.NoError(t, err)
	assert.Equal(t, []string{"GET /api/cases.json", "POST /api/cases/50/messages.json"}, paths(rec), "a steady Send: one read, one write")
}

func TestSendFollowsMerge(t *testing.T) {
	c, mt := setup(t)
	rec := &recorder{}
	rec.on(mt, "GET", "/api/users.json", ok(user9))
	// saved chat 40 is gone: the last chat is 50
	rec.on(mt, "GET", "/api/cases/40.json", reply{status: 404, body: `{"error":"case_not_found"}`})
	rec.on(mt, "GET", "/api/cases.json", ok(listOf(caseItem(50, 9, "open", "cch12", d2, ""))))
	rec.on(mt, "POST", "/api/cases/50/messages.json", created(`{"message":{"message_id":502}}`))
	res, err := c.Chats.Send(context.Background(), &CustomerMessage{Channel: "cch12", UserCustomID: "u-42", UserID: 9, LastCaseID: 40, Content: "hello?"})
	require.NoError(t, err)
	assert.Equal(t, ActionFollowedMerge, res.Action)
	assert.Equal(t, int64(50), res.CaseID, "save the new case id")
}

func TestSendClosedCreatesNewCase(t *testing.T) {
	c, mt := setup(t)
	rec := &recorder{}
	rec.on(mt, "GET", "/api/users.json", ok(user9))
	rec.on(mt, "GET", "/api/cases.json", ok(listOf(caseItem(50, 9, "closed", "cch12", d2, ""))))
	rec.on(mt, "POST", "/api/cases.json", created(`{"case":{"case_id":80,"user_id":9,"status":"open"}}`))
	res, err := c.Chats.Send(context.Background(), &CustomerMessage{Channel: "cch12", UserCustomID: "u-42", UserID: 9, LastCaseID: 50, Subject: "Again", Content: "new issue"})
	require.NoError(t, err)
	assert.Equal(t, ActionCreatedCase, res.Action)
	assert.Equal(t, int64(80), res.CaseID)
	assert.Equal(t, int64(9), res.UserID)
	assert.JSONEq(t, `{"case":{"channel":"cch12","user_custom_id":"u-42","subject":"Again","content":"new issue"}}`, string(rec.last(t).Body))
}

func TestSendCaseNotFoundRedecides(t *testing.T) {
	c, mt := setup(t)
	rec := &recorder{}
	rec.on(mt, "GET", "/api/users.json", ok(user9))
	rec.on(mt, "GET", "/api/cases.json",
		ok(listOf(caseItem(50, 9, "open", "cch12", d2, ""))),
		ok(listOf(caseItem(60, 9, "open", "cch12", d1, "")))) // 50 was merged into 60 meanwhile
	rec.on(mt, "POST", "/api/cases/50/messages.json", reply{status: 404, body: `{"error":"case_not_found"}`})
	rec.on(mt, "POST", "/api/cases/60/messages.json", created(`{"message":{"message_id":600}}`))
	rec.on(mt, "GET", "/api/cases/50.json", reply{status: 404, body: `{"error":"case_not_found"}`})
	res, err := c.Chats.Send(context.Background(), &CustomerMessage{Channel: "cch12", UserCustomID: "u-42", UserID: 9, LastCaseID: 50, Content: "x"})
	require.NoError(t, err)
	assert.Equal(t, ActionFollowedMerge, res.Action)
	assert.Equal(t, int64(60), res.CaseID)
	assert.Equal(t, []string{"GET /api/users.json", "GET /api/cases.json", "POST /api/cases/50/messages.json", "GET /api/cases.json",
		"GET /api/cases/50.json", "POST /api/cases/60/messages.json"}, paths(rec))
}

func TestSendCaseNotFoundTwiceGivesUp(t *testing.T) {
	c, mt := setup(t)
	rec := &recorder{}
	rec.on(mt, "GET", "/api/users.json", ok(user9))
	rec.on(mt, "GET", "/api/cases.json", ok(listOf(caseItem(50, 9, "open", "cch12", d2, ""))))
	rec.on(mt, "POST", "/api/cases/50/messages.json", reply{status: 404, body: `{"error":"case_not_found"}`})
	_, err := c.Chats.Send(context.Background(), &CustomerMessage{Channel: "cch12", UserCustomID: "u-42", UserID: 9, Content: "x"})
	assert.True(t, IsNotFound(err))
	assert.Len(t, rec.all(), 5, "the user check, one re-decide, then the error")
}

// user9 is the users.json answer for (cch12, u-42): user 9.
const user9 = `{"0":{"user":{"user_id":9,"user_custom_id":"u-42","user_custom_channel":"cch12"}},"total_count":1}`

func recentDate() string { return time.Now().Format(time.RFC1123Z) }

func TestSendAmbiguousMessageThatLanded(t *testing.T) {
	c, mt := setup(t)
	rec := &recorder{}
	rec.on(mt, "GET", "/api/users.json", ok(user9))
	rec.on(mt, "GET", "/api/cases.json", ok(listOf(caseItem(50, 9, "open", "cch12", d2, ""))))
	rec.on(mt, "POST", "/api/cases/50/messages.json", reply{status: 502, body: `{}`})
	rec.on(mt, "GET", "/api/cases/50/messages.json", ok(listOf(
		fmt.Sprintf(`{"message":{"message_id":1,"user_id":9,"content":"where is it?","created_at":%q}}`, d1),
		fmt.Sprintf(`{"message":{"message_id":2,"staff_id":3,"content":"checking","created_at":%q}}`, d2),
		fmt.Sprintf(`{"message":{"message_id":3,"user_id":9,"content":"thanks","created_at":%q}}`, recentDate()),
	)))
	res, err := c.Chats.Send(context.Background(), &CustomerMessage{Channel: "cch12", UserCustomID: "u-42", UserID: 9, LastCaseID: 50, Content: "thanks"})
	require.NoError(t, err)
	assert.Equal(t, ActionReplied, res.Action)
	assert.Equal(t, int64(3), res.Message.ID)
	assert.Equal(t, []string{"GET /api/users.json", "GET /api/cases.json", "POST /api/cases/50/messages.json", "GET /api/cases.json", "GET /api/cases/50/messages.json"}, paths(rec),
		"one POST only: the message had landed")
}

func TestSendAmbiguousMessageThatDidNotLand(t *testing.T) {
	c, mt := setup(t)
	rec := &recorder{}
	rec.on(mt, "GET", "/api/users.json", ok(user9))
	rec.on(mt, "GET", "/api/cases.json", ok(listOf(caseItem(50, 9, "open", "cch12", d2, ""))))
	rec.on(mt, "POST", "/api/cases/50/messages.json", reply{err: errors.New("connection reset by peer")}, created(`{"message":{"message_id":4}}`))
	rec.on(mt, "GET", "/api/cases/50/messages.json", ok(listOf(
		fmt.Sprintf(`{"message":{"message_id":3,"user_id":9,"content":"thanks","created_at":%q}}`, recentDate()),
	)))
	res, err := c.Chats.Send(context.Background(), &CustomerMessage{Channel: "cch12", UserCustomID: "u-42", UserID: 9, LastCaseID: 50, Content: "thanks again"})
	require.NoError(t, err)
	assert.Equal(t, int64(4), res.Message.ID)
	assert.Equal(t, []string{"GET /api/users.json", "GET /api/cases.json", "POST /api/cases/50/messages.json", "GET /api/cases.json",
		"GET /api/cases/50/messages.json", "GET /api/cases.json", "POST /api/cases/50/messages.json"}, paths(rec), "exactly one re-send")
	all := rec.all()
	assert.Equal(t, all[2].Body, all[6].Body)
}

func TestSendAmbiguousOldIdenticalMessageIsNotOurs(t *testing.T) {
	c, mt := setup(t)
	rec := &recorder{}
	rec.on(mt, "GET", "/api/users.json", ok(user9))
	rec.on(mt, "GET", "/api/cases.json", ok(listOf(caseItem(50, 9, "open", "cch12", d2, ""))))
	rec.on(mt, "POST", "/api/cases/50/messages.json", reply{status: 500, body: `{}`}, created(`{"message":{"message_id":8}}`))
	rec.on(mt, "GET", "/api/cases/50/messages.json", ok(listOf(
		fmt.Sprintf(`{"message":{"message_id":3,"user_id":9,"content":"ok","created_at":%q}}`, d1), // the customer said "ok" last year
	)))
	res, err := c.Chats.Send(context.Background(), &CustomerMessage{Channel: "cch12", UserCustomID: "u-42", UserID: 9, Content: "ok"})
	require.NoError(t, err)
	assert.Equal(t, int64(8), res.Message.ID, "an old identical message does not hide a lost one")
}

func TestSendAmbiguousCaseCreateThatLanded(t *testing.T) {
	c, mt := setup(t)
	rec := &recorder{}
	rec.on(mt, "GET", "/api/users.json", ok(`{"total_count":0}`), ok(`{"total_count":0}`),
		ok(`{"0":{"user":{"user_id":9,"user_custom_id":"u-42","user_custom_channel":"cch12"}}}`))
	rec.on(mt, "POST", "/api/cases.json", reply{status: 503, body: `{}`})
	rec.on(mt, "GET", "/api/cases.json", ok(listOf(caseItem(70, 9, "open", "cch12", recentDate(), ""))))
	rec.on(mt, "GET", "/api/cases/70/messages.json", ok(listOf(
		fmt.Sprintf(`{"message":{"message_id":700,"user_id":9,"content":"first words","created_at":%q}}`, recentDate()))))
	res, err := c.Chats.Send(context.Background(), &CustomerMessage{Channel: "cch12", UserCustomID: "u-42", Content: "first words"})
	require.NoError(t, err)
	assert.Equal(t, ActionCreatedCase, res.Action)
	assert.Equal(t, int64(70), res.CaseID)
	assert.Equal(t, int64(9), res.UserID)
	assert.Equal(t, []string{"GET /api/users.json", "GET /api/users.json", "POST /api/cases.json", "GET /api/users.json",
		"GET /api/cases.json", "GET /api/cases/70/messages.json"}, paths(rec), "no second case")
}

func TestSendAmbiguousCaseCreateThatDidNotLand(t *testing.T) {
	c, mt := setup(t)
	rec := &recorder{}
	rec.on(mt, "GET", "/api/users.json", ok(user9))
	rec.on(mt, "GET", "/api/cases.json", ok(listOf(caseItem(50, 9, "closed", "cch12", d1, ""))))
	rec.on(mt, "POST", "/api/cases.json", reply{status: 500, body: `{}`}, created(`{"case":{"case_id":71,"user_id":9}}`))
	rec.on(mt, "GET", "/api/cases/50/messages.json", ok(`{"total_count":0}`))
	res, err := c.Chats.Send(context.Background(), &CustomerMessage{Channel: "cch12", UserCustomID: "u-42", UserID: 9, LastCaseID: 50, Content: "hello"})
	require.NoError(t, err)
	assert.Equal(t, int64(71), res.CaseID)
	assert.Equal(t, []string{"GET /api/users.json", "GET /api/cases.json", "POST /api/cases.json", "GET /api/cases.json",
		"GET /api/cases/50/messages.json", "GET /api/cases.json", "POST /api/cases.json"}, paths(rec),
		"the look found no message of ours, so one re-send")
}

func TestSendAmbiguousTwiceReturnsAmbiguous(t *testing.T) {
	c, mt := setup(t)
	rec := &recorder{}
	rec.on(mt, "GET", "/api/users.json", ok(user9))
	rec.on(mt, "GET", "/api/cases.json", ok(listOf(caseItem(50, 9, "open", "cch12", d2, ""))))
	rec.on(mt, "POST", "/api/cases/50/messages.json", reply{status: 500, body: `{}`})
	rec.on(mt, "GET", "/api/cases/50/messages.json", ok(`{"total_count":0}`))
	_, err := c.Chats.Send(context.Background(), &CustomerMessage{Channel: "cch12", UserCustomID: "u-42", UserID: 9, Content: "x"})
	assert.ErrorIs(t, err, ErrAmbiguous, "the caller learns the outcome is unknown")
	n := 0
	for _, p := range paths(rec) {
		if strings.HasPrefix(p, "POST") {
			n++
		}
	}
	assert.Equal(t, 1+maxResends, n, "at most maxResends re-sends, each after a look")
}

func TestSendValidation(t *testing.T) {
	tests := map[string]*CustomerMessage{
		"nil":              nil,
		"no channel":       {UserCustomID: "u", Content: "x"},
		"not cch":          {Channel: "telegram", UserCustomID: "u", Content: "x"},
		"no custom id":     {Channel: "cch1", Content: "x"},
		"empty content":    {Channel: "cch1", UserCustomID: "u", Content: " \n"},
		"negative user":    {Channel: "cch1", UserCustomID: "u", UserID: -1, Content: "x"},
		"negative case id": {Channel: "cch1", UserCustomID: "u", LastCaseID: -1, Content: "x"},
	}
	for name, m := range tests {
		t.Run(name, func(t *testing.T) {
			c, mt := setup(t)
			_, err := c.Chats.Send(context.Background(), m)
			var ae *ArgumentError
			require.ErrorAs(t, err, &ae)
			assert.Contains(t, ae.Field, "CustomerMessage")
			assert.Zero(t, mt.GetTotalCallCount())
		})
	}
}

func TestDefaultSubject(t *testing.T) {
	long := strings.Repeat("é", 100)
	for in, want := range map[*CustomerMessage]string{
		{Content: "\n\n  Hello   there \nsecond"}: "Hello there",
		{Content: long}:                                    strings.Repeat("é", 79) + "…",
		{ContentHTML: "<p>Hi <b>you</b></p>"}:              "Hi you",
		{AttachmentURLs: []string{"x"}, UserFullName: "A"}: "Message from A",
		{AttachmentURLs: []string{"x"}, UserCustomID: "u"}: "Message from u",
		{Subject: " Given ", Content: "x"}:                 "Given",
	} {
		r := &router{m: in}
		assert.Equal(t, want, r.subject())
	}
}

func TestCustomerTurnsThroughTheStore(t *testing.T) {
	srv := deskietest.NewServer()
	t.Cleanup(srv.Close)
	ch := srv.AddChannel("App", deskietest.ChannelSync, "")
	store := NewMemoryStore()
	c, err := NewClient("", srv.StaffEmail(), srv.APIKey(), WithBaseURL(srv.URL), WithStore(store))
	require.NoError(t, err)
	ctx := context.Background()

	// Another replica holds the customer's turn: a Send waits, and gives up with its context.
	ok, _, err := store.AcquireTurn(ctx, turnKey(ch, "u"), "other-replica", time.Minute)
	require.NoError(t, err)
	require.True(t, ok)
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	_, err = c.Chats.Send(short, &CustomerMessage{Channel: ch, UserCustomID: "u", Content: "hi"})
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Empty(t, srv.Cases(), "nothing was written while another Send held the turn")

	// Another customer does not wait.
	_, err = c.Chats.Send(ctx, &CustomerMessage{Channel: ch, UserCustomID: "v", Content: "hi"})
	require.NoError(t, err)

	// Released: the next Send goes.
	require.NoError(t, store.ReleaseTurn(ctx, turnKey(ch, "u"), "other-replica", nil, time.Minute))
	res, err := c.Chats.Send(ctx, &CustomerMessage{Channel: ch, UserCustomID: "u", Content: "hi"})
	require.NoError(t, err)
	assert.Equal(t, ActionCreatedCase, res.Action)

	// The turn is free after a Send: another holder can take it at once.
	ok, _, err = store.AcquireTurn(ctx, turnKey(ch, "u"), "third", time.Minute)
	require.NoError(t, err)
	assert.True(t, ok)
}

// breakSecond forwards requests, but answers the second POST to a messages path
// with a reset connection after nothing reached the server: an ambiguous failure
// of a write that did not land.
type breakSecond struct {
	next  http.RoundTripper
	mu    sync.Mutex
	posts int
}

func (b *breakSecond) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method == http.MethodPost && strings.HasSuffix(req.URL.Path, "/messages.json") {
		b.mu.Lock()
		b.posts++
		n := b.posts
		b.mu.Unlock()
		if n == 2 {
			return nil, errors.New("connection reset by peer")
		}
	}
	return b.next.RoundTrip(req)
}

// TestSendBurstOfIdenticalTexts: a customer types "ok" twice; the second write
// fails ambiguously and did not land. Looking before writing again must not take
// the first "ok" for the second (it did before Sends knew their burst).
func TestSendBurstOfIdenticalTexts(t *testing.T) {
	srv := deskietest.NewServer()
	t.Cleanup(srv.Close)
	ch := srv.AddChannel("App", deskietest.ChannelSync, "")
	c, err := NewClient("", srv.StaffEmail(), srv.APIKey(), WithBaseURL(srv.URL),
		WithHTTPClient(&http.Client{Transport: &breakSecond{next: http.DefaultTransport}}))
	require.NoError(t, err)
	ctx := context.Background()
	msg := func(uid, cid int64, text string) *CustomerMessage {
		return &CustomerMessage{Channel: ch, UserCustomID: "u", UserID: uid, LastCaseID: cid, Content: text}
	}
	first, err := c.Chats.Send(ctx, msg(0, 0, "hello"))
	require.NoError(t, err)

	// Both "ok"s come in a burst, before the app saved anything newer than "hello".
	results := make([]*SendResult, 2)
	var wg sync.WaitGroup
	for i := range results {
		wg.Go(func() {
			res, err := c.Chats.Send(ctx, msg(first.UserID, first.CaseID, "ok"))
			assert.NoError(t, err)
			results[i] = res
		})
	}
	wg.Wait()

	var texts []string
	for _, m := range srv.Messages(first.CaseID) {
		texts = append(texts, m.Content)
	}
	assert.Equal(t, []string{"hello", "ok", "ok"}, texts, "both oks are kept")
	require.NotNil(t, results[0])
	require.NotNil(t, results[1])
	assert.NotEqual(t, results[0].Message.ID, results[1].Message.ID)
}

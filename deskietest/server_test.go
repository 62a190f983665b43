package deskietest

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// call sends a raw request with the server's credentials and decodes the JSON answer.
func call(t *testing.T, s *Server, method, path, body string) (int, map[string]any, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, s.URL+path, strings.NewReader(body))
	require.NoError(t, err)
	req.SetBasicAuth(s.StaffEmail(), s.APIKey())
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if len(data) > 0 {
		require.NoError(t, json.Unmarshal(data, &out), "%s", data)
	}
	return resp.StatusCode, out, resp.Header
}

func inner(t *testing.T, m map[string]any, key string) map[string]any {
	t.Helper()
	v, ok := m[key].(map[string]any)
	require.True(t, ok, "no %q in %v", key, m)
	return v
}

func TestAuth(t *testing.T) {
	s := NewServer(WithCredentials("a@b.c", "key"))
	defer s.Close()
	for _, tc := range []struct {
		user, pass string
		status     int
	}{{"a@b.c", "key", 200}, {"a@b.c", "nope", 401}, {"x@b.c", "key", 403}} {
		req, _ := http.NewRequest("GET", s.URL+"/api/custom_channels.json", nil)
		req.SetBasicAuth(tc.user, tc.pass)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, tc.status, resp.StatusCode)
	}
}

func TestCustomChannelCaseFlow(t *testing.T) {
	clock := time.Date(2025, 5, 5, 0, 15, 17, 0, time.UTC)
	s := NewServer(WithClock(func() time.Time { return clock }))
	defer s.Close()
	ch := s.AddChannel("App", ChannelAsync, "")
	assert.Equal(t, "cch1", ch)

	status, out, h := call(t, s, "POST", "/api/cases.json",
		`{"case":{"channel":"cch1","user_custom_id":"u-42","user_full_name":"Alice","user_email":"alice@example.com","subject":"Hi","content":"Hello"}}`)
	require.Equal(t, 201, status, out)
	c := inner(t, out, "case")
	assert.Equal(t, "cch1", c["channel"])
	assert.Equal(t, "open", c["status"])
	assert.Equal(t, "Mon, 05 May 2025 03:15:17 +0300", c["created_at"])
	assert.Equal(t, "-", c["closed_at"])
	userID := int64(c["user_id"].(float64))
	assert.Greater(t, userID, int64(1<<31))
	assert.Equal(t, []string{"1500"}, h["Rate_limit_per_minute"], "rate headers on every answer")

	// the same custom id finds the same user; the e-mail profile got linked
	_, out, _ = call(t, s, "POST", "/api/cases.json", `{"case":{"channel":"cch1","user_custom_id":"u-42","content":"Again"}}`)
	assert.Equal(t, float64(userID), inner(t, out, "case")["user_id"])
	u, ok := s.UserByCustomID("cch1", "u-42")
	require.True(t, ok)
	require.Len(t, u.Linked, 1)
	assert.Equal(t, "Alice", u.FullName)

	// a second custom id with the same e-mail is not linked to it
	call(t, s, "POST", "/api/cases.json", `{"case":{"channel":"cch1","user_custom_id":"u-43","user_email":"alice@example.com","content":"x"}}`)
	u2, _ := s.UserByCustomID("cch1", "u-43")
	assert.Empty(t, u2.Linked)

	// users list finds by exact custom id
	status, out, _ = call(t, s, "GET", "/api/users.json?user_custom_id=%5Eu-42%5E&user_custom_channel=cch1", "")
	require.Equal(t, 200, status)
	assert.Equal(t, float64(1), out["total_count"])
	assert.Equal(t, "u-42", inner(t, inner(t, out, "0"), "user")["user_custom_id"])

	// bad input
	for body, code := range map[string]string{
		`{"case":{"channel":"cch9","user_custom_id":"u","content":"x"}}`: "channel_not_found",
		`{"case":{"channel":"cch1","content":"x"}}`:                      "user_custom_id_empty",
		`{"case":{"channel":"cch1","user_custom_id":"u"}}`:               "content_empty",
		`{"case":{"content":"x"}}`:                                       "user_data_empty",
		`{"case":`:                                                       "wrong_parameters",
	} {
		status, out, _ := call(t, s, "POST", "/api/cases.json", body)
		assert.Equal(t, 400, status, body)
		assert.Equal(t, code, out["error"], body)
	}
}

func TestMultipartCase(t *testing.T) {
	s := NewServer()
	defer s.Close()
	s.AddChannel("App", ChannelAsync, "")
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	_ = w.WriteField("case[channel]", "cch1")
	_ = w.WriteField("case[user_custom_id]", "u")
	_ = w.WriteField("case[content]", "see file")
	_ = w.WriteField("case[labels][]", "7")
	_ = w.WriteField("case[custom_fields][cf_1]", "v")
	fw, _ := w.CreateFormFile("case[attachments][1]", "a.txt")
	_, _ = fw.Write([]byte("hello"))
	_ = w.Close()
	req, _ := http.NewRequest("POST", s.URL+"/api/cases.json", &buf)
	req.SetBasicAuth(s.StaffEmail(), s.APIKey())
	req.Header.Set("Content-Type", w.FormDataContentType())
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 201, resp.StatusCode)
	c := s.Cases()[0]
	assert.Equal(t, []int64{7}, c.Labels)
	assert.Equal(t, "v", c.CustomFields["cf_1"])
	msgs := s.Messages(c.ID)
	require.Len(t, msgs, 1)
	assert.Equal(t, "a.txt", msgs[0].Attachments[0].Name)
	assert.Equal(t, int64(5), msgs[0].Attachments[0].Size)
}

func TestListsPagingAndFilters(t *testing.T) {
	s := NewServer()
	defer s.Close()
	s.AddChannel("Mail", ChannelAsync, "")
	s.AddChannel("Chat", ChannelSync, "")
	for i := range 5 {
		call(t, s, "POST", "/api/cases.json", `{"case":{"channel":"cch1","user_custom_id":"u","content":"c`+string(rune('0'+i))+`"}}`)
	}
	call(t, s, "POST", "/api/cases.json", `{"case":{"channel":"cch2","user_custom_id":"u","content":"chat"}}`)

	_, out, _ := call(t, s, "GET", "/api/cases.json?limit=2&page=3", "")
	assert.Equal(t, float64(5), out["total_count"], "the open chat is left out without show_active_chats")
	assert.Len(t, out, 2, "one item and total_count")
	assert.Equal(t, float64(2001), inner(t, inner(t, out, "0"), "case")["case_id"], "newest first by default: the oldest is last")

	_, out, _ = call(t, s, "GET", "/api/cases.json?show_active_chats=true&channel%5B%5D=cch2", "")
	assert.Equal(t, float64(1), out["total_count"])

	_, out, _ = call(t, s, "GET", "/api/cases.json?status%5B%5D=closed", "")
	assert.Equal(t, map[string]any{"total_count": float64(0)}, out)

	for _, q := range []string{"page=0", "page=501", "limit=101", "sort=random", "user_id%5B%5D=x"} {
		status, _, _ := call(t, s, "GET", "/api/cases.json?"+q, "")
		assert.Equal(t, 400, status, q)
	}
}

func TestMessagesStatusAndClosedCase(t *testing.T) {
	s := NewServer()
	defer s.Close()
	s.AddChannel("App", ChannelAsync, "")
	_, out, _ := call(t, s, "POST", "/api/cases.json", `{"case":{"channel":"cch1","user_custom_id":"u","content":"hi"}}`)
	c := inner(t, out, "case")
	id, user := int64(c["case_id"].(float64)), int64(c["user_id"].(float64))
	path := "/api/cases/" + itoa(id) + "/messages.json"

	_, err := s.AgentReply(id, 7, "hello")
	require.NoError(t, err)
	got, _ := s.Case(id)
	assert.Equal(t, StatusWaiting, got.Status)

	status, _, _ := call(t, s, "POST", path, `{"message":{"user_id":`+itoa(user)+`,"content":"thanks"}}`)
	require.Equal(t, 201, status)
	got, _ = s.Case(id)
	assert.Equal(t, StatusOpen, got.Status, "the customer's message reopens a waiting case")

	_, out, _ = call(t, s, "GET", path+"?order=desc&limit=1", "")
	assert.Equal(t, float64(3), out["total_count"])
	assert.Equal(t, "thanks", inner(t, inner(t, out, "0"), "message")["content"])

	require.NoError(t, s.CloseCase(id))
	status, out, _ = call(t, s, "POST", path, `{"message":{"user_id":`+itoa(user)+`,"content":"late"}}`)
	assert.Equal(t, 400, status)
	assert.Equal(t, "case_closed", out["error"])

	for body, code := range map[string]string{
		`{"message":{"content":"x"}}`:                          "user_id_or_staff_id_required",
		`{"message":{"user_id":1,"staff_id":2,"content":"x"}}`: "user_id_or_staff_id_required",
		`{"message":{"user_id":1}}`:                            "content_empty",
	} {
		status, out, _ := call(t, s, "POST", path, body)
		assert.Equal(t, 400, status, body)
		assert.Equal(t, code, out["error"], body)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestMergeCases(t *testing.T) {
	s := NewServer()
	defer s.Close()
	s.AddChannel("App", ChannelAsync, "")
	call(t, s, "POST", "/api/cases.json", `{"case":{"channel":"cch1","user_custom_id":"u","content":"first"}}`)
	call(t, s, "POST", "/api/cases.json", `{"case":{"channel":"cch1","user_custom_id":"u","content":"second"}}`)
	require.NoError(t, s.MergeCases(2002, 2001))
	status, out, _ := call(t, s, "GET", "/api/cases/2002.json", "")
	assert.Equal(t, 404, status)
	assert.Equal(t, "case_not_found", out["error"])
	status, _, _ = call(t, s, "POST", "/api/cases/2002/messages.json", `{"message":{"staff_id":1,"content":"x"}}`)
	assert.Equal(t, 404, status)
	msgs := s.Messages(2001)
	require.Len(t, msgs, 2)
	assert.Equal(t, []string{"first", "second"}, []string{msgs[0].Content, msgs[1].Content})
	into, ok := s.MergedInto(2002)
	assert.True(t, ok)
	assert.Equal(t, int64(2001), into)
	assert.ErrorIs(t, s.MergeCases(2002, 2001), ErrNotFound)
}

func TestWebhookDelivery(t *testing.T) {
	var mu sync.Mutex
	var got []url.Values
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		assert.Equal(t, "application/x-www-form-urlencoded", r.Header.Get("Content-Type"))
		require.NoError(t, r.ParseForm())
		mu.Lock()
		got = append(got, r.PostForm)
		mu.Unlock()
	}))
	defer hook.Close()
	s := NewServer()
	defer s.Close()
	s.AddChannel("App", ChannelSync, hook.URL+"/deskie/token")
	_, out, _ := call(t, s, "POST", "/api/cases.json", `{"case":{"channel":"cch1","user_custom_id":"tg-100500","content":"hi"}}`)
	c := inner(t, out, "case")
	id := int64(c["case_id"].(float64))

	msgID, err := s.AgentReply(id, 7235, "Help is coming!")
	require.NoError(t, err)
	_, err = s.RuleReply(id, "auto")
	require.NoError(t, err)
	_, err = s.AgentNote(id, 7235, "internal")
	require.NoError(t, err)
	call(t, s, "POST", "/api/cases/"+itoa(id)+"/messages.json", `{"message":{"staff_id":7235,"content":"via api"}}`)
	s.WaitDeliveries()
	require.NoError(t, s.Redeliver(msgID))

	mu.Lock()
	defer mu.Unlock()
	require.Len(t, got, 5)
	first := got[0]
	assert.Equal(t, "message_new", first.Get("type"))
	assert.Equal(t, itoa(msgID), first.Get("object[message_id]"))
	assert.Equal(t, itoa(id), first.Get("object[case_id]"))
	assert.Equal(t, "7235", first.Get("object[staff_id]"))
	assert.Equal(t, c["user_id"], mustFloat(first.Get("object[user_id]")))
	assert.Equal(t, "tg-100500", first.Get("object[custom_user_id]"))
	assert.Equal(t, "Help is coming!", first.Get("object[content]"))
	assert.Equal(t, []string{"0", "0", "0"}, []string{first.Get("object[note]"), first.Get("object[sent_via_rule]"), first.Get("object[b_from_api]")})
	assert.Equal(t, "1", got[1].Get("object[sent_via_rule]"))
	assert.Equal(t, "1", got[2].Get("object[note]"))
	assert.Equal(t, "1", got[3].Get("object[b_from_api]"))
	assert.Equal(t, first, got[4], "a redelivery is the same payload")
	assert.Len(t, s.Deliveries(), 5)
}

func mustFloat(s string) any {
	var f float64
	_ = json.Unmarshal([]byte(s), &f)
	return f
}

func TestWebhookDeliveryFailureIsReported(t *testing.T) {
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(500) }))
	defer hook.Close()
	s := NewServer()
	defer s.Close()
	s.AddChannel("App", ChannelAsync, hook.URL)
	call(t, s, "POST", "/api/cases.json", `{"case":{"channel":"cch1","user_custom_id":"u","content":"hi"}}`)
	_, err := s.AgentReply(2001, 1, "x")
	require.Error(t, err)
	assert.Equal(t, 500, s.Deliveries()[0].Status)
	_, err = s.AgentReply(999, 1, "x")
	assert.ErrorIs(t, err, ErrNotFound)
}

func TestRateLimit(t *testing.T) {
	clock := NewClock(time.Date(2025, 5, 5, 12, 0, 0, 0, time.UTC))
	s := NewServer(WithRateLimit(5, time.Minute), WithClock(clock.Now))
	defer s.Close()
	s.AddChannel("App", ChannelAsync, "")
	var statuses []int
	var lefts, retries []string
	for range 3 {
		status, _, h := call(t, s, "POST", "/api/cases.json", `{"case":{"channel":"cch1","user_custom_id":"u","content":"x"}}`)
		statuses = append(statuses, status)
		lefts = append(lefts, h.Get("api_calls_left"))
		retries = append(retries, h.Get("retry_after"))
		clock.Advance(10 * time.Second)
	}
	assert.Equal(t, []int{201, 201, 429}, statuses, "writes cost 2")
	assert.Equal(t, []string{"3", "1", "1"}, lefts)
	assert.Equal(t, []string{"60", "50", "40"}, retries, "retry_after counts down on the server's clock")
	status, _, _ := call(t, s, "GET", "/api/custom_channels.json", "")
	assert.Equal(t, 200, status, "a read costs 1")
	status, _, _ = call(t, s, "GET", "/api/custom_channels.json", "")
	assert.Equal(t, 429, status)
	clock.Advance(30 * time.Second) // the window started at 12:00:00; it is 12:01:00 now
	status, _, h := call(t, s, "POST", "/api/cases.json", `{"case":{"channel":"cch1","user_custom_id":"u","content":"x"}}`)
	assert.Equal(t, 201, status, "the window refreshed")
	assert.Equal(t, "3", h.Get("api_calls_left"))
	assert.Len(t, s.Cases(), 3)
}

func TestRateLimitRealTimeByDefault(t *testing.T) {
	s := Start(t, WithRateLimit(2, 50*time.Millisecond))
	status, _, h := call(t, s, "GET", "/api/custom_channels.json", "")
	require.Equal(t, 200, status)
	retry, err := strconv.ParseFloat(h.Get("retry_after"), 64)
	require.NoError(t, err)
	assert.InDelta(t, 0.05, retry, 0.05, "the window is real time when no clock is given")
}

func TestFaults(t *testing.T) {
	s := NewServer(WithSlowDelay(10 * time.Millisecond))
	defer s.Close()
	s.AddChannel("App", ChannelAsync, "")
	body := `{"case":{"channel":"cch1","user_custom_id":"u","content":"x"}}`

	s.Fail("POST /api/cases.json", 1, FaultServerError)
	status, _, _ := call(t, s, "POST", "/api/cases.json", body)
	assert.Equal(t, 500, status)
	assert.Empty(t, s.Cases(), "500 before acting")

	s.Fail("POST", 1, FaultServerErrorAfter)
	status, _, _ = call(t, s, "POST", "/api/cases.json", body)
	assert.Equal(t, 500, status)
	assert.Len(t, s.Cases(), 1, "500 after acting")

	s.Fail("/api/cases.json", 1, FaultRateLimit)
	status, _, h := call(t, s, "POST", "/api/cases.json", body)
	assert.Equal(t, 429, status)
	assert.Equal(t, "1", h.Get("retry_after"))

	s.Fail("POST /api/cases*", 1, FaultDropAfter)
	req, _ := http.NewRequest("POST", s.URL+"/api/cases.json", strings.NewReader(body))
	req.SetBasicAuth(s.StaffEmail(), s.APIKey())
	req.Header.Set("Content-Type", "application/json")
	_, err := http.DefaultClient.Do(req)
	require.Error(t, err, "the connection is dropped")
	assert.Len(t, s.Cases(), 2, "but the case was created")

	s.Fail("", 1, FaultDropBefore)
	req, _ = http.NewRequest("POST", s.URL+"/api/cases.json", strings.NewReader(body))
	req.SetBasicAuth(s.StaffEmail(), s.APIKey())
	_, err = http.DefaultClient.Do(req)
	require.Error(t, err)
	assert.Len(t, s.Cases(), 2)

	s.Fail("GET", 1, FaultMalformedJSON)
	req, _ = http.NewRequest("GET", s.URL+"/api/cases.json", nil)
	req.SetBasicAuth(s.StaffEmail(), s.APIKey())
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.False(t, json.Valid(data))

	s.Fail("GET", 1, FaultSlow)
	start := time.Now()
	status, _, _ = call(t, s, "GET", "/api/cases.json", "")
	assert.Equal(t, 200, status)
	assert.GreaterOrEqual(t, time.Since(start), 10*time.Millisecond)

	reqs := s.Requests()
	assert.Equal(t, 0, reqs[3].Status, "dropped connections are recorded with status 0")
	assert.Equal(t, 7, s.CountRequests("", ""))
}

func TestUsersEndpoints(t *testing.T) {
	s := NewServer()
	defer s.Close()
	s.AddChannel("App", ChannelAsync, "")
	status, out, _ := call(t, s, "POST", "/api/users.json", `{"user":{"user_custom_id":"u-1","user_custom_channel":"cch1","user_full_name":"U"}}`)
	require.Equal(t, 201, status)
	id := int64(inner(t, out, "user")["user_id"].(float64))
	status, out, _ = call(t, s, "POST", "/api/users.json", `{"user":{"user_custom_id":"u-1","user_custom_channel":"cch1"}}`)
	assert.Equal(t, 400, status)
	assert.Equal(t, "user_custom_id_already_exist", out["error"])

	status, out, _ = call(t, s, "PUT", "/api/users/"+itoa(id)+"/link.json", `{"user_email":"u@example.com"}`)
	require.Equal(t, 200, status)
	assert.Len(t, inner(t, out, "user")["linked_users"], 1)
	status, _, _ = call(t, s, "PUT", "/api/users/"+itoa(id)+"/link.json", `{"user":{"user_phone":"+100"}}`)
	require.Equal(t, 200, status, "wrapped body accepted too")

	status, out, _ = call(t, s, "GET", "/api/users/"+itoa(id)+".json", "")
	require.Equal(t, 200, status)
	assert.Len(t, inner(t, out, "user")["linked_users"], 2)
	status, _, _ = call(t, s, "GET", "/api/users/1.json", "")
	assert.Equal(t, 404, status)
	status, out, _ = call(t, s, "POST", "/api/users.json", `{"user":{"user_email":"u@example.com"}}`)
	assert.Equal(t, 400, status)
	assert.Equal(t, "email_already_exist", out["error"])
}

func TestControlErrors(t *testing.T) {
	s := NewServer()
	defer s.Close()
	assert.ErrorIs(t, s.CloseCase(1), ErrNotFound)
	assert.Error(t, s.SetStatus(1, "pending"))
	assert.ErrorIs(t, s.SetDeleted(1, true), ErrNotFound)
	assert.ErrorIs(t, s.SetWebhookURL("cch9", ""), ErrNotFound)
	assert.ErrorIs(t, s.Redeliver(1), ErrNotFound)
	assert.True(t, errors.Is(s.SetSpam(1, true), ErrNotFound))
}

func TestDateHeaderFollowsTheClock(t *testing.T) {
	clock := NewClock(time.Date(2020, 5, 1, 12, 0, 0, 0, time.UTC))
	s := Start(t, WithClock(clock.Now))
	req, err := http.NewRequest("GET", s.URL+"/api/custom_channels.json", nil)
	require.NoError(t, err)
	req.SetBasicAuth(s.StaffEmail(), s.APIKey())
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	_ = resp.Body.Close()
	assert.Equal(t, "Fri, 01 May 2020 12:00:00 GMT", resp.Header.Get("Date"))
}

package deskietest

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func decodeJSON(resp *http.Response, v any) error { return json.NewDecoder(resp.Body).Decode(v) }

// ctl calls the control API with no credentials, as a test in another language
// would, and decodes the JSON answer.
func ctl(t *testing.T, s *Server, method, path, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, s.URL+path, strings.NewReader(body))
	require.NoError(t, err)
	if method == "POST" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, "application/json; charset=utf-8", resp.Header.Get("Content-Type"), "%s %s", method, path)
	var out map[string]any
	data, _ := io.ReadAll(resp.Body)
	require.NoError(t, json.Unmarshal(data, &out), "%s %s: %s", method, path, data)
	return resp.StatusCode, out
}

func num(v any) int64 { f, _ := v.(float64); return int64(f) }

// hookRecorder is a webhook receiver that records the forms it gets.
type hookRecorder struct {
	*httptest.Server
	mu    sync.Mutex
	forms []url.Values
}

func newHookRecorder(t *testing.T, status int) *hookRecorder {
	h := &hookRecorder{}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		h.mu.Lock()
		h.forms = append(h.forms, r.PostForm)
		h.mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *hookRecorder) all() []url.Values {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]url.Values(nil), h.forms...)
}

func TestControlAgentMessages(t *testing.T) {
	hook := newHookRecorder(t, 200)
	s := Start(t)
	s.AddChannel("App", ChannelSync, hook.URL)
	ids, _ := s.SeedCases("cch1", "u-1", 1)
	id := itoa(ids[0])

	status, out := ctl(t, s, "POST", "/_fake/reply", `{"case_id":`+id+`,"staff_id":7,"content":"Hello"}`)
	require.Equal(t, 201, status, out)
	msgID := num(out["message_id"])
	msg := out["message"].(map[string]any)
	assert.Equal(t, "agent", msg["kind"])
	assert.Equal(t, "Hello", msg["content"])
	assert.Equal(t, false, msg["from_api"])
	d := out["delivery"].(map[string]any)
	assert.Equal(t, float64(200), d["status"])
	assert.Nil(t, d["error"])
	assert.Equal(t, float64(1), d["attempt"])
	assert.Equal(t, "0", d["form"].(map[string]any)["object[b_from_api]"])
	c, _ := s.Case(ids[0])
	assert.Equal(t, StatusWaiting, c.Status)

	status, out = ctl(t, s, "POST", "/_fake/note", `{"case_id":"`+id+`","content":"internal"}`)
	require.Equal(t, 201, status, out)
	assert.Equal(t, "note", out["message"].(map[string]any)["kind"])
	assert.Equal(t, float64(1), out["message"].(map[string]any)["staff_id"], "staff_id defaults to 1")
	status, out = ctl(t, s, "POST", "/_fake/rule", `{"case_id":`+id+`,"content":"auto"}`)
	require.Equal(t, 201, status, out)
	assert.Equal(t, "rule", out["message"].(map[string]any)["kind"])

	forms := hook.all()
	require.Len(t, forms, 3)
	assert.Equal(t, itoa(msgID), forms[0].Get("object[message_id]"))
	assert.Equal(t, "u-1", forms[0].Get("object[custom_user_id]"))
	assert.Equal(t, "0", forms[0].Get("object[b_from_api]"), "an agent in the helpdesk, not the API")
	assert.Equal(t, "1", forms[1].Get("object[note]"))
	assert.Equal(t, "1", forms[2].Get("object[sent_via_rule]"))

	for body, want := range map[string][2]any{
		`{"case_id":1,"content":"x"}`:           {404, "case_not_found"},
		`{"case_id":` + id + `,"content":"  "}`: {400, "content_empty"},
		`{"case_id":` + id + `,"text":"x"}`:     {400, "bad_json"},
		`{"case_id":"abc","content":"x"}`:       {400, "bad_json"},
		`[`:                                     {400, "bad_json"},
	} {
		status, out := ctl(t, s, "POST", "/_fake/reply", body)
		assert.Equal(t, want[0], status, body)
		assert.Equal(t, want[1], out["error"], body)
	}
}

func TestControlReplyReportsAFailedDelivery(t *testing.T) {
	hook := newHookRecorder(t, 500)
	s := Start(t)
	s.AddChannel("App", ChannelAsync, hook.URL)
	s.AddChannel("Quiet", ChannelAsync, "")
	ids, _ := s.SeedCases("cch1", "u", 1)
	quiet, _ := s.SeedCases("cch2", "u", 1)
	status, out := ctl(t, s, "POST", "/_fake/reply", `{"case_id":`+itoa(ids[0])+`,"content":"x"}`)
	require.Equal(t, 201, status)
	d := out["delivery"].(map[string]any)
	assert.Equal(t, float64(500), d["status"])
	assert.Contains(t, d["error"], "500")
	status, out = ctl(t, s, "POST", "/_fake/reply", `{"case_id":`+itoa(quiet[0])+`,"content":"x"}`)
	require.Equal(t, 201, status)
	assert.Nil(t, out["delivery"], "no webhook URL, no delivery")
	assert.Len(t, s.Messages(quiet[0]), 2)
}

func TestControlCaseActions(t *testing.T) {
	s := Start(t)
	s.AddChannel("App", ChannelAsync, "")
	ids, _ := s.SeedCases("cch1", "u", 3)

	status, out := ctl(t, s, "POST", "/_fake/close", `{"case_id":`+itoa(ids[0])+`}`)
	require.Equal(t, 200, status, out)
	assert.Equal(t, "closed", out["case"].(map[string]any)["status"])
	assert.NotNil(t, out["case"].(map[string]any)["closed_at"])
	status, out = ctl(t, s, "POST", "/_fake/status", `{"case_id":`+itoa(ids[0])+`,"status":"open"}`)
	require.Equal(t, 200, status, out)
	assert.Equal(t, "open", out["case"].(map[string]any)["status"])
	assert.Nil(t, out["case"].(map[string]any)["closed_at"])
	status, out = ctl(t, s, "POST", "/_fake/status", `{"case_id":`+itoa(ids[0])+`,"status":"pending"}`)
	assert.Equal(t, 400, status)
	assert.Equal(t, "wrong_status", out["error"])
	status, _ = ctl(t, s, "POST", "/_fake/close", `{"case_id":99}`)
	assert.Equal(t, 404, status)

	status, out = ctl(t, s, "POST", "/_fake/merge", `{"from":`+itoa(ids[2])+`,"into":`+itoa(ids[1])+`}`)
	require.Equal(t, 200, status, out)
	assert.Equal(t, float64(ids[1]), out["case"].(map[string]any)["id"])
	assert.Equal(t, float64(2), out["case"].(map[string]any)["messages"])
	into, ok := s.MergedInto(ids[2])
	assert.True(t, ok)
	assert.Equal(t, ids[1], into)
	status, out = ctl(t, s, "GET", "/_fake/cases/"+itoa(ids[2]), "")
	assert.Equal(t, 404, status)
	assert.Equal(t, float64(ids[1]), out["merged_into"])
	status, out = ctl(t, s, "POST", "/_fake/merge", `{"from":1,"into":1}`)
	assert.Equal(t, 400, status)
	assert.Equal(t, "same_case", out["error"])
	status, _ = ctl(t, s, "POST", "/_fake/merge", `{"from":1,"into":2}`)
	assert.Equal(t, 404, status)
}

func TestControlFaults(t *testing.T) {
	s := Start(t)
	status, out := ctl(t, s, "POST", "/_fake/fault", `{"match":"GET /api/custom_channels.json","n":2,"kind":"500"}`)
	require.Equal(t, 201, status, out)
	assert.Equal(t, []any{map[string]any{"match": "GET /api/custom_channels.json", "left": float64(2), "kind": "500"}}, out["faults"])
	code, _, _ := call(t, s, "GET", "/api/custom_channels.json", "")
	assert.Equal(t, 500, code)
	status, out = ctl(t, s, "POST", "/_fake/fault", `{"kind":"429"}`)
	require.Equal(t, 201, status)
	assert.Len(t, out["faults"], 2, "n defaults to 1")
	status, out = ctl(t, s, "POST", "/_fake/fault", `{"kind":"explode"}`)
	assert.Equal(t, 400, status)
	assert.Equal(t, "wrong_fault", out["error"])
	assert.Len(t, out["kinds"], 7)
	status, _ = ctl(t, s, "POST", "/_fake/fault", `{"kind":"500","n":0}`)
	assert.Equal(t, 400, status)
	status, out = ctl(t, s, "POST", "/_fake/faults/clear", ``)
	require.Equal(t, 200, status)
	assert.Equal(t, []any{}, out["faults"])
}

func TestControlSetupRoutes(t *testing.T) {
	s := Start(t)
	status, out := ctl(t, s, "POST", "/_fake/channels", `{"title":"Chat","type":"sync","webhook_url":"http://127.0.0.1:1/hook"}`)
	require.Equal(t, 201, status, out)
	assert.Equal(t, map[string]any{"id": float64(1), "code": "cch1", "title": "Chat", "type": "sync",
		"webhook_url": "http://127.0.0.1:1/hook", "active": true}, out["channel"])
	status, out = ctl(t, s, "POST", "/_fake/channels", `{}`)
	require.Equal(t, 201, status)
	assert.Equal(t, "async", out["channel"].(map[string]any)["type"])
	status, _ = ctl(t, s, "POST", "/_fake/channels", `{"type":"carrier-pigeon"}`)
	assert.Equal(t, 400, status)
	status, out = ctl(t, s, "POST", "/_fake/webhook_url", `{"channel":"cch1","webhook_url":""}`)
	require.Equal(t, 200, status)
	assert.Equal(t, "", out["channel"].(map[string]any)["webhook_url"])
	status, _ = ctl(t, s, "POST", "/_fake/webhook_url", `{"channel":"cch9","webhook_url":""}`)
	assert.Equal(t, 404, status)

	status, out = ctl(t, s, "POST", "/_fake/users", `{"channel":"cch1","user_custom_id":"ann","name":"Ann","email":"ann@example.com"}`)
	require.Equal(t, 201, status, out)
	user := out["user"].(map[string]any)
	assert.Equal(t, "ann", user["user_custom_id"])
	assert.Equal(t, "Ann", user["name"])
	assert.Len(t, user["linked"], 1)
	status, out = ctl(t, s, "POST", "/_fake/users", `{"channel":"cch1","user_custom_id":"ann"}`)
	assert.Equal(t, 409, status)
	assert.Equal(t, "user_custom_id_already_exist", out["error"])
	status, _ = ctl(t, s, "POST", "/_fake/users", `{"channel":"cch9","user_custom_id":"bob"}`)
	assert.Equal(t, 404, status)
	status, _ = ctl(t, s, "POST", "/_fake/users", `{"channel":"cch1"}`)
	assert.Equal(t, 400, status)

	status, out = ctl(t, s, "POST", "/_fake/seed", `{"channel":"cch2","user_custom_id":"bulk","n":3}`)
	require.Equal(t, 201, status, out)
	assert.Len(t, out["case_ids"], 3)
	status, _ = ctl(t, s, "POST", "/_fake/seed", `{"channel":"cch2","user_custom_id":"bulk","n":0}`)
	assert.Equal(t, 400, status)
	status, _ = ctl(t, s, "POST", "/_fake/seed", `{"channel":"cch9","user_custom_id":"bulk","n":1}`)
	assert.Equal(t, 404, status)

	status, out = ctl(t, s, "GET", "/_fake/users?order=desc&limit=1", "")
	require.Equal(t, 200, status)
	assert.Equal(t, float64(3), out["total"], "ann, her e-mail profile, bulk")
	assert.Equal(t, "bulk", out["users"].([]any)[0].(map[string]any)["user_custom_id"])
}

func TestControlSettingsAndWait(t *testing.T) {
	hook := newFlakyHook(t, 1)
	s := Start(t)
	s.AddChannel("App", ChannelAsync, hook.URL)
	status, out := ctl(t, s, "POST", "/_fake/settings", `{"redelivery_seconds":[0.001],"message_order":"newest_first"}`)
	require.Equal(t, 200, status, out)
	assert.Equal(t, map[string]any{"redelivery_seconds": []any{0.001}, "message_order": "newest_first",
		"rate_limit": float64(DefaultRateLimit), "rate_window_seconds": float64(60)}, out["settings"])
	assert.Equal(t, []time.Duration{time.Millisecond}, s.Redelivery())

	ids, _ := s.SeedCases("cch1", "u", 1)
	call(t, s, "POST", "/api/cases/"+itoa(ids[0])+"/messages.json", `{"message":{"staff_id":3,"content":"via api"}}`)
	status, out = ctl(t, s, "POST", "/_fake/wait", `{"timeout_seconds":30}`)
	require.Equal(t, 200, status)
	assert.Equal(t, map[string]any{"idle": true, "in_flight": float64(0), "pending_redeliveries": float64(0)}, out)
	status, out = ctl(t, s, "GET", "/_fake/deliveries", "")
	require.Equal(t, 200, status)
	ds := out["deliveries"].([]any)
	require.Len(t, ds, 2, "the failed delivery, then its redelivery")
	assert.Equal(t, float64(503), ds[0].(map[string]any)["status"])
	assert.Equal(t, float64(200), ds[1].(map[string]any)["status"])
	assert.Equal(t, float64(2), ds[1].(map[string]any)["attempt"])
	assert.Equal(t, "1", ds[1].(map[string]any)["form"].(map[string]any)["object[b_from_api]"], "an agent message added through the API")

	for _, body := range []string{`{"message_order":"random"}`, `{"redelivery_seconds":[-1]}`} {
		status, _ := ctl(t, s, "POST", "/_fake/settings", body)
		assert.Equal(t, 400, status, body)
	}
	status, out = ctl(t, s, "POST", "/_fake/settings", `{"redelivery_seconds":[]}`)
	require.Equal(t, 200, status)
	assert.Equal(t, []any{}, out["settings"].(map[string]any)["redelivery_seconds"])
	assert.Equal(t, "newest_first", out["settings"].(map[string]any)["message_order"], "a field left out stays")
}

func TestControlWaitTimesOut(t *testing.T) {
	clock := NewClock(time.Date(2025, 5, 5, 12, 0, 0, 0, time.UTC))
	s := Start(t, WithClock(clock.Now))
	block := make(chan struct{})
	hook := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { <-block }))
	defer hook.Close()
	defer close(block)
	s.AddChannel("App", ChannelAsync, hook.URL)
	ids, _ := s.SeedCases("cch1", "u", 1)
	call(t, s, "POST", "/api/cases/"+itoa(ids[0])+"/messages.json", `{"message":{"staff_id":3,"content":"x"}}`)
	status, out := ctl(t, s, "POST", "/_fake/wait", `{"timeout_seconds":0}`)
	require.Equal(t, 200, status)
	assert.Equal(t, false, out["idle"])
	assert.Equal(t, float64(1), out["in_flight"])
}

func TestControlViews(t *testing.T) {
	clock := NewClock(time.Date(2025, 5, 5, 12, 0, 0, 0, time.UTC))
	s := Start(t, WithClock(clock.Now))
	s.AddChannel("App", ChannelAsync, "")
	s.AddChannel("Chat", ChannelSync, "")
	_, err := s.AddUser("cch1", "ann", UserName("Ann"))
	require.NoError(t, err)
	a, _ := s.SeedCases("cch1", "ann", 2)
	clock.Advance(time.Minute)
	b, _ := s.SeedCases("cch2", "bob", 1)
	clock.Advance(time.Minute)
	_, _ = s.AgentReply(a[0], 5, "answer")
	call(t, s, "GET", "/api/custom_channels.json", "")

	status, out := ctl(t, s, "GET", "/_fake/cases", "")
	require.Equal(t, 200, status)
	assert.Equal(t, float64(3), out["total"], "active chats included")
	cases := out["cases"].([]any)
	first := cases[0].(map[string]any)
	assert.Equal(t, float64(a[0]), first["id"], "latest activity first")
	assert.Equal(t, "waiting", first["status"])
	assert.Equal(t, "App", first["channel_title"])
	assert.Equal(t, "Ann", first["user_name"])
	assert.Equal(t, "ann", first["user_custom_id"])
	assert.Equal(t, float64(2), first["messages"])
	assert.Equal(t, "answer", first["preview"])
	assert.Equal(t, "2025-05-05T15:02:00+03:00", first["updated_at"])
	assert.Equal(t, "2025-05-05T15:00:00+03:00", first["created_at"])
	assert.Nil(t, first["closed_at"])

	_, out = ctl(t, s, "GET", "/_fake/cases?channel=cch2", "")
	assert.Equal(t, float64(1), out["total"])
	_, out = ctl(t, s, "GET", "/_fake/cases?status=waiting", "")
	assert.Equal(t, float64(1), out["total"])
	_, out = ctl(t, s, "GET", "/_fake/cases?sort=created_at_asc&limit=1&page=3", "")
	assert.Equal(t, float64(b[0]), out["cases"].([]any)[0].(map[string]any)["id"])
	for _, q := range []string{"sort=random", "limit=101", "page=0", "order=up", "limit=x"} {
		status, out := ctl(t, s, "GET", "/_fake/cases?"+q, "")
		assert.Equal(t, 400, status, q)
		assert.Equal(t, "wrong_parameters", out["error"], q)
	}

	status, out = ctl(t, s, "GET", "/_fake/cases/"+itoa(a[0]), "")
	require.Equal(t, 200, status)
	assert.Equal(t, float64(a[0]), out["case"].(map[string]any)["id"])
	status, out = ctl(t, s, "GET", "/_fake/cases/1", "")
	assert.Equal(t, 404, status)
	assert.Equal(t, "case_not_found", out["error"])

	status, out = ctl(t, s, "GET", "/_fake/cases/"+itoa(a[0])+"/messages?order=desc&limit=1", "")
	require.Equal(t, 200, status)
	assert.Equal(t, float64(2), out["total"])
	m := out["messages"].([]any)[0].(map[string]any)
	assert.Equal(t, "agent", m["kind"])
	assert.Equal(t, float64(5), m["staff_id"])
	assert.Equal(t, []any{}, m["attachments"])
	status, _ = ctl(t, s, "GET", "/_fake/cases/1/messages", "")
	assert.Equal(t, 404, status)
	status, _ = ctl(t, s, "GET", "/_fake/cases/1/messages?limit=501", "")
	assert.Equal(t, 400, status)

	status, out = ctl(t, s, "GET", "/_fake/requests", "")
	require.Equal(t, 200, status)
	assert.Equal(t, []any{map[string]any{"method": "GET", "path": "/api/custom_channels.json", "query": "", "status": float64(200),
		"body": "", "body_truncated": false}}, out["requests"], "control calls are not logged")

	status, out = ctl(t, s, "GET", "/_fake/state", "")
	require.Equal(t, 200, status)
	assert.Equal(t, s.URL, out["url"])
	assert.Equal(t, DefaultStaffEmail, out["staff_email"])
	assert.NotContains(t, out, "api_key")
	assert.Equal(t, map[string]any{"cases": float64(3), "users": float64(2), "messages": float64(4), "deliveries": float64(0),
		"requests": float64(1)}, out["counts"])
	assert.Len(t, out["channels"], 2)
	assert.Len(t, out["fault_kinds"], 7)
	version := out["version"].(float64)
	_, out = ctl(t, s, "GET", "/_fake/state", "")
	assert.Equal(t, version, out["version"], "reads leave the version alone")
	ctl(t, s, "POST", "/_fake/close", `{"case_id":`+itoa(b[0])+`}`)
	_, out = ctl(t, s, "GET", "/_fake/state", "")
	assert.Greater(t, out["version"].(float64), version, "a change moves it")
}

func TestControlGuards(t *testing.T) {
	s := Start(t)
	ids := func() int { return len(s.Channels()) }
	for _, ct := range []string{"", "text/plain", "application/x-www-form-urlencoded"} {
		req, _ := http.NewRequest("POST", s.URL+"/_fake/channels", strings.NewReader(`{"title":"x"}`))
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		var out map[string]any
		require.NoError(t, decodeJSON(resp, &out))
		resp.Body.Close()
		assert.Equal(t, 415, resp.StatusCode, ct)
		assert.Equal(t, "json_required", out["error"])
	}
	assert.Zero(t, ids(), "nothing made without JSON")
	status, out := ctl(t, s, "GET", "/_fake/reply", "")
	assert.Equal(t, 405, status)
	assert.Equal(t, "method_not_allowed", out["error"])
	status, _ = ctl(t, s, "POST", "/_fake/state", "")
	assert.Equal(t, 405, status)
	status, out = ctl(t, s, "GET", "/_fake/nothing", "")
	assert.Equal(t, 404, status)
	assert.Equal(t, "unknown_control", out["error"])
	status, out = ctl(t, s, "POST", "/_fake/reset", "")
	assert.Equal(t, 200, status)
	assert.Equal(t, true, out["ok"])
}

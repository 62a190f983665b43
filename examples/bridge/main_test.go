package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deskie-go/deskie"
	"github.com/deskie-go/deskie/deskietest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDemoPlaysTheWholeLoop(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), func(string) string { return "" }, &out))
	text := out.String()
	assert.Equal(t, 1, strings.Count(text, "Found it: your parcel is at the depot.\" (recovered"), "recovered once")
	assert.Contains(t, text, `alice's app inbox: ["Sorry about that! Checking with the courier." "Found it: your parcel is at the depot." "Got them — a replacement is on its way."]`)
	for _, want := range []string{
		"→ created_case, case 2001",
		"→ webhook → answered 500",
		"alice's app shows \"Found it: your parcel is at the depot.\" (recovered by Replies.Watch, once)",
		"→ replied, case 2001",
		"→ created_case, case 2002",
		"case 2003 merged into case 2002",
		"the app had saved for alice: user 5654846849, last case 2003 (the web-form chat, now merged away)",
		"→ followed_merge, case 2002",
		"followed_merge: saved case 2003 is gone, so Chats.Send added the message to alice's last chat, case 2002",
		"alice's app shows \"Got them",
		"Deskie holds 2 cases and 5 customer messages",
	} {
		assert.Contains(t, text, want)
	}
}

func TestServeRejectsBadConfig(t *testing.T) {
	env := map[string]string{"DESKIE_SUBDOMAIN": "acme", "DESKIE_EMAIL": "a@b.c", "DESKIE_API_KEY": "k", "DESKIE_CHANNEL": "telegram"}
	getenv := func(k string) string { return env[k] }
	err := run(context.Background(), getenv, &bytes.Buffer{})
	require.ErrorContains(t, err, "DESKIE_CHANNEL")

	env["DESKIE_CHANNEL"] = "cch3"
	env["DESKIE_WEBHOOK_TOKEN"] = "short"
	err = run(context.Background(), getenv, &bytes.Buffer{})
	require.ErrorContains(t, err, "DESKIE_WEBHOOK_TOKEN")

	env["DESKIE_EMAIL"] = ""
	err = run(context.Background(), getenv, &bytes.Buffer{})
	require.ErrorIs(t, err, deskie.ErrInvalidArgument)
}

func TestServeAgainstAnAccount(t *testing.T) {
	fake := deskietest.NewServer()
	defer fake.Close()
	ch := fake.AddChannel("App", deskietest.ChannelAsync, "")
	env := map[string]string{"DESKIE_BASE_URL": fake.URL, "DESKIE_EMAIL": fake.StaffEmail(), "DESKIE_API_KEY": fake.APIKey(),
		"DESKIE_CHANNEL": ch, "BRIDGE_ADDR": "127.0.0.1:0"}
	ctx, cancel := context.WithCancel(context.Background())
	var out syncBuffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, func(k string) string { return env[k] }, &out) }()
	require.Eventually(t, func() bool { return strings.Contains(out.String(), "bridge listening") }, 5*time.Second, 10*time.Millisecond)
	cancel()
	require.NoError(t, <-done)
	assert.Contains(t, out.String(), "set the channel's Webhook URL to https://<this host>/deskie/")
	assert.NotContains(t, out.String(), fake.APIKey())
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func TestAppRejectsBadMessages(t *testing.T) {
	fake := deskietest.NewServer()
	defer fake.Close()
	client, err := deskie.NewClient("", fake.StaffEmail(), fake.APIKey(), deskie.WithBaseURL(fake.URL))
	require.NoError(t, err)
	h := newApp(client, fake.AddChannel("App", deskietest.ChannelAsync, ""), nil).routes("token-token-token")
	for _, body := range []string{`{`, `{"user":"a"}`, `{"text":"x"}`} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/messages", strings.NewReader(body)))
		assert.Equal(t, http.StatusBadRequest, w.Code, body)
	}
	assert.Zero(t, fake.CountRequests("", ""), "nothing reached Deskie")
}

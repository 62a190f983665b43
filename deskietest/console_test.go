package deskietest

import (
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func getBody(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, string(data)
}

func TestConsolePage(t *testing.T) {
	s := Start(t)
	resp, page := getBody(t, s.URL+"/console")
	require.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "text/html; charset=utf-8", resp.Header.Get("Content-Type"))
	assert.Contains(t, resp.Header.Get("Content-Security-Policy"), "connect-src 'self'")
	assert.Less(t, len(page), 200<<10)

	// offline: nothing loaded from elsewhere
	assert.NotRegexp(t, `(?i)(src|href|action)\s*=\s*["']?\s*(https?:)?//`, page)
	assert.NotRegexp(t, `(?i)https?://`, page)
	assert.NotRegexp(t, `(?i)@import|url\(`, page)

	// the hooks browser tests rely on
	for _, id := range []string{"conn-status", "filter-status", "filter-channel", "cases", "cases-prev", "cases-next", "cases-page",
		"case-title", "case-status", "thread", "reply-text", "reply-staff", "reply-send", "note-send", "close-case",
		"merge-into", "merge-send", "fault-match", "fault-kind", "fault-n", "fault-add", "faults", "deliveries", "status-line"} {
		assert.Contains(t, page, `id="`+id+`"`, id)
	}
	for _, hook := range []string{`"data-testid": "case-row"`, `"data-case-id"`, `"data-testid": "message"`, `"data-message-id"`,
		`"data-kind"`, `"data-testid": "fault"`, `"data-testid": "delivery"`} {
		assert.Contains(t, page, hook)
	}
	// every form control has a label
	for _, m := range regexp.MustCompile(`<(?:input|select|textarea) id="([a-z-]+)"`).FindAllStringSubmatch(page, -1) {
		assert.Contains(t, page, `<label for="`+m[1]+`">`, m[1])
	}
	// it only calls the control API
	calls := regexp.MustCompile(`api\("(?:GET|POST)", "(/[^"]*)"`).FindAllStringSubmatch(page, -1)
	assert.NotEmpty(t, calls)
	assert.Equal(t, 1, strings.Count(page, "fetch("), "every call goes through api()")
	assert.Contains(t, page, `"/_fake/note" : "/_fake/reply"`)
	for _, m := range calls {
		assert.True(t, strings.HasPrefix(m[1], "/_fake/"), m[1])
	}

	resp, _ = getBody(t, s.URL+"/console?x=1")
	assert.Equal(t, 200, resp.StatusCode)
	assert.Zero(t, s.CountRequests("", ""), "the console is not an API request")
}

func TestConsoleAnswersStaySmallWithManyCases(t *testing.T) {
	s := Start(t)
	s.AddChannel("App", ChannelAsync, "")
	long := strings.Repeat("long message ", 100)
	ids, err := s.SeedCases("cch1", "u", 1000)
	require.NoError(t, err)
	for _, id := range ids[:300] {
		_, err := s.AgentReply(id, 1, long)
		require.NoError(t, err)
	}
	for i := range 300 {
		_, err := s.AgentReply(ids[0], 1, long+itoa(int64(i)))
		require.NoError(t, err)
	}
	const limit = 200 << 10
	for _, path := range []string{"/console", "/_fake/state", "/_fake/cases", "/_fake/cases?limit=100",
		"/_fake/cases/" + itoa(ids[0]) + "/messages?order=desc&limit=50&truncate=500"} {
		resp, body := getBody(t, s.URL+path)
		require.Equal(t, 200, resp.StatusCode, path)
		assert.Less(t, len(body), limit, path)
	}
	_, body := getBody(t, s.URL+"/_fake/cases")
	assert.Contains(t, body, `"total":1000`)
	_, body = getBody(t, s.URL+"/_fake/cases/"+itoa(ids[0])+"/messages?limit=1&truncate=10")
	assert.Contains(t, body, `"content":"Seeded cas…"`)
	resp, _ := getBody(t, s.URL+"/_fake/cases/"+itoa(ids[0])+"/messages?truncate=-1")
	assert.Equal(t, 400, resp.StatusCode)
}

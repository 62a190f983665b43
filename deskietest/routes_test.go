package deskietest

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestUnroutedAPIPaths(t *testing.T) {
	s := Start(t)
	for _, tc := range []struct {
		method, path string
		status       int
		code, allow  string
	}{
		{"DELETE", "/api/cases.json", 405, "method_not_allowed", "GET, HEAD, POST"},
		{"DELETE", "/api/cases/1.json", 405, "method_not_allowed", "GET, HEAD, PUT"},
		{"PUT", "/api/users.json", 405, "method_not_allowed", "GET, HEAD, POST"},
		{"GET", "/api/users/1/link.json", 405, "method_not_allowed", "PUT"},
		{"POST", "/api/cases/1/notes.json", 501, "not_implemented_in_fake", ""},
		{"GET", "/api/staff.json", 501, "not_implemented_in_fake", ""},
		{"GET", "/api/cases/1/messages/2.json", 501, "not_implemented_in_fake", ""},
		{"GET", "/nothing", 404, "not_found", ""},
	} {
		status, out, h := call(t, s, tc.method, tc.path, "")
		assert.Equal(t, tc.status, status, "%s %s", tc.method, tc.path)
		assert.Equal(t, tc.code, out["error"], "%s %s", tc.method, tc.path)
		assert.Equal(t, tc.allow, h.Get("Allow"), "%s %s", tc.method, tc.path)
	}
	// unrouted API paths still need credentials
	req, _ := http.NewRequest("GET", s.URL+"/api/staff.json", nil)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 401, resp.StatusCode)
	assert.Equal(t, 8, s.CountRequests("", ""), "API requests are logged; others are not")
}

func TestRootRedirectsToConsole(t *testing.T) {
	s := Start(t)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get(s.URL + "/")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusFound, resp.StatusCode)
	assert.Equal(t, "/console", resp.Header.Get("Location"))
	assert.Zero(t, s.CountRequests("", ""))
}

func TestStartClosesWithTheTest(t *testing.T) {
	var url string
	t.Run("inner", func(t *testing.T) {
		s := Start(t)
		url = s.URL
		status, _, _ := call(t, s, "GET", "/api/custom_channels.json", "")
		assert.Equal(t, 200, status)
	})
	_, err := http.Get(url + "/api/custom_channels.json")
	assert.Error(t, err, "closed when the subtest ended")
}

func TestNewServerOnAListener(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := NewServerOn(l)
	defer s.Close()
	assert.Equal(t, "http://"+l.Addr().String(), s.URL)
	status, _, _ := call(t, s, "GET", "/api/custom_channels.json", "")
	assert.Equal(t, 200, status)
}

func TestHandlerServesTheSameState(t *testing.T) {
	s := Start(t)
	s.AddChannel("App", ChannelAsync, "")
	mounted := httptest.NewServer(s.Handler())
	defer mounted.Close()
	resp, err := http.Get(mounted.URL + "/_fake/state")
	require.NoError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, 200, resp.StatusCode)
	var st struct {
		Channels []map[string]any `json:"channels"`
	}
	require.NoError(t, decodeJSON(resp, &st))
	assert.Len(t, st.Channels, 1)
}

func TestSpentFaultsAreDropped(t *testing.T) {
	s := Start(t)
	s.Fail("GET /api/custom_channels.json", 2, FaultServerError)
	s.Fail("POST", 1, FaultRateLimit)
	s.Fail("GET", 0, FaultServerError) // adds nothing
	assert.Equal(t, []PendingFault{{Match: "GET /api/custom_channels.json", Left: 2, Kind: FaultServerError}, {Match: "POST", Left: 1, Kind: FaultRateLimit}}, s.PendingFaults())
	for range 3 {
		call(t, s, "GET", "/api/custom_channels.json", "")
	}
	assert.Equal(t, []PendingFault{{Match: "POST", Left: 1, Kind: FaultRateLimit}}, s.PendingFaults())
	assert.Len(t, s.faults, 1, "no spent fault kept")
	s.ClearFaults()
	assert.Empty(t, s.PendingFaults())
	statuses := make([]int, 0, 3)
	for range 3 {
		st, _, _ := call(t, s, "GET", "/api/custom_channels.json", "")
		statuses = append(statuses, st)
	}
	assert.Equal(t, []int{200, 200, 200}, statuses)
}

func TestMessageOrder(t *testing.T) {
	clock := NewClock(time.Date(2025, 5, 5, 12, 0, 0, 0, time.UTC))
	s := Start(t, WithClock(clock.Now), WithMessageOrder(NewestFirst))
	s.AddChannel("App", ChannelAsync, "")
	ids, _ := s.SeedCases("cch1", "u", 1)
	for i := range 3 {
		clock.Advance(time.Second)
		_, _ = s.AgentReply(ids[0], 1, fmt.Sprint("reply ", i))
	}
	contents := func(query string) []string {
		_, out, _ := call(t, s, "GET", "/api/cases/"+itoa(ids[0])+"/messages.json?"+query, "")
		var got []string
		for i := 0; ; i++ {
			item, ok := out[fmt.Sprint(i)].(map[string]any)
			if !ok {
				return got
			}
			got = append(got, inner(t, item, "message")["content"].(string))
		}
	}
	assert.Equal(t, []string{"reply 2", "reply 1", "reply 0", "Seeded case 1"}, contents(""))
	assert.Equal(t, []string{"reply 2", "reply 1"}, contents("limit=2"), "page 1 holds the latest")
	assert.Equal(t, []string{"reply 0", "Seeded case 1"}, contents("limit=2&page=2"))
	assert.Equal(t, []string{"Seeded case 1", "reply 0", "reply 1", "reply 2"}, contents("order=asc"), "an order asked for is followed")
	s.SetMessageOrder(OldestFirst)
	assert.Equal(t, []string{"Seeded case 1", "reply 0", "reply 1", "reply 2"}, contents(""))
	assert.Equal(t, []string{"reply 2", "reply 1", "reply 0", "Seeded case 1"}, contents("order=desc"))
	status, _, _ := call(t, s, "GET", "/api/cases/"+itoa(ids[0])+"/messages.json?order=newest", "")
	assert.Equal(t, 400, status)
}

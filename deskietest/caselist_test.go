package deskietest

import (
	"fmt"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// listIDs lists cases with query and returns their ids in order and total_count.
func listIDs(t *testing.T, s *Server, query string) ([]int64, int) {
	t.Helper()
	status, out, _ := call(t, s, "GET", "/api/cases.json?"+query, "")
	require.Equal(t, 200, status, "%s: %v", query, out)
	var ids []int64
	for i := 0; ; i++ {
		item, ok := out[fmt.Sprint(i)].(map[string]any)
		if !ok {
			break
		}
		ids = append(ids, int64(inner(t, item, "case")["case_id"].(float64)))
	}
	return ids, int(out["total_count"].(float64))
}

func TestUpdatedAtMovesOnEveryChange(t *testing.T) {
	clock := NewClock(time.Date(2025, 5, 5, 12, 0, 0, 0, time.UTC))
	s := Start(t, WithClock(clock.Now))
	s.AddChannel("App", ChannelAsync, "")
	_, out, _ := call(t, s, "POST", "/api/cases.json", `{"case":{"channel":"cch1","user_custom_id":"u","content":"hi"}}`)
	id := int64(inner(t, out, "case")["case_id"].(float64))
	userID := int64(inner(t, out, "case")["user_id"].(float64))
	other, err := s.SeedCases("cch1", "v", 1)
	require.NoError(t, err)

	steps := []struct {
		name string
		do   func()
	}{
		{"agent reply", func() { _, _ = s.AgentReply(id, 7, "hello") }},
		{"customer message", func() {
			call(t, s, "POST", "/api/cases/"+itoa(id)+"/messages.json", `{"message":{"user_id":`+itoa(userID)+`,"content":"thanks"}}`)
		}},
		{"note", func() { _, _ = s.AgentNote(id, 7, "internal") }},
		{"rule", func() { _, _ = s.RuleReply(id, "auto") }},
		{"staff message through the API", func() {
			call(t, s, "POST", "/api/cases/"+itoa(id)+"/messages.json", `{"message":{"staff_id":7,"content":"api"}}`)
		}},
		{"status change", func() { _ = s.SetStatus(id, StatusOpen) }},
		{"status change through the API", func() { call(t, s, "PUT", "/api/cases/"+itoa(id)+".json", `{"case":{"status":"closed"}}`) }},
		{"merge into it", func() { _ = s.MergeCases(other[0], id) }},
	}
	for _, step := range steps {
		clock.Advance(time.Minute)
		step.do()
		c, ok := s.Case(id)
		require.True(t, ok)
		assert.True(t, c.UpdatedAt.Equal(clock.Now()), "%s: updated_at %v, clock %v", step.name, c.UpdatedAt, clock.Now())
		ids, _ := listIDs(t, s, "sort=updated_at_desc&limit=1")
		assert.Equal(t, []int64{id}, ids, "%s: first by updated_at", step.name)
	}
}

func TestCaseListSortAndTimeWindows(t *testing.T) {
	start := time.Date(2025, 5, 5, 12, 0, 0, 0, time.UTC)
	clock := NewClock(start)
	s := Start(t, WithClock(clock.Now))
	s.AddChannel("App", ChannelAsync, "")
	var ids []int64
	for range 5 { // created at 12:00, 12:01, … 12:04
		got, err := s.SeedCases("cch1", "u", 1)
		require.NoError(t, err)
		ids = append(ids, got[0])
		clock.Advance(time.Minute)
	}
	// updated: the second case at 12:10, the fourth at 12:20
	clock.Set(start.Add(10 * time.Minute))
	_, _ = s.AgentReply(ids[1], 1, "x")
	clock.Set(start.Add(20 * time.Minute))
	_, _ = s.AgentReply(ids[3], 1, "y")

	got, total := listIDs(t, s, "sort=created_at_asc")
	assert.Equal(t, ids, got)
	assert.Equal(t, 5, total)
	got, _ = listIDs(t, s, "")
	assert.Equal(t, []int64{ids[4], ids[3], ids[2], ids[1], ids[0]}, got, "created_at_desc by default")
	got, _ = listIDs(t, s, "sort=updated_at_desc")
	assert.Equal(t, []int64{ids[3], ids[1], ids[4], ids[2], ids[0]}, got)
	got, _ = listIDs(t, s, "sort=updated_at_asc")
	assert.Equal(t, []int64{ids[0], ids[2], ids[4], ids[1], ids[3]}, got)

	at := func(min int) time.Time { return start.Add(time.Duration(min) * time.Minute) }
	for name, tc := range map[string]struct {
		query string
		want  []int64
	}{
		"updated since, unix seconds":  {"sort=updated_at_asc&from_updated_time=" + fmt.Sprint(at(10).Unix()), []int64{ids[1], ids[3]}},
		"updated window, inclusive":    {"sort=updated_at_asc&from_updated_time=" + fmt.Sprint(at(4).Unix()) + "&to_updated_time=" + fmt.Sprint(at(10).Unix()), []int64{ids[4], ids[1]}},
		"updated since, RFC1123Z":      {"sort=updated_at_desc&from_updated_time=" + url.QueryEscape(at(11).In(time.FixedZone("", 2*3600)).Format(time.RFC1123Z)), []int64{ids[3]}},
		"RFC1123Z with a raw plus":     {"sort=updated_at_desc&from_updated_time=" + url.PathEscape(at(11).In(time.FixedZone("", 2*3600)).Format(time.RFC1123Z)), []int64{ids[3]}},
		"RFC 3339":                     {"sort=updated_at_desc&from_updated_time=" + url.QueryEscape(at(11).Format(time.RFC3339)), []int64{ids[3]}},
		"account zone, no offset":      {"sort=updated_at_desc&from_updated_time=" + url.QueryEscape(at(11).In(s.cfg.zone).Format("2006-01-02 15:04:05")), []int64{ids[3]}},
		"created window":               {"sort=created_at_asc&from_time=" + fmt.Sprint(at(1).Unix()) + "&to_time=" + fmt.Sprint(at(2).Unix()), []int64{ids[1], ids[2]}},
		"created window, updated sort": {"sort=updated_at_desc&from_time=" + fmt.Sprint(at(1).Unix()) + "&to_time=" + fmt.Sprint(at(2).Unix()), []int64{ids[1], ids[2]}},
		"updated window, created sort": {"sort=created_at_desc&from_updated_time=" + fmt.Sprint(at(5).Unix()), []int64{ids[3], ids[1]}},
		"empty window":                 {"from_updated_time=" + fmt.Sprint(at(30).Unix()), nil},
		"reversed window":              {"from_time=" + fmt.Sprint(at(3).Unix()) + "&to_time=" + fmt.Sprint(at(1).Unix()), nil},
		"show_merged_cases accepted":   {"sort=created_at_asc&show_merged_cases=True", ids},
	} {
		got, total := listIDs(t, s, tc.query)
		assert.Equal(t, tc.want, got, name)
		assert.Equal(t, len(tc.want), total, name)
	}

	for query, code := range map[string]string{
		"from_updated_time=yesterday": "wrong_from_updated_time",
		"to_updated_time=2025-13-01":  "wrong_to_updated_time",
		"from_time=12:00":             "wrong_from_time",
		"to_time=1.5":                 "wrong_to_time",
	} {
		status, out, _ := call(t, s, "GET", "/api/cases.json?"+query, "")
		assert.Equal(t, 400, status, query)
		assert.Equal(t, code, out["error"], query)
	}
}

func TestMergedCasesLeaveLists(t *testing.T) {
	s := Start(t)
	s.AddChannel("App", ChannelAsync, "")
	ids, err := s.SeedCases("cch1", "u", 2)
	require.NoError(t, err)
	require.NoError(t, s.MergeCases(ids[1], ids[0]))
	for _, q := range []string{"", "show_merged_cases=true", "show_merged_cases=1"} {
		got, total := listIDs(t, s, q)
		assert.Equal(t, []int64{ids[0]}, got, q)
		assert.Equal(t, 1, total, q)
	}
}

func TestCaseListPagesThroughManyCases(t *testing.T) {
	clock := NewClock(time.Date(2025, 5, 5, 12, 0, 0, 0, time.UTC))
	s := Start(t, WithClock(clock.Now), WithRateLimit(0, 0))
	s.AddChannel("App", ChannelAsync, "")
	var ids []int64
	for range 12 { // 1,200 cases over 12 seconds, 100 per second
		got, err := s.SeedCases("cch1", "u", 100)
		require.NoError(t, err)
		ids = append(ids, got...)
		clock.Advance(time.Second)
	}
	// touch every third case, oldest first, one second apart
	var touched []int64
	for i := 0; i < len(ids); i += 3 {
		clock.Advance(time.Second)
		_, err := s.AgentReply(ids[i], 1, "x")
		require.NoError(t, err)
		touched = append(touched, ids[i])
	}
	var seen []int64
	for page := 1; ; page++ {
		got, total := listIDs(t, s, fmt.Sprintf("sort=updated_at_desc&page=%d&limit=100", page))
		assert.Equal(t, len(ids), total)
		seen = append(seen, got...)
		if len(got) < 100 {
			break
		}
	}
	require.Len(t, seen, len(ids))
	for i, id := range touched {
		assert.Equal(t, id, seen[len(touched)-1-i], "touched cases lead, the latest first")
	}
	from := time.Date(2025, 5, 5, 12, 0, 13, 0, time.UTC) // after the seeding
	got, total := listIDs(t, s, "sort=updated_at_asc&limit=100&from_updated_time="+fmt.Sprint(from.Unix()))
	assert.Equal(t, len(touched), total)
	assert.Equal(t, touched[:100], got)
}

func TestParseTime(t *testing.T) {
	zone := time.FixedZone("MSK", 3*3600)
	want := time.Date(2014, 12, 23, 8, 55, 23, 0, time.UTC)
	for _, v := range []string{
		"1419324923", "Tue, 23 Dec 2014 10:55:23 +0200", "Tue, 23 Dec 2014 10:55:23  0200",
		"Tue, 23 Dec 2014 08:55:23 UTC", "2014-12-23T10:55:23+02:00", "2014-12-23 11:55:23", "2014-12-23T11:55:23",
	} {
		got, err := parseTime(v, zone)
		require.NoError(t, err, v)
		assert.True(t, got.Equal(want), "%s: %v", v, got)
	}
	got, err := parseTime(" ", zone)
	assert.NoError(t, err)
	assert.True(t, got.IsZero())
}

// BenchmarkPollUpdatedCases is what a reply catch-up poller asks of a large
// account: the few cases updated since its last poll, through the updated_at
// index rather than a sort of every case.
func BenchmarkPollUpdatedCases(b *testing.B) {
	clock := NewClock(time.Date(2025, 5, 5, 12, 0, 0, 0, time.UTC))
	s := NewServer(WithClock(clock.Now), WithRateLimit(0, 0), WithRequestLog(0))
	defer s.Close()
	s.AddChannel("App", ChannelAsync, "")
	ids, err := s.SeedCases("cch1", "u", 20000)
	require.NoError(b, err)
	clock.Advance(time.Hour)
	since := clock.Now().Unix()
	for _, id := range ids[:20] {
		_, _ = s.AgentReply(id, 1, "x")
	}
	h := s.Handler()
	target := "/api/cases.json?sort=updated_at_asc&limit=100&from_updated_time=" + fmt.Sprint(since)
	for b.Loop() {
		req := httptest.NewRequest("GET", target, nil)
		req.SetBasicAuth(s.StaffEmail(), s.APIKey())
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 200 || !strings.HasSuffix(rec.Body.String(), `"total_count":20}`) {
			b.Fatalf("%d %.100s", rec.Code, rec.Body)
		}
	}
}

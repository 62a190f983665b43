package deskie

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func fixture(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile("testdata/" + name)
	require.NoError(t, err)
	return string(data)
}

func TestCasesCreateJSON(t *testing.T) {
	c, mt := setup(t)
	rec := &recorder{}
	rec.on(mt, "POST", "/api/cases.json", created(`{"case":{"case_id":2000,"case_number":"664-245651","user_id":5654846848,
		"staff_id":0,"group_id":44,"status":"open","priority":"normal","channel":"cch159",
		"created_at":"Mon, 05 May 2014 00:15:17 +0300","closed_at":"-"}}`))

	got, err := c.Cases.Create(context.Background(), &CaseCreate{
		Channel: "cch159", UserCustomID: "tg-100500", UserFullName: "@alice",
		Subject: "Question from app", Content: "Hello, I need help",
		CustomFields: map[string]any{"cf_25": "x"}, Labels: []int64{101},
		AttachmentURLs: []string{"https://files.example/a.png"},
	})
	require.NoError(t, err)

	s := rec.last(t)
	assert.Equal(t, "POST", s.Method)
	assert.Equal(t, "/api/cases.json", s.Path)
	assert.Empty(t, s.Query)
	assertAuth(t, s)
	assert.Equal(t, "application/json", s.Header.Get("Content-Type"))
	assert.JSONEq(t, `{"case":{"channel":"cch159","user_custom_id":"tg-100500","user_full_name":"@alice",
		"subject":"Question from app","content":"Hello, I need help","custom_fields":{"cf_25":"x"},
		"labels":[101],"attachment_urls":["https://files.example/a.png"]}}`, string(s.Body))

	assert.Equal(t, int64(2000), got.ID)
	assert.Equal(t, "664-245651", got.Number)
	assert.Equal(t, int64(5654846848), got.UserID, "ids above 2^31")
	assert.Equal(t, StatusOpen, got.Status)
	assert.Equal(t, time.Date(2014, 5, 5, 0, 15, 17, 0, time.FixedZone("", 3*3600)).Unix(), got.CreatedAt.Unix())
	assert.True(t, got.ClosedAt.IsZero(), `"-" is unset`)
}

func TestCasesCreateMultipart(t *testing.T) {
	c, mt := setup(t)
	rec := &recorder{}
	rec.on(mt, "POST", "/api/cases.json", created(`{"case":{"case_id":1,"attachments":[{"file_id":"9","file_name":"a.txt","file_size":5}]}}`))
	got, err := c.Cases.Create(context.Background(), &CaseCreate{
		Channel: "cch2", UserCustomID: "u-1", Subject: "s", Content: "with files",
		CustomFields: map[string]any{"cf_25": "v"}, Labels: []int64{1, 2},
		Attachments: []Upload{
			{Name: "a.txt", Body: strings.NewReader("hello"), ContentType: "text/plain"},
			{Name: "b.bin", Body: strings.NewReader("\x00\x01")},
		},
	})
	require.NoError(t, err)
	require.Len(t, got.Attachments, 1)
	assert.Equal(t, File{ID: 9, Name: "a.txt", Size: 5}, got.Attachments[0])

	fields, files := rec.last(t).Form(t)
	assert.Equal(t, map[string][]string{
		"case[channel]":              {"cch2"},
		"case[user_custom_id]":       {"u-1"},
		"case[subject]":              {"s"},
		"case[content]":              {"with files"},
		"case[custom_fields][cf_25]": {"v"},
		"case[labels][]":             {"1", "2"},
	}, fields)
	assert.Equal(t, map[string]string{
		"case[attachments][1]|a.txt": "hello",
		"case[attachments][2]|b.bin": "\x00\x01",
	}, files, "attachments are numbered from 1")
}

func TestCasesCreateValidation(t *testing.T) {
	tests := []struct {
		name  string
		in    *CaseCreate
		field string
	}{
		{"nil", nil, "CaseCreate"},
		{"no content", &CaseCreate{Channel: "cch1", UserCustomID: "u"}, "CaseCreate.Content"},
		{"custom id without channel", &CaseCreate{UserCustomID: "u", Content: "x"}, "CaseCreate.Channel"},
		{"custom id on email channel", &CaseCreate{Channel: "email", UserCustomID: "u", Content: "x"}, "CaseCreate.Channel"},
		{"channel cch without number", &CaseCreate{Channel: "cch", UserCustomID: "u", Content: "x"}, "CaseCreate.Channel"},
		{"channel cch12a", &CaseCreate{Channel: "cch12a", UserCustomID: "u", Content: "x"}, "CaseCreate.Channel"},
		{"custom channel without custom id", &CaseCreate{Channel: "cch1", Content: "x"}, "CaseCreate.UserCustomID"},
		{"no identity", &CaseCreate{Content: "x"}, "CaseCreate"},
		{"negative staff", &CaseCreate{UserEmail: "a@b.c", Content: "x", StaffID: -1}, "CaseCreate.StaffID"},
		{"empty attachment", &CaseCreate{UserEmail: "a@b.c", Content: "x", Attachments: []Upload{{Name: "a"}}}, "Attachments[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, mt := setup(t)
			_, err := c.Cases.Create(context.Background(), tt.in)
			var ae *ArgumentError
			require.ErrorAs(t, err, &ae)
			assert.Equal(t, tt.field, ae.Field)
			assert.Zero(t, mt.GetTotalCallCount(), "nothing is sent")
		})
	}
}

func TestCasesGet(t *testing.T) {
	c, mt := setup(t)
	rec := &recorder{}
	rec.on(mt, "GET", "/api/cases/2000.json", ok(`{"case":{"case_id":2000,"subject":"Hi","deleted":"1","spam":0,"labels":null}}`))
	got, err := c.Cases.Get(context.Background(), 2000)
	require.NoError(t, err)
	assert.Equal(t, &Case{ID: 2000, Subject: "Hi", Deleted: true}, got)
	s := rec.last(t)
	assert.Equal(t, "GET", s.Method)
	assert.Empty(t, s.Body)
	assertAuth(t, s)

	_, err = c.Cases.Get(context.Background(), 0)
	assert.ErrorIs(t, err, ErrInvalidArgument)
	_, err = c.Cases.Get(context.Background(), -3)
	assert.ErrorIs(t, err, ErrInvalidArgument)
	assert.Equal(t, 1, mt.GetTotalCallCount())
}

func TestCasesUpdate(t *testing.T) {
	c, mt := setup(t)
	rec := &recorder{}
	rec.on(mt, "PUT", "/api/cases/7.json", ok(`{"case":{"case_id":7,"status":"waiting","staff_id":0,"priority":"high"}}`))
	unassign := int64(0)
	got, err := c.Cases.Update(context.Background(), 7, &CaseUpdate{
		Status: StatusWaiting, Priority: "high", StaffID: &unassign, Labels: []int64{3},
		CustomFields: map[string]any{"cf_1": true},
	})
	require.NoError(t, err)
	assert.Equal(t, StatusWaiting, got.Status)
	s := rec.last(t)
	assert.Equal(t, "PUT", s.Method)
	assert.JSONEq(t, `{"case":{"status":"waiting","priority":"high","staff_id":0,"labels":[3],"custom_fields":{"cf_1":true}}}`, string(s.Body))

	for _, bad := range []*CaseUpdate{nil, {}, {Status: "pending"}} {
		_, err := c.Cases.Update(context.Background(), 7, bad)
		assert.ErrorIs(t, err, ErrInvalidArgument)
	}
	assert.Len(t, rec.all(), 1)
}

func TestCasesListQueryAndDecode(t *testing.T) {
	c, mt := setup(t)
	rec := &recorder{}
	rec.on(mt, "GET", "/api/cases.json", ok(fixture(t, "cases_page.json")))
	got, err := c.Cases.List(context.Background(), &CaseListOptions{
		Page: 2, Limit: 50, UserID: []int64{5654846848}, Status: []CaseStatus{StatusOpen, StatusWaiting},
		Channel: []string{"cch12"}, Sort: "created_at_desc", ShowActiveChats: true,
	})
	require.NoError(t, err)
	s := rec.last(t)
	assert.Equal(t, map[string][]string{
		"page": {"2"}, "limit": {"50"}, "user_id[]": {"5654846848"}, "status[]": {"open", "waiting"},
		"channel[]": {"cch12"}, "sort": {"created_at_desc"}, "show_active_chats": {"true"},
	}, map[string][]string(s.Query))

	assert.Equal(t, 13, got.TotalCount)
	require.Len(t, got.Cases, 3)
	assert.Equal(t, []int64{2000, 2001, 2010}, []int64{got.Cases[0].ID, got.Cases[1].ID, got.Cases[2].ID}, "numeric key order, not lexical")
	first := got.Cases[0]
	assert.Equal(t, "a@b.c", first.CCEmails, "Deskie's recipient_cc")
	assert.Equal(t, int64(125), first.ClosingSpeed)
	assert.Equal(t, []int64{101}, first.Labels)
	assert.Equal(t, "some text", first.CustomFields["cf_25"])
	assert.Equal(t, File{ID: 345, Name: "contract.pdf", Size: 40863, MimeType: "application/pdf", URL: "https://acme.deskie.io/f/345"}, first.Attachments[0])
	assert.Equal(t, []int64{101, 102}, got.Cases[1].Labels, "ids as strings")
	assert.Zero(t, got.Cases[1].ClosingSpeed)
	assert.True(t, got.Cases[2].CreatedAt.IsZero())
}

func TestCasesListShapes(t *testing.T) {
	for body, want := range map[string][]int64{
		`{"total_count":0}`:                      nil,
		`[]`:                                     nil,
		`[{"case":{"case_id":1}},{"case_id":2}]`: {1, 2},
		`{"0":{"case":{"case_id":5}}}`:           {5},
		`{"0":{"case_id":6},"total_count":"1"}`:  {6},
	} {
		c, mt := setup(t)
		rec := &recorder{}
		rec.on(mt, "GET", "/api/cases.json", ok(body))
		got, err := c.Cases.List(context.Background(), nil)
		require.NoError(t, err, body)
		var ids []int64
		for _, cs := range got.Cases {
			ids = append(ids, cs.ID)
		}
		assert.Equal(t, want, ids, body)
		assert.Equal(t, len(want), got.TotalCount, body)
		assert.Empty(t, rec.last(t).Query, "nil options send no query")
	}
}

func TestCasesListValidation(t *testing.T) {
	c, mt := setup(t)
	for _, o := range []*CaseListOptions{{Page: -1}, {Page: 501}, {Limit: 101}, {UserID: []int64{0}}} {
		_, err := c.Cases.List(context.Background(), o)
		assert.ErrorIs(t, err, ErrInvalidArgument)
	}
	assert.Zero(t, mt.GetTotalCallCount())
}

// pageOf renders n cases with ids from first as a numbered-key page.
func pageOf(first, n, total int) string {
	var b strings.Builder
	b.WriteString("{")
	for i := range n {
		fmt.Fprintf(&b, `"%d":{"case":{"case_id":%d}},`, i, first+i)
	}
	fmt.Fprintf(&b, `"total_count":%d}`, total)
	return b.String()
}

func TestCasesAllPagesLazily(t *testing.T) {
	c, mt := setup(t)
	rec := &recorder{}
	rec.on(mt, "GET", "/api/cases.json", ok(pageOf(1, 2, 5)), ok(pageOf(3, 2, 5)), ok(pageOf(5, 1, 5)))
	opt := &CaseListOptions{Limit: 2, Status: []CaseStatus{StatusOpen}}
	var ids []int64
	for cs, err := range c.Cases.All(context.Background(), opt) {
		require.NoError(t, err)
		ids = append(ids, cs.ID)
	}
	assert.Equal(t, []int64{1, 2, 3, 4, 5}, ids)
	reqs := rec.all()
	require.Len(t, reqs, 3)
	for i, r := range reqs {
		assert.Equal(t, fmt.Sprint(i+1), r.Query.Get("page"))
		assert.Equal(t, "2", r.Query.Get("limit"))
		assert.Equal(t, []string{"open"}, r.Query["status[]"])
	}
	assert.Zero(t, opt.Page, "the caller's options are copied, not changed")
}

func TestCasesAllEarlyBreak(t *testing.T) {
	c, mt := setup(t)
	rec := &recorder{}
	rec.on(mt, "GET", "/api/cases.json", ok(pageOf(1, 2, 6)), ok(pageOf(3, 2, 6)), ok(pageOf(5, 2, 6)))
	n := 0
	for _, err := range c.Cases.All(context.Background(), &CaseListOptions{Limit: 2}) {
		require.NoError(t, err)
		n++
		if n == 3 {
			break
		}
	}
	assert.Equal(t, 3, n)
	assert.Len(t, rec.all(), 2, "the third page is never fetched")
}

func TestCasesAllStopsOnError(t *testing.T) {
	c, mt := setup(t, WithMaxRetries(0))
	rec := &recorder{}
	rec.on(mt, "GET", "/api/cases.json", ok(pageOf(1, 2, 6)), reply{status: 500, body: `{"error":"oops"}`})
	var ids []int64
	var gotErr error
	for cs, err := range c.Cases.All(context.Background(), &CaseListOptions{Limit: 2}) {
		if err != nil {
			gotErr = err
			continue
		}
		ids = append(ids, cs.ID)
	}
	assert.Equal(t, []int64{1, 2}, ids)
	var apiErr *APIError
	require.ErrorAs(t, gotErr, &apiErr)
	assert.Equal(t, "oops", apiErr.Code)
}

func TestCasesAllPastTheCeiling(t *testing.T) {
	c, mt := setup(t)
	rec := &recorder{}
	rec.on(mt, "GET", "/api/cases.json", ok(pageOf(1, 100, 60000)))
	n := 0
	var gotErr error
	for _, err := range c.Cases.All(context.Background(), &CaseListOptions{Page: 499}) {
		if err != nil {
			gotErr = err
			break
		}
		n++
	}
	assert.Equal(t, 200, n, "pages 499 and 500")
	assert.ErrorIs(t, gotErr, ErrTooManyResults)
	assert.Len(t, rec.all(), 2)
}

func TestCasesAllCancelled(t *testing.T) {
	c, mt := setup(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var gotErr error
	for _, err := range c.Cases.All(ctx, nil) {
		gotErr = err
	}
	assert.ErrorIs(t, gotErr, context.Canceled)
	assert.Zero(t, mt.GetTotalCallCount())
}

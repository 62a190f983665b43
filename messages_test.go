package deskie

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMessagesCreate(t *testing.T) {
	tests := []struct {
		name string
		in   *MessageCreate
		body string
	}{
		{"as the customer", &MessageCreate{UserID: 5654846848, Content: "thanks"}, `{"message":{"user_id":5654846848,"content":"thanks"}}`},
		{"as an agent", &MessageCreate{StaffID: 22, ContentHTML: "<p>hi</p>", AttachmentURLs: []string{"https://x/y.png"}},
			`{"message":{"staff_id":22,"content_html":"<p>hi</p>","attachment_urls":["https://x/y.png"]}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, mt := setup(t)
			rec := &recorder{}
			rec.on(mt, "POST", "/api/cases/2000/messages.json", created(`{"message":{"message_id":"42577887","user_id":5654846848,
				"staff_id":0,"content":"thanks","note":"0","sent_via_rule":false,"created_at":"Mon, 05 May 2014 00:15:17 +0300"}}`))
			got, err := c.Messages.Create(context.Background(), 2000, tt.in)
			require.NoError(t, err)
			s := rec.last(t)
			assert.Equal(t, "POST", s.Method)
			assertAuth(t, s)
			assert.JSONEq(t, tt.body, string(s.Body))
			assert.Equal(t, int64(42577887), got.ID)
			assert.Equal(t, int64(5654846848), got.UserID)
			assert.False(t, got.Note)
			assert.Equal(t, 2014, got.CreatedAt.Year())
		})
	}
}

func TestMessagesCreateMultipart(t *testing.T) {
	c, mt := setup(t)
	rec := &recorder{}
	rec.on(mt, "POST", "/api/cases/9/messages.json", created(`{"message":{"message_id":1}}`))
	_, err := c.Messages.Create(context.Background(), 9, &MessageCreate{UserID: 3, Content: "see file",
		Attachments: []Upload{{Name: "shot.png", Body: strings.NewReader("PNG"), ContentType: "image/png"}}})
	require.NoError(t, err)
	fields, files := rec.last(t).Form(t)
	assert.Equal(t, map[string][]string{"message[user_id]": {"3"}, "message[content]": {"see file"}}, fields)
	assert.Equal(t, map[string]string{"message[attachments][1]|shot.png": "PNG"}, files)
}

func TestMessagesCreateValidation(t *testing.T) {
	c, mt := setup(t)
	for name, in := range map[string]*MessageCreate{
		"nil":      nil,
		"neither":  {Content: "x"},
		"both":     {UserID: 1, StaffID: 2, Content: "x"},
		"negative": {UserID: -1, Content: "x"},
		"empty":    {UserID: 1, Content: "  "},
	} {
		_, err := c.Messages.Create(context.Background(), 1, in)
		var ae *ArgumentError
		require.ErrorAs(t, err, &ae, name)
		assert.Contains(t, ae.Field, "MessageCreate", name)
	}
	_, err := c.Messages.Create(context.Background(), 0, &MessageCreate{UserID: 1, Content: "x"})
	assert.ErrorIs(t, err, ErrInvalidArgument)
	assert.Zero(t, mt.GetTotalCallCount())
}

func TestMessagesCreateOnClosedCase(t *testing.T) {
	c, mt := setup(t)
	rec := &recorder{}
	rec.on(mt, "POST", "/api/cases/9/messages.json", reply{status: 404, body: `{"error":"case_not_found"}`})
	_, err := c.Messages.Create(context.Background(), 9, &MessageCreate{UserID: 1, Content: "x"})
	assert.True(t, IsNotFound(err))
	assert.NotErrorIs(t, err, ErrAmbiguous, "a 4xx was not applied")
	assert.Len(t, rec.all(), 1)
}

func TestMessagesList(t *testing.T) {
	c, mt := setup(t)
	rec := &recorder{}
	rec.on(mt, "GET", "/api/cases/9/messages.json", ok(`{"0":{"message":{"message_id":1,"user_id":3,"content":"a"}},
		"1":{"message":{"message_id":2,"staff_id":22,"content":"b","note":true,"attachments":[{"file_id":1,"url":"u"}]}},"total_count":2}`))
	got, err := c.Messages.List(context.Background(), 9, &MessageListOptions{Page: 1, Limit: 10, Order: "desc"})
	require.NoError(t, err)
	assert.Equal(t, map[string][]string{"page": {"1"}, "limit": {"10"}, "order": {"desc"}}, map[string][]string(rec.last(t).Query))
	assert.Equal(t, 2, got.TotalCount)
	assert.Equal(t, []*Message{
		{ID: 1, UserID: 3, Content: "a"},
		{ID: 2, StaffID: 22, Content: "b", Note: true, Attachments: []File{{ID: 1, URL: "u"}}},
	}, got.Messages)

	_, err = c.Messages.List(context.Background(), 9, &MessageListOptions{Order: "newest"})
	assert.ErrorIs(t, err, ErrInvalidArgument)

	var n int
	for m, err := range c.Messages.All(context.Background(), 9, nil) {
		require.NoError(t, err)
		assert.NotZero(t, m.ID)
		n++
	}
	assert.Equal(t, 2, n)
}

package deskie_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/deskie-go/deskie"
	"github.com/deskie-go/deskie/deskietest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestE2EEveryEndpoint drives each wrapped endpoint against the fake, so the
// SDK's encoding and the fake's independent decoding must agree.
func TestE2EEveryEndpoint(t *testing.T) {
	hookClient := &http.Client{Timeout: 5 * time.Second}
	clock := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	srv := deskietest.NewServer(deskietest.WithWebhookClient(hookClient), deskietest.WithRequestLog(4),
		deskietest.WithClock(func() time.Time { return clock }), deskietest.WithCredentials("me@acme.example", "k-123"))
	defer srv.Close()
	mail := srv.AddChannel("Mail-like", deskietest.ChannelAsync, "")
	chat := srv.AddChannel("Chat-like", deskietest.ChannelSync, "")
	require.NoError(t, srv.SetWebhookURL(chat, ""))
	c, err := deskie.NewClient("", "me@acme.example", "k-123", deskie.WithBaseURL(srv.URL))
	require.NoError(t, err)
	ctx := context.Background()

	// channels
	chans, err := c.Channels.List(ctx)
	require.NoError(t, err)
	require.Len(t, chans, 2)
	assert.Equal(t, deskie.CustomChannel{ID: 2, Code: chat, Title: "Chat-like", Type: deskie.ChannelSync, Icon: "fa-bullhorn", Active: true}, *chans[1])
	assert.Len(t, srv.Channels(), 2)

	// cases: JSON and multipart, with files by URL
	created, err := c.Cases.Create(ctx, &deskie.CaseCreate{Channel: mail, UserCustomID: "u-1", UserFullName: "Ann", UserPhone: "+100",
		Subject: "Hello", Content: "first", Labels: []int64{3}, CustomFields: map[string]any{"cf_1": "x"},
		AttachmentURLs: []string{"https://files.example/a.png"}})
	require.NoError(t, err)
	assert.Equal(t, deskie.StatusOpen, created.Status)
	assert.Equal(t, []int64{3}, created.Labels)
	assert.True(t, created.CreatedAt.Equal(clock))
	assert.True(t, created.ClosedAt.IsZero())
	withFile, err := c.Cases.Create(ctx, &deskie.CaseCreate{Channel: mail, UserCustomID: "u-1", Content: "with a file",
		Attachments: []deskie.Upload{{Name: "log.txt", Body: strings.NewReader("lines"), ContentType: "text/plain"}}})
	require.NoError(t, err)
	assert.Equal(t, created.UserID, withFile.UserID, "same custom id, same user")
	msgs := srv.Messages(withFile.ID)
	require.Len(t, msgs, 1)
	assert.Equal(t, deskietest.File{ID: msgs[0].Attachments[0].ID, Name: "log.txt", Size: 5, MimeType: "text/plain", URL: msgs[0].Attachments[0].URL}, msgs[0].Attachments[0])

	// update, then get
	staff := int64(22)
	updated, err := c.Cases.Update(ctx, created.ID, &deskie.CaseUpdate{Status: deskie.StatusClosed, StaffID: &staff, Priority: "high",
		Labels: []int64{4}, CustomFields: map[string]any{"cf_2": "y"}, Subject: "Renamed"})
	require.NoError(t, err)
	assert.Equal(t, deskie.StatusClosed, updated.Status)
	assert.False(t, updated.ClosedAt.IsZero())
	got, err := c.Cases.Get(ctx, created.ID)
	require.NoError(t, err)
	assert.Equal(t, updated, got)
	assert.Equal(t, map[string]any{"cf_1": "x", "cf_2": "y"}, got.CustomFields)
	_, err = c.Cases.Update(ctx, 99999, &deskie.CaseUpdate{Priority: "low"})
	assert.True(t, deskie.IsNotFound(err))

	// messages: as the customer, as an agent, multipart; list in both orders
	_, err = c.Messages.Create(ctx, withFile.ID, &deskie.MessageCreate{UserID: withFile.UserID, Content: "customer"})
	require.NoError(t, err)
	agentMsg, err := c.Messages.Create(ctx, withFile.ID, &deskie.MessageCreate{StaffID: 22, ContentHTML: "<p>agent</p>",
		Attachments: []deskie.Upload{{Name: "a.pdf", Body: strings.NewReader("%PDF")}}})
	require.NoError(t, err)
	require.Len(t, agentMsg.Attachments, 1)
	assert.Equal(t, "a.pdf", agentMsg.Attachments[0].Name)
	list, err := c.Messages.List(ctx, withFile.ID, &deskie.MessageListOptions{Order: "desc", Limit: 2})
	require.NoError(t, err)
	assert.Equal(t, 3, list.TotalCount)
	assert.Equal(t, "<p>agent</p>", list.Messages[0].ContentHTML)
	_, err = c.Messages.Create(ctx, created.ID, &deskie.MessageCreate{UserID: created.UserID, Content: "too late"})
	var apiErr *deskie.APIError
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, "case_closed", apiErr.Code)
	_, err = c.Messages.List(ctx, 99999, nil)
	assert.True(t, deskie.IsNotFound(err))

	// users
	u, err := c.Users.Get(ctx, created.UserID)
	require.NoError(t, err)
	assert.Equal(t, "u-1", u.CustomID)
	assert.Equal(t, mail, u.CustomChannel)
	assert.Len(t, u.LinkedUsers, 1, "the phone given on create was linked")
	found, err := c.Users.FindByCustomID(ctx, mail, "u-1")
	require.NoError(t, err)
	assert.Equal(t, u.ID, found.ID)
	none, err := c.Users.FindByCustomID(ctx, chat, "u-1")
	require.NoError(t, err)
	assert.Nil(t, none, "custom ids are per channel")
	made, err := c.Users.Create(ctx, &deskie.UserCreate{CustomID: "u-2", CustomChannel: chat, FullName: "Bo"})
	require.NoError(t, err)
	linked, err := c.Users.Link(ctx, made.ID, &deskie.UserLink{Email: "bo@example.com"})
	require.NoError(t, err)
	assert.Len(t, linked.LinkedUsers, 1)
	_, err = c.Users.Create(ctx, &deskie.UserCreate{Email: "bo@example.com"})
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, "email_already_exist", apiErr.Code)
	n := 0
	for range c.Users.All(ctx, &deskie.UserListOptions{Limit: 1}) {
		n++
	}
	assert.Equal(t, len(srv.Users()), n)
	_, err = c.Users.Get(ctx, 1)
	assert.True(t, deskie.IsNotFound(err))

	// request log keeps the latest entries only
	assert.LessOrEqual(t, len(srv.Requests()), 4)
}

func TestE2ELastChatSkipsDeletedAndSpam(t *testing.T) {
	srv := deskietest.NewServer()
	defer srv.Close()
	ch := srv.AddChannel("Chat", deskietest.ChannelSync, "")
	ids, err := srv.SeedCases(ch, "u", 3)
	require.NoError(t, err)
	require.NoError(t, srv.SetDeleted(ids[2], true))
	require.NoError(t, srv.SetSpam(ids[1], true))
	c, err := deskie.NewClient("", srv.StaffEmail(), srv.APIKey(), deskie.WithBaseURL(srv.URL))
	require.NoError(t, err)
	user, ok := srv.UserByCustomID(ch, "u")
	require.True(t, ok)

	last, err := c.Chats.LastChatIn(context.Background(), user.ID, ch)
	require.NoError(t, err)
	require.NotNil(t, last)
	assert.Equal(t, ids[0], last.ID)

	// the plain list leaves active chats out; show_active_chats brings them in
	plain, err := c.Cases.List(context.Background(), &deskie.CaseListOptions{UserID: []int64{user.ID}})
	require.NoError(t, err)
	assert.Zero(t, plain.TotalCount)

	_, err = srv.SeedCases("cch9", "u", 1)
	assert.ErrorIs(t, err, deskietest.ErrNotFound)
}

func TestE2EWrongCredentials(t *testing.T) {
	srv := deskietest.NewServer()
	defer srv.Close()
	for _, tc := range []struct {
		email, key string
		status     int
	}{{srv.StaffEmail(), "bad-key-123", 401}, {"other@example.com", srv.APIKey(), 403}} {
		c, err := deskie.NewClient("", tc.email, tc.key, deskie.WithBaseURL(srv.URL))
		require.NoError(t, err)
		_, err = c.Channels.List(context.Background())
		var apiErr *deskie.APIError
		require.ErrorAs(t, err, &apiErr)
		assert.Equal(t, tc.status, apiErr.StatusCode)
		assert.NotContains(t, err.Error(), tc.key)
		assert.False(t, errors.Is(err, deskie.ErrAmbiguous))
	}
}

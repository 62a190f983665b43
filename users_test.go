package deskie

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const userJSON = `{"user":{"user_id":5654846848,"user_full_name":"Alice","user_custom_id":"u-42","user_custom_channel":"cch12",
	"type":"custom","confirmed":false,"active":true,"deleted":false,"created_at":"Mon, 05 May 2014 00:15:17 +0300",
	"last_contact_at":"-","linked_users":["123",456],"custom_fields":{"cf_20":"x"}}}`

func TestUsersGet(t *testing.T) {
	c, mt := setup(t)
	rec := &recorder{}
	rec.on(mt, "GET", "/api/users/5654846848.json", ok(userJSON))
	u, err := c.Users.Get(context.Background(), 5654846848)
	require.NoError(t, err)
	assertAuth(t, rec.last(t))
	assert.Equal(t, int64(5654846848), u.ID)
	assert.Equal(t, "u-42", u.CustomID)
	assert.Equal(t, "cch12", u.CustomChannel)
	assert.True(t, u.Active)
	assert.True(t, u.LastContactAt.IsZero())
	assert.Equal(t, []int64{123, 456}, u.LinkedUsers)
}

func TestUsersCreate(t *testing.T) {
	c, mt := setup(t)
	rec := &recorder{}
	rec.on(mt, "POST", "/api/users.json", created(userJSON))
	u, err := c.Users.Create(context.Background(), &UserCreate{CustomID: "u-42", CustomChannel: "cch12", FullName: "Alice"})
	require.NoError(t, err)
	assert.Equal(t, int64(5654846848), u.ID)
	assert.JSONEq(t, `{"user":{"user_custom_id":"u-42","user_custom_channel":"cch12","user_full_name":"Alice"}}`, string(rec.last(t).Body))

	for _, bad := range []*UserCreate{nil, {}, {CustomID: "u"}, {CustomChannel: "cch1"}, {CustomID: "u", CustomChannel: "web"}} {
		_, err := c.Users.Create(context.Background(), bad)
		assert.ErrorIs(t, err, ErrInvalidArgument)
	}
	assert.Len(t, rec.all(), 1)
}

func TestUsersList(t *testing.T) {
	c, mt := setup(t)
	rec := &recorder{}
	rec.on(mt, "GET", "/api/users.json", ok(`{"0":{"user":{"user_id":1,"user_email":"a@b.c"}},"total_count":1}`))
	l, err := c.Users.List(context.Background(), &UserListOptions{Email: "^a@b.c^", Phone: "+100", Page: 1, Limit: 5, AmountOfCases: true})
	require.NoError(t, err)
	assert.Equal(t, map[string][]string{"user_email": {"^a@b.c^"}, "user_phone": {"+100"}, "page": {"1"}, "limit": {"5"}, "amount_of_cases": {"true"}},
		map[string][]string(rec.last(t).Query))
	require.Len(t, l.Users, 1)
	assert.Equal(t, "a@b.c", l.Users[0].Email)
	n := 0
	for range c.Users.All(context.Background(), nil) {
		n++
	}
	assert.Equal(t, 1, n)
}

func TestUsersFindByCustomID(t *testing.T) {
	t.Run("anchored query finds the exact user", func(t *testing.T) {
		c, mt := setup(t)
		rec := &recorder{}
		rec.on(mt, "GET", "/api/users.json", ok(`{"0":{"user":{"user_id":9,"user_custom_id":"u-42","user_custom_channel":"cch12"}},"total_count":1}`))
		u, err := c.Users.FindByCustomID(context.Background(), "cch12", "u-42")
		require.NoError(t, err)
		require.NotNil(t, u)
		assert.Equal(t, int64(9), u.ID)
		reqs := rec.all()
		require.Len(t, reqs, 1)
		assert.Equal(t, "^u-42^", reqs[0].Query.Get("user_custom_id"))
		assert.Equal(t, "cch12", reqs[0].Query.Get("user_custom_channel"))
	})
	t.Run("falls back to a plain query and filters substrings out", func(t *testing.T) {
		c, mt := setup(t)
		rec := &recorder{}
		rec.on(mt, "GET", "/api/users.json", ok(`{"total_count":0}`),
			ok(`[{"user":{"user_id":8,"user_custom_id":"u-420","user_custom_channel":"cch12"}},{"user":{"user_id":9,"user_custom_id":"u-42","user_custom_channel":"cch12"}}]`))
		u, err := c.Users.FindByCustomID(context.Background(), "cch12", "u-42")
		require.NoError(t, err)
		require.NotNil(t, u)
		assert.Equal(t, int64(9), u.ID)
		reqs := rec.all()
		require.Len(t, reqs, 2)
		assert.Equal(t, "u-42", reqs[1].Query.Get("user_custom_id"))
	})
	t.Run("none", func(t *testing.T) {
		c, mt := setup(t)
		rec := &recorder{}
		rec.on(mt, "GET", "/api/users.json", ok(`{"0":{"user":{"user_id":8,"user_custom_id":"u-420"}},"total_count":1}`))
		u, err := c.Users.FindByCustomID(context.Background(), "cch12", "u-42")
		require.NoError(t, err)
		assert.Nil(t, u)
	})
	t.Run("bad input", func(t *testing.T) {
		c, mt := setup(t)
		_, err := c.Users.FindByCustomID(context.Background(), "web", "u")
		assert.ErrorIs(t, err, ErrInvalidArgument)
		_, err = c.Users.FindByCustomID(context.Background(), "cch1", "")
		assert.ErrorIs(t, err, ErrInvalidArgument)
		assert.Zero(t, mt.GetTotalCallCount())
	})
}

func TestUsersLink(t *testing.T) {
	c, mt := setup(t)
	rec := &recorder{}
	rec.on(mt, "PUT", "/api/users/9/link.json", ok(`{"user":{"user_id":9,"linked_users":[10]}}`))
	u, err := c.Users.Link(context.Background(), 9, &UserLink{Email: "alice@example.com"})
	require.NoError(t, err)
	assert.Equal(t, []int64{10}, u.LinkedUsers)
	s := rec.last(t)
	assert.Equal(t, "PUT", s.Method)
	assert.JSONEq(t, `{"user_email":"alice@example.com"}`, string(s.Body))

	for _, bad := range []*UserLink{nil, {}, {Email: "a@b.c", Phone: "1"}, {UserID: -1}} {
		_, err := c.Users.Link(context.Background(), 9, bad)
		assert.ErrorIs(t, err, ErrInvalidArgument)
	}
	assert.Len(t, rec.all(), 1)
}

func TestAnswersWithoutTheirObject(t *testing.T) {
	c, mt := setup(t)
	rec := &recorder{}
	rec.on(mt, "GET", "/api/users/9.json", ok(`{"users":[]}`))
	rec.on(mt, "POST", "/api/cases/9/messages.json", created(`{}`))
	_, err := c.Users.Get(context.Background(), 9)
	var de *DecodeError
	require.ErrorAs(t, err, &de)
	assert.Equal(t, "/api/users/9.json", de.Path)
	assert.Contains(t, err.Error(), `no "user" object`)
	_, err = c.Messages.Create(context.Background(), 9, &MessageCreate{UserID: 1, Content: "x"})
	require.ErrorAs(t, err, &de)
	assert.Contains(t, err.Error(), `no "message" object`)
	_, err = c.Users.Get(context.Background(), 9)
	assert.NotErrorIs(t, err, ErrAmbiguous)
}

package deskietest

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAddUser(t *testing.T) {
	s := Start(t)
	s.AddChannel("App", ChannelAsync, "")
	id, err := s.AddUser("cch1", "app-42", UserName("Ann"), UserEmail("ann@example.com"), UserPhone("+100"))
	require.NoError(t, err)
	u, ok := s.UserByCustomID("cch1", "app-42")
	require.True(t, ok)
	assert.Equal(t, id, u.ID)
	assert.Equal(t, "Ann", u.FullName)
	assert.Len(t, u.Linked, 1, "one profile holds the e-mail and the phone")

	// a case for that customer goes to the same user
	_, out, _ := call(t, s, "POST", "/api/cases.json", `{"case":{"channel":"cch1","user_custom_id":"app-42","content":"hi"}}`)
	assert.Equal(t, float64(id), inner(t, out, "case")["user_id"])
	status, out, _ := call(t, s, "GET", "/api/users/"+itoa(id)+".json", "")
	require.Equal(t, 200, status)
	assert.Equal(t, "app-42", inner(t, out, "user")["user_custom_id"])

	_, err = s.AddUser("cch1", "app-42")
	assert.ErrorIs(t, err, ErrExists)
	_, err = s.AddUser("cch9", "x")
	assert.ErrorIs(t, err, ErrNotFound)
	_, err = s.AddUser("cch1", "")
	assert.Error(t, err)
	bare, err := s.AddUser("cch1", "bare")
	require.NoError(t, err)
	assert.Greater(t, bare, id)
}

func TestReset(t *testing.T) {
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	defer hook.Close()
	s := Start(t, WithCredentials("a@b.c", "k"))
	ch := s.AddChannel("App", ChannelSync, hook.URL)
	ids, err := s.SeedCases(ch, "u", 3)
	require.NoError(t, err)
	_, err = s.AgentReply(ids[0], 1, "x")
	require.NoError(t, err)
	require.NoError(t, s.MergeCases(ids[2], ids[1]))
	s.Fail("GET", 5, FaultServerError)
	call(t, s, "GET", "/api/custom_channels.json", "")

	s.Reset()
	assert.Empty(t, s.Cases())
	assert.Empty(t, s.Users())
	assert.Empty(t, s.AllMessages())
	assert.Empty(t, s.Deliveries())
	assert.Empty(t, s.PendingFaults())
	assert.Empty(t, s.Requests())
	_, merged := s.MergedInto(ids[2])
	assert.False(t, merged)
	assert.Len(t, s.Channels(), 1, "channels stay")
	assert.Equal(t, "a@b.c", s.StaffEmail(), "credentials stay")

	again, err := s.SeedCases(ch, "u", 1)
	require.NoError(t, err)
	assert.Greater(t, again[0], ids[2], "ids are not reused")
	status, _, _ := call(t, s, "GET", "/api/cases.json?show_active_chats=1", "")
	assert.Equal(t, 200, status)
	msgID, err := s.AgentReply(again[0], 1, "y")
	require.NoError(t, err)
	ds := s.Deliveries()
	require.Len(t, ds, 1)
	assert.Equal(t, msgID, ds[0].MessageID)
	assert.Equal(t, 1, ds[0].Attempt)
}

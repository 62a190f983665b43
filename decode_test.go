package deskie

import (
	"context"
	"encoding/json"
	"iter"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDecodeEdgeCases(t *testing.T) {
	msk := time.FixedZone("", 3*3600)
	tests := []struct {
		name string
		json string
		want Case
	}{
		{"id as string", `{"case_id":"2000"}`, Case{ID: 2000}},
		{"id above 2^31", `{"user_id":5654846848}`, Case{UserID: 5654846848}},
		{"id as float text", `{"user_id":"12.0"}`, Case{UserID: 12}},
		{"id null", `{"user_id":null}`, Case{}},
		{"id dash", `{"staff_id":"-"}`, Case{}},
		{"date RFC1123Z", `{"created_at":"Mon, 05 May 2014 00:15:17 +0300"}`, Case{CreatedAt: time.Date(2014, 5, 5, 0, 15, 17, 0, msk)}},
		{"date dash", `{"closed_at":"-"}`, Case{}},
		{"date empty", `{"closed_at":""}`, Case{}},
		{"date null", `{"closed_at":null}`, Case{}},
		{"date RFC3339", `{"updated_at":"2024-06-12T10:00:00Z"}`, Case{UpdatedAt: time.Date(2024, 6, 12, 10, 0, 0, 0, time.UTC)}},
		{"bool as 0/1", `{"deleted":1,"spam":"0"}`, Case{Deleted: true}},
		{"bool as text", `{"deleted":"true","spam":"false"}`, Case{Deleted: true}},
		{"labels mixed", `{"labels":["1",2]}`, Case{Labels: []int64{1, 2}}},
		{"labels empty string", `{"labels":""}`, Case{}},
		{"subject as number", `{"subject":404}`, Case{Subject: "404"}},
		{"unknown fields ignored", `{"case_id":1,"brand_new":{"a":[1,2]}}`, Case{ID: 1}},
		{"cc alias", `{"recipient_cc":"a@b","recipient_bcc":"c@d"}`, Case{CCEmails: "a@b", BCCEmails: "c@d"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got Case
			require.NoError(t, json.Unmarshal([]byte(tt.json), &got))
			if !tt.want.CreatedAt.IsZero() || !tt.want.UpdatedAt.IsZero() {
				assert.True(t, tt.want.CreatedAt.Equal(got.CreatedAt) && tt.want.UpdatedAt.Equal(got.UpdatedAt), "%v %v", got.CreatedAt, got.UpdatedAt)
				got.CreatedAt, got.UpdatedAt = tt.want.CreatedAt, tt.want.UpdatedAt
			}
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestDecodeRejectsGarbage(t *testing.T) {
	for _, bad := range []string{`{"case_id":"abc"}`, `{"created_at":"yesterday"}`, `{"deleted":"maybe"}`, `{"labels":{"a":1}}`, `{"case_id":1.5}`, `{"subject":{}}`} {
		var c Case
		assert.Error(t, json.Unmarshal([]byte(bad), &c), bad)
	}
}

func TestDecodeListErrors(t *testing.T) {
	for _, bad := range []string{`{"0":{"case":{"case_id":"x"}}}`, `[1]`, `{"total_count":"many"}`, `"str"`} {
		_, _, err := decodeList[Case]([]byte(bad), "case")
		assert.Error(t, err, bad)
	}
	items, total, err := decodeList[Case]([]byte(`{"0":{"case":{"case_id":1}},"page":1}`), "case")
	require.NoError(t, err)
	assert.Len(t, items, 1)
	assert.Equal(t, -1, total, "unknown total")
}

func TestDecodeMoreForms(t *testing.T) {
	var c Case
	require.NoError(t, json.Unmarshal([]byte(`{"subject":"a \"quoted\" \u00e9","created_at":1700000000,"updated_at":0,"closed_at":"0"}`), &c))
	assert.Equal(t, `a "quoted" é`, c.Subject)
	assert.Equal(t, int64(1700000000), c.CreatedAt.Unix(), "a Unix timestamp")
	assert.True(t, c.UpdatedAt.IsZero())
	assert.True(t, c.ClosedAt.IsZero())
	assert.Error(t, json.Unmarshal([]byte(`{"created_at":true}`), &c))
}

func TestMultipartFormValues(t *testing.T) {
	body, err := multipartBody("case", map[string]any{"flag": true, "off": false, "nested": map[string]any{"a": map[string]any{"b": 1}}, "none": nil}, nil)
	require.NoError(t, err)
	s := sent{Header: map[string][]string{"Content-Type": {body.contentType}}, Body: body.data}
	fields, files := s.Form(t)
	assert.Empty(t, files)
	assert.Equal(t, map[string][]string{"case[flag]": {"1"}, "case[off]": {"0"}, "case[nested][a][b]": {"1"}}, fields)
}

// FuzzDecodeList feeds arbitrary answers to the list decoder of each resource:
// whatever the body, it returns items or an error, never panics, and never a
// nil item.
func FuzzDecodeList(f *testing.F) {
	page, err := os.ReadFile("testdata/cases_page.json")
	require.NoError(f, err)
	f.Add(page, uint8(0))
	f.Add([]byte(`[{"message":{"message_id":"1","created_at":"-"}}]`), uint8(1))
	f.Add([]byte(`{"0":{"user":{"user_id":1,"custom_user_id":"u"}},"total_count":"1"}`), uint8(2))
	f.Add([]byte(`{"total_count":0}`), uint8(0))
	f.Add([]byte(`{"1":{"case":{"labels":"1,2","created_at":"Mon, 02 Jan 2006 15:04:05 +0300"}},"x":[]}`), uint8(0))
	f.Fuzz(func(t *testing.T, body []byte, kind uint8) {
		switch kind % 3 {
		case 0:
			checkDecodedList[Case](t, body, "case")
		case 1:
			checkDecodedList[Message](t, body, "message")
		default:
			checkDecodedList[User](t, body, "user")
		}
	})
}

func checkDecodedList[T any](t *testing.T, body []byte, root string) {
	items, _, err := decodeList[T](body, root)
	if err != nil {
		return
	}
	for i, item := range items {
		if item == nil {
			t.Fatalf("item %d of %q decoded to nil", i, body)
		}
	}
}

// TestAllWithoutTotalCount walks every resource's All over answers sent as bare
// arrays (no total_count): a full page means "read on", a short one ends the walk.
// Users.All and Messages.All once took a page's length for the total and stopped
// after the first page.
func TestAllWithoutTotalCount(t *testing.T) {
	tests := []struct {
		name, path, root string
		walk             func(c *Client) (int, error)
	}{
		{"cases", "/api/cases.json", "case", func(c *Client) (int, error) {
			return count(c.Cases.All(context.Background(), &CaseListOptions{Limit: 2}))
		}},
		{"users", "/api/users.json", "user", func(c *Client) (int, error) {
			return count(c.Users.All(context.Background(), &UserListOptions{Limit: 2}))
		}},
		{"messages", "/api/cases/9/messages.json", "message", func(c *Client) (int, error) {
			return count(c.Messages.All(context.Background(), 9, &MessageListOptions{Limit: 2}))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, mt := setup(t)
			rec := &recorder{}
			item := `{"` + tt.root + `":{}}`
			rec.on(mt, "GET", tt.path, ok("["+item+","+item+"]"), ok("["+item+"]"))
			n, err := tt.walk(c)
			require.NoError(t, err)
			assert.Equal(t, 3, n)
			reqs := rec.all()
			require.Len(t, reqs, 2)
			assert.Equal(t, "1", reqs[0].Query.Get("page"))
			assert.Equal(t, "2", reqs[1].Query.Get("page"))
			assert.Equal(t, "2", reqs[1].Query.Get("limit"))
		})
	}
}

func count[T any](seq iter.Seq2[T, error]) (int, error) {
	n := 0
	for _, err := range seq {
		if err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

func TestAllRejectsBadOptionsBeforeSending(t *testing.T) {
	c, mt := setup(t)
	ctx := context.Background()
	for name, seq := range map[string]func() (int, error){
		"cases page":     func() (int, error) { return count(c.Cases.All(ctx, &CaseListOptions{Page: -1})) },
		"users limit":    func() (int, error) { return count(c.Users.All(ctx, &UserListOptions{Limit: 101})) },
		"messages case":  func() (int, error) { return count(c.Messages.All(ctx, 0, nil)) },
		"messages order": func() (int, error) { return count(c.Messages.All(ctx, 9, &MessageListOptions{Order: "newest"})) },
	} {
		t.Run(name, func(t *testing.T) {
			n, err := seq()
			require.ErrorIs(t, err, ErrInvalidArgument)
			assert.Zero(t, n)
		})
	}
	assert.Zero(t, mt.GetTotalCallCount(), "nothing is sent")
}

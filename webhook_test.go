package deskie

import (
	"bytes"
	"context"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const hookToken = "wh-T0ken-s3cret"

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile("testdata/webhook/" + name)
	require.NoError(t, err)
	return data
}

func delivery(target, contentType string, body []byte) *http.Request {
	r := httptest.NewRequest(http.MethodPost, target, bytes.NewReader(body))
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	return r
}

func multipartDelivery(t testing.TB, target string, fields map[string]string) *http.Request {
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for k, v := range fields {
		require.NoError(t, w.WriteField(k, v))
	}
	require.NoError(t, w.Close())
	return delivery(target, w.FormDataContentType(), buf.Bytes())
}

var wantReply = &AgentReply{
	Type: "message_new", MessageID: 42577887, CaseID: 985687, StaffID: 7235, UserID: 5654846848,
	UserCustomID: "tg-100500", Content: "Help is coming!",
	Attachments: []File{{URL: "https://acme.deskie.io/f/1"}},
	Extra:       map[string]string{"brand_new": "kept"},
}

func TestParseWebhookEncodings(t *testing.T) {
	jsonWant := *wantReply
	jsonWant.Attachments = []File{{URL: "https://acme.deskie.io/f/1", ID: 3, Name: "a.pdf", Size: 10, MimeType: "application/pdf"}}
	jsonWant.Extra = map[string]string{"brand_new": "kept", "nested[a]": "1"}

	form := readFixture(t, "reply.form")
	values, err := url.ParseQuery(string(form))
	require.NoError(t, err)
	fields := map[string]string{}
	for k, v := range values {
		fields[k] = v[0]
	}

	tests := []struct {
		name string
		req  *http.Request
		want *AgentReply
	}{
		{"form", delivery("/hook", "application/x-www-form-urlencoded", form), wantReply},
		{"form with charset and odd case", delivery("/hook", "Application/X-WWW-Form-URLEncoded; charset=UTF-8", form), wantReply},
		{"form without content type", delivery("/hook", "", form), wantReply},
		{"multipart", multipartDelivery(t, "/hook", fields), wantReply},
		{"json", delivery("/hook", "application/json; charset=utf-8", readFixture(t, "reply.json")), &jsonWant},
		{"bare fields", delivery("/hook", "application/x-www-form-urlencoded", readFixture(t, "bare.form")), &AgentReply{
			Type: "message_new", MessageID: 7, CaseID: 8, StaffID: 9, UserID: 10, UserCustomID: "u-1",
			Content: "bare", SentViaRule: true, FromAPI: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseWebhook(tt.req)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestParseWebhookErrors(t *testing.T) {
	tests := []struct {
		name string
		req  *http.Request
		want error
		says string
	}{
		{"bad id", delivery("/", "application/x-www-form-urlencoded", []byte("object[message_id]=abc")), ErrMalformedWebhook, "message_id"},
		{"negative id", delivery("/", "application/x-www-form-urlencoded", []byte("object[case_id]=-4")), ErrMalformedWebhook, "case_id"},
		{"bad bool", delivery("/", "application/x-www-form-urlencoded", []byte("object[message_id]=1&object[note]=perhaps")), ErrMalformedWebhook, "note"},
		{"bad escape", delivery("/", "application/x-www-form-urlencoded", []byte("object[content]=%zz")), ErrMalformedWebhook, ""},
		{"broken json", delivery("/", "application/json", []byte(`{"type":`)), ErrMalformedWebhook, ""},
		{"empty", delivery("/", "application/x-www-form-urlencoded", nil), ErrMalformedWebhook, "no fields"},
		{"huge attachment index", delivery("/", "application/x-www-form-urlencoded", []byte("object[attachments][99999999][url]=x")), ErrMalformedWebhook, "attachment index"},
		{"xml", delivery("/", "application/xml", []byte("<a/>")), ErrUnsupportedMediaType, "xml"},
		{"multipart without boundary", delivery("/", "multipart/form-data", []byte("x")), ErrMalformedWebhook, "boundary"},
		{"too large", delivery("/", "application/x-www-form-urlencoded", bytes.Repeat([]byte("a"), defaultMaxWebhookBytes+1)), ErrWebhookTooLarge, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseWebhook(tt.req)
			require.ErrorIs(t, err, tt.want)
			assert.Contains(t, err.Error(), tt.says)
		})
	}
}

// TestParseWebhookRepeatedKeys pins that a repeated field keeps its last value in
// every encoding (multipart kept the first before).
func TestParseWebhookRepeatedKeys(t *testing.T) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	require.NoError(t, mw.WriteField("object[message_id]", "1"))
	require.NoError(t, mw.WriteField("object[content]", "first"))
	require.NoError(t, mw.WriteField("object[content]", "last"))
	require.NoError(t, mw.Close())
	for name, req := range map[string]*http.Request{
		"form":      delivery("/", formType, []byte("object[message_id]=1&object[content]=first&object[content]=last")),
		"multipart": delivery("/", mw.FormDataContentType(), buf.Bytes()),
		"json":      delivery("/", "application/json", []byte(`{"object":{"message_id":1,"content":"first","content":"last"}}`)),
	} {
		t.Run(name, func(t *testing.T) {
			got, err := ParseWebhook(req)
			require.NoError(t, err)
			assert.Equal(t, "last", got.Content)
		})
	}
}

// TestParseWebhookOddKeys pins keys with unbalanced brackets; "object[" once
// sliced out of range (found by FuzzParseWebhook).
func TestParseWebhookOddKeys(t *testing.T) {
	tests := []struct {
		body  string
		extra map[string]string
	}{
		{"object[message_id]=1&object[=", map[string]string{"object[": ""}},
		{"object[message_id]=1&object[=x", map[string]string{"object[": "x"}},
		{"object[message_id]=1&object[]=x", map[string]string{"object[]": "x"}},
		{"object[message_id]=1&object[abc=x", map[string]string{"object[abc": "x"}},
		{"object[message_id]=1&object[a][=x", map[string]string{"a[": "x"}},
	}
	for _, tt := range tests {
		t.Run(tt.body, func(t *testing.T) {
			got, err := ParseWebhook(delivery("/", formType, []byte(tt.body)))
			require.NoError(t, err)
			assert.Equal(t, int64(1), got.MessageID)
			assert.Equal(t, tt.extra, got.Extra)
		})
	}
}

func formOf(r *AgentReply) []byte { return []byte(WebhookForm(r).Encode()) }

const formType = "application/x-www-form-urlencoded"

// TestParseWebhookObjectWins pins that a field sent both inside object[…] and
// bare takes the object's value in every encoding, whatever the order. The JSON
// cases failed on the old parser in a share of runs (it took whichever value Go's
// map iteration met last: an internal note reached fn in 6 of 40 runs), so each
// is parsed many times.
func TestParseWebhookObjectWins(t *testing.T) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, kv := range [][2]string{{"object[note]", "1"}, {"note", "0"}, {"object[message_id]", "5"}, {"message_id", "6"}, {"object[x]", "in"}, {"x", "out"}} {
		require.NoError(t, mw.WriteField(kv[0], kv[1]))
	}
	require.NoError(t, mw.Close())
	tests := []struct {
		name        string
		contentType string
		body        []byte
	}{
		{"json", "application/json", []byte(`{"note":0,"message_id":6,"x":"out","object":{"note":1,"message_id":5,"x":"in"}}`)},
		{"json object first", "application/json", []byte(`{"object":{"note":1,"message_id":5,"x":"in"},"note":0,"message_id":6,"x":"out"}`)},
		{"form bare last", formType, []byte("object[note]=1&object[message_id]=5&object[x]=in&note=0&message_id=6&x=out")},
		{"form bare first", formType, []byte("note=0&message_id=6&x=out&object[note]=1&object[message_id]=5&object[x]=in")},
		{"multipart", mw.FormDataContentType(), buf.Bytes()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for range 50 {
				got, err := ParseWebhook(delivery("/", tt.contentType, tt.body))
				require.NoError(t, err)
				require.True(t, got.Note, "the object's note=1 wins: a note must never pass for a reply")
				require.Equal(t, int64(5), got.MessageID)
				require.Equal(t, map[string]string{"x": "in"}, got.Extra)
			}
		})
	}
	t.Run("json note the other way", func(t *testing.T) {
		for range 50 {
			got, err := ParseWebhook(delivery("/", "application/json", []byte(`{"note":1,"object":{"message_id":1,"note":0}}`)))
			require.NoError(t, err)
			require.False(t, got.Note)
		}
	})
	t.Run("bare attachments only without the object's", func(t *testing.T) {
		got, err := ParseWebhook(delivery("/", formType, []byte("attachments[0][url]=bare&object[attachments][0][url]=in&object[message_id]=1")))
		require.NoError(t, err)
		assert.Equal(t, []File{{URL: "in"}}, got.Attachments)
		got, err = ParseWebhook(delivery("/", formType, []byte("attachments[0][url]=bare&attachments[0][odd]=1&object[message_id]=1")))
		require.NoError(t, err)
		assert.Equal(t, []File{{URL: "bare"}}, got.Attachments)
		assert.Equal(t, map[string]string{"attachments[0][odd]": "1"}, got.Extra)
	})
}

func TestWebhookFormRoundTrip(t *testing.T) {
	in := &AgentReply{Type: "message_new", MessageID: 1 << 40, CaseID: 2, StaffID: 3, UserID: 4, UserCustomID: "ü-5",
		Content: "a&b=c\n", Note: true, SentViaRule: true, FromAPI: true,
		Attachments: []File{{URL: "u1", ID: 9, Name: "n", Size: 8, MimeType: "m"}, {URL: "u2"}},
		Extra:       map[string]string{"x": "1", "y[z]": "2"}}
	req, err := NewWebhookRequest(context.Background(), "http://localhost/hook", in)
	require.NoError(t, err)
	got, err := ParseWebhook(req)
	require.NoError(t, err)
	assert.Equal(t, in, got)
}

func FuzzParseWebhook(f *testing.F) {
	for _, name := range []string{"reply.form", "bare.form"} {
		f.Add(readFixture(f, name), formType)
	}
	f.Add(readFixture(f, "reply.json"), "application/json")
	f.Add([]byte(`{"object":{"message_id":"1","attachments":[{"url":1}]}}`), "application/json")
	f.Add([]byte("object[attachments][0]=x&object[attachments][1][file_size]=2"), formType)
	f.Add([]byte("object[message_id]=%zz"), formType)
	f.Add([]byte("object[[]]=&object]=1&[=2"), "")
	f.Add([]byte("object[=&object[]=x&object[a][=y"), formType)
	f.Add([]byte("--x\r\nContent-Disposition: form-data; name=\"type\"\r\n\r\nmessage_new\r\n--x--\r\n"), "multipart/form-data; boundary=x")
	f.Fuzz(func(t *testing.T, body []byte, contentType string) {
		got, err := ParseWebhook(delivery("/", contentType, body))
		if err != nil {
			return
		}
		// what was accepted survives the trip through the delivery encoding
		again, err := ParseWebhook(delivery("/", formType, formOf(got)))
		if err != nil {
			t.Fatalf("re-encoded reply does not parse: %v", err)
		}
		if again.MessageID != got.MessageID || again.CaseID != got.CaseID || again.StaffID != got.StaffID || again.UserID != got.UserID {
			t.Fatalf("ids changed: %+v -> %+v", got, again)
		}
	})
}

func BenchmarkParseWebhookForm(b *testing.B) {
	body := readFixture(b, "reply.form")
	req := delivery("/", formType, body)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		req.Body = io.NopCloser(bytes.NewReader(body))
		if _, err := ParseWebhook(req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkURLParseQuery is the baseline for BenchmarkParseWebhookForm: the same
// body read from a request and parsed by the standard library, untyped.
func BenchmarkURLParseQuery(b *testing.B) {
	body := readFixture(b, "reply.form")
	req := delivery("/", formType, body)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		req.Body = io.NopCloser(bytes.NewReader(body))
		data, err := io.ReadAll(req.Body)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := url.ParseQuery(string(data)); err != nil {
			b.Fatal(err)
		}
	}
}

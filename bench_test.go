package deskie_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"
	"time"

	"github.com/deskie-go/deskie"
	"github.com/deskie-go/deskie/deskietest"
)

// caseAnswer is a realistic create-case answer.
const caseAnswer = `{"case":{"case_id":2000,"case_number":"664-245651","subject":"Question from app","user_id":5654846848,
"staff_id":0,"group_id":44,"status":"open","priority":"normal","channel":"cch159","recipient":"","cc_emails":"",
"bcc_emails":"","deleted":false,"spam":false,"created_at":"Mon, 05 May 2014 00:15:17 +0300",
"updated_at":"Mon, 05 May 2014 00:15:17 +0300","closed_at":"-","last_response_at":"-","closing_speed":"-",
"language_id":2,"custom_fields":{},"labels":[],"locked_labels":[],"rating":"","rating_comment":"","rated_staff_id":0}}`

func loopbackCaseServer(b *testing.B) *httptest.Server {
	b.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, caseAnswer)
	}))
	b.Cleanup(srv.Close)
	return srv
}

var benchCase = &deskie.CaseCreate{Channel: "cch159", UserCustomID: "tg-100500", UserFullName: "@alice",
	Subject: "Question from app", Content: "Hello, I need help"}

// BenchmarkCreateCase is Cases.Create against a loopback server: body encoding,
// rate budget, retry policy, error mapping and forgiving decoding. Compare with
// BenchmarkRawNetHTTP, the same POST with bare net/http.
func BenchmarkCreateCase(b *testing.B) {
	srv := loopbackCaseServer(b)
	client, err := deskie.NewClient("", "agent@example.com", "key", deskie.WithBaseURL(srv.URL))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := client.Cases.Create(ctx, benchCase); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRawNetHTTP is the baseline for BenchmarkCreateCase: the same request
// and answer with the standard library only (typed JSON both ways, no retries,
// no tolerance for loose types).
func BenchmarkRawNetHTTP(b *testing.B) {
	srv := loopbackCaseServer(b)
	hc := &http.Client{}
	type wire struct {
		Channel      string `json:"channel,omitempty"`
		UserCustomID string `json:"user_custom_id,omitempty"`
		UserFullName string `json:"user_full_name,omitempty"`
		Subject      string `json:"subject,omitempty"`
		Content      string `json:"content,omitempty"`
	}
	// the same fields deskie.Case decodes, with plain types
	type answer struct {
		Case struct {
			ID             int64          `json:"case_id"`
			Number         string         `json:"case_number"`
			Subject        string         `json:"subject"`
			UserID         int64          `json:"user_id"`
			StaffID        int64          `json:"staff_id"`
			GroupID        int64          `json:"group_id"`
			Status         string         `json:"status"`
			Priority       string         `json:"priority"`
			Channel        string         `json:"channel"`
			Recipient      string         `json:"recipient"`
			CCEmails       string         `json:"cc_emails"`
			BCCEmails      string         `json:"bcc_emails"`
			Deleted        bool           `json:"deleted"`
			Spam           bool           `json:"spam"`
			CreatedAt      string         `json:"created_at"`
			UpdatedAt      string         `json:"updated_at"`
			ClosedAt       string         `json:"closed_at"`
			LastResponseAt string         `json:"last_response_at"`
			ClosingSpeed   string         `json:"closing_speed"`
			LanguageID     int64          `json:"language_id"`
			CustomFields   map[string]any `json:"custom_fields"`
			Labels         []int64        `json:"labels"`
			LockedLabels   []int64        `json:"locked_labels"`
			Rating         string         `json:"rating"`
			RatingComment  string         `json:"rating_comment"`
			RatedStaffID   int64          `json:"rated_staff_id"`
		} `json:"case"`
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		body, err := json.Marshal(map[string]any{"case": wire{benchCase.Channel, benchCase.UserCustomID, benchCase.UserFullName, benchCase.Subject, benchCase.Content}})
		if err != nil {
			b.Fatal(err)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/api/cases.json", bytes.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		req.SetBasicAuth("agent@example.com", "key")
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json")
		resp, err := hc.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		data, err := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusCreated {
			b.Fatal(err, resp.StatusCode)
		}
		var out answer
		if err := json.Unmarshal(data, &out); err != nil {
			b.Fatal(err)
		}
		if _, err := time.Parse(time.RFC1123Z, out.Case.CreatedAt); err != nil {
			b.Fatal(err)
		}
		if _, err := time.Parse(time.RFC1123Z, out.Case.UpdatedAt); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCasesAll walks every case of a user through Cases.All against the fake
// (pages of 100). peak-live-heap-B is the most heap the walk kept alive at any page
// (measured after a forced GC every 10 pages): it must not grow with the number
// of pages, only B/op (all that was allocated and collected) does.
func BenchmarkCasesAll(b *testing.B) {
	for _, n := range []int{5000, 50000} {
		b.Run(fmt.Sprintf("cases=%d", n), func(b *testing.B) {
			srv := deskietest.NewServer(deskietest.WithRateLimit(0, 0), deskietest.WithRequestLog(0))
			b.Cleanup(srv.Close)
			ch := srv.AddChannel("Forum", deskietest.ChannelAsync, "")
			if _, err := srv.SeedCases(ch, "forum-user", n); err != nil {
				b.Fatal(err)
			}
			client, err := deskie.NewClient("", srv.StaffEmail(), srv.APIKey(), deskie.WithBaseURL(srv.URL))
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			var ms runtime.MemStats
			var retained uint64
			b.ReportAllocs()
			for b.Loop() {
				runtime.GC()
				runtime.ReadMemStats(&ms)
				base := ms.HeapAlloc
				seen := 0
				for _, err := range client.Cases.All(ctx, &deskie.CaseListOptions{Channel: []string{ch}}) {
					if err != nil {
						b.Fatal(err)
					}
					seen++
					if seen%1000 == 0 {
						runtime.GC()
						runtime.ReadMemStats(&ms)
						if ms.HeapAlloc > base {
							retained = max(retained, ms.HeapAlloc-base)
						}
					}
				}
				if seen != n {
					b.Fatalf("saw %d cases, want %d", seen, n)
				}
			}
			b.ReportMetric(float64(retained), "peak-live-heap-B")
		})
	}
}

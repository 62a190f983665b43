package deskietest

import (
	"net/http"
	"slices"
	"strings"
)

// Fault is a failure [Server.Fail] injects.
type Fault string

// The faults. "Before" faults leave the state untouched; "after" faults apply the
// request first, so the client cannot tell whether it worked — the ambiguous cases
// a safe client must handle without writing twice.
const (
	// FaultServerError answers 500 without acting.
	FaultServerError Fault = "500"
	// FaultServerErrorAfter acts, then answers 500.
	FaultServerErrorAfter Fault = "500-after-acting"
	// FaultRateLimit answers 429 with retry_after, without acting.
	FaultRateLimit Fault = "429"
	// FaultSlow holds the answer for the slow delay (WithSlowDelay), then acts.
	FaultSlow Fault = "slow"
	// FaultDropBefore closes the connection without acting or answering.
	FaultDropBefore Fault = "drop-before-acting"
	// FaultDropAfter acts, then closes the connection without answering.
	FaultDropAfter Fault = "drop-after-acting"
	// FaultMalformedJSON acts, then answers 200 with a broken JSON body.
	FaultMalformedJSON Fault = "malformed-json"
)

// FaultKinds returns every kind of fault, for a control that offers them.
func FaultKinds() []Fault {
	return []Fault{FaultServerError, FaultServerErrorAfter, FaultRateLimit, FaultSlow, FaultDropBefore, FaultDropAfter, FaultMalformedJSON}
}

type fault struct {
	match        string
	method, path string // "" matches any; path may end in "*"
	left         int
	kind         Fault
}

// PendingFault is a fault injected with [Server.Fail] that has requests left to fail.
type PendingFault struct {
	Match string // as given to Fail
	Left  int    // how many more matching requests it fails
	Kind  Fault
}

// Fail makes the next n requests matching match fail with f. match is
// "METHOD /path" (e.g. "POST /api/cases.json"), a method alone ("POST"), a path
// alone, or "" for every request; a path ending in "*" matches by prefix
// ("POST /api/cases/*"). Faults are consumed in the order they were added, and a
// spent fault is dropped. n < 1 adds nothing.
func (s *Server) Fail(match string, n int, f Fault) {
	if n < 1 {
		return
	}
	ft := &fault{match: match, left: n, kind: f}
	match = strings.TrimSpace(match)
	if m, p, ok := strings.Cut(match, " "); ok {
		ft.method, ft.path = m, strings.TrimSpace(p)
	} else if match != "" && !strings.HasPrefix(match, "/") {
		ft.method = match
	} else {
		ft.path = match
	}
	s.mu.Lock()
	s.faults = append(s.faults, ft)
	s.changed()
	s.mu.Unlock()
}

// PendingFaults returns the faults that have requests left to fail, in the order
// they are consumed.
func (s *Server) PendingFaults() []PendingFault {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]PendingFault, 0, len(s.faults))
	for _, f := range s.faults {
		out = append(out, PendingFault{Match: f.match, Left: f.left, Kind: f.kind})
	}
	return out
}

// ClearFaults drops every pending fault.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
	s.changed()
}

func (f *fault) matches(r *http.Request) bool {
	if f.method != "" && f.method != "*" && !strings.EqualFold(f.method, r.Method) {
		return false
	}
	if f.path == "" || f.path == "*" {
		return true
	}
	if prefix, ok := strings.CutSuffix(f.path, "*"); ok {
		return strings.HasPrefix(r.URL.Path, prefix)
	}
	return f.path == r.URL.Path
}

// takeFault consumes the first matching fault, dropping it once spent.
func (s *Server) takeFault(r *http.Request) Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.faults {
		if f.matches(r) {
			if f.left--; f.left <= 0 {
				s.faults = slices.Delete(s.faults, i, i+1)
			}
			s.changed()
			return f.kind
		}
	}
	return ""
}

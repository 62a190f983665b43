package deskietest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// controlRoutes serves the control API under /_fake/ (documented in the package
// doc). It needs no credentials; a POST must be sent as application/json, which a
// page on another origin cannot do without a CORS preflight this API never
// grants.
func (s *Server) controlRoutes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /_fake/state", s.ctlState)
	mux.HandleFunc("GET /_fake/cases", s.ctlCases)
	mux.HandleFunc("GET /_fake/cases/{id}", s.ctlCase)
	mux.HandleFunc("GET /_fake/cases/{id}/messages", s.ctlMessages)
	mux.HandleFunc("GET /_fake/users", s.ctlUsers)
	mux.HandleFunc("GET /_fake/deliveries", s.ctlDeliveries)
	mux.HandleFunc("GET /_fake/requests", s.ctlRequests)
	mux.HandleFunc("POST /_fake/reply", s.ctlAgentMessage("agent"))
	mux.HandleFunc("POST /_fake/note", s.ctlAgentMessage("note"))
	mux.HandleFunc("POST /_fake/rule", s.ctlAgentMessage("rule"))
	mux.HandleFunc("POST /_fake/close", s.ctlStatus(StatusClosed))
	mux.HandleFunc("POST /_fake/status", s.ctlStatus(""))
	mux.HandleFunc("POST /_fake/merge", s.ctlMerge)
	mux.HandleFunc("POST /_fake/fault", s.ctlFault)
	mux.HandleFunc("POST /_fake/faults/clear", s.ctlClearFaults)
	mux.HandleFunc("POST /_fake/channels", s.ctlAddChannel)
	mux.HandleFunc("POST /_fake/webhook_url", s.ctlWebhookURL)
	mux.HandleFunc("POST /_fake/users", s.ctlAddUser)
	mux.HandleFunc("POST /_fake/seed", s.ctlSeed)
	mux.HandleFunc("POST /_fake/settings", s.ctlSettings)
	mux.HandleFunc("POST /_fake/wait", s.ctlWait)
	mux.HandleFunc("POST /_fake/reset", func(w http.ResponseWriter, r *http.Request) {
		if readBody(w, r, &struct{}{}) {
			s.Reset()
			writeJSON(w, http.StatusOK, map[string]any{"ok": true})
		}
	})
	return withControlFallback(mux)
}

// withControlFallback answers an unknown control route 404 and a wrong method
// 405, in JSON.
func withControlFallback(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := mux.Handler(r); pattern != "" {
			mux.ServeHTTP(w, r)
			return
		}
		r2 := r.Clone(r.Context())
		r2.Method = http.MethodGet
		_, asGet := mux.Handler(r2)
		r2.Method = http.MethodPost
		_, asPost := mux.Handler(r2)
		switch {
		case asGet != "" || asPost != "":
			w.Header().Set("Allow", map[bool]string{true: "GET, HEAD", false: "POST"}[asGet != ""])
			writeError(w, http.StatusMethodNotAllowed, "method_not_allowed")
		default:
			writeError(w, http.StatusNotFound, "unknown_control")
		}
	})
}

// readBody decodes a control request's JSON body into v (an empty body is {}),
// answering the error itself when it cannot.
func readBody(w http.ResponseWriter, r *http.Request, v any) bool {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		writeError(w, http.StatusUnsupportedMediaType, "json_required")
		return false
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_json")
		return false
	}
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "bad_json", "message": err.Error()})
		return false
	}
	return true
}

// jsonID is an id sent as a number or a string.
type jsonID int64

func (id *jsonID) UnmarshalJSON(b []byte) error {
	n, err := strconv.ParseInt(strings.Trim(string(b), `"`), 10, 64)
	if err != nil {
		return fmt.Errorf("not an id: %s", b)
	}
	*id = jsonID(n)
	return nil
}

func (s *Server) ctlState(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	channels := make([]channelView, 0, len(s.channels))
	for _, c := range s.channels {
		channels = append(channels, channelOf(c))
	}
	messages := 0
	for _, msgs := range s.messages {
		messages += len(msgs)
	}
	faults := make([]map[string]any, 0, len(s.faults))
	for _, f := range s.faults {
		faults = append(faults, map[string]any{"match": f.match, "left": f.left, "kind": f.kind})
	}
	pending := make([]map[string]any, 0, len(s.pending))
	for _, p := range s.pending {
		pending = append(pending, map[string]any{"message_id": p.job.msg, "case_id": p.job.kase, "due": s.stamp(p.due)})
	}
	recent := pageOf(s.deliveries, 1, 10, true, func(d Delivery) deliveryView { return s.deliveryOf(&d) })
	writeJSON(w, http.StatusOK, map[string]any{
		"version": s.version, "url": s.URL, "staff_email": s.cfg.staffEmail, "channels": channels,
		"counts": map[string]int{"cases": len(s.cases), "users": len(s.users), "messages": messages,
			"deliveries": len(s.deliveries), "requests": len(s.requests)},
		"faults": faults, "fault_kinds": FaultKinds(), "pending_redeliveries": pending, "recent_deliveries": recent,
		"settings": s.settingsView(),
	})
}

// settingsView renders the settings; callers hold s.mu.
func (s *Server) settingsView() map[string]any {
	secs := make([]float64, 0, len(s.redelivery))
	for _, d := range s.redelivery {
		secs = append(secs, d.Seconds())
	}
	order := OldestFirst
	if s.messageOrder == NewestFirst {
		order = NewestFirst
	}
	return map[string]any{"redelivery_seconds": secs, "message_order": order,
		"rate_limit": s.cfg.rateLimit, "rate_window_seconds": s.cfg.rateWindow.Seconds()}
}

func (s *Server) ctlAgentMessage(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			CaseID  jsonID `json:"case_id"`
			StaffID jsonID `json:"staff_id"`
			Content string `json:"content"`
		}
		if !readBody(w, r, &in) {
			return
		}
		if strings.TrimSpace(in.Content) == "" {
			writeError(w, http.StatusBadRequest, errContentEmpty)
			return
		}
		m := &Message{CaseID: int64(in.CaseID), StaffID: max(int64(in.StaffID), 1), Content: in.Content}
		switch kind {
		case "note":
			m.Note = true
		case "rule":
			m.StaffID, m.SentViaRule = 0, true
		}
		d, err := s.addAgentMessage(m)
		if m.ID == 0 {
			writeError(w, http.StatusNotFound, errCaseNotFound)
			return
		}
		_ = err // the delivery's outcome is in the answer
		out := map[string]any{"message_id": m.ID, "delivery": nil}
		s.mu.Lock()
		out["message"] = s.messageOf(m)
		if d != nil {
			out["delivery"] = s.deliveryOf(d)
		}
		s.mu.Unlock()
		writeJSON(w, http.StatusCreated, out)
	}
}

func (s *Server) ctlStatus(fixed string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			CaseID jsonID `json:"case_id"`
			Status string `json:"status"`
		}
		if !readBody(w, r, &in) {
			return
		}
		status := in.Status
		if fixed != "" {
			status = fixed
		}
		if !slices.Contains([]string{StatusOpen, StatusWaiting, StatusClosed}, status) {
			writeError(w, http.StatusBadRequest, "wrong_status")
			return
		}
		if err := s.SetStatus(int64(in.CaseID), status); err != nil {
			writeError(w, http.StatusNotFound, errCaseNotFound)
			return
		}
		s.writeCase(w, int64(in.CaseID))
	}
}

func (s *Server) writeCase(w http.ResponseWriter, id int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"case": s.caseOf(s.cases[id])})
}

func (s *Server) ctlMerge(w http.ResponseWriter, r *http.Request) {
	var in struct {
		From jsonID `json:"from"`
		Into jsonID `json:"into"`
	}
	if !readBody(w, r, &in) {
		return
	}
	if in.From == in.Into {
		writeError(w, http.StatusBadRequest, "same_case")
		return
	}
	if err := s.MergeCases(int64(in.From), int64(in.Into)); err != nil {
		writeError(w, http.StatusNotFound, errCaseNotFound)
		return
	}
	s.writeCase(w, int64(in.Into))
}

func (s *Server) ctlFault(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Match string `json:"match"`
		N     *int   `json:"n"`
		Kind  Fault  `json:"kind"`
	}
	if !readBody(w, r, &in) {
		return
	}
	n := 1
	if in.N != nil {
		n = *in.N
	}
	if !slices.Contains(FaultKinds(), in.Kind) || n < 1 {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": "wrong_fault", "kinds": FaultKinds()})
		return
	}
	s.Fail(in.Match, n, in.Kind)
	writeJSON(w, http.StatusCreated, map[string]any{"faults": s.faultViews()})
}

func (s *Server) ctlClearFaults(w http.ResponseWriter, r *http.Request) {
	if readBody(w, r, &struct{}{}) {
		s.ClearFaults()
		writeJSON(w, http.StatusOK, map[string]any{"faults": s.faultViews()})
	}
}

func (s *Server) faultViews() []map[string]any {
	out := []map[string]any{}
	for _, f := range s.PendingFaults() {
		out = append(out, map[string]any{"match": f.Match, "left": f.Left, "kind": f.Kind})
	}
	return out
}

func (s *Server) ctlSettings(w http.ResponseWriter, r *http.Request) {
	var in struct {
		RedeliverySeconds *[]float64    `json:"redelivery_seconds"`
		MessageOrder      *MessageOrder `json:"message_order"`
	}
	if !readBody(w, r, &in) {
		return
	}
	if in.MessageOrder != nil && *in.MessageOrder != OldestFirst && *in.MessageOrder != NewestFirst {
		writeError(w, http.StatusBadRequest, "wrong_message_order")
		return
	}
	if in.RedeliverySeconds != nil {
		var schedule []time.Duration
		for _, sec := range *in.RedeliverySeconds {
			if sec < 0 || sec > 86400 {
				writeError(w, http.StatusBadRequest, "wrong_redelivery_seconds")
				return
			}
			schedule = append(schedule, time.Duration(sec*float64(time.Second)))
		}
		s.SetRedelivery(schedule...)
	}
	if in.MessageOrder != nil {
		s.SetMessageOrder(*in.MessageOrder)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"settings": s.settingsView()})
}

func (s *Server) ctlWait(w http.ResponseWriter, r *http.Request) {
	var in struct {
		TimeoutSeconds *float64 `json:"timeout_seconds"`
	}
	if !readBody(w, r, &in) {
		return
	}
	timeout := 10 * time.Second
	if in.TimeoutSeconds != nil {
		timeout = time.Duration(min(max(*in.TimeoutSeconds, 0), 60) * float64(time.Second))
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	err := s.waitDeliveries(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"idle": err == nil,
		"in_flight": s.inflight, "pending_redeliveries": len(s.pending)})
}

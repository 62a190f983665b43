package deskietest

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// files turns uploads and attachment URLs into stored files; callers hold s.mu.
func (s *Server) files(uploads []upload, urls []string) []File {
	var out []File
	for _, u := range uploads {
		s.nextMessage++
		out = append(out, File{ID: s.nextMessage, Name: u.name, Size: u.size, MimeType: u.contentType,
			URL: s.URL + "/files/" + strconv.FormatInt(s.nextMessage, 10)})
	}
	for _, u := range urls {
		s.nextMessage++
		name := u[strings.LastIndexByte(u, '/')+1:]
		out = append(out, File{ID: s.nextMessage, Name: name, MimeType: "application/octet-stream", URL: u})
	}
	return out
}

// appendMessage stores a message with a fresh id and date; callers hold s.mu.
func (s *Server) appendMessage(m *Message) *Message {
	s.nextMessage++
	m.ID = s.nextMessage
	m.CreatedAt = s.now()
	s.messages[m.CaseID] = append(s.messages[m.CaseID], m)
	if c := s.cases[m.CaseID]; c != nil {
		if m.StaffID != 0 || m.SentViaRule {
			c.LastResponse = m.CreatedAt
		}
		s.touch(c, m.CreatedAt)
	}
	return m
}

func (s *Server) createMessage(w http.ResponseWriter, r *http.Request) {
	obj, files, err := readObject(r, "message")
	if err != nil {
		writeError(w, http.StatusBadRequest, errBadRequest)
		return
	}
	userID, okUser := obj.int("user_id")
	staffID, okStaff := obj.int("staff_id")
	if !okUser || !okStaff || (userID == 0) == (staffID == 0) {
		writeError(w, http.StatusBadRequest, "user_id_or_staff_id_required")
		return
	}
	content, html, urls := obj.str("content"), obj.str("content_html"), obj.strs("attachment_urls")
	if strings.TrimSpace(content) == "" && strings.TrimSpace(html) == "" && len(files) == 0 && len(urls) == 0 {
		writeError(w, http.StatusBadRequest, errContentEmpty)
		return
	}
	id, _ := parseID(r.PathValue("id"))
	s.mu.Lock()
	c := s.cases[id]
	if c == nil {
		s.mu.Unlock()
		writeError(w, http.StatusNotFound, errCaseNotFound)
		return
	}
	m := &Message{CaseID: c.ID, UserID: userID, StaffID: staffID, Content: content, ContentHTML: html}
	if userID != 0 {
		owner := s.users[c.UserID]
		if userID != c.UserID && (owner == nil || !slices.Contains(owner.Linked, userID)) {
			s.mu.Unlock()
			writeError(w, http.StatusBadRequest, errUserNotFound)
			return
		}
		if c.Status == StatusClosed {
			s.mu.Unlock()
			writeError(w, http.StatusBadRequest, errCaseClosed)
			return
		}
		if c.Status == StatusWaiting {
			s.setStatus(c, StatusOpen)
		}
	} else {
		m.FromAPI = true
		s.setStatus(c, StatusWaiting)
	}
	m.Attachments = s.files(files, urls)
	s.appendMessage(m)
	out := s.messageJSON(m)
	if m.StaffID != 0 {
		s.deliverAsync(s.deliveryFor(m)) // an agent answer added through the API reaches the webhook too, flagged b_from_api=1
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusCreated, map[string]any{"message": out})
}

func (s *Server) listMessages(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	page, limit, ok := paging(q)
	order := q.Get("order")
	if !ok || (order != "" && order != "asc" && order != "desc") {
		writeError(w, http.StatusBadRequest, errBadRequest)
		return
	}
	id, _ := parseID(r.PathValue("id"))
	s.mu.Lock()
	if s.cases[id] == nil {
		s.mu.Unlock()
		writeError(w, http.StatusNotFound, errCaseNotFound)
		return
	}
	if order == "" && s.messageOrder == NewestFirst {
		order = "desc"
	}
	msgs := s.messages[id]
	items := renderPage(msgs, page, limit, order == "desc", s.messageJSON)
	s.mu.Unlock()
	writeList(w, "message", items, len(msgs))
}

func (s *Server) listChannels(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	items := make([]map[string]any, 0, len(s.channels))
	for _, c := range s.channels {
		items = append(items, channelJSON(c))
	}
	s.mu.Unlock()
	writeList(w, "custom_channel", items, len(items))
}

package deskietest

import (
	"cmp"
	"errors"
	"net/http"
)

// The control API's setup routes: channels, users and volume data.

func (s *Server) ctlAddChannel(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Title      string      `json:"title"`
		Type       ChannelType `json:"type"`
		WebhookURL string      `json:"webhook_url"`
	}
	if !readBody(w, r, &in) {
		return
	}
	if in.Type != "" && in.Type != ChannelAsync && in.Type != ChannelSync {
		writeError(w, http.StatusBadRequest, "wrong_channel_type")
		return
	}
	code := s.AddChannel(cmp.Or(in.Title, "Custom channel"), in.Type, in.WebhookURL)
	s.writeChannel(w, http.StatusCreated, code)
}

func (s *Server) ctlWebhookURL(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Channel    string `json:"channel"`
		WebhookURL string `json:"webhook_url"`
	}
	if !readBody(w, r, &in) {
		return
	}
	if err := s.SetWebhookURL(in.Channel, in.WebhookURL); err != nil {
		writeError(w, http.StatusNotFound, errChannelNotFound)
		return
	}
	s.writeChannel(w, http.StatusOK, in.Channel)
}

func (s *Server) writeChannel(w http.ResponseWriter, status int, code string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	writeJSON(w, status, map[string]any{"channel": channelOf(s.channelByCode(code))})
}

func (s *Server) ctlAddUser(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Channel      string `json:"channel"`
		UserCustomID string `json:"user_custom_id"`
		Name         string `json:"name"`
		Email        string `json:"email"`
		Phone        string `json:"phone"`
	}
	if !readBody(w, r, &in) {
		return
	}
	if in.UserCustomID == "" {
		writeError(w, http.StatusBadRequest, "user_custom_id_empty")
		return
	}
	id, err := s.AddUser(in.Channel, in.UserCustomID, UserName(in.Name), UserEmail(in.Email), UserPhone(in.Phone))
	switch {
	case errors.Is(err, ErrNotFound):
		writeError(w, http.StatusNotFound, errChannelNotFound)
		return
	case errors.Is(err, ErrExists):
		writeError(w, http.StatusConflict, "user_custom_id_already_exist")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	writeJSON(w, http.StatusCreated, map[string]any{"user": s.userOf(s.users[id])})
}

// maxSeed caps POST /_fake/seed.
const maxSeed = 10000

func (s *Server) ctlSeed(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Channel      string `json:"channel"`
		UserCustomID string `json:"user_custom_id"`
		N            int    `json:"n"`
	}
	if !readBody(w, r, &in) {
		return
	}
	if in.UserCustomID == "" || in.N < 1 || in.N > maxSeed {
		writeError(w, http.StatusBadRequest, "wrong_parameters")
		return
	}
	ids, err := s.SeedCases(in.Channel, in.UserCustomID, in.N)
	if err != nil {
		writeError(w, http.StatusNotFound, errChannelNotFound)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"case_ids": ids})
}
